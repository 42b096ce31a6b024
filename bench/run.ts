/**
 * `npm run bench` (a few minutes on a 2-core machine; `npm run bench -- --quick` for about 30 s).
 *
 * Processes: the emulators (bench/emulator-main.ts, counting every AWS request), the deliver worker
 * (local/worker-main.ts), the receivers (bench/receivers-main.ts), and this driver, which runs the
 * local stack's API and ingest (local/stack.ts, worker off) and publishes through that HTTP API.
 * Phases: the bare loop (the limit), end-to-end runs at full and half load, a run that needs 3
 * attempts per delivery, the bundled λ handlers driven directly (slow endpoint in a batch,
 * durations and logged bytes for the cost model), and cold start. Results: a table on stdout,
 * bench/results/latest.json (the one before it kept as previous.json and compared), and, for a
 * full run, the generated section of docs/performance.md.
 *
 * Flags: --quick, --profile (CPU profile of the worker → bench/results/profiles/), --concurrency N
 * (worker pollers, default 8).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { RetrySchedule } from "#core/retry.ts";
import { QUEUE } from "#core/settings.ts";
import { generateSecret } from "#core/signing.ts";
import { startLocalStack, type StateFile } from "../local/stack.ts";
import { buildBundles, emptyModule, importSamples, type BundleReport } from "./bundle.ts";
import { costPerMillion, lambdaDurationMs, type CostBreakdown, type LambdaUse } from "./cost.ts";
import { Child, Publisher, sleep } from "./harness.ts";
import { PRICES } from "./prices.ts";
import { summarizeProfile, type ProfileSummary } from "./profile.ts";
import { printReport, updatePerformanceDoc, type Results } from "./report.ts";
import { cpuMs, median, parseProcStat, stealPercent, summarize, type CpuTimes } from "./stats.ts";
import { difference, perDelivery, type Tally } from "./tally.ts";
import type { Invocation } from "./lambda-probe.ts";

const ROOT = resolve(import.meta.dirname, "..");
const RESULTS = join(ROOT, "bench", "results");
const { values: flags } = parseArgs({
  options: { quick: { type: "boolean", default: false }, profile: { type: "boolean", default: false }, concurrency: { type: "string" } },
});

const PLAN = flags.quick
  ? { deliveries: 1_000, halfLoadSeconds: 2, bareRequests: 1_000, threeAttemptEvents: 100, slowBatches: 2, durationBatches: 2, ingestCalls: 3, importRuns: 3 }
  : {
      deliveries: 20_000,
      halfLoadSeconds: 10,
      bareRequests: 20_000,
      threeAttemptEvents: 1_000,
      slowBatches: 5,
      durationBatches: 10,
      ingestCalls: 10,
      importRuns: 9,
    };
const WORKER_CONCURRENCY = Number(flags.concurrency ?? 8);
const BARE_CONCURRENCY = 32;
/** Three attempts with no wait between them: the 3-attempt case counts requests, not backoff time. */
const RETRY_SCHEDULE = "0s,0s";
/** The λs' memory (lib/constructs/webhooks-function.ts default, used by all three). */
const LAMBDA_MEMORY_MB = 256;
const EVENTS_PER_PUBLISH = 100;
/**
 * Deliveries per deliver λ invocation in the cost model: the stack's event source mapping batch size
 * (its 1 s batching window fills a batch once the queue brings that many a second). The local
 * worker's poller takes 10 at a time (one ReceiveMessage); the λ probe gathers whole batches.
 */
