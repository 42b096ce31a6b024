import { deliveryIdBounds } from "#core/ids.ts";
import {
  releaseReset,
  type Attempt,
  type BatchMarker,
  type DeliveryRecord,
  type DeliveryStatus,
  type StoredEvent,
  type StoredSecret,
  type Subscription,
} from "#core/model.ts";
import {
  StaleWrite,
  type AttemptWrite,
  type DeliveryLog,
  type DeliveryPage,
  type DeliveryQuery,
  type EventStore,
  type HealthStore,
  type ParkedDelivery,
  type ParkWrite,
  type SubscriptionChanges,
  type SubscriptionStore,
} from "#core/ports.ts";
import { DELIVERY } from "#core/settings.ts";
import { callUntilProcessed, chunk, DYNAMODB_RETRY } from "#adapters/batch-calls.ts";
import { INDEXED_STATUSES, cursorKey, decodeCursor, encodeCursor } from "#adapters/dynamodb.ts";
import { AwsRuleError, type Ledger, type VirtualTime } from "../engine.ts";

/** DynamoDB's largest item. */
export const MAX_ITEM_BYTES = 400 * 1_024;
/** DynamoDB's throughput of one partition key value, per second. */
export const PARTITION_WCU = 1_000;
export const PARTITION_RCU = 3_000;

/** DynamoDB's item size: attribute names plus values (UTF-8 strings, numbers ~ digits/2, binary by length). */
export function itemSize(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number") return Math.ceil(String(value).length / 2) + 1;
  if (typeof value === "boolean") return 1;
  if (value instanceof Uint8Array) return value.length;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + itemSize(v), 0);
  let n = 3;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) n += Buffer.byteLength(k) + 1 + itemSize(v);
  return n;
}

export class ThrottledError extends AwsRuleError {
  constructor(table: string) {
    super("ProvisionedThroughputExceededException", `throughput of a ${table} partition exceeded`);
  }
}

/**
 * The capacity and rules of DynamoDB that the emulators do not enforce: 400 KB items, 1,000 WCU/s
 * and 3,000 RCU/s per partition key value (past them a request is throttled; the SDK's retries are
 * modelled), duplicate keys refused in batch calls, 100 keys per BatchGetItem and 25 items per
 * BatchWriteItem, UnprocessedKeys/Items retried with the adapters' own helper and backoff (lambdas/adapters/batch-calls.ts). A scenario may
 * also make every write fail (an outage) for a while.
 */
export class SimDynamo {
  private readonly meters = new Map<string, { second: number; wcu: number; rcu: number }>();
  hottestWcuPerSecond = 0;
  hottestPartition = "";
  /** The hottest partition's write units per second, per table. */
  readonly hottestByTable = new Map<string, number>();
  largestItem = 0;
  largestItemWhere = "";
  /** Writes to these tables fail until this time (scenario e). */
  writeOutage?: { tables: readonly string[]; untilMs: number };

  constructor(
    readonly time: VirtualTime,
    readonly ledger: Ledger,
  ) {}

  private meter(table: string, pk: string) {
    const key = `${table}|${pk}`;
    const second = Math.floor(this.time.now() / 1000);
    let m = this.meters.get(key);
    if (!m || m.second !== second) {
      m = { second, wcu: 0, rcu: 0 };
      this.meters.set(key, m);
      if (this.meters.size > 200_000) this.meters.clear();
    }
    return m;
  }

  /** Charges `units` write units to a partition; false when that would pass its throughput. */
  private takeWrite(table: string, pk: string, units: number): boolean {
    const m = this.meter(table, pk);
    if (m.wcu + units > PARTITION_WCU) return false;
    m.wcu += units;
    if (m.wcu > (this.hottestByTable.get(table) ?? 0)) this.hottestByTable.set(table, m.wcu);
    if (m.wcu > this.hottestWcuPerSecond) {
      this.hottestWcuPerSecond = m.wcu;
      this.hottestPartition = `${table} ${pk}`;
    }
    return true;
  }

  private takeRead(table: string, pk: string, units: number): boolean {
    const m = this.meter(table, pk);
    if (m.rcu + units > PARTITION_RCU) return false;
    m.rcu += units;
    return true;
  }

  checkSize(table: string, item: Record<string, unknown>): number {
    const size = sized(item);
    if (size > this.largestItem) {
      this.largestItem = size;
      this.largestItemWhere = `${table} ${String(item.pk ?? item.tenantId ?? "")}`;
    }
    if (size > MAX_ITEM_BYTES)
      throw this.ledger.violation("ValidationException", `Item size has exceeded the maximum allowed size (${size} bytes in ${table})`);
    return size;
  }

