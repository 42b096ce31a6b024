import { readFileSync } from "node:fs";
import { matchesType } from "#core/matching.ts";
import type { DeliveryStatus } from "#core/model.ts";
import { parseDuration } from "#core/retry.ts";
import { WebhooksError, type Delivery, type DeliverySummary, type PublishEvent, type Webhook, type WebhooksClient } from "../../client/index.ts";
import { UsageError } from "./errors.ts";
import { clip, healthCell, healthLines, keyValues, outcome, plural, rateCell, table, time } from "./output.ts";

export type { Delivery, DeliverySummary, Webhook };

/** How printed hints name the CLI: from a clone, only `npx rk-webhooks` finds it. */
export const CLI = "npx rk-webhooks";

/** What every command gets: the target's client, and where and how to print. */
export interface Ctx {
  /** `--json`: print one JSON document (or one per line for streams) instead of text. */
  json: boolean;
  client(): Promise<WebhooksClient>;
  /** A line of the result, to stdout. */
  print(text: string): void;
  /** Progress and hints, to stderr (also with --json), so that stdout holds only the result. */
  note(text: string): void;
}

export function printJson(ctx: Ctx, value: unknown): void {
  ctx.print(JSON.stringify(value, null, 2));
}

/** Every webhook of a tenant. */
export async function listWebhooks(client: WebhooksClient, tenant: string): Promise<Webhook[]> {
  const items: Webhook[] = [];
  for await (const w of client.webhooks(tenant)) items.push(w);
  return items;
}

/** Up to `limit` deliveries of one webhook, newest first. */
export async function listDeliveries(
  client: WebhooksClient,
  tenant: string,
  webhook: string,
  o: { status?: DeliveryStatus; limit: number },
): Promise<DeliverySummary[]> {
  const items: DeliverySummary[] = [];
  for await (const d of client.deliveries(tenant, webhook, { status: o.status, pageSize: Math.min(100, o.limit) })) {
    items.push(d);
    if (items.length >= o.limit) break;
  }
  return items;
}

// ── webhooks ─────────────────────────────────────────────────────────────────────────────────

export async function webhooksCommand(ctx: Ctx, o: { tenant: string }): Promise<void> {
  const items = await listWebhooks(await ctx.client(), o.tenant);
  if (ctx.json) return printJson(ctx, items);
  if (items.length === 0) return ctx.print(`tenant ${o.tenant} has no webhooks`);
  ctx.print(
    table(
      ["ID", "ENABLED", "HEALTH", "RATE", "EVENT TYPES", "URL", "DESCRIPTION"],
      items.map((w) => [
        w.id,
        w.enabled ? "yes" : `no (${clip(w.disabledReason, 30)})`,
        healthCell(w),
        rateCell(w),
        w.eventTypes.join(","),
        w.url,
        clip(w.description, 40),
      ]),
    ),
  );
}

