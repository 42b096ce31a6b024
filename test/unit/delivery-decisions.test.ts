import type { DeliveryMessage, Subscription } from "#core/model.ts";
import { RetrySchedule } from "#core/retry.ts";
import type { World } from "../../sim/world.ts";
import { publish, setup, step, TENANT } from "../support/delivery-world.ts";
import type { Endpoint } from "../../sim/ports/http.ts";
import { HEALTH } from "#core/settings.ts";
import type { AttemptReport } from "#core/delivery.ts";
import { jest } from "@jest/globals";

const only = async (world: World, sub: Subscription) => (await world.deliveries.list(TENANT, sub.id, { limit: 10 })).items[0];
const fail500: Endpoint = () => ({ latencyMs: 50, status: 500, body: "boom" });
const ok: Endpoint = () => ({ latencyMs: 50, status: 200, body: "ok" });

describe("the delivery decision on AWS-faithful in-memory ports", () => {
  test("fresh: a first receive soon after ingest is attempted without reading its record, and logged with one batch write", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    const before = world.ledger.requests.get("DynamoDB.BatchGetItem") ?? 0;
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [r.batch[0].messageId], retried: [], errors: [] });
    // One BatchGetItem: the subscription only. One BatchWriteItem: the record.
    expect((world.ledger.requests.get("DynamoDB.BatchGetItem") ?? 0) - before).toBe(1);
    expect(world.ledger.requests.get("DynamoDB.BatchWriteItem")).toBe(1);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 1, attempts: [{ n: 1, statusCode: 200, responseExcerpt: "ok" }] });
    expect(world.mainQueue.depth).toBe(0);
    expect(world.ledger.violations).toEqual([]);
  });

  test("retry: a failed attempt is logged pending with nextAttemptAt, hidden exactly that long, then attempted again", async () => {
    const { world, sub } = await setup(fail500);
    await publish(world);
    const first = await step(world, 0);
    expect(first).toMatchObject({ deleted: [], retried: [first.batch[0].messageId], errors: [] });
    const record = await only(world, sub);
    expect(record).toMatchObject({ status: "pending", attemptCount: 1 });
    const dueIn = Date.parse(record.nextAttemptAt!) - world.time.now();
    expect(dueIn).toBeGreaterThanOrEqual(4_000); // 5 s ± 20 %
    expect(dueIn).toBeLessThanOrEqual(6_000);
    await world.time.runUntil(world.time.now() + dueIn - 100);
    expect(world.receive(10)).toEqual([]);
    const second = await step(world, 0.2);
    expect(second.batch).toHaveLength(1);
    expect(await only(world, sub)).toMatchObject({ status: "pending", attemptCount: 2 });
    expect(world.sender.posts).toBe(2);
  });

  test("exhausted: after the last attempt the message goes to the DLQ with the record's deadLetteredAt mark", async () => {
    const { world, sub } = await setup(fail500, { schedule: RetrySchedule.parse("1s") });
    await publish(world);
    await step(world, 0);
    const last = await step(world, 2);
    expect(last.deleted).toHaveLength(1);
    const record = await only(world, sub);
    expect(record).toMatchObject({ status: "failed", attemptCount: 2, reason: "retry schedule exhausted" });
    const [dlqBody] = world.dlqQueue.heldBodies();
    expect(JSON.parse(dlqBody)).toMatchObject({ deliveryId: record.id, deadLetteredAt: record.deadLetteredAt });
    expect(world.metrics.get("DlqMoves")).toBe(1);
  });

  test("redriven: a DLQ message starts a fresh round on the same record; a stale copy of the first round is dropped", async () => {
    let up = false;
    const { world, sub } = await setup(() => (up ? { latencyMs: 20, status: 200 } : { latencyMs: 20, status: 500 }), { schedule: RetrySchedule.parse("5m") });
    await publish(world);
    const original = (await step(world, 0)).batch[0].body;
    await step(world, 400);
    expect(await world.queue.redrive()).toEqual({ moved: 1 });
    // The redriven round fails once more (attempt 3, pending in round 2), then a stale first-round copy arrives.
    const third = await step(world, 0);
    expect(third.retried).toHaveLength(1);
    expect(await only(world, sub)).toMatchObject({ status: "pending", attemptCount: 3, roundStart: 2 });
    await world.queue.send([JSON.parse(original) as DeliveryMessage]);
    const stale = await step(world, 60);
    expect(stale.batch).toHaveLength(1);
    expect(stale.deleted).toEqual([stale.batch[0].messageId]);
    expect(world.sender.posts).toBe(3);
    up = true;
    await step(world, 400);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 4, roundStart: 2 });
  });

  test("recovery copy: an ingest retry's copy of a delivery that exists is dropped; an event first seen by the retry is delivered", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    await step(world, 0);
    await publish(world); // the same id again: a recovery copy, delayed 60 s
    expect(world.receive(10)).toEqual([]);
    const copy = await step(world, 61);
    expect(copy.deleted).toHaveLength(1);
    expect(world.sender.posts).toBe(1);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 1 });
  });

  test("skipped: a disabled subscription's delivery is not sent and is logged skipped", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    await world.subscriptions.update(TENANT, sub.id, { enabled: false });
    await step(world, 2);
    expect(world.sender.posts).toBe(0);
    expect(await only(world, sub)).toMatchObject({ status: "skipped", attemptCount: 0, reason: "subscription is disabled" });
  });

  test("410 Gone: the delivery fails at once and the webhook is disabled with the reason; nothing goes to the DLQ", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: 20, status: 410 }));
    await publish(world);
    const r = await step(world, 0);
    expect(r.deleted).toHaveLength(1);
    expect(await only(world, sub)).toMatchObject({ status: "failed", attemptCount: 1, reason: "endpoint answered 410 Gone" });
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ enabled: false, disabledReason: "the endpoint answered 410 Gone" });
    expect(world.dlqQueue.depth).toBe(0);
  });

  test("auto-disable: failing for longer than the setting disables the webhook and fails the delivery", async () => {
    const { world, sub } = await setup(fail500, { autoDisableAfterSeconds: 30 });
    await publish(world);
    await step(world, 0); // failingSince set
    await step(world, 6); // 6 s in: still retrying
    expect(await only(world, sub)).toMatchObject({ status: "pending", attemptCount: 2 });
    const r = await step(world, 40);
    expect(r.deleted).toHaveLength(1);
    expect(await only(world, sub)).toMatchObject({ status: "failed", attemptCount: 3, reason: "subscription auto-disabled" });
    expect((await world.subscriptions.get(TENANT, sub.id))?.enabled).toBe(false);
  });

  test("defect 1: Retry-After at the 12 h edge never asks SQS for visibility past 12 h from the receive; the message is held, then attempted when due", async () => {
    let calls = 0;
    const { world, sub } = await setup(() => (++calls === 1 ? { latencyMs: 100, status: 429, retryAfter: "43200" } : { latencyMs: 100, status: 200 }), {
      schedule: new RetrySchedule([43_200]),
      // As if the queue held every backoff (the default parks those past 15 min; see "long backoffs" below).
      policy: { maxQueuedBackoffSeconds: 43_200 },
    });
    await publish(world);
    const first = await step(world, 0);
    expect(first.retried).toHaveLength(1);
    const due = Date.parse((await only(world, sub)).nextAttemptAt!);
    expect(due - world.time.now()).toBe(43_200_000);
    // No refused ChangeMessageVisibility: the schedule did not collapse to the queue's 180 s.
    expect(world.ledger.violations).toEqual([]);
    await world.time.runUntil(world.time.now() + 3_600_000);
    expect(world.receive(10)).toEqual([]);
    // Back before it is due (the receive had less than 12 h left): hidden again, not attempted.
    await world.time.runUntil(due - 120_000);
    const held = await step(world, 0);
    expect(held.batch).toHaveLength(1);
    expect(held.retried).toHaveLength(1);
    expect(world.sender.posts).toBe(1);
    expect(world.metrics.get("BackoffsExtended")).toBe(1);
    await world.time.runUntil(due - 1_000);
    expect(world.receive(10)).toEqual([]);
    const done = await step(world, 1);
    expect(done.deleted).toHaveLength(1);
    expect(world.sender.posts).toBe(2);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 2 });
    expect(world.ledger.violations).toEqual([]);
  });

  test("defect 2: a failed record write keeps the attempt's backoff (not the queue's 180 s) and counts BookkeepingWriteFailures", async () => {
    const { world } = await setup(fail500, { schedule: new RetrySchedule([3_600]) });
    await publish(world);
    // The backoff would be parked; parking is a write too, and fails: the message is held for the backoff instead.
    world.dynamo.writeOutage = { tables: ["deliveries"], untilMs: world.time.now() + 2 * 3_600_000 };
    const r = await step(world, 0);
    expect(r).toMatchObject({ retried: [r.batch[0].messageId], errors: [] });
    expect(world.metrics.get("BookkeepingWriteFailures")).toBe(1);
    await world.time.runUntil(world.time.now() + 2_800_000); // 3600 s − 20 %: not back yet
    expect(world.receive(10)).toEqual([]);
    expect(world.sender.posts).toBe(1);
  });

  test("defect 2: a success whose first-attempt record cannot be written is done (not POSTed again), and counted", async () => {
    const { world } = await setup(ok);
    await publish(world);
    world.dynamo.writeOutage = { tables: ["deliveries"], untilMs: world.time.now() + 3_600_000 };
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [r.batch[0].messageId], errors: [] });
    expect(world.metrics.get("BookkeepingWriteFailures")).toBe(1);
    await world.time.runUntil(world.time.now() + 600_000);
    expect(world.receive(10)).toEqual([]);
    expect(world.sender.posts).toBe(1);
  });

  test("defect 5: two copies of one delivery in a batch: one BatchGetItem key, one attempt, both messages done", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    const [message] = world.mainQueue.heldBodies().map((b) => JSON.parse(b) as DeliveryMessage);
    await world.queue.send([message]); // SQS at-least-once: a second copy
    // Past the fresh window, so the batch reads the delivery's record (twice named without the fold).
    const r = await step(world, 120);
    expect(r.batch).toHaveLength(2);
    expect(r).toMatchObject({ retried: [], errors: [] });
    expect(r.deleted).toHaveLength(2);
    expect(world.sender.posts).toBe(1);
    expect(world.ledger.violations).toEqual([]);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 1 });
  });
});

