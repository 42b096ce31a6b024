import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

/** The OpenAPI 3.1 description of both APIs: the one source, also served by the local stack. */
export const OPENAPI_PATH = join(import.meta.dirname, "..", "docs", "openapi.yaml");

/**
 * docs/openapi.yaml as a plain JSON-compatible object, for `GET /openapi.json` on the local stack
 * and for the tests. Read on every call (a few milliseconds), so an edit shows without a restart
 * and no caller can change another's copy.
 */
export function loadOpenApi(): object {
  return parse(readFileSync(OPENAPI_PATH, "utf8")) as object;
}
