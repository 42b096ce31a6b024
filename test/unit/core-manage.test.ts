import { createDeliverHandler } from "../../lambdas/deliver/app.ts";
import { DeleteMessageCommand } from "@aws-sdk/client-sqs";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "#adapters/dynamodb.ts";
import { EVENT_TYPE_NAMES, findEventType } from "#core/catalogue.ts";
import { LIMITS } from "#core/settings.ts";
import { CoreUnderTest, sqsEvent } from "../support/core.ts";
import { TestReceiver } from "../support/receiver.ts";

/**
 * The management API (lambdas/manage/routes.ts over the core's webhooks.ts and deliveries.ts) with
 * exact answers: every route on the real stores (the embedded emulators), a clock the test moves,
 * deliveries made by the deliver handler on messages the test receives itself. Each test uses its
 * own tenant and runs alone.
 */

const W = "/tenants/{tenantId}/webhooks";
let core: CoreUnderTest;
const receiver = new TestReceiver(() => ({ kind: "status", status: 200, body: "ok" }));

beforeAll(async () => {
  [core] = await Promise.all([CoreUnderTest.start(), receiver.start()]);
});
afterAll(async () => {
  await Promise.all([core?.stop(), receiver.stop()]);
});

const iso = (ms: number) => new Date(ms).toISOString();
const p = (tenantId: string, webhookId?: string, deliveryId?: string) => ({
  tenantId,
  ...(webhookId ? { webhookId } : {}),
  ...(deliveryId ? { deliveryId } : {}),
});

/** Receives everything on the delivery queue and hands it to the deliver handler, until it is empty. */
async function deliverAll(): Promise<number> {
  const handler = createDeliverHandler(core.delivery());
  let n = 0;
  for (let round = 0; round < 20; round++) {
    const messages = await core.receive(10, core.config.queue.queueUrl, 0);
    if (messages.length === 0) return n;
    const res = await handler(sqsEvent(messages, core.config.queue.queueArn), {} as never);
    expect(res.batchItemFailures).toEqual([]);
    n += messages.length;
  }
  throw new Error("the delivery queue never emptied");
}

