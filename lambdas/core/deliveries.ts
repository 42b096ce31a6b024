import { ApiError, notFound, validationError } from "./errors.ts";
import { isDeliveryId, newDeliveryId } from "./ids.ts";
import type { DeliveryMessage, DeliveryRecord, DeliveryStatus, StoredEvent, Subscription } from "./model.ts";
import {
  InvalidCursor,
  RedriveInProgress,
  type Clock,
  type CoreLogger,
  type DeliveryLog,
  type DeliveryQueue,
  type EventStore,
  type QueueDepths,
  type RedriveTask,
} from "./ports.ts";
import { LIMITS } from "./settings.ts";

export interface DeliveryLogDeps {
  events: EventStore;
  deliveries: DeliveryLog;
  queue: DeliveryQueue;
  clock: Clock;
  logger: CoreLogger;
}

/** A page of a webhook's log; `cursor` (opaque, bound to the webhook) continues it, null on the last page. */
export interface DeliveryLogPage {
  items: DeliveryRecord[];
  cursor: string | null;
}

/** What to replay: the webhook's deliveries of `status` (default `failed`) created between `since` and `until` (default now). */
export interface ReplayRequest {
  /** ISO 8601 date-times. */
  since: string;
  until?: string;
  status?: DeliveryStatus;
  /** The `cursor` of an earlier replay's outcome: carries on where that call stopped. */
  cursor?: string;
}

export interface ReplayOutcome {
  replayed: number;
  matched: number;
  truncated: boolean;
  status: DeliveryStatus;
  cursor: string | null;
}

/** An event and its delivery to each webhook it was fanned out to; `record` is absent until the first attempt. */
export interface EventDeliveries {
  event: StoredEvent;
  deliveries: { deliveryId: string; webhookId: string; record?: DeliveryRecord }[];
}

/** Replays of one call are bounded: a wider window is several calls, each carrying on from the last one's cursor. */
const REPLAY_MAX = 1_000;
/** Pages of the log one replay call reads at most (time-bounded whatever the webhook's volume). */
const REPLAY_MAX_PAGES = 20;

/** An event id as ingest accepts it (producers' own keys) or generates it (`evt_…`). */
const EVENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The delivery log as the management API shows it (docs/openapi.yaml): a webhook's deliveries, one
 * with every attempt, retries and replays (new deliveries of the same event), an event's deliveries
 * to every webhook, and the queues (DLQ depth, redrive). Its subscription-bound calls take the
 * webhook as `WebhookService.get` read it, so a foreign id is not found before anything else.
 */
export class DeliveryLogService {
  constructor(private readonly deps: DeliveryLogDeps) {}

  /** Whether `cursor` has the form of the log's cursors (of any webhook); `list` and `replay` also check whose it is. */
  isCursor(cursor: string): boolean {
    return this.deps.deliveries.isCursor(cursor);
  }

  async list(sub: Subscription, query: { status?: DeliveryStatus; limit?: number; cursor?: string }): Promise<DeliveryLogPage> {
    const page = await this.read(sub, { status: query.status, limit: query.limit ?? LIMITS.pageSizeDefault, cursor: query.cursor });
    return { items: page.items, cursor: page.cursor ?? null };
  }

  /** One delivery of the webhook with every attempt, or 404 (a malformed id too). */
  async get(sub: Subscription, deliveryId: string): Promise<DeliveryRecord> {
    const record = isDeliveryId(deliveryId) ? await this.deps.deliveries.get(sub.tenantId, sub.id, deliveryId) : undefined;
    if (!record) throw notFound("delivery");
    return record;
  }

  /** A new delivery of the delivery's event; 410 when the event is no longer retained. */
  async retry(sub: Subscription, deliveryId: string): Promise<{ deliveryId: string; replayOf: string }> {
    const original = await this.get(sub, deliveryId);
    const [replayed] = await this.replayDeliveries(sub, [original]);
    if (!replayed) throw new ApiError(410, "event_expired", `the event of ${original.id} is no longer retained and cannot be replayed`);
    return { deliveryId: replayed, replayOf: original.id };
  }

  async replay(sub: Subscription, input: ReplayRequest): Promise<ReplayOutcome> {
    if (Date.parse(input.since) > this.deps.clock.now()) throw validationError([{ field: "since", message: "must not be in the future" }]);
    const status = input.status ?? "failed";
    const originals: DeliveryRecord[] = [];
    let cursor = input.cursor;
    // pending, failed and skipped come from the status index; each call reads a bounded number of pages.
    for (let page = 0; page < REPLAY_MAX_PAGES && originals.length < REPLAY_MAX; page++) {
      const found = await this.read(sub, {
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
    return { replayed: replayed.filter(Boolean).length, matched: originals.length, truncated: cursor !== undefined, status, cursor: cursor ?? null };
  }

  /**
   * An event of the tenant with its delivery to every webhook it was fanned out to ("did event X
   * reach everyone?"); 404 when there is none. Retries and replays are new deliveries in each
   * webhook's log (`replayOf` names the one they repeat).
   */
  async lookupEvent(tenantId: string, eventId: string): Promise<EventDeliveries> {
    const event = EVENT_ID.test(eventId) ? await this.deps.events.get(tenantId, eventId) : undefined;
    if (!event) throw notFound("event");
    const records = await this.deps.deliveries.getMany(event.deliveries.map((d) => ({ tenantId, webhookId: d.webhookId, id: d.deliveryId })));
    const byId = new Map(records.map((r) => [r.id, r]));
    return { event, deliveries: event.deliveries.map((d) => ({ deliveryId: d.deliveryId, webhookId: d.webhookId, record: byId.get(d.deliveryId) })) };
  }

  dlqDepth(): Promise<{ visible: number; inFlight: number }> {
    return this.deps.queue.dlqDepth();
  }

  queueDepths(): Promise<QueueDepths> {
    return this.deps.queue.depths();
  }

  /** One redrive at a time (SQS runs one move task per queue): a second one is a 409 naming the running task. */
  async redrive(): Promise<{ moved?: number; taskId?: string }> {
    try {
      return await this.deps.queue.redrive();
    } catch (err) {
      if (!(err instanceof RedriveInProgress)) throw err;
      throw new RedriveRunningError(err.task);
    }
  }

  /** A page of the log; a cursor the log did not return for this webhook is a 400 naming the field. */
  private async read(sub: Subscription, query: Parameters<DeliveryLog["list"]>[2]) {
    try {
      return await this.deps.deliveries.list(sub.tenantId, sub.id, query);
    } catch (err) {
      if (!(err instanceof InvalidCursor)) throw err;
      const message = err.reason === "foreign" ? "is not a cursor this API returned for this webhook" : "is not a cursor this API returned";
      throw validationError([{ field: "cursor", message }]);
    }
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
}

/** The queue message of a new delivery of `event` to one webhook. */
export function deliveryMessage(event: StoredEvent, webhookId: string, deliveryId: string): DeliveryMessage {
  return { v: 1, deliveryId, tenantId: event.tenantId, webhookId, eventId: event.id, eventType: event.type, payload: event.payload };
}

/** `409 redrive_running`: the error shape plus the running task. */
export class RedriveRunningError extends ApiError {
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
