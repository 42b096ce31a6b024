/**
 * The benchmark's results: their shape (bench/results/*.json), the goals of the issue checked
 * against them, and their rendering as text tables (stdout) and markdown (docs/performance.md).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { BundleReport } from "./bundle.ts";
import type { CostBreakdown } from "./cost.ts";
import type { ProfileSummary } from "./profile.ts";
import type { LatencySummary } from "./stats.ts";
import type { PerDelivery } from "./tally.ts";

export interface Results {
  version: 1;
  mode: "quick" | "full";
  date: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGb: number;
    node: string;
    platform: string;
    loadAverageAtStart: number;
    /** Share of CPU time the hypervisor gave to other guests during the whole run (Linux VMs). */
    stealPercent?: number;
  };
  settings: Record<string, unknown> & { deliverBatchSize?: number };
  bareLoop: { requests: number; ok: number; perSecond: number; cpuMsPerRequest: number };
  endToEnd: {
    name: string;
    fanout: number;
    load: string;
    attempts: number;
    deliveries: number;
    duplicates: number;
    seconds: number;
    perSecond: number;
    latencyMs: LatencySummary;
    workerCpuMsPerDelivery: number;
    /** CPU time of each process per delivery: the deliver worker, the emulators, this driver (API + ingest + publisher), the receivers. */
    cpuMsPerDelivery: { worker: number; emulators: number; apiAndIngest: number; receivers: number };
    /** CPU time stolen by the hypervisor during this run, percent. */
    stealPercent?: number;
    aws: PerDelivery;
  }[];
  slowBatch: { batch: number; slowMs: number; samplesMs: number[]; medianMs: number; maxMs: number };
  lambda: Record<
    string,
    {
      invocations: number;
      messagesPerInvocation: number;
      wallMs: number;
      cpuMs: number;
      lambdaMs: number;
      logBytes: number;
      logLines: number;
      /** The start of what the last invocation logged. */
      logSample: string;
    }
  >;
  /** batchSize: deliveries per deliver λ invocation (absent in runs before it was recorded: 10). */
  cost: { name: string; fanout: number; attempts: number; endpointMs: number; batchSize?: number; breakdown: CostBreakdown }[];
  coldStart: { emptyMs: number; runs: number; bundles: (Omit<BundleReport, "file"> & { file?: string; importMs: number; importMinMs: number })[] };
  profile?: ProfileSummary;
  seconds: number;
}

export interface Goal {
  goal: string;
  target: string;
  actual: string;
  met: boolean;
  /** How far off, when missed: "+23 %". */
  by?: string;
}

interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  note?: string;
}

const n = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–");
const usd = (x: number) => `$${x.toFixed(3)}`;
const kb = (bytes: number) => `${n(bytes / 1024)} KB`;
/** How far over its limit, in percent: with more digits when small, so that a miss never reads "+0 %". */
const over = (actual: number, limit: number) => {
  const pct = ((actual - limit) / limit) * 100;
  return `${actual > limit ? "+" : ""}${n(pct, Math.abs(pct) < 0.1 ? 2 : Math.abs(pct) < 1 ? 1 : 0)} %`;
};

const run = (r: Results, fanout: number, load = "full", attempts = 1) =>
  r.endToEnd.find((e) => e.fanout === fanout && e.load === load && e.attempts === attempts);
/** A cost case at the mapping's batch size (the run's `deliverBatchSize`). */
const costOf = (r: Results, fanout: number, attempts: number, endpointMs: number) =>
  r.cost.find(
    (c) => c.fanout === fanout && c.attempts === attempts && c.endpointMs === endpointMs && (c.batchSize ?? 10) === (r.settings.deliverBatchSize ?? 10),
  );

/** SQS requests per delivery that count against the goal: every caller, without idle empty receives. */
export const sqsPerDelivery = (aws: PerDelivery) => aws.sqs.total - aws.sqs.emptyReceive - aws.sqs.other;

