/**
 * Compile-time checks of the client's event typing (checked by `npx tsc --noEmit` and by
 * test/unit/client-types.test.ts): `data` is typed from the catalogue's zod schemas, the very ones
 * ingest validates with. Each `@ts-expect-error` must meet an error, or the compiler reports it.
 */
import type { EventData, EventTypeName, PublishEvent, WebhooksClient } from "../../client/index.ts";

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
