import type { AttemptReport } from "#core/delivery.ts";

/** One compact line per attempt: time, tenant, webhook, type, outcome, status, duration. */
export function formatAttempt({ message, attempt, outcome, nextDelaySeconds }: AttemptReport): string {
  const mark = outcome === "succeeded" ? "✔ delivered" : outcome === "retrying" ? `✖ retry in ${nextDelaySeconds}s` : "✖ failed (DLQ)";
  const status = attempt.statusCode ?? attempt.error?.split(":")[0] ?? "";
  return [
    attempt.at.slice(11, 19),
    message.tenantId,
    message.webhookId,
    message.eventType.padEnd(20),
    `#${attempt.n}`,
    String(status).padEnd(18),
    `${attempt.durationMs}ms`.padStart(7),
    mark,
    message.deliveryId,
  ].join("  ");
}

export function printAttempt(report: AttemptReport): void {
  console.log(formatAttempt(report));
}