/**
 * What `npm run bench` checks (docs/performance.md, "Goals: met, missed"): the hot paths' targets
 * first, then the request and throughput targets set before them, which still hold.
 */
export const TARGETS = {
  /** Deliver worker CPU per delivery ÷ the bare loop's CPU per signed POST, by fan-out. */
  workerCpuRatio: { 1: 2.5, 10: 2.0 },
  /** Ingest λ CPU per event, calls of 100 events at fan-out 1. */
  ingestCpuMsPerEvent: 0.6,
  /** Dollars per million first-try deliveries, 50 ms endpoints, by fan-out. */
  costPerMillion: { 1: 1.5, 10: 0.95 },
  /** Fresh-process import of the bundled λ, median, minus an empty module's. */
  importMs: { deliver: 150, ingest: 120 },
  throughputPerSecond: 1_500,
  /** A batch with one slow endpoint takes at most this × the slow endpoint's time. */
  slowBatchFactor: 1.25,
  sqsRequestsPerDelivery: 0.35,
  writeUnitsPerDelivery: { 1: 2.1, 10: 1.2 },
} as const;

const FANOUTS = [1, 10] as const;

/** The goals, checked against a run (rows for what the run measured). */
export function goals(r: Results): Goal[] {
  const out: Goal[] = [];
  const atMost = (goal: string, actual: number | undefined, limit: number, fmt: (x: number) => string) => {
    if (actual === undefined || !Number.isFinite(actual)) return;
    out.push({ goal, target: `≤ ${fmt(limit)}`, actual: fmt(actual), met: actual <= limit, by: actual > limit ? over(actual, limit) : undefined });
  };
  for (const fanout of FANOUTS) {
    const e = run(r, fanout);
    if (e) {
      atMost(
        `worker CPU per delivery ÷ bare loop CPU per request, fan-out ${fanout}`,
        e.workerCpuMsPerDelivery / r.bareLoop.cpuMsPerRequest,
        TARGETS.workerCpuRatio[fanout],
        (x) => `${n(x, 2)}×`,
      );
    }
  }
  const ingest = r.lambda["ingest, fan-out 1"];
  if (ingest)
    atMost(
      "ingest λ CPU per event (calls of 100, fan-out 1)",
      ingest.cpuMs / ingest.messagesPerInvocation,
      TARGETS.ingestCpuMsPerEvent,
      (x) => `${n(x, 2)} ms`,
    );
  for (const fanout of FANOUTS) {
    atMost(
      `cost per million first-try deliveries, fan-out ${fanout} (50 ms endpoints)`,
      costOf(r, fanout, 1, 50)?.breakdown.total,
      TARGETS.costPerMillion[fanout],
      usd,
    );
  }
  for (const name of ["deliver", "ingest"] as const) {
    atMost(
      `${name} λ import time (cold start, median of ${r.coldStart.runs})`,
      r.coldStart.bundles.find((b) => b.name === name)?.importMs,
      TARGETS.importMs[name],
      (x) => `${n(x)} ms`,
    );
  }
  for (const fanout of FANOUTS) {
    const e = run(r, fanout);
    if (!e) continue;
    const target = TARGETS.throughputPerSecond;
    out.push({
      goal: `end-to-end throughput, fan-out ${fanout}`,
      target: `≥ ${n(target)} deliveries/s`,
      actual: `${n(e.perSecond)} deliveries/s`,
      met: e.perSecond >= target,
      by: e.perSecond < target ? `${n(((e.perSecond - target) / target) * 100)} %` : undefined,
    });
  }
  atMost(`batch wall time with one ${r.slowBatch.slowMs} ms endpoint`, r.slowBatch.medianMs, TARGETS.slowBatchFactor * r.slowBatch.slowMs, (x) => `${n(x)} ms`);
  for (const fanout of FANOUTS) {
    const e = run(r, fanout);
    if (e) atMost(`SQS requests per first-try delivery, fan-out ${fanout}`, sqsPerDelivery(e.aws), TARGETS.sqsRequestsPerDelivery, (x) => n(x, 3));
  }
  for (const fanout of FANOUTS) {
    atMost(
      `DynamoDB write units per first-try delivery, fan-out ${fanout}`,
      run(r, fanout)?.aws.dynamodb.writeUnits,
      TARGETS.writeUnitsPerDelivery[fanout],
      (x) => n(x, 2),
    );
  }
  return out;
}

