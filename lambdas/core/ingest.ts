import { createHash } from "node:crypto";
import { z } from "zod";
import { EVENT_TYPE_NAMES, findEventType } from "./catalogue.ts";
import { ApiError, validationError, type ErrorDetail } from "./errors.ts";
import { deterministicDeliveryId, newEventId } from "./ids.ts";
import { matchesType } from "./matching.ts";
import type { DeliveryMessage, StoredEvent, Subscription } from "./model.ts";
import type { Clock, CoreLogger, CoreMetrics, DeliveryQueue, EventStore, SubscriptionStore } from "./ports.ts";
import { INGEST, RECOVERY_DELAY_SECONDS } from "./settings.ts";
import { issuesToDetails, isoDateTimeSchema, tenantIdSchema } from "./validation.ts";

export interface IngestDeps {
  subscriptions: SubscriptionStore;
  events: EventStore;
  queue: DeliveryQueue;
  clock: Clock;
  logger: CoreLogger;
  metrics: CoreMetrics;
  subscriptionCacheMs: number;
  recoveryDelaySeconds?: number;
}

const eventSchema = z.strictObject({
  id: z
    .string({ error: "must be a string" })
    .min(1, "must not be empty")
    .max(128, "must be at most 128 characters")
    .regex(/^[A-Za-z0-9_.:-]+$/, "may contain only letters, digits, '_', '.', ':' and '-'")
    .optional(),
  type: z.string({ error: "is required and must be a string" }),
  tenantId: tenantIdSchema,
  occurredAt: isoDateTimeSchema.optional(),
  data: z.record(z.string(), z.unknown(), { error: "is required and must be a JSON object" }),
});

type EventInput = z.infer<typeof eventSchema>;

export interface Accepted {
  id: string;
  deliveries: number;
}

/**
 * `POST /events` (design §3): validates everything first (a batch is all or nothing), then stores
 * each event once and enqueues one message per matched enabled subscription.
 */
export class IngestService {
  private cache = new Map<string, { subs: Promise<Subscription[]>; at: number }>();

  constructor(private readonly deps: IngestDeps) {}

  async publish(body: unknown): Promise<Accepted | { events: Accepted[]; deliveries: number }> {
    const isBatch = typeof body === "object" && body !== null && !Array.isArray(body) && "events" in body;
    const inputs = isBatch ? validateBatch(body) : [validateEvent(body, "")];
    const accepted = await this.accept(inputs);
    if (!isBatch) return accepted[0];
    return { events: accepted, deliveries: accepted.reduce((n, a) => n + a.deliveries, 0) };
  }

  private async accept(inputs: EventInput[]): Promise<Accepted[]> {
    const { events, queue, clock } = this.deps;
    const acceptedAt = clock.now();
    const fresh: DeliveryMessage[] = [];
    const recovered: DeliveryMessage[] = [];
    const stored: StoredEvent[] = [];
    const outcomes = await Promise.allSettled(
      inputs.map(async (input): Promise<Accepted> => {
        const event = await this.toStoredEvent(input, acceptedAt);
        const existing = await events.putIfAbsent(event, acceptedAt - INGEST.idempotencyWindowSeconds * 1000);
        if (!existing) {
          stored.push(event);
          fresh.push(...messagesOf(event));
          return { id: event.id, deliveries: event.deliveries.length };
        }
        if (existing.fingerprint !== event.fingerprint) {
          throw new ApiError(409, "idempotency_conflict", `event ${event.id} was already accepted with different content; use a new id`, [
            { field: "id", message: "was already used for a different event in the last 24 hours" },
          ]);
        }
        // The first call may have died before enqueueing everything: enqueue again, marked, so that a
        // copy of a delivery that already exists is dropped by the deliver λ.
        recovered.push(...messagesOf(existing, true));
        this.deps.logger.info("event id seen again: fan-out re-enqueued for recovery", { eventId: existing.id, tenantId: existing.tenantId });
        return { id: existing.id, deliveries: existing.deliveries.length };
      }),
    );
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (refused) {
      // All or nothing: take back what this call stored, so a refused batch leaves nothing behind.
      await Promise.all(stored.map((e) => events.remove(e.tenantId, e.id, e.acceptedAt)));
      throw refused.reason;
    }
    const answers = outcomes.map((o) => (o as PromiseFulfilledResult<Accepted>).value);
    await Promise.all([
      fresh.length ? queue.send(fresh) : undefined,
      recovered.length ? queue.send(recovered, this.deps.recoveryDelaySeconds ?? RECOVERY_DELAY_SECONDS) : undefined,
    ]);
    this.deps.metrics.count("EventsAccepted", inputs.length);
    this.deps.metrics.count("DeliveriesEnqueued", fresh.length);
    return answers;
  }