  /**
   * One write request of `bytes` to a partition, with the SDK's retries of throttling (3 more tries,
   * backing off in virtual time). Throws what the SDK would throw at the end.
   */
  async write(api: string, table: string, pk: string, bytes: number, indexWrites = 0): Promise<void> {
    const units = Math.max(1, Math.ceil(bytes / 1_024)) + indexWrites;
    for (let attempt = 0; ; attempt++) {
      this.ledger.count(`DynamoDB.${api}`);
      if (this.writeOutage && this.time.now() < this.writeOutage.untilMs && this.writeOutage.tables.includes(table)) {
        this.ledger.throttle(`DynamoDB.${table} write outage`);
      } else if (this.takeWrite(table, pk, units)) {
        this.ledger.count("DynamoDB.WCU", units);
        return;
      } else this.ledger.throttle(`DynamoDB.${table} partition WCU`);
      if (attempt === 3) throw new ThrottledError(table);
      await this.time.sleep(50 * 2 ** attempt + Math.random() * 50);
    }
  }

  async read(api: string, table: string, pk: string, bytes: number, count = true): Promise<void> {
    const units = Math.max(1, Math.ceil(bytes / 4_096));
    for (let attempt = 0; ; attempt++) {
      if (count) this.ledger.count(`DynamoDB.${api}`);
      if (this.takeRead(table, pk, units)) {
        this.ledger.count("DynamoDB.RCU", units);
        return;
      }
      this.ledger.throttle(`DynamoDB.${table} partition RCU`);
      if (attempt === 3) throw new ThrottledError(table);
      await this.time.sleep(50 * 2 ** attempt + Math.random() * 50);
    }
  }

  /** BatchGetItem's rules; then each key read, a throttled key left unprocessed and retried as the adapter does. */
  async batchGet(table: string, keys: readonly { pk: string; sk: string; size: () => number }[]): Promise<void> {
    for (const part of chunk(keys, 100)) {
      const names = part.map((k) => `${k.pk}\u0000${k.sk}`);
      if (new Set(names).size !== names.length)
        throw this.ledger.violation("ValidationException", `Provided list of item keys contains duplicates (BatchGetItem on ${table})`);
      await callUntilProcessed(
        part,
        async (pending) => {
          this.ledger.count("DynamoDB.BatchGetItem");
          const unprocessed = pending.filter((k) => !this.takeRead(table, k.pk, Math.max(1, Math.ceil(k.size() / 4_096))));
          if (unprocessed.length > 0) this.ledger.throttle(`DynamoDB.${table} UnprocessedKeys`);
          return unprocessed;
        },
        DYNAMODB_RETRY,
        (left) => new Error(`BatchGetItem left ${left.length} keys unprocessed`),
        (ms) => this.time.sleep(ms),
      );
    }
  }

  async batchWrite(table: string, items: readonly { pk: string; sk: string; item: Record<string, unknown> }[]): Promise<void> {
    for (const part of chunk(items, 25)) {
      const names = part.map((k) => `${k.pk}\u0000${k.sk}`);
      if (new Set(names).size !== names.length)
        throw this.ledger.violation("ValidationException", `Provided list of item keys contains duplicates (BatchWriteItem on ${table})`);
      for (const p of part) this.checkSize(table, p.item);
      await callUntilProcessed(
        part,
        async (pending) => {
          this.ledger.count("DynamoDB.BatchWriteItem");
          if (this.writeOutage && this.time.now() < this.writeOutage.untilMs && this.writeOutage.tables.includes(table)) {
            this.ledger.throttle(`DynamoDB.${table} write outage`);
            throw new ThrottledError(table);
          }
          const unprocessed = pending.filter((p) => {
            const units = Math.max(1, Math.ceil(sized(p.item) / 1_024));
            if (!this.takeWrite(table, p.pk, units)) return true;
            this.ledger.count("DynamoDB.WCU", units);
            return false;
          });
          if (unprocessed.length > 0) this.ledger.throttle(`DynamoDB.${table} UnprocessedItems`);
          return unprocessed;
        },
        DYNAMODB_RETRY,
        (left) => new Error(`BatchWriteItem left ${left.length} items unprocessed`),
        (ms) => this.time.sleep(ms),
      );
    }
  }
}

const copy = <T>(x: T): T => structuredClone(x);