const DELIVER_BATCH: number = QUEUE.batchSize;
/** The deliver λ in batches of 10: at light load the batching window ends before a batch fills. */
const SMALL_BATCH_KEY = "deliver@50ms, batches of 10";
const SLOW_MS = 500;
const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)}  ${line}\n`);

// ── setup ───────────────────────────────────────────────────────────────────────────────────────
const started = Date.now();
/** Other work on the machine skews every number: the 1-minute load average before starting is kept with them. */
const loadAtStart = loadavg()[0];
/** CPU time the hypervisor gave to other guests, when the machine is a VM that reports it (Linux). */
const cpuTimes = (): CpuTimes | undefined => {
  try {
    return parseProcStat(readFileSync("/proc/stat", "utf8"));
  } catch {
    return undefined;
  }
};
const timesAtStart = cpuTimes();
log(`npm run bench${flags.quick ? " --quick" : ""}: ${PLAN.deliveries} deliveries per run, worker with ${WORKER_CONCURRENCY} pollers`);
const emulator = Child.start("emulators", "bench/emulator-main.ts");
const receivers = Child.start("receivers", "bench/receivers-main.ts", ["12"]);
const bundleDir = join(tmpdir(), "rk-webhooks-bench");
const [{ endpoints }, { urls }, bundles] = await Promise.all([emulator.ready, receivers.ready, buildBundles(bundleDir)]);
const hooks = urls as string[];
// The "3 attempts each" run fails every delivery's first two attempts on purpose: it measures what a
// retry costs, so the circuit breaker (which would park them after 5 failures in a row) stays out of it.
const stack = await startLocalStack({
  endpoints,
  worker: false,
  port: 0,
  logLevel: "silent",
  retrySchedule: RetrySchedule.parse(RETRY_SCHEDULE),
  health: { breakerThreshold: 1_000_000 },
});
const sqs = new SQSClient(stack.config.sqs!);
const publisher = new Publisher(stack.apiUrl, stack.token);

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Ten tenants with one endpoint each (fan-out 1); one tenant with the same ten endpoints (fan-out 10). */
const F1 = Array.from({ length: 10 }, (_, i) => `acct_bench_f1_${i}`);
const F10 = ["acct_bench_f10"];
/** Ten fast endpoints and the slow one (receiver 11), for the batch with one slow endpoint. */
const SLOW = ["acct_bench_slow"];
for (let i = 0; i < 10; i++) {
  await api("POST", `/tenants/${F1[i]}/webhooks`, { url: hooks[i], eventTypes: ["*"] });
  await api("POST", `/tenants/${F10[0]}/webhooks`, { url: hooks[i], eventTypes: ["*"] });
  await api("POST", `/tenants/${SLOW[0]}/webhooks`, { url: hooks[i], eventTypes: ["ai.insight.*"] });
}
await api("POST", `/tenants/${SLOW[0]}/webhooks`, { url: hooks[11], eventTypes: ["*"] });

const state: StateFile = {
  apiUrl: stack.apiUrl,
  token: stack.token,
  endpoints: { ...endpoints, kms: String(stack.config.kms!.endpoint) },
  config: {
    secretsKeyId: stack.config.secretsKeyId,
    tables: stack.config.tables,
    queue: stack.config.queue,
    allowPrivateEndpoints: true,
    autoDisableAfterSeconds: stack.config.autoDisableAfterSeconds,
    health: stack.config.health,
    schedule: RETRY_SCHEDULE,
  },
};
const profileDir = join(RESULTS, "profiles");
if (flags.profile) rmSync(profileDir, { recursive: true, force: true });
const worker = Child.start("worker", "local/worker-main.ts", [], {
  env: {
    WEBHOOKS_WORKER_STATE: JSON.stringify(state),
    WEBHOOKS_WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    WEBHOOKS_WORKER_WAIT_SECONDS: "1",
    // The 3-attempt run fails on purpose: a warning per attempt would bury the report.
    WEBHOOKS_LOG_LEVEL: "error",
  },
  nodeArgs: flags.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
});
await worker.ready;

const tally = async (): Promise<{ tally: Tally; cpu: NodeJS.CpuUsage }> => emulator.ask({ cmd: "tally" });
const workerCpu = async (): Promise<NodeJS.CpuUsage> => (await worker.ask<{ cpu: NodeJS.CpuUsage }>({ cmd: "cpu" })).cpu;
const configureReceivers = (delaysMs: number[] = [], failFirst = 0) => receivers.ask({ cmd: "configure", delaysMs, failFirst });

async function waitForDeliveries(n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await receivers.ask<{ accepted: number }>({ cmd: "progress" });
    if (p.accepted >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${p.accepted} of ${n} deliveries arrived within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

/** Waits until the delivery queue is empty: every delivered message's bookkeeping is done. */
async function queueDrained(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.config.queue.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
      }),
    );
    const a = res.Attributes ?? {};
    if (Number(a.ApproximateNumberOfMessages) + Number(a.ApproximateNumberOfMessagesNotVisible) + Number(a.ApproximateNumberOfMessagesDelayed) === 0) return;
    if (Date.now() > deadline) throw new Error(`the delivery queue still holds messages a minute after the last delivery: ${JSON.stringify(a)}`);
    await sleep(100);
  }
}

// ── 1. the limit ───────────────────────────────────────────────────────────────────────────────
log(`bare loop: ${PLAN.bareRequests} signed POSTs, ${BARE_CONCURRENCY} at a time`);
await configureReceivers();
const bare = await Child.start("bare loop", "bench/bare-loop-main.ts", [
  JSON.stringify({ urls: hooks.slice(0, 10), secret: generateSecret(), requests: PLAN.bareRequests, concurrency: BARE_CONCURRENCY }),
]).ready;
const bareLoop = { requests: bare.requests, ok: bare.ok, perSecond: bare.requests / (bare.wallMs / 1000), cpuMsPerRequest: bare.cpuMs / bare.requests };
log(`  ${bareLoop.perSecond.toFixed(0)} requests/s, ${bareLoop.cpuMsPerRequest.toFixed(3)} ms CPU per request`);

// ── 2./3./5. end to end ─────────────────────────────────────────────────────────────────────────
type Run = Results["endToEnd"][number];

async function endToEnd(name: string, fanout: number, load: number | "full", failFirst = 0): Promise<Run> {
  const tenants = fanout === 1 ? F1 : F10;
  await configureReceivers([], failFirst);
  const [t0, w0, r0] = await Promise.all([tally(), workerCpu(), receivers.ask<{ cpu: NodeJS.CpuUsage }>({ cmd: "progress" })]);
  const d0 = process.cpuUsage();
  const s0 = cpuTimes();
  const start = Date.now();
  let events: number;
  if (load === "full") {
    events = failFirst ? PLAN.threeAttemptEvents : PLAN.deliveries / fanout;
    await publisher.flood(events, tenants);
  } else {
    events = await publisher.paced(load / fanout, PLAN.halfLoadSeconds, tenants);
  }
  const deliveries = events * fanout;
  await waitForDeliveries(deliveries, 60_000 + deliveries * 5);
  await queueDrained();
  const [t1, w1] = await Promise.all([tally(), workerCpu()]);
  const d1 = process.cpuUsage();
  const steal = stealPercent(s0, cpuTimes());
  const got = await receivers.ask<{ accepted: number; lastAt: number; duplicates: number; latencies: number[]; cpu: NodeJS.CpuUsage }>({
    cmd: "collect",
  });
  const seconds = (got.lastAt - start) / 1000;
  const cpuPerDelivery = {
    worker: cpuMs(w0, w1) / deliveries,
    emulators: cpuMs(t0.cpu, t1.cpu) / deliveries,
    apiAndIngest: cpuMs(d0, d1) / deliveries,
    receivers: cpuMs(r0.cpu, got.cpu) / deliveries,
  };
  const run: Run = {
    name,
    fanout,
    load: load === "full" ? "full" : `${Math.round(load)}/s`,
    attempts: failFirst + 1,
    deliveries,
    duplicates: got.duplicates,
    seconds,
    perSecond: deliveries / seconds,
    latencyMs: summarize(got.latencies),
    workerCpuMsPerDelivery: cpuPerDelivery.worker,
    cpuMsPerDelivery: cpuPerDelivery,
    stealPercent: steal,
    aws: perDelivery(difference(t1.tally, t0.tally), deliveries),
  };
  log(
    `  ${name}: ${run.perSecond.toFixed(0)} deliveries/s, p50 ${run.latencyMs.p50} ms p99 ${run.latencyMs.p99} ms, ` +
      `worker ${run.workerCpuMsPerDelivery.toFixed(3)} ms CPU/delivery, SQS ${run.aws.sqs.total.toFixed(3)} req, DynamoDB ${run.aws.dynamodb.writeUnits.toFixed(2)} WCU`,
  );
  return run;
}

log("end to end");
const full1 = await endToEnd("fan-out 1, full load", 1, "full");
const full10 = await endToEnd("fan-out 10, full load", 10, "full");
const half1 = await endToEnd("fan-out 1, 50 % load", 1, full1.perSecond / 2);
const half10 = await endToEnd("fan-out 10, 50 % load", 10, full10.perSecond / 2);
const retried1 = await endToEnd("fan-out 1, 3 attempts each", 1, "full", 2);
await worker.stop();
// A long poll the worker left behind would still take (and hide) the next messages: let them expire.
await sleep(1_500);
let profile: ProfileSummary | undefined;
if (flags.profile) {
  const file = readdirSync(profileDir).find((f) => f.endsWith(".cpuprofile"));
  if (file) profile = summarizeProfile(join(profileDir, file));
}

// ── 4./6. the bundled λ handlers, driven directly ──────────────────────────────────────────────
/**
 * A queue URL on the SQS endpoint's origin, as on AWS. fauxqs names its queues
 * `http://sqs.<region>.localhost:<port>/…`; the λ's SQS client, configured by AWS_ENDPOINT_URL_SQS
 * only, would otherwise dial that host (the SDK prefers a queue URL's host to an endpoint from the
 * environment) and warn about it on every call.
 */
