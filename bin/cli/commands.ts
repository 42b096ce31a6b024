import type { presentDelivery, summariseDelivery } from "#core/manage.ts";
import type { DeliveryStatus, publicSubscription } from "#core/model.ts";
import { parseDuration } from "#core/retry.ts";
import type { ApiClient } from "./client.ts";
import { UsageError } from "./errors.ts";
import { clip, keyValues, outcome, plural, table, time } from "./output.ts";

/** The API's shapes, as the management API presents them. */
export type Webhook = ReturnType<typeof publicSubscription>;
export type DeliverySummary = ReturnType<typeof summariseDelivery>;
export type Delivery = ReturnType<typeof presentDelivery>;

/** What every command gets: the target's client, and where and how to print. */
export interface Ctx {
  /** `--json`: print one JSON document (or one per line for streams) instead of text. */
  json: boolean;
  client(): Promise<ApiClient>;
  /** A line of the result, to stdout. */
  print(text: string): void;
  /** Progress and hints, to stderr (also with --json), so that stdout holds only the result. */
  note(text: string): void;
}

export function printJson(ctx: Ctx, value: unknown): void {
  ctx.print(JSON.stringify(value, null, 2));
}

const tenantPath = (tenant: string) => `/tenants/${encodeURIComponent(tenant)}`;
export const webhookPath = (tenant: string, webhook: string) => `${tenantPath(tenant)}/webhooks/${encodeURIComponent(webhook)}`;

/** Every webhook of a tenant, following the cursor. */
export async function listWebhooks(client: ApiClient, tenant: string): Promise<Webhook[]> {
  const items: Webhook[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.get<{ items: Webhook[]; cursor: string | null }>(`${tenantPath(tenant)}/webhooks`, { limit: 100, cursor });
    items.push(...page.items);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return items;
}

/** Up to `limit` deliveries of one webhook, newest first, following the cursor. */
export async function listDeliveries(
  client: ApiClient,
  tenant: string,
  webhook: string,
  o: { status?: DeliveryStatus; limit: number },
): Promise<DeliverySummary[]> {
  const items: DeliverySummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.get<{ items: DeliverySummary[]; cursor: string | null }>(`${webhookPath(tenant, webhook)}/deliveries`, {
      status: o.status,
      limit: Math.min(100, o.limit - items.length),
      cursor,
    });
    items.push(...page.items);
    cursor = page.cursor ?? undefined;
  } while (cursor && items.length < o.limit);
  return items;
}

// ── webhooks ─────────────────────────────────────────────────────────────────────────────────

