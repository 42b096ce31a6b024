import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoEventStore, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import type { ApiError } from "#core/errors.ts";
import { IngestService } from "#core/ingest.ts";
import { noMetrics, systemClock } from "#core/ports.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Idempotency under concurrency (docs/architecture.md): one event id, one delivery per webhook, whoever races.
 * Each round fires at once: a batch that holds four new events and one that conflicts with an event
 * accepted earlier (so it is refused, 409, and must take back what it stored), a valid batch of the
 * same four events, and two plain publishes of each of the four. Every 2xx must be true (its event
 * delivered, exactly once), no call may answer 500, and each event must have exactly one delivery.
 */
const TENANT = "acct_race";
const ROUNDS = 12;

let stack: TestStack;
const receiver = new TestReceiver();
let hook: { id: string; secret: string };

beforeAll(async () => {
  await receiver.start();
  // Recovery copies (sent by the calls that found the event already there) wait 3 s: the first copy
  // is attempted before them, so that the counts below are exact, not "at least once".
  stack = await startTestStack({ recoveryDelaySeconds: 3, workerConcurrency: 4 });
  hook = await stack.createWebhook(TENANT, receiver.url, ["record.created"]);
});

afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
});

const event = (id: string, recordId: string) => ({ id, type: "record.created", tenantId: TENANT, data: { recordId } });

/** Waits until the delivery queue holds nothing: no visible, in-flight or delayed message (every copy judged). */
const drained = () => stack.waitForQueueDrained(30_000);

