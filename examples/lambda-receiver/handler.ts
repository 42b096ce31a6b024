import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { MemoryDeduper, normaliseHeaders, type Deduper, type EventHandler, type WebhookEvent } from "../shared/webhooks.ts";

/**
 * A webhook receiver as an AWS Lambda function URL (or an API Gateway HTTP API route: the same
 * payload format 2.0, `APIGatewayProxyEventV2`). Same steps as the Node receiver: raw body, verify
 * with `standardwebhooks`, dedupe on `webhook-id`, handle.
 *
 * Two Lambda specifics:
 * - The body may arrive base64-encoded (`isBase64Encoded`): decode it before verifying, the
 *   signature covers the original bytes.
 * - Nothing may run after the handler returns (the execution environment is frozen), so the event is
 *   handled before answering. Keep `onEvent` well under the sender's 10 s timeout; for slow work,
 *   have it send the event to your own SQS queue and answer. A handler that throws gets a 500, so the
 *   sender retries it later, and its `webhook-id` is released so that retry is handled.
 *
 * Deploy: bundle this file (esbuild, or `NodejsFunction` in CDK), set WEBHOOK_SECRET (better: read it
 * from Secrets Manager at cold start) and create a function URL with auth type NONE: the signature is
 * the authentication.
 */

export type FunctionUrlHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface LambdaReceiverOptions {
  readonly secret: string;
  readonly onEvent: EventHandler;
  /**
   * Default: in memory. It lives in the module scope, so it only remembers the ids seen by this one
   * warm container: concurrent containers and cold starts do not share it. For real deduplication use
   * DynamoDB (a conditional put on the `webhook-id` with a TTL, see MemoryDeduper).
   */
  readonly dedupe?: Deduper;
}

export function createHandler(o: LambdaReceiverOptions): FunctionUrlHandler {
  const webhook = new Webhook(o.secret);
  const dedupe = o.dedupe ?? new MemoryDeduper();

  return async (request) => {
    if (request.requestContext.http.method !== "POST") return json(405, { error: "POST only" });
    const body = request.body ?? "";
    const rawBody = request.isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
    const headers = normaliseHeaders(request.headers ?? {});

    let event: WebhookEvent;
    try {
      event = webhook.verify(rawBody, headers) as WebhookEvent;
    } catch (err) {
      if (err instanceof WebhookVerificationError) return json(401, { error: "invalid signature" });
      return json(400, { error: "body is not JSON" });
    }

    const webhookId = headers["webhook-id"];
    if (!(await dedupe.claim(webhookId))) return json(200, { received: true, duplicate: true });
    try {
      await o.onEvent(event, { rawBody, headers });
    } catch (err) {
      await dedupe.release(webhookId);
      console.error(JSON.stringify({ message: "handler failed", webhookId, type: event.type, error: String(err) }));
      return json(500, { error: "handler failed" });
    }
    return json(200, { received: true });
  };
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/** The default `onEvent`: one structured log line per event (CloudWatch Logs). */
const logEvent: EventHandler = async (event) => {
  console.log(JSON.stringify({ message: "webhook event", id: event.id, type: event.type, tenantId: event.tenantId, timestamp: event.timestamp }));
};

let configured: FunctionUrlHandler | undefined;

/** The function's entry point (`handler.handler`): configured from the environment on first use. */
export const handler: FunctionUrlHandler = (request) => {
  if (!configured) {
    const secret = process.env.WEBHOOK_SECRET;
    if (!secret) throw new Error("WEBHOOK_SECRET is not set");
    configured = createHandler({ secret, onEvent: logEvent });
  }
  return configured(request);
};
