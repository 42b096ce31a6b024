/**
 * The core app's side: publishing RecordsKeeper.AI events with the client (`recordskeeper-webhooks/client`).
 *
 *   npx tsx examples/core-app-publisher/publisher.ts [tenantId]
 *
 * runs against `npm start` (URL and token from .local/local-stack.json, or $WEBHOOKS_STATE_DIR):
 * one event, a batch, and an outbox that survives a timeout. Against a deployed stack, build the
 * client with `await WebhooksClient.fromStack({ stack: "RecordsKeeperWebhooks" })` (SigV4, the
 * default AWS credential chain) or `new WebhooksClient({ apiUrl })` instead.
 */
import { fileURLToPath } from "node:url";
import { WebhooksClient, WebhooksError, type PublishEvent, type PublishResult } from "recordskeeper-webhooks/client";

/**
 * One event. The client gives it an id before the first try, so its retries (network errors, 5xx,
 * 429, within a 30 s deadline) deliver it once. `data` is type-checked against the catalogue.
 */
export async function publishOne(client: WebhooksClient, tenantId: string): Promise<string> {
  const { id, deliveries } = await client.publish({
    type: "file.ingested",
    tenantId,
    data: { fileId: "fil_301", name: "invoice-2026-11.pdf", sizeBytes: 482_113, url: "https://app.recordskeeper.ai/files/fil_301" },
  });
  console.log(`published file.ingested ${id} → ${deliveries} ${deliveries === 1 ? "delivery" : "deliveries"}`);
  return id;
}

/**
 * A batch: any number of events, sent in calls of at most 100 and at most 1 MiB. One result per
 * event, in order; a refused event says which field and why, and fails only the events of its call.
 */
export async function publishBatch(client: WebhooksClient, tenantId: string, recordIds: readonly string[]): Promise<PublishResult[]> {
  const results = await client.publishMany(
    recordIds.map((recordId) => ({ type: "record.created", tenantId, data: { recordId, title: `Record ${recordId}` } })),
  );
  const failed = results.filter((r) => !r.ok);
  console.log(`published ${results.length - failed.length} of ${results.length} record.created events`);
  for (const r of failed) if (!r.ok) console.log(`  not published ${r.id}: ${r.error.code}: ${r.error.message}`);
  return results;
}

/**
 * After a timeout: the answer did not come, so the app cannot know whether the event was accepted.
 * Keep the event, with its id, in an outbox (in production a table written in the same transaction
 * as the change that caused the event) and send it again later: the service answers a repeated id
 * like the first time and delivers the event once.
 */
export class Outbox {
  private readonly rows = new Map<string, PublishEvent & { id: string }>();
  private next = 0;

  /** Stores the event with an id of its own (here a counter; any stable unique key will do). */
  add(event: PublishEvent): string {
    const id = event.id ?? `evt_outbox_${process.pid}_${Date.now()}_${++this.next}`;
    this.rows.set(id, { ...event, id });
    return id;
  }

  get pending(): string[] {
    return [...this.rows.keys()];
  }

  /** Publishes every pending event; one that failed with a retryable error stays for the next flush. */
  async flush(client: WebhooksClient): Promise<{ published: string[]; kept: string[]; dropped: string[] }> {
    const out = { published: [] as string[], kept: [] as string[], dropped: [] as string[] };
    for (const [id, event] of this.rows) {
      try {
        await client.publish(event);
        this.rows.delete(id);
        out.published.push(id);
      } catch (err) {
        if (!(err instanceof WebhooksError)) throw err;
        if (err.retryable) {
          out.kept.push(id); // network, timeout, 429, 5xx: the same id goes again next time
          console.log(`kept ${id} for the next flush: ${err.code}: ${err.message}`);
        } else {
          this.rows.delete(id); // the event itself is wrong: fix the producer, do not retry
          out.dropped.push(id);
          console.log(`dropped ${id}: ${err.message}`);
        }
      }
    }
    return out;
  }
}

async function main(): Promise<void> {
  const tenantId = process.argv[2] ?? "acct_demo";
  const client = WebhooksClient.fromLocalStack();

  await publishOne(client, tenantId);
  await publishBatch(client, tenantId, ["rec_1", "rec_2", "rec_3"]);

  const outbox = new Outbox();
  outbox.add({ type: "record.updated", tenantId, data: { recordId: "rec_1", changes: ["owner"] } });
  // An impatient client: each try is abandoned after 1 ms, and not retried. The event may or may not have been accepted.
  const impatient = WebhooksClient.fromLocalStack({ timeoutMs: 1, retry: { maxAttempts: 1 } });
  await outbox.flush(impatient);
  // Later, the same id again: accepted once, whatever happened the first time.
  const { published } = await outbox.flush(client);
  console.log(`outbox: published ${published.join(", ")}; ${outbox.pending.length} pending`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof WebhooksError ? `error: ${err.message}${err.status ? ` (HTTP ${err.status} ${err.code})` : ""}` : err);
    process.exit(1);
  });
}
