import { newWebhookId } from "#core/ids.ts";
import type { DeliveryMessage, Subscription } from "#core/model.ts";
import { HEALTH, LIMITS, QUEUE, SLOW_LANE } from "#core/settings.ts";
import { PRICES } from "../bench/prices.ts";
import { dead, healthy, type Endpoint } from "./ports/http.ts";
import { World } from "./world.ts";

/** What a scenario asks for, at full scale; `scale` shrinks the extensive quantities (see docs/scale.md). */
export interface ScenarioSpec {
  key: string;
  title: string;
  /** Full-scale numbers of the issue. */
  tenants: number;
  webhooksPerTenant: number;
  eventsPerSecond: number;
  /** How long events are published, and how long the run lasts in all (the rest drains), virtual seconds. */
  loadSeconds: number;
  runSeconds: number;
  /** Extensive quantities (tenants, events/s, SQS in-flight limit, λ concurrency) × scale. */
  scale: number;
  /** Overrides: tenants simulated (when scale × tenants is too few to hold the ratios), in-flight limit's scale. */
  tenantCount?: number;
  inFlightScale?: number;
  /** The endpoint of webhook `w` (0-based, over all tenants); `healthy` marks those whose latency is reported. */
  endpoint(w: number, total: number): { endpoint: Endpoint; healthy: boolean };
  /** An extra tenant with one webhook receiving `eventsPerSecond` events (scenario c), not scaled. */
  hotTenant?: { eventsPerSecond: number; endpoint: Endpoint };
  /** Before the run: faults to arm (scenario e). */
  arrange?(world: World): void;
  /** Auto-disable after this many seconds of failures (default the product's 5 days). */
  autoDisableAfterSeconds?: number;
  /** Redrive the DLQ at these virtual seconds (scenario g). */
  redriveAt?: readonly number[];
  /**
   * Scenario h: from this virtual second on (the unhealthy endpoints' recovery), every attempt to an
   * unhealthy endpoint is timed, to measure the release pacing per webhook and the time to drain.
   */
  pacingFrom?: number;
  /** The slow lane's λ concurrency at full scale (default SLOW_LANE.concurrency); scaled like the main lane's. */
  slowLane?: { concurrency: number };
}

/** Release pacing after a recovery (scenario h), over the webhooks that were unhealthy. */
export interface Pacing {
  webhooks: number;
  /** Parked deliveries released after the recovery (attempts of released messages). */
  released: number;
  /** The most released deliveries one webhook received in any 1 s window (sliding), and in any 10 s window ÷ 10. */
  maxReleasedPerSecond: number;
  /** The same in calendar seconds (the windows of the core's per-second rate gate). */
  maxReleasedPerCalendarSecond: number;
  maxReleasedPer10s: number;
  /** The same for every request one webhook received (released, new deliveries, probes). */
  maxPostsPerSecond: number;
  /** Seconds from the recovery to the last released delivery's attempt (over all the webhooks), and the first. */
  drainSeconds: number;
  firstReleaseSeconds: number;
  /** Deliveries of those webhooks still parked at the end. */
  parkedAtEnd: number;
}

