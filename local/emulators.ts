import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import {
  type AttributeDefinition,
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  type TableDescription,
  UpdateTimeToLiveCommand,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import dynalite from "dynalite";
import { buildApp } from "fauxqs";
// fauxqs's own starter listens on 0.0.0.0 whatever host it is given; its app is built here instead,
// with the persistence its starter would wire (these classes are not in the package's exports).
import { PersistenceManager } from "../node_modules/fauxqs/dist/persistence.js";
import { S3Store } from "../node_modules/fauxqs/dist/s3/s3Store.js";
import { SnsStore } from "../node_modules/fauxqs/dist/sns/snsStore.js";
import { SqsStore } from "../node_modules/fauxqs/dist/sqs/sqsStore.js";
import { MAX_MESSAGE_BYTES, QUEUE, TABLES, type TableName } from "#core/settings.ts";
import { type IndexSchema, keyAttributes, type TableSchema, tableSchema } from "#core/table-schema.ts";
import { startGuard, type EmulatorCredentials, type GuardOptions } from "./emulator-guard.ts";
import { localKms } from "./kms.ts";
import type { EmulatorEndpoints } from "./state-file.ts";

/**
 * The embedded AWS stand-ins: fauxqs speaks the SQS wire protocol, dynalite DynamoDB's, and
 * local/kms.ts the two KMS operations that seal signing secrets. None listens: one guard server on
 * 127.0.0.1 (local/emulator-guard.ts) checks every request's SigV4 signature against credentials
 * made for this run, refuses browsers, and hands what it accepts to the stand-in's request handler
 * in this process. With a state dir they persist to disk (in a directory only this user can
 * enter), so a restart keeps everything, the KMS master key included.
 */
export interface Emulators {
  /** The one loopback URL all three answer on (SQS, DynamoDB and KMS alike), with the credentials it takes. */
  endpoints: EmulatorEndpoints & { kms: string };
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  credentials: EmulatorCredentials;
  stop(): Promise<void>;
}

export const LOCAL_REGION = "us-east-1";

/** Fresh credentials for one run of the emulators: only the processes given them can call in. */
export function newEmulatorCredentials(): EmulatorCredentials {
  return { accessKeyId: `AKIALOCAL${randomBytes(8).toString("hex").toUpperCase()}`, secretAccessKey: randomBytes(30).toString("base64url") };
}

export interface EmulatorOptions {
  /** Where to persist (default: in memory). Created, or narrowed, to mode 0700. */
  stateDir?: string;
  credentials?: EmulatorCredentials;
  /** See GuardOptions.rewriteBody (the benchmark's capacity count). */
  rewriteBody?: GuardOptions["rewriteBody"];
}

export async function startEmulators(o: EmulatorOptions = {}): Promise<Emulators> {
  const credentials = o.credentials ?? newEmulatorCredentials();
  const dirs = o.stateDir ? { sqs: join(o.stateDir, "sqs"), dynamodb: join(o.stateDir, "dynamodb") } : undefined;
  if (dirs) for (const dir of [o.stateDir!, dirs.sqs, dirs.dynamodb]) privateDir(dir);

  const sqs = await fauxqsApp(dirs?.sqs);
  const ddb = dynaliteServer(dirs?.dynamodb);
  const kms = localKms({ stateDir: o.stateDir });
  const guard = await startGuard({
    credentials,
    rewriteBody: o.rewriteBody,
    services: [
      { signingName: "sqs", targetPrefixes: ["AmazonSQS"], handler: (req, res) => sqs.server.emit("request", req, res) },
      { signingName: "dynamodb", targetPrefixes: ["DynamoDB_20120810"], handler: (req, res) => ddb.server.emit("request", req, res) },
      kms.service,
    ],
  });
  const endpoints = { sqs: guard.url, dynamodb: guard.url, kms: guard.url, credentials };
  return {
    endpoints,
    sqsEndpoint: guard.url,
    dynamodbEndpoint: guard.url,
    credentials,
    async stop() {
      await guard.close();
      await sqs.close();
      await ddb.close();
    },
  };
}

/** mkdir -p, then mode 0700 (also for a directory an older version left world-readable). */
function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** fauxqs's Fastify app, ready and never listening; with dataDir, loaded from and saved to SQLite there. */
async function fauxqsApp(dataDir?: string) {
  const stores = { sqsStore: new SqsStore(), snsStore: new SnsStore(), s3Store: new S3Store() };
  const persistence = dataDir ? new PersistenceManager(dataDir) : undefined;
  if (persistence) {
    persistence.load(stores.sqsStore, stores.snsStore, stores.s3Store);
    stores.sqsStore.persistence = persistence;
    stores.snsStore.persistence = persistence;
    stores.s3Store.persistence = persistence;
    for (const queue of stores.sqsStore.allQueues()) queue.persistence = persistence;
  }
  const app = buildApp({ logger: false, stores });
  if (persistence) app.addHook("preClose", () => persistence.close());
  await app.ready();
  return { server: app.server, close: () => app.close() };
}

interface DynaliteStore {
  db: { close(cb: (err?: Error) => void): void };
}

/**
 * dynalite's server, never listening, and its store. dynalite closes its store only from its
 * server's close(), which fails on a server that never listened; the store is caught as dynalite
 * creates it (synchronously, through its db module) so that stop() can close it.
 */
function dynaliteServer(path?: string) {
  const dbModule = createRequire(import.meta.url)("dynalite/db") as { create(options: unknown): DynaliteStore };
  const create = dbModule.create;
  let store: DynaliteStore | undefined;
  dbModule.create = (options) => (store = create(options));
  let server;
  try {
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path ? { path } : {}) });
  } finally {
    dbModule.create = create;
  }
  if (!store) throw new Error("dynalite did not create its store through dynalite/db");
  const opened = store;
  return {
    server,
    close: () => new Promise<void>((resolve, reject) => opened.db.close((err) => (err ? reject(err) : resolve()))),
  };
}