/** The index of the first sorted position after `after` (binary search). */
function firstAfter(sorted: readonly string[], after: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A parked item's size as the adapter stores it (payload gzipped: counted at a third). */
const parkedSize = (p: ParkedDelivery) => 300 + Math.ceil(Buffer.byteLength(p.message.payload) / 3);

/** Sizes of stored items, computed once per write (the core never mutates what a port returns). */
const sizes = new WeakMap<object, number>();
const sized = (x: object): number => {
  let n = sizes.get(x);
  if (n === undefined) sizes.set(x, (n = itemSize(x)));
  return n;
};

export class SimSubscriptionStore implements SubscriptionStore {
  readonly byTenant = new Map<string, Map<string, Subscription>>();
  constructor(
    private readonly db: SimDynamo,
    private readonly table = "subscriptions",
  ) {}

  private partition(tenantId: string): Map<string, Subscription> {
    let p = this.byTenant.get(tenantId);
    if (!p) this.byTenant.set(tenantId, (p = new Map()));
    return p;
  }

  async listByTenant(tenantId: string): Promise<Subscription[]> {
    const items = [...(this.byTenant.get(tenantId)?.values() ?? [])];
    await this.db.read(
      "Query",
      this.table,
      tenantId,
      items.reduce((n, s) => n + sized(s), 0),
    );
    return items;
  }

  async get(tenantId: string, id: string): Promise<Subscription | undefined> {
    const s = this.byTenant.get(tenantId)?.get(id);
    await this.db.read("GetItem", this.table, tenantId, s ? itemSize(s) : 1);
    return s && copy(s);
  }

  async getMany(keys: readonly { tenantId: string; id: string }[]): Promise<Subscription[]> {
    if (keys.length === 0) return [];
    await this.db.batchGet(
      this.table,
      keys.map((k) => ({ pk: k.tenantId, sk: k.id, size: () => sized(this.byTenant.get(k.tenantId)?.get(k.id) ?? {}) })),
    );
    return keys.flatMap((k) => {
      const s = this.byTenant.get(k.tenantId)?.get(k.id);
      return s ? [s] : [];
    });
  }

  /** The limit holds as the adapter's slot item makes it hold: checked and taken in one step (one write). */
  async create(sub: Subscription, limit: number): Promise<boolean> {
    this.db.checkSize(this.table, sub as never);
    const p = this.partition(sub.tenantId);
    await this.db.write("UpdateItem", this.table, sub.tenantId, 1);
    if (p.size >= limit) return false;
    await this.db.write("PutItem", this.table, sub.tenantId, itemSize(sub));
    if (p.has(sub.id)) throw new AwsRuleError("ConditionalCheckFailedException", "exists");
    p.set(sub.id, copy(sub));
    return true;
  }

  async update(tenantId: string, id: string, changes: SubscriptionChanges, expect?: { newestSecret: StoredSecret }): Promise<Subscription | undefined> {
    const old = this.byTenant.get(tenantId)?.get(id);
    if (old && expect) {
      const newest = old.secrets[0];
      const field = expect.newestSecret.sealed !== undefined ? "sealed" : "value";
      if (newest?.[field] !== expect.newestSecret[field]) {
        await this.db.write("UpdateItem", this.table, tenantId, itemSize(old));
        throw new StaleWrite(`webhook ${id} changed since it was read`);
      }
    }
    const apply = (item: Subscription | undefined) => {
      const next: Record<string, unknown> = { ...(item ?? {}) };
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) continue;
        if (v === null) delete next[k];
        else next[k] = v;
      }
      return next;
    };
    const estimate = apply(old);
    this.db.checkSize(this.table, estimate);
    await this.db.write("UpdateItem", this.table, tenantId, Math.max(itemSize(old ?? {}), itemSize(estimate)));
    // The fields named are set on the item as it is when the write applies (an update expression), not on the copy read before.
    const current = this.byTenant.get(tenantId)?.get(id);
    if (!current) return undefined;
    const next = current === old ? estimate : apply(current);
    this.partition(tenantId).set(id, next as unknown as Subscription);
    return copy(next as unknown as Subscription);
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const old = this.byTenant.get(tenantId)?.get(id);
    await this.db.write("DeleteItem", this.table, tenantId, old ? itemSize(old) : 1);
    return this.byTenant.get(tenantId)?.delete(id) ?? false;
  }
}

/**
 * The health store on the simulated subscriptions table: the same conditions as the DynamoDB adapter
 * (lambdas/adapters/health.ts), each write charged to the tenant's partition (rate windows to their own).
 */
export class SimHealthStore implements HealthStore {
  private readonly rates = new Map<string, number>();
  /**
   * At most this many webhooks per `due` query, whatever the core asks (HEALTH.sweepWebhooks, 200):
   * how many webhooks one sweep serves is extensive, so a scenario scales it with its webhooks.
   */
  dueLimit = Number.POSITIVE_INFINITY;
  constructor(
    private readonly db: SimDynamo,
    private readonly subs: SimSubscriptionStore,
    private readonly table = "subscriptions",
  ) {}

  /**
   * One UpdateItem: `change` returns the new item, or undefined when the condition fails. DynamoDB
   * evaluates an update's condition and values on the item as it is when the write applies, so
   * `change` runs again after the (possibly throttled) request on the current item: concurrent
   * updates never lose one another, as with the adapter's update expressions.
   */
  private async change(
    tenantId: string,
    id: string,
    change: (s: Subscription) => Subscription | undefined,
    returnNew = false,
  ): Promise<Subscription | undefined> {
    const before = this.subs.byTenant.get(tenantId)?.get(id);
    const estimate = before && change(copy(before));
    await this.db.write(
      "UpdateItem",
      this.table,
      tenantId,
      Math.max(before ? sized(before) : 1, estimate ? itemSize(estimate) : 1),
      estimate && (before?.wakeAt !== estimate.wakeAt || before?.wake !== estimate.wake) ? 1 : 0,
    );
    const old = this.subs.byTenant.get(tenantId)?.get(id);
    const next = old === before ? estimate : old && change(copy(old));
    if (!next) return undefined;
    this.db.checkSize(this.table, next as never);
    this.subs.byTenant.get(tenantId)!.set(id, next);
    return returnNew ? copy(next) : next;
  }

