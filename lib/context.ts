import { parseDuration, RetrySchedule } from "#core/retry.ts";
import {
  validAutoDisable,
  validBreakerThreshold,
  validProbeInterval,
  validReleaseRate,
  validRetrySchedule,
  type WebhooksStackProps,
} from "./webhooks-stack.ts";

/** A `-c key=value` the app cannot use: bin/app.ts prints its message as one line and exits 1. */
export class ContextError extends Error {
  override readonly name = "ContextError";
}

/**
 * The stack's props from the CDK context (`-c key=value`), read with the same parsers as the local
 * stack's environment: `-c retrySchedule=2s,5s` is WEBHOOKS_RETRY_SCHEDULE=2s,5s (RetrySchedule.parse
 * in lambdas/core), `-c autoDisableAfter=5d` (or plain seconds in `autoDisableAfterSeconds`), and
 * endpoint health's `-c breakerThreshold=5`, `-c breakerProbeInterval=60s` (WEBHOOKS_BREAKER_PROBE_INTERVAL,
 * parsed by the same parseDuration), `-c releaseRate=50`.
 * Every value is checked here, so that a bad one is one line, not a stack trace.
 */
export function propsFromContext(
  get: (key: string) => string | undefined,
): Pick<
  WebhooksStackProps,
  "retryScheduleSeconds" | "autoDisableAfterSeconds" | "breakerThreshold" | "breakerProbeIntervalSeconds" | "releaseRate" | "alarmEmail" | "alarmTopicArn"
> {
  const retrySchedule = get("retrySchedule");
  const autoDisable = get("autoDisableAfter") ?? get("autoDisableAfterSeconds");
  const key = get("autoDisableAfter") === undefined ? "autoDisableAfterSeconds" : "autoDisableAfter";
  const threshold = get("breakerThreshold");
  const probeInterval = get("breakerProbeInterval");
  const releaseRate = get("releaseRate");
  return {
    retryScheduleSeconds:
      retrySchedule === undefined
        ? undefined
        : checked(`-c retrySchedule=${retrySchedule}`, "give delays after the first attempt, e.g. -c retrySchedule=5s,30s,2m,1h", () =>
            validRetrySchedule(RetrySchedule.parse(retrySchedule).delaysSeconds),
          ),
    autoDisableAfterSeconds:
      autoDisable === undefined
        ? undefined
        : checked(`-c ${key}=${autoDisable}`, "e.g. -c autoDisableAfter=5d", () => validAutoDisable(parseDuration(autoDisable))),
    breakerThreshold:
      threshold === undefined
        ? undefined
        : checked(`-c breakerThreshold=${threshold}`, "e.g. -c breakerThreshold=5", () => validBreakerThreshold(decimal(threshold))),
    breakerProbeIntervalSeconds:
      probeInterval === undefined
        ? undefined
        : checked(`-c breakerProbeInterval=${probeInterval}`, "e.g. -c breakerProbeInterval=60s", () => validProbeInterval(parseDuration(probeInterval))),
    releaseRate:
      releaseRate === undefined
        ? undefined
        : checked(`-c releaseRate=${releaseRate}`, "deliveries per second per webhook, e.g. -c releaseRate=50", () => validReleaseRate(decimal(releaseRate))),
    alarmEmail: get("alarmEmail"),
    alarmTopicArn: get("alarmTopicArn"),
  };
}

/** A plain decimal number ("5", "2.5"): Number() alone would take "", "0x10" or "1e3". */
function decimal(text: string): number {
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text)) throw new Error(`"${text}" is not a number`);
  return Number(text);
}

function checked<T>(what: string, example: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ContextError(`${what}: ${(err as Error).message} (${example})`);
  }
}
