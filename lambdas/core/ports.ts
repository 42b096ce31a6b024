import type { Attempt, BatchMarker, DeliveryMessage, DeliveryRecord, DeliveryStatus, StoredEvent, StoredSecret, Subscription } from "./model.ts";

/**
 * The core's view of the outside world. DynamoDB, SQS, KMS and node:http adapters (lambdas/adapters)
 * implement these; the services in this folder only ever see the interfaces.
 */
export interface SubscriptionStore {
  listByTenant(tenantId: string): Promise<Subscription[]>;
  get(tenantId: string, id: string): Promise<Subscription | undefined>;
  getMany(keys: readonly { tenantId: string; id: string }[]): Promise<Subscription[]>;
  /** Creates it unless the tenant already has `limit` subscriptions (false), atomically with respect to parallel creates. */
  create(sub: Subscription, limit: number): Promise<boolean>;
  /**
   * Replaces the mutable fields; undefined when the subscription does not exist. With `expect`, only
   * if its newest secret is still `newestSecret` (as stored), else it throws `StaleWrite`.
   */
  update(tenantId: string, id: string, changes: SubscriptionChanges, expect?: { newestSecret: StoredSecret }): Promise<Subscription | undefined>;
  /** Deletes it and frees its place under the limit; false when it did not exist. */
  delete(tenantId: string, id: string): Promise<boolean>;
}

/** A conditional write found the record changed since it was read. */
export class StaleWrite extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StaleWrite";
  }
}

export interface SubscriptionChanges {
  url?: string;
  eventTypes?: readonly string[];
  description?: string | null;
  enabled?: boolean;
  disabledReason?: string | null;
  disabledAt?: string | null;
  failingSince?: string | null;
  secrets?: Subscription["secrets"];
  paused?: boolean;
  rateLimit?: number | null;
  /** The release cursor: reset (`releaseReset`) when a webhook resumes, so that what was parked meanwhile is released too. */
  releasedThrough?: string | null;
  /** Set (`due`, now) by a resume or re-enable, so that the release λ looks at the webhook at once. */
  wake?: string | null;
  wakeAt?: string | null;
  updatedAt?: string;
}

/**
 * A webhook's health (docs/delivery-semantics.md), kept on its subscription item and changed only by conditional or
 * additive updates, so that concurrent λs never lose one another's counts.
 */
export interface HealthStore {
  /** Counts `count` failed attempts (and starts the failing streak); the subscription as it is now. */
  recordFailure(tenantId: string, id: string, o: { nowIso: string; count: number }): Promise<Subscription | undefined>;
  /**
   * A successful attempt: the streak ends; with `close`, an open or half-open circuit closes and its
   * parked work is due now. True when this call closed a circuit (it was open or half-open).
   */
  recordSuccess(tenantId: string, id: string, o: { nowIso: string; close: boolean }): Promise<boolean>;
  /** Opens the circuit if it is closed and the streak is at `threshold` or more; false when another call did, or it is not. */
  openCircuit(tenantId: string, id: string, o: { threshold: number; nowIso: string; nextProbeAt: string; probeIntervalSeconds: number }): Promise<boolean>;
  /**
   * Takes the probe of an open circuit whose probe is due (`nextProbeAt` still `expectNextProbeAt`):
   * half-open until the probe's outcome, next probe at `nextProbeAt`. False when another sweep took it.
   */
  claimProbe(tenantId: string, id: string, o: { expectNextProbeAt: string; nextProbeAt: string; probeIntervalSeconds: number }): Promise<boolean>;
  /** A failed probe: open again (the next probe time was set when it was claimed). */
  probeFailed(tenantId: string, id: string): Promise<void>;
  /**
   * Deliveries were parked: counted, and the webhook is due for a sweep no later than `dueAt`. With
   * `sooner: false` (the caller saw a wake at or before `dueAt` already), only counted: one write.
   */
  noteParked(tenantId: string, id: string, o: { count: number; dueAt: string; nowIso: string; sooner?: boolean }): Promise<void>;
  /** Deliveries left the parked set (released, expired): counted. */
  noteUnparked(tenantId: string, id: string, count: number): Promise<void>;
  /**
   * When the release λ must look again (`undefined`: never, unless something is parked again). With
   * `expectParkSeq`, only if no park happened since the sweep read `parkSeq`; with `cursor`, the release
   * cursor moves from `from` (as the sweep read it) to `to`, only if no reset (a close, a resume)
   * happened meanwhile. False when such a condition failed.
   */
  setWake(tenantId: string, id: string, o: { wakeAt?: string; expectParkSeq?: number; cursor?: { from?: string; to: string } }): Promise<boolean>;
  /** Webhooks due for a sweep at `nowIso`, soonest first. */
  due(nowIso: string, limit: number): Promise<Subscription[]>;
  /** Over every webhook with a wake (open circuits keep theirs): open circuits and parked deliveries (approximate), for the metrics. */
  summary(): Promise<{ openCircuits: number; parked: number }>;
  /** Marks the webhook slow (its in-progress requests bounded) until `slowUntil`. */
  markSlow(tenantId: string, id: string, o: { slowUntil: string; slowMs: number }): Promise<void>;
  /**
   * Takes one of a slow webhook's `limit` in-progress slots, as a lease ending at `lease` (unique).
   * `expired` are leases known to have ended; they are dropped in the same write. False: all taken.
   */
  takeSlot(tenantId: string, id: string, o: { lease: number; limit: number; expired: readonly number[] }): Promise<boolean>;
  freeSlot(tenantId: string, id: string, lease: number): Promise<void>;
  /** One of the `limit` deliveries the webhook may make in the second `second` (epoch s); false: that second is full. */
  takeRate(tenantId: string, id: string, o: { second: number; limit: number }): Promise<boolean>;
}

