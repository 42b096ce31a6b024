/**
 * DeliveryLogService (lambdas/core/deliveries.ts) on the in-memory ports of sim/ (a virtual clock,
 * no emulators): pagination defaults, replay's bounds (per call, per page), the reads it saves, the
 * refusals' exact details, and the redrive's 409. Everything under test runs inside each test
 * (per-test coverage, docs/testing.md).
 */
import { DeliveryLogService, RedriveRunningError } from "#core/deliveries.ts";
import { ApiError } from "#core/errors.ts";
import { newDeliveryId, newWebhookId } from "#core/ids.ts";
import type { DeliveryMessage, DeliveryStatus, StoredEvent, Subscription } from "#core/model.ts";
import { RedriveInProgress, type DeliveryLog, type DeliveryQueue } from "#core/ports.ts";
import { LIMITS } from "#core/settings.ts";
import { World } from "../../sim/world.ts";

const TENANT = "acct_d";

/** Each test's world starts an hour after the last one's: ids are monotonic across the process (ids.ts), so a later test's ids must not be made at an earlier time. */
let hours = 0;

async function setup(o: { deliveries?: (w: World) => DeliveryLog; queue?: (w: World) => DeliveryQueue } = {}) {
  const world = new World();
  await world.time.runUntil(world.time.now() + ++hours * 3_600_000);
  const service = new DeliveryLogService({
    events: world.events,
    deliveries: o.deliveries ? o.deliveries(world) : world.deliveries,
    queue: o.queue ? o.queue(world) : world.queue,
    clock: world.time,
    logger: world.logger,
  });
  const now = new Date(world.time.now()).toISOString();
  const sub = {
    tenantId: TENANT,
    id: newWebhookId(world.time.now()),
    url: "https://x.example.com",
    eventTypes: ["*"],
    enabled: true,
    secrets: [],
    createdAt: now,
    updatedAt: now,
  } as Subscription;
  return { world, service, sub };
}

async function storeEvent(world: World, id: string): Promise<StoredEvent> {
  const event: StoredEvent = {
    tenantId: TENANT,
    id,
    type: "record.created",
    timestamp: new Date(world.time.now()).toISOString(),
    acceptedAt: world.time.now(),
    payload: JSON.stringify({ id }),
    fingerprint: id,
    deliveries: [],
  };
  await world.events.putIfAbsent(event, world.time.now());
  return event;
}

/** `n` delivery records of `eventId` to `sub`, one a millisecond back from now (newest last). */
async function storeRecords(world: World, sub: Subscription, eventId: string, n: number, status: DeliveryStatus = "failed"): Promise<string[]> {
  const ids: string[] = [];
  const writes = [];
  for (let i = 0; i < n; i++) {
    const deliveryId = newDeliveryId(world.time.now() - n + i);
    ids.push(deliveryId);
    const message: DeliveryMessage = { v: 1, deliveryId, tenantId: TENANT, webhookId: sub.id, eventId, eventType: "record.created", payload: "{}" };
    writes.push({ message, status, roundStart: 0, nowIso: new Date(world.time.now()).toISOString() });
  }
  for (let i = 0; i < writes.length; i += 25) await world.time.drive(world.deliveries.createMany(writes.slice(i, i + 25)));
  return ids;
}

const refusal = async (work: Promise<unknown>) => {
  try {
    await work;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: err.status, ...err.toBody().error };
  }
  throw new Error("not refused");
};

/** A delivery log that records the queries the service sends (and answers at most `pageMax` items a page). */
const recording =
  (queries: { limit: number; cursor?: string; untilMs?: number; sinceMs?: number }[], pageMax = Infinity) =>
  (w: World) =>
    Object.assign(Object.create(w.deliveries) as DeliveryLog, {
      list: (t: string, id: string, q: Parameters<DeliveryLog["list"]>[2]) => {
        queries.push({ limit: q.limit, cursor: q.cursor, untilMs: q.untilMs, sinceMs: q.sinceMs });
        return w.deliveries.list(t, id, { ...q, limit: Math.min(q.limit, pageMax) });
      },
    });

