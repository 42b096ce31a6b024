/**
 * Endpoint health (docs/delivery-semantics.md) on the AWS-faithful in-memory ports of sim/: the real DeliveryService
 * behind the simulated event source mapping, and the real ParkingService swept on the virtual clock,
 * as the release λ's EventBridge rule would. Exact expectations, no sleeps.
 */
import { newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { RetrySchedule } from "#core/retry.ts";
import { HEALTH, LIMITS } from "#core/settings.ts";
import { World } from "../../sim/world.ts";
import { DOWN, delivered, parkDelivery, peakPerSecond, publish, run, setup, sub, TENANT, UP } from "../support/health-world.ts";

describe("endpoint health: circuit breaker, parking, pause, rate limit, slow endpoints", () => {
  test("a dead endpoint's circuit opens once after the threshold, with concurrent λs; its deliveries are parked, not in flight; a failed probe keeps it open and doubles the interval", async () => {
    // One message per invocation: every attempt runs in an invocation of its own, all at once.
    const { world, subs, endpoints } = await setup({ eventSource: { batchSize: 1 } });
    endpoints[0].state.now = DOWN;
    await publish(world, 60);
    await run(world, 30);
    const s = await sub(world, subs[0]);
    expect(s.circuit).toBe("open");
    expect(world.metrics.get("CircuitsOpened")).toBe(1);
    expect(s.consecutiveFailures).toBeGreaterThanOrEqual(HEALTH.breakerThreshold);
    // Nothing held in flight: every delivery parked in DynamoDB.
    expect(world.mainQueue.depth).toBe(0);
    expect(world.deliveries.parkedTotal).toBe(60);
    // Each attempted once (all at once, before any failure was known); none retried while open.
    const posts = world.sender.posts;
    expect(posts).toBe(60);

    // The probe: one real attempt at nextProbeAt, and none before it.
    const probeAt = Date.parse(s.nextProbeAt!);
    await world.time.runUntil(probeAt - 1);
    expect(world.sender.posts).toBe(posts);
    await run(world, HEALTH.sweepSeconds + 5);
    expect(world.sender.posts).toBe(posts + 1);
    const after = await sub(world, subs[0]);
    expect(after.circuit).toBe("open");
    expect(after.probeIntervalSeconds).toBe(2 * HEALTH.probeIntervalSeconds);
    expect(world.deliveries.parkedTotal).toBe(60);
    expect(world.ledger.violations).toEqual([]);
  });

  test("a successful probe closes the circuit; the parked deliveries are released oldest first at the release rate, each delivered once", async () => {
    const { world, subs, endpoints } = await setup({ policy: { releaseRate: 20 } });
    endpoints[0].state.now = DOWN;
    await publish(world, 200);
    await run(world, 30);
    expect((await sub(world, subs[0])).circuit).toBe("open");
    const failedPosts = world.sender.posts;
    endpoints[0].state.now = UP;
    await run(world, 2 * HEALTH.probeIntervalSeconds + 60);
    const s = await sub(world, subs[0]);
    expect(s.circuit).toBeUndefined();
    expect(s.consecutiveFailures).toBe(0);
    expect(world.metrics.get("CircuitsClosed")).toBe(1);
    const got = delivered(world, subs[0]);
    expect(got.size).toBe(200);
    // Once each: every POST after recovery was a first 2xx for its delivery.
    expect(world.sender.posts - failedPosts).toBe(200);
    // Paced: never more than the release rate in a second (the probe's second may add one).
    expect(peakPerSecond(got.values())).toBeLessThanOrEqual(20 + 1);
    expect(world.deliveries.parkedTotal).toBe(0);
    // Oldest first: received in the order of the deliveries' ids (their acceptance), the probe (the oldest) first.
    const deliveryOf = new Map([...world.events.events.values()].map((e) => [e.id, e.deliveries[0].deliveryId]));
    const received = [...got.entries()]
      .sort((a, b) => a[1] - b[1] || (deliveryOf.get(a[0])! < deliveryOf.get(b[0])! ? -1 : 1))
      .map(([id]) => deliveryOf.get(id)!);
    expect(received).toEqual([...received].sort());
    expect(world.ledger.violations).toEqual([]);
  });

  test("while the dead endpoint is parked, a healthy webhook of the same tenant gets its deliveries at its usual latency", async () => {
    const { world, subs, endpoints } = await setup({}, 2);
    endpoints[0].state.now = DOWN;
    await publish(world, 300, "record.created", "dead");
    await publish(world, 50, "record.updated", "ok");
    const published = world.time.now();
    await run(world, 20);
    const got = delivered(world, subs[1]);
    expect(got.size).toBe(50);
    expect(Math.max(...got.values()) - published).toBeLessThan(3_000);
    expect(world.mainQueue.depth).toBe(0);
  });

  test("paused: deliveries are parked, not skipped; resuming releases every one of them", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 1 } });
    await world.subscriptions.update(TENANT, subs[0].id, { paused: true });
    await publish(world, 25);
    await run(world, 30);
    expect(world.sender.posts).toBe(0);
    expect(world.deliveries.parkedTotal).toBe(25);
    expect(
      (await world.deliveries.list(TENANT, subs[0].id, { limit: 50 })).items.every((d) => d.status === "pending" && d.parked && d.parkedFor === "paused"),
    ).toBe(true);
    // Resume as the management API does: not paused, and due for a sweep now.
    await world.subscriptions.update(TENANT, subs[0].id, { paused: false, ...({ wake: "due", wakeAt: new Date(world.time.now()).toISOString() } as object) });
    await run(world, 10);
    expect(delivered(world, subs[0]).size).toBe(25);
    expect(world.sender.posts).toBe(25);
    expect(world.deliveries.parkedTotal).toBe(0);
  });

  test("rateLimit 5/s: 50 events arrive over about 10 s, never more than 5 in a second, none lost, little in flight", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 1 } });
    await world.subscriptions.update(TENANT, subs[0].id, { rateLimit: 5 });
    await publish(world, 50);
    const start = world.time.now();
    await run(world, 40);
    const got = delivered(world, subs[0]);
    expect(got.size).toBe(50);
    expect(peakPerSecond(got.values())).toBeLessThanOrEqual(5);
    const took = Math.max(...got.values()) - start;
    expect(took).toBeGreaterThanOrEqual(9_000);
    expect(took).toBeLessThan(20_000);
    expect(world.mainQueue.peakInFlight).toBeLessThanOrEqual(50);
    expect(world.sender.posts).toBe(50);
  });

  test("a backoff longer than 15 minutes is parked with its due time, not held in flight, and attempted when due", async () => {
    let calls = 0;
    const { world, subs } = await setup({ schedule: new RetrySchedule([1_800]) });
    world.sender.endpoints.set(subs[0].url, () => (++calls === 1 ? { latencyMs: 40, status: 500 } : UP));
    await publish(world, 1);
    await run(world, 5);
    const [record] = (await world.deliveries.list(TENANT, subs[0].id, { limit: 1 })).items;
    expect(record).toMatchObject({ status: "pending", parked: true, parkedFor: "backoff", attemptCount: 1 });
    const due = Date.parse(record.dueAt!);
    expect(due - world.time.now()).toBeGreaterThan(1_800_000 * 0.8 - 6_000);
    expect(world.mainQueue.depth).toBe(0);
    await world.time.runUntil(due - 1_000);
    expect(calls).toBe(1);
    // Released by the first sweep after it is due (sweeps run every minute).
    await run(world, 2 * HEALTH.sweepSeconds);
    expect(calls).toBe(2);
    expect((await world.deliveries.get(TENANT, subs[0].id, record.id))!).toMatchObject({ status: "succeeded", attemptCount: 2 });
  });

  test("a parked delivery whose retry window runs out is failed and in the DLQ; a redrive delivers it once the endpoint is back", async () => {
    // A retry window (40 s) shorter than the first probe interval (60 s): it ends while parked.
    const { world, subs, endpoints } = await setup({ schedule: new RetrySchedule([20, 20]), policy: { breakerThreshold: 1, sweepSeconds: 1 } });
    endpoints[0].state.now = DOWN;
    await publish(world, 3);
    await run(world, 50);
    const log = (await world.deliveries.list(TENANT, subs[0].id, { limit: 10 })).items;
    expect(log.map((d) => d.status)).toEqual(["failed", "failed", "failed"]);
    expect(log.every((d) => d.deadLetteredAt && d.reason === "retry window ended while parked")).toBe(true);
    expect(world.dlqQueue.depth).toBe(3);
    expect(world.deliveries.parkedTotal).toBe(0);

    // Redriven, they are parked again (the circuit is still open) and go out with the next probe, which succeeds.
    endpoints[0].state.now = UP;
    await world.queue.redrive();
    await run(world, 30);
    expect(delivered(world, subs[0]).size).toBe(3);
    expect((await world.deliveries.list(TENANT, subs[0].id, { limit: 10 })).items.map((d) => d.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(world.dlqQueue.depth).toBe(0);
  });

  test("a slow webhook holds at most HEALTH.slowInProgress requests at once; the rest wait parked and all arrive; a fast webhook is not held up", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 1 } }, 2);
    world.sender.endpoints.set(subs[0].url, () => ({ latencyMs: 5_000, status: 200 }));
    let active = 0;
    let peak = 0;
    let marked = false;
    const post = world.sender.post.bind(world.sender);
    world.sender.post = async (url, headers, body, timeout) => {
      const slow = url === subs[0].url;
      if (slow) active++;
      if (slow && marked) peak = Math.max(peak, active);
      try {
        return await post(url, headers, body, timeout);
      } finally {
        if (slow) active--;
      }
    };
    // The first attempts find the webhook fast and mark it slow.
    await publish(world, 2, "record.created", "warm");
    await run(world, 10);
    expect((await sub(world, subs[0])).slowUntil).toBeDefined();
    marked = true;
    await publish(world, 40, "record.created", "slow");
    await publish(world, 20, "record.updated", "fast");
    const published = world.time.now();
    await run(world, 5);
    const fast = delivered(world, subs[1]);
    expect(fast.size).toBe(20);
    expect(Math.max(...fast.values()) - published).toBeLessThan(3_000);
    await run(world, 120);
    expect(peak).toBeLessThanOrEqual(HEALTH.slowInProgress);
    expect(delivered(world, subs[0]).size).toBe(42);
    expect(world.ledger.violations).toEqual([]);
  });
});