describe("webhooks", () => {
  test("create answers the webhook and its secret, once; get and list never show a secret", async () => {
    const now = core.clock.ms;
    const res = await core.call(`POST ${W}`, p("acct_m1"), { url: receiver.url, eventTypes: ["record.*", "record.*", "file.ingested"], description: "d" });
    expect(res.statusCode).toBe(201);
    const { id, secret, ...rest } = res.body;
    expect(id).toMatch(/^wh_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const expected = {
      id,
      tenantId: "acct_m1",
      url: receiver.url,
      eventTypes: ["record.*", "file.ingested"],
      description: "d",
      enabled: true,
      paused: false,
      rateLimit: null,
      disabledReason: null,
      disabledAt: null,
      createdAt: iso(now),
      updatedAt: iso(now),
      health: { state: "closed", consecutiveFailures: 0, parked: 0 },
    };
    expect({ id, ...rest }).toEqual(expected);
    expect(await core.call(`GET ${W}/{webhookId}`, p("acct_m1", id))).toEqual({ statusCode: 200, body: expected });
    expect(await core.call(`GET ${W}`, p("acct_m1"))).toEqual({ statusCode: 200, body: { items: [expected], cursor: null } });
    // Stored sealed: no plaintext in the item.
    const stored = await core.subscriptions.get("acct_m1", id);
    expect(stored!.secrets.map((s) => [s.value, typeof s.sealed, s.createdAt])).toEqual([[undefined, "string", iso(now)]]);
  });

  test("created disabled: the reason and time say so; without a description it is null", async () => {
    const res = await core.call(`POST ${W}`, p("acct_m2"), { url: receiver.url, eventTypes: ["*"], enabled: false });
    expect(res.body).toMatchObject({ enabled: false, disabledReason: "created disabled", disabledAt: iso(core.clock.ms), description: null });
  });

  test("unknown event types are refused, naming each one's index", async () => {
    const res = await core.call(`POST ${W}`, p("acct_m3"), { url: receiver.url, eventTypes: ["record.created", "nope", "record.nope"] });
    expect([res.statusCode, res.body.error.code, res.body.error.details.map((d: any) => d.field)]).toEqual([
      400,
      "unknown_event_type",
      ["eventTypes[1]", "eventTypes[2]"],
    ]);
  });

  test("list: newest first, pages of `limit` with a cursor, the last page's cursor null; a bad cursor is a 400", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      core.clock.advance(1_000);
      ids.push((await core.call(`POST ${W}`, p("acct_m4"), { url: receiver.url, eventTypes: ["*"] })).body.id);
    }
    const [third, second, first] = [...ids].reverse();
    const page1 = await core.call(`GET ${W}`, p("acct_m4"), undefined, { limit: "2" });
    expect([page1.body.items.map((w: any) => w.id), page1.body.cursor]).toEqual([[third, second], second]);
    const page2 = await core.call(`GET ${W}`, p("acct_m4"), undefined, { limit: "2", cursor: second });
    expect([page2.body.items.map((w: any) => w.id), page2.body.cursor]).toEqual([[first], null]);
    const exact = await core.call(`GET ${W}`, p("acct_m4"), undefined, { limit: "3" });
    expect([exact.body.items.length, exact.body.cursor]).toEqual([3, null]);
    const past = await core.call(`GET ${W}`, p("acct_m4"), undefined, { cursor: first });
    expect(past.body).toEqual({ items: [], cursor: null });
    const bad = await core.call(`GET ${W}`, p("acct_m4"), undefined, { cursor: "nope" });
    expect([bad.statusCode, bad.body.error.details]).toEqual([400, [{ field: "cursor", message: "is not a cursor this API returned" }]]);
    const big = await core.call(`GET ${W}`, p("acct_m4"), undefined, { limit: String(LIMITS.pageSizeMax + 1) });
    expect([big.statusCode, big.body.error.details[0].field]).toEqual([400, "limit"]);
  });

  test("patch: disabling records why and when, enabling clears it (and the failing streak); description null removes it", async () => {
    const hook = (await core.call(`POST ${W}`, p("acct_m5"), { url: receiver.url, eventTypes: ["*"], description: "x" })).body;
    core.clock.advance(5_000);
    const off = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m5", hook.id), { enabled: false });
    expect(off.body).toMatchObject({
      enabled: false,
      disabledReason: "disabled through the API",
      disabledAt: iso(core.clock.ms),
      updatedAt: iso(core.clock.ms),
      createdAt: hook.createdAt,
    });
    // Disabling what is disabled changes neither the reason nor its time.
    core.clock.advance(1_000);
    const again = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m5", hook.id), { enabled: false });
    expect(again.body).toMatchObject({ enabled: false, disabledAt: off.body.disabledAt, updatedAt: iso(core.clock.ms) });
    await core.subscriptions.update("acct_m5", hook.id, { failingSince: iso(core.clock.ms) });
    const on = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m5", hook.id), { enabled: true, description: null, eventTypes: ["file.*", "file.*"] });
    expect(on.body).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null, description: null, eventTypes: ["file.*"] });
    expect((await core.subscriptions.get("acct_m5", hook.id))!.failingSince).toBeUndefined();
    // Enabling what is enabled clears nothing it does not need to.
    await core.subscriptions.update("acct_m5", hook.id, { failingSince: iso(core.clock.ms) });
    expect((await core.call(`PATCH ${W}/{webhookId}`, p("acct_m5", hook.id), { enabled: true })).statusCode).toBe(200);
    expect((await core.subscriptions.get("acct_m5", hook.id))!.failingSince).toBe(iso(core.clock.ms));
    const empty = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m5", hook.id), {});
    expect([empty.statusCode, empty.body.error.details[0].message]).toEqual([
      400,
      "must change at least one of url, eventTypes, description, enabled, paused, rateLimit",
    ]);
  });

  test("paused and rateLimit: set on create, changed and removed by PATCH; refused out of range, nothing changed", async () => {
    const created = await core.call(`POST ${W}`, p("acct_m7"), { url: receiver.url, eventTypes: ["*"], paused: true, rateLimit: 5 });
    expect(created.body).toMatchObject({ paused: true, rateLimit: 5, enabled: true, health: { state: "closed", consecutiveFailures: 0, parked: 0 } });
    const id = created.body.id;
    expect(await core.subscriptions.get("acct_m7", id)).toMatchObject({ paused: true, rateLimit: 5 });
    const limited = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m7", id), { rateLimit: 1_000 });
    expect(limited.body).toMatchObject({ paused: true, rateLimit: 1_000 });
    const unlimited = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m7", id), { rateLimit: null });
    expect(unlimited.body).toMatchObject({ paused: true, rateLimit: null });
    expect((await core.subscriptions.get("acct_m7", id))!.rateLimit).toBeUndefined();
    const before = (await core.call(`GET ${W}/{webhookId}`, p("acct_m7", id))).body;
    const refusals: [unknown, string][] = [
      [{ rateLimit: 0 }, "must be at least 1"],
      [{ rateLimit: -3 }, "must be at least 1"],
      [{ rateLimit: 1e9 }, "must be at most 1000"],
      [{ rateLimit: 1_001 }, "must be at most 1000"],
      [{ rateLimit: 1.5 }, "must be a whole number of deliveries per second"],
      [{ rateLimit: "5" }, "must be a whole number of deliveries per second, from 1 to 1000"],
      [{ paused: "false" }, "must be true or false"],
      [{ paused: null }, "must be true or false"],
    ];
    for (const [body, message] of refusals) {
      const res = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m7", id), body);
      const field = Object.keys(body as object)[0];
      expect([body, res.statusCode, res.body.error.code, res.body.error.details]).toEqual([body, 400, "validation_failed", [{ field, message }]]);
      const onCreate = await core.call(`POST ${W}`, p("acct_m7"), { url: receiver.url, eventTypes: ["*"], ...(body as object) });
      expect([body, onCreate.statusCode, onCreate.body.error.details]).toEqual([body, 400, [{ field, message }]]);
    }
    // On create, no limit is the absence of one: null is refused.
    expect((await core.call(`POST ${W}`, p("acct_m7"), { url: receiver.url, eventTypes: ["*"], rateLimit: null })).statusCode).toBe(400);
    expect((await core.call(`GET ${W}/{webhookId}`, p("acct_m7", id))).body).toEqual(before);
    expect((await core.call(`GET ${W}`, p("acct_m7"))).body.items.map((w: any) => w.id)).toEqual([id]);
  });

  test("resuming (paused true → false) or re-enabling makes the webhook due for the release λ at once; other changes do not", async () => {
    const stored = (id: string) => core.subscriptions.get("acct_m8", id);
    const id = (await core.call(`POST ${W}`, p("acct_m8"), { url: receiver.url, eventTypes: ["*"] })).body.id;
    const paused = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m8", id), { paused: true });
    expect(paused.body).toMatchObject({ paused: true });
    expect((await stored(id))!.wake).toBeUndefined();
    core.clock.advance(7_000);
    const resumed = await core.call(`PATCH ${W}/{webhookId}`, p("acct_m8", id), { paused: false });
    expect(resumed.body).toMatchObject({ paused: false, updatedAt: iso(core.clock.ms) });
    expect(resumed.body).not.toHaveProperty("wake");
    expect(await stored(id)).toMatchObject({ paused: false, wake: "due", wakeAt: iso(core.clock.ms) });

    // Not paused: `paused: false` is no resume, and a description change wakes nothing.
    const calm = (await core.call(`POST ${W}`, p("acct_m8"), { url: receiver.url, eventTypes: ["*"] })).body.id;
    await core.call(`PATCH ${W}/{webhookId}`, p("acct_m8", calm), { paused: false, description: "x" });
    expect((await stored(calm))!.wake).toBeUndefined();

    // Re-enabled: due at once as well; disabling does not wake it.
    await core.call(`PATCH ${W}/{webhookId}`, p("acct_m8", calm), { enabled: false });
    expect((await stored(calm))!.wake).toBeUndefined();
    core.clock.advance(3_000);
    await core.call(`PATCH ${W}/{webhookId}`, p("acct_m8", calm), { enabled: true });
    expect(await stored(calm)).toMatchObject({ enabled: true, wake: "due", wakeAt: iso(core.clock.ms) });
  });

  test("GET, list, PATCH and rotate answer the webhook's health as its item holds it", async () => {
    const id = (await core.call(`POST ${W}`, p("acct_m9"), { url: receiver.url, eventTypes: ["*"] })).body.id;
    // What the deliver λ writes when the circuit opens (the HealthStore's fields).
    const open = { circuit: "open", consecutiveFailures: 5, openedAt: iso(core.clock.ms), nextProbeAt: iso(core.clock.ms + 60_000), parkedCount: 12 };
    await documentClient(core.config.dynamodb).send(
      new UpdateCommand({
        TableName: core.config.tables.subscriptions,
        Key: { tenantId: "acct_m9", id },
        UpdateExpression: "SET circuit = :c, consecutiveFailures = :f, openedAt = :o, nextProbeAt = :n, parkedCount = :p",
        ExpressionAttributeValues: { ":c": open.circuit, ":f": open.consecutiveFailures, ":o": open.openedAt, ":n": open.nextProbeAt, ":p": open.parkedCount },
      }),
    );
    const health = { state: "open", consecutiveFailures: 5, openedAt: open.openedAt, nextProbeAt: open.nextProbeAt, parked: 12 };
    expect((await core.call(`GET ${W}/{webhookId}`, p("acct_m9", id))).body.health).toEqual(health);
    expect((await core.call(`GET ${W}`, p("acct_m9"))).body.items[0].health).toEqual(health);
    expect((await core.call(`PATCH ${W}/{webhookId}`, p("acct_m9", id), { paused: true })).body.health).toEqual(health);
    expect((await core.call(`POST ${W}/{webhookId}/rotate-secret`, p("acct_m9", id), { graceSeconds: 0 })).body.health).toEqual(health);
  });

  test("delete: 204, then the webhook is a 404 on get, patch and a second delete; a malformed id is a 404", async () => {
    const hook = (await core.call(`POST ${W}`, p("acct_m6"), { url: receiver.url, eventTypes: ["*"] })).body;
    expect(await core.call(`DELETE ${W}/{webhookId}`, p("acct_m6", hook.id))).toEqual({ statusCode: 204 });
    for (const [route, body] of [[`GET ${W}/{webhookId}`], [`PATCH ${W}/{webhookId}`, { enabled: true }], [`DELETE ${W}/{webhookId}`]] as const) {
      const res = await core.call(route, p("acct_m6", hook.id), body);
      expect([route, res.statusCode, res.body.error.code]).toEqual([route, 404, "not_found"]);
    }
    expect((await core.call(`GET ${W}/{webhookId}`, p("acct_m6", "wh_nope"))).statusCode).toBe(404);
  });
});

