#!/usr/bin/env node
// The `rk-webhooks` executable (package.json "bin"): runs the TypeScript CLI through tsx, so that it
// works from a clone without a build step. The CLI itself is rk-webhooks.ts.
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register({ tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)) });
await import("./rk-webhooks.ts");