describe("defects found while the decision was put in stages", () => {
  test("a dropped copy does not stand for its delivery: an ingest retry's copy ahead of the live message in one batch leaves it attempted", async () => {
    let calls = 0;
    const { world, sub } = await setup(() => (++calls === 1 ? { latencyMs: 50, status: 500 } : { latencyMs: 50, status: 200 }));
    await publish(world);
    await step(world, 0); // attempt 1 fails: pending, back in about 5 s
    await publish(world); // the same id again: a recovery copy, delayed 60 s
    await world.time.runUntil(world.time.now() + 61_000);
    const batch = world.receive(10);
    expect(batch).toHaveLength(2);
    // The recovery copy first: it is dropped (the delivery exists), and must not make the live copy a "second copy".
    const recovery = (b: string) => (JSON.parse(b) as DeliveryMessage).recovery === true;
    batch.sort((a, b) => Number(recovery(b.body)) - Number(recovery(a.body)));
    expect(recovery(batch[0].body)).toBe(true);
    const r = await world.deliverBatch(batch);
    expect(r).toMatchObject({ retried: [], errors: [] });
    expect(world.sender.posts).toBe(2);
    expect(await only(world, sub)).toMatchObject({ status: "succeeded", attemptCount: 2 });
  });

  test("a slow webhook's slot leases taken in the same millisecond are distinct: eleven attempts at once hold ten slots, the eleventh is parked busy", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: 5_000, status: 200 }), { slowLane: false });
    const slowUntil = new Date(world.time.now() + HEALTH.slowForSeconds * 1000).toISOString();
    await world.time.drive(world.health.markSlow(TENANT, sub.id, { slowUntil, slowMs: 5_000 }));
    for (let i = 0; i <= HEALTH.slowInProgress; i++) await publish(world, `evt_${i}`);
    await world.time.runUntil(world.time.now() + 2_000);
    const batch = [...world.receive(10), ...world.receive(10)];
    expect(batch).toHaveLength(HEALTH.slowInProgress + 1);
    // Every random draw the same: what chance did before, for ten leases of one millisecond about 1 time in 23
    // (1 − ∏(1 − i/1000), i < 10), and the slow-webhook test of endpoint-health.test.ts then failed with 11 at once.
    const random = jest.spyOn(Math, "random").mockReturnValue(0.5);
    try {
      await world.deliverBatch(batch);
    } finally {
      random.mockRestore();
    }
    expect(world.sender.posts).toBe(HEALTH.slowInProgress);
    expect(world.metrics.get("DeliveriesParked")).toBe(1);
  });

  test("every attempt made is reported, also one whose record cannot be written (a 410 during a deliveries outage)", async () => {
    const reports: AttemptReport[] = [];
    const { world } = await setup(() => ({ latencyMs: 20, status: 410 }), { onAttempt: (a) => reports.push(a) });
    await publish(world);
    world.dynamo.writeOutage = { tables: ["deliveries"], untilMs: world.time.now() + 3_600_000 };
    const r = await step(world, 0);
    expect(r).toMatchObject({ retried: [r.batch[0].messageId], errors: [] });
    expect(world.sender.posts).toBe(1);
    expect(reports.map((a) => [a.attempt.n, a.attempt.statusCode, a.outcome])).toEqual([[1, 410, "failed"]]);
  });
});

