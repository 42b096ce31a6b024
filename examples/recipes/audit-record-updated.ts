import { runReceiver } from "../node-receiver/server.ts";
import { ensureOk, isMain, requireEnv, type EventHandler } from "../shared/webhooks.ts";

/**
 * Recipe: a sensitive `record.updated` (`data.sensitive === true`) → forward the signed delivery,
 * untouched, to an audit service.
 *
 * The ORIGINAL raw body and the original `webhook-id`, `webhook-timestamp` and `webhook-signature`
 * headers are forwarded byte for byte, so the audit service can verify the signature itself and
 * hold proof that RecordsKeeper.AI sent exactly this: nothing is re-serialised or re-signed here.
 *
 * Verifying needs the endpoint's secret, so the audit service holds it too (and could therefore also
 * sign): keep it in a secrets store both read. Standard Webhooks libraries refuse timestamps older
 * than 5 minutes, so the audit service verifies on receipt and stores body + headers; a later
 * re-check recomputes the HMAC without the freshness test.
 *
 * Run it: `WEBHOOK_SECRET=whsec_… AUDIT_URL=https://audit.internal/ingest [AUDIT_TOKEN=…] npx tsx examples/recipes/audit-record-updated.ts`
 */

export interface AuditOptions {
  readonly url: string;
  /** Sent as `authorization: Bearer …` when the audit service wants its own credentials. */
  readonly bearerToken?: string;
}

const FORWARDED = ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"] as const;

export function auditRecordUpdated(o: AuditOptions): EventHandler {
  return async (event, ctx) => {
    if (event.type !== "record.updated" || event.data.sensitive !== true) return;
    const headers: Record<string, string> = {};
    for (const name of FORWARDED) if (ctx.headers[name] !== undefined) headers[name] = ctx.headers[name];
    if (o.bearerToken) headers.authorization = `Bearer ${o.bearerToken}`;
    const res = await fetch(o.url, { method: "POST", headers, body: ctx.rawBody });
    await ensureOk(res, "audit service");
  };
}

if (isMain(import.meta.url)) {
  await runReceiver(auditRecordUpdated({ url: requireEnv("AUDIT_URL"), bearerToken: process.env.AUDIT_TOKEN }), "sensitive record.updated → audit service");
}
