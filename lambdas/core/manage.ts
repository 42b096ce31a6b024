import { z } from "zod";
import type { ApiRequest, ApiResponse, RouteHandler } from "./api.ts";
import { describeCatalogue, EVENT_TYPE_NAMES, EVENT_TYPES, findEventType } from "./catalogue.ts";
import { ApiError, notFound, validationError } from "./errors.ts";
import { checkEndpointUrl, type EndpointPolicy } from "./endpoint-guard.ts";
import { isDeliveryId, isWebhookId, newDeliveryId, newEventId, newWebhookId } from "./ids.ts";
import { matchesType, unknownPatterns } from "./matching.ts";
import {
  DELIVERY_STATUSES,
  publicSubscription,
  releaseReset,
  WAKE_DUE,
  type DeliveryMessage,
  type DeliveryRecord,
  type StoredEvent,
  type Subscription,
} from "./model.ts";
import {
  RedriveInProgress,
  StaleWrite,
  type Clock,
  type CoreLogger,
  type DeliveryLog,
  type DeliveryQueue,
  type EventStore,
  type RedriveTask,
  type SecretSealer,
  type SubscriptionStore,
} from "./ports.ts";
// biome-ignore lint/style/noRestrictedImports: the last adapter import in core; the manage split (issue 13) makes cursors opaque to the core and removes it.
import { decodeCursor } from "../adapters/dynamodb.ts";
import { lookupEvent } from "./event-lookup.ts";
import { HEALTH, LIMITS } from "./settings.ts";
import { generateSecret } from "./signing.ts";
import { isoDateTimeSchema, parseJsonBody, parseOrThrow, tenantIdSchema } from "./validation.ts";

export interface ManageDeps {
  subscriptions: SubscriptionStore;
  events: EventStore;
  deliveries: DeliveryLog;
  queue: DeliveryQueue;
  /** Seals new secrets; the manage λ never opens one. */
  secrets: SecretSealer;
  clock: Clock;
  logger: CoreLogger;
  endpointPolicy: EndpointPolicy;
}

const urlSchema = z
  .string({ error: "is required and must be a string" })
  .min(1, "must not be empty")
  .max(LIMITS.urlMaxLength, `must be at most ${LIMITS.urlMaxLength} characters`);
const eventTypesSchema = z
  .array(z.string({ error: "must be a string" }).min(1, "must not be empty"), { error: "is required and must be an array of event types" })
  .min(1, 'must name at least one event type, or "*"')
  .max(50, "must name at most 50 event types");
const descriptionSchema = z.string({ error: "must be a string" }).max(LIMITS.descriptionMaxLength, `must be at most ${LIMITS.descriptionMaxLength} characters`);
/** Deliveries per second at most (docs/delivery-semantics.md); beyond it they wait parked, none is dropped. */
const rateLimitSchema = z
  .number({ error: `must be a whole number of deliveries per second, from ${HEALTH.rateLimitMin} to ${HEALTH.rateLimitMax}` })
  .int("must be a whole number of deliveries per second")
  .min(HEALTH.rateLimitMin, `must be at least ${HEALTH.rateLimitMin}`)
  .max(HEALTH.rateLimitMax, `must be at most ${HEALTH.rateLimitMax}`);
const pausedSchema = z.boolean({ error: "must be true or false" });

const createSchema = z.strictObject({
  url: urlSchema,
  eventTypes: eventTypesSchema,
  description: descriptionSchema.optional(),
  enabled: z.boolean({ error: "must be true or false" }).optional(),
  paused: pausedSchema.optional(),
  rateLimit: rateLimitSchema.optional(),
});