export interface EventStore {
  /** Stores the event unless one with its id was accepted after `windowStartMs`; returns that one if so. */
  putIfAbsent(event: StoredEvent, windowStartMs: number): Promise<StoredEvent | undefined>;
  /**
   * Stores events whose ids the ingest service just made (`newEventId`): no other call can know
   * them, so they need no condition and may be written in bulk (DynamoDB's `BatchWriteItem`: 25 a
   * request, the write units of a put each). Throws if any may not be stored; some may be.
   */
  putNew(events: readonly StoredEvent[]): Promise<void>;
  get(tenantId: string, id: string): Promise<StoredEvent | undefined>;
  /** Deletes the event if it is still the one accepted at `acceptedAt` (undoing a refused batch). */
  remove(tenantId: string, id: string, acceptedAt: number): Promise<void>;
  /**
   * A batch call's marker, so that a refused batch takes back only what no other call answered for
   * (architecture.md, "Ingest idempotency"). `openBatch` creates it; `claimEvent` records, atomically
   * and at most once per event, that another call takes over one of its provisional events (false
   * when the batch is no longer open or the event was claimed already); `commitBatch` deletes it and
   * `startRollback` freezes it, both returning the claimed event keys; `closeBatch` deletes it.
   */
  openBatch(token: string, openUntil: number): Promise<void>;
  batchMarker(token: string): Promise<BatchMarker | undefined>;
  claimEvent(token: string, eventKey: string, nowMs: number): Promise<boolean>;
  commitBatch(token: string): Promise<readonly string[]>;
  startRollback(token: string): Promise<readonly string[]>;
  closeBatch(token: string): Promise<void>;
}

export interface DeliveryPage {
  items: DeliveryRecord[];
  /** Opaque: where the next page starts, for `list` of the same webhook; absent on the last page. */
  cursor?: string;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  limit: number;
  /** A `cursor` that `list` returned for the same webhook; anything else throws `InvalidCursor`. */
  cursor?: string;
  /** Only deliveries created in [sinceMs, untilMs]. */
  sinceMs?: number;
  untilMs?: number;
}

export interface AttemptWrite {
  message: DeliveryMessage;
  attempt?: Attempt;
  /** Attempts the record held before this one (0 or absent: none, or no record read). */
  previousAttempts?: number;
  status: DeliveryStatus;
  roundStart: number;
  round?: string;
  deadLetteredAt?: string;
  nextAttemptAt?: string;
  reason?: string;
  nowIso: string;
}

/** A delivery to park: its record (created or updated, like `write`) with the message to send it again. */
export interface ParkWrite extends AttemptWrite {
  reason: import("./model.ts").ParkReason;
  dueAt: string;
  windowEndsAt: string;
}

/** A parked delivery as the release λ reads it: enough to send it again. */
export interface ParkedDelivery {
  readonly message: DeliveryMessage;
  /** Its position in the parked set (`dueAt#deliveryId`): the release cursor. */
  readonly parkSort: string;
  readonly dueAt: string;
  readonly windowEndsAt: string;
  readonly attemptCount: number;
  readonly roundStart: number;
  readonly round?: string;
}

