#!/usr/bin/env node
/**
 * `npm run mutate [-- <stryker options>]`: runs Stryker (stryker.config.mjs) with the given options
 * (e.g. `--incremental`, `--concurrency 2`, `--mutate lambdas/core/model.ts`), then prints the
 * mutation score of each folder of lambdas/ from its JSON report and fails when lambdas/core scores
 * below its break threshold. Stryker's own thresholds cover all mutated files at once, so the
 * per-folder threshold lives here.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const REPORT = join(root, "reports/mutation/mutation.json");
/** Folders whose score must not fall below their threshold (%). */
const BREAK = { "lambdas/core": 85 };

const run = spawnSync(join(root, "node_modules/.bin/stryker"), ["run", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
if (run.status !== 0) process.exit(run.status ?? 1);

const report = JSON.parse(readFileSync(REPORT, "utf8"));
const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);
/** Score as Stryker computes it: detected / (detected + undetected); compile errors and ignored mutants left out. */
const folders = new Map();
const add = (folder, status) => {
  const f = folders.get(folder) ?? { detected: 0, undetected: 0, survived: 0, noCoverage: 0 };
  if (DETECTED.has(status)) f.detected++;
  if (UNDETECTED.has(status)) f.undetected++;
  if (status === "Survived") f.survived++;
  if (status === "NoCoverage") f.noCoverage++;
  folders.set(folder, f);
};
for (const [file, { mutants }] of Object.entries(report.files)) {
  const rel = file.replaceAll("\\", "/").replace(/^\.\//, "");
  const parts = rel.split("/");
  for (const m of mutants) {
    add("lambdas (all)", m.status);
    add(parts.slice(0, 2).join("/"), m.status);
    add(rel, m.status);
  }
}
const score = (f) => (f.detected + f.undetected === 0 ? 100 : (100 * f.detected) / (f.detected + f.undetected));
console.log("\nMutation score per folder (killed + timed out) / (all but compile errors and ignored):");
for (const [name, f] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
  if (name.endsWith(".ts") && f.undetected === 0) continue;
  console.log(`  ${score(f).toFixed(2).padStart(6)} %  ${name}  (survived ${f.survived}, no coverage ${f.noCoverage}, detected ${f.detected})`);
}
let failed = false;
for (const [folder, min] of Object.entries(BREAK)) {
  const f = folders.get(folder);
  if (!f) continue; // not mutated in this run (e.g. `--mutate` another file)
  if (score(f) < min) {
    console.error(`\n${folder}: mutation score ${score(f).toFixed(2)} % is below the break threshold of ${min} %`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
