import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSync } from "esbuild";

/**
 * Builds the tenant portal (a Preact single-page app in portal/src) with the project's esbuild into
 * three files: index.html, app.js, app.css. No CDN, no inline script or style: the page works
 * offline under a strict CSP. The local stack serves the result from memory; the CDK stack builds it
 * at synth and copies it into the portal λ's bundle.
 */
const SOURCE = join(import.meta.dirname, "src");

const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Webhooks — RecordsKeeper.AI</title>
<link rel="stylesheet" href="/portal/assets/app.css">
<script type="module" src="/portal/assets/app.js"></script>
</head>
<body>
<div id="app"><main><p>Loading the webhooks portal…</p></main></div>
<noscript>The webhooks portal needs JavaScript.</noscript>
</body>
</html>
`;

export function buildPortalAssets(): Record<string, string> {
  const result = buildSync({
    entryPoints: { app: join(SOURCE, "main.tsx") },
    bundle: true,
    write: false,
    outdir: "/portal-out",
    format: "esm",
    target: "es2022",
    platform: "browser",
    minify: true,
    legalComments: "none",
    jsx: "automatic",
    jsxImportSource: "preact",
    logLevel: "silent",
  });
  const files: Record<string, string> = { "index.html": INDEX_HTML };
  for (const out of result.outputFiles) files[out.path.split("/").pop()!] = out.text;
  if (!files["app.js"] || !files["app.css"]) throw new Error(`portal build produced ${Object.keys(files).join(", ")}`);
  return files;
}

/**
 * Builds the files into a directory named by their content under the OS's temp directory, and
 * returns it (the CDK stack copies it into the portal λ's bundle). Synthesising the same portal
 * again reuses it, so synths leave one directory per version of the portal, not one each.
 */
export function writePortalAssets(): string {
  const files = buildPortalAssets();
  const hash = createHash("sha256")
    .update(JSON.stringify(Object.entries(files).sort()))
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `rk-webhooks-portal-${hash}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