describe("the webhook's streak, Retry-After and the attempt report", () => {
  test("a success ends the failing streak: fail, succeed, then fail again later is counted from the new failure, not auto-disabled", async () => {
    let calls = 0;
    const { world, sub } = await setup((r) => (++calls === 2 ? ok(r) : fail500(r)), { autoDisableAfterSeconds: 30 });
    await publish(world, "evt_1");
    await step(world, 0); // fails: failingSince set
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ consecutiveFailures: 1, failingSince: expect.any(String) });
    await step(world, 6); // succeeds
    const healed = await world.subscriptions.get(TENANT, sub.id);
    expect([healed?.consecutiveFailures, healed?.failingSince]).toEqual([0, undefined]);
    await world.time.runUntil(world.time.now() + 40_000);
    await publish(world, "evt_2");
    const failedAt = new Date(world.time.now()).toISOString();
    await step(world, 0); // fails 46 s after the first failure, but its streak began now
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ enabled: true, consecutiveFailures: 1, failingSince: failedAt });
  });

  test("auto-disable at exactly its length of failing, the reason naming the days and since when", async () => {
    const { world, sub } = await setup(fail500, { autoDisableAfterSeconds: 2 * 86_400 });
    const since = new Date(world.time.now() - 2 * 86_400_000).toISOString();
    await world.subscriptions.update(TENANT, sub.id, { failingSince: since });
    await publish(world);
    await step(world, 0);
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({
      enabled: false,
      disabledReason: `every attempt failed for 2 days (since ${since})`,
    });
    expect(await only(world, sub)).toMatchObject({ status: "failed", reason: "subscription auto-disabled" });
  });

  test("Retry-After counts for a 429 and a 503 (bounded by the schedule's step and twice it), not for other failures", async () => {
    for (const [status, wait] of [
      [503, 10_000],
      [429, 10_000],
      [500, undefined],
    ] as const) {
      const { world, sub } = await setup(() => ({ latencyMs: 20, status, retryAfter: "120" }));
      await publish(world);
      await step(world, 0);
      const dueIn = Date.parse((await only(world, sub)).nextAttemptAt!) - world.time.now();
      if (wait !== undefined) expect([status, dueIn]).toEqual([status, wait]);
      else expect(dueIn).toBeLessThanOrEqual(6_000);
    }
  });

  test("a failed attempt is reported retrying with the backoff the message was given, and logged with its status; a success has no next delay", async () => {
    const reports: AttemptReport[] = [];
    let calls = 0;
    const { world, sub } = await setup((r) => (++calls === 1 ? fail500(r) : ok(r)), { onAttempt: (a) => reports.push(a) });
    await publish(world);
    await step(world, 0);
    const dueIn = Date.parse((await only(world, sub)).nextAttemptAt!) - world.time.now();
    expect(reports).toEqual([expect.objectContaining({ outcome: "retrying", nextDelaySeconds: dueIn / 1000 })]);
    expect(world.logger.lines).toContainEqual(
      expect.objectContaining({ level: "warn", message: "attempt failed", extra: expect.objectContaining({ attempt: 1, statusCode: 500 }) }),
    );
    await step(world, 7);
    expect(reports[1]).toMatchObject({ outcome: "succeeded" });
    expect(reports[1]).not.toHaveProperty("nextDelaySeconds");
    expect(world.metrics.get("DeliveriesSucceeded")).toBe(1);
  });
});

