import type { Attempt, DeliveryMessage, DeliveryRecord, DeliveryStatus, StoredEvent, Subscription } from "./model.ts";

/**
 * The core's view of the outside world. DynamoDB, SQS and undici adapters implement these; the
 * services in this folder only ever see the interfaces.
 */
export interface SubscriptionStore {
  listByTenant(tenantId: string): Promise<Subscription[]>;
  get(tenantId: string, id: string): Promise<Subscription | undefined>;
  getMany(keys: readonly { tenantId: string; id: string }[]): Promise<Subscription[]>;
  count(tenantId: string): Promise<number>;
  create(sub: Subscription): Promise<void>;
  /** Replaces the mutable fields; undefined when the subscription does not exist. */
  update(tenantId: string, id: string, changes: SubscriptionChanges): Promise<Subscription | undefined>;
  delete(tenantId: string, id: string): Promise<boolean>;
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
  /** Moves every DLQ message back to the delivery queue. */
  redrive(): Promise<{ moved?: number; taskId?: string }>;
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
