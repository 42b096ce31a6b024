/**
 * The pure half of the delivery decision (docs/delivery-semantics.md): what a delivery message must
 * look like, which copies of a delivery are not attempted, and the outcomes `DeliveryService`
 * turns into side effects. No I/O here, and no schema library: the deliver λ loads none.
 */
import { decodeTime } from "ulid";
import type { DeliveryMessage, DeliveryRecord, ParkReason } from "./model.ts";
import { QUEUE } from "./settings.ts";

/**
 * What becomes of one received message. `DeliveryService.conclude` is the one place that turns it
 * into the record, the queue's side (delete, backoff, DLQ, slow lane), the log line and the metrics.
 */
export type Outcome =
  /** Delivered: recorded succeeded, the message deleted. */
  | { readonly kind: "succeeded" }
  /** Failed for good without the DLQ (its webhook was disabled by this attempt): recorded failed, deleted. */
  | { readonly kind: "failed"; readonly reason: string }
  /** The retry schedule ran out: sent to the DLQ, recorded failed, deleted. */
  | { readonly kind: "exhausted" }
  /** The attempt failed: recorded pending with its next attempt's time, the message hidden for the backoff. */
  | { readonly kind: "retry"; readonly delaySeconds: number; readonly retryAfter?: number }
  /** Not attempted now and nothing recorded: the message is hidden again (not due yet, or the bookkeeping failed). */
  | { readonly kind: "wait"; readonly delaySeconds: number; readonly why: "not due" | "bookkeeping" }
  /** Kept in DynamoDB until the release λ sends it again (docs/delivery-semantics.md, "Parking"); deleted. */
  | { readonly kind: "parked"; readonly reason: ParkReason; readonly dueAtMs: number; readonly fallbackSeconds?: number }
  /** Sent on to the slow lane unattempted; deleted. */
  | { readonly kind: "forwarded" }
  /** Its webhook is deleted or disabled: recorded skipped, deleted. */
  | { readonly kind: "skipped"; readonly reason: string }
  /** A copy with nothing left to do (a duplicate, stale or finished): deleted, nothing recorded. */
  | { readonly kind: "dropped"; readonly reason: string }
  /** Not a delivery message: left on the queue, whose redrive policy moves it to the DLQ. */
  | { readonly kind: "unreadable" };

export const SUCCEEDED: Outcome = { kind: "succeeded" };
export const EXHAUSTED: Outcome = { kind: "exhausted" };
export const FORWARDED: Outcome = { kind: "forwarded" };
export const UNREADABLE: Outcome = { kind: "unreadable" };
/** The record's reason for an exhausted delivery (the API and the docs show it). */
export const EXHAUSTED_REASON = "retry schedule exhausted";

/** The retry round a copy belongs to: the record's, or a fresh one for a redriven delivery. */
export interface Round {
  readonly round: string | undefined;
  /** Attempts made before the round. */
  readonly roundStart: number;
  /** A DLQ message back on the queue: its round starts now. */
  readonly redriven: boolean;
}

const dropped = (reason: string): Outcome => ({ kind: "dropped", reason });

/**
 * The copy checks: whether this copy of a delivery may go on to be attempted, given its record
 * (absent: none yet). SQS delivers at least once and this service sends copies of its own (ingest
 * retries, redrives, releases, probes), so a record that moved on makes the copy moot.
 */
export function checkCopy(message: DeliveryMessage, record: DeliveryRecord | undefined, nowMs: number): Round | Outcome {
  if (!record) return { round: undefined, roundStart: 0, redriven: false };
  if (message.recovery) return dropped("duplicate from an ingest retry dropped");
  if (message.deadLetteredAt !== undefined && record.status === "failed" && record.deadLetteredAt === message.deadLetteredAt) {
    return { round: message.deadLetteredAt, roundStart: record.attemptCount, redriven: true };
  }
  if (message.deadLetteredAt !== record.round) return dropped("stale copy of a delivery dropped");
  if (record.status !== "pending") return dropped(`delivery already ${record.status}; copy dropped`);
  // Released and probe copies are the release λ's, sent for a parked or backed-off delivery on purpose.
  const sentAgain = message.released || message.probe;
  // Parked: only the release λ sends it again. This is a copy from before it was parked.
  if (record.parked && !sentAgain) return dropped("delivery is parked; copy dropped");
  if (record.nextAttemptAt && !sentAgain) {
    // Back before its next attempt is due: a backoff longer than the visibility its receive had
    // left (SQS's 12 h from the receive), or one the queue did not apply. Hidden again, not attempted.
    const waitSeconds = Math.ceil((Date.parse(record.nextAttemptAt) - nowMs) / 1000);
    if (waitSeconds > 1) return { kind: "wait", delaySeconds: waitSeconds, why: "not due" };
  }
  return { round: record.round, roundStart: record.roundStart ?? 0, redriven: false };
}

