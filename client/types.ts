import type { z } from "zod";
import type { EVENT_TYPES } from "#core/catalogue.ts";
import type { presentDelivery, summariseDelivery } from "../lambdas/manage/presenters.ts";
import type { CircuitState, DeliveryStatus, publicSubscription } from "#core/model.ts";
import type { QueueDepths } from "#core/ports.ts";

/**
 * The client's types, derived from the definitions the server runs on: event data from the
 * catalogue's zod schemas (lambdas/core/catalogue.ts, the very ones ingest validates with), answers
 * from the functions that present them. Nothing here is written twice.
 */
type Catalogue = (typeof EVENT_TYPES)[number];

/** `record.created`, `file.ingested`, …: every type of the catalogue. */
export type EventTypeName = Catalogue["name"];

/** The `data` a type takes: its schema's input (required fields, known optional ones, and any extra field). */
export type EventData<T extends EventTypeName> = z.input<Extract<Catalogue, { name: T }>["data"]>;

/** One event as the core app publishes it; `data` is checked against `type` at compile time. */
export type PublishEvent = {
  [T in EventTypeName]: {
    type: T;
    tenantId: string;
    /** The idempotency key (24 hours, per tenant). The client generates one (`evt_…`) when absent, before the first try. */
    id?: string;
    /** When it happened; default: when it was accepted. */
    occurredAt?: string | Date;
    data: EventData<T>;
  };
}[EventTypeName];

/** An accepted event: its id (given or generated) and how many deliveries it started. */
export interface Accepted {
  id: string;
  deliveries: number;
}

/** One event's outcome in `publishMany`, in the order given. */
export type PublishResult = ({ ok: true } & Accepted) | { ok: false; id: string; error: import("./errors.ts").WebhooksError };

export type Webhook = ReturnType<typeof publicSubscription>;
/** `health` of a webhook (docs/delivery-semantics.md): its circuit, failed attempts since the last success, deliveries parked. */
export type WebhookHealth = Webhook["health"];
export type { CircuitState };
export type WebhookWithSecret = Webhook & { secret: string };
export type WebhookWithRotatedSecret = WebhookWithSecret & { previousSecretsExpireAt: string | null };
export type DeliverySummary = ReturnType<typeof summariseDelivery>;
export type Delivery = ReturnType<typeof presentDelivery>;
export type { DeliveryStatus };

export interface WebhookCreate {
  url: string;
  /** Catalogue types, family wildcards (`record.*`) or `*`. */
  eventTypes: string[];
  description?: string;
  enabled?: boolean;
  /** Create it paused: its deliveries are kept (parked), not sent, until it is resumed. Default false. */
  paused?: boolean;
  /** Deliveries per second at most, 1–1,000; default none. */
  rateLimit?: number;
}

export interface WebhookPatch {
  url?: string;
  eventTypes?: string[];
  description?: string | null;
  enabled?: boolean;
  /** `true` parks its deliveries; `false` releases them at the release rate. */
  paused?: boolean;
  /** A new limit (1–1,000 deliveries per second), or `null` to remove it. */
  rateLimit?: number | null;
}

export interface Page<T> {
  items: T[];
  cursor: string | null;
}

export interface EventTypeDescription {
  name: string;
  description: string;
  /** JSON Schema of `data`. */
  schema: Record<string, unknown>;
  example: Record<string, unknown>;
}

export interface TestSent {
  eventId: string;
  deliveryId: string;
  type: string;
}

export interface Replayed {
  deliveryId: string;
  replayOf: string;
}

export interface ReplayRange {
  /** ISO 8601 (or a Date): deliveries created since then. */
  since: string | Date;
  until?: string | Date;
  /** Default `failed`. */
  status?: DeliveryStatus;
  /** The `cursor` of an earlier answer over the same range: carries on where it stopped. */
  cursor?: string;
}

export interface ReplayResult {
  replayed: number;
  matched: number;
  truncated: boolean;
  status: string;
  /** Set when more matched than one call replays: pass it back as `cursor` to carry on. */
  cursor: string | null;
}

/** `GET /tenants/{t}/events/{eventId}`: the event as delivered, and its deliveries to each webhook. */
export interface EventLookup {
  event: { id: string; type: string; timestamp: string; tenantId: string; data: unknown };
  deliveries: Delivery[];
}

export interface PortalSession {
  /** The portal page with `#token=…`: the token never reaches a server log. */
  url: string;
  token: string;
  expiresAt: string;
  tenantId: string;
  readOnly: boolean;
}

export interface DlqDepth {
  visible: number;
  inFlight: number;
}

/** `GET /admin/queues`: SQS's approximate counts of the delivery queue and the DLQ. */
export type { QueueDepths };

/** The local stack moves the messages within the call (`moved`); AWS starts a message move task (`taskId`). */
export interface RedriveResult {
  moved?: number;
  taskId?: string;
}