const onEndpoint = (queueUrl: string) => new URL(endpoints.sqs).origin + new URL(queueUrl).pathname;
function lambdaEnv(fn: string): NodeJS.ProcessEnv {
  return {
    AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: endpoints.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoints.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_KMS: String(stack.config.kms!.endpoint),
    AWS_LAMBDA_FUNCTION_NAME: `RecordsKeeperWebhooks-${fn}Function1A2B3C4D-AbCdEfGhIjKl`,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(LAMBDA_MEMORY_MB),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_EXECUTION_ENV: "AWS_Lambda_nodejs24.x",
    _X_AMZN_TRACE_ID: "Root=1-6789abcd-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1",
    POWERTOOLS_SERVICE_NAME: "RecordsKeeperWebhooks",
    POWERTOOLS_METRICS_NAMESPACE: "RecordsKeeperWebhooks",
    SUBSCRIPTIONS_TABLE: stack.config.tables.subscriptions,
    EVENTS_TABLE: stack.config.tables.events,
    DELIVERIES_TABLE: stack.config.tables.deliveries,
    PORTAL_SESSIONS_TABLE: stack.config.tables.portalSessions,
    DELIVERY_QUEUE_URL: onEndpoint(stack.config.queue.queueUrl),
    DELIVERY_QUEUE_ARN: stack.config.queue.queueArn,
    DLQ_URL: onEndpoint(stack.config.queue.dlqUrl),
    DLQ_ARN: stack.config.queue.dlqArn,
    WEBHOOKS_RETRY_SCHEDULE: RETRY_SCHEDULE,
    // As the stack's worker: the 3-attempt batches fail on purpose, the breaker must not park them.
    WEBHOOKS_BREAKER_THRESHOLD: String(stack.config.health.breakerThreshold),
    // The receivers are on 127.0.0.1; on AWS this is "false" and only the endpoint guard's verdict differs.
    WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS: "true",
    WEBHOOKS_AUTO_DISABLE_AFTER: String(stack.config.autoDisableAfterSeconds),
    WEBHOOKS_SECRETS_KEY_ARN: stack.config.secretsKeyId,
  };
}
const bundleOf = (name: string) => bundles.find((b: BundleReport) => b.name === name)!.file;
type Measured = Results["lambda"][string];
function measured({ invocations, logSample }: ProbeAnswer, perInvocation: number): Measured {
  const wallMs = median(invocations.map((i) => i.ms));
  const cpu = median(invocations.map((i) => i.cpuMs));
  return {
    invocations: invocations.length,
    messagesPerInvocation: perInvocation,
    wallMs,
    cpuMs: cpu,
    lambdaMs: lambdaDurationMs(wallMs, cpu, LAMBDA_MEMORY_MB),
    logBytes: invocations.reduce((n, i) => n + i.logBytes, 0) / invocations.length,
    logLines: invocations.reduce((n, i) => n + i.logLines, 0) / invocations.length,
    logSample,
  };
}

