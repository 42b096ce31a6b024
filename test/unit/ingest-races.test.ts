/**
 * Ingest (ingest.ts) on the in-memory ports of sim/: what core-ingest.test.ts cannot arrange on the
 * emulators. Batches racing plain publishes and other batches over one event id (claims, roll-backs,
 * waits; docs/decisions.md, "Ingest" and architecture.md, "Ingest idempotency and crash recovery"),
 * the per-container subscription cache, and the exact refusals. Races are arranged, not timed: a
 * call is held at one port call (`gate.hold`) until the test lets it go; the clock is moved by hand.
 */
import { createHash } from "node:crypto";
import { EVENT_TYPE_NAMES } from "#core/catalogue.ts";
import { ApiError } from "#core/errors.ts";
import { newWebhookId } from "#core/ids.ts";
import { IngestService } from "#core/ingest.ts";
import type { DeliveryMessage, Subscription } from "#core/model.ts";
import type { DeliveryQueue, EventStore, SubscriptionStore } from "#core/ports.ts";
import { INGEST, LIMITS, RECOVERY_DELAY_SECONDS } from "#core/settings.ts";
import { CountingMetrics, MemoryLogger, World } from "../../sim/world.ts";

const TENANT = "acct_race";
const T0 = Date.parse("2026-06-01T12:00:00.000Z");

/**
 * `port` with a gate before each method: `hold(method)` makes the next call of that method wait
 * (`reached` resolves when it does) until `open()`; calls after it pass.
 */