describe("list and get", () => {
  test(`a page is ${LIMITS.pageSizeDefault} deliveries by default, newest first, then the cursor continues; null on the last page`, async () => {
    const { world, service, sub } = await setup();
    const ids = await storeRecords(world, sub, "evt_1", LIMITS.pageSizeDefault + 2);
    const first = await service.list(sub, {});
    expect(first.items.map((r) => r.id)).toEqual([...ids].reverse().slice(0, LIMITS.pageSizeDefault));
    expect(first.cursor).toEqual(expect.any(String));
    const rest = await service.list(sub, { cursor: first.cursor! });
    expect([rest.items.map((r) => r.id), rest.cursor]).toEqual([[ids[1], ids[0]], null]);
  });

  test("a malformed cursor and another webhook's cursor are 400s on the cursor field, each with its message", async () => {
    const { world, service, sub } = await setup();
    const other = { ...sub, id: newWebhookId(world.time.now() + 1) };
    await storeRecords(world, other, "evt_1", 3);
    const foreign = (await service.list(other, { limit: 1 })).cursor!;
    expect(await refusal(service.list(sub, { cursor: foreign }))).toMatchObject({
      status: 400,
      details: [{ field: "cursor", message: "is not a cursor this API returned for this webhook" }],
    });
    expect(await refusal(service.list(sub, { cursor: "nope" }))).toMatchObject({
      status: 400,
      details: [{ field: "cursor", message: "is not a cursor this API returned" }],
    });
    expect(service.isCursor(foreign)).toBe(true);
    expect(service.isCursor("nope")).toBe(false);
  });

  test("an error of the log other than a bad cursor is not turned into a 400", async () => {
    const { service, sub } = await setup({
      deliveries: (w) => Object.assign(Object.create(w.deliveries) as DeliveryLog, { list: () => Promise.reject(new Error("throttled")) }),
    });
    await expect(service.list(sub, {})).rejects.toThrow("throttled");
  });

  test("a malformed delivery id is a 404 that reads nothing", async () => {
    const { world, service, sub } = await setup();
    const before = world.ledger.requests.get("DynamoDB.GetItem") ?? 0;
    expect(await refusal(service.get(sub, "nope"))).toMatchObject({ status: 404, code: "not_found", message: "delivery not found" });
    expect(world.ledger.requests.get("DynamoDB.GetItem") ?? 0).toBe(before);
  });
});

