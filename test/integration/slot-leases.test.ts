/**
 * A slow webhook's in-progress slots (docs/delivery-semantics.md, "Slow endpoints") on DynamoDB's
 * rules, through the real adapter on dynalite: a slot is one member of a number set, and adding a
 * member the set already holds changes nothing, so a lease drawn twice must be refused or two
 * requests would share one slot and the webhook would have more in progress than its limit.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "#adapters/dynamodb.ts";
import { DynamoHealthStore } from "#adapters/health.ts";
import { createResources, LOCAL_REGION, startEmulators, type Emulators } from "../../local/emulators.ts";

let emulators: Emulators;
let table: string;
let db: ReturnType<typeof documentClient>;
let store: DynamoHealthStore;
const TENANT = "acct_slots";

beforeAll(async () => {
  emulators = await startEmulators();
  const config = { endpoint: emulators.dynamodbEndpoint, region: LOCAL_REGION, credentials: emulators.credentials };
  const sqs = new SQSClient({ endpoint: emulators.sqsEndpoint, region: LOCAL_REGION, credentials: emulators.credentials });
  const resources = await createResources(sqs, new DynamoDBClient(config), { prefix: "slots" });
  table = resources.tables.subscriptions;
  db = documentClient(config);
  store = new DynamoHealthStore(db, table);
});
afterAll(async () => {
  await emulators?.stop();
});

async function webhook(id: string) {
  await db.send(new PutCommand({ TableName: table, Item: { tenantId: TENANT, id, url: "https://example.com/h", enabled: true } }));
}
const slots = async (id: string) => [...((await db.send(new GetCommand({ TableName: table, Key: { tenantId: TENANT, id } }))).Item?.slots ?? [])].sort();

test("a lease the set already holds is refused; distinct leases are taken up to the limit and no further", async () => {
  await webhook("wh_dup");
  expect(await store.takeSlot(TENANT, "wh_dup", { lease: 1_000, limit: 3, expired: [] })).toBe(true);
  expect(await store.takeSlot(TENANT, "wh_dup", { lease: 1_000, limit: 3, expired: [] })).toBe(false);
  expect(await store.takeSlot(TENANT, "wh_dup", { lease: 1_001, limit: 3, expired: [] })).toBe(true);
  expect(await store.takeSlot(TENANT, "wh_dup", { lease: 1_002, limit: 3, expired: [] })).toBe(true);
  expect(await store.takeSlot(TENANT, "wh_dup", { lease: 1_003, limit: 3, expired: [] })).toBe(false);
  expect(await slots("wh_dup")).toEqual([1_000, 1_001, 1_002]);
});

test("twenty takes raced at once on a limit of 5, each lease drawn by two takers: exactly 5 held, each by one taker", async () => {
  await webhook("wh_race");
  const leases = Array.from({ length: 20 }, (_, i) => 2_000 + Math.floor(i / 2));
  const taken = await Promise.all(leases.map((lease) => store.takeSlot(TENANT, "wh_race", { lease, limit: 5, expired: [] })));
  const won = leases.filter((_, i) => taken[i]);
  expect(won).toHaveLength(5);
  expect(new Set(won).size).toBe(5);
  expect(await slots("wh_race")).toEqual([...won].sort());
});

test("an ended lease is dropped before the take, and a freed one can be taken again", async () => {
  await webhook("wh_free");
  expect(await store.takeSlot(TENANT, "wh_free", { lease: 3_000, limit: 1, expired: [] })).toBe(true);
  expect(await store.takeSlot(TENANT, "wh_free", { lease: 3_001, limit: 1, expired: [] })).toBe(false);
  expect(await store.takeSlot(TENANT, "wh_free", { lease: 3_001, limit: 1, expired: [3_000] })).toBe(true);
  await store.freeSlot(TENANT, "wh_free", 3_001);
  expect(await slots("wh_free")).toEqual([]);
  expect(await store.takeSlot(TENANT, "wh_free", { lease: 3_001, limit: 1, expired: [] })).toBe(true);
});
