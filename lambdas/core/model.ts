/** The records the core works with, independent of where they are stored. */

export interface StoredSecret {
  /**
   * The plaintext: only in the deliver λ's memory once opened (≤ the subscription cache), and in
   * items written before secrets were sealed (read, never written again).
   */
  readonly value?: string;
  /** The secret's envelope (`SecretSealer.seal` with the subscription's tenant and id): what is stored. */
  readonly sealed?: string;
  readonly createdAt: string;
  /** Set on the previous secret by a rotation: it keeps signing until then. */
  readonly expiresAt?: string;
}

export interface Subscription {
  readonly tenantId: string;
  readonly id: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description?: string;
  readonly enabled: boolean;
  readonly secrets: readonly StoredSecret[];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly disabledReason?: string;
  readonly disabledAt?: string;
  /** When the current run of failed attempts began; cleared by any success. Drives auto-disable. */
  readonly failingSince?: string;
  /** Paused by hand (docs/delivery-semantics.md): its deliveries are parked, not attempted, until resumed. */
  readonly paused?: boolean;
  /** Deliveries per second at most (1–1,000); absent: no limit. */
  readonly rateLimit?: number;
  // Endpoint health (docs/delivery-semantics.md), written by the deliver and release λs with conditional updates.
  /** Failed attempts since the last success; opens the circuit at the threshold. */
  readonly consecutiveFailures?: number;
  /** Absent: closed. `half-open`: a probe is on its way. */
  readonly circuit?: "open" | "half-open";
  readonly openedAt?: string;
  readonly nextProbeAt?: string;
  readonly probeIntervalSeconds?: number;
  /** Deliveries parked (approximate: counted as they are parked and released). */
  readonly parkedCount?: number;
  /** `due` while the release λ must look at this webhook (sparse index `byWake`), at `wakeAt`. */
  readonly wake?: string;
  readonly wakeAt?: string;
  /** Bumped by every park; the release λ clears `wake` only if no park happened meanwhile. */
  readonly parkSeq?: number;
  /**
   * The release cursor: the parked set's position (`parkSort`) up to which deliveries were sent to the
   * queue; they leave the set when attempted. Cleared when the circuit closes or the webhook resumes.
   */
  readonly releasedThrough?: string;
  readonly lastParkAt?: string;
  /** Marked slow until then (an attempt took longer than HEALTH.slowAttemptMs): its requests in progress are bounded. */
  readonly slowUntil?: string;
  /** The slow attempt's duration, for pacing its parked deliveries. */
  readonly slowMs?: number;
  /** Leases of in-progress slots of a slow webhook: each number is its lease's end (epoch ms, made unique). */
  readonly slots?: ReadonlySet<number>;
}

export type CircuitState = "closed" | "open" | "half-open";

/** The one value of the sparse `byWake` index's partition key: set while the webhook needs a sweep. */
export const WAKE_DUE = "due";

/**
 * A reset release cursor: sorts before every parked position (they begin with a date), and is unique
 * per reset, so that a sweep that read the cursor before a reset cannot move it past what was parked since.
 */
export const releaseReset = (nowIso: string) => `!${nowIso}`;

/** What `GET …/webhooks/{id}` answers as `health` (docs/delivery-semantics.md). */
export function webhookHealth(s: Subscription) {
  return {
    state: (s.circuit ?? "closed") as CircuitState,
    consecutiveFailures: s.consecutiveFailures ?? 0,
    ...(s.openedAt && s.circuit ? { openedAt: s.openedAt } : {}),
    ...(s.nextProbeAt && s.circuit ? { nextProbeAt: s.nextProbeAt } : {}),
    parked: Math.max(0, s.parkedCount ?? 0),
  };
}

/** The view of a subscription that leaves this service: never a secret. */
export function publicSubscription(s: Subscription) {
  return {
    id: s.id,
    tenantId: s.tenantId,
    url: s.url,
    eventTypes: s.eventTypes,
    description: s.description ?? null,
    enabled: s.enabled,
    paused: s.paused ?? false,
    rateLimit: s.rateLimit ?? null,
    disabledReason: s.disabledReason ?? null,
    disabledAt: s.disabledAt ?? null,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    health: webhookHealth(s),
  };
}

