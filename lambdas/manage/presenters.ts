import type { EventDeliveries } from "#core/deliveries.ts";
import type { DeliveryRecord } from "#core/model.ts";

/**
 * The delivery log as the management API answers it (docs/openapi.yaml: `Delivery`, `DeliverySummary`).
 * The client's types are these functions' return types (client/types.ts). Webhooks are answered by
 * `publicSubscription` (lambdas/core/model.ts), which the deliver λ's logs share.
 */

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
    // A held delivery (circuit open, paused, over its rate, long backoff) is `pending` with `"parked": true` (docs/delivery-semantics.md).
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

/**
 * `GET /tenants/{t}/events/{eventId}`: the event as endpoints receive it and its delivery to every
 * webhook. A delivery not attempted yet has no record: it is answered `pending` with no attempt.
 */
export function presentEventDeliveries({ event, deliveries }: EventDeliveries) {
  return {
    event: JSON.parse(event.payload),
    deliveries: deliveries.map(({ deliveryId, webhookId, record }) => {
      if (record) return presentDelivery(record);
      return {
        id: deliveryId,
        webhookId,
        eventId: event.id,
        eventType: event.type,
        status: "pending" as const,
        attemptCount: 0,
        nextAttemptAt: null,
        reason: null,
        replayOf: null,
        createdAt: new Date(event.acceptedAt).toISOString(),
        updatedAt: new Date(event.acceptedAt).toISOString(),
        attempts: [],
      };
    }),
  };
}
