/**
 * The delivery log against DynamoDB's own limits, on dynalite (which enforces the 400 KB item size
 * and refuses duplicate keys in batch calls like DynamoDB), and the response excerpt against a real
 * HTTP endpoint: defects 3, 4 and 5 of issue 9.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoDeliveryLog } from "#adapters/dynamodb.ts";
import { NodeHttpSender } from "#adapters/node-http-sender.ts";
import { deterministicDeliveryId, newWebhookId } from "#core/ids.ts";
import type { Attempt, DeliveryMessage } from "#core/model.ts";
import type { AttemptWrite } from "#core/ports.ts";
import { createResources, LOCAL_REGION, startEmulators, type Emulators } from "../../local/emulators.ts";

let emulators: Emulators;
let table: string;
let db: ReturnType<typeof documentClient>;
const requests = new Map<string, number>();

beforeAll(async () => {
  emulators = await startEmulators();
  const config = { endpoint: emulators.dynamodbEndpoint, region: LOCAL_REGION, credentials: emulators.credentials };
  const resources = await createResources(
    new SQSClient({ endpoint: emulators.sqsEndpoint, region: LOCAL_REGION, credentials: emulators.credentials }),
    new DynamoDBClient(config),
    {
      prefix: "limits",
    },
  );
  table = resources.tables.deliveries;
  db = documentClient(config);
  db.middlewareStack.add(
    (next, context) => async (args) => {
      const name = context.commandName ?? "?";
      requests.set(name, (requests.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: "countRequests" },
  );
});

afterAll(async () => {
  await emulators?.stop();
});

const TENANT = "acct_limits";
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

function message(webhookId: string, n: number, at = T0 + n): DeliveryMessage {
  return {
    v: 1,
    deliveryId: deterministicDeliveryId(at, TENANT, `evt_${n}`, webhookId),
    tenantId: TENANT,
    webhookId,
    eventId: `evt_${n}`,
    eventType: "record.created",
    payload: "{}",
  };
}

const attempt = (n: number, excerpt: string): Attempt => ({
  n,
  at: new Date(T0 + n * 1000).toISOString(),
  statusCode: 500,
  error: "http_error: HTTP 500",
  durationMs: 12,
  responseExcerpt: excerpt,
});

describe("response excerpts (defect 3)", () => {
  let server: Server;
  let url: string;
  const bodies: Record<string, Buffer> = {
    "/binary": Buffer.from(Array.from({ length: 4_096 }, (_, i) => (i * 131 + 7) % 256)),
    "/text": Buffer.from("é".repeat(5_000)),
  };
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(500).end(bodies[req.url ?? ""]));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  test("a binary body is named as such, not kept as U+FFFD; text is cut after decoding, on a character boundary", async () => {
    const sender = new NodeHttpSender({ allowPrivate: true });
    try {
      const binary = await sender.post(`${url}/binary`, {}, "{}", 5_000);
      expect(binary).toMatchObject({ statusCode: 500, responseExcerpt: "<binary, 4096 bytes>" });
      const text = await sender.post(`${url}/text`, {}, "{}", 5_000);
      // 5,000 × "é" is 10,000 bytes: 2,048 characters fill exactly 4,096 bytes, none split.
      expect(text.responseExcerpt).toBe("é".repeat(2_048));
    } finally {
      await sender.close();
    }
  });
});

describe("the delivery item stays bounded whatever the rounds (defect 3)", () => {
  test("3 rounds × 13 failed attempts with 12 KB excerpts: every write accepted, the item small, every attempt readable in order", async () => {
    const log = new DynamoDeliveryLog(db, table);
    const webhookId = newWebhookId(T0);
    const m = message(webhookId, 1);
    // What a cut-then-decoded binary excerpt used to be: 4,096 × U+FFFD, 12 KB.
    const big = "\uFFFD".repeat(4_096);
    for (let n = 1; n <= 39; n++) {
      const w: AttemptWrite = {
        message: m,
        attempt: attempt(n, big),
        previousAttempts: n - 1,
        status: "pending",
        roundStart: Math.floor((n - 1) / 13) * 13,
        nowIso: new Date(T0 + n * 1000).toISOString(),
      };
      await log.write(w);
    }
    const raw = await db.send(new GetCommand({ TableName: table, Key: { pk: `${TENANT}#${webhookId}`, id: m.deliveryId } }));
    expect(Buffer.byteLength(JSON.stringify(raw.Item))).toBeLessThan(64 * 1_024);
    expect(raw.Item?.attempts).toHaveLength(3);
    const record = await log.get(TENANT, webhookId, m.deliveryId);
    expect(record?.attemptCount).toBe(39);
    expect(record?.attempts.map((a) => a.n)).toEqual(Array.from({ length: 39 }, (_, i) => i + 1));
    // A list shows the latest attempt.
    const page = await log.list(TENANT, webhookId, { limit: 5 });
    expect(page.items[0].attempts.at(-1)?.n).toBe(39);
  });
});

describe("duplicate keys in one batch (defect 5)", () => {
  test("getMany and createMany with a delivery named twice: one key each, as DynamoDB requires", async () => {
    const log = new DynamoDeliveryLog(db, table);
    const webhookId = newWebhookId(T0);
    const m = message(webhookId, 2);
    const w: AttemptWrite = { message: m, attempt: attempt(1, "ok"), status: "succeeded", roundStart: 0, nowIso: new Date(T0).toISOString() };
    await log.createMany([w, w]);
    const key = { tenantId: TENANT, webhookId, id: m.deliveryId };
    const records = await log.getMany([key, key]);
    expect(records.map((r) => [r.id, r.status, r.attemptCount])).toEqual([[m.deliveryId, "succeeded", 1]]);
  });
});

describe("the status filter and replay read the status index (defect 4)", () => {
  test("3 failed among 1,000 succeeded: one Query of the index and one BatchGetItem, newest first, cursored", async () => {
    const log = new DynamoDeliveryLog(db, table);
    const webhookId = newWebhookId(T0);
    const ok = Array.from(
      { length: 1_000 },
      (_, i): AttemptWrite => ({
        message: message(webhookId, 100 + i),
        attempt: attempt(1, "ok"),
        status: "succeeded",
        roundStart: 0,
        nowIso: new Date(T0).toISOString(),
      }),
    );
    await log.createMany(ok);
    const failed = [5_000, 5_001, 5_002].map((n) => message(webhookId, n));
    for (const f of failed)
      await log.write({ message: f, attempt: attempt(1, "no"), status: "failed", roundStart: 0, nowIso: new Date(T0).toISOString(), previousAttempts: 0 });
    requests.clear();
    const page = await log.list(TENANT, webhookId, { status: "failed", limit: 2 });
    expect(page.items.map((d) => d.eventId)).toEqual(["evt_5002", "evt_5001"]);
    expect(Object.fromEntries(requests)).toEqual({ QueryCommand: 1, BatchGetItemCommand: 1 });
    const rest = await log.list(TENANT, webhookId, { status: "failed", limit: 2, cursor: page.cursor });
    expect(rest).toEqual({ items: [expect.objectContaining({ eventId: "evt_5000", status: "failed" })], cursor: undefined });
    // A delivery that succeeds after failing leaves the index.
    await log.write({
      message: failed[0],
      attempt: attempt(2, "ok"),
      status: "succeeded",
      roundStart: 0,
      nowIso: new Date(T0 + 5_000).toISOString(),
      previousAttempts: 1,
    });
    expect((await log.list(TENANT, webhookId, { status: "failed", limit: 10 })).items.map((d) => d.eventId)).toEqual(["evt_5002", "evt_5001"]);
  });
});
