import { EVENT_TYPE_NAMES, EVENT_TYPES, findEventType } from "./catalogue.ts";
import { deliveryMessage } from "./deliveries.ts";
import { checkEndpointUrl, type EndpointPolicy } from "./endpoint-guard.ts";
import { ApiError, notFound, validationError } from "./errors.ts";
import { isWebhookId, newDeliveryId, newEventId, newWebhookId } from "./ids.ts";
import { matchesType, unknownPatterns } from "./matching.ts";
import { releaseReset, WAKE_DUE, type StoredEvent, type Subscription } from "./model.ts";
import { StaleWrite, type Clock, type CoreLogger, type DeliveryQueue, type EventStore, type SecretSealer, type SubscriptionStore } from "./ports.ts";
import { LIMITS } from "./settings.ts";
import { generateSecret } from "./signing.ts";

export interface WebhookDeps {
  subscriptions: SubscriptionStore;
  /** Test events are stored like published ones, and queued. */
  events: EventStore;
  queue: DeliveryQueue;
  /** Seals new secrets; the manage λ never opens one. */
  secrets: SecretSealer;
  clock: Clock;
  logger: CoreLogger;
  endpointPolicy: EndpointPolicy;
}

/** A new webhook, as the request schema checked it (lambdas/manage/schemas.ts). */
export interface NewWebhook {
  url: string;
  eventTypes: readonly string[];
  description?: string;
  enabled?: boolean;
  paused?: boolean;
  /** Deliveries per second at most (docs/delivery-semantics.md). */
  rateLimit?: number;
}

/** The fields a change names; `null` removes the description or the rate limit. */
export interface WebhookChanges {
  url?: string;
  eventTypes?: readonly string[];
  description?: string | null;
  enabled?: boolean;
  paused?: boolean;
  rateLimit?: number | null;
}

/** A webhook with its new signing secret, the only time the secret is shown. */
export interface WithSecret {
  subscription: Subscription;
  secret: string;
}

/** A rotation's outcome: the new secret, and when the older ones stop signing (null: at once). */
export interface Rotated extends WithSecret {
  previousSecretsExpireAt: string | null;
}

/** A test event queued for one webhook. */
export interface TestSent {
  eventId: string;
  deliveryId: string;
  type: string;
}

/** A rotation that lost this many races in a row to other rotations (or changes) of the same webhook answers 409. */
const ROTATE_ATTEMPTS = 25;

/**
 * A tenant's webhooks (docs/openapi.yaml): create, list, read, change (pause and resume too), delete,
 * rotate the secret, send a test event. Every read and write is keyed by the tenant, so a foreign
 * id is simply not found.
 */
export class WebhookService {
  constructor(private readonly deps: WebhookDeps) {}

  async create(tenantId: string, input: NewWebhook): Promise<WithSecret> {
    const url = this.checkUrl(input.url);
    checkEventTypes(input.eventTypes);
    const now = this.nowIso();
    const secret = generateSecret();
    const id = newWebhookId();
    const sub: Subscription = {
      tenantId,
      id,
      url,
      eventTypes: [...new Set(input.eventTypes)],
      description: input.description,
      enabled: input.enabled ?? true,
      ...(input.paused ? { paused: true } : {}),
      ...(input.rateLimit !== undefined ? { rateLimit: input.rateLimit } : {}),
      secrets: [{ sealed: await this.deps.secrets.seal(secret, { tenantId, webhookId: id }), createdAt: now }],
      createdAt: now,
      updatedAt: now,
      ...(input.enabled === false ? { disabledReason: "created disabled", disabledAt: now } : {}),
    };
    if (!(await this.deps.subscriptions.create(sub, LIMITS.webhooksPerTenant))) {
      throw new ApiError(409, "webhook_limit_reached", `a tenant may have at most ${LIMITS.webhooksPerTenant} webhooks; delete one first`);
    }
    this.deps.logger.info("webhook created", { tenantId, webhookId: sub.id });
    return { subscription: sub, secret };
  }

