import { gunzipSync, gzipSync } from "node:zlib";
import { DynamoDBClient, type DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { deliveryIdBounds } from "../ids.ts";
import type { Attempt, DeliveryRecord, DeliveryStatus, StoredEvent, Subscription } from "../model.ts";
import type {
  AttemptWrite,
  DeliveryLog,
  DeliveryPage,
  DeliveryQuery,
  EventStore,
  SubscriptionChanges,
  SubscriptionStore,
} from "../ports.ts";
import { DELIVERY, TABLES } from "../settings.ts";

/**
 * DynamoDB adapters of the core's ports. Keys (settings.TABLES):
 *   subscriptions  tenantId / id                       list by tenant, get one
 *   events         pk = tenantId#eventId               idempotency, replay (TTL)
 *   deliveries     pk = tenantId#webhookId / id=dlv_…  log newest first, one with attempts (TTL)
 */
export function documentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** BatchGetItem with the retry of unprocessed keys that DynamoDB asks for under load. */
async function batchGet(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, string>[],
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  // DynamoDB refuses a BatchGetItem naming a key twice ("Provided list of item keys contains duplicates").
  const unique = [...new Map(keys.map((k) => [JSON.stringify(Object.entries(k).sort()), k])).values()];
  for (const part of chunk(unique, 100)) {
    let pending: Record<string, unknown>[] | undefined = [...part];
    for (let round = 0; pending && pending.length > 0; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** round, 1_000)));
      const res = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ConsistentRead: true } } }));
      out.push(...((res.Responses?.[table] ?? []) as Record<string, unknown>[]));
      pending = res.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined;
      if (round > 8 && pending?.length) throw new Error(`BatchGetItem left ${pending.length} keys unprocessed`);
    }
  }
  return out;
}

const epochSeconds = (ms: number) => Math.floor(ms / 1000);

export class DynamoSubscriptionStore implements SubscriptionStore {
  constructor(private readonly db: DynamoDBDocumentClient, private readonly table: string) {}

  async listByTenant(tenantId: string): Promise<Subscription[]> {
    const items: Subscription[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "tenantId = :t",
          ExpressionAttributeValues: { ":t": tenantId },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((res.Items ?? []) as Subscription[]));
      start = res.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async get(tenantId: string, id: string): Promise<Subscription | undefined> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { tenantId, id }, ConsistentRead: true }));
    return res.Item as Subscription | undefined;
  }

  async getMany(keys: readonly { tenantId: string; id: string }[]): Promise<Subscription[]> {
    if (keys.length === 0) return [];
    return (await batchGet(this.db, this.table, keys.map(({ tenantId, id }) => ({ tenantId, id })))) as unknown as Subscription[];
  }

  async count(tenantId: string): Promise<number> {
    const res = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "tenantId = :t",
        ExpressionAttributeValues: { ":t": tenantId },
        Select: "COUNT",
      }),
    );
    return res.Count ?? 0;
  }

  async create(sub: Subscription): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: sub, ConditionExpression: "attribute_not_exists(id)" }),
    );
  }

  async update(tenantId: string, id: string, changes: SubscriptionChanges): Promise<Subscription | undefined> {
    const set: string[] = [];
    const remove: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      if (value === null) remove.push(`#${field}`);
      else {
        set.push(`#${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    if (set.length === 0 && remove.length === 0) return this.get(tenantId, id);
    const expression = [set.length ? `SET ${set.join(", ")}` : "", remove.length ? `REMOVE ${remove.join(", ")}` : ""].join(" ");
    try {
      const res = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId, id },
          UpdateExpression: expression,
          ConditionExpression: "attribute_exists(id)",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
          ReturnValues: "ALL_NEW",
        }),
      );
      return res.Attributes as Subscription;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const res = await this.db.send(
      new DeleteCommand({ TableName: this.table, Key: { tenantId, id }, ReturnValues: "ALL_OLD" }),
    );
    return res.Attributes !== undefined;
  }
}

interface EventItem extends Omit<StoredEvent, "payload"> {
  pk: string;
  payloadGz: Uint8Array;
  expiresAt: number;
}

export class DynamoEventStore implements EventStore {
  constructor(private readonly db: DynamoDBDocumentClient, private readonly table: string) {}

  private static key(tenantId: string, id: string): string {
    return `${tenantId}#${id}`;
  }

  async putIfAbsent(event: StoredEvent, windowStartMs: number): Promise<StoredEvent | undefined> {
    const { payload, ...rest } = event;
    const item: EventItem = {
      ...rest,
      pk: DynamoEventStore.key(event.tenantId, event.id),
      // Stored once per event, compressed: JSON compresses 3–10×, and write units are per KB.
      payloadGz: gzipSync(payload),
      // Kept as long as its deliveries, so any delivery in the log can be replayed.
      expiresAt: epochSeconds(event.acceptedAt) + DELIVERY.retentionSeconds,
    };
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: "attribute_not_exists(pk) OR acceptedAt < :windowStart",
          ExpressionAttributeValues: { ":windowStart": windowStartMs },
        }),
      );
      return undefined;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const existing = await this.get(event.tenantId, event.id);
      if (!existing) throw new Error(`event ${event.id} vanished between the conditional put and the read`);
      return existing;
    }
  }

  async remove(tenantId: string, id: string, acceptedAt: number): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: DynamoEventStore.key(tenantId, id) },
          ConditionExpression: "acceptedAt = :acceptedAt",
          ExpressionAttributeValues: { ":acceptedAt": acceptedAt },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async get(tenantId: string, id: string): Promise<StoredEvent | undefined> {
    const res = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: DynamoEventStore.key(tenantId, id) }, ConsistentRead: true }),
    );
    if (!res.Item) return undefined;
    const { pk: _pk, payloadGz, expiresAt: _exp, ...rest } = res.Item as EventItem;
    return { ...rest, payload: gunzipSync(payloadGz).toString("utf8") };
  }
}

