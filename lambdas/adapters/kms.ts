import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { Clock, SecretContext, SecretSealer } from "#core/ports.ts";
import { SECRETS } from "#core/settings.ts";

/**
 * Envelope encryption of signing secrets with a KMS key: each `seal` asks KMS for a fresh AES-256
 * data key (GenerateDataKey), encrypts the secret locally with AES-256-GCM, and keeps only the
 * KMS-encrypted data key next to the ciphertext. `open` has KMS decrypt the data key (Decrypt),
 * then decrypts locally.
 *
 * Both KMS calls carry the encryption context {purpose, tenantId, webhookId}: KMS refuses to
 * decrypt a data key under any other context, and the stack's IAM conditions allow these calls
 * only with `purpose` = SECRETS.purpose. The same context is the GCM additional data, so a sealed
 * value copied onto another webhook does not open there even with a cached data key.
 *
 * Stored form: `kms1.<encrypted data key>.<iv>.<ciphertext>.<tag>`, each part base64url.
 */
const FORMAT = "kms1";

export interface KmsSealerOptions {
  /**
   * How long a decrypted data key may be reused, in ms; the deliver λ keeps it no longer than it
   * keeps the subscription (`DELIVERY.subscriptionCacheMs`, docs/architecture.md: about a second). 0 keeps none.
   */
  dataKeyCacheMs: number;
  clock?: Clock;
}

type Context = Record<string, string>;

function encryptionContext(c: SecretContext): Context {
  return { purpose: SECRETS.purpose, tenantId: c.tenantId, webhookId: c.webhookId };
}

/** The context as GCM additional data: a fixed key order, so the same context is the same bytes. */
function aad(context: Context): Buffer {
  return Buffer.from(JSON.stringify([context.purpose, context.tenantId, context.webhookId]), "utf8");
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export class SealedSecretError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SealedSecretError";
  }
}

export class KmsSecretSealer implements SecretSealer {
  private readonly dataKeys = new Map<string, { key: Buffer; at: number }>();
  private readonly now: () => number;

  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    private readonly options: KmsSealerOptions,
  ) {
    this.now = () => (options.clock ?? { now: Date.now }).now();
  }

  async seal(plaintext: string, context: SecretContext): Promise<string> {
    const ctx = encryptionContext(context);
    const res = await this.kms.send(new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: "AES_256", EncryptionContext: ctx }));
    if (!res.Plaintext || !res.CiphertextBlob) throw new SealedSecretError("KMS GenerateDataKey returned no data key");
    const key = Buffer.from(res.Plaintext);
    try {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(aad(ctx));
      const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [FORMAT, b64(res.CiphertextBlob), b64(iv), b64(ciphertext), b64(cipher.getAuthTag())].join(".");
    } finally {
      key.fill(0);
      res.Plaintext.fill(0);
    }
  }

  async open(sealed: string, context: SecretContext): Promise<string> {
    const parts = sealed.split(".");
    if (parts.length !== 5 || parts[0] !== FORMAT) throw new SealedSecretError("not a sealed secret");
    const [encryptedKey, iv, ciphertext, tag] = parts.slice(1).map((p) => Buffer.from(p, "base64url"));
    const ctx = encryptionContext(context);
    const key = await this.dataKey(parts[1], encryptedKey, ctx);
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv).setAAD(aad(ctx)).setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
    } catch (err) {
      throw new SealedSecretError(`the secret does not open for ${context.tenantId}/${context.webhookId}`, { cause: err });
    } finally {
      if (this.options.dataKeyCacheMs <= 0) key.fill(0);
    }
  }

  /** The data key, from the cache (keyed by blob and context) while it is fresh, else from KMS. */
  private async dataKey(blobText: string, blob: Buffer, ctx: Context): Promise<Buffer> {
    const cacheKey = `${blobText}\u0000${aad(ctx).toString("utf8")}`;
    const now = this.now();
    const cached = this.dataKeys.get(cacheKey);
    if (cached && now - cached.at < this.options.dataKeyCacheMs) return cached.key;
    if (cached) {
      cached.key.fill(0);
      this.dataKeys.delete(cacheKey);
    }
    let res;
    try {
      res = await this.kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: ctx, KeyId: this.keyId }));
    } catch (err) {
      throw new SealedSecretError(`KMS refused the secret's data key for ${ctx.tenantId}/${ctx.webhookId}: ${(err as Error).name}`, { cause: err });
    }
    if (!res.Plaintext) throw new SealedSecretError("KMS Decrypt returned no plaintext");
    const key = Buffer.from(res.Plaintext);
    res.Plaintext.fill(0);
    if (this.options.dataKeyCacheMs > 0) {
      this.evictStale(now);
      this.dataKeys.set(cacheKey, { key, at: now });
    }
    return key;
  }

  private evictStale(now: number): void {
    for (const [k, v] of this.dataKeys) {
      if (now - v.at >= this.options.dataKeyCacheMs || this.dataKeys.size >= 10_000) {
        v.key.fill(0);
        this.dataKeys.delete(k);
      }
    }
  }
}