  /** Newest first; the cursor is the last webhook id of the previous page. */
  async list(tenantId: string, page: { limit?: number; cursor?: string }): Promise<{ items: Subscription[]; cursor: string | null }> {
    const limit = page.limit ?? LIMITS.pageSizeDefault;
    const cursor = page.cursor;
    const all = (await this.deps.subscriptions.listByTenant(tenantId)).sort((a, b) => (a.id < b.id ? 1 : -1));
    if (cursor !== undefined && !isWebhookId(cursor)) throw validationError([{ field: "cursor", message: "is not a cursor this API returned" }]);
    const start = cursor ? all.findIndex((s) => s.id < cursor) : 0;
    const items = start < 0 ? [] : all.slice(start, start + limit);
    const more = start >= 0 && start + limit < all.length;
    return { items, cursor: more ? items[items.length - 1].id : null };
  }

  /** The tenant's webhook, or 404 (a malformed id too). */
  async get(tenantId: string, webhookId: string): Promise<Subscription> {
    if (!isWebhookId(webhookId)) throw notFound("webhook");
    const sub = await this.deps.subscriptions.get(tenantId, webhookId);
    if (!sub) throw notFound("webhook");
    return sub;
  }

  /** Changes `sub` (as read by `get`); resuming or re-enabling it releases what was parked meanwhile. */
  async update(sub: Subscription, input: WebhookChanges): Promise<Subscription> {
    const now = this.nowIso();
    const url = input.url === undefined ? undefined : this.checkUrl(input.url);
    if (input.eventTypes) checkEventTypes(input.eventTypes);
    const enabling = input.enabled === true && !sub.enabled;
    const disabling = input.enabled === false && sub.enabled;
    const resuming = input.paused === false && sub.paused === true;
    const updated = await this.deps.subscriptions.update(sub.tenantId, sub.id, {
      url,
      eventTypes: input.eventTypes ? [...new Set(input.eventTypes)] : undefined,
      description: input.description,
      enabled: input.enabled,
      paused: input.paused,
      rateLimit: input.rateLimit,
      ...(enabling ? { disabledReason: null, disabledAt: null, failingSince: null } : {}),
      ...(disabling ? { disabledReason: "disabled through the API", disabledAt: now } : {}),
      // Resumed or re-enabled: the release λ looks at it at its next sweep (the byWake index), so
      // deliveries parked meanwhile go out now, at the release rate, not at some later wake.
      ...(resuming || enabling ? { wake: WAKE_DUE, wakeAt: now, releasedThrough: releaseReset(now) } : {}),
      updatedAt: now,
    });
    if (!updated) throw notFound("webhook");
    return updated;
  }

  async delete(tenantId: string, webhookId: string): Promise<void> {
    if (!isWebhookId(webhookId) || !(await this.deps.subscriptions.delete(tenantId, webhookId))) throw notFound("webhook");
    this.deps.logger.info("webhook deleted", { tenantId, webhookId });
  }