export interface ScenarioResult {
  key: string;
  title: string;
  scale: number;
  tenants: number;
  rejectedEvents: number;
  webhooks: number;
  eventsPerSecond: number;
  loadSeconds: number;
  runSeconds: number;
  inFlightScale: number;
  accepted: { events: number; deliveries: number };
  accounting: { delivered: number; failedInDlq: number; failedOther: number; skipped: number; retrying: number; parked: number; missing: number };
  deliveriesPerSecond: number;
  healthyLatency: { p50: number; p99: number; count: number };
  inFlightPeak: number;
  /** The in-flight peak of the unhealthy (dead, slow) endpoints' messages alone. */
  unhealthyInFlightPeak: number;
  inFlightLimit: number;
  /** Parked deliveries (sampled every 10 s of virtual time) and open circuits at their peak; what the sweeps did. */
  parkedPeak: number;
  openCircuitsPeak: number;
  sweeps: { probes: number; released: number; expired: number; longestSeconds: number; overruns: number };
  /**
   * Webhooks left due at every sweep with nothing parked: at the end, their wake is more than two
   * sweeps in the past (a sweep moves a webhook's wake forward) although none of their deliveries is parked.
   */
  idleWakes: number;
  pacing?: Pacing;
  largestItemBytes: number;
  hottestPartitionWcu: number;
  /** Its table, and each table's hottest partition (WCU/s). */
  hottestPartitionTable: string;
  hottestByTable: Record<string, number>;
  concurrencyPeak: number;
  concurrencyLimit: number;
  /** The what-if slow lane's λ concurrency and in-flight peak, when it ran. */
  slowLane?: { concurrencyPeak: number; concurrencyLimit: number; inFlightPeak: number };
  requestsPerDelivery: { sqs: number; dynamodb: number; lambda: number };
  costPerMillion: number;
  violations: string[];
  throttles: Record<string, number>;
  metrics: Record<string, number>;
  attempts: number;
  wallSeconds: number;
}

const TYPES = ["record.created", "record.updated"] as const;

