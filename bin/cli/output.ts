/** Human output: plain padded columns, short times. Machine output is `--json` (see commands). */

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = [headers, ...rows].map((row) => row.map((c) => (c === null || c === undefined ? "-" : String(c))));
  const widths = headers.map((_, i) => Math.max(...text.map((row) => row[i]?.length ?? 0)));
  return text.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n");
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
