import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, ListQueuesCommand, SendMessageCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { LOCAL_REGION, newEmulatorCredentials, startEmulators, type Emulators } from "../../local/emulators.ts";

/**
 * The emulators' one door (issue 12 item 6): the real AWS SDK clients get in only with this run's
 * credentials; a browser (any request with an Origin, any preflight) never does, and nothing it
 * could read carries a CORS header. Everything here is refused by the guard before fauxqs or
 * dynalite see it, so each refusal has a positive control next to it.
 */
let emulators: Emulators;

beforeAll(async () => {
  emulators = await startEmulators();
});
afterAll(async () => {
  await emulators.stop();
});

const sqs = (credentials = emulators.credentials) => new SQSClient({ region: LOCAL_REGION, endpoint: emulators.sqsEndpoint, credentials, maxAttempts: 1 });
const ddb = (credentials = emulators.credentials) =>
  new DynamoDBClient({ region: LOCAL_REGION, endpoint: emulators.dynamodbEndpoint, credentials, maxAttempts: 1 });

/** The error an SDK call ended with: its name and HTTP status. */
async function failure(call: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await call;
  } catch (err) {
    const e = err as { name: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, status: e.$metadata?.httpStatusCode };
  }
  throw new Error("the call succeeded");
}

/** A DynamoDB ListTables request signed the way the SDK signs it, as raw fetch input. */
async function signedListTables(o: { credentials?: Emulators["credentials"]; signingDate?: Date; body?: string } = {}) {
  const url = new URL(emulators.dynamodbEndpoint);
  const body = o.body ?? "{}";
  const signer = new SignatureV4({
    service: "dynamodb",
    region: LOCAL_REGION,
    credentials: o.credentials ?? emulators.credentials,
    sha256: Hash.bind(null, "sha256"),
    applyChecksum: false,
  });
  const signed = await signer.sign(
    {
      method: "POST",
      protocol: "http:",
      hostname: url.hostname,
      port: Number(url.port),
      path: "/",
      query: {},
      headers: { host: url.host, "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.ListTables" },
      body,
    },
    { signingDate: o.signingDate },
  );
  const { host: _host, ...headers } = signed.headers;
  return { url: `${emulators.dynamodbEndpoint}/`, headers: headers as Record<string, string>, body };
}

test("this run's credentials get in, to both emulators (the positive control)", async () => {
  await sqs().send(new CreateQueueCommand({ QueueName: "guard-q" }));
  expect((await sqs().send(new ListQueuesCommand({}))).QueueUrls).toEqual([expect.stringMatching(/\/guard-q$/)]);
  await ddb().send(
    new CreateTableCommand({
      TableName: "guard-t",
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
    }),
  );
  expect((await ddb().send(new ListTablesCommand({}))).TableNames).toEqual(["guard-t"]);
});

test("another access key is refused by both emulators", async () => {
  const stranger = newEmulatorCredentials();
  expect(await failure(sqs(stranger).send(new ListQueuesCommand({})))).toEqual({ name: "UnrecognizedClientException", status: 400 });
  expect(await failure(ddb(stranger).send(new ListTablesCommand({})))).toEqual({ name: "UnrecognizedClientException", status: 400 });
  // The fixed credentials every local stack used to accept are no key at all now.
  const old = { accessKeyId: "local", secretAccessKey: "local" };
  expect(await failure(sqs(old).send(new ListQueuesCommand({})))).toEqual({ name: "UnrecognizedClientException", status: 400 });
  expect(await failure(ddb(old).send(new ListTablesCommand({})))).toEqual({ name: "UnrecognizedClientException", status: 400 });
});

test("the right access key with the wrong secret is refused by both emulators, and injects nothing", async () => {
  const forged = { accessKeyId: emulators.credentials.accessKeyId, secretAccessKey: newEmulatorCredentials().secretAccessKey };
  const { QueueUrl } = await sqs().send(new CreateQueueCommand({ QueueName: "guard-inject" }));
  expect(await failure(sqs(forged).send(new SendMessageCommand({ QueueUrl, MessageBody: '{"forged":true}' })))).toEqual({
    name: "InvalidSignatureException",
    status: 400,
  });
  expect(await failure(ddb(forged).send(new ListTablesCommand({})))).toEqual({ name: "InvalidSignatureException", status: 400 });
  const received = await sqs().send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }));
  expect(received.Messages ?? []).toEqual([]);
});

