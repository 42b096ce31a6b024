import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { isMain, MemoryDeduper, normaliseHeaders, requireEnv, type Deduper, type EventHandler, type WebhookEvent } from "../shared/webhooks.ts";

/**
 * A plain Node.js webhook receiver (node:http, no framework):
 *
 *   1. read the raw body: the signature covers the exact bytes, so never verify a re-serialised object;
 *   2. verify `webhook-signature` and `webhook-timestamp` with the `standardwebhooks` library → 401 if bad;
 *   3. dedupe on `webhook-id` (retries and replays of an event carry the same id) → 200, handled once;
 *   4. answer 200 at once and hand the event to `onEvent` afterwards, so a slow handler never makes
 *      the sender time out (10 s) and retry.
 *
 * Acknowledging before handling means a handler that fails is not retried by the sender: `onError`
 * hears about it. When losing an event is not acceptable, make `onEvent` put the event on your own
 * durable queue (SQS, a database outbox) and process it from there.
 *
 * Run it: `WEBHOOK_SECRET=whsec_… PORT=4000 npx tsx examples/node-receiver/server.ts`
 */

export interface ReceiverOptions {
  /** The endpoint's signing secret (`whsec_…`), as returned when the webhook was created. */
  readonly secret: string;
  /** Called once per verified, first-seen event, after the answer was sent. */
  readonly onEvent: EventHandler;
  /** Default: an in-memory set (one process only; see MemoryDeduper for production). */
  readonly dedupe?: Deduper;
  /** Called when `onEvent` throws. Default: logs to stderr. */
  readonly onError?: (err: unknown, event: WebhookEvent) => void;
  /** Bodies above this size are refused with 413. Default 1 MiB (events carry at most 256 KiB of data). */
  readonly maxBodyBytes?: number;
}

export function createReceiver(o: ReceiverOptions): Server {
  const webhook = new Webhook(o.secret);
  const dedupe = o.dedupe ?? new MemoryDeduper();
  const onError = o.onError ?? ((err, event) => console.error(`handling ${event.type} ${event.id} failed:`, err));
  const maxBodyBytes = o.maxBodyBytes ?? 1024 * 1024;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== "POST") return reply(res, 405, { error: "POST only" }, { allow: "POST" });
    const rawBody = await readBody(req, maxBodyBytes);
    if (rawBody === undefined) return reply(res, 413, { error: `body larger than ${maxBodyBytes} bytes` }, { connection: "close" });

    const headers = normaliseHeaders(req.headers);
    let event: WebhookEvent;
    try {
      // Checks the HMAC of "{webhook-id}.{webhook-timestamp}.{body}" in constant time against every
      // signature in the header (several during a secret rotation), and that the timestamp is within
      // 5 minutes of now (replayed captures are refused). Returns the parsed JSON.
      event = webhook.verify(rawBody, headers) as WebhookEvent;
    } catch (err) {
      if (err instanceof WebhookVerificationError) return reply(res, 401, { error: "invalid signature" });
      return reply(res, 400, { error: "body is not JSON" });
    }

    const webhookId = headers["webhook-id"];
    if (!(await dedupe.claim(webhookId))) return reply(res, 200, { received: true, duplicate: true });
    reply(res, 200, { received: true });

    try {
      await o.onEvent(event, { rawBody, headers });
    } catch (err) {
      await dedupe.release(webhookId); // a later replay of this event gets handled again
      onError(err, event);
    }
  };

  return createServer((req, res) => {
    handle(req, res).catch((err) => {
      // The body stream broke (client gone) or the dedupe store failed: a 500 makes the sender retry.
      console.error("webhook request failed:", err);
      reply(res, 500, { error: "internal error" });
    });
  });
}

/** The body as text, or undefined once it exceeds `limit` bytes (the rest is not buffered). */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return resolve(undefined);
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** The default handler of `main`: one line per event. */
export const logEvent: EventHandler = async (event) => {
  console.log(`${event.timestamp}  ${event.type}  ${event.id}  tenant=${event.tenantId}  data=${JSON.stringify(event.data)}`);
};

/**
 * Starts a receiver with `onEvent` on `PORT` (default 4000) with the secret in `WEBHOOK_SECRET`,
 * until Ctrl-C. The recipes' `main`s call this with their handler.
 */
export async function runReceiver(onEvent: EventHandler, what = "events are logged"): Promise<Server> {
  const secret = requireEnv("WEBHOOK_SECRET");
  const port = Number(process.env.PORT ?? 4000);
  const server = createReceiver({ secret, onEvent });
  await new Promise<void>((resolve) => server.listen(port, resolve));
  console.log(`webhook receiver on http://127.0.0.1:${(server.address() as AddressInfo).port}/ (${what}); Ctrl-C stops`);
  process.once("SIGINT", () => server.close(() => process.exit(0)));
  return server;
}

if (isMain(import.meta.url)) await runReceiver(logEvent);
