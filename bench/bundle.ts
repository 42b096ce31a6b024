/**
 * Cold start, part 1: each λ bundled exactly as the stack bundles it (lib/constructs/
 * webhooks-function.ts → NodejsFunction: esbuild --bundle --platform=node --target=node24
 * --format=cjs --minify, no source map, no external modules), with a metafile to see what it holds.
 * Part 2: the time to load each bundle in a fresh Node process, next to an empty module's.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { build, type Metafile } from "esbuild";

export const LAMBDAS = ["ingest", "manage", "deliver"] as const;
export type LambdaName = (typeof LAMBDAS)[number];

const ROOT = resolve(import.meta.dirname, "..");

export interface BundleReport {
  name: LambdaName;
  file: string;
  bytes: number;
  /** The largest contributors, grouped by npm package (or `ours` for the repository's code). */
  largest: { input: string; bytes: number }[];
}

/** `node_modules/@aws-sdk/client-sqs/dist-cjs/index.js` → `@aws-sdk/client-sqs`; our files → `ours`. */
export function packageOf(input: string): string {
  const at = input.lastIndexOf("node_modules/");
  if (at < 0) return "ours";
  const parts = input.slice(at + "node_modules/".length).split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

function largestInputs(meta: Metafile, top: number): { input: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const pkg = packageOf(input);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([input, bytes]) => ({ input, bytes }));
}

export async function buildBundles(outDir: string): Promise<BundleReport[]> {
  mkdirSync(outDir, { recursive: true });
  const reports: BundleReport[] = [];
  for (const name of LAMBDAS) {
    const file = join(outDir, `${name}.cjs`);
    const result = await build({
      entryPoints: [join(ROOT, "lambdas", name, "handler.ts")],
      absWorkingDir: ROOT,
      outfile: file,
      bundle: true,
      platform: "node",
      target: "node24",
      format: "cjs",
      minify: true,
      sourcemap: false,
      metafile: true,
      logLevel: "error",
    });
    writeFileSync(join(outDir, `${name}.meta.json`), JSON.stringify(result.metafile));
    reports.push({ name, file, bytes: statSync(file).size, largest: largestInputs(result.metafile, 6) });
  }
  return reports;
}

/**
 * Milliseconds to `require` a module in a fresh Node process, one sample per process. The machine's
 * noise only ever adds time, so the caller reports the median and the minimum.
 */
export function importSamples(file: string, env: NodeJS.ProcessEnv, runs: number): number[] {
  const script = "const t=process.hrtime.bigint();require(process.argv[1]);process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))";
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(process.execPath, ["-e", script, file], { env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`importing ${file} failed: ${r.stderr}`);
    samples.push(Number(r.stdout));
  }
  return samples;
}

export function emptyModule(outDir: string): string {
  const file = join(outDir, "empty.cjs");
  writeFileSync(file, "");
  return file;
}