test(`${ROUNDS} rounds of a refused batch racing a valid batch and plain publishes of the same ids`, async () => {
  expect((await stack.api("POST", "/events", event("evt_base", "rec_original"))).status).toBe(202);

  const answers: { call: string; status: number; body: any }[] = [];
  const call = async (name: string, body: unknown) => answers.push({ call: name, ...(await stack.api("POST", "/events", body)) });
  const ids: string[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const round = Array.from({ length: 4 }, (_, k) => event(`evt_race_${r}_${k}`, `rec_${r}_${k}`));
    ids.push(...round.map((e) => e.id));
    await Promise.all([
      call("refused batch", { events: [...round, event("evt_base", "rec_changed")] }),
      call("valid batch", { events: round }),
      ...round.flatMap((e) => [call("plain", e), call("plain", e)]),
    ]);
  }

  // The answers: the conflicting batch refused every time, everything else accepted, nothing 500.
  const summary = (name: string) => answers.filter((a) => a.call === name).map((a) => `${a.status} ${a.body?.error?.code ?? ""}`.trim());
  expect(summary("refused batch")).toEqual(Array(ROUNDS).fill("409 idempotency_conflict"));
  expect(summary("valid batch")).toEqual(Array(ROUNDS).fill("202"));
  expect(summary("plain")).toEqual(Array(ROUNDS * 8).fill("202"));
  for (const a of answers.filter((x) => x.call === "plain")) expect(a.body.deliveries).toBe(1);
  for (const a of answers.filter((x) => x.call === "valid batch")) expect(a.body.events.map((e: { deliveries: number }) => e.deliveries)).toEqual([1, 1, 1, 1]);

  // Every event delivered exactly once, under exactly one delivery id; the conflicting content never.
  await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length >= ids.length + 1 && items.every((d) => d.status === "succeeded"), 30_000);
  await drained();
  const log = (await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}/deliveries?limit=100`)).body.items as { eventId: string }[];
  const perEventInLog = new Map<string, number>();
  for (const d of log) perEventInLog.set(d.eventId, (perEventInLog.get(d.eventId) ?? 0) + 1);
  expect(Object.fromEntries(perEventInLog)).toEqual(Object.fromEntries([...ids, "evt_base"].map((id) => [id, 1])));
  const perEventReceived = new Map<string, number>();
  for (const r of receiver.requests) perEventReceived.set(String(r.headers["webhook-id"]), (perEventReceived.get(String(r.headers["webhook-id"])) ?? 0) + 1);
  expect(Object.fromEntries(perEventReceived)).toEqual(Object.fromEntries([...ids, "evt_base"].map((id) => [id, 1])));
  expect(JSON.parse(receiver.requests.find((r) => r.headers["webhook-id"] === "evt_base")!.body).data).toEqual({ recordId: "rec_original" });
}, 90_000);

/**
 * The protocol step by step, with the batch call held at each point where another call can step in:
 * the ingest core on the stack's real tables and queue, its event store paused before a chosen write.
 */
describe("a batch held open while a plain publish of one of its ids arrives", () => {
  class HeldEventStore extends DynamoEventStore {
    held?: { method: "commitBatch" | "startRollback" | "remove"; reached: () => void; release: Promise<void> };
    async hold<T>(method: "commitBatch" | "startRollback" | "remove", go: () => Promise<T>): Promise<T> {
      const h = this.held;
      if (h?.method === method) {
        this.held = undefined;
        h.reached();
        await h.release;
      }
      return go();
    }
    override commitBatch(token: string) {
      return this.hold("commitBatch", () => super.commitBatch(token));
    }
    override startRollback(token: string) {
      return this.hold("startRollback", () => super.startRollback(token));
    }
    override remove(tenantId: string, id: string, acceptedAt: number) {
      return this.hold("remove", () => super.remove(tenantId, id, acceptedAt));
    }
  }

  /** A batch publish held before `method`: resolves `reached` when it gets there, goes on when released. */
  function heldBatch(method: "commitBatch" | "startRollback" | "remove", body: unknown) {
    const { config } = stack.stack;
    const db = documentClient(config.dynamodb);
    const store = new HeldEventStore(db, config.tables.events);
    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      store.held = { method, reached: resolve, release: new Promise<void>((r) => (release = r)) };
    });
    const service = new IngestService({
      subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
      events: store,
      queue: new SqsDeliveryQueue(new SQSClient(config.sqs!), config.queue),
      clock: systemClock,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      metrics: noMetrics,
      subscriptionCacheMs: 0,
      recoveryDelaySeconds: 3,
    });
    const answer = service.publish(body).then(
      (body) => ({ status: 202, body }) as { status: number; body: unknown },
      (err: ApiError) => ({ status: err.status, body: err.toBody() }),
    );
    return { reached, release: () => release(), answer, store };
  }

  // The refused batches below conflict with evt_base: accepted here, so that each test runs alone too
  // (after the rounds above this is their event's retry, answered 202 and sending nothing new).
  beforeAll(async () => {
    expect(await stack.api("POST", "/events", event("evt_base", "rec_original"))).toEqual({ status: 202, body: { id: "evt_base", deliveries: 1 } });
  });

  const counts = () => {
    const m = new Map<string, number>();
    for (const r of receiver.requests) m.set(String(r.headers["webhook-id"]), (m.get(String(r.headers["webhook-id"])) ?? 0) + 1);
    return m;
  };

  test("claimed before the batch commits: the plain call fans it out, the batch does not; each event once", async () => {
    const [a, b] = [event("evt_held_c1", "rec_a"), event("evt_held_c2", "rec_b")];
    const held = heldBatch("commitBatch", { events: [a, b] });
    await held.reached;
    expect(await stack.api("POST", "/events", a)).toEqual({ status: 202, body: { id: a.id, deliveries: 1 } });
    held.release();
    expect(await held.answer).toEqual({
      status: 202,
      body: {
        events: [
          { id: a.id, deliveries: 1 },
          { id: b.id, deliveries: 1 },
        ],
        deliveries: 2,
      },
    });
    await stack.waitForDeliveries(TENANT, hook.id, (items) => [a.id, b.id].every((id) => items.some((d) => d.eventId === id && d.status === "succeeded")));
    await drained();
    expect([counts().get(a.id), counts().get(b.id)]).toEqual([1, 1]);
  });

  test("claimed before the batch is refused: the claimed event stays and is delivered once, the other is taken back", async () => {
    const [a, b] = [event("evt_held_r1", "rec_a"), event("evt_held_r2", "rec_b")];
    const held = heldBatch("startRollback", { events: [a, b, event("evt_base", "rec_changed_again")] });
    await held.reached;
    expect(await stack.api("POST", "/events", a)).toEqual({ status: 202, body: { id: a.id, deliveries: 1 } });
    held.release();
    expect(((await held.answer) as { status: number; body: any }).body.error.code).toBe("idempotency_conflict");
    expect((await held.store.get(TENANT, b.id)) === undefined).toBe(true);
    expect((await held.store.get(TENANT, a.id))?.id).toBe(a.id);
    await stack.waitForDeliveries(TENANT, hook.id, (items) => items.some((d) => d.eventId === a.id && d.status === "succeeded"));
    await drained();
    expect([counts().get(a.id), counts().get(b.id)]).toEqual([1, undefined]);
  });

  test("arriving while the refused batch takes its events back: the plain call takes it back itself and stores its own", async () => {
    const a = event("evt_held_t1", "rec_a");
    const held = heldBatch("remove", { events: [a, event("evt_base", "rec_changed_once_more")] });
    await held.reached;
    expect(await stack.api("POST", "/events", a)).toEqual({ status: 202, body: { id: a.id, deliveries: 1 } });
    held.release();
    expect(((await held.answer) as { status: number; body: any }).status).toBe(409);
    const stored = await held.store.get(TENANT, a.id);
    expect(stored?.batch).toBeUndefined();
    await stack.waitForDeliveries(TENANT, hook.id, (items) => items.some((d) => d.eventId === a.id && d.status === "succeeded"));
    await drained();
    expect(counts().get(a.id)).toBe(1);
  });

  test("another batch with the same event waits for the held one, then answers from what it left", async () => {
    const a = event("evt_held_w1", "rec_a");
    const held = heldBatch("commitBatch", { events: [a, event("evt_held_w2", "rec_b")] });
    await held.reached;
    const second = stack.api("POST", "/events", { events: [a, event("evt_held_w3", "rec_c")] });
    held.release();
    expect((await held.answer).status).toBe(202);
    expect(await second).toEqual({
      status: 202,
      body: {
        events: [
          { id: a.id, deliveries: 1 },
          { id: "evt_held_w3", deliveries: 1 },
        ],
        deliveries: 2,
      },
    });
    await stack.waitForDeliveries(TENANT, hook.id, (items) =>
      ["evt_held_w1", "evt_held_w2", "evt_held_w3"].every((id) => items.some((d) => d.eventId === id && d.status === "succeeded")),
    );
    await drained();
    expect(["evt_held_w1", "evt_held_w2", "evt_held_w3"].map((id) => counts().get(id))).toEqual([1, 1, 1]);
  });
});
