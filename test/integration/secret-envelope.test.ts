/**
 * Signing secrets are envelope-encrypted (issue 12, item 7): what DynamoDB holds is a KMS-sealed
 * envelope bound to its tenant and webhook, never the secret; deliveries still verify with
 * `standardwebhooks`; a sealed secret does not open under another tenant or webhook; secrets
 * stored in plaintext by earlier versions still sign and are sealed by the next rotation. The KMS
 * adapter runs through the real @aws-sdk/client-kms against the local stack's KMS, which sits behind
 * the emulators' guard (only the stack's credentials of this run, no browser) and keeps its master
 * key in a 0600 file.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { KMSClient, DecryptCommand, GenerateDataKeyCommand } from "@aws-sdk/client-kms";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { Webhook } from "standardwebhooks";
import { KmsSecretSealer, SealedSecretError } from "#adapters/kms.ts";
import { newWebhookId } from "#core/ids.ts";
import { generateSecret } from "#core/signing.ts";
import { LOCAL_REGION, newEmulatorCredentials } from "../../local/emulators.ts";
import { KMS_MASTER_KEY_FILE, LOCAL_KMS_KEY_ARN, startLocalKms } from "../../local/kms.ts";
import { TestReceiver, type Received } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

let stack: TestStack;
let receiver: TestReceiver;
let db: DynamoDBDocumentClient;

beforeAll(async () => {
  [stack, receiver] = await Promise.all([startTestStack(), new TestReceiver().start()]);
  db = DynamoDBDocumentClient.from(new DynamoDBClient(stack.stack.config.dynamodb!));
});

afterAll(async () => {
  db?.destroy();
  await Promise.all([stack?.stop(), receiver?.stop()]);
});

const headersOf = (r: Received) => ({
  "webhook-id": String(r.headers["webhook-id"]),
  "webhook-timestamp": String(r.headers["webhook-timestamp"]),
  "webhook-signature": String(r.headers["webhook-signature"]),
});

async function rawSubscription(tenantId: string, id: string): Promise<Record<string, any>> {
  const res = await db.send(new GetCommand({ TableName: stack.stack.config.tables.subscriptions, Key: { tenantId, id }, ConsistentRead: true }));
  return res.Item!;
}

/** The base64 of a secret's key, and the secret itself: neither may appear anywhere in a stored item. */
const forms = (secret: string) => [secret, secret.slice("whsec_".length), Buffer.from(secret.slice("whsec_".length), "base64").toString("hex")];

async function publishAndReceive(tenantId: string, recordId: string): Promise<Received> {
  const before = receiver.requests.length;
  const res = await stack.api("POST", "/events", { type: "record.created", tenantId, data: { recordId } });
  expect(res.status).toBe(202);
  await receiver.waitFor(before + 1);
  return receiver.requests[before];
}

function sealer(dataKeyCacheMs = 0): KmsSecretSealer {
  const { kms, secretsKeyId } = stack.stack.config;
  return new KmsSecretSealer(new KMSClient(kms!), secretsKeyId!, { dataKeyCacheMs });
}

