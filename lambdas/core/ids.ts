import { hash } from "node:crypto";
import { monotonicFactory, encodeTime } from "ulid";

/**
 * Prefixed, time-sortable ids (docs/architecture.md#tables): `wh_…`, `dlv_…`, `evt_…`. The ULID body sorts by
 * creation time, so a DynamoDB sort key of these ids lists newest first with ScanIndexForward=false.
 */
const ulid = monotonicFactory();

export const newWebhookId = (now = Date.now()): string => `wh_${ulid(now)}`;
export const newEventId = (now = Date.now()): string => `evt_${ulid(now)}`;
export const newDeliveryId = (now = Date.now()): string => `dlv_${ulid(now)}`;

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The delivery id of (event × subscription): the same inputs always give the same id, so an ingest
 * retry that re-enqueues a fan-out refers to the very same deliveries instead of creating new ones.
 * Time part = when the event was first accepted; the rest is a hash of tenant, event and webhook.
 */
export function deterministicDeliveryId(acceptedAtMs: number, tenantId: string, eventId: string, webhookId: string): string {
  const digest = hash("sha256", `${tenantId}\u0000${eventId}\u0000${webhookId}`, "buffer");
  let tail = "";
  for (let i = 0; i < 16; i++) tail += CROCKFORD[digest[i] % 32];
  return `dlv_${encodeTime(acceptedAtMs, 10)}${tail}`;
}

/** The smallest and largest delivery id created in [fromMs, toMs]: a sort-key range for time windows. */
export function deliveryIdBounds(fromMs: number, toMs: number): { lowest: string; highest: string } {
  return { lowest: `dlv_${encodeTime(fromMs, 10)}${"0".repeat(16)}`, highest: `dlv_${encodeTime(toMs, 10)}${"Z".repeat(16)}` };
}

export const isWebhookId = (s: string): boolean => /^wh_[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
export const isDeliveryId = (s: string): boolean => /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