describe("the retry window of a parked delivery", () => {
  /** Parks one delivery through the port, as the deliver λ would. */
  async function parkOne(world: World, s: Subscription, reason: "backoff" | "paused", dueInMs: number, windowEndsInMs: number) {
    const now = world.time.now();
    const dueAt = new Date(now + dueInMs).toISOString();
    const deliveryId = await parkDelivery(world, s.id, now, {
      eventId: "w1",
      reason,
      nowIso: new Date(now).toISOString(),
      dueAt,
      windowEndsAt: new Date(now + windowEndsInMs).toISOString(),
    });
    await world.time.drive(world.health.noteParked(TENANT, s.id, { count: 1, dueAt, nowIso: new Date(now).toISOString() }));
    return deliveryId;
  }

  test("a backoff whose jittered due time falls after the nominal window end is attempted when due, not expired", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 1 } });
    const id = await parkOne(world, subs[0], "backoff", 100_000, 50_000);
    await run(world, 120);
    expect(delivered(world, subs[0]).size).toBe(1);
    expect(world.dlqQueue.depth).toBe(0);
    expect((await world.deliveries.get(TENANT, subs[0].id, id))?.status).toBe("succeeded");
  });

  test("a held (paused) delivery is failed and dead-lettered when its window ends, whatever its due time", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 1 } });
    await world.subscriptions.update(TENANT, subs[0].id, { paused: true });
    const id = await parkOne(world, subs[0], "paused", 0, 50_000);
    await run(world, 40);
    expect(world.dlqQueue.depth).toBe(0);
    await run(world, 20);
    expect(world.dlqQueue.depth).toBe(1);
    expect(await world.deliveries.get(TENANT, subs[0].id, id)).toMatchObject({ status: "failed", reason: "retry window ended while parked" });
    expect(world.sender.posts).toBe(0);
  });
});

