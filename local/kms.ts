import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";

/**
 * The local stack's KMS: a stand-in for the two KMS operations the service uses, so that the KMS
 * adapter (lambdas/core/adapters/kms.ts) runs unchanged through the real @aws-sdk/client-kms:
 * `TrentService.GenerateDataKey` and `TrentService.Decrypt` over the JSON 1.1 protocol.
 *
 * - One symmetric key (LOCAL_KMS_KEY_ARN) whose 256-bit master key lives in memory, or, with a
 *   state dir, in `<stateDir>/kms-master.key` (mode 0600) so that a restart still opens the secrets
 *   it sealed.
 * - A data key is returned encrypted under the master key with AES-256-GCM whose additional data is
 *   the key ARN and the encryption context: Decrypt with any other context fails
 *   (`InvalidCiphertextException`), as on AWS.
 * - Listens on 127.0.0.1 only; every request must carry a valid SigV4 signature (service `kms`)
 *   made with the stack's own credentials, and a request with an `Origin` header (a browser) is
 *   refused. No CORS headers are ever sent.
 */
export const LOCAL_KMS_KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-4000-8000-00000000c0de";
export const KMS_MASTER_KEY_FILE = "kms-master.key";

export interface LocalKmsOptions {
  /** The only credentials whose signatures are accepted. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Keep the master key in this directory (0600 file); in memory when absent. */
  stateDir?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface LocalKms {
  endpoint: string;
  keyArn: string;
  stop(): Promise<void>;
}

class KmsError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

const BLOB_VERSION = 1;
const MAX_BODY_BYTES = 64 * 1_024;
/** SigV4 signatures are valid for 15 minutes either side of the request's date, as on AWS. */
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1_000;

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

export async function startLocalKms(o: LocalKmsOptions): Promise<LocalKms> {
  const key = masterKey(o.stateDir);
  const keyArn = LOCAL_KMS_KEY_ARN;
  const keyIdOnly = keyArn.slice(keyArn.indexOf("/") + 1);
  const signer = new SignatureV4({ service: "kms", region: o.region, credentials: o.credentials, sha256: Hash.bind(null, "sha256") });

  const checkKeyId = (keyId: unknown, required: boolean) => {
    if (keyId === undefined && !required) return;
    if (keyId !== keyArn && keyId !== keyIdOnly) throw new KmsError("NotFoundException", `Key '${String(keyId)}' does not exist`);
  };

  const operations: Record<string, (input: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey(input) {
      checkKeyId(input.KeyId, true);
      const bytes = input.KeySpec === "AES_128" ? 16 : input.KeySpec === "AES_256" || input.KeySpec === undefined ? (input.NumberOfBytes as number | undefined) ?? 32 : NaN;
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

  /** Recomputes the request's SigV4 signature with the stack's credentials and compares it. */
  async function authenticate(req: IncomingMessage, body: string): Promise<void> {
    const auth = req.headers.authorization ?? "";
    const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/kms\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) throw new KmsError("MissingAuthenticationTokenException", "Missing or malformed SigV4 authorization", 400);
    const [, accessKeyId, , region, signedHeaders, signature] = m;
    if (accessKeyId !== o.credentials.accessKeyId || region !== o.region) throw new KmsError("UnrecognizedClientException", "The security token included in the request is invalid.");
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    if (!dm) throw new KmsError("IncompleteSignatureException", "X-Amz-Date is missing or malformed");
    const signingDate = new Date(Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
    if (Math.abs(Date.now() - signingDate.getTime()) > MAX_CLOCK_SKEW_MS) throw new KmsError("InvalidSignatureException", "Signature expired");
    const names = signedHeaders.split(";");
    if (!names.includes("host") || !names.includes("x-amz-date")) throw new KmsError("IncompleteSignatureException", "host and x-amz-date must be signed");
    const headers: Record<string, string> = {};
    for (const name of names) {
      const value = req.headers[name];
      if (value === undefined) throw new KmsError("IncompleteSignatureException", `signed header ${name} is missing`);
      headers[name] = Array.isArray(value) ? value.join(",") : value;
    }
    const [hostname, port] = (headers.host ?? "").split(":");
    const expected = await signer.sign(
      { method: req.method ?? "POST", protocol: "http:", hostname, port: port ? Number(port) : undefined, path: "/", query: {}, headers, body },
      { signingDate },
    );
    const want = /Signature=([0-9a-f]{64})/.exec(String(expected.headers.authorization))?.[1] ?? "";
    if (want.length !== signature.length || !timingSafeEqual(Buffer.from(want), Buffer.from(signature))) {
      throw new KmsError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided.");
    }
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
    res.end(JSON.stringify(body));
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on("end", () => {
      void (async () => {
        try {
          if (req.headers.origin !== undefined) throw new KmsError("AccessDeniedException", "browser requests are refused", 403);
          if (req.method !== "POST" || req.url !== "/") throw new KmsError("UnknownOperationException", "", 404);
          if (size > MAX_BODY_BYTES) throw new KmsError("ValidationException", "request too large", 413);
          const body = Buffer.concat(chunks).toString("utf8");
          await authenticate(req, body);
          const target = String(req.headers["x-amz-target"] ?? "");
          const operation = target.startsWith("TrentService.") ? operations[target.slice("TrentService.".length)] : undefined;
          if (!operation || !Object.hasOwn(operations, target.slice("TrentService.".length))) {
            throw new KmsError("UnsupportedOperationException", `${target || "(no X-Amz-Target)"} is not supported by the local KMS`);
          }
          let input: unknown;
          try {
            input = JSON.parse(body || "{}");
          } catch {
            throw new KmsError("SerializationException", "body is not JSON");
          }
          if (typeof input !== "object" || input === null) throw new KmsError("SerializationException", "body is not a JSON object");
          send(res, 200, operation(input as Record<string, unknown>));
        } catch (err) {
          const e = err instanceof KmsError ? err : new KmsError("KMSInternalException", "internal error", 500);
          send(res, e.status, { __type: e.type, message: e.message });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(o.port ?? 0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    keyArn,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
