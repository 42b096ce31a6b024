import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RetrySchedule } from "#core/retry.ts";
import { propsFromContext } from "../../lib/context.ts";
import { runTs } from "../support/child.ts";

/**
 * `npx cdk deploy -c retrySchedule=…` takes the local stack's syntax (one parser, in lambdas/core),
 * and a bad value is refused in one line, without a stack trace, before anything is synthesised.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const from = (context: Record<string, string>) => propsFromContext((key) => context[key]);

test("-c retrySchedule takes the syntax of WEBHOOKS_RETRY_SCHEDULE, parsed by the same function", () => {
  for (const spec of ["2s,5s", "5,30,120", "5s, 30s, 2m, 1h, 12h"]) {
    expect(from({ retrySchedule: spec }).retryScheduleSeconds).toEqual(RetrySchedule.parse(spec).delaysSeconds);
  }
  expect(from({ retrySchedule: "2s,5s" }).retryScheduleSeconds).toEqual([2, 5]);
  expect(from({ retrySchedule: "5s,2m,1h" }).retryScheduleSeconds).toEqual([5, 120, 3_600]);
  expect(from({}).retryScheduleSeconds).toBeUndefined();
  expect(from({ autoDisableAfter: "5d" }).autoDisableAfterSeconds).toBe(432_000);
  expect(from({ autoDisableAfterSeconds: "3600" }).autoDisableAfterSeconds).toBe(3_600);
  expect(from({ alarmEmail: "ops@example.com" })).toMatchObject({ alarmEmail: "ops@example.com", alarmTopicArn: undefined });
});

test.each([
  [
    "2s,soon",
    '-c retrySchedule=2s,soon: "soon" is not a duration like 30s, 2m or 1h (give delays after the first attempt, e.g. -c retrySchedule=5s,30s,2m,1h)',
  ],
  [
    "500ms",
    "-c retrySchedule=500ms: retryScheduleSeconds: 0.5 is not a whole number of seconds in [0, 43200] (SQS's visibility timeout limit) (give delays after the first attempt, e.g. -c retrySchedule=5s,30s,2m,1h)",
  ],
  ["13h", "-c retrySchedule=13h: retry delay 46800s is outside 0..43200s (give delays after the first attempt, e.g. -c retrySchedule=5s,30s,2m,1h)"],
])("-c retrySchedule=%s is refused in one line", (spec, message) => {
  expect(() => from({ retrySchedule: spec })).toThrow(message);
});

test("-c breakerThreshold, breakerProbeInterval (a duration, as WEBHOOKS_BREAKER_PROBE_INTERVAL) and releaseRate become the stack's props", () => {
  expect(from({ breakerThreshold: "3", breakerProbeInterval: "2m", releaseRate: "10" })).toMatchObject({
    breakerThreshold: 3,
    breakerProbeIntervalSeconds: 120,
    releaseRate: 10,
  });
  expect(from({ breakerProbeInterval: "90" }).breakerProbeIntervalSeconds).toBe(90);
  expect(from({ breakerProbeInterval: "15m" }).breakerProbeIntervalSeconds).toBe(900);
  expect(from({})).toMatchObject({ breakerThreshold: undefined, breakerProbeIntervalSeconds: undefined, releaseRate: undefined });
});

test.each([
  ["breakerThreshold", "0", "-c breakerThreshold=0: breakerThreshold: 0 is not a whole number of failed attempts, at least 1 (e.g. -c breakerThreshold=5)"],
  ["breakerThreshold", "five", '-c breakerThreshold=five: "five" is not a number (e.g. -c breakerThreshold=5)'],
  ["breakerThreshold", "0x10", '-c breakerThreshold=0x10: "0x10" is not a number (e.g. -c breakerThreshold=5)'],
  [
    "breakerThreshold",
    "2.5",
    "-c breakerThreshold=2.5: breakerThreshold: 2.5 is not a whole number of failed attempts, at least 1 (e.g. -c breakerThreshold=5)",
  ],
  ["breakerProbeInterval", "soon", '-c breakerProbeInterval=soon: "soon" is not a duration like 30s, 2m or 1h (e.g. -c breakerProbeInterval=60s)'],
  [
    "breakerProbeInterval",
    "10s",
    "-c breakerProbeInterval=10s: breakerProbeIntervalSeconds: 10 is not a whole number of seconds in [60, 900] (the release λ sends probes and runs every 60 s; the interval grows to at most 900 s) (e.g. -c breakerProbeInterval=60s)",
  ],
  [
    "breakerProbeInterval",
    "1h",
    "-c breakerProbeInterval=1h: breakerProbeIntervalSeconds: 3600 is not a whole number of seconds in [60, 900] (the release λ sends probes and runs every 60 s; the interval grows to at most 900 s) (e.g. -c breakerProbeInterval=60s)",
  ],
  [
    "releaseRate",
    "0",
    "-c releaseRate=0: releaseRate: 0 is not a whole number of deliveries per second in [1, 1000] (deliveries per second per webhook, e.g. -c releaseRate=50)",
  ],
  ["releaseRate", "-5", '-c releaseRate=-5: "-5" is not a number (deliveries per second per webhook, e.g. -c releaseRate=50)'],
  [
    "releaseRate",
    "5000",
    "-c releaseRate=5000: releaseRate: 5000 is not a whole number of deliveries per second in [1, 1000] (deliveries per second per webhook, e.g. -c releaseRate=50)",
  ],
])("-c %s=%s is refused in one line", (key, value, message) => {
  expect(() => from({ [key]: value })).toThrow(new Error(message));
});

test("the CDK app refuses a bad schedule with one line on stderr and exit code 1", async () => {
  const out = mkdtempSync(join(tmpdir(), "rk-cdk-out-"));
  try {
    // What `cdk synth -c retrySchedule=2s,x` hands the app.
    const env = { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ retrySchedule: "2s,x" }), CDK_OUTDIR: out };
    expect(await runTs(["bin/app.ts"], { cwd: ROOT, env })).toEqual({
      code: 1,
      stdout: "",
      stderr:
        'error: -c retrySchedule=2s,x: "x" is not a duration like 30s, 2m or 1h (give delays after the first attempt, e.g. -c retrySchedule=5s,30s,2m,1h)\n',
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
