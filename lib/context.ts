import { parseDuration, RetrySchedule } from "#core/retry.ts";
import { validAutoDisable, validRetrySchedule, type WebhooksStackProps } from "./webhooks-stack.ts";

/** A `-c key=value` the app cannot use: bin/app.ts prints its message as one line and exits 1. */
export class ContextError extends Error {
  override readonly name = "ContextError";
}

/**
 * The stack's props from the CDK context (`-c key=value`), read with the same parsers as the local
 * stack's environment: `-c retrySchedule=2s,5s` is WEBHOOKS_RETRY_SCHEDULE=2s,5s (RetrySchedule.parse
 * in lambdas/core), `-c autoDisableAfter=5d` (or plain seconds in `autoDisableAfterSeconds`).
 * Every value is checked here, so that a bad one is one line, not a stack trace.
 */
export function propsFromContext(get: (key: string) => string | undefined): Pick<WebhooksStackProps, "retryScheduleSeconds" | "autoDisableAfterSeconds" | "alarmEmail" | "alarmTopicArn"> {
  const retrySchedule = get("retrySchedule");
  const autoDisable = get("autoDisableAfter") ?? get("autoDisableAfterSeconds");
  const key = get("autoDisableAfter") === undefined ? "autoDisableAfterSeconds" : "autoDisableAfter";
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
    alarmEmail: get("alarmEmail"),
    alarmTopicArn: get("alarmTopicArn"),
  };
}

function checked<T>(what: string, example: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new ContextError(`${what}: ${(err as Error).message} (${example})`);
  }
}