  async recordFailure(tenantId: string, id: string, o: { nowIso: string; count: number }): Promise<Subscription | undefined> {
    return this.change(
      tenantId,
      id,
      (s) => ({ ...s, consecutiveFailures: (s.consecutiveFailures ?? 0) + o.count, failingSince: s.failingSince ?? o.nowIso }),
      true,
    );
  }

  async recordSuccess(tenantId: string, id: string, o: { nowIso: string; close: boolean }): Promise<boolean> {
    const closed =
      o.close &&
      (await this.change(tenantId, id, (s) => {
        if (s.circuit === undefined) return undefined;
        const { failingSince: _f, circuit: _c, openedAt: _o, nextProbeAt: _n, probeIntervalSeconds: _p, ...rest } = s;
        return { ...rest, consecutiveFailures: 0, wake: "due", wakeAt: o.nowIso, releasedThrough: releaseReset(o.nowIso) };
      })) !== undefined;
    if (!closed) await this.change(tenantId, id, (s) => ({ ...s, consecutiveFailures: 0, failingSince: undefined }));
    return closed;
  }

  async openCircuit(
    tenantId: string,
    id: string,
    o: { threshold: number; nowIso: string; nextProbeAt: string; probeIntervalSeconds: number },
  ): Promise<boolean> {
    const done = await this.change(tenantId, id, (s) =>
      s.circuit === undefined && (s.consecutiveFailures ?? 0) >= o.threshold
        ? {
            ...s,
            circuit: "open",
            openedAt: o.nowIso,
            nextProbeAt: o.nextProbeAt,
            probeIntervalSeconds: o.probeIntervalSeconds,
            wake: "due",
            wakeAt: o.nextProbeAt,
          }
        : undefined,
    );
    return done !== undefined;
  }

  async claimProbe(tenantId: string, id: string, o: { expectNextProbeAt: string; nextProbeAt: string; probeIntervalSeconds: number }): Promise<boolean> {
    const done = await this.change(tenantId, id, (s) =>
      s.circuit !== undefined && s.nextProbeAt === o.expectNextProbeAt
        ? { ...s, circuit: "half-open", nextProbeAt: o.nextProbeAt, probeIntervalSeconds: o.probeIntervalSeconds }
        : undefined,
    );
    return done !== undefined;
  }

  async probeFailed(tenantId: string, id: string): Promise<void> {
    await this.change(tenantId, id, (s) => (s.circuit === "half-open" ? { ...s, circuit: "open" } : undefined));
  }

  async noteParked(tenantId: string, id: string, o: { count: number; dueAt: string; nowIso: string; sooner?: boolean }): Promise<void> {
    const counted = (s: Subscription): Subscription => ({
      ...s,
      parkedCount: (s.parkedCount ?? 0) + o.count,
      parkSeq: (s.parkSeq ?? 0) + 1,
      lastParkAt: o.nowIso,
    });
    const sooner =
      o.sooner !== false &&
      (await this.change(tenantId, id, (s) => (s.wakeAt === undefined || s.wakeAt > o.dueAt ? { ...counted(s), wake: "due", wakeAt: o.dueAt } : undefined)));
    if (!sooner) await this.change(tenantId, id, counted);
  }

  async noteUnparked(tenantId: string, id: string, count: number): Promise<void> {
    if (count > 0) await this.change(tenantId, id, (s) => ({ ...s, parkedCount: (s.parkedCount ?? 0) - count }));
  }

  async setWake(tenantId: string, id: string, o: { wakeAt?: string; expectParkSeq?: number; cursor?: { from?: string; to: string } }): Promise<boolean> {
    const { wakeAt, expectParkSeq, cursor } = o;
    const done = await this.change(tenantId, id, (s) => {
      if (expectParkSeq !== undefined && (s.parkSeq ?? 0) !== expectParkSeq) return undefined;
      if (cursor && s.releasedThrough !== cursor.from) return undefined;
      if (wakeAt === undefined) {
        const { wake: _w, wakeAt: _a, ...rest } = s;
        return { ...rest, parkedCount: 0 };
      }
      return { ...s, wake: "due", wakeAt, ...(cursor ? { releasedThrough: cursor.to } : {}) };
    });
    return done !== undefined;
  }

  /** The sparse `byWake` index: every subscription with a wake, read as one Query would. */
  private woken(): Subscription[] {
    const out: Subscription[] = [];
    for (const p of this.subs.byTenant.values()) for (const s of p.values()) if (s.wake) out.push(s);
    return out;
  }

