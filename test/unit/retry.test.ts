import { parseDuration, parseRetryAfter, RetrySchedule } from "#core/retry.ts";
import { DEFAULT_RETRY_SCHEDULE_SECONDS, MAX_VISIBILITY_TIMEOUT_SECONDS } from "#core/settings.ts";

/** The retry policy (docs/delivery-semantics.md): schedule, ±20 % jitter, Retry-After, SQS's 12 h ceiling, parsing. */

const LOW = () => 0; // jitter factor 0.8
const HIGH = () => 1; // jitter factor 1.2 (Math.random never returns 1; it is the supremum)
const MID = () => 0.5; // jitter factor 1.0

describe("the default schedule", () => {
  const schedule = new RetrySchedule();

  test("is 13 attempts: at once, then 5 s, 30 s, 2 m, 10 m, 30 m, 1 h, 2 h, 4 h, 8 h, 12 h, 12 h, 12 h", () => {
    expect(schedule.maxAttempts).toBe(13);
    expect(schedule.delaysSeconds).toEqual([5, 30, 120, 600, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 43_200, 43_200]);
    expect(schedule.delaysSeconds).toBe(DEFAULT_RETRY_SCHEDULE_SECONDS);
    expect(schedule.toString()).toBe("5s,30s,120s,600s,1800s,3600s,7200s,14400s,28800s,43200s,43200s,43200s");
  });

  test("spans 186155 s (2.15 days) before jitter: 0.8× to 1.2× that after, and no SQS delay is over 12 h", () => {
    const span = (random: () => number) => Array.from({ length: 12 }, (_, i) => schedule.delayAfter(i + 1, undefined, random)!).reduce((a, b) => a + b, 0);
    expect(span(MID)).toBe(186_155);
    // The 12 h delays cannot grow past SQS's visibility ceiling: the high end is 1.2× the rest only.
    expect(span(HIGH)).toBe(Math.round(1.2 * (186_155 - 3 * 43_200)) + 3 * 43_200);
    expect(span(LOW)).toBe(Math.round(0.8 * 186_155));
  });

  test("scheduledDelay is the delay after attempt n; none after the last", () => {
    expect(schedule.scheduledDelay(1)).toBe(5);
    expect(schedule.scheduledDelay(2)).toBe(30);
    expect(schedule.scheduledDelay(12)).toBe(43_200);
    expect(schedule.scheduledDelay(13)).toBeUndefined();
    expect(schedule.delayAfter(13, undefined, MID)).toBeUndefined();
    expect(schedule.delayAfter(13, 60, MID)).toBeUndefined();
  });
});

describe("jitter", () => {
  const schedule = new RetrySchedule();

  test.each([
    [1, 5, 4, 6],
    [2, 30, 24, 36],
    [3, 120, 96, 144],
    [4, 600, 480, 720],
    [7, 7_200, 5_760, 8_640],
    [9, 28_800, 23_040, 34_560],
  ])("after attempt %i (%i s): random 0 → %i s, random 1 → %i s", (attempt, scheduled, low, high) => {
    expect(schedule.delayAfter(attempt, undefined, LOW)).toBe(low);
    expect(schedule.delayAfter(attempt, undefined, HIGH)).toBe(high);
    expect(schedule.delayAfter(attempt, undefined, MID)).toBe(scheduled);
    expect(low).toBe(Math.round(scheduled * 0.8));
    expect(high).toBe(Math.round(scheduled * 1.2));
  });

  test("stays within ±20 % for any random value", () => {
    for (let i = 0; i <= 100; i++) {
      const d = schedule.delayAfter(4, undefined, () => i / 100)!;
      expect(d).toBeGreaterThanOrEqual(480);
      expect(d).toBeLessThanOrEqual(720);
    }
  });

  test("uses Math.random when no source is injected, still within bounds", () => {
    for (let i = 0; i < 50; i++) {
      const d = schedule.delayAfter(2)!;
      expect(d).toBeGreaterThanOrEqual(24);
      expect(d).toBeLessThanOrEqual(36);
    }
  });

  test("never goes above 43200 s (SQS's visibility maximum), even at 12 h × 1.2", () => {
    expect(schedule.delayAfter(10, undefined, LOW)).toBe(34_560);
    expect(schedule.delayAfter(10, undefined, HIGH)).toBe(MAX_VISIBILITY_TIMEOUT_SECONDS);
    expect(schedule.delayAfter(12, undefined, HIGH)).toBe(43_200);
  });
});

