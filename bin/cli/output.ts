/** Human output: plain padded columns, short times. Machine output is `--json` (see commands). */

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = [headers, ...rows].map((row) => row.map((c) => (c === null || c === undefined ? "-" : String(c))));
  const widths = headers.map((_, i) => Math.max(...text.map((row) => row[i]?.length ?? 0)));
  return text
    .map((row) =>
      row
        .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `2026-11-26T10:00:00.123Z` → `2026-11-26 10:00:00Z`. */
export function time(iso: string | null | undefined): string {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "-";
}

/** At most `max` characters on one line. */
export function clip(s: string | null | undefined, max = 60): string {
  if (!s) return "";
  const line = s.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** An attempt's outcome in a few characters: the status code, or the error's kind. */
export function outcome(a: { statusCode: number | null; error: string | null } | null | undefined): string {
  if (!a) return "-";
  if (a.statusCode !== null) return String(a.statusCode);
  return clip(a.error, 40) || "-";
}

/** `Label:  value` lines, aligned; pairs without a value are left out. */
export function keyValues(pairs: readonly (readonly [string, Cell])[]): string {
  const shown = pairs.filter(([, v]) => v !== null && v !== undefined && v !== "");
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`).join("\n");
}

/** What the health helpers read of a webhook (the API's `paused`, `rateLimit` and `health`). */
export interface HealthView {
  paused: boolean;
  rateLimit: number | null;
  health: { state: string; consecutiveFailures: number; parked: number; openedAt?: string; nextProbeAt?: string };
}

/**
 * A webhook's health in a table cell: `ok`, or the circuit's state and/or `paused`, with the failed
 * attempts in a row and the deliveries parked when there are any: `open (7 failed, 1843 parked)`.
 */
export function healthCell(w: HealthView): string {
  const { state, consecutiveFailures, parked } = w.health;
  const status = [w.paused ? "paused" : "", state !== "closed" ? state : w.paused ? "" : "ok"].filter(Boolean).join(", ");
  const counts = [consecutiveFailures ? `${consecutiveFailures} failed` : "", parked ? `${parked} parked` : ""].filter(Boolean).join(", ");
  return counts ? `${status} (${counts})` : status;
}

/** `5/s`, or `-` without a limit. */
export function rateCell(w: HealthView): string {
  return w.rateLimit === null ? "-" : `${w.rateLimit}/s`;
}

/** The `keyValues` lines of a webhook's health: pause, rate limit, circuit, failures, parked, next probe. */
export function healthLines(w: HealthView): [string, Cell][] {
  const { state, consecutiveFailures, parked, openedAt, nextProbeAt } = w.health;
  return [
    ["Paused", w.paused ? "yes: its deliveries are parked until it is resumed" : "no"],
    ["Rate limit", w.rateLimit === null ? "none" : `${w.rateLimit} deliveries/s`],
    ["Circuit", openedAt ? `${state} since ${time(openedAt)}` : state],
    ["Failures", `${consecutiveFailures} in a row`],
    ["Parked", parked],
    ["Next probe", nextProbeAt && time(nextProbeAt)],
  ];
}
