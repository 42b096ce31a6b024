import { METRICS } from "#core/settings.ts";
import { observability } from "../../lambdas/shared/observability.ts";

/**
 * The names the stack's alarms read (docs/operations.md#logs-metrics-and-tracing): every λ's log lines
 * and metrics carry its own `service` and the namespace METRICS.namespace, whatever Powertools'
 * environment variables say.
 */

const ENV_KEYS = ["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_DEV"] as const;
const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

beforeEach(() => {
  process.env.POWERTOOLS_SERVICE_NAME = "service-from-env";
  process.env.POWERTOOLS_METRICS_NAMESPACE = "NamespaceFromEnv";
  delete process.env.POWERTOOLS_DEV;
});
afterEach(() => {
  for (const k of ENV_KEYS) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

/** What a call writes to stdout (the Logger's own console writes there outside dev mode). */
function stdoutOf(call: () => void): string {
  const write = process.stdout.write;
  let out = "";
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    call();
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("metrics carry the λ's service dimension and the alarms' namespace, not the environment's", () => {
  const { metrics, coreMetrics } = observability(METRICS.deliverService);
  coreMetrics.count(METRICS.bookkeepingWriteFailures);
  const emf = metrics.serializeMetrics();
  expect(emf._aws.CloudWatchMetrics).toEqual([
    { Namespace: METRICS.namespace, Dimensions: [["service"]], Metrics: [{ Name: METRICS.bookkeepingWriteFailures, Unit: "Count" }] },
  ]);
  expect(emf.service).toBe(METRICS.deliverService);
  expect(emf[METRICS.bookkeepingWriteFailures]).toBe(1);
});

test("log lines carry the λ's service name, not the environment's", () => {
  const { logger } = observability(METRICS.releaseService);
  const line = JSON.parse(stdoutOf(() => logger.info("sweep done")));
  expect(line).toMatchObject({ level: "INFO", message: "sweep done", service: METRICS.releaseService });
});