export async function webhooksCommand(ctx: Ctx, o: { tenant: string }): Promise<void> {
  const items = await listWebhooks(await ctx.client(), o.tenant);
  if (ctx.json) return printJson(ctx, items);
  if (items.length === 0) return ctx.print(`tenant ${o.tenant} has no webhooks`);
  ctx.print(
    table(
      ["ID", "ENABLED", "EVENT TYPES", "URL", "DESCRIPTION"],
      items.map((w) => [w.id, w.enabled ? "yes" : `no (${clip(w.disabledReason, 30)})`, w.eventTypes.join(","), w.url, clip(w.description, 40)]),
    ),
  );
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

export async function showCommand(ctx: Ctx, deliveryId: string, o: { tenant: string; webhook: string }): Promise<void> {
  const d = await (await ctx.client()).get<Delivery>(`${webhookPath(o.tenant, o.webhook)}/deliveries/${encodeURIComponent(deliveryId)}`);
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

/** An ISO date-time as is, or a duration (`30m`, `2h`, `7d`) meaning that long ago. */
export function sinceTime(value: string, now = Date.now()): string {
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(value)) return new Date(now - parseDuration(value) * 1000).toISOString();
  return value;
}

export async function replayCommand(
  ctx: Ctx,
  deliveryId: string | undefined,
  o: { tenant: string; webhook: string; since?: string; until?: string; status?: DeliveryStatus },
): Promise<void> {
  const client = await ctx.client();
  const path = webhookPath(o.tenant, o.webhook);
  if (deliveryId !== undefined) {
    if (o.since ?? o.until ?? o.status) throw new UsageError("replay takes a delivery id, or --since [--until] [--status]: not both");
    const r = await client.post<{ deliveryId: string; replayOf: string }>(`${path}/deliveries/${encodeURIComponent(deliveryId)}/retry`);
    if (ctx.json) return printJson(ctx, r);
    return ctx.print(`replaying ${r.replayOf} as ${r.deliveryId} (same webhook-id)`);
  }
  if (o.since === undefined) throw new UsageError("replay needs a delivery id, or --since ISO-TIME (or a duration like 2h) to replay many");
  const body = { since: sinceTime(o.since), until: o.until && sinceTime(o.until), status: o.status };
  const r = await client.post<{ replayed: number; matched: number; truncated: boolean; status: string }>(`${path}/replay`, body);
  if (ctx.json) return printJson(ctx, r);
  const window = `since ${body.since}${body.until ? ` until ${body.until}` : ""}`;
  ctx.print(`replayed ${r.replayed} of ${r.matched} ${r.status} deliveries ${window}`);
  if (r.truncated) ctx.note("more deliveries matched than one call replays: run the command again with a later --since");
}

// ── send-test ────────────────────────────────────────────────────────────────────────────────

export async function sendTestCommand(ctx: Ctx, o: { tenant: string; webhook: string; type?: string }): Promise<void> {
  const r = await (await ctx.client()).post<{ eventId: string; deliveryId: string; type: string }>(
    `${webhookPath(o.tenant, o.webhook)}/test`,
    o.type ? { type: o.type } : {},
  );
  if (ctx.json) return printJson(ctx, r);
  ctx.print(`sent a test ${r.type} event ${r.eventId} as delivery ${r.deliveryId}`);
  ctx.note(`follow it with: rk-webhooks show ${r.deliveryId} --tenant ${o.tenant} --webhook ${o.webhook}`);
}

// ── dlq and redrive ──────────────────────────────────────────────────────────────────────────

export interface DlqDepth {
  visible: number;
  inFlight: number;
}

const describeDepth = (d: DlqDepth) => `${plural(d.visible, "message")} waiting, ${d.inFlight} in flight`;

export async function dlqCommand(ctx: Ctx): Promise<void> {
  const depth = await (await ctx.client()).get<DlqDepth>("/admin/dlq");
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
  const before = await client.get<DlqDepth>("/admin/dlq");
  ctx.note(`DLQ before: ${describeDepth(before)}`);
  if (before.visible === 0) {
    if (ctx.json) return printJson(ctx, { before, moved: 0 });
    return ctx.print("nothing to redrive");
  }
  ctx.note(`moving ${plural(before.visible, "message")} to the delivery queue…`);
  const r = await client.post<{ moved?: number; taskId?: string }>("/admin/redrive");
  let after: DlqDepth | undefined;
  let moved = r.moved;
  if (r.taskId !== undefined) {
    ctx.note(`move task ${r.taskId} started`);
    const deadline = Date.now() + o.timeoutSeconds * 1000;
    for (;;) {
      after = await client.get<DlqDepth>("/admin/dlq");
      // SQS's counts are approximate: this is progress, not an exact tally.
      moved = Math.max(0, before.visible - after.visible - after.inFlight);
      ctx.note(`  moved ${moved} of ${before.visible}`);
      if (after.visible + after.inFlight === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, o.intervalMs));
    }
  } else {
    after = await client.get<DlqDepth>("/admin/dlq");
  }
  if (ctx.json) return printJson(ctx, { before, moved: moved ?? 0, ...(r.taskId ? { taskId: r.taskId } : {}), after });
  ctx.print(`moved ${plural(moved ?? 0, "message")} from the DLQ to the delivery queue; DLQ now: ${describeDepth(after)}`);
  if (r.taskId && after.visible + after.inFlight > 0) ctx.note(`the move task goes on; check with: rk-webhooks dlq`);
}