function gated<T extends object>(port: T) {
  const holds = new Map<string, { arrive: () => void; release: Promise<void> }>();
  const calls: { method: string; args: unknown[] }[] = [];
  const proxy = new Proxy(port, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        calls.push({ method: String(key), args });
        const h = holds.get(String(key));
        if (h) {
          holds.delete(String(key));
          h.arrive();
          await h.release;
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const hold = (method: keyof T & string) => {
    let arrive!: () => void;
    let open!: () => void;
    const reached = new Promise<void>((r) => {
      arrive = r;
    });
    const release = new Promise<void>((r) => {
      open = r;
    });
    holds.set(method, { arrive, release });
    return { reached, open };
  };
  const count = (method: keyof T & string) => calls.filter((c) => c.method === method).length;
  return { port: proxy, hold, calls, count };
}

async function setup(o: { webhooks?: number; cacheMs?: number; recoveryDelaySeconds?: number } = {}) {
  const world = new World();
  const clock = { ms: T0, now: () => clock.ms };
  const hooks: Subscription[] = [];
  for (let i = 0; i < (o.webhooks ?? 1); i++) hooks.push(await webhook(world, TENANT, ["*"], i));
  const events = gated<EventStore>(world.events);
  const subscriptions = gated<SubscriptionStore>(world.subscriptions);
  /** Every send, with its delay, as the queue port was asked. */
  const sent: { messages: DeliveryMessage[]; delaySeconds?: number }[] = [];
  const queue: DeliveryQueue = {
    ...world.queue,
    send: async (messages, delaySeconds) => {
      sent.push({ messages: [...messages], delaySeconds });
      return world.queue.send(messages, delaySeconds);
    },
    sendDelayed: (items) => world.queue.sendDelayed(items),
    depths: () => world.queue.depths(),
    changeVisibility: (items) => world.queue.changeVisibility(items),
    deadLetter: (m) => world.queue.deadLetter(m),
    dlqDepth: () => world.queue.dlqDepth(),
    redrive: () => world.queue.redrive(),
  };
  const metrics = new CountingMetrics();
  const logger = new MemoryLogger();
  const ingest = new IngestService({
    subscriptions: subscriptions.port,
    events: events.port,
    queue,
    clock,
    logger,
    metrics,
    subscriptionCacheMs: o.cacheMs ?? 0,
    ...(o.recoveryDelaySeconds === undefined ? {} : { recoveryDelaySeconds: o.recoveryDelaySeconds }),
  });
  /** The messages sent, as [eventId, recovery] pairs in order, with the delay of their send. */
  const messages = () => sent.flatMap((s) => s.messages.map((m) => ({ eventId: m.eventId, recovery: m.recovery === true, delay: s.delaySeconds })));
  return { world, clock, hooks, events, subscriptions, sent, messages, metrics, logger, ingest };
}

async function webhook(world: World, tenantId: string, eventTypes: string[], i = 0, enabled = true): Promise<Subscription> {
  const now = new Date(world.time.now()).toISOString();
  const sub: Subscription = {
    tenantId,
    id: newWebhookId(world.time.now() + i),
    url: `https://hooks${i}.example.com/in`,
    eventTypes,
    enabled,
    secrets: [],
    createdAt: now,
    updatedAt: now,
  };
  await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
  return sub;
}

const ev = (id: string, recordId = id, tenantId = TENANT) => ({ id, type: "record.created", tenantId, data: { recordId } });

/** What a promise ends in, without waiting for it: "pending" until it settles. */
function watch<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** Waits (real time, bounded) until `cond` holds: for a call that polls on its own timer. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const deadline = Date.now() + 5_000; !cond(); ) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function refusal(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
  return { status: err.status, ...err.toBody().error };
}

describe("a plain publish racing an open batch over one id", () => {
  test("claims the batch's provisional event and fans it out itself; the batch, committing, leaves it to the claimer; a third call finds it claimed (seen)", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const batch = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms += 5;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages()).toEqual([{ eventId: "a", recovery: false, delay: undefined }]);
    const [token] = [...h.world.events.markers.keys()];
    expect(h.world.events.markers.get(token)!.claimed).toEqual(new Set([`${TENANT}#a`]));
    // Another plain publish of it now: the claim answers for it; a recovery copy only.
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages().slice(1)).toEqual([{ eventId: "a", recovery: true, delay: RECOVERY_DELAY_SECONDS }]);
    commit.open();
    expect(await batch).toEqual({
      events: [
        { id: "a", deliveries: 1 },
        { id: "b", deliveries: 1 },
      ],
      deliveries: 2,
    });
    expect(h.messages().slice(2)).toEqual([{ eventId: "b", recovery: false, delay: undefined }]);
    expect(h.world.events.markers.size).toBe(0);
    // The batch's own event stays, with the batch's acceptance time: the claimer fanned out the batch's deliveries.
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0);
    expect(h.sent[0].messages.map((m) => m.deliveryId)).toEqual((await h.world.events.get(TENANT, "a"))!.deliveries.map((d) => d.deliveryId));
    expect(h.metrics.get("DeliveriesEnqueued")).toBe(2);
    expect(h.metrics.get("EventsAccepted")).toBe(4);
  });

  test("with different content: 409 idempotency_conflict naming id, nothing claimed", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const batch = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    expect(await refusal(h.ingest.publish(ev("a", "other")))).toEqual({
      status: 409,
      code: "idempotency_conflict",
      message: "event a was already accepted with different content; use a new id",
      details: [{ field: "id", message: "was already used for a different event in the last 24 hours" }],
    });
    expect([...h.world.events.markers.values()][0].claimed.size).toBe(0);
    commit.open();
    expect(await batch).toMatchObject({ deliveries: 2 });
    expect(
      h
        .messages()
        .map((m) => m.eventId)
        .sort(),
    ).toEqual(["a", "b"]);
  });

  test("a batch refused after the claim takes back its other events, not the claimed one (the claimer answered 202 for it)", async () => {
    const h = await setup();
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    const rollback = h.events.hold("startRollback");
    const batch = watch(h.ingest.publish({ events: [ev("a"), ev("b"), ev("old", "changed")] }));
    await rollback.reached;
    h.clock.ms += 5;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    rollback.open();
    await until(() => batch.settled, "the batch answered");
    expect(batch.error).toMatchObject({ status: 409, code: "idempotency_conflict", details: [{ field: "events[2].id" }] });
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0 + 1_000);
    expect(await h.world.events.get(TENANT, "b")).toBeUndefined();
    expect(h.world.events.markers.size).toBe(0);
    // Fan-outs: the first publish of "old", then "a" by the claimer; the batch enqueued nothing.
    expect(h.messages()).toEqual([
      { eventId: "old", recovery: false, delay: undefined },
      { eventId: "a", recovery: false, delay: undefined },
    ]);
    expect(h.metrics.get("EventsAccepted")).toBe(2);
  });

  test("meeting a refused batch's event being taken back: helps take it back, then stores and fans out its own", async () => {
    const h = await setup();
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    const remove = h.events.hold("remove");
    const batch = watch(h.ingest.publish({ events: [ev("a"), ev("b"), ev("old", "changed")] }));
    await remove.reached;
    h.clock.ms += 5;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    const stored = await h.world.events.get(TENANT, "a");
    expect([stored?.acceptedAt, stored?.batch]).toEqual([T0 + 1_005, undefined]);
    remove.open();
    await until(() => batch.settled, "the batch answered");
    expect(batch.error).toMatchObject({ status: 409, code: "idempotency_conflict" });
    // The batch's late delete is conditional on its own acceptance time: the new event stays.
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0 + 1_005);
    expect(await h.world.events.get(TENANT, "b")).toBeUndefined();
    expect(h.messages().map((m) => m.eventId)).toEqual(["old", "a"]);
  });

  test("after the batch committed: the event was accepted; the same content is seen again (recovery copies, held back)", async () => {
    const h = await setup({ recoveryDelaySeconds: 7 });
    await h.ingest.publish({ events: [ev("a"), ev("b")] });
    h.clock.ms += 60_000;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages().slice(2)).toEqual([{ eventId: "a", recovery: true, delay: 7 }]);
    expect(h.logger.lines.at(-1)).toEqual({
      level: "info",
      message: "event id seen again: fan-out re-enqueued for recovery",
      extra: { eventId: "a", tenantId: TENANT },
    });
    expect(h.metrics.get("DeliveriesEnqueued")).toBe(2);
  });

  test("a batch whose marker outlived its 60 s (its call is dead): its events stand as accepted, not claimed; one ms earlier they are claimed", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const dead = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms = T0 + 59_999;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages()).toEqual([{ eventId: "a", recovery: false, delay: undefined }]);
    h.clock.ms = T0 + 60_000;
    expect(await h.ingest.publish(ev("b"))).toEqual({ id: "b", deliveries: 1 });
    expect(h.messages().slice(1)).toEqual([{ eventId: "b", recovery: true, delay: RECOVERY_DELAY_SECONDS }]);
    expect([...[...h.world.events.markers.values()][0].claimed]).toEqual([`${TENANT}#a`]);
    commit.open();
    await dead;
  });

  test("a batch whose event was taken back before the plain call read it again: the plain call stores its own", async () => {
    const h = await setup();
    // A batch call that died after storing "a": its marker is gone, and so (taken back) is its event.
    const fingerprint = createHash("sha256")
      .update(JSON.stringify(["record.created", null, { recordId: "a" }]))
      .digest("base64url");
    const provisional = {
      tenantId: TENANT,
      id: "a",
      type: "record.created",
      timestamp: new Date(T0).toISOString(),
      acceptedAt: T0,
      payload: "{}",
      fingerprint,
      deliveries: [],
      batch: "tok_gone",
    };
    await h.world.events.putIfAbsent(provisional, 0);
    const get = h.events.hold("get");
    h.clock.ms += 10;
    const plain = h.ingest.publish(ev("a"));
    await get.reached;
    await h.world.events.remove(TENANT, "a", T0);
    get.open();
    expect(await plain).toEqual({ id: "a", deliveries: 1 });
    expect(await h.world.events.get(TENANT, "a")).toMatchObject({ acceptedAt: T0 + 10, payload: expect.stringContaining('"recordId":"a"') });
    expect(h.messages()).toEqual([{ eventId: "a", recovery: false, delay: undefined }]);
  });

  test("two plain publishes racing to claim it: one claims and fans it out, the other finds it claimed (a recovery copy only)", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const batch = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms += 5;
    const claim = h.events.hold("claimEvent");
    const slow = h.ingest.publish(ev("a"));
    await claim.reached;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    claim.open();
    expect(await slow).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages()).toEqual([
      { eventId: "a", recovery: false, delay: undefined },
      { eventId: "a", recovery: true, delay: RECOVERY_DELAY_SECONDS },
    ]);
    commit.open();
    await batch;
    expect(
      h
        .messages()
        .slice(2)
        .map((m) => m.eventId),
    ).toEqual(["b"]);
  });

  test("a refused batch whose call died while taking its events back (marker frozen past its 60 s): its event is still taken back, not accepted", async () => {
    const h = await setup();
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    const remove = h.events.hold("remove");
    void h.ingest.publish({ events: [ev("a"), ev("old", "changed")] }).catch(() => {});
    await remove.reached;
    h.clock.ms += 120_000;
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0 + 121_000);
    expect(h.messages()).toEqual([
      { eventId: "old", recovery: false, delay: undefined },
      { eventId: "a", recovery: false, delay: undefined },
    ]);
    remove.open();
  });

  test("a refused batch takes back only what it stored: an event it met as already accepted stays", async () => {
    const h = await setup();
    await h.ingest.publish(ev("kept"));
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    await expect(h.ingest.publish({ events: [ev("kept"), ev("new"), ev("old", "changed")] })).rejects.toMatchObject({ status: 409 });
    expect((await h.world.events.get(TENANT, "kept"))?.acceptedAt).toBe(T0);
    expect(await h.world.events.get(TENANT, "new")).toBeUndefined();
    expect(h.messages().map((m) => m.eventId)).toEqual(["kept", "old"]);
  });

  test("a store that never gives a stable answer: the call gives up after 200 rounds with an error (a 500), it does not loop", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const batch = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    // Frozen in rollback, and its delete never applies: every round meets the same provisional event.
    const [token] = [...h.world.events.markers.keys()];
    h.world.events.markers.get(token)!.state = "rollback";
    h.world.events.remove = async () => {};
    h.clock.ms += 5;
    await expect(h.ingest.publish(ev("a"))).rejects.toThrow("event a: no stable answer after 200 rounds");
    expect(h.events.calls.filter((c) => c.method === "putIfAbsent" && (c.args[0] as { acceptedAt: number }).acceptedAt === T0 + 5)).toHaveLength(200);
    commit.open();
    await expect(batch).rejects.toThrow("is not open");
  });
});

