import { SQSClient } from "@aws-sdk/client-sqs";
import { Webhook } from "standardwebhooks";
import type { CoreMetrics } from "#core/ports.ts";
import { HEALTH, METRICS } from "#core/settings.ts";
import { createDeliveryService } from "../../lambdas/deliver/services.ts";
import type { RuntimeConfig } from "../../lambdas/shared/config.ts";
import { createDeliverHandler } from "../../lambdas/deliver/app.ts";
import { consoleLogger } from "../../local/console-logger.ts";
import { LOCAL_REGION } from "../../local/emulators.ts";
import { LocalEventSource } from "../../local/event-source.ts";
import { TestReceiver, type Behaviour, type Received } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";
// Counts a worker's and its sweep's metrics (CircuitsOpened: one per successful conditional open).
import { CountingMetrics } from "../../sim/world.ts";

/**
 * Endpoint health (issue 10, docs/delivery-semantics.md) on the local stack: the deliver worker and the release sweep
 * (every second, beside the worker) against fauxqs + dynalite through the AWS SDK, and real HTTP
 * endpoints on 127.0.0.1. Latency is publish (its POST /events starting) → the receiver holding the
 * request; p99 is nearest-rank, so with fewer than 100 samples it is the slowest one.
 *
 * What the numbers mean locally: everything (API, worker, sweep, both emulators, receivers) runs in
 * this one Node process on a shared machine, and the local queue is one FIFO-ish queue (fauxqs ignores
 * MessageGroupId). A burst of hundreds of messages for any webhook therefore delays the others' by the
 * time the worker takes to get through it, dead endpoint or not. So the dead-endpoint test bounds a
 * healthy event published during the burst by the burst's time on the queue plus its usual latency,
 * and the slow-endpoint test measures once the burst is off the queue; both report the burst's figures.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}
const p99 = (xs: readonly number[]) => percentile(xs, 99);
const summary = (xs: readonly number[]) => `n=${xs.length} p50=${percentile(xs, 50)} p99=${p99(xs)} ms`;

/**
 * Polls `fn` until it answers something truthy. The deadlines below are generous on purpose: beside
 * another CPU-heavy process this 2-core machine runs everything here 5–10× slower (a healthy webhook's
 * idle p50 of 1 s instead of 100 ms was seen), and a wait's deadline only decides how soon a broken
 * run fails. What is asserted about time (latency, pacing) is relative to figures of the same run.
 */
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** Findings printed at the end (timings, duplicates): the issue asks for them to be reported. */
const findings: string[] = [];
const note = (line: string) => findings.push(line);
afterAll(() => {
  if (findings.length) process.stdout.write(`\nendpoint health on the local stack:\n  ${findings.join("\n  ")}\n`);
});

const receivers: TestReceiver[] = [];
async function receiver(behaviour?: (index: number, req: Received) => Behaviour): Promise<TestReceiver> {
  const r = await new TestReceiver(behaviour).start();
  receivers.push(r);
  return r;
}
afterAll(() => Promise.all(receivers.map((r) => r.stop())));

/** An endpoint that is down (connections to its URL are refused) until its `restart()`. */
async function downEndpoint(): Promise<TestReceiver> {
  const r = new TestReceiver();
  receivers.push(r);
  await r.startRestartable();
  await r.stop();
  return r;
}

const webhookId = (r: Received) => String(r.headers["webhook-id"]);

/** The first arrival of each webhook-id, and how many requests came beyond one per id. */
function arrivals(r: TestReceiver): { first: Map<string, number>; duplicates: number } {
  const first = new Map<string, number>();
  for (const q of r.requests) if (!first.has(webhookId(q))) first.set(webhookId(q), q.at);
  return { first, duplicates: r.requests.length - first.size };
}

/** Verifies a request's signature with the independent `standardwebhooks` library; answers the payload. */
function verify(secret: string, r: Received): any {
  return new Webhook(secret).verify(r.body, {
    "webhook-id": webhookId(r),
    "webhook-timestamp": String(r.headers["webhook-timestamp"]),
    "webhook-signature": String(r.headers["webhook-signature"]),
  });
}

/** Every message of the delivery queue (GET /admin/queues): visible, in flight and delayed. */
async function queued(stack: TestStack): Promise<number> {
  const res = await stack.api("GET", "/admin/queues");
  expect(res.status).toBe(200);
  const { visible, inFlight, delayed } = res.body.delivery;
  return visible + inFlight + delayed;
}

