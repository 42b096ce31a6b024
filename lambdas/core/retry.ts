import { DEFAULT_RETRY_SCHEDULE_SECONDS, MAX_VISIBILITY_TIMEOUT_SECONDS, RETRY_JITTER } from "./settings.ts";

/**
 * The retry policy (docs/delivery-semantics.md): a schedule of delays after attempt 1, each with ±20 % jitter, never
 * above SQS's 12 h visibility maximum. `Retry-After` on 429/503 may lengthen a delay up to 2×.
 */
export class RetrySchedule {
  constructor(readonly delaysSeconds: readonly number[] = DEFAULT_RETRY_SCHEDULE_SECONDS) {
    for (const d of delaysSeconds) {
      if (!Number.isFinite(d) || d < 0 || d > MAX_VISIBILITY_TIMEOUT_SECONDS) {
        throw new Error(`retry delay ${d}s is outside 0..${MAX_VISIBILITY_TIMEOUT_SECONDS}s`);
      }
    }
  }

  /** Total attempts: the first one plus one per delay. */
  get maxAttempts(): number {
    return this.delaysSeconds.length + 1;
  }

  /** The retry window: every delay of the schedule, before jitter. */
  get totalSeconds(): number {
    return this.delaysSeconds.reduce((a, b) => a + b, 0);
  }

  /** The delay after attempt `attempt` (1-based), or undefined when that was the last one. */
  scheduledDelay(attempt: number): number | undefined {
    return this.delaysSeconds[attempt - 1];
  }

  /** The delay to apply after a failed attempt: jittered, honouring Retry-After, clamped to SQS's limit. */
  delayAfter(attempt: number, retryAfterSeconds?: number, random: () => number = Math.random): number | undefined {
    const scheduled = this.scheduledDelay(attempt);
    if (scheduled === undefined) return undefined;
    const jittered = scheduled * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random());
    const wanted = retryAfterSeconds === undefined ? jittered : Math.min(Math.max(retryAfterSeconds, scheduled), 2 * scheduled);
    return Math.min(Math.round(wanted), MAX_VISIBILITY_TIMEOUT_SECONDS);
  }

  /** `5s,30s,2m,1h` — the form WEBHOOKS_RETRY_SCHEDULE takes and the stack passes to the λs. */
  toString(): string {
    return this.delaysSeconds.map((d) => `${d}s`).join(",");
  }

  /** Parses `1s,2s,5s` / `5,30,120` / `2m,1h`. An empty string means a single attempt. */
  static parse(spec: string): RetrySchedule {
    const trimmed = spec.trim();
    if (trimmed === "") return new RetrySchedule([]);
    return new RetrySchedule(trimmed.split(",").map(parseDuration));
  }
}

const UNIT_SECONDS: Record<string, number> = { "": 1, ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400 };

export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration like 30s, 2m or 1h`);
  return Number(m[1]) * UNIT_SECONDS[m[2] ?? ""];
}

/** `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}