  /**
   * Rotations are applied one at a time: each writes on the condition that the newest secret is still
   * the one it read, and one that lost a race reads again and rotates the new state. So every answered
   * secret was stored and signs (until its own grace, or a later rotation's, ends), and parallel calls
   * all succeed, in some order. Only after many lost races in a row is the answer a 409.
   */
  async rotateSecret(current: Subscription, input: { graceSeconds?: number }): Promise<Rotated> {
    let sub = current;
    const grace = input.graceSeconds ?? LIMITS.rotateGraceDefaultSeconds;
    const secret = generateSecret();
    const context = { tenantId: sub.tenantId, webhookId: sub.id };
    // Sealed once: every round of the loop below stores the same new secret.
    const sealedSecret = await this.deps.secrets.seal(secret, context);
    for (let round = 0; round < ROTATE_ATTEMPTS; round++) {
      const now = this.deps.clock.now();
      const expiresAt = new Date(now + grace * 1000).toISOString();
      // The new secret first; the ones still valid keep signing until the grace ends (at most that).
      const kept = await Promise.all(
        sub.secrets
          .filter((s) => !s.expiresAt || Date.parse(s.expiresAt) > now)
          .filter(() => grace > 0)
          .map(async ({ value, sealed, createdAt, expiresAt: own }) => ({
            // A secret stored before secrets were sealed is sealed now: the rotation writes no plaintext.
            sealed: sealed ?? (await this.deps.secrets.seal(value!, context)),
            createdAt,
            expiresAt: own && own < expiresAt ? own : expiresAt,
          })),
      );
      const nowIso = new Date(now).toISOString();
      let updated: Subscription | undefined;
      try {
        updated = await this.deps.subscriptions.update(
          sub.tenantId,
          sub.id,
          { secrets: [{ sealed: sealedSecret, createdAt: nowIso }, ...kept], updatedAt: nowIso },
          { newestSecret: sub.secrets[0] },
        );
      } catch (err) {
        if (!(err instanceof StaleWrite)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20));
        sub = await this.get(sub.tenantId, sub.id);
        continue;
      }
      if (!updated) throw notFound("webhook");
      this.deps.logger.info("webhook secret rotated", { tenantId: sub.tenantId, webhookId: sub.id, graceSeconds: grace });
      return { subscription: updated, secret, previousSecretsExpireAt: kept.length ? expiresAt : null };
    }
    throw new ApiError(
      409,
      "concurrent_rotation",
      `the webhook's secret kept changing under ${ROTATE_ATTEMPTS} attempts to rotate it; nothing was changed by this call, retry`,
    );
  }

  /** Queues an example event of `type` (default: the first catalogue type the webhook takes) for this webhook only. */
  async sendTest(sub: Subscription, input: { type?: string }): Promise<TestSent> {
    const typeName = input.type ?? EVENT_TYPES.find((t) => matchesType(sub.eventTypes, t.name))?.name ?? EVENT_TYPE_NAMES[0];
    const type = findEventType(typeName);
    if (!type) throw unknownType("type", typeName);
    if (!sub.enabled) throw new ApiError(409, "webhook_disabled", 'the webhook is disabled; enable it with PATCH {"enabled": true} first');
    const now = this.deps.clock.now();
    const id = newEventId(now);
    const timestamp = new Date(now).toISOString();
    const deliveryId = newDeliveryId(now);
    const event: StoredEvent = {
      tenantId: sub.tenantId,
      id,
      type: type.name,
      timestamp,
      acceptedAt: now,
      payload: JSON.stringify({ id, type: type.name, timestamp, tenantId: sub.tenantId, data: type.example }),
      fingerprint: id,
      deliveries: [{ deliveryId, webhookId: sub.id }],
    };
    await this.deps.events.putIfAbsent(event, now);
    await this.deps.queue.send([deliveryMessage(event, sub.id, deliveryId)]);
    return { eventId: id, deliveryId, type: type.name };
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  private checkUrl(raw: string): string {
    const checked = checkEndpointUrl(raw, this.deps.endpointPolicy);
    if (!checked.ok) throw validationError([{ field: "url", message: checked.reason }]);
    return checked.url.toString();
  }
}

function unknownType(field: string, name: string): ApiError {
  return new ApiError(400, "unknown_event_type", `unknown event type "${name}"; known types: ${EVENT_TYPE_NAMES.join(", ")}`, [
    { field, message: `must be one of: ${EVENT_TYPE_NAMES.join(", ")}` },
  ]);
}

function checkEventTypes(patterns: readonly string[]): void {
  const unknown = unknownPatterns(patterns, EVENT_TYPE_NAMES);
  if (unknown.length === 0) return;
  throw new ApiError(
    400,
    "unknown_event_type",
    `unknown event type ${unknown.map((u) => `"${u}"`).join(", ")}; known types: ${EVENT_TYPE_NAMES.join(", ")} (or "*", or a family like "record.*")`,
    unknown.map((u) => ({ field: `eventTypes[${patterns.indexOf(u)}]`, message: `must be one of: ${EVENT_TYPE_NAMES.join(", ")}, "*" or a family wildcard` })),
  );
}
