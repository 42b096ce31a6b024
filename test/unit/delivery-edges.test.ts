/**
 * The edges of the delivery decision's numbers and of the writes it saves (docs/delivery-semantics.md),
 * on the in-memory ports of sim/ and their virtual clock: the subscription cache's age, what makes an
 * attempt slow, the signed timestamp, the webhook's health as the cache holds it, a parked delivery
 * parked again, and the wake and slow-mark writes left out when they would change nothing.
 */
import { DELIVERY, HEALTH, METRICS } from "#core/settings.ts";
import { RetrySchedule } from "#core/retry.ts";
import type { Endpoint } from "../../sim/ports/http.ts";
import type { World, WorldOptions } from "../../sim/world.ts";
import type { DeliveryMessage } from "#core/model.ts";
import { fail500, ok, publish, setup as setupWorld, step, TENANT, URL } from "../support/delivery-world.ts";

/** No slow lane unless a test asks for one: a webhook marked slow is attempted on the main lane, within its slots. */
const setup = (endpoint: Endpoint, o: WorldOptions = {}) => setupWorld(endpoint, { slowLane: false, ...o });

describe("the numbers' edges", () => {
  test("a cached webhook is read again once the cache's age is reached exactly", async () => {
    const { world, sub } = await setup(ok);
    const moved = "https://hooks.example.com/moved";
    world.sender.endpoints.set(moved, ok);
    await publish(world, "evt_1");
    const cachedAt = world.time.now();
    await step(world, 0); // caches the webhook as it is now
    await world.subscriptions.update(TENANT, sub.id, { url: moved, updatedAt: new Date(world.time.now()).toISOString() });
    await publish(world, "evt_2");
    await world.time.runUntil(cachedAt + DELIVERY.subscriptionCacheMs);
    await world.deliverBatch(world.receive(10));
    expect([...(world.sender.receipts.get(moved)?.delivered.keys() ?? [])]).toEqual(["evt_2"]);
    expect([...(world.sender.receipts.get(URL)?.delivered.keys() ?? [])]).toEqual(["evt_1"]);
  });

  test("an attempt of exactly HEALTH.slowAttemptMs is not slow; a millisecond more marks the webhook slow", async () => {
    let latencyMs = HEALTH.slowAttemptMs;
    const { world, sub } = await setup(() => ({ latencyMs, status: 200 }));
    await publish(world, "evt_1");
    await step(world, 0);
    expect((await world.subscriptions.get(TENANT, sub.id))?.slowUntil).toBeUndefined();
    latencyMs = HEALTH.slowAttemptMs + 1;
    await publish(world, "evt_2");
    await step(world, 0);
    const slowUntil = (await world.subscriptions.get(TENANT, sub.id))?.slowUntil;
    expect(Date.parse(slowUntil!)).toBeGreaterThan(world.time.now() + HEALTH.slowForSeconds * 1000 - 60_000);
  });

  test("webhook-timestamp is the send's time in whole seconds, rounded down", async () => {
    const { world } = await setup(ok);
    await publish(world);
    await world.time.runUntil(world.time.now() + 1_700);
    const sentAt = world.time.now();
    await world.deliverBatch(world.receive(10));
    expect(world.sender.lastHeaders?.["webhook-timestamp"]).toBe(String(Math.floor(sentAt / 1000)));
  });
});

describe("what the cache holds of the webhook's health", () => {
  test("a failure counted within the cache's age is known to the next batch: its success ends the streak", async () => {
    let up = false;
    const { world, sub } = await setup((t) => (up ? ok(t) : fail500(t)), {});
    await publish(world);
    await step(world, 0);
    expect(await world.subscriptions.get(TENANT, sub.id)).toMatchObject({ consecutiveFailures: 1, failingSince: expect.any(String) });
    // The message is hidden for its backoff (seconds); the cached webhook is kept that long only if no
    // one reads it: shorten the wait by sending the retry's copy now, within the cache's age.
    up = true;
    const [body] = world.mainQueue.heldBodies();
    await world.queue.send([JSON.parse(body) as DeliveryMessage]);
    await world.time.runUntil(world.time.now() + DELIVERY.subscriptionCacheMs / 2);
    await world.deliverBatch(world.receive(10));
    expect(world.sender.posts).toBe(2);
    const after = await world.subscriptions.get(TENANT, sub.id);
    expect(after?.consecutiveFailures ?? 0).toBe(0);
    expect(after?.failingSince).toBeUndefined();
  });
});