  async due(nowIso: string, limit: number): Promise<Subscription[]> {
    const found = this.woken()
      .filter((s) => s.wakeAt! <= nowIso)
      .sort((a, b) => (a.wakeAt! < b.wakeAt! ? -1 : 1))
      .slice(0, Math.min(limit, this.dueLimit));
    await this.db.read("Query", this.table, "byWake|due", found.reduce((n, s) => n + sized(s), 0) || 1);
    return found.map(copy);
  }

  async summary(): Promise<{ openCircuits: number; parked: number }> {
    const all = this.woken();
    await this.db.read("Query", this.table, "byWake|due", all.length * 20 || 1);
    return { openCircuits: all.filter((s) => s.circuit).length, parked: all.reduce((n, s) => n + Math.max(0, s.parkedCount ?? 0), 0) };
  }

  async markSlow(tenantId: string, id: string, o: { slowUntil: string; slowMs: number }): Promise<void> {
    await this.change(tenantId, id, (s) => ({ ...s, slowUntil: o.slowUntil, slowMs: o.slowMs }));
  }

  async takeSlot(tenantId: string, id: string, o: { lease: number; limit: number; expired: readonly number[] }): Promise<boolean> {
    if (o.expired.length) await this.change(tenantId, id, (s) => ({ ...s, slots: new Set([...(s.slots ?? [])].filter((l) => !o.expired.includes(l))) }));
    const done = await this.change(tenantId, id, (s) =>
      (s.slots?.size ?? 0) < o.limit && !s.slots?.has(o.lease) ? { ...s, slots: new Set([...(s.slots ?? []), o.lease]) } : undefined,
    );
    return done !== undefined;
  }

  async freeSlot(tenantId: string, id: string, lease: number): Promise<void> {
    await this.change(tenantId, id, (s) => ({ ...s, slots: new Set([...(s.slots ?? [])].filter((l) => l !== lease)) }));
  }

  async takeRate(tenantId: string, id: string, o: { second: number; limit: number }): Promise<boolean> {
    const key = `#rate#${tenantId}#${id}|${o.second}`;
    await this.db.write("UpdateItem", this.table, `#rate#${tenantId}#${id}`, 1);
    const n = this.rates.get(key) ?? 0;
    if (n >= o.limit) return false;
    this.rates.set(key, n + 1);
    if (this.rates.size > 100_000) this.rates.clear();
    return true;
  }
}

export class SimEventStore implements EventStore {
  readonly events = new Map<string, StoredEvent>();
  constructor(
    private readonly db: SimDynamo,
    private readonly table = "events",
  ) {}

  /** Stored compressed by the real adapter: the payload's size is counted at a third. */
  private size(e: StoredEvent): number {
    return itemSize({ ...e, payload: undefined }) + Math.ceil(Buffer.byteLength(e.payload) / 3);
  }

  async putIfAbsent(event: StoredEvent, windowStartMs: number): Promise<StoredEvent | undefined> {
    const key = `${event.tenantId}#${event.id}`;
    const existing = this.events.get(key);
    await this.db.write("PutItem", this.table, key, this.size(event));
    if (existing && existing.acceptedAt >= windowStartMs) {
      await this.db.read("GetItem", this.table, key, this.size(existing));
      return copy(existing);
    }
    if (this.size(event) > MAX_ITEM_BYTES) this.db.checkSize(this.table, event as never);
    this.events.set(key, copy(event));
    return undefined;
  }

  async putNew(events: readonly StoredEvent[]): Promise<void> {
    // The item as sized for write units: the payload counted at a third, as in putIfAbsent.
    const items = events.map((e) => ({
      pk: `${e.tenantId}#${e.id}`,
      sk: "",
      item: { ...e, payload: "x".repeat(Math.ceil(Buffer.byteLength(e.payload) / 3)) },
    }));
    await this.db.batchWrite(this.table, items);
    for (const e of events) this.events.set(`${e.tenantId}#${e.id}`, copy(e));
  }

  async get(tenantId: string, id: string): Promise<StoredEvent | undefined> {
    const e = this.events.get(`${tenantId}#${id}`);
    await this.db.read("GetItem", this.table, `${tenantId}#${id}`, e ? this.size(e) : 1);
    return e && copy(e);
  }

  async remove(tenantId: string, id: string, acceptedAt: number): Promise<void> {
    const key = `${tenantId}#${id}`;
    await this.db.write("DeleteItem", this.table, key, 1);
    if (this.events.get(key)?.acceptedAt === acceptedAt) this.events.delete(key);
  }

  /** Batch markers, with the adapter's conditions (an item `#batch#<token>` in the events table). */
  readonly markers = new Map<string, { state: BatchMarker["state"]; claimed: Set<string>; openUntil: number }>();