  private async toStoredEvent(input: EventInput, acceptedAt: number): Promise<StoredEvent> {
    const id = input.id ?? newEventId(acceptedAt);
    const timestamp = new Date(input.occurredAt ?? acceptedAt).toISOString();
    const subs = (await this.subscriptionsOf(input.tenantId)).filter((s) => s.enabled && matchesType(s.eventTypes, input.type));
    return {
      tenantId: input.tenantId,
      id,
      type: input.type,
      timestamp,
      acceptedAt,
      payload: JSON.stringify({ id, type: input.type, timestamp, tenantId: input.tenantId, data: input.data }),
      fingerprint: createHash("sha256").update(JSON.stringify([input.type, input.occurredAt ?? null, input.data])).digest("base64url"),
      deliveries: subs.map((s) => ({ deliveryId: deterministicDeliveryId(acceptedAt, input.tenantId, id, s.id), webhookId: s.id })),
    };
  }

  /** A tenant's subscriptions, read at most once a second per container (design §9). */
  private async subscriptionsOf(tenantId: string): Promise<Subscription[]> {
    const now = this.deps.clock.now();
    const hit = this.cache.get(tenantId);
    if (hit && now - hit.at < this.deps.subscriptionCacheMs) return hit.subs;
    const subs = this.deps.subscriptions.listByTenant(tenantId);
    this.cache.set(tenantId, { subs, at: now });
    subs.catch(() => this.cache.delete(tenantId));
    if (this.cache.size > 1_000) this.cache.delete(this.cache.keys().next().value!);
    return subs;
  }
}

/** The queue messages of an event's fan-out. */
export function messagesOf(event: StoredEvent, recovery = false): DeliveryMessage[] {
  return event.deliveries.map((d) => ({
    v: 1,
    deliveryId: d.deliveryId,
    tenantId: event.tenantId,
    webhookId: d.webhookId,
    eventId: event.id,
    eventType: event.type,
    payload: event.payload,
    ...(recovery ? { recovery: true as const } : {}),
  }));
}

function validateBatch(body: object): EventInput[] {
  const events = (body as { events: unknown }).events;
  const extra = Object.keys(body).filter((k) => k !== "events");
  if (extra.length) throw validationError(extra.map((k) => ({ field: k, message: "is not a known field of a batch" })));
  if (!Array.isArray(events)) throw validationError([{ field: "events", message: "must be an array of events" }]);
  if (events.length === 0) throw validationError([{ field: "events", message: "must contain at least one event" }]);
  if (events.length > INGEST.maxEventsPerRequest) {
    throw validationError([{ field: "events", message: `must contain at most ${INGEST.maxEventsPerRequest} events (got ${events.length})` }]);
  }
  const inputs = events.map((e, i) => validateEvent(e, `events[${i}]`));
  const seen = new Map<string, number>();
  inputs.forEach((e, i) => {
    if (e.id === undefined) return;
    const key = `${e.tenantId}\u0000${e.id}`;
    const first = seen.get(key);
    if (first !== undefined) throw validationError([{ field: `events[${i}].id`, message: `repeats the id of events[${first}]` }]);
    seen.set(key, i);
  });
  return inputs;
}

function validateEvent(raw: unknown, prefix: string): EventInput {
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw validationError([{ field: prefix || "(body)", message: "must be a JSON object: one event, or {\"events\": [...]}" }]);
  }
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) throw validationError(issuesToDetails(parsed.error.issues, prefix));
  // The data as parsed from the request, not zod's copy: the copy assigns each key, and assigning
  // `__proto__` sets a prototype instead of keeping the key. What was sent is what is delivered.
  const input: EventInput = { ...parsed.data, data: (raw as { data: Record<string, unknown> }).data };
  const type = findEventType(input.type);
  if (!type) {
    throw new ApiError(400, "unknown_event_type", `unknown event type "${input.type}"; known types: ${EVENT_TYPE_NAMES.join(", ")}`, [
      { field: at("type"), message: `must be one of: ${EVENT_TYPE_NAMES.join(", ")}` },
    ]);
  }
  const size = Buffer.byteLength(JSON.stringify(input.data));
  if (size > INGEST.maxDataBytes) {
    throw new ApiError(413, "payload_too_large", `${at("data")} is ${size} bytes serialised; the limit is ${INGEST.maxDataBytes}`, [
      { field: at("data"), message: `must be at most ${INGEST.maxDataBytes} bytes serialised` },
    ]);
  }
  const data = type.data.safeParse(input.data);
  if (!data.success) {
    const details: ErrorDetail[] = issuesToDetails(data.error.issues, at("data"));
    throw validationError(details);
  }
  return input;
}
