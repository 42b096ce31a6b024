/**
 * The delivery decision when its bookkeeping fails (docs/delivery-semantics.md): each write or read a
 * decision stands on, made to fail at the in-memory port of sim/ (a port that rejects, as the
 * adapters do once the SDK's retries are spent), one at a time. What must hold: nothing is lost or
 * sent twice, the message waits where its fate depends on the write, and each failure is counted and
 * logged with what failed (the operator's only view of it).
 */
import type { DeliveryMessage } from "#core/model.ts";
import { RetrySchedule } from "#core/retry.ts";
import { HEALTH } from "#core/settings.ts";
import type { Endpoint } from "../../sim/ports/http.ts";
import type { World, WorldOptions } from "../../sim/world.ts";
import { fail500, ok, publish, record, setup as setupWorld, step, TENANT } from "../support/delivery-world.ts";

/** No slow lane unless a test asks for one: a webhook marked slow is attempted on the main lane, within its slots. */
const setup = (endpoint: Endpoint, o: WorldOptions = {}) => setupWorld(endpoint, { slowLane: false, ...o });

const PORT_DOWN = new Error("port down");

/** Makes one method of a port reject from now on, as the adapter does when its call fails. */
function failing<T extends object>(port: T, method: keyof T & string): void {
  Object.assign(port, {
    [method]: async () => {
      throw PORT_DOWN;
    },
  });
}

const errorLines = (world: World) => world.logger.lines.filter((l) => l.level === "error").map((l) => l.message);

