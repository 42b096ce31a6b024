import type { ApiRequest, ApiResponse } from "./api.ts";
import { notFound } from "./errors.ts";
import { presentDelivery } from "./manage.ts";
import type { DeliveryLog, EventStore } from "./ports.ts";
import { parseOrThrow, tenantIdSchema } from "./validation.ts";

/** An event id as ingest accepts it (producers' own keys) or generates it (`evt_…`). */
const EVENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * `GET /tenants/{t}/events/{eventId}` (docs/openapi.yaml, docs/decisions.md): the event as endpoints receive it and its delivery
 * to every webhook it was fanned out to, with the attempts so far ("did event X reach everyone?").
 * A delivery not attempted yet has no record: it is answered `pending` with no attempt. Retries and
 * replays are new deliveries in each webhook's log (`replayOf` names the one they repeat).
 */
export async function lookupEvent(deps: { events: EventStore; deliveries: DeliveryLog }, req: ApiRequest): Promise<ApiResponse> {
  const tenantId = parseOrThrow(tenantIdSchema, req.pathParameters.tenantId, "tenantId");
  const eventId = req.pathParameters.eventId ?? "";
  const event = EVENT_ID.test(eventId) ? await deps.events.get(tenantId, eventId) : undefined;
  if (!event) throw notFound("event");
  const records = await deps.deliveries.getMany(event.deliveries.map((d) => ({ tenantId, webhookId: d.webhookId, id: d.deliveryId })));
  const byId = new Map(records.map((r) => [r.id, r]));
  const deliveries = event.deliveries.map((d) => {
    const record = byId.get(d.deliveryId);
    if (record) return presentDelivery(record);
    return {
      id: d.deliveryId,
      webhookId: d.webhookId,
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
  });
  return { statusCode: 200, body: { event: JSON.parse(event.payload), deliveries } };
}