describe("two batches over one id", () => {
  test("the second waits for the first to commit, then answers the event as seen (recovery copies) and its others fresh", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const first = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms += 5;
    const second = watch(h.ingest.publish({ events: [ev("a"), ev("c")] }));
    await until(() => h.events.count("batchMarker") >= 3, "the second batch polls the first's marker");
    expect(second.settled).toBe(false);
    commit.open();
    await first;
    await until(() => second.settled, "the second batch answered");
    expect(second.value).toEqual({
      events: [
        { id: "a", deliveries: 1 },
        { id: "c", deliveries: 1 },
      ],
      deliveries: 2,
    });
    expect(h.messages().filter((m) => m.eventId !== "b")).toEqual([
      { eventId: "a", recovery: false, delay: undefined },
      { eventId: "c", recovery: false, delay: undefined },
      { eventId: "a", recovery: true, delay: RECOVERY_DELAY_SECONDS },
    ]);
    // The first batch's delivery ids (its acceptance time), not new ones.
    expect(h.sent.at(-1)!.messages[0].deliveryId).toBe((await h.world.events.get(TENANT, "a"))!.deliveries[0].deliveryId);
  });

  test("the second stores its own when the first is refused (rollback) while it waits", async () => {
    const h = await setup();
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    const remove = h.events.hold("remove");
    const first = watch(h.ingest.publish({ events: [ev("a"), ev("old", "changed")] }));
    // The first batch stored "a" and is being refused; hold it before it takes "a" back.
    await remove.reached;
    h.clock.ms += 5;
    const second = await h.ingest.publish({ events: [ev("a"), ev("c")] });
    expect(second).toEqual({
      events: [
        { id: "a", deliveries: 1 },
        { id: "c", deliveries: 1 },
      ],
      deliveries: 2,
    });
    remove.open();
    await until(() => first.settled, "the first batch answered");
    expect(first.error).toMatchObject({ status: 409, code: "idempotency_conflict", details: [{ field: "events[1].id" }] });
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0 + 1_005);
    expect(h.messages().map((m) => `${m.eventId}${m.recovery ? " (recovery)" : ""}`)).toEqual(["old", "a", "c"]);
  });

  test("the first is refused while the second waits: the second stops waiting, takes the event back and stores its own", async () => {
    const h = await setup();
    await h.ingest.publish(ev("old"));
    h.clock.ms += 1_000;
    const place = h.events.hold("putIfAbsent");
    const first = watch(h.ingest.publish({ events: [ev("old", "changed"), ev("a")] }));
    // The first batch's first put ("old", a conflict) is held: its "a" is stored, the batch still open.
    await place.reached;
    await until(() => h.world.events.events.has(`${TENANT}#a`), "the first batch stored a");
    h.clock.ms += 5;
    const second = watch(h.ingest.publish({ events: [ev("a"), ev("c")] }));
    await until(() => h.events.count("batchMarker") >= 2, "the second batch waits");
    // Refused, the first stops before taking "a" back: its marker says rollback, and stays.
    const remove = h.events.hold("remove");
    place.open();
    await remove.reached;
    await until(() => second.settled, "the second answered, the first's marker still there");
    expect(first.settled).toBe(false);
    remove.open();
    await until(() => first.settled, "the first answered");
    expect(first.error).toMatchObject({ status: 409, code: "idempotency_conflict", details: [{ field: "events[0].id" }] });
    expect(second.value).toMatchObject({ deliveries: 2 });
    expect((await h.world.events.get(TENANT, "a"))?.acceptedAt).toBe(T0 + 1_005);
    expect(h.messages().map((m) => `${m.eventId}${m.recovery ? " (recovery)" : ""}`)).toEqual(["old", "a", "c"]);
  });

  test("a plain publish claiming the event while the second batch waits: the second answers it as seen", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const first = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    const second = watch(h.ingest.publish({ events: [ev("a"), ev("c")] }));
    await until(() => h.events.count("batchMarker") >= 2, "the second batch waits");
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 1 });
    await until(() => second.settled, "the second batch answered");
    expect(second.value).toMatchObject({ deliveries: 2 });
    expect(h.messages().map((m) => `${m.eventId}${m.recovery ? " (recovery)" : ""}`)).toEqual(["a", "c", "a (recovery)"]);
    commit.open();
    await first;
  });

  test("the first's marker reaching its 60 s while the second waits: the event stands as accepted (seen)", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const first = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms = T0 + 58_000;
    const second = watch(h.ingest.publish({ events: [ev("a"), ev("c")] }));
    await until(() => h.events.count("batchMarker") >= 2, "the second batch waits");
    h.clock.ms = T0 + 60_000;
    await until(() => second.settled, "the second batch answered");
    expect(second.value).toMatchObject({ deliveries: 2 });
    expect(h.messages().map((m) => `${m.eventId}${m.recovery ? " (recovery)" : ""}`)).toEqual(["c", "a (recovery)"]);
    commit.open();
    await first;
  });

  test("the second waits 3 s at most (still waiting at exactly 3 s), then answers 409 event_in_progress and takes back its own events", async () => {
    const h = await setup();
    const commit = h.events.hold("commitBatch");
    const first = h.ingest.publish({ events: [ev("a"), ev("b")] });
    await commit.reached;
    h.clock.ms += 5;
    const second = watch(h.ingest.publish({ events: [ev("c"), ev("a")] }));
    await until(() => h.events.count("batchMarker") >= 2, "the second batch waits");
    h.clock.ms += 3_000;
    const polls = h.events.count("batchMarker");
    await until(() => h.events.count("batchMarker") >= polls + 2, "the second batch keeps waiting at 3 s");
    expect(second.settled).toBe(false);
    h.clock.ms += 1;
    await until(() => second.settled, "the second batch gave up");
    expect(await refusal(Promise.reject(second.error))).toEqual({
      status: 409,
      code: "event_in_progress",
      message: "event a is being accepted by another batch right now; retry shortly",
      details: [{ field: "events[1].id", message: "is being accepted by another batch call; retry" }],
    });
    expect(await h.world.events.get(TENANT, "c")).toBeUndefined();
    commit.open();
    await first;
    expect(h.messages().map((m) => m.eventId)).toEqual(["a", "b"]);
  });
});