describe("stored subscriptions", () => {
  test("hold a sealed envelope bound to the webhook, no secret text; deliveries verify with standardwebhooks", async () => {
    const hook = await stack.createWebhook("acct_env", receiver.url);
    const item = await rawSubscription("acct_env", hook.id);
    expect(item.secrets).toHaveLength(1);
    expect(Object.keys(item.secrets[0]).sort()).toEqual(["createdAt", "sealed"]);
    expect(item.secrets[0].sealed).toMatch(/^kms1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    const stored = JSON.stringify(item);
    for (const form of forms(hook.secret)) expect(stored).not.toContain(form);

    const received = await publishAndReceive("acct_env", "rec_1");
    expect(new Webhook(hook.secret).verify(received.body, headersOf(received))).toMatchObject({ data: { recordId: "rec_1" } });
    // The envelope opens to exactly the secret the create answer showed.
    expect(await sealer().open(item.secrets[0].sealed, { tenantId: "acct_env", webhookId: hook.id })).toBe(hook.secret);
  });

  test("a rotation stores two envelopes and still no secret text; both secrets verify during the grace", async () => {
    const hook = await stack.createWebhook("acct_rot", receiver.url);
    const rotated = await stack.api("POST", `/tenants/acct_rot/webhooks/${hook.id}/rotate-secret`, { graceSeconds: 3_600 });
    expect(rotated.status).toBe(200);
    const item = await rawSubscription("acct_rot", hook.id);
    expect(item.secrets).toHaveLength(2);
    const stored = JSON.stringify(item);
    for (const secret of [hook.secret, rotated.body.secret]) for (const form of forms(secret)) expect(stored).not.toContain(form);
    for (const s of item.secrets) expect(s.value).toBeUndefined();

    const received = await publishAndReceive("acct_rot", "rec_2");
    expect(String(received.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    for (const secret of [hook.secret, rotated.body.secret]) {
      expect(new Webhook(secret).verify(received.body, headersOf(received))).toMatchObject({ data: { recordId: "rec_2" } });
    }
  });
});

describe("the envelope is bound to its tenant and webhook", () => {
  let sealed: string;
  let webhookId: string;
  const secret = generateSecret();

  beforeAll(async () => {
    webhookId = newWebhookId();
    sealed = await sealer().seal(secret, { tenantId: "acct_a", webhookId });
  });

  test("opens with its own context", async () => {
    expect(await sealer().open(sealed, { tenantId: "acct_a", webhookId })).toBe(secret);
  });

  test.each([
    ["another tenant", () => ({ tenantId: "acct_b", webhookId })],
    ["another webhook", () => ({ tenantId: "acct_a", webhookId: newWebhookId() })],
  ])("does not open for %s", async (_name, context) => {
    await expect(sealer().open(sealed, context())).rejects.toThrow(SealedSecretError);
  });

  test("does not open for another webhook even while its data key is cached", async () => {
    const cached = sealer(60_000);
    expect(await cached.open(sealed, { tenantId: "acct_a", webhookId })).toBe(secret);
    await expect(cached.open(sealed, { tenantId: "acct_a", webhookId: newWebhookId() })).rejects.toThrow(SealedSecretError);
  });

  test("KMS itself refuses the data key under another encryption context", async () => {
    const kms = new KMSClient(stack.stack.config.kms!);
    const context = { purpose: "webhook-signing-secret", tenantId: "acct_a", webhookId };
    const key = await kms.send(new GenerateDataKeyCommand({ KeyId: LOCAL_KMS_KEY_ARN, KeySpec: "AES_256", EncryptionContext: context }));
    const again = await kms.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: context }));
    expect(Buffer.from(again.Plaintext!).equals(Buffer.from(key.Plaintext!))).toBe(true);
    await expect(
      kms.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob, EncryptionContext: { ...context, tenantId: "acct_b" } })),
    ).rejects.toMatchObject({ name: "InvalidCiphertextException" });
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: key.CiphertextBlob }))).rejects.toMatchObject({ name: "InvalidCiphertextException" });
  });
});

describe("secrets stored in plaintext before sealing", () => {
  test("still sign, and the next rotation seals them", async () => {
    const hook = await stack.createWebhook("acct_old", receiver.url);
    // What an earlier version wrote: the secret itself in `value`.
    const legacy = generateSecret();
    const item = await rawSubscription("acct_old", hook.id);
    await db.send(
      new PutCommand({ TableName: stack.stack.config.tables.subscriptions, Item: { ...item, secrets: [{ value: legacy, createdAt: item.createdAt }] } }),
    );
    const received = await publishAndReceive("acct_old", "rec_3");
    expect(new Webhook(legacy).verify(received.body, headersOf(received))).toMatchObject({ data: { recordId: "rec_3" } });

    const rotated = await stack.api("POST", `/tenants/acct_old/webhooks/${hook.id}/rotate-secret`, { graceSeconds: 600 });
    expect(rotated.status).toBe(200);
    const after = await rawSubscription("acct_old", hook.id);
    const stored = JSON.stringify(after);
    for (const secret of [legacy, rotated.body.secret]) for (const form of forms(secret)) expect(stored).not.toContain(form);
    expect(after.secrets.map((s: Record<string, unknown>) => Object.keys(s).sort())).toEqual([
      ["createdAt", "sealed"],
      ["createdAt", "expiresAt", "sealed"],
    ]);
    const next = await publishAndReceive("acct_old", "rec_4");
    for (const secret of [legacy, rotated.body.secret]) {
      expect(new Webhook(secret).verify(next.body, headersOf(next))).toMatchObject({ data: { recordId: "rec_4" } });
    }
  });
});