const patchSchema = z
  .strictObject({
    url: urlSchema.optional(),
    eventTypes: eventTypesSchema.optional(),
    description: descriptionSchema.nullable().optional(),
    enabled: z.boolean({ error: "must be true or false" }).optional(),
    paused: pausedSchema.optional(),
    /** `null` removes the limit. */
    rateLimit: rateLimitSchema.nullable().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, {
    message: "must change at least one of url, eventTypes, description, enabled, paused, rateLimit",
    when: (payload) => payload.issues.length === 0, // an unknown field is reported as such, not as "nothing to change"
  });

const rotateSchema = z.strictObject({
  graceSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(0, "must not be negative")
    .max(LIMITS.rotateGraceMaxSeconds, `must be at most ${LIMITS.rotateGraceMaxSeconds} (7 days)`)
    .optional(),
});

const testSchema = z.strictObject({ type: z.string({ error: "must be a string" }).optional() });

const limitSchema = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(LIMITS.pageSizeMax, `must be at most ${LIMITS.pageSizeMax}`);

const listSchema = z.strictObject({
  limit: limitSchema.optional(),
  cursor: z.string().optional(),
});

/**
 * A delivery-log cursor has the shape of the ones this API returns: the last key of a page, a
 * `tenant#wh_…` partition and a delivery id of a real ULID time. A crafted key outside the query's
 * range would otherwise reach DynamoDB and fail there (a 500). Whose webhook it names is checked
 * by the handler.
 */
const deliveryCursorSchema = z.string().refine((cursor) => {
  const key = decodeCursor(cursor);
  return (
    typeof key?.pk === "string" &&
    /^[A-Za-z0-9][A-Za-z0-9_.:-]*#wh_[0-9A-HJKMNP-TV-Z]{26}$/.test(key.pk) &&
    typeof key.id === "string" &&
    /^dlv_[0-7][0-9A-HJKMNP-TV-Z]{25}$/.test(key.id)
  );
}, "is not a cursor this API returned");

const deliveriesQuerySchema = z.strictObject({
  status: z.enum(DELIVERY_STATUSES, { error: `must be one of: ${DELIVERY_STATUSES.join(", ")}` }).optional(),
  limit: limitSchema.optional(),
  cursor: deliveryCursorSchema.optional(),
});

/** Delivery ids carry their creation time as a ULID, which starts at the Unix epoch. */
const notBeforeEpoch = (schema: typeof isoDateTimeSchema) => schema.refine((t) => Date.parse(t) >= 0, "must be 1970-01-01T00:00:00Z or later");

const replaySchema = z
  .strictObject({
    since: notBeforeEpoch(isoDateTimeSchema),
    until: notBeforeEpoch(isoDateTimeSchema).optional(),
    status: z.enum(DELIVERY_STATUSES, { error: `must be one of: ${DELIVERY_STATUSES.join(", ")}` }).optional(),
    /** The `cursor` of an earlier answer: carries on where that call stopped. */
    cursor: z.string({ error: "must be a string" }).pipe(deliveryCursorSchema).optional(),
  })
  .refine((r) => !r.until || Date.parse(r.until) > Date.parse(r.since), {
    message: "must be after since",
    path: ["until"],
    when: (payload) => payload.issues.length === 0, // compare only two valid dates
  });

/** A rotation that lost this many races in a row to other rotations (or changes) of the same webhook answers 409. */
const ROTATE_ATTEMPTS = 25;

/** Replays of one call are bounded: a wider window is several calls, each carrying on from the last one's cursor. */
const REPLAY_MAX = 1_000;
/** Pages of the log one replay call reads at most (time-bounded whatever the webhook's volume). */
const REPLAY_MAX_PAGES = 20;

/**
 * The management API (design §6). Every read and write is keyed by the tenant in the path, so a
 * foreign id is simply not found.
 */
export class ManageService {
  constructor(private readonly deps: ManageDeps) {}

  routes(): Record<string, RouteHandler> {
    const w = "/tenants/{tenantId}/webhooks";
    return {
      "GET /event-types": async () => ({ statusCode: 200, body: { eventTypes: describeCatalogue() } }),
      [`POST ${w}`]: (r) => this.create(r),
      [`GET ${w}`]: (r) => this.list(r),
      [`GET ${w}/{webhookId}`]: async (r) => ({ statusCode: 200, body: publicSubscription(await this.load(r)) }),
      [`PATCH ${w}/{webhookId}`]: (r) => this.patch(r),
      [`DELETE ${w}/{webhookId}`]: (r) => this.remove(r),
      [`POST ${w}/{webhookId}/rotate-secret`]: (r) => this.rotate(r),
      [`POST ${w}/{webhookId}/test`]: (r) => this.test(r),
      [`GET ${w}/{webhookId}/deliveries`]: (r) => this.listDeliveries(r),
      [`GET ${w}/{webhookId}/deliveries/{deliveryId}`]: async (r) => {
        await this.load(r);
        return { statusCode: 200, body: presentDelivery(await this.loadDelivery(r)) };
      },
      [`POST ${w}/{webhookId}/deliveries/{deliveryId}/retry`]: (r) => this.retry(r),
      [`POST ${w}/{webhookId}/replay`]: (r) => this.replay(r),
      "GET /admin/dlq": async () => ({ statusCode: 200, body: await this.deps.queue.dlqDepth() }),
      "GET /admin/queues": async () => ({ statusCode: 200, body: await this.deps.queue.depths() }),
      "POST /admin/redrive": () => this.redrive(),
      "GET /tenants/{tenantId}/events/{eventId}": (r) => lookupEvent(this.deps, r),
    };
  }

  /** One redrive at a time (SQS runs one move task per queue): a second one is a 409 naming the running task. */
  private async redrive(): Promise<ApiResponse> {
    try {
      return { statusCode: 202, body: await this.deps.queue.redrive() };
    } catch (err) {
      if (!(err instanceof RedriveInProgress)) throw err;
      throw new RedriveRunningError(err.task);
    }
  }

  private nowIso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  private async create(req: ApiRequest): Promise<ApiResponse> {
    const tenantId = tenant(req);
    const input = parseOrThrow(createSchema, parseJsonBody(req.body) ?? {});
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
    return { statusCode: 201, body: { ...publicSubscription(sub), secret } };
  }

  private async list(req: ApiRequest): Promise<ApiResponse> {
    const tenantId = tenant(req);
    const q = parseOrThrow(listSchema, req.query);
    const limit = q.limit ?? LIMITS.pageSizeDefault;
    const all = (await this.deps.subscriptions.listByTenant(tenantId)).sort((a, b) => (a.id < b.id ? 1 : -1));
    if (q.cursor !== undefined && !isWebhookId(q.cursor)) throw validationError([{ field: "cursor", message: "is not a cursor this API returned" }]);
    const start = q.cursor ? all.findIndex((s) => s.id < q.cursor!) : 0;
    const page = start < 0 ? [] : all.slice(start, start + limit);
    const more = start >= 0 && start + limit < all.length;
    return { statusCode: 200, body: { items: page.map(publicSubscription), cursor: more ? page[page.length - 1].id : null } };
  }

  private async patch(req: ApiRequest): Promise<ApiResponse> {
    const sub = await this.load(req);
    const input = parseOrThrow(patchSchema, parseJsonBody(req.body) ?? {});
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
    return { statusCode: 200, body: publicSubscription(updated) };
  }

  private async remove(req: ApiRequest): Promise<ApiResponse> {
    const { tenantId, webhookId } = ids(req);
    if (!(await this.deps.subscriptions.delete(tenantId, webhookId))) throw notFound("webhook");
    this.deps.logger.info("webhook deleted", { tenantId, webhookId });
    return { statusCode: 204 };
  }

  /**
   * Rotations are applied one at a time: each writes on the condition that the newest secret is still
   * the one it read, and one that lost a race reads again and rotates the new state. So every answered
   * secret was stored and signs (until its own grace, or a later rotation's, ends), and parallel calls
   * all succeed, in some order. Only after many lost races in a row is the answer a 409.
   */
  private async rotate(req: ApiRequest): Promise<ApiResponse> {
    let sub = await this.load(req);
    const input = parseOrThrow(rotateSchema, parseJsonBody(req.body) ?? {});
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
        sub = await this.load(req);
        continue;
      }
      if (!updated) throw notFound("webhook");
      this.deps.logger.info("webhook secret rotated", { tenantId: sub.tenantId, webhookId: sub.id, graceSeconds: grace });
      return { statusCode: 200, body: { ...publicSubscription(updated), secret, previousSecretsExpireAt: kept.length ? expiresAt : null } };
    }
    throw new ApiError(
      409,
      "concurrent_rotation",
      `the webhook's secret kept changing under ${ROTATE_ATTEMPTS} attempts to rotate it; nothing was changed by this call, retry`,
    );
  }

  private async test(req: ApiRequest): Promise<ApiResponse> {
    const sub = await this.load(req);
    const input = parseOrThrow(testSchema, parseJsonBody(req.body) ?? {});
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
    return { statusCode: 202, body: { eventId: id, deliveryId, type: type.name } };
  }

  private async listDeliveries(req: ApiRequest): Promise<ApiResponse> {
    const sub = await this.load(req);
    const q = parseOrThrow(deliveriesQuerySchema, req.query);
    if (q.cursor !== undefined && !decodeCursor(q.cursor)?.pk?.toString().startsWith(`${sub.tenantId}#${sub.id}`)) {
      throw validationError([{ field: "cursor", message: "is not a cursor this API returned for this webhook" }]);
    }
    const page = await this.deps.deliveries.list(sub.tenantId, sub.id, { status: q.status, limit: q.limit ?? LIMITS.pageSizeDefault, cursor: q.cursor });
    return { statusCode: 200, body: { items: page.items.map(summariseDelivery), cursor: page.cursor ?? null } };
  }

  private async retry(req: ApiRequest): Promise<ApiResponse> {
    const sub = await this.load(req);
    const original = await this.loadDelivery(req);
    const [replayed] = await this.replayDeliveries(sub, [original]);
    if (!replayed) throw new ApiError(410, "event_expired", `the event of ${original.id} is no longer retained and cannot be replayed`);
    return { statusCode: 202, body: { deliveryId: replayed, replayOf: original.id } };
  }

  private async replay(req: ApiRequest): Promise<ApiResponse> {
    const sub = await this.load(req);
    const input = parseOrThrow(replaySchema, parseJsonBody(req.body) ?? {});
    if (Date.parse(input.since) > this.deps.clock.now()) throw validationError([{ field: "since", message: "must not be in the future" }]);
    if (input.cursor !== undefined && decodeCursor(input.cursor)?.pk !== `${sub.tenantId}#${sub.id}`) {
      throw validationError([{ field: "cursor", message: "is not a cursor this API returned for this webhook" }]);
    }
    const status = input.status ?? "failed";
    const originals: DeliveryRecord[] = [];
    let cursor = input.cursor;
    // pending, failed and skipped come from the status index; each call reads a bounded number of pages.
    for (let page = 0; page < REPLAY_MAX_PAGES && originals.length < REPLAY_MAX; page++) {
      const found = await this.deps.deliveries.list(sub.tenantId, sub.id, {
        status,
        limit: Math.min(LIMITS.pageSizeMax, REPLAY_MAX - originals.length),
        cursor,
        sinceMs: Date.parse(input.since),
        untilMs: input.until ? Date.parse(input.until) : this.deps.clock.now(),
      });
      originals.push(...found.items);
      cursor = found.cursor;
      if (!cursor) break;
    }
    const replayed = await this.replayDeliveries(sub, originals);
    return {
      statusCode: 202,
      body: { replayed: replayed.filter(Boolean).length, matched: originals.length, truncated: cursor !== undefined, status, cursor: cursor ?? null },
    };
  }

  /** A replay is a new delivery of the same event (same `webhook-id`), linked to the one it repeats. */
  private async replayDeliveries(sub: Subscription, originals: readonly DeliveryRecord[]): Promise<(string | undefined)[]> {
    const events = new Map<string, Promise<StoredEvent | undefined>>();
    const messages: DeliveryMessage[] = [];
    const ids: (string | undefined)[] = [];
    for (const original of originals) {
      if (!events.has(original.eventId)) events.set(original.eventId, this.deps.events.get(sub.tenantId, original.eventId));
      const event = await events.get(original.eventId)!;
      if (!event) {
        ids.push(undefined);
        continue;
      }
      const deliveryId = newDeliveryId(this.deps.clock.now());
      messages.push({ ...deliveryMessage(event, sub.id, deliveryId), replayOf: original.id });
      ids.push(deliveryId);
    }
    await this.deps.queue.send(messages);
    this.deps.logger.info("deliveries replayed", { tenantId: sub.tenantId, webhookId: sub.id, count: messages.length });
    return ids;
  }

  private async load(req: ApiRequest): Promise<Subscription> {
    const { tenantId, webhookId } = ids(req);
    const sub = await this.deps.subscriptions.get(tenantId, webhookId);
    if (!sub) throw notFound("webhook");
    return sub;
  }

  private async loadDelivery(req: ApiRequest): Promise<DeliveryRecord> {
    const { tenantId, webhookId } = ids(req);
    const deliveryId = req.pathParameters.deliveryId ?? "";
    const record = isDeliveryId(deliveryId) ? await this.deps.deliveries.get(tenantId, webhookId, deliveryId) : undefined;
    if (!record) throw notFound("delivery");
    return record;
  }

  private checkUrl(raw: string): string {
    const checked = checkEndpointUrl(raw, this.deps.endpointPolicy);
    if (!checked.ok) throw validationError([{ field: "url", message: checked.reason }]);
    return checked.url.toString();
  }
}

