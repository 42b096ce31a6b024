import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, DynamoDBDocumentClient, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { ulid } from "ulid";
import { Webhook } from "standardwebhooks";
import { LIMITS } from "#core/settings.ts";
import { TestReceiver, type Received } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Read-then-write races on the management API: the per-tenant webhook limit and secret rotation.
 * Every 2xx must be true: a created webhook exists and is counted, and a secret a rotation returned
 * really signs (checked with the independent `standardwebhooks` library on delivered requests).
 */
let stack: TestStack;
const receiver = new TestReceiver();

beforeAll(async () => {
  await receiver.start();
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
  await receiver.stop();
});

const headersOf = (r: Received) => ({
  "webhook-id": String(r.headers["webhook-id"]),
  "webhook-timestamp": String(r.headers["webhook-timestamp"]),
  "webhook-signature": String(r.headers["webhook-signature"]),
});
const signs = (secret: string, r: Received) => {
  try {
    new Webhook(secret).verify(r.body, headersOf(r));
    return true;
  } catch {
    return false;
  }
};

/** Creates in parallel; each webhook's URL carries its request's tag, so that a delivery names its creator. */
async function createInParallel(tenant: string, tags: string[]) {
  return Promise.all(
    tags.map(async (tag) => ({
      tag,
      ...(await stack.api("POST", `/tenants/${tenant}/webhooks`, { url: `${receiver.url}/${tag}`, eventTypes: ["record.created"] })),
    })),
  );
}

/** Runs `fn` with a document client on the stack's DynamoDB: the tables as stored, bypassing the API. */
async function withDb<T>(fn: (db: DynamoDBDocumentClient, table: string) => Promise<T>): Promise<T> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(stack.stack.config.dynamodb!));
  try {
    return await fn(db, stack.stack.config.tables.subscriptions);
  } finally {
    db.destroy();
  }
}

/** The tenant's webhook items, and the ids its slot item holds: always the same set. */
async function storedWebhooks(tenant: string): Promise<string[]> {
  const items = await withDb(
    async (db, table) =>
      (
        await db.send(
          new QueryCommand({ TableName: table, KeyConditionExpression: "tenantId = :t", ExpressionAttributeValues: { ":t": tenant }, ConsistentRead: true }),
        )
      ).Items ?? [],
  );
  const webhooks = items
    .map((i) => String(i.id))
    .filter((id) => id.startsWith("wh_"))
    .sort();
  const slots = items.find((i) => i.id === "#webhooks");
  expect([...((slots?.ids as Set<string> | undefined) ?? [])].sort()).toEqual(webhooks);
  return webhooks;
}

/** Publishes one event to the tenant and returns the requests it produced, once `count` arrived. */
async function publishAndCollect(tenant: string, count: number): Promise<Received[]> {
  const before = receiver.requests.length;
  const res = await stack.api("POST", "/events", { type: "record.created", tenantId: tenant, data: { recordId: `rec_${tenant}` } });
  expect([res.status, res.body.deliveries]).toEqual([202, count]);
  await receiver.waitFor(before + count);
  return receiver.requests.slice(before).filter((r) => JSON.parse(r.body).tenantId === tenant);
}