/** Runs one scenario on a fresh World with the real core services; returns its figures. */
export async function runScenario(spec: ScenarioSpec): Promise<ScenarioResult> {
  const started = performance.now();
  const tenants = spec.tenantCount ?? Math.max(1, Math.round(spec.tenants * spec.scale));
  const eventsPerSecond = spec.eventsPerSecond * spec.scale;
  const inFlightLimit = Math.max(60, Math.round(QUEUE.maxInFlight * (spec.inFlightScale ?? spec.scale)));
  const concurrency = Math.max(2, Math.round(QUEUE.deliverConcurrency * spec.scale));
  // Scenario h: attempts to the unhealthy endpoints after their recovery, per webhook (released ones apart).
  const posts = new Map<string, { all: number[]; released: number[] }>();
  let pacingFromMs = Number.POSITIVE_INFINITY;
  const world = new World({
    inFlightLimit,
    autoDisableAfterSeconds: spec.autoDisableAfterSeconds,
    eventSource: { maxConcurrency: concurrency, reservedConcurrency: concurrency },
    sweepLatency: { dynamoMs: 5, sqsMs: 15 },
    slowLane: { concurrency: Math.max(1, Math.round((spec.slowLane?.concurrency ?? SLOW_LANE.concurrency) * spec.scale)) },
    onAttempt: ({ message, attempt }) => {
      const at = Date.parse(attempt.at);
      if (at < pacingFromMs) return;
      const p = posts.get(message.webhookId);
      if (!p) return;
      p.all.push(at);
      if (message.released) p.released.push(at);
    },
  });
  const t0 = world.time.now();
  // One sweep serves HEALTH.sweepWebhooks (200) of the 10,000 webhooks: scaled with the webhooks simulated.
  const fullWebhooks = spec.tenants * spec.webhooksPerTenant;
  world.health.dueLimit = Math.max(1, Math.round((HEALTH.sweepWebhooks * tenants * spec.webhooksPerTenant) / fullWebhooks));
  if (spec.pacingFrom !== undefined) pacingFromMs = t0 + spec.pacingFrom * 1000;

  // Subscriptions: half of each tenant's webhooks take one type, half the other, so an event matches webhooksPerTenant / 2.
  const urls = new Map<string, { url: string; healthy: boolean }>();
  const total = tenants * spec.webhooksPerTenant;
  let w = 0;
  const tenantIds: string[] = [];
  for (let t = 0; t < tenants; t++) {
    const tenantId = `acct_${String(t).padStart(5, "0")}`;
    tenantIds.push(tenantId);
    for (let i = 0; i < spec.webhooksPerTenant; i++, w++) {
      const { endpoint, healthy: isHealthy } = spec.endpoint(w, total);
      await addWebhook(world, tenantId, TYPES[i % 2], `https://t${t}.example.com/hook/${i}`, endpoint, isHealthy, urls);
    }
  }
  if (spec.hotTenant) await addWebhook(world, "acct_hot", "*", "https://hot.example.com/hook", spec.hotTenant.endpoint, false, urls);
  spec.arrange?.(world);
  // The unhealthy endpoints' messages are counted apart in flight (their group id is their webhook id).
  for (const [id, u] of urls) {
    if (u.healthy) continue;
    world.mainQueue.watched.add(id);
    if (spec.pacingFrom !== undefined) posts.set(id, { all: [], released: [] });
  }

  // Publishing: every 100 ms, the tenth of a second's events, in calls of at most 100 events.
  const accepted = new Map<string, number>();
  let carry = 0;
  let hotCarry = 0;
  let seq = 0;
  let rejected = 0; // calls refused (a producer would retry them); their events were never accepted
  // Every 100 ms, or less often at low rates (fewer events for the virtual clock).
  const tickMs = Math.min(1_000, Math.max(100, Math.round(1_000 / Math.max(1, eventsPerSecond) / 100) * 100));
  const publishTick = async () => {
    carry += (eventsPerSecond * tickMs) / 1000;
    const n = Math.floor(carry);
    carry -= n;
    const events: unknown[] = [];
    for (let i = 0; i < n; i++, seq++)
      events.push({ id: `e${seq}`, type: TYPES[seq % 2], tenantId: tenantIds[(seq >> 1) % tenants], data: { recordId: `rec_${seq}` } });
    if (spec.hotTenant) {
      hotCarry += (spec.hotTenant.eventsPerSecond * tickMs) / 1000;
      const h = Math.floor(hotCarry);
      hotCarry -= h;
      for (let i = 0; i < h; i++, seq++) events.push({ id: `e${seq}`, type: TYPES[seq % 2], tenantId: "acct_hot", data: { recordId: `rec_${seq}` } });
    }
    for (let i = 0; i < events.length; i += 100) {
      const part = events.slice(i, i + 100);
      try {
        await world.ingest.publish({ events: part });
        for (const e of part) accepted.set((e as { id: string }).id, world.time.now());
      } catch {
        rejected += part.length; // a refused call accepted nothing: the producer would retry it
      }
    }
  };
  for (let at = 0; at < spec.loadSeconds * 1000; at += tickMs) world.time.at(t0 + at, () => void publishTick());
  for (const s of spec.redriveAt ?? []) world.time.at(t0 + s * 1000, () => void world.queue.redrive());

  const esm = world.startDelivering();
  world.startSweeping();
  // Parked deliveries and open circuits, sampled every 10 s of virtual time (read outside DynamoDB's accounting).
  let parkedPeak = 0;
  let openCircuitsPeak = 0;
  const sample = () => {
    parkedPeak = Math.max(parkedPeak, world.deliveries.parkedTotal);
    let open = 0;
    for (const p of world.subscriptions.byTenant.values()) for (const sub of p.values()) if (sub.circuit !== undefined) open++;
    openCircuitsPeak = Math.max(openCircuitsPeak, open);
  };
  for (let at = 0; at <= spec.runSeconds * 1000; at += 10_000) world.time.at(t0 + at, sample);
  // Run in slices so the process stays responsive and memory is reclaimed between them.
  const end = t0 + spec.runSeconds * 1000;
  for (let t = t0; t < end; ) {
    t = Math.min(end, t + 600_000);
    await world.time.runUntil(t);
  }
  world.stopDelivering();
  let idleWakes = 0;
  for (const p of world.subscriptions.byTenant.values()) {
    for (const sub of p.values()) {
      const stale = sub.wakeAt !== undefined && Date.parse(sub.wakeAt) < world.time.now() - 2 * world.policy.sweepSeconds * 1000;
      if (sub.wake && stale && world.deliveries.parkedOf(sub.tenantId, sub.id) === 0) idleWakes++;
    }
  }

  // The loss accounting: every delivery of every accepted event is delivered, failed, skipped, or still retrying on the queue.
  const inQueue = new Set(
    [...world.mainQueue.heldBodies(), ...(world.slowQueue?.heldBodies() ?? [])].map((b) => (JSON.parse(b) as DeliveryMessage).deliveryId),
  );
  const inDlq = new Set(world.dlqQueue.heldBodies().map((b) => (JSON.parse(b) as DeliveryMessage).deliveryId));
  const accounting = { delivered: 0, failedInDlq: 0, failedOther: 0, skipped: 0, retrying: 0, parked: 0, missing: 0 };
  let parkedOfWatched = 0;
  const latencies: number[] = [];
  let deliveredInLoad = 0;
  let deliveries = 0;
  for (const event of world.events.events.values()) {
    const publishedAt = accepted.get(event.id);
    if (publishedAt === undefined) continue;
    for (const d of event.deliveries) {
      deliveries++;
      const target = urls.get(d.webhookId)!;
      const receivedAt = world.sender.receipts.get(target.url)?.delivered.get(event.id);
      if (receivedAt !== undefined) {
        accounting.delivered++;
        if (receivedAt - t0 <= spec.loadSeconds * 1000) deliveredInLoad++;
        if (target.healthy) latencies.push(receivedAt - publishedAt);
        continue;
      }
      const status = world.deliveries.peekStatus(event.tenantId, d.webhookId, d.deliveryId);
      if (status === "skipped") accounting.skipped++;
      else if (inDlq.has(d.deliveryId)) accounting.failedInDlq++;
      else if (status === "failed") accounting.failedOther++;
      else if (world.deliveries.peekParked(event.tenantId, d.webhookId, d.deliveryId)) {
        accounting.parked++;
        if (posts.has(d.webhookId)) parkedOfWatched++;
      } else if (inQueue.has(d.deliveryId)) accounting.retrying++;
      else accounting.missing++;
    }
  }
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : NaN);

  const L = world.ledger;
  const delivered = Math.max(1, accounting.delivered);
  const sqsRequests = L.total("SQS.");
  const dynamoRequests = L.total("DynamoDB.") - (L.requests.get("DynamoDB.WCU") ?? 0) - (L.requests.get("DynamoDB.RCU") ?? 0);
  const lanes = world.slowEsm ? [esm, world.slowEsm] : [esm];
  const invocations = lanes.reduce((n, l) => n + l.invocations, 0);
  const gbSeconds = (lanes.reduce((n, l) => n + l.durationMs, 0) / 1000) * (256 / 1024);
  const cost =
    sqsRequests * PRICES.sqs.perRequest +
    (L.requests.get("DynamoDB.WCU") ?? 0) * PRICES.dynamodb.perWriteUnit +
    (L.requests.get("DynamoDB.RCU") ?? 0) * PRICES.dynamodb.perReadUnit +
    invocations * PRICES.lambda.perRequest +
    gbSeconds * PRICES.lambda.perGbSecond;

  return {
    key: spec.key,
    title: spec.title,
    scale: spec.scale,
    tenants,
    rejectedEvents: rejected,
    webhooks: urls.size,
    eventsPerSecond: eventsPerSecond + (spec.hotTenant?.eventsPerSecond ?? 0),
    loadSeconds: spec.loadSeconds,
    runSeconds: spec.runSeconds,
    inFlightScale: spec.inFlightScale ?? spec.scale,
    accepted: { events: accepted.size, deliveries },
    accounting,
    deliveriesPerSecond: deliveredInLoad / spec.loadSeconds,
    healthyLatency: { p50: pct(50), p99: pct(99), count: latencies.length },
    inFlightPeak: world.mainQueue.peakInFlight,
    unhealthyInFlightPeak: world.mainQueue.peakInFlightWatched,
    inFlightLimit,
    parkedPeak,
    openCircuitsPeak,
    idleWakes,
    sweeps: {
      probes: world.swept.probes,
      released: world.swept.released,
      expired: world.swept.expired,
      longestSeconds: world.swept.longestMs / 1000,
      overruns: world.swept.overruns,
    },
    pacing: spec.pacingFrom === undefined ? undefined : pacing(posts, pacingFromMs, parkedOfWatched),
    largestItemBytes: world.dynamo.largestItem,
    hottestPartitionWcu: world.dynamo.hottestWcuPerSecond,
    hottestPartitionTable: world.dynamo.hottestPartition.split(" ")[0],
    hottestByTable: Object.fromEntries(world.dynamo.hottestByTable),
    concurrencyPeak: esm.peakConcurrency,
    concurrencyLimit: concurrency,
    slowLane: world.slowEsm && {
      concurrencyPeak: world.slowEsm.peakConcurrency,
      concurrencyLimit: world.slowEsm.options.maxConcurrency,
      inFlightPeak: world.slowQueue!.peakInFlight,
    },
    requestsPerDelivery: { sqs: sqsRequests / delivered, dynamodb: dynamoRequests / delivered, lambda: invocations / delivered },
    costPerMillion: (cost / delivered) * 1e6,
    violations: [...L.violations],
    throttles: Object.fromEntries(L.throttles),
    metrics: Object.fromEntries(
      [...world.metrics.counts].filter(([k]) =>
        /Bookkeeping|Backoffs|Visibility|Dlq|Skipped|Failed|AutoDisables|CircuitsOpened|CircuitsClosed|DeliveriesParked|DeliveriesReleased|ForwardedToSlowLane/.test(
          k,
        ),
      ),
    ),
    attempts: world.metrics.get("Attempts"),
    wallSeconds: (performance.now() - started) / 1000 + 0,
  };
}