export interface LocalResources {
  tables: Record<TableName, string>;
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
  dlqArn: string;
  /** The slow lane's queue (settings SLOW_LANE). */
  slowQueueUrl: string;
  slowQueueArn: string;
}

/** Creates the queues and tables from the same settings the CDK stack uses; safe to run again. */
export async function createResources(
  sqs: SQSClient,
  db: DynamoDBClient,
  { prefix = "rk-webhooks", visibilityTimeoutSeconds = QUEUE.visibilityTimeoutSeconds } = {},
): Promise<LocalResources> {
  const dlq = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${prefix}-dlq`,
      Attributes: { MessageRetentionPeriod: String(QUEUE.retentionSeconds), MaximumMessageSize: String(MAX_MESSAGE_BYTES) },
    }),
  );
  const dlqArn = await queueArn(sqs, dlq.QueueUrl!);
  // The delivery queue and the slow lane's, alike (the stack makes both the same way).
  const deliveryQueue = (name: string) =>
    sqs.send(
      new CreateQueueCommand({
        QueueName: name,
        Attributes: {
          VisibilityTimeout: String(visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(QUEUE.retentionSeconds),
          // As the stack sets it (fauxqs's default is 1 MiB, AWS's 256 KiB).
          MaximumMessageSize: String(MAX_MESSAGE_BYTES),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: QUEUE.maxReceiveCount }),
        },
      }),
    );
  const queue = await deliveryQueue(`${prefix}-deliveries`);
  const slow = await deliveryQueue(`${prefix}-deliveries-slow`);
  const tables = {
    subscriptions: `${prefix}-subscriptions`,
    events: `${prefix}-events`,
    deliveries: `${prefix}-deliveries`,
    portalSessions: `${prefix}-portal-sessions`,
  } satisfies Record<TableName, string>;
  for (const name of Object.keys(tables) as TableName[]) await createTable(db, tables[name], name);
  return {
    tables,
    queueUrl: queue.QueueUrl!,
    queueArn: await queueArn(sqs, queue.QueueUrl!),
    dlqUrl: dlq.QueueUrl!,
    dlqArn,
    slowQueueUrl: slow.QueueUrl!,
    slowQueueArn: await queueArn(sqs, slow.QueueUrl!),
  };
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return res.Attributes!.QueueArn!;
}

/** An index of TABLES as DynamoDB's API takes it (the stack builds the same from the same definition). */
function indexInput(index: IndexSchema): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: "HASH" },
      { AttributeName: index.sortKey, KeyType: "RANGE" },
    ],
    Projection: index.nonKeyAttributes ? { ProjectionType: "INCLUDE", NonKeyAttributes: [...index.nonKeyAttributes] } : { ProjectionType: "ALL" },
  };
}

const stringAttributes = (names: readonly string[]): AttributeDefinition[] => names.map((AttributeName) => ({ AttributeName, AttributeType: "S" }));

async function untilActive(db: DynamoDBClient, tableName: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const t = await db.send(new DescribeTableCommand({ TableName: tableName }));
    const indexes = t.Table?.GlobalSecondaryIndexes ?? [];
    if (t.Table?.TableStatus === "ACTIVE" && indexes.every((g) => g.IndexStatus === undefined || g.IndexStatus === "ACTIVE")) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The table as TABLES defines it: keys, attribute definitions, every index. */
function tableInput(tableName: string, schema: TableSchema): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    KeySchema: [
      { AttributeName: schema.partitionKey, KeyType: "HASH" },
      ...(schema.sortKey ? [{ AttributeName: schema.sortKey, KeyType: "RANGE" as const }] : []),
    ],
    AttributeDefinitions: stringAttributes(keyAttributes(schema)),
    ...(schema.indexes.length ? { GlobalSecondaryIndexes: schema.indexes.map(indexInput) } : {}),
  };
}

/** The table's description, or undefined if there is no such table. */
async function describe(db: DynamoDBClient, tableName: string): Promise<TableDescription | undefined> {
  try {
    return (await db.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

const hasIndexes = (table: TableDescription, schema: TableSchema) =>
  schema.indexes.every((i) => (table.GlobalSecondaryIndexes ?? []).some((g) => g.IndexName === i.name));

async function createTable(db: DynamoDBClient, tableName: string, kind: TableName): Promise<void> {
  const schema = tableSchema(kind);
  const rebuilding = `${tableName}${REBUILD_SUFFIX}`;
  const existing = await describe(db, tableName);
  if (existing && hasIndexes(existing, schema) && !(await describe(db, rebuilding))) {
    await enableTtl(db, tableName);
    return;
  }
  if (existing || (await describe(db, rebuilding))) await rebuild(db, tableName, schema);
  else {
    try {
      await db.send(new CreateTableCommand(tableInput(tableName, schema)));
    } catch (err) {
      // Created meanwhile by another start: as good.
      if (!(err instanceof ResourceInUseException)) throw err;
    }
  }
  await untilActive(db, tableName);
  await enableTtl(db, tableName);
}

/** Suffix of the copy a rebuild keeps while it recreates a table. */
const REBUILD_SUFFIX = "-rebuilding";

/**
 * State kept from before an index existed gets it. dynalite cannot add an index to a table
 * (UpdateTable's index creation is not implemented), so the table is rebuilt: copied aside, deleted,
 * created with every index of TABLES, and filled again from the copy. Each step can be resumed: a
 * start after a crash finds the copy and carries on, so local state is never lost half-way.
 * Local development state only (small): the copy is a Scan, which nothing on AWS does.
 */
async function rebuild(db: DynamoDBClient, tableName: string, schema: TableSchema): Promise<void> {
  const copy = `${tableName}${REBUILD_SUFFIX}`;
  let original = await describe(db, tableName);
  if (original && !hasIndexes(original, schema)) {
    // The original is whole: (re)make the copy from it, then delete it.
    if (await describe(db, copy)) await db.send(new DeleteTableCommand({ TableName: copy }));
    await db.send(new CreateTableCommand(tableInput(copy, { partitionKey: schema.partitionKey, sortKey: schema.sortKey, indexes: [] })));
    await untilActive(db, copy);
    await copyItems(db, tableName, copy);
    await db.send(new DeleteTableCommand({ TableName: tableName }));
    original = undefined;
  }
  if (!original) {
    await db.send(new CreateTableCommand(tableInput(tableName, schema)));
    await untilActive(db, tableName);
  }
  // The copy is whole (it was made before the original was deleted): fill the new table from it.
  await copyItems(db, copy, tableName);
  await db.send(new DeleteTableCommand({ TableName: copy }));
}

/** Every item of `from` put into `to` (puts: a repeated copy changes nothing). */
async function copyItems(db: DynamoDBClient, from: string, to: string): Promise<void> {
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await db.send(new ScanCommand({ TableName: from, ExclusiveStartKey: start }));
    const items = page.Items ?? [];
    for (let i = 0; i < items.length; i += 25) {
      let pending: WriteRequest[] = items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
      while (pending.length) {
        const res = await db.send(new BatchWriteItemCommand({ RequestItems: { [to]: pending } }));
        pending = res.UnprocessedItems?.[to] ?? [];
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
}

/**
 * TTL on `TABLES.ttlAttribute` for every table, as the stack sets it (events, deliveries, sessions,
 * and the subscriptions table's rate windows expire through it).
 */
async function enableTtl(db: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await db.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: TABLES.ttlAttribute } }));
  } catch {
    // dynalite does not implement TTL; expiry is AWS's job, and local state is for development.
  }
}
