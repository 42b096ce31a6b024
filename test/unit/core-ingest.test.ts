import { createHash } from "node:crypto";
import { DeleteMessageCommand, GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import { deterministicDeliveryId } from "#core/ids.ts";
import { INGEST } from "#core/settings.ts";
import { CoreUnderTest } from "../support/core.ts";

/**
 * Ingest (ingest.ts) with exact answers: validation naming the field, the fan-out to the enabled
 * subscriptions whose types match, the exact messages enqueued, batches all or nothing, and a
 * republish re-enqueuing the fan-out as held-back recovery copies. On the embedded emulators, with
 * a test clock; each test has its own tenant.
 */

const W = "/tenants/{tenantId}/webhooks";
let core: CoreUnderTest;

beforeAll(async () => {
  core = await CoreUnderTest.start();
});
afterAll(() => core?.stop());

async function webhook(tenantId: string, eventTypes: string[], enabled = true): Promise<string> {
  const res = await core.call(`POST ${W}`, { tenantId }, { url: "http://127.0.0.1:9/hooks", eventTypes, enabled });
  expect(res.statusCode).toBe(201);
  return res.body.id;
}

/** Every message visible on the delivery queue now, parsed; they are deleted. */
async function drainQueue(): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < 20; i++) {
    const got = await core.receive(10, core.config.queue.queueUrl, 0);
    if (got.length === 0) return out;
    out.push(...got.map((m) => JSON.parse(m.Body!)));
    await Promise.all(got.map((m) => core.sqs.send(new DeleteMessageCommand({ QueueUrl: core.config.queue.queueUrl, ReceiptHandle: m.ReceiptHandle! }))));
  }
  throw new Error("the delivery queue never emptied");
}

async function delayedCount(): Promise<number> {
  const res = await core.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: core.config.queue.queueUrl, AttributeNames: ["ApproximateNumberOfMessagesDelayed"] }),
  );
  return Number(res.Attributes?.ApproximateNumberOfMessagesDelayed);
}

const fingerprint = (type: string, occurredAt: string | null, data: unknown) =>
  createHash("sha256")
    .update(JSON.stringify([type, occurredAt, data]))
    .digest("base64url");

describe("one event", () => {
  test("fans out to the enabled subscriptions whose types match, with one exact message each, and is stored once", async () => {
    const [all, records, files, off] = [
      await webhook("acct_i1", ["*"]),
      await webhook("acct_i1", ["record.*"]),
      await webhook("acct_i1", ["file.*"]),
      await webhook("acct_i1", ["*"], false),
    ];
    void files;
    void off;
    const acceptedAt = core.clock.ms;
    const input = { id: "evt_i1", type: "record.created", tenantId: "acct_i1", occurredAt: "2026-01-02T03:04:05Z", data: { recordId: "rec_1" } };
    expect(await core.ingest().publish(input)).toEqual({ id: "evt_i1", deliveries: 2 });
    const payload = JSON.stringify({
      id: "evt_i1",
      type: "record.created",
      timestamp: "2026-01-02T03:04:05.000Z",
      tenantId: "acct_i1",
      data: { recordId: "rec_1" },
    });
    const messages = await drainQueue();
    const expected = [all, records].map((webhookId) => ({
      v: 1,
      deliveryId: deterministicDeliveryId(acceptedAt, "acct_i1", "evt_i1", webhookId),
      tenantId: "acct_i1",
      webhookId,
      eventId: "evt_i1",
      eventType: "record.created",
      payload,
    }));
    expect(messages.sort((a, b) => a.webhookId.localeCompare(b.webhookId))).toEqual(expected.sort((a, b) => a.webhookId.localeCompare(b.webhookId)));
    const stored = await core.events.get("acct_i1", "evt_i1");
    expect(stored).toMatchObject({
      tenantId: "acct_i1",
      id: "evt_i1",
      type: "record.created",
      timestamp: "2026-01-02T03:04:05.000Z",
      acceptedAt,
      payload,
      fingerprint: fingerprint("record.created", "2026-01-02T03:04:05Z", { recordId: "rec_1" }),
    });
    expect(stored!.batch).toBeUndefined();
    expect(new Set(stored!.deliveries.map((d) => d.webhookId))).toEqual(new Set([all, records]));
  });

  test("without id or occurredAt: an evt_ id and the acceptance time; no subscription, no message", async () => {
    const res = (await core.ingest().publish({ type: "record.created", tenantId: "acct_i2", data: { recordId: "r" } })) as { id: string; deliveries: number };
    expect(res).toEqual({ id: expect.stringMatching(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/), deliveries: 0 });
    const stored = await core.events.get("acct_i2", res.id);
    expect([stored?.timestamp, stored?.fingerprint]).toEqual([new Date(core.clock.ms).toISOString(), fingerprint("record.created", null, { recordId: "r" })]);
    expect(await drainQueue()).toEqual([]);
  });

  test("published again with the same content: the same answer, and the fan-out re-enqueued as held-back recovery copies", async () => {
    const hook = await webhook("acct_i3", ["*"]);
    const input = { id: "evt_i3", type: "record.created", tenantId: "acct_i3", data: { recordId: "r" } };
    expect(await core.ingest().publish(input)).toEqual({ id: "evt_i3", deliveries: 1 });
    const [first] = await drainQueue();
    core.clock.advance(60_000);
    expect(await core.ingest().publish(input)).toEqual({ id: "evt_i3", deliveries: 1 });
    expect(await delayedCount()).toBe(1);
    const stored = await core.events.get("acct_i3", "evt_i3");
    expect(stored!.acceptedAt).toBe(core.clock.ms - 60_000);
    expect(first).toMatchObject({ webhookId: hook, eventId: "evt_i3" });
    expect(first.recovery).toBeUndefined();
  });

  test.each([
    ["not an object", "(body)", [1]],
    ["no type", "type", { tenantId: "t", data: {} }],
    ["an unknown type", "type", { type: "nope.x", tenantId: "t", data: {} }],
    ["data missing its required field", "data.recordId", { type: "record.created", tenantId: "t", data: {} }],
  ])("refused: %s, naming %s", async (_what, field, body) => {
    await expect(core.ingest().publish(body)).rejects.toMatchObject({ status: 400, details: [expect.objectContaining({ field })] });
  });

  test("data over the size limit is a 413 naming data", async () => {
    const big = { type: "record.created", tenantId: "t", data: { recordId: "r", pad: "x".repeat(INGEST.maxDataBytes) } };
    await expect(core.ingest().publish(big)).rejects.toMatchObject({ status: 413, code: "payload_too_large", details: [{ field: "data" }] });
  });
});

