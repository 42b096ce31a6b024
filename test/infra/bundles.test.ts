/**
 * One λ, one bundle: each handler bundled as the stack bundles it (lib/constructs/webhooks-function.ts:
 * esbuild, node24, CJS, minified, no external module), and its module graph (esbuild's metafile)
 * holds what that λ runs and nothing else. Each λ has its own composition root (lambdas/<λ>/services.ts),
 * so a λ that sends no webhook loads no HTTP client, and one that opens no secret no KMS client.
 */
import { resolve } from "node:path";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..", "..");
const LAMBDAS = ["ingest", "manage", "portal", "deliver", "release"] as const;
type Lambda = (typeof LAMBDAS)[number];

/** The files each bundle was built from, relative to the repository root. */
const graphs = new Map<Lambda, string[]>();

beforeAll(async () => {
  for (const name of LAMBDAS) {
    const result = await build({
      entryPoints: [resolve(ROOT, "lambdas", name, "handler.ts")],
      absWorkingDir: ROOT,
      bundle: true,
      platform: "node",
      target: "node24",
      format: "cjs",
      minify: true,
      sourcemap: false,
      metafile: true,
      write: false,
      logLevel: "error",
    });
    graphs.set(name, Object.keys(result.metafile.inputs));
  }
}, 120_000);

const holds = (name: Lambda, part: string) => graphs.get(name)!.some((input) => input.includes(part));

/** What only some λs may load, and which (`in`: they must; `may`: either way, an implementation choice). */
const ONLY: Record<string, { part: string; in: readonly Lambda[]; may?: readonly Lambda[] }> = {
  // The deliver λ's sender is on node:http (docs/decisions.md, "node:http instead of undici"): undici is in no bundle.
  undici: { part: "node_modules/undici/", in: [] },
  "the HTTP sender": { part: "lambdas/adapters/node-http-sender.ts", in: ["deliver"] },
  "the guarded agents": { part: "lambdas/adapters/guarded-agent.ts", in: ["deliver"] },
  "the KMS client": { part: "node_modules/@aws-sdk/client-kms/", in: ["manage", "portal", "deliver"] },
  "the KMS sealer": { part: "lambdas/adapters/kms.ts", in: ["manage", "portal", "deliver"] },
  "the portal sessions' store": { part: "lambdas/adapters/portal-sessions.ts", in: ["portal"] },
  "the endpoint-health store": { part: "lambdas/adapters/health.ts", in: ["deliver", "release"] },
};

describe.each(Object.entries(ONLY))("%s", (_what, { part, in: needed, may = [] }) => {
  const rows = LAMBDAS.filter((name) => !may.includes(name)).map((name) => [name, needed.includes(name)] as const);
  test.each(rows)("the %s λ's bundle holds it: %s", (name, expected) => {
    expect(holds(name, part)).toBe(expected);
  });
});

test.each([...LAMBDAS])("the %s λ's bundle holds, of this repository, the core, the adapters, lambdas/shared and its own folder only", (name) => {
  const ours = graphs.get(name)!.filter((input) => !input.includes("node_modules/"));
  // The portal serves the management API to a session's tenant: it builds the manage λ's service.
  const allowed = [/^lambdas\/(core|adapters|shared)\//, new RegExp(`^lambdas/${name}/`), /^package\.json$/];
  // The portal serves the management API to a session's tenant: the manage λ's root, routes, schemas and presenters.
  if (name === "portal") allowed.push(/^lambdas\/manage\/(services|routes|schemas|presenters)\.ts$/);
  expect(ours.filter((input) => !allowed.some((re) => re.test(input)))).toEqual([]);
  expect(ours).toContain(`lambdas/${name}/services.ts`);
});