async function health(
  stack: TestStack,
  tenant: string,
  id: string,
): Promise<{ state: string; consecutiveFailures: number; openedAt?: string; nextProbeAt?: string; parked: number }> {
  const res = await stack.api("GET", `/tenants/${tenant}/webhooks/${id}`);
  expect(res.status).toBe(200);
  return res.body.health;
}

/** The webhook's whole delivery log, page by page (limit=100). */
async function deliveryLog(stack: TestStack, tenant: string, id: string): Promise<any[]> {
  const all: any[] = [];
  let cursor: string | null = null;
  do {
    const res: { status: number; body: any } = await stack.api(
      "GET",
      `/tenants/${tenant}/webhooks/${id}/deliveries?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
    expect(res.status).toBe(200);
    all.push(...res.body.items);
    cursor = res.body.cursor;
  } while (cursor);
  return all;
}

const tally = (items: readonly any[], key: (d: any) => string) =>
  items.reduce<Record<string, number>>((acc, d) => ((acc[key(d)] = (acc[key(d)] ?? 0) + 1), acc), {});

/** Waits until the webhook's log holds exactly `n` deliveries, every one `succeeded`. */
function allSucceeded(stack: TestStack, tenant: string, id: string, n: number, timeoutMs = 40_000): Promise<any[]> {
  return until(
    `${n} deliveries succeeded`,
    async () => {
      const items = await deliveryLog(stack, tenant, id);
      return items.length === n && items.every((d) => d.status === "succeeded") ? items : undefined;
    },
    timeoutMs,
    250,
  );
}

/** A valid `data` for each event type used here. */
const dataFor = (type: string, n: number): Record<string, unknown> => (type === "sync.completed" ? { syncId: `syn_${n}` } : { recordId: `rec_${n}` });
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `evt_${prefix}_${i}`);

/** Publishes events with the given ids, 100 per request (the API's most). */
async function publish(stack: TestStack, tenant: string, type: string, eventIds: readonly string[]): Promise<void> {
  for (let i = 0; i < eventIds.length; i += 100) {
    const events = eventIds.slice(i, i + 100).map((id, j) => ({ id, type, tenantId: tenant, data: dataFor(type, i + j) }));
    const res = await stack.api("POST", "/events", { events });
    expect(res.status).toBe(202);
  }
}

/** Single events published to one webhook's type, and each one's latency: from its POST starting to receiver `r` getting it. */
class LatencySeries {
  readonly sentAt = new Map<string, number>();
  constructor(
    private readonly stack: TestStack,
    private readonly o: { tenant: string; type: string; r: TestReceiver },
  ) {}

  async send(id: string): Promise<void> {
    this.sentAt.set(id, Date.now());
    const res = await this.stack.api("POST", "/events", { id, type: this.o.type, tenantId: this.o.tenant, data: dataFor(this.o.type, this.sentAt.size) });
    expect(res.status).toBe(202);
  }

  /** Waits for every event sent to arrive; answers when each was sent and its latency. */
  async results(): Promise<{ sentAt: number; ms: number }[]> {
    await until(`all ${this.sentAt.size} received`, async () => [...this.sentAt.keys()].every((id) => arrivals(this.o.r).first.has(id)), 60_000, 50);
    const { first } = arrivals(this.o.r);
    return [...this.sentAt].map(([id, at]) => ({ sentAt: at, ms: first.get(id)! - at }));
  }
}

/**
 * Publishes `n` single events one after another, `spacingMs` apart (calling `beside` before each, to
 * publish something else at the same pace), and answers each one's latency at receiver `r`.
 */
async function latencies(
  stack: TestStack,
  o: { tenant: string; type: string; r: TestReceiver; prefix: string; n: number; spacingMs: number; beside?: (i: number) => Promise<void> },
): Promise<number[]> {
  const series = new LatencySeries(stack, o);
  for (const [i, id] of ids(o.prefix, o.n).entries()) {
    await o.beside?.(i);
    await series.send(id);
    await sleep(o.spacingMs);
  }
  return (await series.results()).map((x) => x.ms);
}

/**
 * The worst p99 a healthy webhook may show at "its usual latency": 2× its idle p99, or this absolute
 * bound if larger. Idle p99 here is 50–300 ms (30 samples: p99 is the slowest) and swings with what
 * else runs on this shared 2-core machine; a GC pause or a neighbour's burst of CPU alone can double it,
 * and with a CPU-heavy process beside the suite (load average 12 on the 2 cores) a p99 of 1.13 s was
 * seen. What it guards against, a fast webhook waiting on a slow or dead one, costs seconds (the slow
 * endpoint here answers in 5 s; the issue saw 6–25 s), so the floor stays well below that.
 */
const NOISE_FLOOR_MS = 2_000;

/** Seven attempts over about two minutes. */
const LONG_SCHEDULE = "1s,2s,30s,30s,30s,30s";
const usual = (idle: readonly number[]) => Math.max(2 * p99(idle), NOISE_FLOOR_MS);

/**
 * A second deliver worker on the same queue, as a second deliver λ: its own DeliveryService (own
 * subscription cache, own coalescing of health writes), no sweep of its own (on AWS the release λ runs
 * one sweep at a time).
 */
function deliverOnlyWorker(config: RuntimeConfig, metrics: CoreMetrics): LocalEventSource {
  const logger = consoleLogger("silent");
  const service = createDeliveryService(config, { logger, metrics, subscriptionCacheMs: 0, recoveryDelaySeconds: 1 });
  const source = new LocalEventSource(new SQSClient(config.sqs!), createDeliverHandler(service), {
    queueUrl: config.queue.queueUrl,
    queueArn: config.queue.queueArn,
    batchSize: 10,
    concurrency: 4,
    waitSeconds: 1,
    region: LOCAL_REGION,
  });
  source.start();
  return source;
}

/** CountingMetrics that also counts the release sweeps that have ended (each reports ParkedDeliveries once, at its end). */
class SweepCountingMetrics extends CountingMetrics {
  sweeps = 0;
  override count(name: string, value = 1): void {
    super.count(name, value);
    if (name === METRICS.parkedDeliveries) this.sweeps++;
  }
}

describe("dead endpoints, pause, rate limit (one stack: 4 pollers, probes every 2 s)", () => {
  let stack: TestStack;
  const metrics = new SweepCountingMetrics();

  beforeAll(async () => {
    // Seven attempts over two minutes: the retry window outlasts every outage here, and the probes
    // (real attempts of the oldest parked delivery: 2, 4, 8 s apart) do not exhaust its attempts.
    stack = await startTestStack({ workerConcurrency: 4, schedule: LONG_SCHEDULE, metrics, health: { probeIntervalSeconds: 2 } });
  });
  afterAll(() => stack?.stop());

  test("an endpoint refusing connections gets 300 events: its circuit opens within seconds, the queue keeps fewer than 20 of its messages, a healthy webhook keeps its latency; back up, all 300 (and 30 sent later) arrive signed and the log shows them succeeded", async () => {
    const tenant = "acct_dead";
    const healthy = await receiver();
    await stack.createWebhook(tenant, healthy.url, ["record.updated"]);
    const dead = await downEndpoint();
    const hook = await stack.createWebhook(tenant, dead.url, ["record.created"]);
    const beside = { tenant, type: "record.updated", r: healthy, spacingMs: 50 };

    await latencies(stack, { ...beside, prefix: "warm", n: 3 });
    const idle = await latencies(stack, { ...beside, prefix: "idle", n: 30 });
    note(`dead endpoint: healthy webhook idle ${summary(idle)}`);

    // 300 events for the dead endpoint and, at the same time, 30 for the healthy one.
    const opened = metrics.get(METRICS.circuitsOpened);
    const started = Date.now();
    const openAt = until("circuit open", async () => ((await health(stack, tenant, hook.id)).state === "open" ? Date.now() : undefined), 45_000, 50);
    const burst = (async () => {
      await publish(stack, tenant, "record.created", ids("dead", 300));
      return until("fewer than 20 messages on the queue", async () => ((await queued(stack)) < 20 ? Date.now() : undefined), 60_000, 50);
    })();
    const series = new LatencySeries(stack, beside);
    for (const id of ids("during", 30)) {
      await series.send(id);
      await sleep(beside.spacingMs);
    }
    const [open, drained, sent] = await Promise.all([openAt, burst, series.results()]);
    const during = sent.map((x) => x.ms);
    note(`dead endpoint: circuit open ${open - started} ms after the first publish; queue < 20 messages after ${drained - started} ms`);
    note(
      `dead endpoint: healthy webhook during the 300-event burst ${summary(during)}, at most ${Math.max(...sent.map((x) => x.ms - Math.max(0, drained - x.sentAt)))} ms beyond the burst's time on the queue`,
    );
    // Every healthy event arrived (results waited for each). Locally the burst is 300 messages ahead of
    // them in the one queue, so "its usual latency" here is: no longer than the burst takes to leave
    // the queue, plus its usual latency (a dead endpoint's messages held in flight would never leave).
    for (const x of sent) expect(x.ms).toBeLessThanOrEqual(Math.max(0, drained - x.sentAt) + usual(idle));

    // From now on the dead endpoint keeps getting events (one per healthy event): parked at once,
    // they neither stay on the queue nor hold the healthy webhook up.
    const depths: number[] = [];
    const after = await latencies(stack, {
      ...beside,
      prefix: "after",
      n: 30,
      beside: async (i) => {
        await publish(stack, tenant, "record.created", [`evt_dead_${300 + i}`]);
        if (i % 4 === 0) depths.push(await queued(stack));
      },
    });
    note(
      `dead endpoint: healthy webhook once the circuit is open, beside 30 more dead-endpoint events ${summary(after)} (bound ${usual(idle)} ms); queue depths ${depths.join(",")}`,
    );
    expect(p99(after)).toBeLessThanOrEqual(usual(idle));
    expect(Math.max(...depths)).toBeLessThan(20);

    const h = await health(stack, tenant, hook.id);
    expect(["open", "half-open"]).toContain(h.state);
    expect(h.consecutiveFailures).toBeGreaterThanOrEqual(HEALTH.breakerThreshold);
    const held = await deliveryLog(stack, tenant, hook.id);
    expect(held).toHaveLength(330);
    expect(held.every((d) => d.status === "pending")).toBe(true);
    note(`dead endpoint: before recovery ${JSON.stringify(tally(held, (d) => `${d.status}${d.parked ? "/parked" : ""}`))}, health ${JSON.stringify(h)}`);
    expect(held.filter((d) => d.parked).length).toBeGreaterThanOrEqual(330 - 20);
    expect(metrics.get(METRICS.circuitsOpened) - opened).toBe(1);

    // The endpoint comes back at the same URL: the next probe closes the circuit, the rest are released.
    const revived = Date.now();
    const back = await dead.restart();
    await until("all 330 arrived", async () => arrivals(back).first.size >= 330, 90_000);
    const { first, duplicates } = arrivals(back);
    note(`dead endpoint: all 330 arrived ${Date.now() - revived} ms after it came back; duplicates: ${duplicates}`);
    expect([...first.keys()].sort()).toEqual(ids("dead", 330).sort());
    expect(duplicates).toBeLessThanOrEqual(5);
    for (const q of back.requests) expect(verify(hook.secret, q)).toMatchObject({ id: webhookId(q), type: "record.created" });
    await allSucceeded(stack, tenant, hook.id, 330);
    expect(await health(stack, tenant, hook.id)).toMatchObject({ state: "closed", consecutiveFailures: 0 });
    expect(metrics.get(METRICS.circuitsOpened) - opened).toBe(1);
  }, 300_000);

  test("paused: deliveries are parked (pending, not attempted, not on the queue); resumed, every one arrives once", async () => {
    const tenant = "acct_pause";
    const r = await receiver();
    const hook = await stack.createWebhook(tenant, r.url, ["record.created"]);
    expect((await stack.api("PATCH", `/tenants/${tenant}/webhooks/${hook.id}`, { paused: true })).body).toMatchObject({ paused: true });
    await publish(stack, tenant, "record.created", ids("paused", 30));
    const held = await until(
      "30 parked deliveries",
      async () => {
        const items = await deliveryLog(stack, tenant, hook.id);
        return items.length === 30 && items.every((d) => d.status === "pending" && d.parked === true) ? items : undefined;
      },
      30_000,
      200,
    );
    expect(held.every((d) => d.attemptCount === 0)).toBe(true);
    await until("nothing on the queue", async () => (await queued(stack)) === 0, 20_000);
    // Three sweeps end from now on (the first may have begun before): paused, still nothing is sent.
    const sweeps = metrics.sweeps;
    await until("three more sweeps", async () => metrics.sweeps >= sweeps + 3, 30_000);
    expect(r.requests).toHaveLength(0);
    expect((await health(stack, tenant, hook.id)).parked).toBe(30);

    const resumed = Date.now();
    expect((await stack.api("PATCH", `/tenants/${tenant}/webhooks/${hook.id}`, { paused: false })).body).toMatchObject({ paused: false });
    await r.waitFor(30, 40_000);
    note(`pause: all 30 arrived ${Date.now() - resumed} ms after the resume`);
    const { first, duplicates } = arrivals(r);
    expect([...first.keys()].sort()).toEqual(ids("paused", 30).sort());
    expect(duplicates).toBe(0);
    for (const q of r.requests) verify(hook.secret, q);
    await allSucceeded(stack, tenant, hook.id, 30);
    await until("nothing counted parked", async () => (await health(stack, tenant, hook.id)).parked === 0, 20_000);
  }, 180_000);

  test("rateLimit 5/s: 50 events arrive over about 10 s, never more than 5 admitted in a second nor ahead of 5/s at the receiver, none lost, little in flight", async () => {
    const tenant = "acct_rate";
    const r = await receiver();
    const hook = await stack.createWebhook(tenant, r.url, ["record.created"]);
    expect((await stack.api("PATCH", `/tenants/${tenant}/webhooks/${hook.id}`, { rateLimit: 5 })).body).toMatchObject({ rateLimit: 5 });
    const published = Date.now();
    await publish(stack, tenant, "record.created", ids("rate", 50));
    // First the intake: the worker takes the 50 off the queue (5 attempted, the rest parked); from
    // then on the queue holds only what the sweep releases for the next second.
    const intake = await until("the 50 taken off the queue", async () => ((await queued(stack)) <= 10 ? Date.now() : undefined), 45_000, 100);
    const depths: number[] = [];
    await until(
      "50 arrived",
      async () => {
        depths.push(await queued(stack));
        return arrivals(r).first.size >= 50;
      },
      60_000,
      250,
    );
    const { first, duplicates } = arrivals(r);
    expect([...first.keys()].sort()).toEqual(ids("rate", 50).sort());
    expect(duplicates).toBe(0);
    const log = await allSucceeded(stack, tenant, hook.id, 50);
    // The limiter admits an attempt in the second of the worker's clock it takes a slot of; the
    // attempt's `at` is read in the same synchronous stretch: exact, at most 5 in any second.
    expect(log.every((d) => d.attemptCount === 1)).toBe(true);
    const admitted = log.map((d) => Date.parse(d.lastAttempt.at));
    const perSecond = Object.values(tally(admitted, (t) => String(Math.floor(t / 1000))));
    // At the receiver, arrival trails admission by however long this busy process takes to send
    // (hundreds of ms under load), so arrivals can bunch into one second; but they can never run
    // ahead of 5 a second counted from the first admission.
    const firstSecond = Math.floor(Math.min(...admitted) / 1000);
    const arrived = r.requests.map((q) => q.at).sort((a, b) => a - b);
    const ahead = arrived.filter((t, i) => i + 1 > 5 * (Math.floor(t / 1000) - firstSecond + 1));
    const span = Math.max(...admitted) - Math.min(...admitted);
    note(
      `rate limit: admitted over ${span} ms, per second ${perSecond.join(",")}; at the receiver per second ${Object.values(tally(arrived, (t) => String(Math.floor(t / 1000)))).join(",")}; intake ${intake - published} ms, queue depth after it: max ${Math.max(...depths)}`,
    );
    expect(Math.max(...perSecond)).toBeLessThanOrEqual(5);
    expect(ahead).toEqual([]);
    // 50 at 5 a second take 10 distinct seconds: first to last more than 8 s. Longer is this machine's
    // doing, not the limiter's (a sweep that runs late under load releases late: 16 s was seen beside a
    // CPU-heavy neighbour); a limiter admitting a fraction of its rate (1 a second: 50 s) is still caught.
    expect(span).toBeGreaterThan(8_000);
    expect(span).toBeLessThan(30_000);
    // The excess (45) waits parked, not in flight: the queue holds only the paced release of the next
    // second or two (5 a sweep; a sweep late under load can find the previous one's still there).
    expect(Math.max(...depths)).toBeLessThanOrEqual(15);
  }, 180_000);

  test("a race: concurrent publishes to a dead endpoint, worked by two deliver workers (two λs: own caches, own coalescing, 8 pollers): the circuit opens once; after recovery no event is lost or doubled", async () => {
    const tenant = "acct_race";
    const metrics2 = new CountingMetrics();
    const second = deliverOnlyWorker(stack.stack.config, metrics2);
    try {
      const dead = await downEndpoint();
      const hook = await stack.createWebhook(tenant, dead.url, ["record.created"]);
      const opened = metrics.get(METRICS.circuitsOpened);
      // 60 publishes at once, each a POST of its own.
      await Promise.all(ids("race", 60).map((id) => publish(stack, tenant, "record.created", [id])));
      await until("circuit open", async () => (await health(stack, tenant, hook.id)).state === "open", 45_000, 50);
      await until("the queue holds none of them", async () => (await queued(stack)) === 0, 45_000);
      const h = await health(stack, tenant, hook.id);
      const attempts = (await deliveryLog(stack, tenant, hook.id)).reduce((n, d) => n + d.attemptCount, 0);
      note(
        `race: health ${JSON.stringify(h)}; failed attempts ${attempts}; circuits opened by worker 1: ${metrics.get(METRICS.circuitsOpened) - opened}, by worker 2: ${metrics2.get(METRICS.circuitsOpened)}`,
      );
      expect(h.consecutiveFailures).toBeGreaterThanOrEqual(HEALTH.breakerThreshold);
      expect(metrics.get(METRICS.circuitsOpened) - opened + metrics2.get(METRICS.circuitsOpened)).toBe(1);

      const back = await dead.restart();
      await until("all 60 arrived", async () => arrivals(back).first.size >= 60, 60_000);
      await allSucceeded(stack, tenant, hook.id, 60);
      // Nowhere a copy could still come from: no message on the queue (visible, in flight or delayed,
      // recovery copies included) and none parked.
      await until("nothing queued or parked", async () => (await queued(stack)) === 0 && (await health(stack, tenant, hook.id)).parked === 0, 45_000);
      const { first, duplicates } = arrivals(back);
      note(`race: duplicates after recovery: ${duplicates}`);
      expect([...first.keys()].sort()).toEqual(ids("race", 60).sort());
      expect(duplicates).toBe(0);
      for (const q of back.requests) verify(hook.secret, q);
      expect(metrics.get(METRICS.circuitsOpened) - opened + metrics2.get(METRICS.circuitsOpened)).toBe(1);
    } finally {
      await second.stop();
    }
  }, 240_000);
});