log("deliver λ (bundled), driven directly");
const deliverProbe = Child.start("deliver probe", "bench/lambda-probe.ts", [bundleOf("deliver")], { env: lambdaEnv("Deliver") });
await deliverProbe.ready;
interface ProbeAnswer {
  invocations: Invocation[];
  logSample: string;
  error?: string;
}
const probeDeliver = async (size: number, batches: number): Promise<ProbeAnswer> => {
  const answer = await deliverProbe.ask<ProbeAnswer>({ cmd: "deliver", size, batches });
  if (answer.error) throw new Error(`deliver probe: ${answer.error}`);
  return answer;
};
await configureReceivers();
await publisher.publish(1, F10);
await probeDeliver(10, 1); // warm-up: connections, JIT

const slowDelays = Array.from({ length: 12 }, (_, i) => (i === 11 ? SLOW_MS : 0));
await configureReceivers(slowDelays);
const slowSamples: number[] = [];
for (let i = 0; i < PLAN.slowBatches; i++) {
  await publisher.publish(1, SLOW);
  slowSamples.push((await probeDeliver(11, 1)).invocations[0].ms);
}
const slowBatch = { batch: 11, slowMs: SLOW_MS, samplesMs: slowSamples, medianMs: median(slowSamples), maxMs: Math.max(...slowSamples) };
log(`  batch of 10 fast + 1 at ${SLOW_MS} ms: median ${slowBatch.medianMs.toFixed(0)} ms, max ${slowBatch.maxMs.toFixed(0)} ms`);

