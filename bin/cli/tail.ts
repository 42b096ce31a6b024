import type { WebhooksClient } from "../../client/index.ts";
import { listWebhooks, type Ctx, type Delivery, type DeliverySummary } from "./commands.ts";
import { outcome, time } from "./output.ts";

type Attempt = Delivery["attempts"][number];

/** One new attempt, as `tail --json` prints it (one JSON object per line). */
export interface TailLine {
  deliveryId: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** What came of this attempt: `retrying` (the next one is due at nextAttemptAt), `retried` (it already was), `succeeded`, `failed` (sent to the DLQ). */
  result: "succeeded" | "retrying" | "retried" | "failed";
  nextAttemptAt: string | null;
  attempt: Attempt;
}

/**
 * Follows new delivery attempts of a tenant (or one webhook) by polling the deliveries API, newest
 * page first. The first poll is the baseline: attempts made before the command started are not
 * printed. Each later poll prints the attempts that appeared since, oldest first. Deliveries pushed
 * off the first page (more than 100 new ones of one webhook between two polls) are missed.
 */
export async function tailCommand(ctx: Ctx, o: { tenant: string; webhook?: string; forSeconds?: number; intervalMs: number }): Promise<void> {
  const client = await ctx.client();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const timer = o.forSeconds === undefined ? undefined : setTimeout(onSignal, o.forSeconds * 1000);
  /** Attempts already seen, per delivery id on the latest pages (one pushed off a page never comes back). */
  let seen = new Map<string, number>();
  try {
    for (let first = true; !stop.signal.aborted; first = false) {
      const webhooks = o.webhook ? [o.webhook] : (await listWebhooks(client, o.tenant)).map((w) => w.id);
      const pages = await Promise.all(webhooks.map((w) => poll(client, o.tenant, w)));
      const lines: TailLine[] = [];
      const now = new Map<string, number>();
      for (const d of pages.flat()) {
        // A delivery first seen after the baseline (also one of a webhook created since) is all new.
        const before = seen.get(d.id) ?? (first ? d.attemptCount : 0);
        now.set(d.id, d.attemptCount);
        if (d.attemptCount > before) lines.push(...(await newAttempts(client, o.tenant, d, before)));
      }
      seen = now;
      lines.sort((a, b) => (a.attempt.at < b.attempt.at ? -1 : a.attempt.at > b.attempt.at ? 1 : 0));
      for (const line of lines) ctx.print(ctx.json ? JSON.stringify(line) : formatTailLine(line));
      if (first) ctx.note(`following new attempts of tenant ${o.tenant}${o.webhook ? ` webhook ${o.webhook}` : ""} (Ctrl-C stops)`);
      await sleep(o.intervalMs, stop.signal);
    }
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function poll(client: WebhooksClient, tenant: string, webhook: string): Promise<DeliverySummary[]> {
  return client.listDeliveries(tenant, webhook, { limit: 100 }).then((p) => p.items);
}

/** The attempts after the first `before`: the summary's last one, or the full record when several are new. */
async function newAttempts(client: WebhooksClient, tenant: string, d: DeliverySummary, before: number): Promise<TailLine[]> {
  const line = (attempt: Attempt, x: { status: string; attemptCount: number; nextAttemptAt: string | null }): TailLine => {
    const ok = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
    const last = attempt.n === x.attemptCount;
    const result = ok ? "succeeded" : !last ? "retried" : x.status === "pending" ? "retrying" : "failed";
    return {
      deliveryId: d.id,
      webhookId: d.webhookId,
      eventId: d.eventId,
      eventType: d.eventType,
      result,
      nextAttemptAt: result === "retrying" ? x.nextAttemptAt : null,
      attempt,
    };
  };
  if (d.attemptCount === before + 1 && d.lastAttempt) return [line(d.lastAttempt, d)];
  const full = await client.getDelivery(tenant, d.webhookId, d.id);
  return full.attempts.filter((a) => a.n > before).map((a) => line(a, full));
}

/** `10:00:01  wh_…  dlv_…  file.ingested  #2  200  12ms  ✔ succeeded` */
export function formatTailLine(l: TailLine): string {
  const result = {
    succeeded: "✔ succeeded",
    retrying: `✖ retry${l.nextAttemptAt ? ` at ${time(l.nextAttemptAt).slice(11)}` : ""}`,
    retried: "✖ retried",
    failed: "✖ failed (DLQ)",
  }[l.result];
  return [
    time(l.attempt.at).slice(11),
    l.webhookId,
    l.deliveryId,
    l.eventType.padEnd(20),
    `#${l.attempt.n}`.padStart(3),
    outcome(l.attempt).padEnd(18),
    `${l.attempt.durationMs}ms`.padStart(7),
    result,
  ].join("  ");
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
