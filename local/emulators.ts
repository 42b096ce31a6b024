import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, UpdateTableCommand, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import dynalite from "dynalite";
import { startFauxqs } from "fauxqs";
import { QUEUE, TABLES, type TableName } from "#core/settings.ts";

/**
 * The embedded AWS stand-ins: fauxqs speaks the SQS wire protocol, dynalite DynamoDB's. Both run in
 * this process on 127.0.0.1; with a state dir they persist to disk, so a restart keeps everything.
 */
export interface Emulators {
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
export const LOCAL_REGION = "us-east-1";

export async function startEmulators(stateDir?: string): Promise<Emulators> {
  if (stateDir) mkdirSync(stateDir, { recursive: true });
  const sqs = await startFauxqs({ port: 0, host: "localhost", logger: false, ...(stateDir ? { dataDir: join(stateDir, "sqs") } : {}) });
  const ddb = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(stateDir ? { path: join(stateDir, "dynamodb") } : {}) });
  await new Promise<void>((resolve, reject) => ddb.once("error", reject).listen(0, "127.0.0.1", () => resolve()));
  const port = (ddb.address() as AddressInfo).port;
  return {
    sqsEndpoint: sqs.address,
    dynamodbEndpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await sqs.stop();
      await new Promise<void>((resolve) => ddb.close(() => resolve()));
    },
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
    new CreateQueueCommand({ QueueName: `${prefix}-dlq`, Attributes: { MessageRetentionPeriod: String(QUEUE.retentionSeconds) } }),
  );
  const dlqArn = await queueArn(sqs, dlq.QueueUrl!);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${prefix}-deliveries`,
      Attributes: {
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        MessageRetentionPeriod: String(QUEUE.retentionSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: QUEUE.maxReceiveCount }),
      },
    }),
  );
  const tables = {
    subscriptions: `${prefix}-subscriptions`,
    events: `${prefix}-events`,
    deliveries: `${prefix}-deliveries`,
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