describe("reads and writes the decision stands on", () => {
  test("batch reads that fail: nothing is attempted, every message waits the first bookkeeping backoff (60 s), counted once with the batch's size", async () => {
    const { world } = await setup(ok);
    await publish(world, "evt_1");
    await publish(world, "evt_2");
    failing(world.subscriptions, "getMany");
    const r = await step(world, 0);
    expect(r.batch).toHaveLength(2);
    expect(r).toMatchObject({ deleted: [], errors: [] });
    expect(r.retried.sort()).toEqual(r.batch.map((m) => m.messageId).sort());
    expect(world.sender.posts).toBe(0);
    expect(world.metrics.get("BookkeepingReadFailures")).toBe(1);
    expect(world.logger.lines.filter((l) => l.level === "error")).toEqual([
      { level: "error", message: "batch reads failed; every message waits a backoff", extra: { error: PORT_DOWN, messages: 2 } },
    ]);
    await world.time.runUntil(world.time.now() + 59_000);
    expect(world.receive(10)).toEqual([]);
    await world.time.runUntil(world.time.now() + 2_000);
    expect(world.receive(10)).toHaveLength(2);
  });

  test("a deleted webhook's delivery is skipped, its record and log line saying so", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    await world.subscriptions.delete(TENANT, sub.id);
    const r = await step(world, 0);
    expect(r.deleted).toEqual([r.batch[0].messageId]);
    expect(world.sender.posts).toBe(0);
    expect(await record(world, sub)).toMatchObject({ status: "skipped", reason: "subscription was deleted" });
    expect(world.logger.lines.map((l) => l.message)).toContain("delivery skipped: subscription was deleted");
  });

  test("a body that is no delivery message is left on the queue (its redrive policy dead-letters it), the error naming the message", async () => {
    const { world } = await setup(ok);
    world.mainQueue.send("not a delivery", "grp");
    const r = await step(world, 0);
    expect(r.deleted).toEqual([]);
    expect(r.errors).toHaveLength(1);
    expect((r.errors[0] as Error).message).toBe(`message ${r.batch[0].messageId} is not a delivery message`);
    expect(errorLines(world)).toEqual(["malformed delivery message left for the DLQ safety net"]);
  });

  test("a 410 whose disable write fails: the message waits (the delivery is not failed, the webhook stays enabled), counted and logged", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: 20, status: 410 }));
    await publish(world);
    failing(world.subscriptions, "update");
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [], retried: [r.batch[0].messageId], errors: [] });
    expect(world.metrics.get("BookkeepingWriteFailures")).toBe(1);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: disable"]);
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ enabled: true });
    expect(world.metrics.get("DeliveriesFailed")).toBe(0);
  });

  test("a later attempt's success is done although its record and the end of the streak cannot be written: each counted and logged", async () => {
    let up = false;
    const { world, sub } = await setup((nowMs) => (up ? ok(nowMs) : fail500(nowMs)));
    await publish(world);
    await step(world, 0);
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ consecutiveFailures: 1 });
    up = true;
    failing(world.deliveries, "write");
    failing(world.health, "recordSuccess");
    const r = await step(world, 10);
    expect(r).toMatchObject({ deleted: [r.batch[0].messageId], retried: [], errors: [] });
    expect(world.sender.posts).toBe(2);
    expect(world.metrics.get("BookkeepingWriteFailures")).toBe(2);
    expect(errorLines(world).sort()).toEqual(["bookkeeping write failed: failing streak reset", "bookkeeping write failed: record of a successful attempt"]);
    expect(world.metrics.get("DeliveriesSucceeded")).toBe(1);
  });

  test("a failed attempt whose record cannot be written waits the backoff of its receive count, not that of the attempt its record lacks", async () => {
    // Short backoffs (held in flight, not parked): the record write is the only one that fails.
    const { world } = await setup(fail500, { schedule: RetrySchedule.parse("10s,2m,4m") });
    await publish(world);
    world.dynamo.writeOutage = { tables: ["deliveries"], untilMs: world.time.now() + 3_600_000 };
    const first = await step(world, 0);
    expect(first.retried).toHaveLength(1);
    // Attempt 1's backoff: 10 s ± 20 %.
    await world.time.runUntil(world.time.now() + 7_900);
    expect(world.receive(10)).toEqual([]);
    const second = await step(world, 4.2);
    expect(second.batch).toHaveLength(1);
    expect(second.retried).toHaveLength(1);
    // The record still says no attempt; the receive count (2) says at least one: 2 min ± 20 %, not 10 s.
    await world.time.runUntil(world.time.now() + 95_000);
    expect(world.receive(10)).toEqual([]);
    await world.time.runUntil(world.time.now() + 50_000);
    expect(world.receive(10)).toHaveLength(1);
    expect(world.sender.posts).toBe(2);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: record of a failed attempt", "bookkeeping write failed: record of a failed attempt"]);
  });

  test("the last attempt's DLQ send fails: the message waits and tries again, nothing in the DLQ, the record as it was", async () => {
    const { world, sub } = await setup(fail500, { schedule: RetrySchedule.parse("1s") });
    await publish(world);
    await step(world, 0);
    const deadLetter = world.queue.deadLetter.bind(world.queue);
    failing(world.queue, "deadLetter");
    const r = await step(world, 2);
    expect(r).toMatchObject({ deleted: [], retried: [r.batch[0].messageId], errors: [] });
    expect(world.dlqQueue.depth).toBe(0);
    expect(errorLines(world)).toEqual(["sending to the DLQ failed; the message waits and tries again"]);
    // DLQ first, then the record: the record still holds the first attempt only.
    expect(await record(world, sub)).toMatchObject({ status: "pending", attemptCount: 1 });
    // Back after the bookkeeping wait of a second receive (120 s), the DLQ working again: the unrecorded last attempt is
    // made again (at least once, never lost), then dead-lettered.
    world.queue.deadLetter = deadLetter;
    await world.time.runUntil(world.time.now() + 119_000);
    expect(world.receive(10)).toEqual([]);
    const again = await step(world, 2);
    expect(again.deleted).toHaveLength(1);
    expect(world.dlqQueue.depth).toBe(1);
    expect(world.sender.posts).toBe(3);
    expect(await record(world, sub)).toMatchObject({ status: "failed", attemptCount: 2 });
  });

  test("dead-lettered, but its record cannot be written: done all the same (the DLQ holds it), counted and logged", async () => {
    const { world } = await setup(fail500, { schedule: RetrySchedule.parse("1s") });
    await publish(world);
    await step(world, 0);
    failing(world.deliveries, "write");
    const r = await step(world, 2);
    expect(r).toMatchObject({ deleted: [r.batch[0].messageId], retried: [], errors: [] });
    expect(world.dlqQueue.depth).toBe(1);
    expect(world.metrics.get("BookkeepingWriteFailures")).toBe(1);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: record of a dead-lettered delivery"]);
  });

  test("backoffs the queue refuses: counted per message and logged; the record's nextAttemptAt still says when", async () => {
    const { world, sub } = await setup(fail500);
    await publish(world, "evt_1");
    await publish(world, "evt_2");
    failing(world.queue, "changeVisibility");
    const r = await step(world, 0);
    expect(r.retried).toHaveLength(2);
    expect(world.metrics.get("VisibilityChangeFailures")).toBe(2);
    expect(world.logger.lines.filter((l) => l.level === "error")).toEqual([
      { level: "error", message: "backoffs not applied", extra: { error: PORT_DOWN, messages: 2 } },
    ]);
    expect(await record(world, sub)).toMatchObject({ status: "pending", nextAttemptAt: expect.any(String) });
  });
});