const lambda: Results["lambda"] = {};
/** `batches` batches of `size` deliveries at fan-out 10 (each event one delivery to each of the ten endpoints). */
async function deliverBatches(key: string, size: number, batches: number, endpointMs: number, failFirst = 0): Promise<void> {
  await configureReceivers(Array(12).fill(endpointMs), failFirst);
  for (let i = 0; i < batches; i++) await publisher.publish(size / 10, F10);
  // Each round of a message (3 with failFirst = 2: 500, 500, then 200) is one record in some batch.
  lambda[key] = measured(await probeDeliver(size, (failFirst + 1) * batches), size);
  log(`  ${key}: ${size} per invocation, median ${lambda[key].wallMs.toFixed(0)} ms, ${lambda[key].cpuMs.toFixed(1)} ms CPU`);
}
for (const endpointMs of [50, SLOW_MS]) {
  const batches = endpointMs === SLOW_MS ? Math.ceil(PLAN.durationBatches / 4) : PLAN.durationBatches;
  await deliverBatches(`deliver@${endpointMs}ms`, DELIVER_BATCH, batches, endpointMs);
  await deliverBatches(`deliver@${endpointMs}ms, 3 attempts`, DELIVER_BATCH, batches, endpointMs, 2);
}
// Smaller batches, as the mapping's window makes them when fewer messages arrive: what batch size alone changes.
await deliverBatches(SMALL_BATCH_KEY, 10, PLAN.durationBatches, 50);
await deliverProbe.stop();

log("ingest λ (bundled), driven directly");
const ingestProbe = Child.start("ingest probe", "bench/lambda-probe.ts", [bundleOf("ingest")], { env: lambdaEnv("Ingest") });
await ingestProbe.ready;
// The publisher's events carry no id (the service makes one); "producer ids" gives each event its
// own, new on every call, which takes a conditional put per event (docs/architecture.md, "Ingest idempotency").
for (const [key, tenants, ids] of [
  ["ingest, fan-out 1", F1, false],
  ["ingest, fan-out 10", F10, false],
  ["ingest, fan-out 1, producer ids", F1, true],
] as const) {
  const body = publisher.body(EVENTS_PER_PUBLISH, tenants);
  await ingestProbe.ask({ cmd: "ingest", body, times: 1, ids }); // warm-up
  const answer = await ingestProbe.ask<ProbeAnswer>({ cmd: "ingest", body, times: PLAN.ingestCalls, ids });
  if (answer.error) throw new Error(`ingest probe: ${answer.error}`);
  const bad = answer.invocations.find((i) => i.statusCode !== 202);
  if (bad) throw new Error(`ingest probe: POST /events answered ${bad.statusCode}`);
  lambda[key] = measured(answer, EVENTS_PER_PUBLISH);
}
await ingestProbe.stop();

// ── stop the stack before timing imports, so they have the CPU to themselves ────────────────────
await publisher.close();
await stack.stop();
await Promise.all([emulator.stop(), receivers.stop()]);

// ── 7. cold start ──────────────────────────────────────────────────────────────────────────────
log("cold start: fresh-process imports");
const importEnv = { PATH: process.env.PATH, ...lambdaEnv("Probe") };
const emptyMs = median(importSamples(emptyModule(bundleDir), importEnv, PLAN.importRuns));
const coldStart = {
  emptyMs,
  runs: PLAN.importRuns,
  bundles: bundles.map((b: BundleReport) => {
    const samples = importSamples(b.file, importEnv, PLAN.importRuns);
    return { ...b, file: undefined, importMs: median(samples) - emptyMs, importMinMs: Math.min(...samples) - emptyMs };
  }),
};

