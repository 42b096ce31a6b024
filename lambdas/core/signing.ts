import { createHmac, createSecretKey, randomBytes, type KeyObject } from "node:crypto";

/**
 * Standard Webhooks signing (docs/security.md): `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
 * one signature per active secret, space-separated. Secrets are `whsec_` + base64 of 32 random bytes;
 * the HMAC key is the decoded bytes.
 */
export const SECRET_PREFIX = "whsec_";

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

/** HMAC keys by secret: createHmac with a KeyObject is ~5× cheaper than with the raw bytes (Node 24). */
const keys = new Map<string, KeyObject>();

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
    key = createSecretKey(Buffer.from(encoded, "base64"));
    if (keys.size >= 1_000) keys.delete(keys.keys().next().value!);
    keys.set(secret, key);
  }
  return key;
}

export function signature(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const mac = createHmac("sha256", keyOf(secret)).update(`${webhookId}.${timestampSeconds}.${body}`).digest("base64");
  return `v1,${mac}`;
}

/** The `webhook-signature` header value for every active secret. */
export function signatureHeader(secrets: readonly string[], webhookId: string, timestampSeconds: number, body: string): string {
  return secrets.map((s) => signature(s, webhookId, timestampSeconds, body)).join(" ");
}
