/** Small statistics helpers for the benchmark; pure, unit-tested (test/unit/bench.test.ts). */

/**
 * The p-th percentile by the nearest-rank method: the smallest value such that at least p % of the
 * samples are at or below it. `values` need not be sorted. NaN for no samples.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  if (p < 0 || p > 100) throw new Error(`percentile ${p} is outside 0..100`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  return {
    count: values.length,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? values.reduce((a, b) => Math.max(a, b)) : Number.NaN,
  };
}

/** CPU time (user + system) in milliseconds between two `process.cpuUsage()` readings. */
export function cpuMs(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
  return (after.user - before.user + (after.system - before.system)) / 1000;
}

/** Linux's CPU time counters (/proc/stat, all CPUs): `steal` is time the hypervisor gave to others. */
export interface CpuTimes {
  total: number;
  steal: number;
}

/** Parses the first line of /proc/stat: `cpu user nice system idle iowait irq softirq steal …`. */
export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return undefined;
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

/** The share of CPU time stolen by the hypervisor between two readings, in percent. */
export function stealPercent(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after || after.total === before.total) return undefined;
  return ((after.steal - before.steal) / (after.total - before.total)) * 100;
}
