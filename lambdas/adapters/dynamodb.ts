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
import { decodeTime } from "ulid";
import { deliveryIdBounds } from "#core/ids.ts";
import type { Attempt, BatchMarker, DeliveryRecord, DeliveryStatus, StoredEvent, StoredSecret, Subscription } from "#core/model.ts";
import type {
  AttemptWrite,
  DeliveryLog,
  DeliveryPage,
  DeliveryQuery,
  EventStore,
  ParkedDelivery,
  ParkWrite,
  SubscriptionChanges,
  SubscriptionStore,
} from "#core/ports.ts";
import { InvalidCursor, StaleWrite } from "#core/ports.ts";
import { DELIVERY, TABLES } from "#core/settings.ts";
import { callUntilProcessed, chunk, DYNAMODB_RETRY } from "./batch-calls.ts";

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

/**
 * BatchGetItem with the retry of unprocessed keys that DynamoDB asks for under load. DynamoDB refuses
 * a request that names one key twice (two copies of one delivery in a batch do), so keys are unique.
 */
async function batchGet(db: DynamoDBDocumentClient, table: string, keys: readonly Record<string, string>[]): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  // DynamoDB refuses a BatchGetItem naming a key twice ("Provided list of item keys contains duplicates").
  const unique = [...new Map(keys.map((k) => [JSON.stringify(Object.entries(k).sort()), k])).values()];
  for (const part of chunk(unique, 100)) {
    await callUntilProcessed<Record<string, unknown>>(
      part,
      async (pending) => {
        const res = await db.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: [...pending], ConsistentRead: true } } }));
        out.push(...((res.Responses?.[table] ?? []) as Record<string, unknown>[]));
        return res.UnprocessedKeys?.[table]?.Keys;
      },
      DYNAMODB_RETRY,
      (left) => new Error(`BatchGetItem left ${left.length} keys unprocessed`),
    );
  }
  return out;
}

const epochSeconds = (ms: number) => Math.floor(ms / 1000);

/** Webhook ids start so; the tenant's slot item (`#webhooks`) sorts apart from them. */
const WEBHOOK_ID_PREFIX = "wh_";
const SLOTS_ID = "#webhooks";
/** A slot whose webhook is missing this long after its id was made belongs to a dead call (manage λ timeout: 25 s). */
const STALE_SLOT_MS = 5 * 60_000;

function webhookIdTime(id: string): number {
  try {
    return decodeTime(id.slice(WEBHOOK_ID_PREFIX.length));
  } catch {
    return 0;
  }
}

export class DynamoSubscriptionStore implements SubscriptionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async listByTenant(tenantId: string): Promise<Subscription[]> {
    const items: Subscription[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "tenantId = :t AND begins_with(id, :wh)",
          ExpressionAttributeValues: { ":t": tenantId, ":wh": WEBHOOK_ID_PREFIX },
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
    return (await batchGet(
      this.db,
      this.table,
      keys.map(({ tenantId, id }) => ({ tenantId, id })),
    )) as unknown as Subscription[];
  }

  /**
   * Creates the webhook if the tenant has fewer than `limit`. The tenant's slot item (`#webhooks`,
   * beside its webhooks) holds the set of its webhook ids; a slot is taken with one conditional
   * write (`size(ids) < limit`), so parallel creates cannot pass the limit together. DynamoDB would
   * allow a transaction of slot and webhook, but the local emulator has none: so the slot comes
   * first and the webhook second, and a slot whose webhook never appeared (a crash in between, or a
   * delete that died before freeing its slot) is freed by the next create that finds the tenant full.
   */
  async create(sub: Subscription, limit: number): Promise<boolean> {
    for (let round = 0; ; round++) {
      if (await this.takeSlot(sub.tenantId, sub.id, limit)) break;
      if (round >= 10) return false;
      const slots = await this.slots(sub.tenantId);
      if (slots === undefined) await this.initSlots(sub.tenantId);
      // Not full any more (the item was just created, or a slot freed): try again.
      else if (slots.length < limit) continue;
      else if (!(await this.freeStaleSlots(sub.tenantId, slots))) return false;
    }
    try {
      await this.db.send(new PutCommand({ TableName: this.table, Item: sub, ConditionExpression: "attribute_not_exists(id)" }));
    } catch (err) {
      await this.freeSlots(sub.tenantId, [sub.id]);
      throw err;
    }
    return true;
  }