describe("a slow endpoint does not starve a fast one", () => {
  let stack: TestStack;

  beforeAll(async () => {
    // Once marked slow, the webhook's deliveries go to the slow lane (its own queue and pollers), where
    // it holds at most HEALTH.slowInProgress requests at once; the main lane's 4 pollers stay free.
    // The retry window (two minutes) outlasts the test: a delivery parked "busy" keeps its window.
    stack = await startTestStack({ workerConcurrency: 4, schedule: LONG_SCHEDULE });
  });
  afterAll(() => stack?.stop());

  test("while a 5 s endpoint works through a 200-event backlog, a fast webhook's p99 stays within 2× of its idle figure (or 1 s), and the slow one never has more than HEALTH.slowInProgress requests in progress", async () => {
    const tenant = "acct_slow";
    const fast = await receiver();
    await stack.createWebhook(tenant, fast.url, ["record.updated"]);
    let active = 0;
    let peak = 0;
    let counting = false;
    const slow = await receiver(() => {
      active++;
      if (counting) peak = Math.max(peak, active);
      return { kind: "await", until: sleep(5_000).then(() => active--) };
    });
    const hook = await stack.createWebhook(tenant, slow.url, ["record.created"]);
    const beside = { tenant, type: "record.updated", r: fast };

    await latencies(stack, { ...beside, prefix: "warm", n: 3, spacingMs: 100 });
    const idle = await latencies(stack, { ...beside, prefix: "idle", n: 30, spacingMs: 50 });
    note(`slow endpoint: fast webhook idle ${summary(idle)}`);

    // Two events find the webhook not yet known to be slow (both admitted); their 5 s attempts mark it slow.
    await publish(stack, tenant, "record.created", ids("warm_slow", 2));
    await allSucceeded(stack, tenant, hook.id, 2, 40_000);
    counting = true;

    // The 200-event backlog, and fast events every 100 ms from the same moment. The burst is taken off
    // the main queue first (forwarded to the slow lane): the fast events published until then wait
    // behind it in the one local queue (reported); those published after it, while the backlog is
    // worked through, are the ones measured.
    const started = Date.now();
    let parkedAt: number | undefined;
    let failure: unknown;
    const burst = (async () => {
      await publish(stack, tenant, "record.created", ids("slow", 200));
      parkedAt = await until("the backlog parked", async () => ((await queued(stack)) < 10 ? Date.now() : undefined), 60_000, 50);
    })().catch((err: unknown) => (failure = err));
    const series = new LatencySeries(stack, beside);
    const measured = () => [...series.sentAt.values()].filter((t) => parkedAt !== undefined && t > parkedAt).length;
    for (let i = 0; measured() < 30 && failure === undefined; i++) {
      await series.send(`evt_fast_${i}`);
      await sleep(100);
    }
    await burst;
    if (failure) throw failure;
    const results = await series.results();
    const behind = results.filter((x) => x.sentAt <= parkedAt!).map((x) => x.ms);
    const during = results.filter((x) => x.sentAt > parkedAt!).map((x) => x.ms);
    note(`slow endpoint: 200-event backlog parked ${parkedAt! - started} ms after its publish began; fast webhook meanwhile ${summary(behind)}`);
    note(
      `slow endpoint: fast webhook while the backlog is worked through ${summary(during)} (bound ${usual(idle)} ms); slow requests meanwhile ${slow.requests.length - 2}`,
    );
    expect(p99(during)).toBeLessThanOrEqual(usual(idle));
    // It is being worked through by the slow lane (each of its batches lasts its 5 s attempts): at
    // least slowInProgress more requests, and never more than slowInProgress at once.
    await until("the slow lane at work", async () => (slow.requests.length - 2 >= HEALTH.slowInProgress ? true : undefined), 60_000, 200);
    note(`slow endpoint: ${slow.requests.length - 2} slow requests served, at most ${peak} at once`);
    expect(peak).toBeLessThanOrEqual(HEALTH.slowInProgress);
    const log = await deliveryLog(stack, tenant, hook.id);
    // Those still waiting on the slow lane's queue (or in a batch not yet finished) have no record yet, as any delivery not yet attempted.
    expect(log.length).toBeGreaterThanOrEqual(2);
    expect(log.length).toBeLessThanOrEqual(202);
    note(`slow endpoint: its log ${JSON.stringify(tally(log, (d) => `${d.status}${d.parked ? "/parked" : ""}`))}`);
    expect(log.every((d) => d.status === "succeeded" || d.status === "pending")).toBe(true);
  }, 240_000);
});