interface DeliveryItem extends DeliveryRecord {
  pk: string;
  expiresAt: number;
  /** pk#status while the delivery is not `succeeded`: the key of the sparse status index. */
  statusKey?: string;
  /** The latest attempt, once attempts overflow the inline list. */
  lastAttempt?: Attempt;
}

const deliveryPk = (tenantId: string, webhookId: string) => `${tenantId}#${webhookId}`;
/** The partition of a delivery's attempts beyond the inline ones: one per delivery, spread evenly. */
const attemptsPk = (tenantId: string, webhookId: string, deliveryId: string) => `${tenantId}#${webhookId}#${deliveryId}`;
const attemptSk = (n: number) => `attempt#${String(n).padStart(6, "0")}`;
const STATUS_INDEX = TABLES.deliveries.statusIndex;
/** Statuses in the sparse index; `succeeded` (the bulk) is read from the table itself. */
export const INDEXED_STATUSES: readonly DeliveryStatus[] = ["pending", "failed", "skipped"];
const statusKey = (pk: string, status: DeliveryStatus) => (INDEXED_STATUSES.includes(status) ? `${pk}#${status}` : undefined);

function toRecord(item: Record<string, unknown>): DeliveryRecord {
  const { pk: _pk, expiresAt: _exp, statusKey: _sk, lastAttempt, ...rest } = item as unknown as DeliveryItem;
  const attempts = rest.attempts ?? [];
  // A list shows the last attempt: the inline ones, then the latest if it is not among them.
  const withLast = lastAttempt && !attempts.some((a) => a.n === lastAttempt.n) ? [...attempts, lastAttempt] : attempts;
  return { ...rest, attempts: withLast, roundStart: rest.roundStart ?? 0 };
}

const encodeCursor = (key: Record<string, unknown>) => Buffer.from(JSON.stringify({ pk: key.pk, id: key.id })).toString("base64url");

export function decodeCursor(cursor: string): Record<string, unknown> | undefined {
  try {
    const key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    return typeof key?.pk === "string" && typeof key?.id === "string" ? { pk: key.pk, id: key.id } : undefined;
  } catch {
    return undefined;
  }
}

/** Pages of one call that the status filter of `succeeded` may read (the index serves the others). */
const MAX_FILTERED_PAGES = 10;

export class DynamoDeliveryLog implements DeliveryLog {
  constructor(private readonly db: DynamoDBDocumentClient, private readonly table: string) {}

  async getMany(keys: readonly { tenantId: string; webhookId: string; id: string }[]): Promise<DeliveryRecord[]> {
    if (keys.length === 0) return [];
    const items = await batchGet(this.db, this.table, keys.map((k) => ({ pk: deliveryPk(k.tenantId, k.webhookId), id: k.id })));
    return items.map(toRecord);
  }