  private async takeSlot(tenantId: string, id: string, limit: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId, id: SLOTS_ID },
          UpdateExpression: "ADD ids :id",
          ConditionExpression: "attribute_exists(v) AND (attribute_not_exists(ids) OR size(ids) < :limit)",
          ExpressionAttributeValues: { ":id": new Set([id]), ":limit": limit },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  private async slots(tenantId: string): Promise<string[] | undefined> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { tenantId, id: SLOTS_ID }, ConsistentRead: true }));
    return res.Item ? [...((res.Item.ids as Set<string> | undefined) ?? [])] : undefined;
  }

  /** A tenant's first slot item, holding the webhooks it already has (a table written before slots existed). */
  private async initSlots(tenantId: string): Promise<void> {
    const ids = (await this.listByTenant(tenantId)).map((s) => s.id);
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { tenantId, id: SLOTS_ID, v: 1, ...(ids.length ? { ids: new Set(ids) } : {}) },
          ConditionExpression: "attribute_not_exists(id)",
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  /** Frees the slots whose webhook does not exist and was begun (its id's time) long enough ago to be dead. */
  private async freeStaleSlots(tenantId: string, slots: readonly string[]): Promise<boolean> {
    const live = new Set((await this.listByTenant(tenantId)).map((s) => s.id));
    const before = Date.now() - STALE_SLOT_MS;
    const stale = slots.filter((id) => !live.has(id) && webhookIdTime(id) < before);
    if (stale.length) await this.freeSlots(tenantId, stale);
    return stale.length > 0;
  }

  private async freeSlots(tenantId: string, ids: readonly string[]): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId, id: SLOTS_ID },
        UpdateExpression: "DELETE ids :ids",
        ExpressionAttributeValues: { ":ids": new Set(ids) },
      }),
    );
  }

  async update(tenantId: string, id: string, changes: SubscriptionChanges, expect?: { newestSecret: StoredSecret }): Promise<Subscription | undefined> {
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
    let condition = "attribute_exists(id)";
    if (expect) {
      // The newest secret is first, and every rotation makes a new random one (sealed with a fresh
      // data key and IV): its stored form names the state read. Items from before sealing store `value`.
      const field = expect.newestSecret.sealed !== undefined ? "sealed" : "value";
      condition += " AND #secrets[0].#secretField = :newestSecret";
      names["#secrets"] = "secrets";
      names["#secretField"] = field;
      values[":newestSecret"] = expect.newestSecret[field];
    }
    try {
      const res = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId, id },
          UpdateExpression: expression,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
          ReturnValues: "ALL_NEW",
        }),
      );
      return res.Attributes as Subscription;
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      if (expect && (await this.get(tenantId, id))) throw new StaleWrite(`webhook ${id} changed since it was read`);
      return undefined;
    }
  }

  /** The webhook first, then its slot: a crash in between leaves a slot that the next full create frees. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    const res = await this.db.send(new DeleteCommand({ TableName: this.table, Key: { tenantId, id }, ReturnValues: "ALL_OLD" }));
    if (res.Attributes === undefined) return false;
    await this.freeSlots(tenantId, [id]);
    return true;
  }
}

interface EventItem extends Omit<StoredEvent, "payload"> {
  pk: string;
  payloadGz: Uint8Array;
  expiresAt: number;
}

export class DynamoEventStore implements EventStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private static key(tenantId: string, id: string): string {
    return `${tenantId}#${id}`;
  }

  private item(event: StoredEvent): EventItem {
    const { payload, ...rest } = event;
    return {
      ...rest,
      pk: DynamoEventStore.key(event.tenantId, event.id),
      // Stored once per event, compressed: JSON compresses 3–10×, and write units are per KB.
      payloadGz: gzipSync(payload),
      // Kept as long as its deliveries, so any delivery in the log can be replayed.
      expiresAt: epochSeconds(event.acceptedAt) + DELIVERY.retentionSeconds,
    };
  }

  /**
   * Events whose ids the ingest service made (no producer id): nothing else can hold their key, so
   * no condition, and BatchWriteItem (25 a request, a put's write units each) instead of a put each.
   */
  async putNew(events: readonly StoredEvent[]): Promise<void> {
    await Promise.all(
      chunk(events, 25).map((part) =>
        callUntilProcessed(
          part.map((e) => ({ PutRequest: { Item: this.item(e) } })),
          async (pending) => {
            const res = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: [...pending] } }));
            return res.UnprocessedItems?.[this.table] as typeof pending | undefined;
          },
          DYNAMODB_RETRY,
          (left) => new Error(`BatchWriteItem left ${left.length} events unprocessed`),
        ),
      ),
    );
  }

  async putIfAbsent(event: StoredEvent, windowStartMs: number): Promise<StoredEvent | undefined> {
    const item = this.item(event);
    // A refused batch may take its provisional event back between the failed put and the read: then
    // the id is free again, and the put is tried again.
    for (let round = 0; round < 5; round++) {
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
        if (existing) return existing;
      }
    }
    throw new Error(`event ${event.id} kept vanishing between the conditional put and the read`);
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
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: DynamoEventStore.key(tenantId, id) }, ConsistentRead: true }));
    if (!res.Item) return undefined;
    const { pk: _pk, payloadGz, expiresAt: _exp, ...rest } = res.Item as EventItem;
    return { ...rest, payload: gunzipSync(payloadGz).toString("utf8") };
  }

  /** Batch markers share the events table: `#batch#…` can be no event's key (tenant ids start with a letter or digit). */
  private static batchKey(token: string): string {
    return `#batch#${token}`;
  }

  async openBatch(token: string, openUntil: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: DynamoEventStore.batchKey(token), state: "open", openUntil, expiresAt: epochSeconds(openUntil) + 86_400 },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  }

  async batchMarker(token: string): Promise<BatchMarker | undefined> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: DynamoEventStore.batchKey(token) }, ConsistentRead: true }));
    if (!res.Item) return undefined;
    const item = res.Item as { state: BatchMarker["state"]; claimed?: Set<string>; openUntil: number };
    return { state: item.state, claimed: [...(item.claimed ?? [])], openUntil: item.openUntil };
  }

  async claimEvent(token: string, eventKey: string, nowMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: DynamoEventStore.batchKey(token) },
          UpdateExpression: "ADD claimed :key",
          ConditionExpression: "#state = :open AND openUntil > :now AND NOT contains(claimed, :one)",
          ExpressionAttributeNames: { "#state": "state" },
          ExpressionAttributeValues: { ":key": new Set([eventKey]), ":one": eventKey, ":open": "open", ":now": nowMs },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async commitBatch(token: string): Promise<readonly string[]> {
    const res = await this.db.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: DynamoEventStore.batchKey(token) },
        ConditionExpression: "#state = :open",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":open": "open" },
        ReturnValues: "ALL_OLD",
      }),
    );
    return [...((res.Attributes?.claimed as Set<string> | undefined) ?? [])];
  }

  async startRollback(token: string): Promise<readonly string[]> {
    const res = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: DynamoEventStore.batchKey(token) },
        UpdateExpression: "SET #state = :rollback",
        ConditionExpression: "#state = :open",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":open": "open", ":rollback": "rollback" },
        ReturnValues: "ALL_NEW",
      }),
    );
    return [...((res.Attributes?.claimed as Set<string> | undefined) ?? [])];
  }

  async closeBatch(token: string): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk: DynamoEventStore.batchKey(token) } }));
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
const PARKED_INDEX = TABLES.deliveries.parkedIndex;
const parkSort = (dueAt: string, id: string) => `${dueAt}#${id}`;
/** The attributes of a parked delivery: every write but `park` removes them. */
const PARK_FIELDS = ["parked", "parkedFor", PARKED_INDEX.partitionKey, PARKED_INDEX.sortKey, "dueAt", "windowEndsAt", "parkedPayloadGz"] as const;