describe("retry and replay", () => {
  test("retry of a delivery whose event is gone is a 410 naming the delivery", async () => {
    const { world, service, sub } = await setup();
    const [id] = await storeRecords(world, sub, "evt_gone", 1);
    expect(await refusal(service.retry(sub, id))).toEqual({
      status: 410,
      code: "event_expired",
      message: `the event of ${id} is no longer retained and cannot be replayed`,
      details: [],
    });
  });

  test("replay sends one new delivery per match, linked to it, reading each event once; events gone count as matched, not replayed", async () => {
    const { world, service, sub } = await setup();
    const event = await storeEvent(world, "evt_1");
    const ids = await storeRecords(world, sub, "evt_1", 3);
    await storeRecords(world, sub, "evt_gone", 1);
    const before = world.ledger.requests.get("DynamoDB.GetItem") ?? 0;
    const out = await service.replay(sub, { since: new Date(world.time.now() - 60_000).toISOString() });
    expect(out).toEqual({ replayed: 3, matched: 4, truncated: false, status: "failed", cursor: null });
    expect(world.ledger.requests.get("DynamoDB.GetItem")! - before).toBe(2);
    const sent = world.mainQueue.heldBodies().map((b) => JSON.parse(b) as DeliveryMessage);
    expect(sent.map((m) => m.replayOf).sort()).toEqual([...ids].sort());
    for (const m of sent) {
      expect(m).toEqual({
        v: 1,
        deliveryId: expect.stringMatching(/^dlv_/),
        tenantId: TENANT,
        webhookId: sub.id,
        eventId: event.id,
        eventType: event.type,
        payload: event.payload,
        replayOf: m.replayOf,
      });
      expect(ids).not.toContain(m.deliveryId);
    }
    expect(world.logger.lines).toContainEqual({ level: "info", message: "deliveries replayed", extra: { tenantId: TENANT, webhookId: sub.id, count: 3 } });
    await world.time.runUntil(world.time.now() + 1_000);
    // since = now is not in the future: none match.
    expect((await service.replay(sub, { since: new Date(world.time.now()).toISOString() })).matched).toBe(0);
  });

  test("replay reads pages of at most 100 up to 1,000 deliveries a call; the cursor carries on where it stopped", async () => {
    const queries: { limit: number; cursor?: string }[] = [];
    const { world, service, sub } = await setup({ deliveries: recording(queries) });
    await storeEvent(world, "evt_1");
    await storeRecords(world, sub, "evt_1", 1_001);
    const since = new Date(world.time.now() - 60_000).toISOString();
    const first = await service.replay(sub, { since });
    expect([first.replayed, first.matched, first.truncated, typeof first.cursor]).toEqual([1_000, 1_000, true, "string"]);
    expect(queries.map((q) => q.limit)).toEqual(Array(10).fill(LIMITS.pageSizeMax));
    expect(queries[0].cursor).toBeUndefined();
    queries.length = 0;
    const next = await service.replay(sub, { since, cursor: first.cursor! });
    expect(next).toEqual({ replayed: 1, matched: 1, truncated: false, status: "failed", cursor: null });
    expect(queries[0].cursor).toBe(first.cursor);
  });

  test("replay reads at most 20 pages a call, however short the log's pages are", async () => {
    const queries: { limit: number }[] = [];
    const { world, service, sub } = await setup({ deliveries: recording(queries, 1) });
    await storeEvent(world, "evt_1");
    await storeRecords(world, sub, "evt_1", 25);
    const out = await service.replay(sub, { since: new Date(world.time.now() - 60_000).toISOString() });
    expect([out.replayed, out.matched, out.truncated]).toEqual([20, 20, true]);
    expect(queries).toHaveLength(20);
    // Each page asks for what is left of the call's 1,000, at most a page's 100.
    expect(queries.map((q) => q.limit)).toEqual(Array(20).fill(LIMITS.pageSizeMax));
  });

  test("replay's last page asks only for what is left of the call's 1,000 when the log's pages come short", async () => {
    // 97 a page (as DynamoDB's 1 MB page limit can make them): ten pages hold 970, the eleventh asks for 30.
    const queries: { limit: number }[] = [];
    const { world, service, sub } = await setup({ deliveries: recording(queries, 97) });
    await storeEvent(world, "evt_1");
    await storeRecords(world, sub, "evt_1", 1_050);
    const out = await service.replay(sub, { since: new Date(world.time.now() - 60_000).toISOString() });
    expect([out.replayed, out.matched, out.truncated]).toEqual([1_000, 1_000, true]);
    expect(queries.map((q) => q.limit)).toEqual([...Array(10).fill(LIMITS.pageSizeMax), 30]);
  });

  test("replay's window: since and until as given, until defaulting to now; a since in the future is a 400", async () => {
    const queries: { limit: number; sinceMs?: number; untilMs?: number }[] = [];
    const { world, service, sub } = await setup({ deliveries: recording(queries) });
    const now = world.time.now();
    await service.replay(sub, { since: new Date(now - 5_000).toISOString(), until: new Date(now - 1_000).toISOString() });
    await service.replay(sub, { since: new Date(now).toISOString() });
    expect(queries.map((q) => [q.sinceMs, q.untilMs])).toEqual([
      [now - 5_000, now - 1_000],
      [now, now],
    ]);
    expect(await refusal(service.replay(sub, { since: new Date(now + 1).toISOString() }))).toMatchObject({
      status: 400,
      details: [{ field: "since", message: "must not be in the future" }],
    });
  });
});

