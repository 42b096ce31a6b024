import type { CoreLogger } from "#core/ports.ts";

export type Level = "debug" | "info" | "warn" | "error" | "silent";
const ORDER: Level[] = ["debug", "info", "warn", "error", "silent"];

/**
 * The local stack's logger: one readable line per entry instead of Lambda's JSON. Like the λs'
 * Powertools Logger it is only ever given ids and outcomes, never secrets or payloads.
 */
export function consoleLogger(level: Level = "warn", write: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): CoreLogger {
  const at = ORDER.indexOf(level);
  const log =
    (lvl: Level) =>
    (message: string, ...extra: Record<string, unknown>[]) => {
      if (ORDER.indexOf(lvl) < at) return;
      const fields = Object.assign({}, ...extra) as Record<string, unknown>;
      const rest = Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === "object" ? JSON.stringify(v) : String(v)}`)
        .join(" ");
      write(`${new Date().toISOString().slice(11, 23)} ${lvl.toUpperCase().padEnd(5)} ${message}${rest ? ` ${rest}` : ""}`);
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}