describe("the local KMS", () => {
  test("answers on 127.0.0.1 only, behind the same guard as SQS and DynamoDB", () => {
    const { kms, sqs, dynamodb } = stack.stack.config;
    expect(new URL(String(kms!.endpoint)).hostname).toBe("127.0.0.1");
    expect([kms!.endpoint, kms!.credentials]).toEqual([sqs!.endpoint, sqs!.credentials]);
    expect(dynamodb!.endpoint).toBe(sqs!.endpoint);
  });

  test("refuses requests signed with other credentials", async () => {
    const { kms } = stack.stack.config;
    const own = kms!.credentials as { accessKeyId: string; secretAccessKey: string };
    for (const [credentials, refusal] of [
      [{ accessKeyId: own.accessKeyId, secretAccessKey: "not-the-stack's" }, "InvalidSignatureException"],
      [{ accessKeyId: "someone-else", secretAccessKey: own.secretAccessKey }, "UnrecognizedClientException"],
      [{ accessKeyId: "local", secretAccessKey: "local" }, "UnrecognizedClientException"],
    ] as const) {
      const client = new KMSClient({ ...kms!, credentials, maxAttempts: 1 });
      await expect(
        client.send(new GenerateDataKeyCommand({ KeyId: LOCAL_KMS_KEY_ARN, KeySpec: "AES_256", EncryptionContext: { purpose: "x" } })),
      ).rejects.toMatchObject({ name: refusal, $metadata: { httpStatusCode: 400 } });
    }
  });

  test("refuses unsigned and browser requests, with no CORS headers", async () => {
    const endpoint = String(stack.stack.config.kms!.endpoint);
    const headers = { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.GenerateDataKey" };
    const body = JSON.stringify({ KeyId: LOCAL_KMS_KEY_ARN, KeySpec: "AES_256" });
    const unsigned = await fetch(endpoint, { method: "POST", headers, body });
    expect(unsigned.status).toBe(400);
    expect(((await unsigned.json()) as { __type: string }).__type).toMatch(/MissingAuthenticationTokenException$/);
    const browser = await fetch(endpoint, { method: "POST", headers: { ...headers, origin: "https://evil.example" }, body });
    expect(browser.status).toBe(403);
    expect(browser.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await fetch(endpoint, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("keeps its master key in a 0600 file, so a restart still opens what it sealed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rk-kms-"));
    try {
      const credentials = newEmulatorCredentials();
      const client = (endpoint: string) => new KMSClient({ region: LOCAL_REGION, credentials, endpoint });
      const first = await startLocalKms({ credentials, stateDir: dir });
      const context = { tenantId: "acct_p", webhookId: newWebhookId() };
      const secret = generateSecret();
      const sealed = await new KmsSecretSealer(client(first.endpoint), first.keyArn, { dataKeyCacheMs: 0 }).seal(secret, context);
      await first.stop();
      expect(statSync(join(dir, KMS_MASTER_KEY_FILE)).mode & 0o777).toBe(0o600);

      const second = await startLocalKms({ credentials, stateDir: dir });
      try {
        expect(await new KmsSecretSealer(client(second.endpoint), second.keyArn, { dataKeyCacheMs: 0 }).open(sealed, context)).toBe(secret);
      } finally {
        await second.stop();
      }
      // Another master key (another state dir) does not open it.
      const other = await startLocalKms({ credentials });
      try {
        await expect(new KmsSecretSealer(client(other.endpoint), other.keyArn, { dataKeyCacheMs: 0 }).open(sealed, context)).rejects.toThrow(SealedSecretError);
      } finally {
        await other.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