  /** One delivery with every attempt: the item, and its attempt items when there are more than the inline ones. */
  async get(tenantId: string, webhookId: string, id: string): Promise<DeliveryRecord | undefined> {
    const res = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: deliveryPk(tenantId, webhookId), id }, ConsistentRead: true }),
    );
    if (!res.Item) return undefined;
    const record = toRecord(res.Item);
    const inline = ((res.Item as DeliveryItem).attempts ?? []).length;
    if (record.attemptCount <= inline) return record;
    const more: Attempt[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": attemptsPk(tenantId, webhookId, id) },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) more.push((item as { attempt: Attempt }).attempt);
      start = page.LastEvaluatedKey;
    } while (start);
    const byN = new Map<number, Attempt>();
    for (const a of [...record.attempts, ...more]) byN.set(a.n, a);
    return { ...record, attempts: [...byN.values()].sort((a, b) => a.n - b.n) };
  }

  /**
   * Newest first. `pending`, `failed` and `skipped` are read from the sparse status index (the keys,
   * then the items with one BatchGetItem), so a webhook with millions of succeeded deliveries costs
   * no more than its page; `succeeded` and no filter read the table, a bounded number of pages per call.
   */
  async list(tenantId: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const pk = deliveryPk(tenantId, webhookId);
    const bounds = deliveryIdBounds(query.sinceMs ?? 0, query.untilMs ?? 281474976710655);
    const start = query.cursor ? decodeCursor(query.cursor) : undefined;
    if (query.status && INDEXED_STATUSES.includes(query.status)) {
      const sk = statusKey(pk, query.status)!;
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: STATUS_INDEX.name,
          KeyConditionExpression: "#sk = :sk AND id BETWEEN :lo AND :hi",
          ExpressionAttributeNames: { "#sk": STATUS_INDEX.partitionKey },
          ExpressionAttributeValues: { ":sk": sk, ":lo": bounds.lowest, ":hi": bounds.highest },
          ScanIndexForward: false,
          // One more than the page: a cursor only when there is more.
          Limit: query.limit + 1,
          ExclusiveStartKey: start ? { ...start, [STATUS_INDEX.partitionKey]: sk } : undefined,
        }),
      );
      const found = (res.Items ?? []).map((i) => i.id as string);
      const ids = found.slice(0, query.limit);
      const cursor = found.length > query.limit ? encodeCursor({ pk, id: ids[ids.length - 1] }) : res.LastEvaluatedKey ? encodeCursor(res.LastEvaluatedKey) : undefined;
      const records = new Map((await this.getMany(ids.map((id) => ({ tenantId, webhookId, id })))).map((r) => [r.id, r]));
      // The index is eventually consistent: a delivery whose status just changed is left out.
      const items = ids.map((id) => records.get(id)).filter((r): r is DeliveryRecord => r !== undefined && r.status === query.status);
      return { items, cursor };
    }
    const items: DeliveryRecord[] = [];
    let from = start;
    for (let page = 0; page < MAX_FILTERED_PAGES; page++) {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk AND id BETWEEN :lo AND :hi",
          FilterExpression: query.status ? "#status = :status" : undefined,
          ExpressionAttributeNames: query.status ? { "#status": "status" } : undefined,
          ExpressionAttributeValues: { ":pk": pk, ":lo": bounds.lowest, ":hi": bounds.highest, ...(query.status ? { ":status": query.status } : {}) },
          ScanIndexForward: false,
          Limit: query.limit - items.length + (query.status ? 50 : 0),
          ExclusiveStartKey: from,
        }),
      );
      for (const item of res.Items ?? []) {
        if (items.length === query.limit) return { items, cursor: encodeCursor({ pk, id: items[items.length - 1].id }) };
        items.push(toRecord(item));
      }
      from = res.LastEvaluatedKey;
      if (!from) return { items };
      if (items.length === query.limit) return { items, cursor: encodeCursor({ pk, id: items[items.length - 1].id }) };
    }
    return { items, cursor: from ? encodeCursor(from) : undefined };
  }

  async createMany(writes: readonly AttemptWrite[]): Promise<void> {
    // One item per delivery: DynamoDB refuses a BatchWriteItem naming a key twice.
    const unique = [...new Map(writes.map((w) => [`${w.message.tenantId}#${w.message.webhookId}#${w.message.deliveryId}`, w])).values()];
    const items = unique.map((w) => {
      const m = w.message;
      const pk = deliveryPk(m.tenantId, m.webhookId);
      return {
        pk,
        id: m.deliveryId,
        tenantId: m.tenantId,
        webhookId: m.webhookId,
        eventId: m.eventId,
        eventType: m.eventType,
        status: w.status,
        statusKey: statusKey(pk, w.status),
        roundStart: w.roundStart,
        createdAt: w.nowIso,
        updatedAt: w.nowIso,
        expiresAt: epochSeconds(Date.parse(w.nowIso)) + DELIVERY.retentionSeconds,
        attemptCount: w.attempt ? 1 : 0,
        attempts: w.attempt ? [w.attempt] : [],
        round: w.round,
        deadLetteredAt: w.deadLetteredAt,
        nextAttemptAt: w.nextAttemptAt,
        reason: w.reason,
        replayOf: m.replayOf,
      };
    });
    for (const part of chunk(items, 25)) {
      let pending: Record<string, unknown>[] | undefined = part.map((Item) => ({ PutRequest: { Item } }));
      for (let round = 0; pending && pending.length > 0; round++) {
        if (round > 0) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** round, 1_000)));
        if (round > 8) throw new Error(`BatchWriteItem left ${pending.length} items unprocessed`);
        const res = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: pending as never } }));
        pending = res.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined;
      }
    }
  }

  /**
   * One update of the delivery item per attempt. The first `DELIVERY.inlineAttempts` attempts are
   * appended to it; each later one is an item of its own (written first) and the delivery item keeps
   * only the latest as `lastAttempt`, so the item stays small whatever the rounds.
   */
  async write(w: AttemptWrite): Promise<void> {
    const m = w.message;
    const pk = deliveryPk(m.tenantId, m.webhookId);
    const sk = statusKey(pk, w.status);
    const set: string[] = [
      "tenantId = :tenantId",
      "webhookId = :webhookId",
      "eventId = :eventId",
      "eventType = :eventType",
      "#status = :status",
      "roundStart = :roundStart",
      "updatedAt = :now",
      "createdAt = if_not_exists(createdAt, :now)",
      "expiresAt = :expiresAt",
    ];
    const values: Record<string, unknown> = {
      ":tenantId": m.tenantId,
      ":webhookId": m.webhookId,
      ":eventId": m.eventId,
      ":eventType": m.eventType,
      ":status": w.status,
      ":roundStart": w.roundStart,
      ":now": w.nowIso,
      ":expiresAt": epochSeconds(Date.parse(w.nowIso)) + DELIVERY.retentionSeconds,
    };
    const remove: string[] = [];
    if (w.attempt) {
      set.push("attemptCount = if_not_exists(attemptCount, :zero) + :one");
      Object.assign(values, { ":zero": 0, ":one": 1 });
      if ((w.previousAttempts ?? 0) < DELIVERY.inlineAttempts) {
        set.push("attempts = list_append(if_not_exists(attempts, :none), :attempt)");
        Object.assign(values, { ":none": [], ":attempt": [w.attempt] });
      } else {
        await this.db.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: attemptsPk(m.tenantId, m.webhookId, m.deliveryId), id: attemptSk(w.attempt.n), attempt: w.attempt, expiresAt: values[":expiresAt"] },
          }),
        );
        set.push("lastAttempt = :attempt");
        values[":attempt"] = w.attempt;
      }
    } else {
      set.push("attemptCount = if_not_exists(attemptCount, :zero)");
      values[":zero"] = 0;
    }
    const optional = { round: w.round, deadLetteredAt: w.deadLetteredAt, nextAttemptAt: w.nextAttemptAt, reason: w.reason, statusKey: sk };
    for (const [field, value] of Object.entries(optional)) {
      if (value === undefined) remove.push(field);
      else {
        set.push(`${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    if (m.replayOf) {
      set.push("replayOf = :replayOf");
      values[":replayOf"] = m.replayOf;
    }
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk, id: m.deliveryId },
        UpdateExpression: `SET ${set.join(", ")}${remove.length ? ` REMOVE ${remove.join(", ")}` : ""}`,
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: values,
      }),
    );
  }
}