describe("test sends, the delivery log, retry and replay", () => {
  test("POST …/test enqueues the catalogue's example of the first type the webhook takes; refused while disabled", async () => {
    const hook = (await core.call(`POST ${W}`, p("acct_t1"), { url: receiver.url, eventTypes: ["file.*"] })).body;
    const sent = await core.call(`POST ${W}/{webhookId}/test`, p("acct_t1", hook.id), {});
    const type = EVENT_TYPE_NAMES.find((t) => t.startsWith("file."))!;
    expect(sent.statusCode).toBe(202);
    expect(sent.body).toEqual({ eventId: expect.stringMatching(/^evt_/), deliveryId: expect.stringMatching(/^dlv_/), type });
    const [m] = await core.receive(10);
    const message = JSON.parse(m.Body!);
    expect(message).toMatchObject({
      v: 1,
      deliveryId: sent.body.deliveryId,
      tenantId: "acct_t1",
      webhookId: hook.id,
      eventId: sent.body.eventId,
      eventType: type,
    });
    expect(JSON.parse(message.payload)).toEqual({
      id: sent.body.eventId,
      type,
      timestamp: iso(core.clock.ms),
      tenantId: "acct_t1",
      data: findEventType(type)!.example,
    });
    await core.sqs.send(
      new (await import("@aws-sdk/client-sqs")).DeleteMessageCommand({ QueueUrl: core.config.queue.queueUrl, ReceiptHandle: m.ReceiptHandle! }),
    );
    const unknown = await core.call(`POST ${W}/{webhookId}/test`, p("acct_t1", hook.id), { type: "nope" });
    expect([unknown.statusCode, unknown.body.error.code, unknown.body.error.details[0].field]).toEqual([400, "unknown_event_type", "type"]);
    await core.call(`PATCH ${W}/{webhookId}`, p("acct_t1", hook.id), { enabled: false });
    const off = await core.call(`POST ${W}/{webhookId}/test`, p("acct_t1", hook.id), {});
    expect([off.statusCode, off.body.error.code]).toEqual([409, "webhook_disabled"]);
  });

  test("the log lists what was delivered (last attempt only), one delivery in full; retry and replay send the same event again", async () => {
    const hook = (await core.call(`POST ${W}`, p("acct_t2"), { url: receiver.url, eventTypes: ["*"] })).body;
    const sent = await core.call(`POST ${W}/{webhookId}/test`, p("acct_t2", hook.id), { type: "record.created" });
    expect(await deliverAll()).toBe(1);
    const list = await core.call(`GET ${W}/{webhookId}/deliveries`, p("acct_t2", hook.id));
    expect(list.statusCode).toBe(200);
    expect(list.body.cursor).toBeNull();
    expect(list.body.items).toHaveLength(1);
    const [item] = list.body.items;
    expect(item).toMatchObject({
      id: sent.body.deliveryId,
      webhookId: hook.id,
      eventId: sent.body.eventId,
      eventType: "record.created",
      status: "succeeded",
      attemptCount: 1,
      nextAttemptAt: null,
      reason: null,
      replayOf: null,
      lastAttempt: { n: 1, statusCode: 200, error: null, responseExcerpt: "ok" },
    });
    const full = await core.call(`GET ${W}/{webhookId}/deliveries/{deliveryId}`, p("acct_t2", hook.id, item.id));
    const { lastAttempt, ...summary } = item;
    expect(full).toEqual({ statusCode: 200, body: { ...summary, attempts: [lastAttempt] } });
    expect((await core.call(`GET ${W}/{webhookId}/deliveries`, p("acct_t2", hook.id), undefined, { status: "failed" })).body.items).toEqual([]);
    expect((await core.call(`GET ${W}/{webhookId}/deliveries/{deliveryId}`, p("acct_t2", hook.id, "dlv_nope"))).statusCode).toBe(404);

    core.clock.advance(1_000);
    const retried = await core.call(`POST ${W}/{webhookId}/deliveries/{deliveryId}/retry`, p("acct_t2", hook.id, item.id));
    expect([retried.statusCode, retried.body.replayOf]).toEqual([202, item.id]);
    expect(await deliverAll()).toBe(1);
    const replayedRecord = (await core.call(`GET ${W}/{webhookId}/deliveries/{deliveryId}`, p("acct_t2", hook.id, retried.body.deliveryId))).body;
    expect(replayedRecord).toMatchObject({ eventId: sent.body.eventId, replayOf: item.id, status: "succeeded" });
    const bodies = receiver.requests.filter((r) => r.headers["webhook-id"] === sent.body.eventId).map((r) => r.body);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]).toBe(bodies[0]);

    // Replay of the succeeded ones since before the first: both match, both are sent again.
    core.clock.advance(1_000);
    const since = iso(core.clock.ms - 60_000);
    const replay = await core.call(`POST ${W}/{webhookId}/replay`, p("acct_t2", hook.id), { since, status: "succeeded" });
    expect(replay).toEqual({ statusCode: 202, body: { replayed: 2, matched: 2, truncated: false, status: "succeeded", cursor: null } });
    expect(await deliverAll()).toBe(2);
    // The default status is failed: none here.
    const none = await core.call(`POST ${W}/{webhookId}/replay`, p("acct_t2", hook.id), { since });
    expect(none.body).toEqual({ replayed: 0, matched: 0, truncated: false, status: "failed", cursor: null });
    const future = await core.call(`POST ${W}/{webhookId}/replay`, p("acct_t2", hook.id), { since: iso(core.clock.ms + 60_000) });
    expect([future.statusCode, future.body.error.details]).toEqual([400, [{ field: "since", message: "must not be in the future" }]]);
  });

  test("the DLQ's depth, the queues' depths and a redrive of an empty DLQ", async () => {
    expect(await core.call("GET /admin/dlq", {})).toEqual({ statusCode: 200, body: { visible: 0, inFlight: 0 } });
    // Earlier tests may leave messages in flight: counted from where they stand.
    const start = await core.call("GET /admin/queues", {});
    expect(start.statusCode).toBe(200);
    expect(start.body).toEqual({
      delivery: { visible: 0, inFlight: expect.any(Number), delayed: 0 },
      slow: { visible: 0, inFlight: 0, delayed: 0 },
      dlq: { visible: 0, inFlight: 0 },
    });
    const inFlight = start.body.delivery.inFlight;
    const depths = (visible: number, more: number) => ({
      statusCode: 200,
      body: { delivery: { visible, inFlight: inFlight + more, delayed: 0 }, slow: { visible: 0, inFlight: 0, delayed: 0 }, dlq: { visible: 0, inFlight: 0 } },
    });
    // A test send is one message on the delivery queue: visible, then in flight once received.
    const hook = (await core.call(`POST ${W}`, p("acct_q1"), { url: receiver.url, eventTypes: ["*"] })).body;
    await core.call(`POST ${W}/{webhookId}/test`, p("acct_q1", hook.id), {});
    expect(await core.call("GET /admin/queues", {})).toEqual(depths(1, 0));
    const [m] = await core.receive(10);
    expect(await core.call("GET /admin/queues", {})).toEqual(depths(0, 1));
    await core.sqs.send(new DeleteMessageCommand({ QueueUrl: core.config.queue.queueUrl, ReceiptHandle: m.ReceiptHandle! }));
    expect(await core.call("GET /admin/queues", {})).toEqual(depths(0, 0));
    const redrive = await core.call("POST /admin/redrive", {});
    expect(redrive.statusCode).toBe(202);
  });
});