describe("lost answers", () => {
  test("a batch's own put answered as a conflict after the SDK retried it (first answer lost) is its own: stored and fanned out once", async () => {
    const h = await setup();
    const put = h.world.events.putIfAbsent.bind(h.world.events);
    let retried = 0;
    h.world.events.putIfAbsent = async (event, windowStart) => {
      // The first try wrote the item; its answer was lost; the SDK's retry meets the item.
      if (event.id === "a" && retried++ === 0) await put(event, windowStart);
      return put(event, windowStart);
    };
    // Taken for another batch's, it would be waited for (3 s of the clock, which does not move here).
    const batch = watch(h.ingest.publish({ events: [ev("a"), ev("b")] }));
    await until(() => batch.settled, "the batch answered");
    expect(batch.value).toEqual({
      events: [
        { id: "a", deliveries: 1 },
        { id: "b", deliveries: 1 },
      ],
      deliveries: 2,
    });
    expect(h.messages()).toEqual([
      { eventId: "a", recovery: false, delay: undefined },
      { eventId: "b", recovery: false, delay: undefined },
    ]);
  });
});

describe("the fan-out", () => {
  test("reaches the enabled webhooks whose types match, one message each, with the event's payload", async () => {
    const h = await setup({ webhooks: 0 });
    const all = await webhook(h.world, TENANT, ["*"], 1);
    const records = await webhook(h.world, TENANT, ["record.*"], 2);
    await webhook(h.world, TENANT, ["file.*"], 3);
    await webhook(h.world, TENANT, ["*"], 4, false);
    await webhook(h.world, "acct_other", ["*"], 5);
    expect(await h.ingest.publish({ ...ev("e1"), occurredAt: "2026-01-02T03:04:05Z" })).toEqual({ id: "e1", deliveries: 2 });
    const sent = h.sent[0].messages;
    expect(sent.map((m) => m.webhookId).sort()).toEqual([all.id, records.id].sort());
    for (const m of sent) {
      expect(m).toEqual({
        v: 1,
        deliveryId: expect.stringMatching(/^dlv_/),
        tenantId: TENANT,
        webhookId: m.webhookId,
        eventId: "e1",
        eventType: "record.created",
        payload: JSON.stringify({ id: "e1", type: "record.created", timestamp: "2026-01-02T03:04:05.000Z", tenantId: TENANT, data: { recordId: "e1" } }),
      });
    }
    expect(new Set(sent.map((m) => m.deliveryId)).size).toBe(2);
    expect(h.metrics.get("DeliveriesEnqueued")).toBe(2);
    expect(h.metrics.get("EventsAccepted")).toBe(1);
  });

  test("nothing to enqueue (no webhook): the queue is not called at all", async () => {
    const h = await setup({ webhooks: 0 });
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 0 });
    expect(await h.ingest.publish(ev("a"))).toEqual({ id: "a", deliveries: 0 });
    expect(h.sent).toEqual([]);
    expect(h.metrics.get("EventsAccepted")).toBe(2);
  });

  test("a single event opens no batch marker; a batch opens one and removes it", async () => {
    const h = await setup();
    await h.ingest.publish(ev("single"));
    expect(h.events.count("openBatch")).toBe(0);
    await h.ingest.publish({ events: [ev("x"), ev("y")] });
    expect(h.events.calls.filter((c) => c.method === "openBatch").map((c) => c.args[1])).toEqual([T0 + 60_000]);
    expect(h.events.count("commitBatch")).toBe(1);
    expect(h.world.events.markers.size).toBe(0);
  });

  test("an id seen again after 24 h is a new event: stored anew and fanned out fresh", async () => {
    const h = await setup();
    await h.ingest.publish(ev("a"));
    h.clock.ms += INGEST.idempotencyWindowSeconds * 1_000 + 1;
    expect(await h.ingest.publish(ev("a", "new content"))).toEqual({ id: "a", deliveries: 1 });
    expect(h.messages()).toEqual([
      { eventId: "a", recovery: false, delay: undefined },
      { eventId: "a", recovery: false, delay: undefined },
    ]);
  });
});

