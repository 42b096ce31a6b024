/**
 * The release λ's core (ParkingService, parking.ts) one sweep at a time on the in-memory ports of sim/
 * and their virtual clock: what each sweep sends (each message and its DelaySeconds), fails and
 * dead-letters, and writes back (the wake, the release cursor, the parked count, the probe), by the
 * rules of docs/delivery-semantics.md ("Endpoint health"). endpoint-health.test.ts runs the same
 * service with the deliver λ over minutes and hours; these pin each decision of one sweep.
 */
import { newWebhookId } from "#core/ids.ts";
import type { DeliveryMessage, ParkReason, Subscription } from "#core/model.ts";
import { type HealthPolicy, ParkingService, releasePace } from "#core/parking.ts";
import type { DeliveryQueue, HealthStore } from "#core/ports.ts";
import { HEALTH, LIMITS, METRICS, QUEUE } from "#core/settings.ts";
import { CountingMetrics, MemoryLogger, World } from "../../sim/world.ts";

const TENANT = "acct_park";
const FAR_FUTURE = "9999-12-31T23:59:59.999Z";

/** `port` with every call first waiting `ms` of virtual time (a request's latency). */
function slowed<T extends object>(world: World, port: T, ms: number): T {
  return new Proxy(port, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        await world.time.sleep(ms);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

interface Options {
  policy?: Partial<HealthPolicy>;
  webhooks?: number;
  /** Virtual ms each DynamoDB request of the sweep takes. */
  dynamoMs?: number;
  /** Changes the health port before the sweep uses it (another λ's writes racing the sweep). */
  health?: (h: HealthStore) => HealthStore;
}

async function setup(o: Options = {}) {
  const world = new World();
  const policy: HealthPolicy = { breakerThreshold: 5, probeIntervalSeconds: 30, maxProbeIntervalSeconds: 100, releaseRate: 2, sweepSeconds: 60, ...o.policy };
  const subs: Subscription[] = [];
  for (let i = 0; i < (o.webhooks ?? 1); i++) {
    const now = new Date(world.time.now()).toISOString();
    const sub: Subscription = {
      tenantId: TENANT,
      id: newWebhookId(world.time.now() + i),
      url: `https://hooks${i}.example.com/in`,
      eventTypes: ["*"],
      enabled: true,
      secrets: [],
      createdAt: now,
      updatedAt: now,
    };
    await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
    subs.push(sub);
  }
  /** What the sweep sent to the delivery queue, each with its delay, in order. */
  const sent: { message: DeliveryMessage; delaySeconds: number }[] = [];
  const queue: DeliveryQueue = {
    send: (messages, delaySeconds) => world.queue.send(messages, delaySeconds),
    sendDelayed: async (items) => {
      sent.push(...items);
      return world.queue.sendDelayed(items);
    },
    depths: () => world.queue.depths(),
    changeVisibility: (items) => world.queue.changeVisibility(items),
    deadLetter: (m) => world.queue.deadLetter(m),
    dlqDepth: () => world.queue.dlqDepth(),
    redrive: () => world.queue.redrive(),
  };
  const metrics = new CountingMetrics();
  const logger = new MemoryLogger();
  let health: HealthStore = o.health ? o.health(world.health) : world.health;
  let deliveries = world.deliveries;
  if (o.dynamoMs) {
    health = slowed(world, health, o.dynamoMs);
    deliveries = slowed(world, deliveries, o.dynamoMs);
  }
  const parking = new ParkingService({ health, deliveries, queue, clock: world.time, schedule: world.schedule, policy, logger, metrics });
  const now = () => world.time.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  let n = 0;
  /** Parks deliveries as the deliver λ does (their records, then one count on the webhook); their ids in park order. */
  async function park(sub: Subscription, items: { dueInMs?: number; windowInMs?: number; reason?: ParkReason; round?: string; attempts?: number }[]) {
    const ids: string[] = [];
    const nowIso = iso(now());
    for (const it of items) {
      const deliveryId = `dlv_${String(++n).padStart(26, "0")}`;
      ids.push(deliveryId);
      await world.time.drive(
        world.deliveries.park({
          message: { v: 1, deliveryId, tenantId: TENANT, webhookId: sub.id, eventId: `evt_${n}`, eventType: "record.created", payload: `{"n":${n}}` },
          status: "pending",
          roundStart: it.attempts ?? 0,
          round: it.round,
          nowIso,
          reason: it.reason ?? "circuit",
          dueAt: iso(now() + (it.dueInMs ?? 0)),
          windowEndsAt: iso(now() + (it.windowInMs ?? 3_600_000)),
        }),
      );
    }
    const dueAt = iso(now() + Math.min(...items.map((it) => it.dueInMs ?? 0)));
    await world.time.drive(world.health.noteParked(TENANT, sub.id, { count: items.length, dueAt, nowIso }));
    return ids;
  }
  const sweep = () => world.time.drive(parking.sweep());
  const state = async (sub: Subscription) => (await world.subscriptions.get(TENANT, sub.id))!;
  /** Opens the circuit as the deliver λ does: failures up to the threshold, then the open. */
  async function openCircuit(sub: Subscription, o: { nextProbeAt: string; probeIntervalSeconds: number }) {
    const nowIso = iso(now());
    await world.health.recordFailure(TENANT, sub.id, { nowIso, count: 5 });
    expect(await world.health.openCircuit(TENANT, sub.id, { threshold: 5, nowIso, ...o })).toBe(true);
  }
  /** The parked position of a delivery (dueAt#id), as the cursor holds it. */
  const position = (dueInMs: number, id: string) => `${iso(now() + dueInMs)}#${id}`;
  return { world, policy, subs, sub: subs[0], sent, metrics, logger, parking, park, sweep, state, openCircuit, now, iso, position };
}

const ids = (sent: { message: DeliveryMessage }[]) => sent.map((s) => s.message.deliveryId);

describe("releasePace: deliveries per second a webhook's parked work is released at", () => {
  const T = Date.parse("2026-06-01T12:00:00.000Z");
  const base = { tenantId: TENANT, id: "wh_1", url: "https://x.example.com", eventTypes: ["*"], enabled: true, secrets: [], createdAt: "", updatedAt: "" };
  const policy = { releaseRate: 50 };

  test("the release rate, lowered by the webhook's rateLimit (never raised by it)", () => {
    expect(releasePace(base, policy, T)).toBe(50);
    expect(releasePace({ ...base, rateLimit: 5 }, policy, T)).toBe(5);
    expect(releasePace({ ...base, rateLimit: 500 }, policy, T)).toBe(50);
  });

  test("a slow webhook: what its HEALTH.slowInProgress slots carry at its attempt's duration, until slowUntil (excluded)", () => {
    const slow = { ...base, slowMs: 4_000, slowUntil: new Date(T + 1).toISOString() };
    expect(releasePace(slow, policy, T)).toBe((HEALTH.slowInProgress * 1000) / 4_000);
    expect(releasePace({ ...slow, rateLimit: 1 }, policy, T)).toBe(1);
    expect(releasePace(slow, { releaseRate: 1 }, T)).toBe(1);
    expect(releasePace({ ...slow, slowUntil: new Date(T).toISOString() }, policy, T)).toBe(50);
    expect(releasePace({ ...slow, slowMs: undefined }, policy, T)).toBe(50);
  });

  test("never below one a minute", () => {
    expect(releasePace({ ...base, slowMs: 100_000_000, slowUntil: new Date(T + 60_000).toISOString() }, policy, T)).toBe(1 / 60);
  });
});

describe("a closed webhook: parked deliveries released", () => {
  test("every due one (due exactly now included), in parked order, paced at the release rate with per-message delays, marked released", async () => {
    const h = await setup({ policy: { releaseRate: 2 } });
    const parked = await h.park(h.sub, [{ dueInMs: -5_000 }, { dueInMs: -5_000 }, { dueInMs: -1_000 }, { dueInMs: 0 }, { dueInMs: 0 }]);
    const report = await h.sweep();
    expect(report).toEqual({ webhooks: 1, released: 5, probes: 0, expired: 0, openCircuits: 0, parked: 0 });
    expect(ids(h.sent)).toEqual(parked);
    expect(h.sent.map((s) => s.delaySeconds)).toEqual([0, 0, 1, 1, 2]);
    expect(h.sent[0].message).toEqual({
      v: 1,
      deliveryId: parked[0],
      tenantId: TENANT,
      webhookId: h.sub.id,
      eventId: "evt_1",
      eventType: "record.created",
      payload: '{"n":1}',
      released: true,
    });
    const s = await h.state(h.sub);
    // The cursor is past what was sent; the webhook comes back at once to see what is after it.
    expect([s.releasedThrough, s.parkedCount, s.wakeAt]).toEqual([h.position(0, parked[4]), 0, h.iso(h.now())]);
    expect(h.metrics.get(METRICS.deliveriesReleased)).toBe(5);
    expect(h.world.dlqQueue.depth).toBe(0);
  });

  test("what is not due yet stays; the webhook wakes when the next one is due", async () => {
    const h = await setup();
    const [due] = await h.park(h.sub, [{ dueInMs: 0 }, { dueInMs: 30_000 }]);
    expect((await h.sweep()).released).toBe(1);
    expect(ids(h.sent)).toEqual([due]);
    const s = await h.state(h.sub);
    expect([s.releasedThrough, s.wakeAt, s.parkedCount]).toEqual([h.position(0, due), h.iso(h.now() + 30_000), 1]);
  });

  test("a next due time within the coming second wakes it a second from now; one beyond the sweep interval as it is", async () => {
    const soon = await setup();
    await soon.park(soon.sub, [{ dueInMs: 0 }, { dueInMs: 400 }]);
    await soon.sweep();
    expect((await soon.state(soon.sub)).wakeAt).toBe(soon.iso(soon.now() + 1_000));

    const late = await setup();
    await late.park(late.sub, [{ dueInMs: 0 }, { dueInMs: 90_000 }]);
    await late.sweep();
    expect((await late.state(late.sub)).wakeAt).toBe(late.iso(late.now() + 90_000));
  });

  test("more than a sweep's worth (pace × interval): that much now, the rest from the cursor at the next sweep", async () => {
    const h = await setup({ policy: { releaseRate: 1, sweepSeconds: 3 } });
    const parked = await h.park(
      h.sub,
      Array.from({ length: 5 }, () => ({ dueInMs: 0 })),
    );
    expect((await h.sweep()).released).toBe(3);
    expect(h.sent.map((s) => [s.message.deliveryId, s.delaySeconds])).toEqual([
      [parked[0], 0],
      [parked[1], 1],
      [parked[2], 2],
    ]);
    const first = await h.state(h.sub);
    expect([first.releasedThrough, first.wakeAt, first.parkedCount]).toEqual([h.position(0, parked[2]), h.iso(h.now() + 3_000), 2]);
    await h.world.time.runUntil(h.now() + 3_000);
    expect((await h.sweep()).released).toBe(2);
    expect(h.sent.slice(3).map((s) => [s.message.deliveryId, s.delaySeconds])).toEqual([
      [parked[3], 0],
      [parked[4], 1],
    ]);
    expect((await h.state(h.sub)).releasedThrough).toBe(h.position(-3_000, parked[4]));
  });

  test("exactly a sweep's worth: all sent, and the webhook comes back at once to look past the cursor", async () => {
    const h = await setup({ policy: { releaseRate: 1, sweepSeconds: 3 } });
    await h.park(h.sub, [{}, {}, {}]);
    expect((await h.sweep()).released).toBe(3);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(h.now()));
  });

  test("a sweep that sends nothing looks for the next due one past the cursor, not among those sent and not yet attempted", async () => {
    const h = await setup();
    const [sentFirst] = await h.park(h.sub, [{ dueInMs: 0 }, { dueInMs: 30_000 }]);
    await h.sweep();
    const start = h.now();
    await h.world.time.runUntil(start + 5_000);
    // Due again (something was parked), while the one sent is still in the parked set, not attempted yet.
    await h.world.health.noteParked(TENANT, h.sub.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    expect((await h.sweep()).released).toBe(0);
    expect(ids(h.sent)).toEqual([sentFirst]);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(start + 30_000));
  });

  test("at least one a sweep, however slow the pace", async () => {
    const h = await setup({ policy: { releaseRate: 1 / 120, sweepSeconds: 60 } });
    await h.park(h.sub, [{}, {}]);
    expect((await h.sweep()).released).toBe(1);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(h.now() + 60_000));
  });

  test("its rateLimit paces the release", async () => {
    const h = await setup({ policy: { releaseRate: 10 } });
    await h.world.subscriptions.update(TENANT, h.sub.id, { rateLimit: 1 });
    await h.park(h.sub, [{}, {}, {}]);
    await h.sweep();
    expect(h.sent.map((s) => s.delaySeconds)).toEqual([0, 1, 2]);
  });

  test("nothing parked, nothing released: the wake is cleared, and no released count is emitted", async () => {
    const h = await setup();
    await h.world.health.noteParked(TENANT, h.sub.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    expect(await h.sweep()).toEqual({ webhooks: 1, released: 0, probes: 0, expired: 0, openCircuits: 0, parked: 0 });
    const s = await h.state(h.sub);
    expect([s.wake, s.wakeAt]).toEqual([undefined, undefined]);
    expect(h.metrics.counts.has(METRICS.deliveriesReleased)).toBe(false);
    expect(await h.world.health.due(h.iso(h.now() + 86_400_000), 10)).toEqual([]);
  });

  test("a disabled webhook's parked deliveries are released (the deliver λ skips them), even with its circuit open or paused", async () => {
    const h = await setup({ webhooks: 2 });
    await h.openCircuit(h.subs[0], { nextProbeAt: h.iso(h.now() + 600_000), probeIntervalSeconds: 30 });
    await h.world.subscriptions.update(TENANT, h.subs[1].id, { paused: true });
    for (const s of h.subs) await h.world.subscriptions.update(TENANT, s.id, { enabled: false });
    const a = await h.park(h.subs[0], [{}]);
    const b = await h.park(h.subs[1], [{}]);
    expect((await h.sweep()).released).toBe(2);
    expect(ids(h.sent).sort()).toEqual([...a, ...b].sort());
  });
});

describe("a paused webhook: nothing sent; the retry window still applies", () => {
  test("deliveries whose window ended (at now exactly, too) are failed and dead-lettered; the others wait, and wake it when the next window ends", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    const [ended, endsNow, later, latest] = await h.park(h.sub, [
      { windowInMs: -1, round: "2026-01-01T00:00:00.000Z", attempts: 3 },
      { windowInMs: 0 },
      { windowInMs: 40_000, dueInMs: -10_000 },
      { windowInMs: 80_000 },
    ]);
    const report = await h.sweep();
    expect(report).toEqual({ webhooks: 1, released: 0, probes: 0, expired: 2, openCircuits: 0, parked: 2 });
    expect(h.sent).toEqual([]);
    const nowIso = h.iso(h.now());
    const dlq = h.world.dlqQueue.heldBodies().map((b) => JSON.parse(b));
    expect(dlq.map((m) => m.deliveryId).sort()).toEqual([ended, endsNow]);
    expect(dlq.find((m) => m.deliveryId === ended)).toEqual({
      v: 1,
      deliveryId: ended,
      tenantId: TENANT,
      webhookId: h.sub.id,
      eventId: "evt_1",
      eventType: "record.created",
      payload: '{"n":1}',
      deadLetteredAt: nowIso,
    });
    expect(await h.world.deliveries.get(TENANT, h.sub.id, ended)).toMatchObject({
      status: "failed",
      reason: "retry window ended while parked",
      deadLetteredAt: nowIso,
      roundStart: 3,
      round: "2026-01-01T00:00:00.000Z",
      updatedAt: nowIso,
    });
    expect(h.world.deliveries.peekParked(TENANT, h.sub.id, ended)).toBe(false);
    expect([h.world.deliveries.peekParked(TENANT, h.sub.id, later), h.world.deliveries.peekParked(TENANT, h.sub.id, latest)]).toEqual([true, true]);
    expect([h.metrics.get("DeliveriesFailed"), h.metrics.get("DlqMoves")]).toEqual([2, 2]);
    expect(h.logger.lines.filter((l) => l.level === "warn")).toEqual(
      [ended, endsNow].map((deliveryId) => ({
        level: "warn",
        message: "parked delivery failed: its retry window ended",
        extra: { deliveryId, tenantId: TENANT, webhookId: h.sub.id },
      })),
    );
    const s = await h.state(h.sub);
    expect([s.parkedCount, s.wakeAt, s.releasedThrough]).toEqual([2, h.iso(h.now() + 40_000), undefined]);
  });

  test("a paused webhook with nothing parked is idle: its wake is cleared", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    await h.world.health.noteParked(TENANT, h.sub.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    await h.sweep();
    expect((await h.state(h.sub)).wakeAt).toBeUndefined();
  });

  test("more expired than a page (101): page after page in the same sweep", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    await h.park(
      h.sub,
      Array.from({ length: 150 }, (_, i) => ({ dueInMs: i, windowInMs: -1 })),
    );
    // A second on: the partition's write units of the parking second are not those of the sweep's.
    await h.world.time.runUntil(h.now() + 1_000);
    expect((await h.sweep()).expired).toBe(150);
    expect(h.world.deliveries.parkedOf(TENANT, h.sub.id)).toBe(0);
    expect(h.world.dlqQueue.depth).toBe(150);
  });

  test("a page holding a live delivery ends the paging: the ended ones after it wait until the webhook wakes again (the live one's window end)", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    await h.park(h.sub, [
      ...Array.from({ length: 50 }, (_, i) => ({ dueInMs: i, windowInMs: -1 })),
      { dueInMs: 100, windowInMs: 600_000 },
      ...Array.from({ length: 100 }, (_, i) => ({ dueInMs: 200 + i, windowInMs: -1 })),
    ]);
    await h.world.time.runUntil(h.now() + 1_000);
    expect((await h.sweep()).expired).toBe(100);
    expect(h.world.deliveries.parkedOf(TENANT, h.sub.id)).toBe(51);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(h.now() - 1_000 + 600_000));
  });

  test("at most 10,000 expire per webhook and sweep (the first whole pages past it)", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    // 10,302 ended: 99 pages of 101 are 9,999, the 100th ends the sweep's share at 10,100.
    const total = 10_302;
    const nowIso = h.iso(h.now());
    for (let i = 0; i < total; i++) {
      // 250 a second: within the partition's write units (3 a park).
      if (i % 250 === 249) await h.world.time.runUntil(h.now() + 1_000);
      const deliveryId = `dlv_${String(i).padStart(26, "0")}`;
      await h.world.time.drive(
        h.world.deliveries.park({
          message: { v: 1, deliveryId, tenantId: TENANT, webhookId: h.sub.id, eventId: `e${i}`, eventType: "record.created", payload: "{}" },
          status: "pending",
          roundStart: 0,
          nowIso,
          reason: "paused",
          dueAt: nowIso,
          windowEndsAt: nowIso,
        }),
      );
    }
    await h.world.health.noteParked(TENANT, h.sub.id, { count: total, dueAt: nowIso, nowIso });
    // Each failed record takes 4 write units: 20 ms a write, 4 at a time, stays within the partition's 1,000 a second.
    const write = h.world.deliveries.write.bind(h.world.deliveries);
    h.world.deliveries.write = async (w) => {
      await h.world.time.sleep(20);
      return write(w);
    };
    await h.world.time.runUntil(h.now() + 1_000);
    expect((await h.sweep()).expired).toBe(10_100);
    expect(h.world.deliveries.parkedOf(TENANT, h.sub.id)).toBe(202);
    expect(h.world.dlqQueue.depth).toBe(10_100);
  }, 60_000);

  test("a page that ends the parked set stops the paging", async () => {
    const h = await setup();
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    await h.park(
      h.sub,
      Array.from({ length: 100 }, () => ({ windowInMs: -1 })),
    );
    const parked = h.world.deliveries.parked.bind(h.world.deliveries);
    let queries = 0;
    h.world.deliveries.parked = (...args) => {
      queries++;
      return parked(...args);
    };
    expect((await h.sweep()).expired).toBe(100);
    expect(queries).toBe(1);
  });
});