/** `409 redrive_running`: the error shape plus the running task. */
class RedriveRunningError extends ApiError {
  constructor(readonly task: RedriveTask) {
    super(
      409,
      "redrive_running",
      `a DLQ redrive is already running${task.taskId ? ` (task ${task.taskId}, started ${task.startedAt ?? "earlier"})` : ""}; wait for it to finish (GET /admin/dlq shows the depth)`,
    );
  }

  override toBody() {
    const { taskId, status, startedAt, moved, toMove } = this.task;
    return { ...super.toBody(), task: { taskId: taskId ?? null, status, startedAt: startedAt ?? null, moved: moved ?? null, toMove: toMove ?? null } };
  }
}

function tenant(req: ApiRequest): string {
  return parseOrThrow(tenantIdSchema, req.pathParameters.tenantId, "tenantId");
}

function ids(req: ApiRequest): { tenantId: string; webhookId: string } {
  const tenantId = tenant(req);
  const webhookId = req.pathParameters.webhookId ?? "";
  if (!isWebhookId(webhookId)) throw notFound("webhook");
  return { tenantId, webhookId };
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

function deliveryMessage(event: StoredEvent, webhookId: string, deliveryId: string): DeliveryMessage {
  return { v: 1, deliveryId, tenantId: event.tenantId, webhookId, eventId: event.id, eventType: event.type, payload: event.payload };
}

/** One delivery with every attempt. */
export function presentDelivery(d: DeliveryRecord) {
  return {
    id: d.id,
    webhookId: d.webhookId,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    attemptCount: d.attemptCount,
    nextAttemptAt: d.nextAttemptAt ?? null,
    // Design §5a: a held delivery (circuit open, paused, over its rate, long backoff) is `pending` with `"parked": true`.
    ...(d.parked ? { parked: true as const } : {}),
    reason: d.reason ?? null,
    replayOf: d.replayOf ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    attempts: d.attempts.map((a) => ({
      n: a.n,
      at: a.at,
      statusCode: a.statusCode ?? null,
      error: a.error ?? null,
      durationMs: a.durationMs,
      responseExcerpt: a.responseExcerpt ?? null,
    })),
  };
}

/** A delivery in a list: the last attempt only, to keep pages small. */
export function summariseDelivery(d: DeliveryRecord) {
  const { attempts, ...rest } = presentDelivery(d);
  return { ...rest, lastAttempt: attempts[attempts.length - 1] ?? null };
}