function tables(r: Results, previous?: Results): Table[] {
  const bare = r.bareLoop;
  const out: Table[] = [
    {
      title: "Throughput and latency",
      headers: ["run", "deliveries", "deliveries/s", "× bare loop", "p50 ms", "p95 ms", "p99 ms", "CPU steal"],
      rows: [
        ["bare loop (sign + POST, keep-alive)", n(bare.requests), n(bare.perSecond), "1", "", "", "", ""],
        ...r.endToEnd.map((e) => [
          e.name + (e.load === "full" ? "" : ` (${e.load})`),
          n(e.deliveries),
          n(e.perSecond),
          n(e.perSecond / bare.perSecond, 2),
          n(e.latencyMs.p50),
          n(e.latencyMs.p95),
          n(e.latencyMs.p99),
          e.stealPercent === undefined ? "" : `${n(e.stealPercent, 1)} %`,
        ]),
      ],
      note:
        "CPU steal is the time the hypervisor gave other guests: when it is high, everything here is slower. Latency is publish → received. At full load the publisher outruns delivery, so it is mostly time spent queued; " +
        "the 50 % load runs show the pipeline's own latency.",
    },
    {
      title: "CPU per delivery, ms, by process",
      headers: ["run", "deliver worker", "× bare loop", "emulators", "API + ingest", "receivers", "all", `→ limit on ${r.machine.cpus} cores`],
      rows: [
        ["bare loop (sign + POST, keep-alive)", n(bare.cpuMsPerRequest, 3), "1", "", "", "", "", ""],
        ...r.endToEnd.map((e) => {
          const c = e.cpuMsPerDelivery;
          const all = c.worker + c.emulators + c.apiAndIngest + c.receivers;
          return [
            e.name + (e.load === "full" ? "" : ` (${e.load})`),
            n(c.worker, 3),
            n(c.worker / bare.cpuMsPerRequest, 2),
            n(c.emulators, 3),
            n(c.apiAndIngest, 3),
            n(c.receivers, 3),
            n(all, 3),
            `${n((r.machine.cpus * 1_000) / all)}/s`,
          ];
        }),
      ],
      note: "The limit is what the machine's cores could deliver if every process kept them all busy: the CPU budget, whoever spends it.",
    },
    {
      title: "AWS requests per delivery (counted at the emulators)",
      headers: ["run", "SQS send", "receive", "(empty)", "delete", "change visibility", "SQS total", "DynamoDB reads (RCU)", "writes (WCU)", "WCU by table"],
      rows: r.endToEnd
        .filter((e) => e.load === "full")
        .map((e) => [
          e.name,
          n(e.aws.sqs.send, 3),
          n(e.aws.sqs.receive, 3),
          n(e.aws.sqs.emptyReceive, 3),
          n(e.aws.sqs.delete, 3),
          n(e.aws.sqs.changeVisibility, 3),
          n(sqsPerDelivery(e.aws), 3),
          `${n(e.aws.dynamodb.readRequests, 3)} (${n(e.aws.dynamodb.readUnits, 2)})`,
          `${n(e.aws.dynamodb.writeRequests, 3)} (${n(e.aws.dynamodb.writeUnits, 2)})`,
          Object.entries(e.aws.dynamodb.tables)
            .filter(([, u]) => u.write > 0)
            .map(([t, u]) => `${t} ${n(u.write, 2)}`)
            .join(", "),
        ]),
      note: "SQS total leaves out receives that returned nothing (idle long polls: a cost per hour, not per delivery). Capacity units are dynalite's, computed with DynamoDB's item-size rules.",
    },
    {
      title: "λ handlers, bundled, driven directly",
      headers: [
        "handler",
        "records per invocation",
        "wall ms (median)",
        "CPU ms",
        "CPU ms per record",
        `estimated ms on a ${r.settings.lambdaMemoryMb} MB λ`,
        "bytes logged per invocation",
      ],
      rows: Object.entries(r.lambda).map(([name, m]) => [
        name,
        n(m.messagesPerInvocation),
        n(m.wallMs, 1),
        n(m.cpuMs, 1),
        n(m.cpuMs / m.messagesPerInvocation, 2),
        n(m.lambdaMs, 1),
        n(m.logBytes),
      ]),
      note: `Batch of ${r.slowBatch.batch} with one endpoint at ${r.slowBatch.slowMs} ms: median ${n(r.slowBatch.medianMs)} ms, max ${n(r.slowBatch.maxMs)} ms (${r.slowBatch.samplesMs.map((s) => n(s)).join(", ")}).`,
    },
    {
      title: `Cost per million deliveries, 1 KiB events (AWS ${r.settings.prices && (r.settings.prices as { region: string }).region} list prices of ${(r.settings.prices as { asOf: string }).asOf})`,
      headers: ["case", "endpoint", "λ requests", "λ compute", "SQS", "DynamoDB writes", "DynamoDB reads", "HTTP API", "Logs", "total"],
      rows: r.cost.map((c) => [
        c.name,
        `${c.endpointMs} ms`,
        usd(c.breakdown.lambdaRequests),
        usd(c.breakdown.lambdaCompute),
        usd(c.breakdown.sqs),
        usd(c.breakdown.dynamodbWrites),
        usd(c.breakdown.dynamodbReads),
        usd(c.breakdown.httpApi),
        usd(c.breakdown.logs),
        usd(c.breakdown.total),
      ]),
      note: `Events published ${r.settings.eventsPerPublish} per call; deliver λ invocations of ${r.settings.deliverBatchSize ?? 10} deliveries (the event source mapping's batch size; its batching window fills them at these loads). For comparison: EventBridge API Destinations ~$1.20 at fan-out 1 (no signing, logs or replay), Svix overage ~$100.`,
    },
    {
      title: "Cold start: bundles (esbuild, as the stack builds them) and fresh-process import",
      headers: ["λ", "bundle", "import ms, median", "fastest", "largest inputs"],
      rows: r.coldStart.bundles.map((b) => [
        b.name,
        kb(b.bytes),
        n(b.importMs),
        n(b.importMinMs),
        b.largest.map((l) => `${l.input} ${kb(l.bytes)}`).join(", "),
      ]),
      note: `${r.coldStart.runs} fresh processes each; an empty module's ${n(r.coldStart.emptyMs, 1)} ms taken off. This is the bundle's own loading cost on this machine, not a Lambda init duration.`,
    },
    {
      title: "Goals",
      headers: ["goal", "target", "actual", "met"],
      rows: goals(r).map((g) => [g.goal, g.target, g.actual, g.met ? "yes" : `no (${g.by})`]),
    },
  ];
  if (previous) out.push(comparison(r, previous));
  if (r.profile) {
    out.push({
      title: `Worker CPU profile (${n(r.profile.totalMs)} ms of samples): self time by package`,
      headers: ["where", "ms", "share"],
      rows: r.profile.byPackage.map((p) => [p.name, n(p.ms), `${n(p.share * 100, 1)} %`]),
    });
    out.push({
      title: "Worker CPU profile: self time by function",
      headers: ["function", "ms", "share"],
      rows: r.profile.byFunction.map((p) => [p.name, n(p.ms), `${n(p.share * 100, 1)} %`]),
    });
  }
  return out;
}