/** `a,b , c` → `["a", "b", "c"]`. */
export const list = (value: string): string[] =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** A shell-safe value: as is when it needs no quoting (ids, secrets), else single-quoted. */
const shell = (v: string) => (/^[\w.:/@%+=,-]+$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`);

function printWebhook(ctx: Ctx, w: Webhook): void {
  ctx.print(
    keyValues([
      ["Webhook", w.id],
      ["URL", w.url],
      ["Event types", w.eventTypes.join(", ")],
      ["Enabled", w.enabled ? "yes" : `no (${w.disabledReason ?? "disabled"})`],
      ...healthLines(w),
      ["Description", w.description],
      ["Updated", time(w.updatedAt)],
    ]),
  );
}

/** One webhook with its health (docs/delivery-semantics.md): circuit, failures in a row, parked deliveries, next probe. */
export async function webhooksShowCommand(ctx: Ctx, webhook: string, o: { tenant: string }): Promise<void> {
  const w = await (await ctx.client()).getWebhook(o.tenant, webhook);
  if (ctx.json) return printJson(ctx, w);
  printWebhook(ctx, w);
}

export async function webhooksCreateCommand(
  ctx: Ctx,
  o: { tenant: string; url: string; eventTypes: string[]; description?: string; disabled?: boolean; paused?: boolean; rateLimit?: number },
): Promise<void> {
  const w = await (await ctx.client()).createWebhook(o.tenant, {
    url: o.url,
    eventTypes: o.eventTypes,
    description: o.description,
    ...(o.disabled ? { enabled: false } : {}),
    ...(o.paused ? { paused: true } : {}),
    ...(o.rateLimit !== undefined ? { rateLimit: o.rateLimit } : {}),
  });
  if (ctx.json) return printJson(ctx, w);
  // stdout is a line for the shell: eval "$(npx rk-webhooks webhooks create …)".
  ctx.print(`export WEBHOOK=${shell(w.id)} SECRET=${shell(w.secret)}`);
  const state = [w.enabled ? "" : "disabled", w.paused ? "paused" : "", w.rateLimit === null ? "" : `at most ${w.rateLimit}/s`].filter(Boolean).join(", ");
  ctx.note(`created webhook ${w.id} for ${w.eventTypes.join(",")} → ${w.url}${state ? ` (${state})` : ""}; its secret is shown only now`);
}

export async function webhooksUpdateCommand(
  ctx: Ctx,
  webhook: string,
  o: { tenant: string; url?: string; eventTypes?: string[]; description?: string; rateLimit?: number | "none" },
): Promise<void> {
  const patch = {
    url: o.url,
    eventTypes: o.eventTypes,
    description: o.description === undefined ? undefined : o.description === "" ? null : o.description,
    rateLimit: o.rateLimit === "none" ? null : o.rateLimit,
  };
  if (Object.values(patch).every((v) => v === undefined))
    throw new UsageError("webhooks update needs at least one of --url, --event-types, --description, --rate-limit");
  const w = await (await ctx.client()).updateWebhook(o.tenant, webhook, patch);
  if (ctx.json) return printJson(ctx, w);
  printWebhook(ctx, w);
}

export async function webhooksEnableCommand(ctx: Ctx, webhook: string, o: { tenant: string; enabled: boolean }): Promise<void> {
  const w = await (await ctx.client()).updateWebhook(o.tenant, webhook, { enabled: o.enabled });
  if (ctx.json) return printJson(ctx, w);
  ctx.print(`webhook ${w.id} ${w.enabled ? "enabled" : `disabled (${w.disabledReason})`}`);
}

/**
 * Pauses or resumes a webhook (docs/delivery-semantics.md). Paused, its deliveries are parked, not skipped (unlike
 * `disable`); resumed, the parked ones are released oldest first at the release rate.
 */
export async function webhooksPauseCommand(ctx: Ctx, webhook: string, o: { tenant: string; paused: boolean }): Promise<void> {
  const w = await (await ctx.client()).updateWebhook(o.tenant, webhook, { paused: o.paused });
  if (ctx.json) return printJson(ctx, w);
  if (o.paused) {
    ctx.print(`webhook ${w.id} paused: its deliveries are kept (parked), not sent, until it is resumed`);
    return ctx.note(`resume it with: ${CLI} webhooks resume ${w.id} --tenant ${o.tenant}`);
  }
  // The count is the one the resume answered (approximate); the release λ sends them from its next sweep.
  const parked = w.health.parked;
  const released = parked === 1 ? "its 1 parked delivery is released" : `its ${parked} parked deliveries are released`;
  ctx.print(`webhook ${w.id} resumed${parked > 0 ? `: ${released}, oldest first, at the release rate` : ""}`);
}

export async function webhooksDeleteCommand(ctx: Ctx, webhook: string, o: { tenant: string }): Promise<void> {
  await (await ctx.client()).deleteWebhook(o.tenant, webhook);
  if (ctx.json) return printJson(ctx, { deleted: webhook });
  ctx.print(`webhook ${webhook} deleted`);
}

export async function webhooksRotateCommand(ctx: Ctx, webhook: string, o: { tenant: string; graceSeconds?: number }): Promise<void> {
  const w = await (await ctx.client()).rotateSecret(o.tenant, webhook, o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds });
  if (ctx.json) return printJson(ctx, w);
  ctx.print(`export SECRET=${shell(w.secret)}`);
  ctx.note(
    w.previousSecretsExpireAt
      ? `new secret for ${w.id}; the previous one keeps signing until ${time(w.previousSecretsExpireAt)}: switch the receiver before then`
      : `new secret for ${w.id}; the previous one no longer signs`,
  );
}

// ── publish ──────────────────────────────────────────────────────────────────────────────────

/** `--data '{"recordId": "rec_1"}'`, or `@file.json` (`@-`: standard input). */
export function readData(value: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith("@")) {
    const file = value.slice(1);
    try {
      text = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
      throw new UsageError(`--data ${value}: ${(err as Error).message}`);
    }
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--data is not JSON: ${(err as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new UsageError('--data must be a JSON object, e.g. \'{"recordId": "rec_1"}\'');
  return data as Record<string, unknown>;
}

export async function publishCommand(ctx: Ctx, o: { tenant: string; type: string; data: string; id?: string; occurredAt?: string }): Promise<void> {
  const event = { type: o.type, tenantId: o.tenant, data: readData(o.data), id: o.id, occurredAt: o.occurredAt } as PublishEvent;
  const r = await (await ctx.client()).publish(event);
  if (ctx.json) return printJson(ctx, r);
  ctx.print(`published ${o.type} event ${r.id}: ${r.deliveries} ${r.deliveries === 1 ? "delivery" : "deliveries"}`);
  if (r.deliveries > 0) ctx.note(`follow it with: ${CLI} deliveries --tenant ${o.tenant}`);
  else ctx.note(`no enabled webhook of tenant ${o.tenant} subscribes to ${o.type}`);
}

// ── deliveries ───────────────────────────────────────────────────────────────────────────────

export async function deliveriesCommand(ctx: Ctx, o: { tenant: string; webhook?: string; status?: DeliveryStatus; limit: number }): Promise<void> {
  const client = await ctx.client();
  const webhooks = o.webhook ? [o.webhook] : (await listWebhooks(client, o.tenant)).map((w) => w.id);
  const pages = await Promise.all(webhooks.map((w) => listDeliveries(client, o.tenant, w, o)));
  // Delivery ids sort by creation time: newest first across webhooks too.
  const items = pages
    .flat()
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, o.limit);
  if (ctx.json) return printJson(ctx, items);
  if (items.length === 0) return ctx.print(`no deliveries${o.status ? ` with status ${o.status}` : ""}`);
  ctx.print(
    table(
      ["DELIVERY", "WEBHOOK", "EVENT TYPE", "STATUS", "ATTEMPTS", "LAST", "CREATED"],
      items.map((d) => [d.id, d.webhookId, d.eventType, d.status, d.attemptCount, outcome(d.lastAttempt), time(d.createdAt)]),
    ),
  );
}

// ── show ─────────────────────────────────────────────────────────────────────────────────────

/**
 * A delivery by its id alone: delivery ids are unique, but the API reads a delivery under its
 * webhook, so without `webhook` each of the tenant's webhooks is asked in turn.
 */
export async function findDelivery(client: WebhooksClient, tenant: string, deliveryId: string, webhook?: string): Promise<Delivery> {
  if (webhook !== undefined) return client.getDelivery(tenant, webhook, deliveryId);
  for await (const w of client.webhooks(tenant)) {
    try {
      return await client.getDelivery(tenant, w.id, deliveryId);
    } catch (err) {
      if (!(err instanceof WebhooksError && err.status === 404)) throw err;
    }
  }
  throw new WebhooksError({ code: "not_found", status: 404, message: `delivery ${deliveryId} not found under any webhook of tenant ${tenant}` });
}

export async function showCommand(ctx: Ctx, deliveryId: string, o: { tenant: string; webhook?: string }): Promise<void> {
  const d = await findDelivery(await ctx.client(), o.tenant, deliveryId, o.webhook);
  if (ctx.json) return printJson(ctx, d);
  const fields: [string, string | null][] = [
    ["Delivery", d.id],
    ["Webhook", d.webhookId],
    ["Event", `${d.eventId} (${d.eventType})`],
    ["Status", `${d.status} after ${plural(d.attemptCount, "attempt")}`],
    ["Next attempt", d.nextAttemptAt && time(d.nextAttemptAt)],
    ["Reason", d.reason],
    ["Replay of", d.replayOf],
    ["Created", time(d.createdAt)],
    ["Updated", time(d.updatedAt)],
  ];
  ctx.print(keyValues(fields));
  ctx.print("");
  ctx.print(
    table(
      ["#", "AT", "STATUS", "DURATION", "ERROR / RESPONSE"],
      d.attempts.map((a) => [a.n, time(a.at), a.statusCode ?? "-", `${a.durationMs}ms`, clip(a.error ?? a.responseExcerpt, 80)]),
    ),
  );
}

// ── replay ───────────────────────────────────────────────────────────────────────────────────

/** An ISO 8601 date-time as is, or a duration (`30m`, `2h`, `7d`) meaning that long ago; anything else is a usage error. */
export function sinceTime(value: string, now = Date.now(), option = "--since"): string {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value)) return new Date(now - parseDuration(value) * 1000).toISOString();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) && !Number.isNaN(Date.parse(value))) return value;
  throw new UsageError(`${option} "${value}" is neither an ISO 8601 time (2026-11-26T10:00:00Z) nor a duration ago (30m, 2h, 7d)`);
}

export async function replayCommand(
  ctx: Ctx,
  deliveryId: string | undefined,
  o: { tenant: string; webhook: string; since?: string; until?: string; status?: DeliveryStatus },
): Promise<void> {
  if (deliveryId !== undefined) {
    if (o.since ?? o.until ?? o.status) throw new UsageError("replay takes a delivery id, or --since [--until] [--status]: not both");
    const r = await (await ctx.client()).retryDelivery(o.tenant, o.webhook, deliveryId);
    if (ctx.json) return printJson(ctx, r);
    return ctx.print(`replaying ${r.replayOf} as ${r.deliveryId} (same webhook-id)`);
  }
  if (o.since === undefined) throw new UsageError("replay needs a delivery id, or --since ISO-TIME (or a duration like 2h) to replay many");
  // The until bound is fixed before the first call, so that each call's cursor continues the same range.
  const body = { since: sinceTime(o.since), until: sinceTime(o.until ?? "0s", Date.now(), "--until"), status: o.status };
  const client = await ctx.client();
  // One call replays a bounded number; its cursor carries on until the whole range is replayed.
  const total = { replayed: 0, matched: 0, calls: 0, status: o.status ?? ("failed" as string) };
  let cursor: string | undefined;
  do {
    const r = await client.replay(o.tenant, o.webhook, { ...body, cursor });
    total.replayed += r.replayed;
    total.matched += r.matched;
    total.calls++;
    total.status = r.status;
    cursor = r.cursor ?? undefined;
  } while (cursor);
  if (ctx.json) return printJson(ctx, { replayed: total.replayed, matched: total.matched, truncated: false, status: total.status, cursor: null });
  const window = `since ${body.since}${o.until ? ` until ${body.until}` : ""}`;
  ctx.print(`replayed ${total.replayed} of ${total.matched} ${total.status} deliveries ${window}${total.calls > 1 ? ` (${total.calls} calls)` : ""}`);
}

// ── send-test ────────────────────────────────────────────────────────────────────────────────

export async function sendTestCommand(ctx: Ctx, o: { tenant: string; webhook: string; type?: string }): Promise<void> {
  const client = await ctx.client();
  if (o.type !== undefined) {
    const w = await client.getWebhook(o.tenant, o.webhook);
    if (!matchesType(w.eventTypes, o.type)) {
      ctx.note(
        `note: webhook ${w.id} is not subscribed to ${o.type} (it takes ${w.eventTypes.join(",")}): the test is sent anyway, but published ${o.type} events will not reach it`,
      );
    }
  }
  const r = await client.sendTest(o.tenant, o.webhook, o.type ? { type: o.type } : {});
  if (ctx.json) return printJson(ctx, r);
  ctx.print(`sent a test ${r.type} event ${r.eventId} as delivery ${r.deliveryId}`);
  ctx.note(`follow it with: ${CLI} show ${r.deliveryId} --tenant ${o.tenant}`);
}

// ── dlq and redrive ──────────────────────────────────────────────────────────────────────────

type DlqDepth = Awaited<ReturnType<WebhooksClient["dlqDepth"]>>;

const describeDepth = (d: DlqDepth) => `${plural(d.visible, "message")} waiting, ${d.inFlight} in flight`;

/** The delivery queue's and the DLQ's depths (approximate, from SQS). */
export async function queuesCommand(ctx: Ctx): Promise<void> {
  const d = await (await ctx.client()).queues();
  if (ctx.json) return printJson(ctx, d);
  ctx.print(
    keyValues([
      ["Delivery queue", `${plural(d.delivery.visible, "message")} waiting, ${d.delivery.inFlight} in flight, ${d.delivery.delayed} delayed`],
      ["DLQ", describeDepth(d.dlq)],
    ]),
  );
}

export async function dlqCommand(ctx: Ctx): Promise<void> {
  const depth = await (await ctx.client()).dlqDepth();
  if (ctx.json) return printJson(ctx, depth);
  ctx.print(`DLQ: ${describeDepth(depth)}`);
}

/**
 * Moves every DLQ message back to the delivery queue. The local stack moves them within the call
 * and answers `{moved}`; on AWS the call starts an SQS message move task (`{taskId}`) and this
 * command follows the DLQ's depth until it is empty or `timeoutSeconds` have passed.
 */
export async function redriveCommand(ctx: Ctx, o: { timeoutSeconds: number; intervalMs: number }): Promise<void> {
  const client = await ctx.client();
  const before = await client.dlqDepth();
  ctx.note(`DLQ before: ${describeDepth(before)}`);
  if (before.visible === 0) {
    if (ctx.json) return printJson(ctx, { before, moved: 0 });
    return ctx.print("nothing to redrive");
  }
  ctx.note(`moving ${plural(before.visible, "message")} to the delivery queue…`);
  const r = await client.redrive();
  let after: DlqDepth | undefined;
  let moved = r.moved;
  if (r.taskId !== undefined) {
    ctx.note(`move task ${r.taskId} started`);
    const deadline = Date.now() + o.timeoutSeconds * 1000;
    for (;;) {
      after = await client.dlqDepth();
      // SQS's counts are approximate: this is progress, not an exact tally.
      moved = Math.max(0, before.visible - after.visible - after.inFlight);
      ctx.note(`  moved ${moved} of ${before.visible}`);
      if (after.visible + after.inFlight === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  } else {
    after = await client.dlqDepth();
  }
  if (ctx.json) return printJson(ctx, { before, moved: moved ?? 0, ...(r.taskId ? { taskId: r.taskId } : {}), after });
  ctx.print(`moved ${plural(moved ?? 0, "message")} from the DLQ to the delivery queue; DLQ now: ${describeDepth(after)}`);
  if (r.taskId && after.visible + after.inFlight > 0) ctx.note(`the move task goes on; check with: ${CLI} dlq`);
}
