/**
 * 100,000 parked deliveries of one webhook released on the in-memory ports of sim/ and their virtual
 * clock (docs/delivery-semantics.md, endpoint health). A file of its own: its ~14 s would be spent
 * again for every mutant it reaches, so Stryker's unit project leaves it out (jest.stryker.config.js,
 * docs/testing.md); `npm test` runs it.
 */
import { HEALTH } from "#core/settings.ts";
import { delivered, parkDelivery, peakPerSecond, run, setup, TENANT } from "../support/health-world.ts";

describe("100,000 parked deliveries of one webhook", () => {
  test("are released in order, at the release rate, without throttling a partition, and every one is delivered once", async () => {
    const { world, subs } = await setup();
    const s = subs[0];
    const N = 100_000;
    // Parked as an open circuit leaves them (one write each through the port), then the circuit closes.
    const nowIso = new Date(world.time.now()).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      // 250 parked a second (3 WCU each with the two index writes, which the simulator charges to the
      // partition): within its 1,000 WCU/s, as a dead endpoint's 200 events/s would be.
      if (i % 250 === 249) await world.time.runUntil(world.time.now() + 1_000);
      const windowEndsAt = new Date(world.time.now() + 86_400_000).toISOString();
      ids.push(await parkDelivery(world, s.id, i, { eventId: `p${i}`, reason: "circuit", nowIso, dueAt: nowIso, windowEndsAt, payload: `{"id":"p${i}"}` }));
    }
    await world.time.drive(world.health.noteParked(TENANT, s.id, { count: N, dueAt: nowIso, nowIso }));
    const start = world.time.now();
    // 100,000 at 50/s: about 2,000 s, plus a sweep interval.
    await run(world, N / HEALTH.releaseRate + 3 * HEALTH.sweepSeconds);
    const got = delivered(world, s);
    expect(got.size).toBe(N);
    expect(world.sender.posts).toBe(N);
    expect(peakPerSecond(got.values())).toBeLessThanOrEqual(HEALTH.releaseRate);
    // In order: received by delivery id (the order of acceptance), within each second.
    const bySecond = [...got.entries()]
      .map(([eventId, t]) => [Math.floor(t / 1000), Number(eventId.slice(1))] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(bySecond.map(([, n]) => n)).toEqual(ids.map((_, i) => i));
    expect(Object.fromEntries(world.ledger.throttles)).toEqual({});
    expect(world.dynamo.hottestWcuPerSecond).toBeLessThan(1_000);
    expect(world.deliveries.parkedTotal).toBe(0);
    expect(Math.max(...got.values()) - start).toBeLessThan((N / HEALTH.releaseRate + 2 * HEALTH.sweepSeconds) * 1000);
    expect(world.ledger.violations).toEqual([]);
  }, 120_000);
});