describe("a parked delivery's retry window runs out", () => {
  let stack: TestStack;

  beforeAll(async () => {
    // A 4 s retry window, shorter than the first probe interval (6 s): it ends while parked.
    stack = await startTestStack({ schedule: "2s,2s", health: { breakerThreshold: 1, probeIntervalSeconds: 6 } });
  });
  afterAll(() => stack?.stop());

  test("it is failed and in the DLQ; a redrive delivers it once the endpoint is healthy", async () => {
    const tenant = "acct_expiry";
    const dead = await downEndpoint();
    const hook = await stack.createWebhook(tenant, dead.url, ["record.created"]);
    await publish(stack, tenant, "record.created", ids("expiry", 3));
    const failed = await until(
      "3 failed deliveries",
      async () => {
        const items = await deliveryLog(stack, tenant, hook.id);
        return items.length === 3 && items.every((d) => d.status === "failed") ? items : undefined;
      },
      30_000,
      200,
    );
    expect(failed.map((d) => d.reason)).toEqual(Array(3).fill("retry window ended while parked"));
    expect((await stack.api("GET", "/admin/dlq")).body).toEqual({ visible: 3, inFlight: 0 });
    expect((await health(stack, tenant, hook.id)).state).toBe("open");

    const back = await dead.restart();
    expect(await stack.api("POST", "/admin/redrive")).toEqual({ status: 202, body: { moved: 3 } });
    // Redriven while the circuit is still open, they are parked again and go out with the next probe.
    await until("all 3 arrived", async () => arrivals(back).first.size >= 3, 40_000);
    const items = await allSucceeded(stack, tenant, hook.id, 3);
    expect(items.map((d) => d.id).sort()).toEqual(failed.map((d) => d.id).sort());
    expect(arrivals(back).duplicates).toBe(0);
    for (const q of back.requests) verify(hook.secret, q);
    expect((await stack.api("GET", "/admin/dlq")).body).toEqual({ visible: 0, inFlight: 0 });
    expect((await health(stack, tenant, hook.id)).state).toBe("closed");
  }, 120_000);
});