// ── 6. cost per million deliveries ─────────────────────────────────────────────────────────────
function lambdaUse(m: Measured, invocationsPerDelivery: number): LambdaUse {
  return {
    invocationsPerDelivery,
    durationMs: m.lambdaMs,
    memoryMb: LAMBDA_MEMORY_MB,
    logBytesPerInvocation: m.logBytes,
    logLinesPerInvocation: m.logLines,
  };
}
function cost(name: string, run: Run, endpointMs: number, batchSize: number = DELIVER_BATCH): Results["cost"][number] {
  const { aws, fanout, attempts } = run;
  // SQS as billed, without empty receives: pollers' idle long polls cost per hour, not per delivery.
  const sqsBilled = aws.sqs.billed - aws.sqs.emptyReceive - aws.sqs.other;
  const ingest = lambda[`ingest, fan-out ${fanout}`];
  const deliver = batchSize === DELIVER_BATCH ? lambda[`deliver@${endpointMs}ms${attempts > 1 ? ", 3 attempts" : ""}`] : lambda[SMALL_BATCH_KEY];
  const breakdown: CostBreakdown = costPerMillion({
    sqsRequestsPerDelivery: sqsBilled,
    dynamodbWriteUnitsPerDelivery: aws.dynamodb.writeUnits,
    dynamodbReadUnitsPerDelivery: aws.dynamodb.readUnits,
    apiRequestsPerDelivery: 1 / (EVENTS_PER_PUBLISH * fanout),
    lambdas: {
      ingest: lambdaUse(ingest, 1 / (EVENTS_PER_PUBLISH * fanout)),
      // One invocation per `batchSize` attempts: full batches of the mapping's size under load.
      deliver: lambdaUse(deliver, attempts / batchSize),
    },
  });
  return { name, fanout, attempts, endpointMs, batchSize, breakdown };
}
const costs = [
  cost("fan-out 1, first try", full1, 50),
  cost("fan-out 1, first try", full1, SLOW_MS),
  cost("fan-out 10, first try", full10, 50),
  cost("fan-out 10, first try", full10, SLOW_MS),
  cost("fan-out 1, 3 attempts", retried1, 50),
  cost("fan-out 1, 3 attempts", retried1, SLOW_MS),
  cost("fan-out 1, first try, batches of 10", full1, 50, 10),
];

// ── results ────────────────────────────────────────────────────────────────────────────────────
const results: Results = {
  version: 1,
  mode: flags.quick ? "quick" : "full",
  date: new Date().toISOString(),
  command: `npm run bench${flags.quick ? " -- --quick" : ""}`,
  machine: { ...machine(), loadAverageAtStart: loadAtStart, stealPercent: stealPercent(timesAtStart, cpuTimes()) },
  settings: {
    workerConcurrency: WORKER_CONCURRENCY,
    bareConcurrency: BARE_CONCURRENCY,
    payloadBytes: 1_024,
    eventsPerPublish: EVENTS_PER_PUBLISH,
    deliverBatchSize: DELIVER_BATCH,
    lambdaMemoryMb: LAMBDA_MEMORY_MB,
    retrySchedule: RETRY_SCHEDULE,
    prices: { asOf: PRICES.asOf, region: PRICES.region },
  },
  bareLoop,
  endToEnd: [full1, full10, half1, half10, retried1],
  slowBatch,
  lambda,
  cost: costs,
  coldStart,
  profile,
  seconds: (Date.now() - started) / 1000,
};

mkdirSync(RESULTS, { recursive: true });
const suffix = flags.quick ? "-quick" : "";
const latestFile = join(RESULTS, `latest${suffix}.json`);
const previousFile = join(RESULTS, `previous${suffix}.json`);
let previous: Results | undefined;
if (existsSync(latestFile)) {
  renameSync(latestFile, previousFile);
  previous = JSON.parse(readFileSync(previousFile, "utf8")) as Results;
}
writeFileSync(latestFile, `${JSON.stringify(results, null, 2)}\n`);
printReport(results, previous);
if (!flags.quick) updatePerformanceDoc(join(ROOT, "docs", "performance.md"), results);
log(`done in ${results.seconds.toFixed(0)} s; results in ${latestFile}`);

function machine(): Omit<Results["machine"], "loadAverageAtStart" | "stealPercent"> {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? cpuModel;
  } catch {
    // not Linux: os.cpus() is fine
  }
  return { cpus: cpus().length, cpuModel, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}` };
}