describe("Retry-After", () => {
  const schedule = new RetrySchedule();

  test.each([
    ["below the scheduled delay: the scheduled delay", 2, 10, 30],
    ["zero: the scheduled delay", 2, 0, 30],
    ["between: honoured as is", 2, 45, 45],
    ["exactly 2×: honoured", 2, 60, 60],
    ["above 2×: capped at 2× the scheduled delay", 2, 3_600, 60],
    ["after attempt 1 (5 s), asking for 1 h: 10 s", 1, 3_600, 10],
    ["12 h scheduled, asking for a day: capped at 43200", 10, 86_400, 43_200],
    ["8 h scheduled, asking for 15 h: 15 h would exceed SQS's 12 h", 9, 54_000, 43_200],
  ])("%s", (_what, attempt, retryAfter, expected) => {
    // Jitter does not apply on top of a Retry-After: whatever the random source, the same answer.
    expect(schedule.delayAfter(attempt, retryAfter, LOW)).toBe(expected);
    expect(schedule.delayAfter(attempt, retryAfter, HIGH)).toBe(expected);
  });
});

describe("RetrySchedule.parse (WEBHOOKS_RETRY_SCHEDULE)", () => {
  test.each([
    ["1s,2s,5s", [1, 2, 5], 4],
    ["5,30", [5, 30], 3],
    ["2m,1h", [120, 3_600], 3],
    [" 1s , 2m ", [1, 120], 3],
    ["500ms,12h", [0.5, 43_200], 3],
    ["", [], 1],
    ["   ", [], 1],
  ])("%j → %j (%i attempts)", (spec, delays, attempts) => {
    const schedule = RetrySchedule.parse(spec);
    expect(schedule.delaysSeconds).toEqual(delays);
    expect(schedule.maxAttempts).toBe(attempts);
  });

  test("an empty schedule means one attempt and no delay after it", () => {
    expect(RetrySchedule.parse("").delayAfter(1, undefined, MID)).toBeUndefined();
  });

  test("round-trips through toString", () => {
    for (const spec of ["1s,2s,5s", "2m,1h", "5,30,120"]) {
      const once = RetrySchedule.parse(spec);
      expect(RetrySchedule.parse(once.toString()).delaysSeconds).toEqual(once.delaysSeconds);
    }
  });

  test.each([
    ["abc", /"abc" is not a duration/],
    ["5x", /"5x" is not a duration/],
    ["1s,,2s", /"" is not a duration/],
    ["1s,", /"" is not a duration/],
    ["-5s", /"-5s" is not a duration/],
    ["1s;2s", /is not a duration/],
    ["1 h 30 m", /is not a duration/],
    ["13h", /outside 0\.\.43200s/],
    ["2d", /outside 0\.\.43200s/],
  ])("refuses %j", (spec, message) => {
    expect(() => RetrySchedule.parse(spec)).toThrow(message);
  });

  test("the constructor refuses negative, infinite and NaN delays", () => {
    expect(() => new RetrySchedule([-1])).toThrow(/outside/);
    expect(() => new RetrySchedule([Number.POSITIVE_INFINITY])).toThrow(/outside/);
    expect(() => new RetrySchedule([Number.NaN])).toThrow(/outside/);
    expect(() => new RetrySchedule([43_201])).toThrow(/outside/);
    expect(new RetrySchedule([0, 43_200]).maxAttempts).toBe(3);
  });

  test("parseDuration knows ms, s, m, h, d and bare seconds, and fractions of any length", () => {
    expect([parseDuration("250ms"), parseDuration("7"), parseDuration("7s"), parseDuration("3m"), parseDuration("2h"), parseDuration("1d")]).toEqual([
      0.25, 7, 7, 180, 7_200, 86_400,
    ]);
    expect(parseDuration("1.5m")).toBe(90);
    expect([parseDuration("1.25s"), parseDuration("0.125h")]).toEqual([1.25, 450]);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-11-26T10:00:00Z");

  test.each([
    ["120", 120],
    ["0", 0],
    [" 7 ", 7],
    ["Thu, 26 Nov 2026 10:00:30 GMT", 30],
    ["Thu, 26 Nov 2026 11:00:00 GMT", 3_600],
    ["Thu, 26 Nov 2026 10:00:00 GMT", 0],
    ["Thu, 26 Nov 2026 09:00:00 GMT", 0], // in the past: retry now (then clamped to the schedule)
  ])("%j → %i s", (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  test("an HTTP date part-way through a second rounds up", () => {
    expect(parseRetryAfter("Thu, 26 Nov 2026 10:00:30 GMT", now + 500)).toBe(30);
  });

  test.each([undefined, "", "   ", "soon", "abc", "12 monkeys", "5 s", "1e3", "0x10"])("garbage %j → undefined", (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
