/**
 * Compile-time checks of the client's event typing (checked by `npx tsc --noEmit` and by
 * test/unit/client-types.test.ts): `data` is typed from the catalogue's zod schemas, the very ones
 * ingest validates with. Each `@ts-expect-error` must meet an error, or the compiler reports it.
 */
import type {
  CircuitState,
  EventData,
  EventTypeName,
  PublishEvent,
  QueueDepths,
  Webhook,
  WebhookHealth,
  WebhookPatch,
  WebhooksClient,
} from "../../client/index.ts";

declare const client: WebhooksClient;

export async function accepted(): Promise<void> {
  await client.publish({ type: "record.created", tenantId: "acct_1", data: { recordId: "rec_1", title: "Lease" } });
  await client.publish({ type: "file.ingested", tenantId: "acct_1", id: "evt_1", occurredAt: new Date(), data: { fileId: "fil_1", sizeBytes: 10 } });
  // Schemas are loose: a field the catalogue does not know is fine.
  await client.publish({ type: "sync.completed", tenantId: "acct_1", data: { syncId: "syn_1", startedAt: "2026-11-26T10:00:00Z" } });
  await client.publish({ type: "ai.insight.generated", tenantId: "acct_1", data: { insightId: "ins_1", severity: "high" } });
  await client.publishMany([
    { type: "record.updated", tenantId: "acct_1", data: { recordId: "rec_1", changes: ["owner"] } },
    { type: "record.created", tenantId: "acct_1", data: { recordId: "rec_2" } },
  ]);
  const names: EventTypeName[] = ["record.created", "record.updated", "file.ingested", "sync.completed", "ai.insight.generated"];
  const data: EventData<"file.ingested"> = { fileId: "fil_1" };
  void names;
  void data;
}

export async function refused(): Promise<void> {
  // @ts-expect-error: file.ingested requires fileId
  await client.publish({ type: "file.ingested", tenantId: "acct_1", data: { name: "invoice.pdf" } });
  // @ts-expect-error: sizeBytes is a number
  await client.publish({ type: "file.ingested", tenantId: "acct_1", data: { fileId: "fil_1", sizeBytes: "big" } });
  // @ts-expect-error: record.deleted is not in the catalogue
  await client.publish({ type: "record.deleted", tenantId: "acct_1", data: { recordId: "rec_1" } });
  // @ts-expect-error: severity is one of info, low, medium, high
  await client.publish({ type: "ai.insight.generated", tenantId: "acct_1", data: { insightId: "ins_1", severity: "urgent" } });
  // @ts-expect-error: the data of record.created, not of sync.completed
  await client.publish({ type: "sync.completed", tenantId: "acct_1", data: { recordId: "rec_1" } });
  // @ts-expect-error: tenantId is required
  await client.publishMany([{ type: "record.created", data: { recordId: "rec_1" } }]);
  // @ts-expect-error: changes is a list of field names
  const event: PublishEvent = { type: "record.updated", tenantId: "acct_1", data: { recordId: "rec_1", changes: "owner" } };
  void event;
}

/** Endpoint health (docs/delivery-semantics.md): paused, rateLimit and health are typed from what the API answers. */
export async function health(): Promise<void> {
  const w: Webhook = await client.getWebhook("acct_1", "wh_1");
  const state: CircuitState = w.health.state;
  const h: WebhookHealth = w.health;
  const counts: number[] = [h.consecutiveFailures, h.parked];
  const probe: string | undefined = h.nextProbeAt ?? h.openedAt;
  const limit: number | null = w.rateLimit;
  const paused: boolean = w.paused;
  await client.updateWebhook("acct_1", w.id, { paused: true, rateLimit: 5 });
  await client.updateWebhook("acct_1", w.id, { paused: false, rateLimit: null });
  await client.createWebhook("acct_1", { url: "https://h.example.com/", eventTypes: ["*"], paused: true, rateLimit: 1_000 });
  const depths: QueueDepths = await client.queues();
  const waiting: number = depths.delivery.visible + depths.delivery.inFlight + depths.delivery.delayed + depths.dlq.visible;
  void [state, counts, probe, limit, paused, waiting];

  // @ts-expect-error: a circuit is closed, open or half-open
  if (w.health.state === "broken") return;
  // @ts-expect-error: rateLimit is a number of deliveries per second
  await client.updateWebhook("acct_1", w.id, { rateLimit: "5/s" });
  // @ts-expect-error: paused is a boolean
  const patch: WebhookPatch = { paused: "yes" };
  // @ts-expect-error: on create, no limit is the absence of one
  await client.createWebhook("acct_1", { url: "https://h.example.com/", eventTypes: ["*"], rateLimit: null });
  void patch;
}