/** Key numbers against the previous run of the same mode. */
function comparison(r: Results, p: Results): Table {
  const rows: string[][] = [];
  const add = (metric: string, now: number | undefined, before: number | undefined, digits = 0) => {
    if (now === undefined || before === undefined) return;
    const change = before === 0 ? "" : `${now >= before ? "+" : ""}${n(((now - before) / before) * 100, 1)} %`;
    rows.push([metric, n(before, digits), n(now, digits), change]);
  };
  add("bare loop requests/s", r.bareLoop.perSecond, p.bareLoop.perSecond);
  for (const e of r.endToEnd) {
    const old = p.endToEnd.find((x) => x.name === e.name);
    add(`${e.name}: deliveries/s`, e.perSecond, old?.perSecond);
    add(`${e.name}: p99 ms`, e.latencyMs.p99, old?.latencyMs.p99);
    add(`${e.name}: worker CPU ms/delivery`, e.workerCpuMsPerDelivery, old?.workerCpuMsPerDelivery, 3);
  }
  add("slow batch median ms", r.slowBatch.medianMs, p.slowBatch.medianMs);
  for (const c of r.cost) {
    const old = p.cost.find((x) => x.name === c.name && x.endpointMs === c.endpointMs);
    add(`cost: ${c.name}, ${c.endpointMs} ms`, c.breakdown.total, old?.breakdown.total, 3);
  }
  for (const b of r.coldStart.bundles) add(`${b.name} import ms`, b.importMs, p.coldStart.bundles.find((x) => x.name === b.name)?.importMs);
  return { title: `Against the previous ${p.mode} run (${p.date.slice(0, 16).replace("T", " ")})`, headers: ["metric", "before", "now", "change"], rows };
}

