/**
 * `npm run simulate -- --quick` in-process: every scenario of docs/scale.md, CI-sized, on the
 * AWS-faithful in-memory ports with the real core. Asserts the loss accounting, the AWS rules and
 * the structural bounds of endpoint health (in flight, release pacing), never timings.
 */
import { newWebhookId } from "#core/ids.ts";
import type { Subscription } from "#core/model.ts";
import { HEALTH, LIMITS } from "#core/settings.ts";
import { passed } from "../../sim/report.ts";
import { runScenario, type ScenarioResult } from "../../sim/scenario.ts";
import { scenarios } from "../../sim/scenarios.ts";
import { World } from "../../sim/world.ts";

const results = new Map<string, ScenarioResult>();

beforeAll(async () => {
  for (const spec of scenarios(true)) results.set(spec.key, await runScenario(spec));
}, 180_000);

describe("npm run simulate -- --quick", () => {
  test.each(["a", "b", "c", "d", "e", "f", "g", "h"])(
    "(%s): every accepted delivery is delivered, failed, skipped, still retrying or parked; no AWS rule broken",
    (key) => {
      const r = results.get(key)!;
      const a = r.accounting;
      expect(a.missing).toBe(0);
      expect(a.delivered + a.failedInDlq + a.failedOther + a.skipped + a.retrying + a.parked).toBe(r.accepted.deliveries);
      expect(r.accepted.deliveries).toBeGreaterThan(0);
      expect(r.violations).toEqual([]);
      expect(r.largestItemBytes).toBeLessThanOrEqual(400 * 1024);
      expect(r.hottestPartitionWcu).toBeLessThanOrEqual(1_000);
      expect(r.inFlightPeak).toBeLessThanOrEqual(r.inFlightLimit);
      expect(r.concurrencyPeak).toBeLessThanOrEqual(r.concurrencyLimit);
      expect(passed(r)).toBe(true);
    },
  );

  test("(a) and (e) deliver everything they accepted, (e) through the write outage, counting its failed bookkeeping; (d) sends its slow endpoints' deliveries to the slow lane and fails none", () => {
    for (const key of ["a", "e"]) expect(results.get(key)!.accounting.delivered).toBe(results.get(key)!.accepted.deliveries);
    expect(results.get("e")!.metrics.BookkeepingWriteFailures).toBeGreaterThan(0);
    const d = results.get("d")!;
    expect(d.accounting.failedInDlq + d.accounting.failedOther + d.accounting.skipped).toBe(0);
    expect(d.metrics.ForwardedToSlowLane).toBeGreaterThan(0);
    expect(d.slowLane!.concurrencyPeak).toBeGreaterThan(0);
  });

  test.each(["b", "c"])("(%s): the dead endpoint's circuit opens and its deliveries wait parked, so in flight stays below 5 %% of the limit", (key) => {
    const r = results.get(key)!;
    expect(r.openCircuitsPeak).toBe(1);
    expect(r.metrics.CircuitsOpened).toBe(1);
    expect(r.sweeps.probes).toBeGreaterThan(0);
    expect(r.parkedPeak).toBeGreaterThan(0);
    expect(r.accounting.parked).toBeGreaterThan(0);
    expect(r.unhealthyInFlightPeak).toBeLessThan(0.05 * r.inFlightLimit);
    expect(r.inFlightPeak).toBeLessThan(0.05 * r.inFlightLimit);
    // Whatever was not delivered is the dead endpoint's: parked, expired to the DLQ, or a probe/first attempt in flight.
    expect(r.accounting.delivered + r.accounting.parked + r.accounting.failedInDlq + r.accounting.retrying).toBe(r.accepted.deliveries);
  });

  test("(h): the recovered endpoints get every parked delivery back, at most the release rate per second each", () => {
    const h = results.get("h")!;
    const p = h.pacing!;
    expect(h.metrics.CircuitsClosed).toBeGreaterThanOrEqual(1);
    expect(p.webhooks).toBeGreaterThanOrEqual(1);
    expect(p.released).toBeGreaterThan(HEALTH.releaseRate * 10);
    expect(p.parkedAtEnd).toBe(0);
    expect(h.accounting.parked).toBe(0);
    expect(h.accounting.failedInDlq + h.accounting.failedOther).toBe(0);
    // The release rate per calendar second: the windows of the core's per-webhook rate gate.
    expect(p.maxReleasedPerCalendarSecond).toBeLessThanOrEqual(HEALTH.releaseRate);
  });

  test("(f) parks the 12 h Retry-After instead of holding it in flight, never asks SQS for more visibility than the receive has left, and dead-letters each delivery whose window ended", () => {
    const f = results.get("f")!;
    expect(f.metrics.DeliveriesParked).toBeGreaterThan(0);
    expect(f.accounting.failedInDlq).toBeGreaterThan(0);
    expect(f.accounting.failedInDlq + f.accounting.parked).toBe(f.accepted.deliveries - f.accounting.delivered);
  });

  test("(g) the binary bodies of three redrive rounds keep every delivery item small", () => {
    const g = results.get("g")!;
    expect(g.metrics.DlqMoves).toBeGreaterThanOrEqual(3);
    expect(g.largestItemBytes).toBeLessThan(20 * 1024);
  });
});

describe("the simulated DynamoDB applies an update to the item as it is when the write lands", () => {
  async function oneWebhook(world: World): Promise<Subscription> {
    const now = new Date(world.time.now()).toISOString();
    const sub: Subscription = {
      tenantId: "acct_1",
      id: newWebhookId(world.time.now()),
      url: "https://example.com/hook",
      eventTypes: ["*"],
      enabled: true,
      secrets: [{ value: `whsec_${Buffer.alloc(24, 1).toString("base64")}`, createdAt: now }],
      createdAt: now,
      updatedAt: now,
    };
    await world.subscriptions.create(sub, LIMITS.webhooksPerTenant);
    return sub;
  }

  test("two concurrent conditional opens of one circuit: one succeeds; a failure counted while a probe is claimed is not lost", async () => {
    const world = new World();
    const sub = await oneWebhook(world);
    const nowIso = new Date(world.time.now()).toISOString();
    for (let i = 0; i < 5; i++) await world.health.recordFailure(sub.tenantId, sub.id, { nowIso, count: 1 });
    const open = { threshold: 5, nowIso, nextProbeAt: nowIso, probeIntervalSeconds: 60 };
    const opened = await Promise.all([world.health.openCircuit(sub.tenantId, sub.id, open), world.health.openCircuit(sub.tenantId, sub.id, open)]);
    expect(opened.filter(Boolean)).toHaveLength(1);

    await Promise.all([
      world.health.recordFailure(sub.tenantId, sub.id, { nowIso, count: 1 }),
      world.health.claimProbe(sub.tenantId, sub.id, { expectNextProbeAt: nowIso, nextProbeAt: nowIso, probeIntervalSeconds: 120 }),
    ]);
    const after = world.subscriptions.byTenant.get(sub.tenantId)!.get(sub.id)!;
    expect(after.consecutiveFailures).toBe(6);
    expect(after.circuit).toBe("half-open");
  });
});
