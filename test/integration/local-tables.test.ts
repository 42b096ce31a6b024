/**
 * The local stack's tables (local/emulators.ts createResources) against dynalite: keyed and indexed
 * from the same TABLES definitions as the CDK stack, and a state dir kept from before an index
 * existed gets the missing ones on the next start, each one queryable.
 */
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "#adapters/dynamodb.ts";
import { createResources, LOCAL_REGION, startEmulators, type Emulators } from "../../local/emulators.ts";

let emulators: Emulators;
let db: DynamoDBClient;
let sqs: SQSClient;

beforeAll(async () => {
  emulators = await startEmulators();
  db = new DynamoDBClient({ endpoint: emulators.dynamodbEndpoint, region: LOCAL_REGION, credentials: emulators.credentials });
  sqs = new SQSClient({ endpoint: emulators.sqsEndpoint, region: LOCAL_REGION, credentials: emulators.credentials });
});
afterAll(async () => {
  await emulators?.stop();
});

/** A table's indexes as `name: HASH key, RANGE key, projection`, sorted, and its attribute definitions. */
async function shape(table: string) {
  const t = (await db.send(new DescribeTableCommand({ TableName: table }))).Table!;
  const indexes = (t.GlobalSecondaryIndexes ?? [])
    .map((g) => {
      const key = (type: string) => g.KeySchema!.find((k) => k.KeyType === type)!.AttributeName;
      const projection = g.Projection!.ProjectionType + (g.Projection!.NonKeyAttributes ? `(${g.Projection!.NonKeyAttributes.join(",")})` : "");
      return `${g.IndexName}: ${key("HASH")}, ${key("RANGE")}, ${projection}`;
    })
    .sort();
  const attributes = (t.AttributeDefinitions ?? []).map((a) => `${a.AttributeName}:${a.AttributeType}`).sort();
  return { indexes, attributes };
}

const EXPECTED = {
  subscriptions: { indexes: ["byWake: wake, wakeAt, ALL"], attributes: ["id:S", "tenantId:S", "wake:S", "wakeAt:S"] },
  deliveries: {
    indexes: ["byStatus: statusKey, id, INCLUDE(eventId)", "parked: parkKey, parkSort, ALL"],
    attributes: ["id:S", "parkKey:S", "parkSort:S", "pk:S", "statusKey:S"],
  },
  events: { indexes: [], attributes: ["pk:S"] },
  portalSessions: { indexes: [], attributes: ["pk:S"] },
};

test("a fresh state gets every table with the indexes of TABLES", async () => {
  const { tables } = await createResources(sqs, db, { prefix: "fresh" });
  for (const kind of ["subscriptions", "deliveries", "events", "portalSessions"] as const) {
    expect([kind, await shape(tables[kind])]).toEqual([kind, EXPECTED[kind]]);
  }
});

/** What an older version created: keys only (the deliveries' byStatus index came later, the wake and parked indexes later still). */
const keysOnly = (name: string, partitionKey: string, sortKey: string) =>
  db.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: partitionKey, KeyType: "HASH" },
        { AttributeName: sortKey, KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: "S" },
        { AttributeName: sortKey, AttributeType: "S" },
      ],
    }),
  );

const doc = () => documentClient({ endpoint: emulators.dynamodbEndpoint, region: LOCAL_REGION, credentials: emulators.credentials });