describe("sweeps that keep pace and stay idle", () => {
  test("an open circuit whose parked deliveries all expired is not swept again and again; the next park brings its probe back", async () => {
    const { world, subs, endpoints } = await setup({ schedule: new RetrySchedule([20, 20]), policy: { breakerThreshold: 1, sweepSeconds: 1 } });
    endpoints[0].state.now = DOWN;
    await publish(world, 3);
    await run(world, 60);
    expect(world.dlqQueue.depth).toBe(3);
    const idle = await sub(world, subs[0]);
    expect(idle.circuit).toBe("open");
    expect(Date.parse(idle.wakeAt!) - world.time.now()).toBeGreaterThan(365 * 86_400_000);
    expect(await world.time.drive(world.health.due(new Date(world.time.now()).toISOString(), 10))).toEqual([]);
    // Still counted as an open circuit.
    expect((await world.time.drive(world.health.summary())).openCircuits).toBe(1);

    endpoints[0].state.now = UP;
    await publish(world, 1, "record.created", "later");
    await run(world, 2 * HEALTH.probeIntervalSeconds);
    expect(delivered(world, subs[0]).has("later0")).toBe(true);
    expect((await sub(world, subs[0])).circuit).toBeUndefined();
  });

  test("a held webhook's expired deliveries are failed in pages, all in one sweep, not a hundred a sweep", async () => {
    const { world, subs } = await setup({ policy: { sweepSeconds: 60 } });
    await world.subscriptions.update(TENANT, subs[0].id, { paused: true });
    const nowIso = new Date(world.time.now()).toISOString();
    // 200: each expiry writes about 4 WCU (the item and two index changes, all charged to the partition
    // by the simulator), so 200 in one second stay within the partition's 1,000 WCU/s.
    for (let i = 0; i < 200; i++) {
      const windowEndsAt = new Date(world.time.now() + 5_000).toISOString();
      await parkDelivery(world, subs[0].id, i, { eventId: `x${i}`, reason: "paused", nowIso, dueAt: nowIso, windowEndsAt });
    }
    await world.time.drive(world.health.noteParked(TENANT, subs[0].id, { count: 200, dueAt: nowIso, nowIso }));
    await run(world, 65); // one sweep after the windows ended
    expect(world.dlqQueue.depth).toBe(200);
    expect(world.deliveries.parkedTotal).toBe(0);
  });
});