  private marker(token: string) {
    const m = this.markers.get(token);
    if (!m) throw new AwsRuleError("ConditionalCheckFailedException", `no batch marker ${token}`);
    return m;
  }

  async openBatch(token: string, openUntil: number): Promise<void> {
    await this.db.write("PutItem", this.table, `#batch#${token}`, 1);
    if (this.markers.has(token)) throw new AwsRuleError("ConditionalCheckFailedException", `batch marker ${token} exists`);
    this.markers.set(token, { state: "open", claimed: new Set(), openUntil });
  }

  async batchMarker(token: string): Promise<BatchMarker | undefined> {
    await this.db.read("GetItem", this.table, `#batch#${token}`, 1);
    const m = this.markers.get(token);
    return m && { state: m.state, claimed: [...m.claimed], openUntil: m.openUntil };
  }

  async claimEvent(token: string, eventKey: string, nowMs: number): Promise<boolean> {
    await this.db.write("UpdateItem", this.table, `#batch#${token}`, 1);
    const m = this.markers.get(token);
    if (!m || m.state !== "open" || m.openUntil <= nowMs || m.claimed.has(eventKey)) return false;
    m.claimed.add(eventKey);
    return true;
  }

  async commitBatch(token: string): Promise<readonly string[]> {
    await this.db.write("DeleteItem", this.table, `#batch#${token}`, 1);
    const m = this.marker(token);
    if (m.state !== "open") throw new AwsRuleError("ConditionalCheckFailedException", `batch ${token} is not open`);
    this.markers.delete(token);
    return [...m.claimed];
  }

  async startRollback(token: string): Promise<readonly string[]> {
    await this.db.write("UpdateItem", this.table, `#batch#${token}`, 1);
    const m = this.marker(token);
    if (m.state !== "open") throw new AwsRuleError("ConditionalCheckFailedException", `batch ${token} is not open`);
    m.state = "rollback";
    return [...m.claimed];
  }

  async closeBatch(token: string): Promise<void> {
    await this.db.write("DeleteItem", this.table, `#batch#${token}`, 1);
    this.markers.delete(token);
  }
}

interface StoredDelivery extends DeliveryRecord {
  pk: string;
  statusKey?: string;
  lastAttempt?: Attempt;
  parkKey?: string;
  parkSort?: string;
  /** The adapter stores it gzipped: counted at a third of its size (as the events' payloads). */
  parkedPayload?: string;
}

/**
 * The delivery log with the same item layout as the DynamoDB adapter (the first
 * DELIVERY.inlineAttempts attempts inline, later ones as their own items in a per-delivery
 * partition, `lastAttempt` on the delivery item, the sparse status index), charged as DynamoDB
 * charges it: an update costs the larger of the item before and after.
 */
export class SimDeliveryLog implements DeliveryLog {
  readonly partitions = new Map<string, Map<string, StoredDelivery>>();
  readonly attemptItems = new Map<string, Attempt[]>();
  constructor(
    private readonly db: SimDynamo,
    private readonly table = "deliveries",
  ) {}

  private static pk(tenantId: string, webhookId: string): string {
    return `${tenantId}#${webhookId}`;
  }

  private item(tenantId: string, webhookId: string, id: string): StoredDelivery | undefined {
    return this.partitions.get(SimDeliveryLog.pk(tenantId, webhookId))?.get(id);
  }

  private toRecord(d: StoredDelivery): DeliveryRecord {
    const { pk: _pk, statusKey: _sk, lastAttempt, parkKey: _pkk, parkSort: _ps, parkedPayload: _pp, ...rest } = copy(d);
    const attempts = lastAttempt && !rest.attempts.some((a) => a.n === lastAttempt.n) ? [...rest.attempts, lastAttempt] : rest.attempts;
    return { ...rest, attempts };
  }

  /** The stored status, outside DynamoDB's accounting (for the simulator's loss accounting). */
  peekStatus(tenantId: string, webhookId: string, id: string): DeliveryStatus | undefined {
    return this.item(tenantId, webhookId, id)?.status;
  }

  /** The DynamoDB adapter's cursors, so that a cursor one returned is one the other takes. */
  isCursor(cursor: string): boolean {
    return decodeCursor(cursor) !== undefined;
  }

  async getMany(keys: readonly { tenantId: string; webhookId: string; id: string }[]): Promise<DeliveryRecord[]> {
    if (keys.length === 0) return [];
    await this.db.batchGet(
      this.table,
      keys.map((k) => ({ pk: SimDeliveryLog.pk(k.tenantId, k.webhookId), sk: k.id, size: () => sized(this.item(k.tenantId, k.webhookId, k.id) ?? {}) })),
    );
    return keys.flatMap((k) => {
      const d = this.item(k.tenantId, k.webhookId, k.id);
      return d ? [this.toRecord(d)] : [];
    });
  }

