import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * What both example receivers share: the shape of an event, the handler signature the recipes
 * implement, and the `webhook-id` deduper. Plain TypeScript, no dependency on the service's own code:
 * copy it into your project as it is.
 */

/** The JSON body of every delivery (docs/receiving-webhooks.md). */
export interface WebhookEvent<D = Record<string, unknown>> {
  readonly id: string;
  readonly type: string;
  /** When the event happened (ISO 8601): use it to order events, deliveries may arrive out of order. */
  readonly timestamp: string;
  readonly tenantId: string;
  readonly data: D;
}

/** What a handler gets besides the parsed event: the request exactly as it arrived. */
export interface DeliveryContext {
  /** The body as received: the exact text that was signed. */
  readonly rawBody: string;
  /** Request headers, lower-case names, one value each (`webhook-id`, `webhook-timestamp`, `webhook-signature`, `content-type`, …). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A recipe: does something with one verified, first-seen event. Throwing marks it failed. */
export type EventHandler = (event: WebhookEvent, ctx: DeliveryContext) => Promise<void>;

/**
 * Remembers which `webhook-id`s were handled. Delivery is at-least-once: the same event can arrive
 * again (a retry after a lost 2xx, an operator's replay), always with the same `webhook-id`.
 */
export interface Deduper {
  /** True the first time an id is claimed, false afterwards. Must be atomic. */
  claim(id: string): boolean | Promise<boolean>;
  /** Forgets an id whose handling failed, so a retry of it is handled. */
  release(id: string): void | Promise<void>;
}

/**
 * In-memory deduper: enough for one process, lost on restart and not shared between instances.
 * Production uses a shared store with a TTL longer than the sender's retry window (about 2.2 days,
 * docs/delivery-semantics.md; a week is safe), e.g. a DynamoDB conditional put:
 *
 *   PutItem { Item: { pk: webhookId, expiresAt: now + 7 days }, ConditionExpression: "attribute_not_exists(pk)" }
 *
 * where a ConditionalCheckFailedException means "already seen".
 */
export class MemoryDeduper implements Deduper {
  private readonly seen = new Set<string>();

  /** Keeps at most `capacity` ids, forgetting the oldest first (a Set iterates in insertion order). */
  constructor(private readonly capacity = 100_000) {}

  claim(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value!);
    return true;
  }

  release(id: string): void {
    this.seen.delete(id);
  }
}

/** Header map with lower-case names and one string per header (repeated headers joined by ", "). */
export function normaliseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Reads a required environment variable or exits with a message saying which one is missing. */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(1);
  }
  return value;
}

/** True when the module at `moduleUrl` is the script node was started with (`npx tsx <file>`). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(moduleUrl);
}

/** Throws with the status and the start of the body when a call to a third-party API failed. */
export async function ensureOk(res: Response, what: string): Promise<void> {
  if (res.ok) return;
  const text = await res.text().catch(() => "");
  throw new Error(`${what} answered ${res.status}: ${text.slice(0, 500)}`);
}
