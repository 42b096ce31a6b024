import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { startGuard, type EmulatorCredentials, type GuardedService } from "./emulator-guard.ts";

/**
 * The local stack's KMS: a stand-in for the two KMS operations the service uses, so that the KMS
 * adapter (lambdas/adapters/kms.ts) runs unchanged through the real @aws-sdk/client-kms:
 * `TrentService.GenerateDataKey` and `TrentService.Decrypt` over the JSON 1.1 protocol.
 *
 * - One symmetric key (LOCAL_KMS_KEY_ARN) whose 256-bit master key lives in memory, or, with a
 *   state dir, in `<stateDir>/kms-master.key` (mode 0600) so that a restart still opens the secrets
 *   it sealed.
 * - A data key is returned encrypted under the master key with AES-256-GCM whose additional data is
 *   the key ARN and the encryption context: Decrypt with any other context fails
 *   (`InvalidCiphertextException`), as on AWS.
 * - It does not listen: the local stack's one guard on 127.0.0.1 (local/emulator-guard.ts, shared
 *   with SQS and DynamoDB) hands it only requests SigV4-signed (service `kms`) with this run's own
 *   credentials, and none from a browser (an `Origin` header); no CORS header is ever sent.
 *   `startLocalKms` puts it behind a guard of its own, for tests that want it alone.
 */
export const LOCAL_KMS_KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-00000000c0de";
export const KMS_MASTER_KEY_FILE = "kms-master.key";

export interface LocalKmsOptions {
  /** The only credentials whose signatures are accepted. */
  credentials: EmulatorCredentials;
  /** Keep the master key in this directory (0600 file); in memory when absent. */
  stateDir?: string;
}

export interface LocalKms {
  endpoint: string;
  keyArn: string;
  stop(): Promise<void>;
}

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const BLOB_VERSION = 1;
const MAX_BODY_BYTES = 64 * 1_024;

function masterKey(stateDir: string | undefined): Buffer {
  if (!stateDir) return randomBytes(32);
  const file = join(stateDir, KMS_MASTER_KEY_FILE);
  try {
    const key = Buffer.from(readFileSync(file, "utf8").trim(), "base64");
    if (key.length !== 32) throw new Error(`${file} does not hold a 256-bit key`);
    chmodSync(file, 0o600);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const key = randomBytes(32);
    writeFileSync(file, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    return key;
  }
}

/** The encryption context as bytes: sorted keys, so the same context is always the same AAD. */
function contextAad(keyArn: string, context: unknown): Buffer {
  if (context !== undefined && (typeof context !== "object" || context === null || Array.isArray(context))) {
    throw new KmsError("ValidationException", "EncryptionContext must be a map of strings");
  }
  const entries = Object.entries((context ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, v] of entries) if (typeof v !== "string") throw new KmsError("ValidationException", "EncryptionContext values must be strings");
  return Buffer.from(JSON.stringify([keyArn, entries]), "utf8");
}

/** The KMS stand-in as a request handler for the guard; the master key is read or made now. */
export function localKms(o: { stateDir?: string } = {}): { keyArn: string; service: GuardedService } {
  const key = masterKey(o.stateDir);
  const keyArn = LOCAL_KMS_KEY_ARN;
  const keyIdOnly = keyArn.slice(keyArn.indexOf("/") + 1);

  const checkKeyId = (keyId: unknown, required: boolean) => {
    if (keyId === undefined && !required) return;
    if (keyId !== keyArn && keyId !== keyIdOnly) throw new KmsError("NotFoundException", `Key '${String(keyId)}' does not exist`);
  };

  const operations: Record<string, (input: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey(input) {
      checkKeyId(input.KeyId, true);
      const bytes =
        input.KeySpec === "AES_128"
          ? 16
          : input.KeySpec === "AES_256" || input.KeySpec === undefined
            ? ((input.NumberOfBytes as number | undefined) ?? 32)
            : NaN;
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1_024) throw new KmsError("ValidationException", "KeySpec or NumberOfBytes is invalid");
      const dataKey = randomBytes(bytes);
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(contextAad(keyArn, input.EncryptionContext));
      const ct = Buffer.concat([cipher.update(dataKey), cipher.final()]);
      const blob = Buffer.concat([Buffer.from([BLOB_VERSION]), iv, cipher.getAuthTag(), ct]);
      return { CiphertextBlob: blob.toString("base64"), Plaintext: dataKey.toString("base64"), KeyId: keyArn };
    },
    Decrypt(input) {
      checkKeyId(input.KeyId, false);
      if (typeof input.CiphertextBlob !== "string") throw new KmsError("ValidationException", "CiphertextBlob is required");
      const blob = Buffer.from(input.CiphertextBlob, "base64");
      if (blob.length < 1 + 12 + 16 + 1 || blob[0] !== BLOB_VERSION) throw new KmsError("InvalidCiphertextException", "");
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, blob.subarray(1, 13))
          .setAAD(contextAad(keyArn, input.EncryptionContext))
          .setAuthTag(blob.subarray(13, 29));
        const plaintext = Buffer.concat([decipher.update(blob.subarray(29)), decipher.final()]);
        return { Plaintext: plaintext.toString("base64"), KeyId: keyArn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT" };
      } catch (err) {
        if (err instanceof KmsError) throw err;
        // As KMS: a wrong encryption context is indistinguishable from a damaged ciphertext.
        throw new KmsError("InvalidCiphertextException", "");
      }
    },
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(body));
  };

  /** A request the guard has accepted (signed by the stack, for service kms, no Origin). */
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("end", () => {
      try {
        if (size > MAX_BODY_BYTES) throw new KmsError("ValidationException", "request too large", 413);
        const body = Buffer.concat(chunks).toString("utf8");
        const target = String(req.headers["x-amz-target"] ?? "");
        const name = target.startsWith("TrentService.") ? target.slice("TrentService.".length) : "";
        if (!Object.hasOwn(operations, name)) {
          throw new KmsError("UnsupportedOperationException", `${target || "(no X-Amz-Target)"} is not supported by the local KMS`);
        }
        let input: unknown;
        try {
          input = JSON.parse(body || "{}");
        } catch {
          throw new KmsError("SerializationException", "body is not JSON");
        }
        if (typeof input !== "object" || input === null) throw new KmsError("SerializationException", "body is not a JSON object");
        send(res, 200, operations[name](input as Record<string, unknown>));
      } catch (err) {
        const e = err instanceof KmsError ? err : new KmsError("KMSInternalException", "internal error", 500);
        send(res, e.status, { __type: e.type, message: e.message });
      }
    });
  };
  return { keyArn, service: { signingName: "kms", targetPrefixes: ["TrentService"], handler } };
}

/** The KMS stand-in alone, behind a guard of its own on 127.0.0.1. */
export async function startLocalKms(o: LocalKmsOptions): Promise<LocalKms> {
  const kms = localKms({ stateDir: o.stateDir });
  const guard = await startGuard({ credentials: o.credentials, services: [kms.service] });
  return { endpoint: guard.url, keyArn: kms.keyArn, stop: () => guard.close() };
}