/** Every item of a partition, page after page (a Query answers at most 1 MB). */
async function partition(table: string, pk: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await doc().send(
      new QueryCommand({ TableName: table, KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": pk }, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

async function tableNames(): Promise<string[]> {
  return ((await db.send(new ListTablesCommand({}))).TableNames ?? []).sort();
}

test("tables kept from before the indexes existed get the missing ones, keep their items, and the new indexes answer queries", async () => {
  await keysOnly("kept-subscriptions", "tenantId", "id");
  await keysOnly("kept-deliveries", "pk", "id");
  expect((await shape("kept-deliveries")).indexes).toEqual([]);
  // Items of the old state: more than a Scan page (1 MB) and a batch write (25 items) hold.
  const old = Array.from({ length: 60 }, (_, i) => ({
    pk: "acct_1#wh_1",
    id: `dlv_${String(i).padStart(3, "0")}`,
    statusKey: i % 2 ? "acct_1#wh_1#failed" : undefined,
    payload: "x".repeat(20_000),
  }));
  for (const item of old) await doc().send(new PutCommand({ TableName: "kept-deliveries", Item: item }));
  await doc().send(new PutCommand({ TableName: "kept-subscriptions", Item: { tenantId: "acct_1", id: "wh_1", url: "https://example.com/hook" } }));

  const { tables } = await createResources(sqs, db, { prefix: "kept" });
  expect(await shape(tables.subscriptions)).toEqual(EXPECTED.subscriptions);
  expect(await shape(tables.deliveries)).toEqual(EXPECTED.deliveries);
  expect((await tableNames()).filter((n) => n.includes("rebuilding"))).toEqual([]);
  // Every item is back, and indexed by the index it belongs to.
  expect(await partition(tables.deliveries, "acct_1#wh_1")).toEqual(old.map(({ statusKey, ...rest }) => (statusKey ? { ...rest, statusKey } : rest)));
  const failed = await doc().send(
    new QueryCommand({
      TableName: tables.deliveries,
      IndexName: "byStatus",
      KeyConditionExpression: "statusKey = :k",
      ExpressionAttributeValues: { ":k": "acct_1#wh_1#failed" },
    }),
  );
  expect(failed.Items?.map((i) => i.id)).toEqual(old.filter((i) => i.statusKey).map((i) => i.id));
  expect((await doc().send(new GetCommand({ TableName: tables.subscriptions, Key: { tenantId: "acct_1", id: "wh_1" } }))).Item).toEqual({
    tenantId: "acct_1",
    id: "wh_1",
    url: "https://example.com/hook",
  });

  // Idempotent: a second start changes nothing.
  await createResources(sqs, db, { prefix: "kept" });
  expect(await shape(tables.deliveries)).toEqual(EXPECTED.deliveries);
  expect(await partition(tables.deliveries, "acct_1#wh_1")).toHaveLength(60);

  await doc().send(
    new PutCommand({ TableName: tables.subscriptions, Item: { tenantId: "acct_1", id: "wh_2", wake: "due", wakeAt: "2026-01-01T00:00:00.000Z" } }),
  );
  const woken = await doc().send(
    new QueryCommand({
      TableName: tables.subscriptions,
      IndexName: "byWake",
      KeyConditionExpression: "wake = :due AND wakeAt <= :now",
      ExpressionAttributeValues: { ":due": "due", ":now": "2026-01-02" },
    }),
  );
  expect(woken.Items).toEqual([{ tenantId: "acct_1", id: "wh_2", wake: "due", wakeAt: "2026-01-01T00:00:00.000Z" }]);

  await doc().send(
    new PutCommand({
      TableName: tables.deliveries,
      Item: { pk: "acct_1#wh_2", id: "dlv_1", parkKey: "acct_1#wh_2", parkSort: "2026-01-01T00:00:00.000Z#dlv_1", message: "m" },
    }),
  );
  const parked = await doc().send(
    new QueryCommand({
      TableName: tables.deliveries,
      IndexName: "parked",
      KeyConditionExpression: "parkKey = :k",
      ExpressionAttributeValues: { ":k": "acct_1#wh_2" },
    }),
  );
  // Projection ALL: the release re-sends from the index item alone.
  expect(parked.Items).toEqual([{ pk: "acct_1#wh_2", id: "dlv_1", parkKey: "acct_1#wh_2", parkSort: "2026-01-01T00:00:00.000Z#dlv_1", message: "m" }]);
});

test("a rebuild cut short after the old table was deleted resumes from its copy on the next start", async () => {
  // What a crash between the delete and the refill leaves: the copy alone.
  await keysOnly("cut-subscriptions-rebuilding", "tenantId", "id");
  await doc().send(new PutCommand({ TableName: "cut-subscriptions-rebuilding", Item: { tenantId: "acct_1", id: "wh_1", url: "https://example.com/a" } }));
  const { tables } = await createResources(sqs, db, { prefix: "cut" });
  expect(await shape(tables.subscriptions)).toEqual(EXPECTED.subscriptions);
  expect((await doc().send(new GetCommand({ TableName: tables.subscriptions, Key: { tenantId: "acct_1", id: "wh_1" } }))).Item).toEqual({
    tenantId: "acct_1",
    id: "wh_1",
    url: "https://example.com/a",
  });
  expect((await tableNames()).filter((n) => n.startsWith("cut-") && n.includes("rebuilding"))).toEqual([]);
});