describe(`the limit of ${LIMITS.webhooksPerTenant} webhooks per tenant holds under parallel creates`, () => {
  test("20 parallel creates on a tenant with 45 webhooks: exactly 5 created, 15 refused, 50 in the end, each created secret signs", async () => {
    const tenant = "acct_limit45";
    for (let i = 0; i < 45; i++)
      expect((await stack.api("POST", `/tenants/${tenant}/webhooks`, { url: `${receiver.url}/pre${i}`, eventTypes: ["record.created"] })).status).toBe(201);
    const answers = await createInParallel(
      tenant,
      Array.from({ length: 20 }, (_, i) => `par${i}`),
    );
    const created = answers.filter((a) => a.status === 201);
    expect(answers.map((a) => (a.status === 201 ? "201" : `${a.status} ${a.body.error.code}`)).sort()).toEqual([
      ...Array(5).fill("201"),
      ...Array(15).fill("409 webhook_limit_reached"),
    ]);
    expect((await stack.api("GET", `/tenants/${tenant}/webhooks?limit=100`)).body.items).toHaveLength(50);
    expect(await storedWebhooks(tenant)).toHaveLength(50);

    const requests = await publishAndCollect(tenant, 50);
    for (const c of created) {
      const r = requests.find((x) => x.url === `/hooks/${c.tag}`)!;
      expect([c.tag, signs(c.body.secret, r)]).toEqual([c.tag, true]);
    }
  });

  test("100 parallel creates on an empty tenant: exactly 50 created; after 3 deletes, 10 parallel creates make exactly 3", async () => {
    const tenant = "acct_limit0";
    const answers = await createInParallel(
      tenant,
      Array.from({ length: 100 }, (_, i) => `p${i}`),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(50);
    expect(answers.filter((a) => a.status === 409 && a.body.error.code === "webhook_limit_reached")).toHaveLength(50);
    expect(await storedWebhooks(tenant)).toHaveLength(50);

    const created = answers.filter((a) => a.status === 201);
    for (const c of created.slice(0, 3)) expect((await stack.api("DELETE", `/tenants/${tenant}/webhooks/${c.body.id}`)).status).toBe(204);
    const more = await createInParallel(
      tenant,
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    expect(more.filter((a) => a.status === 201)).toHaveLength(3);
    expect(more.filter((a) => a.status === 409)).toHaveLength(7);
    expect(await storedWebhooks(tenant)).toHaveLength(50);

    const live = [...created.slice(3), ...more.filter((a) => a.status === 201)];
    const requests = await publishAndCollect(tenant, 50);
    for (const c of live) expect([c.tag, signs(c.body.secret, requests.find((x) => x.url === `/hooks/${c.tag}`)!)]).toEqual([c.tag, true]);
  });
});

describe("parallel secret rotations", () => {
  test("10 parallel rotations (default grace): all 200, 10 different secrets, and every one of them signs the next delivery", async () => {
    const tenant = "acct_rot10";
    const hook = await stack.createWebhook(tenant, `${receiver.url}/rot10`, ["record.created"]);
    const answers = await Promise.all(Array.from({ length: 10 }, () => stack.api("POST", `/tenants/${tenant}/webhooks/${hook.id}/rotate-secret`, {})));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const secrets = answers.map((a) => a.body.secret as string);
    expect(new Set(secrets).size).toBe(10);

    const [r] = await publishAndCollect(tenant, 1);
    // The original secret and the ten new ones: eleven signatures, each verifying.
    expect(String(r.headers["webhook-signature"]).split(" ")).toHaveLength(11);
    for (const s of [hook.secret, ...secrets]) expect(signs(s, r)).toBe(true);
  });

  test("10 parallel rotations with graceSeconds 0: all 200, each applied in turn, and the one that signs is one of the answers", async () => {
    const tenant = "acct_rot0";
    const hook = await stack.createWebhook(tenant, `${receiver.url}/rot0`, ["record.created"]);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => stack.api("POST", `/tenants/${tenant}/webhooks/${hook.id}/rotate-secret`, { graceSeconds: 0 })),
    );
    expect(answers.map((a) => [a.status, a.body.previousSecretsExpireAt])).toEqual(Array(10).fill([200, null]));
    const secrets = answers.map((a) => a.body.secret as string);
    expect(new Set(secrets).size).toBe(10);

    const [r] = await publishAndCollect(tenant, 1);
    expect(String(r.headers["webhook-signature"]).split(" ")).toHaveLength(1);
    expect(secrets.filter((s) => signs(s, r))).toHaveLength(1);
    expect(signs(hook.secret, r)).toBe(false);
  });
});

describe("the slot item heals", () => {
  const create = (tenant: string, n: number) => stack.api("POST", `/tenants/${tenant}/webhooks`, { url: `https://h${n}.example.com/`, eventTypes: ["*"] });

  test("a slot left by a create that died before writing its webhook is freed once the tenant is full", async () => {
    const tenant = "acct_slot_crash";
    for (let i = 0; i < 48; i++) expect((await create(tenant, i)).status).toBe(201);
    // A create that took a slot 10 minutes ago and died before its put, and one in progress: 50 slots taken.
    const dead = `wh_${ulid(Date.now() - 10 * 60_000)}`;
    await withDb((db, table) =>
      db.send(
        new UpdateCommand({
          TableName: table,
          Key: { tenantId: tenant, id: "#webhooks" },
          UpdateExpression: "ADD ids :id",
          ExpressionAttributeValues: { ":id": new Set([dead]) },
        }),
      ),
    );
    // A slot taken just now is a create in progress, and is not freed.
    const inProgress = `wh_${ulid(Date.now())}`;
    await withDb((db, table) =>
      db.send(
        new UpdateCommand({
          TableName: table,
          Key: { tenantId: tenant, id: "#webhooks" },
          UpdateExpression: "ADD ids :id",
          ExpressionAttributeValues: { ":id": new Set([inProgress]) },
        }),
      ),
    );
    const freed = await create(tenant, 50);
    expect([freed.status, freed.body.error?.code]).toEqual([201, undefined]);
    const full = await create(tenant, 51);
    expect([full.status, full.body.error.code]).toEqual([409, "webhook_limit_reached"]);
    // 49 webhooks and the slot of the create in progress.
    expect((await stack.api("GET", `/tenants/${tenant}/webhooks?limit=100`)).body.items).toHaveLength(49);
  });

  test("a tenant whose webhooks predate the slot item gets one holding them all: the limit still counts them", async () => {
    const tenant = "acct_slot_legacy";
    for (let i = 0; i < 50; i++) expect((await create(tenant, i)).status).toBe(201);
    await withDb((db, table) => db.send(new DeleteCommand({ TableName: table, Key: { tenantId: tenant, id: "#webhooks" } })));
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => create(tenant, 100 + i)));
    expect(answers.map((a) => `${a.status} ${a.body.error?.code}`)).toEqual(Array(5).fill("409 webhook_limit_reached"));
    expect(await storedWebhooks(tenant)).toHaveLength(50);
  });
});