describe("event lookup and the queues", () => {
  test("an event with its delivery to each webhook, the record absent until the first attempt; a malformed id is a 404 that reads nothing", async () => {
    const { world, service, sub } = await setup();
    const [attempted] = await storeRecords(world, sub, "evt_1", 1);
    const waiting = newDeliveryId(world.time.now());
    const other = newWebhookId(world.time.now());
    const event = {
      ...(await storeEvent(world, "evt_1")),
      deliveries: [
        { deliveryId: attempted, webhookId: sub.id },
        { deliveryId: waiting, webhookId: other },
      ],
    };
    await world.events.putIfAbsent(event, world.time.now() + 1);
    const found = await service.lookupEvent(TENANT, "evt_1");
    expect(found.deliveries).toEqual([
      { deliveryId: attempted, webhookId: sub.id, record: expect.objectContaining({ id: attempted, status: "failed" }) },
      { deliveryId: waiting, webhookId: other, record: undefined },
    ]);
    const before = world.ledger.requests.get("DynamoDB.GetItem") ?? 0;
    expect(await refusal(service.lookupEvent(TENANT, "bad id!"))).toMatchObject({ status: 404, message: "event not found" });
    expect(world.ledger.requests.get("DynamoDB.GetItem") ?? 0).toBe(before);
  });

  test("the DLQ's and the queues' depths are the queue's", async () => {
    const { world, service } = await setup();
    await world.queue.deadLetter({ v: 1, deliveryId: "dlv_1", tenantId: TENANT, webhookId: "wh_1", eventId: "e", eventType: "t", payload: "{}" });
    expect(await service.dlqDepth()).toEqual({ visible: 1, inFlight: 0 });
    expect(await service.queueDepths()).toEqual({ delivery: { visible: 0, inFlight: 0, delayed: 0 }, dlq: { visible: 1, inFlight: 0 } });
    expect(await service.redrive()).toEqual({ moved: 1 });
  });

  test("a redrive while one runs is a 409 naming the running task; any other error is passed on", async () => {
    let fail: Error = new RedriveInProgress({ taskId: "t1", status: "RUNNING", startedAt: "2026-01-01T00:00:00.000Z", moved: 3, toMove: 9 });
    const { service } = await setup({ queue: (w) => Object.assign(Object.create(w.queue) as DeliveryQueue, { redrive: () => Promise.reject(fail) }) });
    const err = await service.redrive().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedriveRunningError);
    expect([(err as ApiError).status, (err as ApiError).toBody()]).toEqual([
      409,
      {
        error: {
          code: "redrive_running",
          message: "a DLQ redrive is already running (task t1, started 2026-01-01T00:00:00.000Z); wait for it to finish (GET /admin/dlq shows the depth)",
          details: [],
        },
        task: { taskId: "t1", status: "RUNNING", startedAt: "2026-01-01T00:00:00.000Z", moved: 3, toMove: 9 },
      },
    ]);
    fail = new RedriveInProgress({ status: "RUNNING" });
    expect((await service.redrive().catch((e: ApiError) => e.toBody())) as object).toEqual({
      error: { code: "redrive_running", message: "a DLQ redrive is already running; wait for it to finish (GET /admin/dlq shows the depth)", details: [] },
      task: { taskId: null, status: "RUNNING", startedAt: null, moved: null, toMove: null },
    });
    expect(new RedriveRunningError({ taskId: "t2", status: "RUNNING" }).message).toContain("(task t2, started earlier)");
    fail = new Error("AccessDenied");
    await expect(service.redrive()).rejects.toThrow("AccessDenied");
  });
});