describe("a batch", () => {
  test("answers each event and the total; every event is stored and enqueued", async () => {
    await webhook("acct_b1", ["record.*"]);
    const events = ["a", "b", "c"].map((x) => ({ id: `evt_b1${x}`, type: "record.created", tenantId: "acct_b1", data: { recordId: x } }));
    expect(await core.ingest().publish({ events })).toEqual({ events: events.map((e) => ({ id: e.id, deliveries: 1 })), deliveries: 3 });
    expect((await drainQueue()).map((m) => m.eventId).sort()).toEqual(events.map((e) => e.id));
    for (const e of events) expect(await core.events.get("acct_b1", e.id)).toMatchObject({ id: e.id });
  });

  test.each([
    ["an unknown field", "extra", { events: [], extra: 1 }],
    ["events not an array", "events", { events: {} }],
    ["no events", "events", { events: [] }],
    [
      "too many events",
      "events",
      { events: Array.from({ length: INGEST.maxEventsPerRequest + 1 }, () => ({ type: "record.created", tenantId: "t", data: { recordId: "r" } })) },
    ],
    [
      "a bad second event",
      "events[1].data.recordId",
      {
        events: [
          { type: "record.created", tenantId: "t", data: { recordId: "r" } },
          { type: "record.created", tenantId: "t", data: {} },
        ],
      },
    ],
    ["a repeated id", "events[1].id", { events: [1, 2].map(() => ({ id: "evt_same", type: "record.created", tenantId: "t", data: { recordId: "r" } })) }],
  ])("refused whole: %s, naming %s", async (_what, field, body) => {
    await expect(core.ingest().publish(body)).rejects.toMatchObject({ status: 400, details: [expect.objectContaining({ field })] });
  });

  test("with one conflicting event is refused whole: the others are taken back, nothing is enqueued", async () => {
    await webhook("acct_b2", ["*"]);
    const old = { id: "evt_b2old", type: "record.created", tenantId: "acct_b2", data: { recordId: "old" } };
    await core.ingest().publish(old);
    await drainQueue();
    const fresh = { id: "evt_b2new", type: "record.created", tenantId: "acct_b2", data: { recordId: "new" } };
    await expect(core.ingest().publish({ events: [fresh, { ...old, data: { recordId: "changed" } }] })).rejects.toMatchObject({
      status: 409,
      code: "idempotency_conflict",
      details: [{ field: "events[1].id", message: "was already used for a different event in the last 24 hours" }],
    });
    expect(await core.events.get("acct_b2", "evt_b2new")).toBeUndefined();
    expect(await drainQueue()).toEqual([]);
    // The refused id is free: published alone, it is a first publish.
    expect(await core.ingest().publish(fresh)).toEqual({ id: "evt_b2new", deliveries: 1 });
  });
});