/**
 * Where a query of the parked index starts after the position `after` (a parkSort; a reset cursor,
 * `!…`, sorts before them all: from the start). A GSI's start key names the table's key too.
 */
function startAfter(pk: string, after: string | undefined): Record<string, unknown> | undefined {
  if (after === undefined || after.startsWith("!")) return undefined;
  return { [PARKED_INDEX.partitionKey]: pk, [PARKED_INDEX.sortKey]: after, pk, id: after.slice(after.lastIndexOf("#") + 1) };
}

/** A parked item, as the release λ needs it to send the delivery again. */
function parkedDelivery(item: Record<string, unknown>): ParkedDelivery {
  const r = item as unknown as DeliveryItem & { parkedPayloadGz: Uint8Array; dueAt: string; windowEndsAt: string };
  return {
    message: {
      v: 1,
      deliveryId: r.id,
      tenantId: r.tenantId,
      webhookId: r.webhookId,
      eventId: r.eventId,
      eventType: r.eventType,
      payload: gunzipSync(r.parkedPayloadGz).toString("utf8"),
      ...(r.round ? { deadLetteredAt: r.round } : {}),
      ...(r.replayOf ? { replayOf: r.replayOf } : {}),
    },
    parkSort: parkSort(r.dueAt, r.id),
    dueAt: r.dueAt,
    windowEndsAt: r.windowEndsAt,
    attemptCount: r.attemptCount ?? 0,
    roundStart: r.roundStart ?? 0,
    round: r.round,
  };
}
/** The partition of a delivery's attempts beyond the inline ones: one per delivery, spread evenly. */
const attemptsPk = (tenantId: string, webhookId: string, deliveryId: string) => `${tenantId}#${webhookId}#${deliveryId}`;
const attemptSk = (n: number) => `attempt#${String(n).padStart(6, "0")}`;
const STATUS_INDEX = TABLES.deliveries.statusIndex;
/** Statuses in the sparse index; `succeeded` (the bulk) is read from the table itself. */
export const INDEXED_STATUSES: readonly DeliveryStatus[] = ["pending", "failed", "skipped"];
const statusKey = (pk: string, status: DeliveryStatus) => (INDEXED_STATUSES.includes(status) ? `${pk}#${status}` : undefined);