/** The most of `times` (sorted ms) in any window of `ms`. */
function maxInWindow(times: readonly number[], ms: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[i] - times[j] >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

function pacing(posts: Map<string, { all: number[]; released: number[] }>, fromMs: number, parkedAtEnd: number): Pacing {
  const p: Pacing = {
    webhooks: posts.size,
    released: 0,
    maxReleasedPerSecond: 0,
    maxReleasedPerCalendarSecond: 0,
    maxReleasedPer10s: 0,
    maxPostsPerSecond: 0,
    drainSeconds: 0,
    firstReleaseSeconds: Number.POSITIVE_INFINITY,
    parkedAtEnd,
  };
  for (const { all, released } of posts.values()) {
    all.sort((a, b) => a - b);
    released.sort((a, b) => a - b);
    p.released += released.length;
    p.maxReleasedPerSecond = Math.max(p.maxReleasedPerSecond, maxInWindow(released, 1_000));
    const perSecond = new Map<number, number>();
    for (const t of released) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    p.maxReleasedPerCalendarSecond = Math.max(p.maxReleasedPerCalendarSecond, ...perSecond.values(), 0);
    p.maxReleasedPer10s = Math.max(p.maxReleasedPer10s, maxInWindow(released, 10_000) / 10);
    p.maxPostsPerSecond = Math.max(p.maxPostsPerSecond, maxInWindow(all, 1_000));
    if (released.length) {
      p.drainSeconds = Math.max(p.drainSeconds, (released[released.length - 1] - fromMs) / 1000);
      p.firstReleaseSeconds = Math.min(p.firstReleaseSeconds, (released[0] - fromMs) / 1000);
    }
  }
  return p;
}

async function addWebhook(
  world: World,
  tenantId: string,
  type: string,
  url: string,
  endpoint: Endpoint,
  isHealthy: boolean,
  urls: Map<string, { url: string; healthy: boolean }>,
) {
  const now = new Date(world.time.now()).toISOString();
  const sub: Subscription = {
    tenantId,
    id: newWebhookId(world.time.now()),
    url,
    eventTypes: [type],
    enabled: true,
    secrets: [{ value: "whsec_" + Buffer.alloc(24, urls.size % 251).toString("base64"), createdAt: now }],
    createdAt: now,
    updatedAt: now,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  world.sender.endpoints.set(url, endpoint);
  urls.set(sub.id, { url, healthy: isHealthy });
}

export { dead, healthy };
