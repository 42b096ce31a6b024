import { GetQueueAttributesCommand, PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { createDeliverHandler } from "../../lambdas/deliver/app.ts";
import { activeSecrets, type DeliveryMessage, type Subscription } from "#core/model.ts";
import { newDeliveryId } from "#core/ids.ts";
import { CoreUnderTest, sqsEvent } from "../support/core.ts";
import { TestReceiver } from "../support/receiver.ts";

/**
 * Rules of the core that an earlier round of mutation testing found untested (issue 16): each test
 * here fails on the named bug. The services run as wired in the λs, against the embedded emulators,
 * with a clock the test moves (support/core.ts): fast enough for the unit project.
 */

const HOUR = 3_600_000;
const TENANT = "acct_rules";
const W = "/tenants/{tenantId}/webhooks";

let core: CoreUnderTest;
const receiver = new TestReceiver(() => ({ kind: "status", status: 500 }));

beforeAll(async () => {
  [core] = await Promise.all([CoreUnderTest.start(), receiver.start()]);
});
afterAll(async () => {
  await Promise.all([core?.stop(), receiver.stop()]);
});

async function createWebhook(tenantId = TENANT): Promise<{ id: string; secret: string }> {
  const res = await core.call(`POST ${W}`, { tenantId }, { url: receiver.url, eventTypes: ["*"] });
  expect(res.statusCode).toBe(201);
  return res.body;
}

const rotate = (webhookId: string, graceSeconds: number) => core.call(`POST ${W}/{webhookId}/rotate-secret`, { tenantId: TENANT, webhookId }, { graceSeconds });

/** The stored secrets of a webhook, newest first: when each was made and when it stops signing. */
async function storedSecrets(webhookId: string): Promise<{ createdAt: string; expiresAt?: string }[]> {
  const sub = await core.subscriptions.get(TENANT, webhookId);
  return sub!.secrets.map(({ createdAt, expiresAt }) => ({ createdAt, ...(expiresAt ? { expiresAt } : {}) }));
}

const iso = (ms: number) => new Date(ms).toISOString();

describe("activeSecrets: a rotated-out secret signs until its grace period ends, then never", () => {
  const sub = (secrets: Subscription["secrets"]): Subscription => ({
    tenantId: "t",
    id: "wh",
    url: "https://example.com",
    eventTypes: ["*"],
    enabled: true,
    secrets,
    createdAt: iso(0),
    updatedAt: iso(0),
  });
  const now = Date.parse("2026-06-01T12:00:00.000Z");
  const s = sub([
    { value: "new", createdAt: iso(now) },
    { value: "old", createdAt: iso(now - HOUR), expiresAt: iso(now + 1) },
    { value: "older", createdAt: iso(now - 2 * HOUR), expiresAt: iso(now) },
    { sealed: "sealed-not-opened", createdAt: iso(now - 3 * HOUR) },
  ]);

  test("before the end both sign; at the end (expiresAt = now) and after it, only the newer one", () => {
    expect(activeSecrets(s, now - 1)).toEqual(["new", "old", "older"]);
    expect(activeSecrets(s, now)).toEqual(["new", "old"]);
    expect(activeSecrets(s, now + 1)).toEqual(["new"]);
    expect(activeSecrets(s, now + 10 * HOUR)).toEqual(["new"]);
  });
});

describe("rotate-secret", () => {
  test("a second rotation keeps the older secret's earlier expiry, and a third drops what has expired", async () => {
    const t0 = core.clock.ms;
    const hook = await createWebhook();
    core.clock.advance(1_000);
    const first = await rotate(hook.id, 3_600);
    expect([first.statusCode, first.body.previousSecretsExpireAt]).toEqual([200, iso(t0 + 1_000 + HOUR)]);
    core.clock.advance(60_000);
    const second = await rotate(hook.id, 7_200);
    expect([second.statusCode, second.body.previousSecretsExpireAt]).toEqual([200, iso(t0 + 61_000 + 2 * HOUR)]);
    expect(await storedSecrets(hook.id)).toEqual([
      { createdAt: iso(t0 + 61_000) },
      { createdAt: iso(t0 + 1_000), expiresAt: iso(t0 + 61_000 + 2 * HOUR) },
      // The original secret's grace is still the first rotation's hour, not the second's two.
      { createdAt: iso(t0), expiresAt: iso(t0 + 1_000 + HOUR) },
    ]);
    // A shorter grace shortens the older ones too: none signs longer than the newest rotation says.
    core.clock.advance(HOUR); // the original secret has expired by now (t0 + 1 h + 61 s)
    const third = await rotate(hook.id, 60);
    expect(third.statusCode).toBe(200);
    const t3 = t0 + 61_000 + HOUR;
    expect(await storedSecrets(hook.id)).toEqual([
      { createdAt: iso(t3) },
      { createdAt: iso(t0 + 61_000), expiresAt: iso(t3 + 60_000) },
      { createdAt: iso(t0 + 1_000), expiresAt: iso(t3 + 60_000) },
    ]);
  });

  test("with graceSeconds 0 the old secrets stop at once: only the new one is stored", async () => {
    const hook = await createWebhook();
    expect((await rotate(hook.id, 600)).statusCode).toBe(200);
    core.clock.advance(1_000);
    const res = await rotate(hook.id, 0);
    expect([res.statusCode, res.body.previousSecretsExpireAt]).toEqual([200, null]);
    expect(await storedSecrets(hook.id)).toEqual([{ createdAt: iso(core.clock.ms) }]);
  });
});

describe("ingest idempotency window: 24 hours (in milliseconds)", () => {
  const event = (id: string, n: number) => ({
    id,
    type: "record.created",
    tenantId: "acct_idem",
    occurredAt: "2026-06-01T00:00:00.000Z",
    data: { recordId: "r", n },
  });

  test("the same id with other content is a conflict up to exactly 24 h after it was accepted, a new event 1 ms later", async () => {
    const ingest = core.ingest();
    const t0 = core.clock.ms;
    expect(await ingest.publish(event("evt_window", 1))).toEqual({ id: "evt_window", deliveries: 0 });
    for (const after of [90_000, 23 * HOUR, 24 * HOUR]) {
      core.clock.ms = t0 + after;
      await expect(ingest.publish(event("evt_window", 2))).rejects.toMatchObject({ status: 409, code: "idempotency_conflict" });
    }
    core.clock.ms = t0 + 24 * HOUR + 1;
    expect(await ingest.publish(event("evt_window", 2))).toEqual({ id: "evt_window", deliveries: 0 });
    const stored = await core.events.get("acct_idem", "evt_window");
    expect([stored?.acceptedAt, JSON.parse(stored!.payload).data]).toEqual([t0 + 24 * HOUR + 1, { recordId: "r", n: 2 }]);
  });
});

describe("delivery-log cursor", () => {
  const cursorFor = (tenantId: string, webhookId: string) =>
    Buffer.from(JSON.stringify({ pk: `${tenantId}#${webhookId}`, id: newDeliveryId(core.clock.ms) })).toString("base64url");
  const list = (webhookId: string, cursor: string) => core.call(`GET ${W}/{webhookId}/deliveries`, { tenantId: TENANT, webhookId }, undefined, { cursor });

  test("is bound to its webhook: another webhook of the same tenant refuses it, naming the cursor", async () => {
    const [a, b] = [await createWebhook(), await createWebhook()];
    const foreign = await list(b.id, cursorFor(TENANT, a.id));
    expect([foreign.statusCode, foreign.body.error.details]).toEqual([
      400,
      [{ field: "cursor", message: "is not a cursor this API returned for this webhook" }],
    ]);
    const own = await list(b.id, cursorFor(TENANT, b.id));
    expect([own.statusCode, own.body]).toEqual([200, { items: [], cursor: null }]);
  });
});

describe("subscription update", () => {
  test("of a deleted webhook writes nothing: no phantom item comes back (PATCH or failingSince after DELETE)", async () => {
    const hook = await createWebhook();
    expect((await core.call(`DELETE ${W}/{webhookId}`, { tenantId: TENANT, webhookId: hook.id })).statusCode).toBe(204);
    expect(await core.subscriptions.update(TENANT, hook.id, { enabled: false, updatedAt: iso(core.clock.ms) })).toBeUndefined();
    expect(await core.subscriptions.update(TENANT, hook.id, { failingSince: iso(core.clock.ms) })).toBeUndefined();
    expect(await core.subscriptions.get(TENANT, hook.id)).toBeUndefined();
    expect((await core.subscriptions.listByTenant(TENANT)).map((s) => s.id)).not.toContain(hook.id);
  });

  test("a PATCH racing a DELETE leaves the webhook deleted, whichever wins", async () => {
    for (let i = 0; i < 5; i++) {
      const hook = await createWebhook();
      const p = { tenantId: TENANT, webhookId: hook.id };
      const [patched, deleted] = await Promise.all([core.call(`PATCH ${W}/{webhookId}`, p, { description: "raced" }), core.call(`DELETE ${W}/{webhookId}`, p)]);
      expect(deleted.statusCode).toBe(204);
      expect([200, 404]).toContain(patched.statusCode);
      expect(await core.subscriptions.get(TENANT, hook.id)).toBeUndefined();
    }
  });
});

describe("the delivery queue", () => {
  const message = (webhookId: string, n: number): DeliveryMessage => ({
    v: 1,
    deliveryId: newDeliveryId(core.clock.ms + n),
    tenantId: "acct_queue",
    webhookId,
    eventId: `evt_q${n}`,
    eventType: "record.created",
    payload: `{"n":${n}}`,
  });

  /**
   * fauxqs keeps no MessageGroupId on a standard queue (AWS's fair queues do), so the requests the
   * adapter sends are read on their way out by an SDK middleware: the real client still sends them
   * to the emulator, and the messages are received back from it.
   */
  function recordingQueue(): { queue: SqsDeliveryQueue; sent: { command: string; input: any }[] } {
    const sqs = core.sqs;
    const sent: { command: string; input: any }[] = [];
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ command: context.commandName!, input: args.input });
        return next(args);
      },
      { step: "initialize", name: "recordSentRequests" },
    );
    return { queue: new SqsDeliveryQueue(sqs, core.config.queue), sent };
  }

  test("every message sent, and dead-lettered, carries its webhook as MessageGroupId (fair queue)", async () => {
    const { queue, sent } = recordingQueue();
    const messages = Array.from({ length: 12 }, (_, n) => message(n % 2 ? "wh_A" : "wh_B", n));
    await queue.send(messages, 3);
    const dead = message("wh_C", 99);
    await queue.deadLetter(dead);
    const entries = sent.flatMap((r) =>
      r.command === "SendMessageBatchCommand"
        ? r.input.Entries.map((e: any) => [r.input.QueueUrl, JSON.parse(e.MessageBody).deliveryId, e.MessageGroupId, e.DelaySeconds])
        : [[r.input.QueueUrl, JSON.parse(r.input.MessageBody).deliveryId, r.input.MessageGroupId, r.input.DelaySeconds]],
    );
    expect(entries.sort()).toEqual(
      [
        ...messages.map((m) => [core.config.queue.queueUrl, m.deliveryId, m.webhookId, 3]),
        [core.config.queue.dlqUrl, dead.deliveryId, "wh_C", undefined],
      ].sort(),
    );
    // And they arrived: the 12 on the delivery queue once their delay is over, the dead letter on the DLQ.
    const [dlq] = await core.receive(1, core.config.queue.dlqUrl);
    expect(JSON.parse(dlq.Body!).deliveryId).toBe(dead.deliveryId);
    const attrs = await core.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: core.config.queue.queueUrl, AttributeNames: ["ApproximateNumberOfMessagesDelayed"] }),
    );
    expect(attrs.Attributes?.ApproximateNumberOfMessagesDelayed).toBe("12");
    await core.sqs.send(new PurgeQueueCommand({ QueueUrl: core.config.queue.queueUrl }));
  });
});

describe("deliver handler", () => {
  test("answers a batch whose every record must be retried with all of them as batchItemFailures (it does not throw)", async () => {
    const hook = await createWebhook("acct_fail");
    const ingest = core.ingest();
    for (const id of ["evt_f1", "evt_f2", "evt_f3"]) {
      await ingest.publish({ id, type: "record.created", tenantId: "acct_fail", occurredAt: "2026-06-01T00:00:00.000Z", data: { recordId: id } });
    }
    const messages = await core.receive(10);
    expect(messages.map((m) => JSON.parse(m.Body!).webhookId)).toEqual([hook.id, hook.id, hook.id]);
    const handler = createDeliverHandler(core.delivery());
    const res = await handler(sqsEvent(messages, core.config.queue.queueArn), {} as never);
    expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(messages.map((m) => m.MessageId!).sort());
    expect(receiver.requests.map((r) => r.headers["webhook-id"]).sort()).toEqual(["evt_f1", "evt_f2", "evt_f3"]);
  });
});