describe("copies, rates and secrets", () => {
  test("two copies of a delivery not yet due in one batch: the first is hidden again, the second dropped (it does not wait twice)", async () => {
    const { world } = await setup(fail500, { schedule: RetrySchedule.parse("2m") });
    await publish(world);
    const [message] = world.mainQueue.heldBodies().map((b) => JSON.parse(b) as DeliveryMessage);
    await step(world, 0); // fails: next attempt in 96–144 s
    await world.time.runUntil(world.time.now() + 61_000); // past the fresh window: the copies read the record
    await world.queue.send([message, message]);
    const r = await step(world, 1);
    expect(r.batch).toHaveLength(2);
    expect([r.retried.length, r.deleted.length, r.errors]).toEqual([1, 1, []]);
    expect(world.sender.posts).toBe(1);
    expect(world.metrics.get("BackoffsExtended")).toBe(1);
  });

  test("a rate write that fails counts as over the rate: the delivery is not sent, and waits as bookkeeping", async () => {
    const { world, sub } = await setup(ok);
    await world.subscriptions.update(TENANT, sub.id, { rateLimit: 5 });
    await publish(world);
    world.dynamo.writeOutage = { tables: ["subscriptions"], untilMs: world.time.now() + 3_600_000 };
    const r = await step(world, 0);
    expect(world.sender.posts).toBe(0);
    // Parked for the rate, but the park's health write fails too: the message waits, a bookkeeping wait (no BackoffsExtended).
    expect([r.retried.length, world.metrics.get("BookkeepingWriteFailures"), world.metrics.get("BackoffsExtended")]).toEqual([1, 1, 0]);
  });

  test("only the secrets that still sign are opened: an expired one costs no KMS Decrypt", async () => {
    const { world, sub } = await setup(ok);
    const context = { tenantId: TENANT, webhookId: sub.id };
    const now = world.time.now();
    await world.subscriptions.update(TENANT, sub.id, {
      secrets: [
        { sealed: await world.secrets.seal("whsec_new", context), createdAt: new Date(now).toISOString() },
        { sealed: await world.secrets.seal("whsec_old", context), createdAt: new Date(now - 1).toISOString(), expiresAt: new Date(now).toISOString() },
      ],
    });
    await publish(world);
    await step(world, 0);
    expect(world.sender.posts).toBe(1);
    expect(world.ledger.requests.get("KMS.Decrypt")).toBe(1);
  });
});