describe("the webhook's health writes", () => {
  test("the failure count cannot be written: the attempt's record and backoff stand, counted and logged", async () => {
    const { world, sub } = await setup(fail500);
    await publish(world);
    failing(world.health, "recordFailure");
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [], retried: [r.batch[0].messageId], errors: [] });
    expect(await record(world, sub)).toMatchObject({ status: "pending", attemptCount: 1 });
    expect(errorLines(world)).toEqual(["bookkeeping write failed: failure count"]);
    expect((await world.subscriptions.get(TENANT, sub.id))?.consecutiveFailures).toBeUndefined();
  });

  test("the circuit cannot be opened: the delivery retries as with a closed circuit (not parked), counted and logged", async () => {
    const { world, sub } = await setup(fail500, { policy: { breakerThreshold: 1 } });
    await publish(world);
    failing(world.health, "openCircuit");
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [], retried: [r.batch[0].messageId], errors: [] });
    expect(world.deliveries.parkedTotal).toBe(0);
    expect(await record(world, sub)).toMatchObject({ status: "pending", nextAttemptAt: expect.any(String) });
    expect(errorLines(world)).toEqual(["bookkeeping write failed: circuit opening"]);
  });

  test("a failed probe whose outcome cannot be written: the delivery is parked behind the open circuit, counted and logged", async () => {
    const { world } = await setup(fail500);
    await publish(world);
    const [message] = world.mainQueue.heldBodies().map((b) => JSON.parse(b) as DeliveryMessage);
    world.mainQueue.receive(10); // the original copy is out of the way; the probe stands for it
    await world.queue.send([{ ...message, probe: true }]);
    failing(world.health, "probeFailed");
    const r = await step(world, 0);
    expect(r.deleted).toEqual([r.batch[0].messageId]);
    expect(world.deliveries.parkedTotal).toBe(1);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: probe outcome"]);
  });

  test("a slow attempt whose slow mark cannot be written is still a success, counted and logged", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: HEALTH.slowAttemptMs + 500, status: 200 }));
    await publish(world);
    failing(world.health, "markSlow");
    const r = await step(world, 0);
    expect(r.deleted).toHaveLength(1);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: slow mark"]);
    expect((await world.subscriptions.get(TENANT, sub.id))?.slowUntil).toBeUndefined();
  });

  test("a slow webhook's slot that cannot be freed: the delivery is done, counted and logged", async () => {
    const { world, sub } = await setup(ok);
    const now = world.time.now();
    await world.health.markSlow(TENANT, sub.id, { slowUntil: new Date(now + 600_000).toISOString(), slowMs: 3_000 });
    await publish(world);
    failing(world.health, "freeSlot");
    const r = await step(world, 0);
    expect(r.deleted).toHaveLength(1);
    expect(world.sender.posts).toBe(1);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: slot release"]);
    expect((await world.subscriptions.get(TENANT, sub.id))?.slots?.size).toBe(1);
  });

  test("the slow lane refuses a forward: the delivery waits on the main queue unattempted, counted and logged", async () => {
    const { world, sub } = await setup(ok, { slowLane: { concurrency: 2 } });
    await world.health.markSlow(TENANT, sub.id, { slowUntil: new Date(world.time.now() + 600_000).toISOString(), slowMs: 3_000 });
    await publish(world);
    world.slowQueue!.sendBatch = () => {
      throw PORT_DOWN;
    };
    const r = await step(world, 0);
    expect(r).toMatchObject({ deleted: [], retried: [r.batch[0].messageId], errors: [] });
    expect(world.sender.posts).toBe(0);
    expect(world.slowQueue!.depth).toBe(0);
    expect(errorLines(world)).toEqual(["bookkeeping write failed: slow lane forward"]);
  });
});