  async get(tenantId: string, webhookId: string, id: string): Promise<DeliveryRecord | undefined> {
    const d = this.item(tenantId, webhookId, id);
    await this.db.read("GetItem", this.table, SimDeliveryLog.pk(tenantId, webhookId), d ? itemSize(d) : 1);
    if (!d) return undefined;
    const record = this.toRecord(d);
    if (record.attemptCount <= d.attempts.length) return record;
    const more = this.attemptItems.get(`${SimDeliveryLog.pk(tenantId, webhookId)}#${id}`) ?? [];
    await this.db.read("Query", this.table, `${SimDeliveryLog.pk(tenantId, webhookId)}#${id}`, itemSize(more));
    const byN = new Map<number, Attempt>();
    for (const a of [...record.attempts, ...more]) byN.set(a.n, a);
    return { ...record, attempts: [...byN.values()].sort((a, b) => a.n - b.n) };
  }

  async list(tenantId: string, webhookId: string, query: DeliveryQuery): Promise<DeliveryPage> {
    const pk = SimDeliveryLog.pk(tenantId, webhookId);
    const bounds = deliveryIdBounds(query.sinceMs ?? 0, query.untilMs ?? 281474976710655);
    const after = query.cursor !== undefined ? cursorKey(query.cursor, pk).id : undefined;
    const all = [...(this.partitions.get(pk)?.values() ?? [])]
      .filter((d) => d.id >= bounds.lowest && d.id <= bounds.highest && (after === undefined || d.id < after))
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const indexed = query.status !== undefined && INDEXED_STATUSES.includes(query.status);
    const matching = query.status ? all.filter((d) => d.status === query.status) : all;
    const page = matching.slice(0, query.limit);
    // Read cost: the index's keys then the items (indexed), or every item scanned up to the page's end.
    const scanned = indexed || !query.status ? page : all.slice(0, all.indexOf(page[page.length - 1]) + 1 || all.length);
    await this.db.read(
      "Query",
      this.table,
      indexed ? `${pk}#${query.status}` : pk,
      scanned.reduce((n, d) => n + itemSize(d), 0),
    );
    const more = matching.length > query.limit;
    return {
      items: page.map((d) => this.toRecord(d)),
      cursor: more ? encodeCursor({ pk, id: page[page.length - 1].id }) : undefined,
    };
  }

  async createMany(writes: readonly AttemptWrite[]): Promise<void> {
    const items = writes.map((w) => ({
      pk: SimDeliveryLog.pk(w.message.tenantId, w.message.webhookId),
      sk: w.message.deliveryId,
      item: this.build(undefined, w) as unknown as Record<string, unknown>,
    }));
    await this.db.batchWrite(this.table, items);
    for (const it of items) this.put(it.item as unknown as StoredDelivery);
  }

  async write(w: AttemptWrite): Promise<void> {
    await this.update(w);
  }

  private async update(w: AttemptWrite, parked?: Partial<StoredDelivery>): Promise<void> {
    const m = w.message;
    const pk = SimDeliveryLog.pk(m.tenantId, m.webhookId);
    const overflow = w.attempt !== undefined && (w.previousAttempts ?? 0) >= DELIVERY.inlineAttempts;
    if (overflow) {
      const attemptItem = { pk: `${pk}#${m.deliveryId}`, id: `attempt#${w.attempt!.n}`, attempt: w.attempt };
      this.db.checkSize(this.table, attemptItem);
      await this.db.write("PutItem", this.table, attemptItem.pk, itemSize(attemptItem));
      const list = this.attemptItems.get(attemptItem.pk) ?? [];
      list.push(copy(w.attempt!));
      this.attemptItems.set(attemptItem.pk, list);
    }
    const before = this.partitions.get(pk)?.get(m.deliveryId);
    const estimate: StoredDelivery = { ...this.build(before, w, overflow), ...parked };
    this.db.checkSize(this.table, estimate as unknown as Record<string, unknown>);
    const changes = (a?: string, b?: string) => (a !== b ? (a && b ? 2 : a || b ? 1 : 0) : 0);
    const indexChanged = changes(before?.statusKey, estimate.statusKey) + changes(before?.parkSort, estimate.parkSort);
    await this.db.write("UpdateItem", this.table, pk, Math.max(before ? sized(before) : 1, sized(estimate)), indexChanged);
    // Applied to the item as it is when the write lands (an update expression), not to the copy read before the request.
    const old = this.partitions.get(pk)?.get(m.deliveryId);
    this.put(old === before ? estimate : { ...this.build(old, w, overflow), ...parked });
  }

  private put(d: StoredDelivery): void {
    let p = this.partitions.get(d.pk);
    if (!p) this.partitions.set(d.pk, (p = new Map()));
    const old = p.get(d.id);
    p.set(d.id, d);
    // The sparse `parked` index, kept as the adapter's GSI would hold it.
    if (old?.parkSort !== d.parkSort) {
      const index = this.parkedIndex.get(d.pk) ?? { byId: new Map<string, string>(), sorted: undefined as string[] | undefined };
      this.parkedIndex.set(d.pk, index);
      if (d.parkSort) index.byId.set(d.id, d.parkSort);
      else index.byId.delete(d.id);
      index.sorted = undefined;
    }
  }

