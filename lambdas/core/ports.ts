import type { Attempt, BatchMarker, DeliveryMessage, DeliveryRecord, DeliveryStatus, StoredEvent, StoredSecret, Subscription } from "./model.ts";

/**
 * The core's view of the outside world. DynamoDB, SQS and undici adapters implement these; the
 * services in this folder only ever see the interfaces.
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
  updatedAt?: string;
}

export interface EventStore {
  /** Stores the event unless one with its id was accepted after `windowStartMs`; returns that one if so. */
  putIfAbsent(event: StoredEvent, windowStartMs: number): Promise<StoredEvent | undefined>;
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
  cursor?: string;
}

export interface DeliveryQuery {
  status?: DeliveryStatus;
  limit: number;
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

export interface DeliveryLog {
  getMany(keys: readonly { tenantId: string; webhookId: string; id: string }[]): Promise<DeliveryRecord[]>;
  get(tenantId: string, webhookId: string, id: string): Promise<DeliveryRecord | undefined>;
  list(tenantId: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage>;
  /** One write: creates the record on the first attempt, appends to it on later ones. */
  write(w: AttemptWrite): Promise<void>;
  /** Creates the records of deliveries that have none yet, many per request. */
  createMany(writes: readonly AttemptWrite[]): Promise<void>;
}

export interface DeliveryQueue {
  /** Enqueues in batches of 10; `MessageGroupId` = webhook id (fair queue). */
  send(messages: readonly DeliveryMessage[], delaySeconds?: number): Promise<void>;
  /** Backoff: hide each message for its delay. */
  changeVisibility(items: readonly { receiptHandle: string; seconds: number }[]): Promise<void>;
  deadLetter(message: DeliveryMessage): Promise<void>;
  dlqDepth(): Promise<{ visible: number; inFlight: number }>;
  /** Moves every DLQ message back to the delivery queue; throws RedriveInProgress while one is running. */
  redrive(): Promise<{ moved?: number; taskId?: string }>;
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
