import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, UpdateTableCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
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
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${prefix}-deliveries`,
      Attributes: {
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(QUEUE.retentionSeconds),
        // As the stack sets it (fauxqs's default is 1 MiB, AWS's 256 KiB).
        MaximumMessageSize: String(MAX_MESSAGE_BYTES),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: QUEUE.maxReceiveCount }),
      },
    }),
  );
  const tables = {
    subscriptions: `${prefix}-subscriptions`,
    events: `${prefix}-events`,
    deliveries: `${prefix}-deliveries`,
    portalSessions: `${prefix}-portal-sessions`,
  } satisfies Record<TableName, string>;
  for (const name of Object.keys(tables) as TableName[]) await createTable(db, tables[name], name);
  return { tables, queueUrl: queue.QueueUrl!, queueArn: await queueArn(sqs, queue.QueueUrl!), dlqUrl: dlq.QueueUrl!, dlqArn };
}

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }));
  return res.Attributes!.QueueArn!;
}

/** The status index of the deliveries table, as settings.TABLES defines it (the stack builds the same). */
function statusIndex() {
  const index = TABLES.deliveries.statusIndex;
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.partitionKey, KeyType: "HASH" as const },
      { AttributeName: index.sortKey, KeyType: "RANGE" as const },
    ],
    Projection: { ProjectionType: "INCLUDE" as const, NonKeyAttributes: [...index.nonKeyAttributes] },
  };
}

async function createTable(db: DynamoDBClient, tableName: string, kind: TableName): Promise<void> {
  const keys = TABLES[kind] as { partitionKey: string; sortKey?: string };
  const indexed = kind === "deliveries";
  const indexAttribute = { AttributeName: TABLES.deliveries.statusIndex.partitionKey, AttributeType: "S" as const };
  try {
    await db.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [
          { AttributeName: keys.partitionKey, KeyType: "HASH" },
          ...(keys.sortKey ? [{ AttributeName: keys.sortKey, KeyType: "RANGE" as const }] : []),
        ],
        AttributeDefinitions: [
          { AttributeName: keys.partitionKey, AttributeType: "S" },
          ...(keys.sortKey ? [{ AttributeName: keys.sortKey, AttributeType: "S" as const }] : []),
          ...(indexed ? [indexAttribute] : []),
        ],
        ...(indexed ? { GlobalSecondaryIndexes: [statusIndex()] } : {}),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
    // State kept from before the index existed: add it.
    if (indexed) {
      const t = await db.send(new DescribeTableCommand({ TableName: tableName }));
      if (!t.Table?.GlobalSecondaryIndexes?.some((g) => g.IndexName === TABLES.deliveries.statusIndex.name)) {
        await db.send(
          new UpdateTableCommand({
            TableName: tableName,
            AttributeDefinitions: [indexAttribute, { AttributeName: "id", AttributeType: "S" }],
            GlobalSecondaryIndexUpdates: [{ Create: statusIndex() }],
          }),
        );
      }
    }
    return;
  }
  for (let i = 0; i < 50; i++) {
    const t = await db.send(new DescribeTableCommand({ TableName: tableName }));
    if (t.Table?.TableStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    await db.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: TABLES.ttlAttribute } }));
  } catch {
    // dynalite does not implement TTL; expiry is AWS's job, and local state is for development.
  }
}