describe("a sweep keeps within its interval", () => {
  test("webhooks it cannot reach within 60 % of the interval stay due and are served by the next sweep", async () => {
    // Slow requests (2 s each), 40 paused webhooks with a parked delivery whose window ended.
    const world = new World({ policy: { sweepSeconds: 60 }, sweepLatency: { dynamoMs: 2_000, sqsMs: 2_000 } });
    const nowIso = new Date(world.time.now()).toISOString();
    for (let i = 0; i < 40; i++) {
      const id = newWebhookId(world.time.now() + i);
      await world.subscriptions.create(
        {
          tenantId: TENANT,
          id,
          url: `https://h${i}.example.com/`,
          eventTypes: ["*"],
          enabled: true,
          paused: true,
          secrets: [],
          createdAt: nowIso,
          updatedAt: nowIso,
        },
        LIMITS.webhooksPerTenant,
      );
      const message = {
        v: 1 as const,
        deliveryId: `dlv_${String(i).padStart(26, "0")}`,
        tenantId: TENANT,
        webhookId: id,
        eventId: `s${i}`,
        eventType: "record.created",
        payload: "{}",
      };
      await world.time.drive(
        world.deliveries.park({ message, status: "pending", roundStart: 0, nowIso, reason: "paused", dueAt: nowIso, windowEndsAt: nowIso }),
      );
      await world.time.drive(world.health.noteParked(TENANT, id, { count: 1, dueAt: nowIso, nowIso }));
    }
    const first = await world.time.drive(world.parking.sweep());
    const took = world.time.now() - Date.parse(nowIso);
    expect(first.webhooks).toBeLessThan(40);
    expect(took).toBeLessThan(60_000);
    let served = first.webhooks;
    for (let i = 0; i < 5 && served < 40; i++) served += (await world.time.drive(world.parking.sweep())).webhooks;
    expect(served).toBe(40);
    expect(world.dlqQueue.depth).toBe(40);
  });
});