describe("an open circuit: probes", () => {
  test("a due probe: the oldest due delivery, sent alone and marked probe; the circuit half-open, the next probe an interval on, the interval doubled", async () => {
    const h = await setup({ policy: { probeIntervalSeconds: 30, maxProbeIntervalSeconds: 100 } });
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now()), probeIntervalSeconds: 40 });
    const [, oldest] = await h.park(h.sub, [{ dueInMs: 5_000 }, { dueInMs: -10_000 }, { dueInMs: 0 }]);
    const report = await h.sweep();
    expect(report).toEqual({ webhooks: 1, released: 0, probes: 1, expired: 0, openCircuits: 1, parked: 3 });
    expect(h.sent).toEqual([{ message: expect.objectContaining({ deliveryId: oldest, probe: true }), delaySeconds: 0 }]);
    expect(h.sent[0].message.released).toBeUndefined();
    const s = await h.state(h.sub);
    expect([s.circuit, s.nextProbeAt, s.probeIntervalSeconds, s.wakeAt, s.parkedCount, s.releasedThrough]).toEqual([
      "half-open",
      h.iso(h.now() + 40_000),
      80,
      h.iso(h.now() + 40_000),
      3,
      undefined,
    ]);
    expect(h.logger.lines).toContainEqual({ level: "info", message: "probe sent", extra: { tenantId: TENANT, webhookId: h.sub.id, deliveryId: oldest } });
    expect(h.metrics.get(METRICS.openCircuits)).toBe(1);
    expect(h.metrics.get(METRICS.parkedDeliveries)).toBe(3);
  });

  test("the doubled interval stops at the maximum", async () => {
    const h = await setup({ policy: { maxProbeIntervalSeconds: 100 } });
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now()), probeIntervalSeconds: 60 });
    await h.park(h.sub, [{}]);
    await h.sweep();
    expect((await h.state(h.sub)).probeIntervalSeconds).toBe(100);
  });

  test("nothing due yet: the earliest parked is the probe, sent with the delay until it is due (rounded up, at most 900 s)", async () => {
    const soon = await setup();
    await soon.openCircuit(soon.sub, { nextProbeAt: soon.iso(soon.now()), probeIntervalSeconds: 30 });
    const [first] = await soon.park(soon.sub, [{ dueInMs: 10_200 }, { dueInMs: 20_000 }]);
    await soon.sweep();
    expect(soon.sent.map((s) => [s.message.deliveryId, s.delaySeconds])).toEqual([[first, 11]]);

    const far = await setup();
    await far.openCircuit(far.sub, { nextProbeAt: far.iso(far.now()), probeIntervalSeconds: 30 });
    await far.park(far.sub, [{ dueInMs: 2_000_000 }]);
    await far.sweep();
    expect(far.sent.map((s) => s.delaySeconds)).toEqual([QUEUE.maxDelaySeconds]);
  });

  test("a probe not due yet: nothing sent; it wakes at the probe time, or at an earlier window end", async () => {
    const h = await setup();
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now() + 20_000), probeIntervalSeconds: 30 });
    await h.park(h.sub, [{ windowInMs: 3_600_000 }]);
    expect((await h.sweep()).probes).toBe(0);
    expect(h.sent).toEqual([]);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(h.now() + 20_000));

    const early = await setup();
    await early.openCircuit(early.sub, { nextProbeAt: early.iso(early.now() + 20_000), probeIntervalSeconds: 30 });
    await early.park(early.sub, [{ windowInMs: 10_000 }, { windowInMs: 15_000 }]);
    await early.sweep();
    expect((await early.state(early.sub)).wakeAt).toBe(early.iso(early.now() + 10_000));
  });

  test("a probe another sweep took first (the claim fails): nothing sent; it wakes at the next probe time", async () => {
    let taken = false;
    const h = await setup({
      health: (health) =>
        new Proxy(health, {
          get(target, key, receiver) {
            const v = Reflect.get(target, key, receiver) as unknown;
            if (key !== "claimProbe" || typeof v !== "function") return v;
            // Another sweep claims it just before this one.
            return async (tenantId: string, id: string, o: { expectNextProbeAt: string; nextProbeAt: string; probeIntervalSeconds: number }) => {
              if (!taken) {
                taken = true;
                await target.claimProbe(tenantId, id, o);
              }
              return target.claimProbe(tenantId, id, o);
            };
          },
        }),
    });
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now()), probeIntervalSeconds: 30 });
    await h.park(h.sub, [{}]);
    expect((await h.sweep()).probes).toBe(0);
    expect(h.sent).toEqual([]);
    expect((await h.state(h.sub)).wakeAt).toBe(h.iso(h.now() + 30_000));
  });

  test("an open circuit without a probe interval of its own uses the policy's", async () => {
    const h = await setup({ policy: { probeIntervalSeconds: 45 } });
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now()), probeIntervalSeconds: 30 });
    const item = h.world.subscriptions.byTenant.get(TENANT)!.get(h.sub.id)!;
    h.world.subscriptions.byTenant.get(TENANT)!.set(h.sub.id, { ...item, probeIntervalSeconds: undefined });
    await h.park(h.sub, [{}]);
    await h.sweep();
    const s = await h.state(h.sub);
    expect([s.nextProbeAt, s.probeIntervalSeconds]).toEqual([h.iso(h.now() + 45_000), 90]);
  });

  test("an open circuit whose parked deliveries all expired keeps its wake far ahead: still counted open, not swept again", async () => {
    const h = await setup();
    await h.openCircuit(h.sub, { nextProbeAt: h.iso(h.now()), probeIntervalSeconds: 30 });
    await h.park(h.sub, [{ windowInMs: -1 }, { windowInMs: 0 }]);
    const report = await h.sweep();
    expect(report).toMatchObject({ expired: 2, probes: 0, openCircuits: 1, parked: 0 });
    expect(h.sent).toEqual([]);
    const s = await h.state(h.sub);
    expect([s.wakeAt, s.parkedCount, s.circuit]).toEqual([FAR_FUTURE, 0, "open"]);
  });
});