test("a request with a browser Origin is refused, signed or not, with no CORS header; so is a preflight", async () => {
  const good = await signedListTables();
  const control = await fetch(good.url, { method: "POST", headers: good.headers, body: good.body });
  expect(control.status).toBe(200);
  expect((await control.json()) as object).toEqual({ TableNames: ["guard-t"] });

  for (const origin of ["http://evil.example", "null", "http://127.0.0.1:3000"]) {
    const res = await fetch(good.url, { method: "POST", headers: { ...good.headers, origin }, body: good.body });
    expect([origin, res.status]).toEqual([origin, 403]);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await res.json()) as { __type: string }).__type).toBe("com.amazon.coral.service#AccessDeniedException");
  }
  const sqsOrigin = await fetch(`${emulators.sqsEndpoint}/`, {
    method: "POST",
    headers: { origin: "http://evil.example", "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.ListQueues" },
    body: "{}",
  });
  expect(sqsOrigin.status).toBe(403);
  expect(sqsOrigin.headers.get("access-control-allow-origin")).toBeNull();

  const preflight = await fetch(good.url, {
    method: "OPTIONS",
    headers: { origin: "http://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "x-amz-target,authorization" },
  });
  expect(preflight.status).toBe(403);
  for (const h of ["access-control-allow-origin", "access-control-allow-headers", "access-control-allow-methods"]) expect(preflight.headers.get(h)).toBeNull();
});

test("a signed request replayed with another body, too old, or to another Host is refused", async () => {
  const good = await signedListTables();
  const altered = await fetch(good.url, { method: "POST", headers: good.headers, body: '{"Limit":1}' });
  expect([altered.status, ((await altered.json()) as { __type: string }).__type]).toEqual([400, "com.amazon.coral.service#InvalidSignatureException"]);

  const old = await signedListTables({ signingDate: new Date(Date.now() - 16 * 60 * 1000) });
  const expired = await fetch(old.url, { method: "POST", headers: old.headers, body: old.body });
  expect([expired.status, ((await expired.json()) as { message: string }).message]).toEqual([400, expect.stringMatching(/^Signature expired/)]);

  // DNS rebinding: a name that resolves to 127.0.0.1 is still not this endpoint's own Host.
  const rebound = await new Promise<number>((resolve, reject) => {
    import("node:http").then(({ request }) => {
      const req = request(good.url, { method: "POST", headers: { ...good.headers, host: `attacker.example:${new URL(good.url).port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      req.end(good.body);
    }, reject);
  });
  expect(rebound).toBe(403);
});

test("anything but a signed AWS JSON call is refused: fauxqs's inspection routes, dynalite's health page, S3", async () => {
  for (const [method, path] of [
    ["GET", "/_fauxqs/queues"],
    ["GET", "/_fauxqs/queues/guard-q"],
    ["GET", "/"],
    ["GET", "/health"],
    ["PUT", "/bucket/key"],
  ]) {
    const res = await fetch(`${emulators.sqsEndpoint}${path}`, { method, body: method === "PUT" ? "x" : undefined });
    expect([method, path, res.status]).toEqual([method, path, 403]);
  }
  const unsigned = await fetch(`${emulators.dynamodbEndpoint}/`, {
    method: "POST",
    headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.ListTables" },
    body: "{}",
  });
  expect([unsigned.status, ((await unsigned.json()) as { __type: string }).__type]).toEqual([
    400,
    "com.amazon.coral.service#MissingAuthenticationTokenException",
  ]);
});

test("with a state dir, both emulators keep their data across a stop and a start in the same process", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rk-guard-"));
  try {
    const credentials = newEmulatorCredentials();
    const first = await startEmulators({ stateDir: dir, credentials });
    const client = { region: LOCAL_REGION, credentials, maxAttempts: 1 };
    await new SQSClient({ ...client, endpoint: first.sqsEndpoint }).send(new CreateQueueCommand({ QueueName: "kept-q" }));
    await new DynamoDBClient({ ...client, endpoint: first.dynamodbEndpoint }).send(
      new CreateTableCommand({
        TableName: "kept-t",
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      }),
    );
    await first.stop();

    // A new run: new credentials (the old ones are refused), same data (dynalite's store was closed, so it reopens).
    const second = await startEmulators({ stateDir: dir });
    try {
      const again = { region: LOCAL_REGION, credentials: second.credentials, maxAttempts: 1 };
      expect((await new SQSClient({ ...again, endpoint: second.sqsEndpoint }).send(new ListQueuesCommand({}))).QueueUrls).toEqual([
        expect.stringMatching(/\/kept-q$/),
      ]);
      expect((await new DynamoDBClient({ ...again, endpoint: second.dynamodbEndpoint }).send(new ListTablesCommand({}))).TableNames).toEqual(["kept-t"]);
      expect(await failure(new DynamoDBClient({ ...client, endpoint: second.dynamodbEndpoint }).send(new ListTablesCommand({})))).toEqual({
        name: "UnrecognizedClientException",
        status: 400,
      });
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