/** The secrets that sign right now: the current one and any rotated-out one still in its grace period. */
export function activeSecrets(s: Subscription, nowMs: number): string[] {
  return s.secrets.filter((x) => x.value !== undefined && (!x.expiresAt || Date.parse(x.expiresAt) > nowMs)).map((x) => x.value!);
}

export type DeliveryStatus = "pending" | "succeeded" | "failed" | "skipped";
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ["pending", "succeeded", "failed", "skipped"];

export interface Attempt {
  readonly n: number;
  readonly at: string;
  /** Absent when no response came (timeout, reset, refused, TLS, forbidden address). */
  readonly statusCode?: number;
  readonly error?: string;
  readonly durationMs: number;
  readonly responseExcerpt?: string;
}

export interface DeliveryRecord {
  readonly tenantId: string;
  readonly webhookId: string;
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: DeliveryStatus;
  readonly attemptCount: number;
  readonly attempts: readonly Attempt[];
  /** Attempts made before the current round; a redrive starts a new round with a fresh schedule. */
  readonly roundStart: number;
  /** The `deadLetteredAt` mark of the DLQ message that started the current round (absent: the first round). */
  readonly round?: string;
  /** Set when the delivery was sent to the DLQ; the DLQ message carries the same mark. */
  readonly deadLetteredAt?: string;
  readonly nextAttemptAt?: string;
  readonly reason?: string;
  readonly replayOf?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Kept in DynamoDB, not on the queue (docs/delivery-semantics.md): open circuit, paused, rate limit, busy, long backoff. */
  readonly parked?: boolean;
  /** Why it is parked. */
  readonly parkedFor?: ParkReason;
  /** When a parked delivery may be sent again (ISO). */
  readonly dueAt?: string;
  /** When its retry window ends: a parked delivery still parked then is failed and dead-lettered. */
  readonly windowEndsAt?: string;
}

export type ParkReason = "circuit" | "paused" | "rate" | "busy" | "backoff";

/** What travels on the delivery queue: everything needed to attempt without reading the event. */
export interface DeliveryMessage {
  readonly v: 1;
  readonly deliveryId: string;
  readonly tenantId: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly eventType: string;
  /** The exact body to POST (and sign). */
  readonly payload: string;
  /** Sent by an ingest retry: dropped if the delivery already exists (the first call did enqueue it). */
  readonly recovery?: true;
  /** Present on messages the deliver λ sent to the DLQ; a redriven message starts a new round with it. */
  readonly deadLetteredAt?: string;
  readonly replayOf?: string;
  /** Sent by the release λ for a parked delivery: attempted even though its record says parked. */
  readonly released?: true;
  /** The probe of an open circuit: attempted although the circuit is open. */
  readonly probe?: true;
  /** Sent on to the slow lane by the main lane (the delivery may have a record already). */
  readonly forwarded?: true;
}

export interface StoredEvent {
  readonly tenantId: string;
  readonly id: string;
  readonly type: string;
  readonly timestamp: string;
  /** When the event was first accepted (ms): the time part of its deterministic delivery ids. */
  readonly acceptedAt: number;
  readonly payload: string;
  /** Hash of what the producer sent: the same id with different content is a conflict, not a retry. */
  readonly fingerprint: string;
  readonly deliveries: readonly { readonly deliveryId: string; readonly webhookId: string }[];
  /**
   * Set on the events a batch call stores: its batch token. While that batch is open (neither
   * committed nor refused) the event is provisional; see `EventStore` and architecture.md.
   */
  readonly batch?: string;
}

/** A batch call's marker (all or nothing: docs/architecture.md): claims made on its provisional events. */
export interface BatchMarker {
  /** `open` until the batch commits (the marker is deleted) or is refused (`rollback`, then deleted). */
  readonly state: "open" | "rollback";
  /** Event keys (`tenantId#id`) another call claimed: that call fans them out, and they stay. */
  readonly claimed: readonly string[];
  /** After this time (ms) an open marker's owner is dead (past any λ timeout): its events stand as committed. */
  readonly openUntil: number;
}