describe("writes racing the sweep", () => {
  test("a delivery parked while the sweep ran: the wake is not cleared, the webhook is looked at again a sweep interval on", async () => {
    let parkedMeanwhile: (() => Promise<void>) | undefined;
    const h = await setup({
      health: (health) =>
        new Proxy(health, {
          get(target, key, receiver) {
            const v = Reflect.get(target, key, receiver) as unknown;
            if (key !== "setWake" || typeof v !== "function") return v;
            return async (...args: Parameters<HealthStore["setWake"]>) => {
              const p = parkedMeanwhile;
              parkedMeanwhile = undefined;
              if (p) await p();
              return target.setWake(...args);
            };
          },
        }),
    });
    await h.world.subscriptions.update(TENANT, h.sub.id, { paused: true });
    await h.world.health.noteParked(TENANT, h.sub.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    parkedMeanwhile = async () => {
      await h.world.health.noteParked(TENANT, h.sub.id, { count: 1, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    };
    await h.sweep();
    const s = await h.state(h.sub);
    expect([s.wake, s.wakeAt, s.parkedCount]).toEqual(["due", h.iso(h.now() + 60_000), 1]);
  });

  test("a release cursor reset while the sweep ran (the circuit closed): the cursor is not moved past it, and it is looked at again", async () => {
    let resetMeanwhile = true;
    const h = await setup({
      health: (health) =>
        new Proxy(health, {
          get(target, key, receiver) {
            const v = Reflect.get(target, key, receiver) as unknown;
            if (key !== "setWake" || typeof v !== "function") return v;
            return async (...args: Parameters<HealthStore["setWake"]>) => {
              if (resetMeanwhile && args[2].cursor) {
                resetMeanwhile = false;
                await target.recordSuccess(args[0], args[1], { nowIso: new Date(Date.parse("2026-01-01T00:00:00Z")).toISOString(), close: true });
                const item = h.world.subscriptions.byTenant.get(TENANT)!.get(args[1])!;
                h.world.subscriptions.byTenant.get(TENANT)!.set(args[1], { ...item, releasedThrough: "!reset" });
              }
              return target.setWake(...args);
            };
          },
        }),
    });
    await h.park(h.sub, [{}, {}]);
    expect((await h.sweep()).released).toBe(2);
    const s = await h.state(h.sub);
    expect([s.releasedThrough, s.wakeAt]).toEqual(["!reset", h.iso(h.now() + 60_000)]);
  });
});

describe("a sweep", () => {
  test("a webhook whose sweep fails is logged and stays due; the others are served", async () => {
    const h = await setup({ webhooks: 2 });
    const parked = h.world.deliveries.parked.bind(h.world.deliveries);
    h.world.deliveries.parked = async (tenantId, webhookId, o) => {
      if (webhookId === h.subs[0].id) throw new Error("ProvisionedThroughputExceededException");
      return parked(tenantId, webhookId, o);
    };
    await h.park(h.subs[0], [{}]);
    const [ok] = await h.park(h.subs[1], [{}]);
    const report = await h.sweep();
    expect(report).toMatchObject({ webhooks: 2, released: 1 });
    expect(ids(h.sent)).toEqual([ok]);
    const error = h.logger.lines.find((l) => l.level === "error");
    expect(error).toEqual({
      level: "error",
      message: "sweep of a webhook failed",
      extra: { tenantId: TENANT, webhookId: h.subs[0].id, error: expect.objectContaining({ message: "ProvisionedThroughputExceededException" }) },
    });
    expect((await h.state(h.subs[0])).wakeAt).toBe(h.iso(h.now()));
  });

  test("serves 8 webhooks at a time", async () => {
    // 16 paused webhooks with nothing parked: each takes a read and a write (2 × 100 ms), in two rounds of 8.
    const h = await setup({ webhooks: 16, dynamoMs: 100 });
    for (const s of h.subs) {
      await h.world.subscriptions.update(TENANT, s.id, { paused: true });
      await h.world.health.noteParked(TENANT, s.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    }
    const start = h.now();
    expect((await h.sweep()).webhooks).toBe(16);
    // The due query, two rounds of (read, write), the summary.
    expect(h.now() - start).toBe(100 + 2 * 200 + 100);
  });

  test("starts no webhook once 60 % of its interval has passed (at exactly 60 % neither); those left stay due for the next sweep", async () => {
    // 30 due webhooks, each 2 requests of 1.2 s; the due query 1.2 s. Each of the 8 workers starts one at
    // 1.2 s and 3.6 s; the next would start at 6 s, the deadline of a 10 s interval.
    const h = await setup({ webhooks: 30, dynamoMs: 1_200, policy: { sweepSeconds: 10 } });
    for (const s of h.subs) {
      await h.world.subscriptions.update(TENANT, s.id, { paused: true });
      await h.world.health.noteParked(TENANT, s.id, { count: 0, dueAt: h.iso(h.now()), nowIso: h.iso(h.now()) });
    }
    const start = h.now();
    expect((await h.sweep()).webhooks).toBe(16);
    expect(await h.world.health.due(h.iso(start), 100)).toHaveLength(14);
  });
});