describe("writes left out when they change nothing", () => {
  test("a released delivery parked again (the circuit still open) is counted once on its webhook", async () => {
    const { world, sub } = await setup(ok);
    const later = new Date(world.time.now() + 3_600_000).toISOString();
    await world.subscriptions.update(TENANT, sub.id, { circuit: "open", nextProbeAt: later, updatedAt: new Date(world.time.now()).toISOString() } as never);
    await publish(world);
    const [body] = world.mainQueue.heldBodies();
    await step(world, 0);
    expect(world.deliveries.parkedTotal).toBe(1);
    expect((await world.subscriptions.get(TENANT, sub.id))?.parkedCount).toBe(1);
    // As the release λ sends it back (its record still says parked), and the circuit is still open.
    await world.queue.send([{ ...(JSON.parse(body) as DeliveryMessage), released: true }]);
    const again = await step(world, 120);
    expect(again.deleted).toHaveLength(1);
    expect(world.deliveries.parkedTotal).toBe(1);
    expect((await world.subscriptions.get(TENANT, sub.id))?.parkedCount).toBe(1);
  });

  test("a park whose webhook already wakes sooner makes one health write (beside the record's), not a conditional one that fails first", async () => {
    const { world, sub } = await setup(ok);
    const now = world.time.now();
    await world.subscriptions.update(TENANT, sub.id, { paused: true, updatedAt: new Date(now).toISOString() } as never);
    await publish(world, "evt_1");
    await step(world, 0); // parked (paused): the webhook wakes when the delivery's window ends
    const wakeAt = (await world.subscriptions.get(TENANT, sub.id))?.wakeAt;
    expect(wakeAt).toEqual(expect.any(String));
    await publish(world, "evt_2");
    const before = world.ledger.requests.get("DynamoDB.UpdateItem") ?? 0;
    await step(world, 1);
    expect((await world.subscriptions.get(TENANT, sub.id))?.wakeAt).toBe(wakeAt);
    // The parked record's write and the webhook's count.
    expect((world.ledger.requests.get("DynamoDB.UpdateItem") ?? 0) - before).toBe(2);
  });

  test("a webhook marked slow is not marked again while more than half its mark is left", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: HEALTH.slowAttemptMs + 100, status: 200 }));
    await publish(world, "evt_1");
    await step(world, 0);
    const first = (await world.subscriptions.get(TENANT, sub.id))?.slowUntil;
    await publish(world, "evt_2");
    await step(world, 60);
    expect((await world.subscriptions.get(TENANT, sub.id))?.slowUntil).toBe(first);
    await publish(world, "evt_3");
    await step(world, HEALTH.slowForSeconds / 2);
    expect(Date.parse((await world.subscriptions.get(TENANT, sub.id))!.slowUntil!)).toBeGreaterThan(Date.parse(first!));
  });
});

describe("a webhook deleted while its delivery is attempted", () => {
  test("the failure finds no webhook to count on: the next batch reads it again and skips, not POSTs, its deliveries", async () => {
    const { world, sub } = await setup(fail500);
    await publish(world, "evt_1");
    await publish(world, "evt_2");
    // Deleted between the batch's read and the failure count.
    world.sender.endpoints.set(URL, (t) => {
      void world.subscriptions.delete(TENANT, sub.id);
      return fail500(t);
    });
    const first = world.receive(1);
    await world.deliverBatch(first);
    expect(world.sender.posts).toBe(1);
    expect(await world.subscriptions.get(TENANT, sub.id)).toBeUndefined();
    // Within the cache's age: the webhook is not taken from the cache.
    await world.time.runUntil(world.time.now() + DELIVERY.subscriptionCacheMs / 4);
    const next = await step(world, 0);
    expect(next.deleted).toHaveLength(1);
    expect(world.sender.posts).toBe(1);
    expect(world.logger.lines.map((l) => l.message)).toContain("delivery skipped: subscription was deleted");
  });
});

describe("what operators see of each outcome: metrics and log lines", () => {
  const lines = (world: World) => world.logger.lines.map((l) => `${l.level} ${l.message}`);

  test("a success: Attempts, DeliveriesSucceeded, the response time and the latency from the send", async () => {
    const { world } = await setup(ok);
    await publish(world);
    await step(world, 0);
    expect([world.metrics.get("Attempts"), world.metrics.get("DeliveriesSucceeded")]).toEqual([1, 1]);
    expect(Object.fromEntries(world.metrics.timings)).toEqual({ EndpointResponseTime: 1, DeliveryLatency: 1 });
    expect(lines(world)).toEqual([]); // "delivered" is a debug line: not kept, not a warning
  });

  test("a failed attempt is a warning; the breaker's threshold opens the circuit with a warning and a count; the deliveries are parked", async () => {
    const { world } = await setup(fail500, { policy: { breakerThreshold: 1 } });
    await publish(world, "evt_1");
    await step(world, 0);
    expect(lines(world)).toEqual([
      "warn attempt failed",
      "warn circuit opened: deliveries to this webhook are parked until a probe succeeds",
      "info delivery parked (circuit)",
    ]);
    expect([world.metrics.get(METRICS.circuitsOpened), world.metrics.get(METRICS.deliveriesParked)]).toEqual([1, 1]);
    await publish(world, "evt_2");
    await step(world, 1);
    expect(world.metrics.get(METRICS.deliveriesParked)).toBe(2);
  });

  test("a 410 fails the delivery and disables the webhook: DeliveriesFailed, AutoDisables and the warning with its reason", async () => {
    const { world, sub } = await setup(() => ({ latencyMs: 20, status: 410 }));
    await publish(world);
    await step(world, 0);
    expect([world.metrics.get("DeliveriesFailed"), world.metrics.get("AutoDisables")]).toEqual([1, 1]);
    expect(world.logger.lines).toContainEqual({
      level: "warn",
      message: "subscription disabled",
      extra: { tenantId: TENANT, webhookId: sub.id, reason: "the endpoint answered 410 Gone" },
    });
  });

  test("the schedule run out: DeliveriesFailed, DlqMoves and the warning naming why", async () => {
    const { world } = await setup(fail500, { schedule: RetrySchedule.parse("1s") });
    await publish(world);
    await step(world, 0);
    await step(world, 2);
    expect([world.metrics.get("DeliveriesFailed"), world.metrics.get("DlqMoves")]).toEqual([1, 1]);
    expect(world.logger.lines.find((l) => l.message === "delivery failed and was sent to the DLQ")?.extra).toMatchObject({
      reason: "retry schedule exhausted",
    });
  });

  test("a disabled webhook's delivery: DeliveriesSkipped and the line saying why", async () => {
    const { world, sub } = await setup(ok);
    await publish(world);
    await world.subscriptions.update(TENANT, sub.id, { enabled: false, updatedAt: new Date(world.time.now()).toISOString() });
    await world.deliverBatch(world.receive(10));
    expect(world.metrics.get("DeliveriesSkipped")).toBe(1);
    expect(lines(world)).toContain("info delivery skipped: subscription is disabled");
  });
});
