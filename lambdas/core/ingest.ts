import { hash, randomUUID } from "node:crypto";
import { z } from "zod";
import { EVENT_TYPE_NAMES, findEventType } from "./catalogue.ts";
import { ApiError, validationError, type ErrorDetail } from "./errors.ts";
import { deterministicDeliveryId, newEventId } from "./ids.ts";
import { matchesType } from "./matching.ts";
import type { DeliveryMessage, StoredEvent, Subscription } from "./model.ts";
import type { Clock, CoreLogger, CoreMetrics, DeliveryQueue, EventStore, SubscriptionStore } from "./ports.ts";
import { INGEST, RECOVERY_DELAY_SECONDS } from "./settings.ts";
import { issuesToDetails, isoDateTimeSchema, jsonValueProblem, tenantIdSchema } from "./validation.ts";

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

/** A validated event, with its `data` serialised once (its size is checked on it; payload and fingerprint embed it). */
type EventInput = z.infer<typeof eventSchema> & { readonly dataJson: string };

/** How long a batch call waits for another batch holding one of its event ids to commit or be refused. */
const BATCH_WAIT_MS = 3_000;
/**
 * A batch marker left open this long belongs to a dead call: API Gateway ends every integration
 * within 30 s (the ingest λ's timeout is 15 s). Its events then stand as accepted, and a retry of the
 * batch re-enqueues their fan-out as recovery copies.
 */
const BATCH_OPEN_MS = 60_000;

const eventKey = (e: { tenantId: string; id: string }) => `${e.tenantId}#${e.id}`;

type Placed = { kind: "stored" | "claimed" | "seen"; event: StoredEvent };

export interface Accepted {
  id: string;
  deliveries: number;
}