function toRecord(item: Record<string, unknown>): DeliveryRecord {
  const {
    pk: _pk,
    expiresAt: _exp,
    statusKey: _sk,
    lastAttempt,
    parkKey: _pkk,
    parkSort: _ps,
    parkedPayloadGz: _gz,
    ...rest
  } = item as unknown as DeliveryItem & Record<string, unknown>;
  const attempts = rest.attempts ?? [];
  // A list shows the last attempt: the inline ones, then the latest if it is not among them.
  const withLast = lastAttempt && !attempts.some((a) => a.n === lastAttempt.n) ? [...attempts, lastAttempt] : attempts;
  return { ...rest, attempts: withLast, roundStart: rest.roundStart ?? 0 };
}

/** A delivery-log cursor: the last key of a page (`pk`, `id`), base64url JSON. Opaque to the core. */
export const encodeCursor = (key: Record<string, unknown>) => Buffer.from(JSON.stringify({ pk: key.pk, id: key.id })).toString("base64url");

/** A log partition (`tenant#wh_…`) and a delivery id of a real ULID time: the only keys a page ends on. */
const CURSOR_PK = /^[A-Za-z0-9][A-Za-z0-9_.:-]*#wh_[0-9A-HJKMNP-TV-Z]{26}$/;
const CURSOR_ID = /^dlv_[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/**
 * The key of a cursor of the shape `list` returns, or undefined. A crafted key outside a query's
 * range would otherwise reach DynamoDB and fail there (a 500).
 */
export function decodeCursor(cursor: string): { pk: string; id: string } | undefined {
  try {
    const key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    return typeof key?.pk === "string" && CURSOR_PK.test(key.pk) && typeof key?.id === "string" && CURSOR_ID.test(key.id)
      ? { pk: key.pk, id: key.id }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Where a page of the log partition `pk` starts: the key of `cursor`, or InvalidCursor when it is not one of this partition. */
export function cursorKey(cursor: string, pk: string): { pk: string; id: string } {
  const key = decodeCursor(cursor);
  if (!key) throw new InvalidCursor("malformed");
  if (key.pk !== pk) throw new InvalidCursor("foreign");
  return key;
}

/** Pages of one call that the status filter of `succeeded` may read (the index serves the others). */
const MAX_FILTERED_PAGES = 10;

export class DynamoDeliveryLog implements DeliveryLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  isCursor(cursor: string): boolean {
    return decodeCursor(cursor) !== undefined;
  }

  async getMany(keys: readonly { tenantId: string; webhookId: string; id: string }[]): Promise<DeliveryRecord[]> {
    if (keys.length === 0) return [];
    const items = await batchGet(
      this.db,
      this.table,
      keys.map((k) => ({ pk: deliveryPk(k.tenantId, k.webhookId), id: k.id })),
    );
    return items.map(toRecord);
  }

  /** One delivery with every attempt: the item, and its attempt items when there are more than the inline ones. */
  async get(tenantId: string, webhookId: string, id: string): Promise<DeliveryRecord | undefined> {
    const res = await this.db.send(new GetCommand({ TableName: this.table, Key: { pk: deliveryPk(tenantId, webhookId), id }, ConsistentRead: true }));
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
    const start = query.cursor !== undefined ? cursorKey(query.cursor, pk) : undefined;
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
      const cursor =
        found.length > query.limit ? encodeCursor({ pk, id: ids[ids.length - 1] }) : res.LastEvaluatedKey ? encodeCursor(res.LastEvaluatedKey) : undefined;
      const records = new Map((await this.getMany(ids.map((id) => ({ tenantId, webhookId, id })))).map((r) => [r.id, r]));
      // The index is eventually consistent: a delivery whose status just changed is left out.
      const items = ids.map((id) => records.get(id)).filter((r): r is DeliveryRecord => r !== undefined && r.status === query.status);
      return { items, cursor };
    }
    const items: DeliveryRecord[] = [];
    let from: Record<string, unknown> | undefined = start;
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
    const items = writes.map((w) => {
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
    // DynamoDB refuses a request that names one key twice (two copies of one delivery, both
    // attempted in one batch, would): the later write of a key wins.
    const unique = [...new Map(items.map((item) => [`${item.pk}\u0000${item.id}`, item])).values()];
    for (const part of chunk(unique, 25)) {
      await callUntilProcessed<{ PutRequest: { Item: Record<string, unknown> } }>(
        part.map((Item) => ({ PutRequest: { Item } })),
        async (pending) => {
          const res = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.table]: [...pending] } }));
          return res.UnprocessedItems?.[this.table] as { PutRequest: { Item: Record<string, unknown> } }[] | undefined;
        },
        DYNAMODB_RETRY,
        (left) => new Error(`BatchWriteItem left ${left.length} items unprocessed`),
      );
    }
  }

  /**
   * One update of the delivery item per attempt. The first `DELIVERY.inlineAttempts` attempts are
   * appended to it; each later one is an item of its own (written first) and the delivery item keeps
   * only the latest as `lastAttempt`, so the item stays small whatever the rounds.
   */
  async write(w: AttemptWrite): Promise<void> {
    await this.update(w);
  }

  /**
   * Parks a delivery: the same update as an attempt's (with its attempt, if it had one), and the
   * fields that put it in the sparse `parked` index with the message's payload (compressed) to send
   * it again. Its `nextAttemptAt` gives way to `dueAt`.
   */
  async park(w: ParkWrite): Promise<void> {
    const m = w.message;
    await this.update(
      { ...w, status: "pending", nextAttemptAt: undefined },
      {
        parked: true,
        parkedFor: w.reason,
        [PARKED_INDEX.partitionKey]: deliveryPk(m.tenantId, m.webhookId),
        [PARKED_INDEX.sortKey]: parkSort(w.dueAt, m.deliveryId),
        dueAt: w.dueAt,
        windowEndsAt: w.windowEndsAt,
        parkedPayloadGz: gzipSync(m.payload),
      },
    );
  }

  async parked(tenantId: string, webhookId: string, o: { dueBy: string; limit: number; after?: string }): Promise<ParkedDelivery[]> {
    const out: ParkedDelivery[] = [];
    let start = startAfter(deliveryPk(tenantId, webhookId), o.after);
    do {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: PARKED_INDEX.name,
          KeyConditionExpression: "#pk = :pk AND #sort <= :bound",
          ExpressionAttributeNames: { "#pk": PARKED_INDEX.partitionKey, "#sort": PARKED_INDEX.sortKey },
          // Every id sorts before "~": all deliveries due at or before `dueBy`.
          ExpressionAttributeValues: { ":pk": deliveryPk(tenantId, webhookId), ":bound": `${o.dueBy}#~` },
          Limit: o.limit - out.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) out.push(parkedDelivery(item));
      start = res.LastEvaluatedKey;
    } while (start && out.length < o.limit);
    return out;
  }

  async nextDue(tenantId: string, webhookId: string, after?: string): Promise<string | undefined> {
    const res = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: PARKED_INDEX.name,
        KeyConditionExpression: "#pk = :pk",
        ExpressionAttributeNames: { "#pk": PARKED_INDEX.partitionKey, "#due": "dueAt" },
        ExpressionAttributeValues: { ":pk": deliveryPk(tenantId, webhookId) },
        ProjectionExpression: "#due",
        ExclusiveStartKey: startAfter(deliveryPk(tenantId, webhookId), after),
        Limit: 1,
      }),
    );
    return res.Items?.[0]?.dueAt as string | undefined;
  }

  private async update(w: AttemptWrite, parked?: Record<string, unknown>): Promise<void> {
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
    const optional: Record<string, unknown> = {
      round: w.round,
      deadLetteredAt: w.deadLetteredAt,
      nextAttemptAt: w.nextAttemptAt,
      reason: w.reason,
      statusKey: sk,
    };
    // Any other write takes the delivery out of the parked set.
    for (const field of PARK_FIELDS) optional[field] = parked?.[field];
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