export interface DeliveryLog {
  getMany(keys: readonly { tenantId: string; webhookId: string; id: string }[]): Promise<DeliveryRecord[]>;
  get(tenantId: string, webhookId: string, id: string): Promise<DeliveryRecord | undefined>;
  /** Newest first, a page at a time; throws `InvalidCursor` (before reading anything) for a cursor it did not return for this webhook. */
  list(tenantId: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage>;
  /**
   * Whether `cursor` has the form of the cursors `list` returns (for any webhook): lets a request's
   * cursor be checked along with its other fields, before the webhook it is bound to is known.
   */
  isCursor(cursor: string): boolean;
  /** One write: creates the record on the first attempt, appends to it on later ones. */
  write(w: AttemptWrite): Promise<void>;
  /** Creates the records of deliveries that have none yet, many per request. */
  createMany(writes: readonly AttemptWrite[]): Promise<void>;
  /** Parks the delivery: its record says pending and parked, with the message kept to send it again. */
  park(w: ParkWrite): Promise<void>;
  /**
   * A webhook's parked deliveries due by `dueBy` (ISO), soonest due first, after the `after` position
   * (a `parkSort`: those up to it were released already and leave the set when attempted).
   */
  parked(tenantId: string, webhookId: string, o: { dueBy: string; limit: number; after?: string }): Promise<ParkedDelivery[]>;
  /** The soonest due time among the webhook's parked deliveries after `after`, if any. */
  nextDue(tenantId: string, webhookId: string, after?: string): Promise<string | undefined>;
}

/**
 * A delivery-log cursor `list` never returned (`malformed`), or returned for another webhook's log
 * (`foreign`): cursors are bound to one tenant's webhook.
 */
export class InvalidCursor extends Error {
  constructor(readonly reason: "malformed" | "foreign") {
    super(reason === "malformed" ? "not a cursor of the delivery log" : "a cursor of another webhook's delivery log");
    this.name = "InvalidCursor";
  }
}

export interface DeliveryQueue {
  /** Enqueues in batches of 10; `MessageGroupId` = webhook id (fair queue). */
  send(messages: readonly DeliveryMessage[], delaySeconds?: number): Promise<void>;
  /** Sends each message with its own delay (≤ 900 s): paced releases of parked deliveries. */
  sendDelayed(items: readonly { message: DeliveryMessage; delaySeconds: number }[]): Promise<void>;
  /** SQS's approximate counts of both queues (`GET /admin/queues`). */
  depths(): Promise<QueueDepths>;
  /** Backoff: hide each message for its delay. */
  changeVisibility(items: readonly { receiptHandle: string; seconds: number }[]): Promise<void>;
  deadLetter(message: DeliveryMessage): Promise<void>;
  dlqDepth(): Promise<{ visible: number; inFlight: number }>;
  /** Moves every DLQ message back to the delivery queue; throws RedriveInProgress while one is running. */
  redrive(): Promise<{ moved?: number; taskId?: string }>;
}

export interface QueueDepths {
  delivery: { visible: number; inFlight: number; delayed: number };
  /** The slow lane's queue (absent where there is none). */
  slow?: { visible: number; inFlight: number; delayed: number };
  dlq: { visible: number; inFlight: number };
}

/** A DLQ redrive under way: an SQS message move task on AWS, the copy loop on the local stack. */
export interface RedriveTask {
  readonly taskId?: string;
  /** SQS's status: RUNNING or CANCELLING. */
  readonly status: string;
  readonly startedAt?: string;
  readonly moved?: number;
  readonly toMove?: number;
}

/** Thrown by `DeliveryQueue.redrive` when a redrive of the DLQ is already running (one at a time). */
export class RedriveInProgress extends Error {
  constructor(readonly task: RedriveTask) {
    super(`a DLQ redrive is already running${task.taskId ? ` (task ${task.taskId})` : ""}`);
    this.name = "RedriveInProgress";
  }
}

export interface HttpResult {
  statusCode?: number;
  error?: string;
  durationMs: number;
  responseExcerpt?: string;
  retryAfter?: string;
}

export interface HttpSender {
  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResult>;
}

/** Whose secret a sealed value is: bound into its envelope, so it opens for that webhook only. */
export interface SecretContext {
  readonly tenantId: string;
  readonly webhookId: string;
}

/**
 * Envelope encryption of signing secrets (the KMS adapter on AWS and, with a local key, on the
 * local stack). `open` with another context than `seal` had fails.
 */
export interface SecretSealer {
  seal(plaintext: string, context: SecretContext): Promise<string>;
  open(sealed: string, context: SecretContext): Promise<string>;
}

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The logging the core needs; Powertools' Logger satisfies it. */
export interface CoreLogger {
  debug(message: string, ...extra: Record<string, unknown>[]): void;
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/** The metrics the core emits; Powertools' Metrics adapter implements it in the λs. */
export interface CoreMetrics {
  count(name: string, value?: number): void;
  milliseconds(name: string, value: number): void;
}

export const noMetrics: CoreMetrics = { count: () => {}, milliseconds: () => {} };

export type { Attempt, DeliveryMessage, DeliveryRecord, StoredEvent, Subscription };