function text(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [`\n${t.title}`, line(t.headers), widths.map((w) => "─".repeat(w)).join("  "), ...t.rows.map(line), ...(t.note ? [t.note] : [])].join("\n");
}

function markdown(t: Table): string {
  const row = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [
    `### ${t.title}`,
    "",
    row(t.headers),
    row(t.headers.map((_, i) => (i === 0 ? "---" : "---:"))),
    ...t.rows.map(row),
    ...(t.note ? ["", t.note] : []),
    "",
  ].join("\n");
}

function machineLine(r: Results): string {
  const m = r.machine;
  const steal = m.stealPercent === undefined ? "" : `, ${n(m.stealPercent, 1)} % CPU steal during it`;
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node} (${m.platform}), load average ${n(m.loadAverageAtStart, 2)} before the run${steal}; ${r.mode} run of ${r.date.slice(0, 16).replace("T", " ")} UTC, ${n(r.seconds)} s`;
}

export function printReport(r: Results, previous?: Results): void {
  const same = previous && previous.mode === r.mode ? previous : undefined;
  console.log(`\nRecordsKeeper.AI Webhooks benchmark — ${machineLine(r)}`);
  for (const t of tables(r, same)) console.log(text(t));
  if (!same) console.log("\n(no previous run of this mode to compare with)");
}

const START = "<!-- bench:start (generated by npm run bench; edit outside these markers) -->";
const END = "<!-- bench:end -->";

/** Replaces the generated part of docs/performance.md (between the markers) with this run. */
export function updatePerformanceDoc(file: string, r: Results): void {
  const generated = [START, "", `Measured on ${machineLine(r)}, with \`${r.command}\`.`, "", ...tables(r).map(markdown), END].join("\n");
  const current = existsSync(file) ? readFileSync(file, "utf8") : `# Performance\n\n${START}\n${END}\n`;
  const from = current.indexOf(START);
  const to = current.indexOf(END);
  const next = from >= 0 && to > from ? current.slice(0, from) + generated + current.slice(to + END.length) : `${current.trimEnd()}\n\n${generated}\n`;
  writeFileSync(file, next);
}