describe("the subscription cache (once a second per container)", () => {
  test("a webhook created within the cache time is not reached; from exactly the cache time on it is", async () => {
    const h = await setup({ webhooks: 1, cacheMs: 1_000 });
    expect(await h.ingest.publish(ev("e1"))).toEqual({ id: "e1", deliveries: 1 });
    await webhook(h.world, TENANT, ["*"], 9);
    h.clock.ms += 999;
    expect(await h.ingest.publish(ev("e2"))).toEqual({ id: "e2", deliveries: 1 });
    h.clock.ms += 1;
    expect(await h.ingest.publish(ev("e3"))).toEqual({ id: "e3", deliveries: 2 });
    expect(h.subscriptions.count("listByTenant")).toBe(2);
  });

  test("each tenant has its own entry", async () => {
    const h = await setup({ webhooks: 1, cacheMs: 1_000 });
    await webhook(h.world, "acct_two", ["*"], 3);
    expect(await h.ingest.publish(ev("e1"))).toEqual({ id: "e1", deliveries: 1 });
    expect(await h.ingest.publish(ev("e1", "e1", "acct_two"))).toEqual({ id: "e1", deliveries: 1 });
    expect(h.sent.map((s) => s.messages[0].tenantId)).toEqual([TENANT, "acct_two"]);
    expect(h.subscriptions.calls.map((c) => c.args[0])).toEqual([TENANT, "acct_two"]);
  });

  test("a failed read is not cached: the next publish reads again", async () => {
    const h = await setup({ webhooks: 1, cacheMs: 60_000 });
    const list = h.world.subscriptions.listByTenant.bind(h.world.subscriptions);
    let fail = true;
    h.world.subscriptions.listByTenant = async (t) => {
      if (fail) throw new Error("ProvisionedThroughputExceededException");
      return list(t);
    };
    await expect(h.ingest.publish(ev("e1"))).rejects.toThrow("ProvisionedThroughputExceededException");
    fail = false;
    expect(await h.ingest.publish(ev("e1"))).toEqual({ id: "e1", deliveries: 1 });
  });

  test("holds at most 1,000 tenants: the oldest entry goes first", async () => {
    const h = await setup({ webhooks: 0, cacheMs: 60_000 });
    for (let i = 0; i <= 1_000; i++) await h.ingest.publish(ev(`e${i}`, "r", `acct_${i}`));
    expect(h.subscriptions.count("listByTenant")).toBe(1_001);
    await h.ingest.publish(ev("again", "r", "acct_1000"));
    await h.ingest.publish(ev("again", "r", "acct_1"));
    expect(h.subscriptions.count("listByTenant")).toBe(1_001);
    await h.ingest.publish(ev("again", "r", "acct_0"));
    expect(h.subscriptions.count("listByTenant")).toBe(1_002);
  });
});

