/**
 * `npm run simulate -- --quick` in-process: every scenario of docs/scale.md, CI-sized, on the
 * AWS-faithful in-memory ports with the real core. Asserts the loss accounting and the AWS rules,
 * never timings.
 */
import { passed } from "../../sim/report.ts";
import { runScenario, type ScenarioResult } from "../../sim/scenario.ts";
import { scenarios } from "../../sim/scenarios.ts";

const results = new Map<string, ScenarioResult>();

beforeAll(async () => {
  for (const spec of scenarios(true)) results.set(spec.key, await runScenario(spec));
}, 120_000);

describe("npm run simulate -- --quick", () => {
  test.each(["a", "b", "c", "d", "e", "f", "g"])("(%s): every accepted delivery is delivered, failed, skipped or still retrying; no AWS rule broken", (key) => {
    const r = results.get(key)!;
    const a = r.accounting;
    expect(a.missing).toBe(0);
    expect(a.delivered + a.failedInDlq + a.failedOther + a.skipped + a.retrying).toBe(r.accepted.deliveries);
    expect(r.accepted.deliveries).toBeGreaterThan(0);
    expect(r.violations).toEqual([]);
    expect(r.largestItemBytes).toBeLessThanOrEqual(400 * 1024);
    expect(r.hottestPartitionWcu).toBeLessThanOrEqual(1_000);
    expect(r.inFlightPeak).toBeLessThanOrEqual(r.inFlightLimit);
    expect(r.concurrencyPeak).toBeLessThanOrEqual(r.concurrencyLimit);
    expect(passed(r)).toBe(true);
  });

  test("(a) and (d) deliver everything they accepted; (e) delivers everything through the write outage and counts its failed bookkeeping", () => {
    for (const key of ["a", "d", "e"]) expect(results.get(key)!.accounting.delivered).toBe(results.get(key)!.accepted.deliveries);
    expect(results.get("e")!.metrics.BookkeepingWriteFailures).toBeGreaterThan(0);
  });

  test("(f) holds the 12 h Retry-After by re-receiving, never by asking SQS for more visibility than the receive has left, and dead-letters at the end", () => {
    const f = results.get("f")!;
    expect(f.metrics.BackoffsExtended).toBeGreaterThan(0);
    expect(f.accounting.failedInDlq).toBe(f.accepted.deliveries - f.accounting.delivered);
  });

  test("(g) the binary bodies of three redrive rounds keep every delivery item small", () => {
    const g = results.get("g")!;
    expect(g.metrics.DlqMoves).toBeGreaterThanOrEqual(3);
    expect(g.largestItemBytes).toBeLessThan(20 * 1024);
  });
});
