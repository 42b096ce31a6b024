import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoEventStore, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { IngestService } from "#core/ingest.ts";
import type { DeliveryMessage } from "#core/model.ts";
import type { DeliveryQueue } from "#core/ports.ts";
import { noMetrics, systemClock } from "#core/ports.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Crashes: the deliver worker SIGKILLed mid-batch and restarted, and ingest dying between storing an
 * event and enqueueing its fan-out. Nothing may be lost; duplicates only where the crash forced them.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe("the deliver worker killed mid-batch", () => {
  let stack: TestStack;
  let stateDir: string;
  let receiver: TestReceiver;

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "rk-crash-"));
    // The worker runs in its own process; in-flight messages come back 3 s after the kill.
    stack = await startTestStack({ stateDir, worker: false, visibilityTimeoutSeconds: 3 });
    receiver = await new TestReceiver().start();
  });

  afterAll(async () => {
    await stack.stop();
    await receiver.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  function startWorkerProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", "local/worker-main.ts", stateDir], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: "", WEBHOOKS_LOG_LEVEL: "silent", WEBHOOKS_WORKER_CONCURRENCY: "2", WEBHOOKS_WORKER_WAIT_SECONDS: "1" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve, reject) => {
      child.stdout!.on("data", (d) => String(d).includes("deliver worker attached") && resolve(child));
      child.on("exit", (code) => reject(new Error(`worker exited early with ${code}`)));
    });
  }

  test("every delivery arrives; the only duplicates are attempts the kill left unrecorded, and they are counted", async () => {
    const tenant = "acct_kill";
    const hook = await stack.createWebhook(tenant, receiver.url, ["record.created"]);
    const events = Array.from({ length: 40 }, (_, i) => ({ id: `evt_kill_${i}`, type: "record.created", tenantId: tenant, data: { recordId: `rec_${i}` } }));
    expect((await stack.api("POST", "/events", { events })).status).toBe(202);

    // The first 8 requests are answered; the later ones are held open until the worker is dead. So the
    // kill always lands mid-batch (each of the worker's pollers ends up waiting on a held request), and
    // however slow this machine is to react, the worker cannot have got through all 40 before it.
    let dead!: () => void;
    const killed = new Promise<void>((r) => (dead = r));
    receiver.respondWith((i) => (i < 8 ? { kind: "delay", ms: 150 } : { kind: "await", until: killed }));
    const first = await startWorkerProcess();
    await receiver.waitFor(8);
    first.once("exit", () => dead());
    first.kill("SIGKILL");
    await killed;

    // What the kill left behind: requests the endpoint saw, and the attempts the log recorded.
    const seenBeforeKill = new Set(receiver.requests.map((r) => String(r.headers["webhook-id"])));
    const loggedBeforeKill = await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}/deliveries?limit=100`);
    const recorded = new Set(loggedBeforeKill.body.items.map((d: { eventId: string }) => d.eventId));
    const forced = [...seenBeforeKill].filter((id) => !recorded.has(id));
    expect(seenBeforeKill.size).toBeGreaterThanOrEqual(8);
    expect(seenBeforeKill.size).toBeLessThan(40);

    const second = await startWorkerProcess();
    await stack.waitForDeliveries(tenant, hook.id, (items) => items.length === 40 && items.every((d) => d.status === "succeeded"), 40_000);
    // Ended before the state dir is removed (afterAll): a worker still exiting would race the removal.
    const ended = new Promise((r) => second.once("exit", r));
    second.kill("SIGTERM");
    await ended;

    const perEvent = new Map<string, number>();
    for (const r of receiver.requests) perEvent.set(String(r.headers["webhook-id"]), (perEvent.get(String(r.headers["webhook-id"])) ?? 0) + 1);
    expect([...perEvent.keys()].sort()).toEqual(events.map((e) => e.id).sort());
    for (const e of events) expect([e.id, perEvent.get(e.id)]).toEqual([e.id, forced.includes(e.id) ? 2 : 1]);
    expect(receiver.requests).toHaveLength(40 + forced.length);
  });
});

describe("ingest dying between storing an event and enqueueing it", () => {
  let stack: TestStack;
  const receivers: TestReceiver[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
  });

  afterAll(async () => {
    await stack.stop();
    await Promise.all(receivers.map((r) => r.stop()));
  });

  /** The ingest core on the stack's real tables and queue, with a queue that "dies" after `sendsBeforeCrash` batches. */
  function crashingIngest(sendsBeforeCrash: number): IngestService {
    const { config } = stack.stack;
    const db = documentClient(config.dynamodb);
    const real = new SqsDeliveryQueue(new SQSClient(config.sqs!), config.queue);
    let sends = 0;
    const queue: DeliveryQueue = {
      send: async (messages: readonly DeliveryMessage[]) => {
        // The real queue takes what fits before the crash, 10 messages per batch, then the process is gone.
        const survive = Math.max(0, (sendsBeforeCrash - sends) * 10);
        sends += Math.ceil(messages.length / 10);
        if (survive > 0) await real.send(messages.slice(0, survive));
        if (messages.length > survive) throw new Error("ingest process died before enqueueing the fan-out");
      },
      sendDelayed: real.sendDelayed.bind(real),
      depths: real.depths.bind(real),
      changeVisibility: real.changeVisibility.bind(real),
      deadLetter: real.deadLetter.bind(real),
      dlqDepth: real.dlqDepth.bind(real),
      redrive: real.redrive.bind(real),
    };
    return new IngestService({
      subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
      events: new DynamoEventStore(db, config.tables.events),
      queue,
      clock: systemClock,
      logger: silent,
      metrics: noMetrics,
      subscriptionCacheMs: 0,
    });
  }

  test("stored but nothing enqueued: the producer's retry of the same id completes the fan-out, once", async () => {
    const tenant = "acct_ingest_crash";
    const r = await new TestReceiver().start();
    receivers.push(r);
    const hook = await stack.createWebhook(tenant, r.url, ["record.created"]);
    const event = { id: "evt_crash_1", type: "record.created", tenantId: tenant, data: { recordId: "rec_1" } };

    await expect(crashingIngest(0).publish(event)).rejects.toThrow("died");
    const retried = await stack.api("POST", "/events", event);
    expect(retried).toEqual({ status: 202, body: { id: "evt_crash_1", deliveries: 1 } });

    await r.waitFor(1);
    const [d] = await stack.waitForDeliveries(tenant, hook.id, (items) => items[0]?.status === "succeeded");
    expect(d).toMatchObject({ eventId: "evt_crash_1", attemptCount: 1 });
    // A second retry after completion creates nothing new either.
    expect((await stack.api("POST", "/events", event)).body).toEqual({ id: "evt_crash_1", deliveries: 1 });
    // The recovery copies (held back 1 s here) have been received and judged: dropped, not sent.
    await stack.waitForQueueDrained();
    expect(r.requests).toHaveLength(1);
    expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}/deliveries`)).body.items).toHaveLength(1);
  });

  test("half the fan-out enqueued: the retry delivers the missing half and drops copies of the delivered half", async () => {
    const tenant = "acct_ingest_half";
    const rs = await Promise.all(Array.from({ length: 12 }, () => new TestReceiver().start()));
    receivers.push(...rs);
    for (const r of rs) await stack.createWebhook(tenant, r.url, ["sync.*"]);
    const event = { id: "evt_crash_2", type: "sync.completed", tenantId: tenant, data: { syncId: "syn_1" } };

    await expect(crashingIngest(1).publish(event)).rejects.toThrow("died");
    // The 10 messages enqueued before the "crash" are delivered, and nothing else is in the queue.
    await stack.waitForQueueDrained();
    expect(rs.filter((r) => r.requests.length === 1)).toHaveLength(10);
    expect(rs.filter((r) => r.requests.length === 0)).toHaveLength(2);

    expect((await stack.api("POST", "/events", event)).body).toEqual({ id: "evt_crash_2", deliveries: 12 });
    await Promise.all(rs.map((r) => r.waitFor(1)));
    await stack.waitForQueueDrained(); // every recovery copy has been received and judged
    expect(rs.map((r) => r.requests.length)).toEqual(Array(12).fill(1));
  });

  test("a conflict inside a batch refuses the whole batch and leaves nothing of it behind", async () => {
    const tenant = "acct_conflict_batch";
    const r = await new TestReceiver().start();
    receivers.push(r);
    const hook = await stack.createWebhook(tenant, r.url, ["record.created"]);
    const b = { id: "evt_b", type: "record.created", tenantId: tenant, data: { recordId: "b" } };
    expect((await stack.api("POST", "/events", b)).status).toBe(202);
    await r.waitFor(1);

    const a = { id: "evt_a", type: "record.created", tenantId: tenant, data: { recordId: "a" } };
    const refused = await stack.api("POST", "/events", { events: [a, { ...b, data: { recordId: "changed" } }] });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("idempotency_conflict");

    // evt_a was taken back: sending it again (even with other content) is a first, ordinary publish.
    const again = await stack.api("POST", "/events", { ...a, data: { recordId: "a2" } });
    expect(again).toEqual({ status: 202, body: { id: "evt_a", deliveries: 1 } });
    await r.waitFor(2);
    expect(r.requests.map((q) => JSON.parse(q.body).data.recordId)).toEqual(["b", "a2"]);
    const log = await stack.waitForDeliveries(tenant, hook.id, (items) => items.length === 2 && items.every((d) => d.status === "succeeded"));
    expect(log.map((d) => d.eventId)).toEqual(["evt_a", "evt_b"]);
  });

  test("the same id with different content is a conflict, not a retry", async () => {
    const event = { id: "evt_conflict", type: "record.created", tenantId: "acct_conflict", data: { recordId: "a" } };
    expect((await stack.api("POST", "/events", event)).status).toBe(202);
    const other = await stack.api("POST", "/events", { ...event, data: { recordId: "b" } });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: "idempotency_conflict", details: [{ field: "id" }] });
  });
});