describe("refusals name the field and say why", () => {
  const refused = async (body: unknown) => refusal((await setup()).ingest.publish(body));

  test.each([
    ["an array", [ev("a")], "(body)"],
    ["null", null, "(body)"],
    ["a string", "x", "(body)"],
  ])("a body that is %s: 400 naming (body)", async (_what, body, field) => {
    expect(await refused(body)).toEqual({
      status: 400,
      code: "validation_failed",
      message: `${field}: must be a JSON object: one event, or {"events": [...]}`,
      details: [{ field, message: 'must be a JSON object: one event, or {"events": [...]}' }],
    });
  });

  test("a batch element that is not an object is named by its index", async () => {
    expect(await refused({ events: [ev("a"), 7] })).toMatchObject({
      details: [{ field: "events[1]", message: 'must be a JSON object: one event, or {"events": [...]}' }],
    });
  });

  test("a batch's fields other than events", async () => {
    expect(await refused({ events: [ev("a")], type: "record.created", x: 1 })).toEqual({
      status: 400,
      code: "validation_failed",
      message: "2 fields are invalid",
      details: [
        { field: "type", message: "is not a known field of a batch" },
        { field: "x", message: "is not a known field of a batch" },
      ],
    });
  });

  test.each([
    ["events not an array", { events: "a" }, "must be an array of events"],
    ["no events", { events: [] }, "must contain at least one event"],
    ["101 events", { events: Array.from({ length: 101 }, (_, i) => ev(`e${i}`)) }, "must contain at most 100 events (got 101)"],
  ])("%s", async (_what, body, message) => {
    expect(await refused(body)).toMatchObject({ status: 400, details: [{ field: "events", message }] });
  });

  test("100 events are accepted", async () => {
    const h = await setup();
    expect(await h.ingest.publish({ events: Array.from({ length: 100 }, (_, i) => ev(`e${i}`)) })).toMatchObject({ deliveries: 100 });
  });

  test("a repeated id names the later one and the first; the same id for two tenants, or events without ids, are fine", async () => {
    expect(await refused({ events: [ev("x"), ev("y"), ev("x")] })).toMatchObject({
      details: [{ field: "events[2].id", message: "repeats the id of events[0]" }],
    });
    const h = await setup();
    await webhook(h.world, "acct_b", ["*"], 7);
    const noId = { type: "record.created", tenantId: TENANT, data: { recordId: "r" } };
    expect(await h.ingest.publish({ events: [ev("x"), ev("x", "x", "acct_b"), noId, noId] })).toMatchObject({ deliveries: 4 });
  });

  test("an unknown type: 400 unknown_event_type listing the known ones, naming type (in a batch, events[i].type)", async () => {
    const names = EVENT_TYPE_NAMES.join(", ");
    expect(await refused({ type: "record.deleted", tenantId: TENANT, data: {} })).toEqual({
      status: 400,
      code: "unknown_event_type",
      message: `unknown event type "record.deleted"; known types: ${names}`,
      details: [{ field: "type", message: `must be one of: ${names}` }],
    });
    expect(await refused({ events: [ev("a"), { type: "nope", tenantId: TENANT, data: {} }] })).toMatchObject({
      code: "unknown_event_type",
      details: [{ field: "events[1].type" }],
    });
  });

  test("data nested too deep: 400 naming data (events[i].data in a batch)", async () => {
    let deep: Record<string, unknown> = { recordId: "r" };
    for (let i = 0; i < INGEST.maxDataDepth; i++) deep = { recordId: "r", d: deep };
    expect(await refused({ type: "record.created", tenantId: TENANT, data: deep })).toEqual({
      status: 400,
      code: "validation_failed",
      message: `data: must nest objects and arrays at most ${INGEST.maxDataDepth} levels deep`,
      details: [{ field: "data", message: `must nest objects and arrays at most ${INGEST.maxDataDepth} levels deep` }],
    });
    expect(await refused({ events: [{ type: "record.created", tenantId: TENANT, data: deep }] })).toMatchObject({ details: [{ field: "events[0].data" }] });
  });

  test("data of exactly the size limit is accepted; one byte more is a 413 saying both sizes (events[i].data in a batch)", async () => {
    const sized = (n: number) => {
      const data = { recordId: "r", pad: "" };
      data.pad = "x".repeat(n - Buffer.byteLength(JSON.stringify(data)));
      return data;
    };
    const h = await setup();
    expect(await h.ingest.publish({ type: "record.created", tenantId: TENANT, data: sized(INGEST.maxDataBytes) })).toMatchObject({ deliveries: 1 });
    const over = INGEST.maxDataBytes + 1;
    expect(await refused({ type: "record.created", tenantId: TENANT, data: sized(over) })).toEqual({
      status: 413,
      code: "payload_too_large",
      message: `data is ${over} bytes serialised; the limit is ${INGEST.maxDataBytes}`,
      details: [{ field: "data", message: `must be at most ${INGEST.maxDataBytes} bytes serialised` }],
    });
    expect(await refused({ events: [{ type: "record.created", tenantId: TENANT, data: sized(over) }] })).toMatchObject({
      status: 413,
      message: `events[0].data is ${over} bytes serialised; the limit is ${INGEST.maxDataBytes}`,
      details: [{ field: "events[0].data" }],
    });
  });

  test("data failing its type's schema names the field under data", async () => {
    expect(await refused({ events: [ev("a"), { type: "file.ingested", tenantId: TENANT, data: { fileId: 5 } }] })).toMatchObject({
      status: 400,
      details: [{ field: "events[1].data.fileId" }],
    });
  });

  test("a conflict inside a batch names the event by its index", async () => {
    const h = await setup();
    await h.ingest.publish(ev("a"));
    expect(await refusal(h.ingest.publish({ events: [ev("b"), ev("a", "changed")] }))).toMatchObject({
      status: 409,
      details: [{ field: "events[1].id", message: "was already used for a different event in the last 24 hours" }],
    });
  });

  test("a key named __proto__ in data is delivered as sent, not turned into a prototype", async () => {
    const h = await setup();
    const body = JSON.parse('{"type":"record.created","tenantId":"acct_race","id":"p1","data":{"recordId":"r","__proto__":{"x":1}}}');
    await h.ingest.publish(body);
    expect(JSON.parse(h.sent[0].messages[0].payload).data).toEqual(JSON.parse('{"recordId":"r","__proto__":{"x":1}}'));
    expect(h.sent[0].messages[0].payload).toContain('"__proto__":{"x":1}');
  });
});