export const isOutcome = <T extends object>(x: T | Outcome): x is Outcome => "kind" in x;

/**
 * Seconds kept in hand when a first receive is judged fresh: the delivery id's time is ingest's
 * clock, compared here with the deliver λ's.
 */
const FRESH_MARGIN_SECONDS = 10;

/**
 * A plain message received for the first time, soon after its event's acceptance, cannot have a
 * record yet: no earlier receive, and an ingest retry's recovery copy is held back longer (the
 * recovery delay, RECOVERY_DELAY_SECONDS). A message this service sent again (released, probe,
 * forwarded to the slow lane, redriven) is a first receive of a delivery that may have one.
 */
export function isFresh(message: DeliveryMessage, receiveCount: number | undefined, nowMs: number, recoveryDelaySeconds: number): boolean {
  const sentAgain = message.recovery || message.released || message.probe || message.forwarded || message.deadLetteredAt !== undefined;
  return receiveCount === 1 && !sentAgain && nowMs - acceptedAt(message) < (recoveryDelaySeconds - FRESH_MARGIN_SECONDS) * 1000;
}

/** When the delivery's event was accepted: the time part of its id (0, i.e. long ago, if unreadable). */
export function acceptedAt(m: DeliveryMessage): number {
  try {
    return decodeTime(m.deliveryId.slice("dlv_".length));
  } catch {
    return 0;
  }
}

/** When a delivery held by its webhook (paused, circuit open) is due: since its acceptance, so that it is released oldest first. */
export function heldSince(m: DeliveryMessage, nowMs: number): number {
  return Math.min(nowMs, acceptedAt(m));
}

/**
 * How long a message waits when its bookkeeping failed (DynamoDB throttling or down): 1, 2, 4, 8, then
 * 15 minutes (SQS's longest delay) by receive count, so an outage of hours spends few receives of
 * maxReceiveCount. (test/unit/delivery-decision.test.ts checks the sequence.)
 */
export function bookkeepingDelay(receiveCount: number | undefined): number {
  const n = Math.max(1, receiveCount ?? 1);
  return Math.min(60 * 2 ** Math.min(n - 1, 4), QUEUE.maxDelaySeconds);
}

const text = (x: unknown): x is string => typeof x === "string" && x.length > 0;

/**
 * The message in a queue body, or undefined when the body is not one (not JSON, a field missing or
 * of the wrong type). Only the message's own fields are kept, in their order: it is sent on as is
 * (DLQ, slow lane).
 */
export function readMessage(body: string): DeliveryMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const o = parsed as Record<string, unknown>;
  const { v, deliveryId, tenantId, webhookId, eventId, eventType, payload } = o;
  if (v !== 1 || !text(deliveryId) || !text(tenantId) || !text(webhookId) || !text(eventId) || !text(eventType) || typeof payload !== "string")
    return undefined;
  const { recovery, deadLetteredAt, replayOf, released, probe, forwarded } = o;
  const flag = (x: unknown): x is true | undefined => x === undefined || x === true;
  const optionalString = (x: unknown): x is string | undefined => x === undefined || typeof x === "string";
  if (!flag(recovery) || !optionalString(deadLetteredAt) || !optionalString(replayOf) || !flag(released) || !flag(probe) || !flag(forwarded)) return undefined;
  return {
    v,
    deliveryId,
    tenantId,
    webhookId,
    eventId,
    eventType,
    payload,
    ...(recovery && { recovery }),
    ...(deadLetteredAt !== undefined && { deadLetteredAt }),
    ...(replayOf !== undefined && { replayOf }),
    ...(released && { released }),
    ...(probe && { probe }),
    ...(forwarded && { forwarded }),
  };
}