/**
 * `POST /events` (docs/publishing.md, docs/decisions.md): validates everything first (a batch is all or nothing), then stores
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

  /**
   * Stores each event once and enqueues its fan-out. A batch is all or nothing, yet a plain publish
   * of one of its ids may race it: so a batch opens a marker, stores its events marked with it
   * (provisional), and either commits (deletes the marker) or, refused, freezes the marker and takes
   * back only the events no other call claimed. A call that finds another batch's provisional event
   * with its own content claims it (at most one call can) and fans it out itself. See
   * architecture.md, "Ingest idempotency and crash recovery".
   *
   * An event without a producer id gets its id here, which no other call can know: it needs neither
   * a conditional put nor a marker, so such events are stored in bulk
   * (`EventStore.putNew`), and a batch of only such events opens no marker.
   */
  private async accept(inputs: EventInput[]): Promise<Accepted[]> {
    const { events, queue, clock } = this.deps;
    const acceptedAt = clock.now();
    const isBatch = inputs.length > 1;
    const batch = isBatch && inputs.some((input) => input.id !== undefined) ? randomUUID() : undefined;
    if (batch) await events.openBatch(batch, acceptedAt + BATCH_OPEN_MS);
    const made = await Promise.allSettled(inputs.map((input) => this.toStoredEvent(input, acceptedAt, batch)));
    const bulk = new Set(inputs.flatMap((input, i) => (input.id === undefined && made[i].status === "fulfilled" ? [i] : [])));
    const bulkEvents = [...bulk].map((i) => (made[i] as PromiseFulfilledResult<StoredEvent>).value);
    const bulkWrite = bulkEvents.length ? events.putNew(bulkEvents) : Promise.resolve();
    const outcomes = await Promise.allSettled(
      made.map(async (m, i): Promise<Placed> => {
        if (m.status === "rejected") throw m.reason;
        if (bulk.has(i)) return bulkWrite.then(() => ({ kind: "stored", event: m.value }));
        return this.place(m.value, acceptedAt, batch, isBatch ? `events[${i}]` : "");
      }),
    );
    const placed = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (refused) {
      if (isBatch) {
        // All or nothing: take back what this call stored, except what another call claimed (and
        // answered for); a failed bulk write may have stored part of its events.
        const claimed = new Set(batch ? await events.startRollback(batch) : []);
        const stored = placed.flatMap((p) => (p.kind === "stored" ? [p.event] : []));
        const bulkFailed = await bulkWrite.then(
          () => false,
          () => true,
        );
        const ours = [...stored, ...(bulkFailed ? bulkEvents : [])].filter((e) => !claimed.has(eventKey(e)));
        await Promise.all(ours.map((e) => events.remove(e.tenantId, e.id, e.acceptedAt)));
        if (batch) await events.closeBatch(batch);
      }
      throw refused.reason;
    }
    const claimedByOthers = new Set(batch ? await events.commitBatch(batch) : []);
    const fresh: DeliveryMessage[] = [];
    const recovered: DeliveryMessage[] = [];
    for (const p of placed) {
      if (p.kind === "seen") {
        // The first call may have died before enqueueing everything: enqueue again, marked, so that a
        // copy of a delivery that already exists is dropped by the deliver λ.
        recovered.push(...messagesOf(p.event, true));
        this.deps.logger.info("event id seen again: fan-out re-enqueued for recovery", { eventId: p.event.id, tenantId: p.event.tenantId });
      } else if (p.kind === "claimed" || !claimedByOthers.has(eventKey(p.event))) {
        fresh.push(...messagesOf(p.event));
      }
    }
    await Promise.all([
      fresh.length ? queue.send(fresh) : undefined,
      recovered.length ? queue.send(recovered, this.deps.recoveryDelaySeconds ?? RECOVERY_DELAY_SECONDS) : undefined,
    ]);
    this.deps.metrics.count("EventsAccepted", inputs.length);
    this.deps.metrics.count("DeliveriesEnqueued", fresh.length);
    return placed.map((p) => ({ id: p.event.id, deliveries: p.event.deliveries.length }));
  }

  /**
   * Stores one event, or finds the one stored under its id: the same content accepted before
   * (`seen`), another batch's provisional copy that this call takes over (`claimed`), or a conflict
   * (409). A batch call does not claim (it could still be refused): it waits for the other batch.
   */
  private async place(event: StoredEvent, acceptedAt: number, batch: string | undefined, at: string): Promise<Placed> {
    const { events, clock } = this.deps;
    const field = at ? `${at}.id` : "id";
    const waitUntil = clock.now() + BATCH_WAIT_MS;
    for (let round = 0; round < 200; round++) {
      const existing = await events.putIfAbsent(event, acceptedAt - INGEST.idempotencyWindowSeconds * 1000);
      if (!existing) return { kind: "stored", event };
      if (existing.fingerprint !== event.fingerprint) {
        throw new ApiError(409, "idempotency_conflict", `event ${event.id} was already accepted with different content; use a new id`, [
          { field, message: "was already used for a different event in the last 24 hours" },
        ]);
      }
      if (!existing.batch) return { kind: "seen", event: existing };
      // This very call's put, whose answer was lost and which the SDK retried.
      if (existing.batch === batch && existing.acceptedAt === acceptedAt) return { kind: "stored", event };
      const key = eventKey(existing);
      const now = clock.now();
      const marker = await events.batchMarker(existing.batch);
      if (!marker || (marker.state === "open" && marker.openUntil <= now)) {
        // Its batch committed (or died long ago, its event standing as accepted), or was refused and
        // took the event back: only a read tells which.
        const again = await events.get(existing.tenantId, existing.id);
        if (again?.acceptedAt === existing.acceptedAt) return { kind: "seen", event: again };
        continue;
      }
      if (marker.claimed.includes(key)) return { kind: "seen", event: existing };
      if (marker.state === "rollback") {
        // Refused and not claimed: it is being taken back; help, then store this call's own.
        await events.remove(existing.tenantId, existing.id, existing.acceptedAt);
        continue;
      }
      if (!batch) {
        if (await events.claimEvent(existing.batch, key, now)) return { kind: "claimed", event: existing };
        continue;
      }
      // A batch call waits, reading only the other batch's marker, until it commits or is refused.
      for (;;) {
        if (clock.now() > waitUntil) {
          throw new ApiError(409, "event_in_progress", `event ${event.id} is being accepted by another batch right now; retry shortly`, [
            { field, message: "is being accepted by another batch call; retry" },
          ]);
        }
        await new Promise((r) => setTimeout(r, 20));
        const m = await events.batchMarker(existing.batch);
        if (!m || m.state !== "open" || m.openUntil <= clock.now() || m.claimed.includes(key)) break;
      }
    }
    throw new Error(`event ${event.id}: no stable answer after 200 rounds`);
  }

  private async toStoredEvent(input: EventInput, acceptedAt: number, batch: string | undefined): Promise<StoredEvent> {
    const id = input.id ?? newEventId(acceptedAt);
    const timestamp = new Date(input.occurredAt ?? acceptedAt).toISOString();
    const subs = (await this.subscriptionsOf(input.tenantId)).filter((s) => s.enabled && matchesType(s.eventTypes, input.type));
    const str = JSON.stringify;
    return {
      tenantId: input.tenantId,
      id,
      type: input.type,
      timestamp,
      acceptedAt,
      // JSON.stringify({ id, type, timestamp, tenantId, data }) and JSON.stringify([type, occurredAt ?? null, data]),
      // spelled out so that `data` is serialised once per event.
      payload: `{"id":${str(id)},"type":${str(input.type)},"timestamp":${str(timestamp)},"tenantId":${str(input.tenantId)},"data":${input.dataJson}}`,
      fingerprint: hash("sha256", `[${str(input.type)},${str(input.occurredAt ?? null)},${input.dataJson}]`, "base64url"),
      deliveries: subs.map((s) => ({ deliveryId: deterministicDeliveryId(acceptedAt, input.tenantId, id, s.id), webhookId: s.id })),
      ...(batch ? { batch } : {}),
    };
  }

  /** A tenant's subscriptions, read at most once a second per container (docs/architecture.md#subscriptions). */
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
    throw validationError([{ field: prefix || "(body)", message: 'must be a JSON object: one event, or {"events": [...]}' }]);
  }
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) throw validationError(issuesToDetails(parsed.error.issues, prefix));
  // The data as parsed from the request, not zod's copy: the copy assigns each key, and assigning
  // `__proto__` sets a prototype instead of keeping the key. What was sent is what is delivered.
  const data = (raw as { data: Record<string, unknown> }).data;
  const type = findEventType(parsed.data.type);
  if (!type) {
    throw new ApiError(400, "unknown_event_type", `unknown event type "${parsed.data.type}"; known types: ${EVENT_TYPE_NAMES.join(", ")}`, [
      { field: at("type"), message: `must be one of: ${EVENT_TYPE_NAMES.join(", ")}` },
    ]);
  }
  const problem = jsonValueProblem(data, INGEST.maxDataDepth);
  if (problem) throw validationError([{ field: at("data"), message: problem }]);
  const dataJson = JSON.stringify(data);
  const size = Buffer.byteLength(dataJson);
  if (size > INGEST.maxDataBytes) {
    throw new ApiError(413, "payload_too_large", `${at("data")} is ${size} bytes serialised; the limit is ${INGEST.maxDataBytes}`, [
      { field: at("data"), message: `must be at most ${INGEST.maxDataBytes} bytes serialised` },
    ]);
  }
  const checked = type.data.safeParse(data);
  if (!checked.success) {
    const details: ErrorDetail[] = issuesToDetails(checked.error.issues, at("data"));
    throw validationError(details);
  }
  return { ...parsed.data, data, dataJson };
}