  /** The parked index of each webhook partition: id → parkSort, sorted lazily. */
  private readonly parkedIndex = new Map<string, { byId: Map<string, string>; sorted?: string[] }>();

  private parkedSorted(pk: string): string[] {
    const index = this.parkedIndex.get(pk);
    if (!index) return [];
    index.sorted ??= [...index.byId.values()].sort();
    return index.sorted;
  }

  /** Parked deliveries in all, outside DynamoDB's accounting (for the simulator's report). */
  get parkedTotal(): number {
    let n = 0;
    for (const index of this.parkedIndex.values()) n += index.byId.size;
    return n;
  }

  /** A webhook's parked deliveries, outside DynamoDB's accounting. */
  parkedOf(tenantId: string, webhookId: string): number {
    return this.parkedIndex.get(SimDeliveryLog.pk(tenantId, webhookId))?.byId.size ?? 0;
  }

  /** Whether the delivery is parked, outside DynamoDB's accounting (loss accounting). */
  peekParked(tenantId: string, webhookId: string, id: string): boolean {
    return this.item(tenantId, webhookId, id)?.parked === true;
  }

  async park(w: ParkWrite): Promise<void> {
    const m = w.message;
    const parked = {
      parked: true,
      parkedFor: w.reason,
      parkKey: SimDeliveryLog.pk(m.tenantId, m.webhookId),
      parkSort: `${w.dueAt}#${m.deliveryId}`,
      dueAt: w.dueAt,
      windowEndsAt: w.windowEndsAt,
      parkedPayload: m.payload,
    };
    await this.update({ ...w, status: "pending", nextAttemptAt: undefined }, parked);
  }

  async parked(tenantId: string, webhookId: string, o: { dueBy: string; limit: number; after?: string }): Promise<ParkedDelivery[]> {
    const pk = SimDeliveryLog.pk(tenantId, webhookId);
    const bound = `${o.dueBy}#~`;
    const out: ParkedDelivery[] = [];
    const sorted = this.parkedSorted(pk);
    for (let i = o.after ? firstAfter(sorted, o.after) : 0; i < sorted.length; i++) {
      const sort = sorted[i];
      if (sort > bound || out.length >= o.limit) break;
      const d = this.partitions.get(pk)!.get(sort.slice(sort.lastIndexOf("#") + 1))!;
      out.push({
        message: {
          v: 1,
          deliveryId: d.id,
          tenantId: d.tenantId,
          webhookId: d.webhookId,
          eventId: d.eventId,
          eventType: d.eventType,
          payload: d.parkedPayload!,
          ...(d.round ? { deadLetteredAt: d.round } : {}),
          ...(d.replayOf ? { replayOf: d.replayOf } : {}),
        },
        parkSort: sort,
        dueAt: d.dueAt!,
        windowEndsAt: d.windowEndsAt!,
        attemptCount: d.attemptCount,
        roundStart: d.roundStart,
        round: d.round,
      });
    }
    await this.db.read("Query", this.table, `parked|${pk}`, out.reduce((n, p) => n + parkedSize(p), 0) || 1);
    return out;
  }

  async nextDue(tenantId: string, webhookId: string, after?: string): Promise<string | undefined> {
    const pk = SimDeliveryLog.pk(tenantId, webhookId);
    await this.db.read("Query", this.table, `parked|${pk}`, 1);
    const sorted = this.parkedSorted(pk);
    const first = sorted[after ? firstAfter(sorted, after) : 0];
    return first?.slice(0, first.lastIndexOf("#"));
  }

  private build(old: StoredDelivery | undefined, w: AttemptWrite, overflow = false): StoredDelivery {
    const m = w.message;
    const pk = SimDeliveryLog.pk(m.tenantId, m.webhookId);
    const status: DeliveryStatus = w.status;
    const attempts = old?.attempts ?? [];
    return {
      pk,
      tenantId: m.tenantId,
      webhookId: m.webhookId,
      id: m.deliveryId,
      eventId: m.eventId,
      eventType: m.eventType,
      status,
      statusKey: INDEXED_STATUSES.includes(status) ? `${pk}#${status}` : undefined,
      attemptCount: (old?.attemptCount ?? 0) + (w.attempt ? 1 : 0),
      attempts: w.attempt && !overflow ? [...attempts, w.attempt] : attempts,
      lastAttempt: overflow ? w.attempt : old?.lastAttempt,
      roundStart: w.roundStart,
      round: w.round,
      deadLetteredAt: w.deadLetteredAt,
      nextAttemptAt: w.nextAttemptAt,
      reason: w.reason,
      replayOf: m.replayOf ?? old?.replayOf,
      createdAt: old?.createdAt ?? w.nowIso,
      updatedAt: w.nowIso,
    };
  }
}
