import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { releaseReset, WAKE_DUE, type Subscription } from "#core/model.ts";
import type { HealthStore } from "#core/ports.ts";
import { TABLES } from "#core/settings.ts";

const WAKE = TABLES.subscriptions.wakeIndex;

/**
 * Rate windows: one small item per webhook and second in the subscriptions table, in a partition of
 * their own (tenant ids start with a letter or digit, so `#rate#…` is no tenant's), expiring soon.
 */
const ratePk = (tenantId: string, id: string) => `#rate#${tenantId}#${id}`;

async function conditional(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException) return false;
    throw err;
  }
}

/**
 * A webhook's health on its subscription item (docs/delivery-semantics.md). Every change is one UpdateItem that
 * either adds (counters) or is conditioned on the state it changes, so concurrent λs cannot undo one
 * another: two λs seeing the threshold reached open the circuit once; two sweeps claim a probe once.
 */
export class DynamoHealthStore implements HealthStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private update(
    tenantId: string,
    id: string,
    input: {
      UpdateExpression: string;
      ConditionExpression?: string;
      Values?: Record<string, unknown>;
      Names?: Record<string, string>;
      ReturnValues?: "ALL_NEW";
    },
  ) {
    return this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { tenantId, id },
        UpdateExpression: input.UpdateExpression,
        // Never recreate a deleted webhook: every health write needs the item.
        ConditionExpression: input.ConditionExpression ? `attribute_exists(id) AND (${input.ConditionExpression})` : "attribute_exists(id)",
        ExpressionAttributeValues: input.Values && Object.keys(input.Values).length ? input.Values : undefined,
        ExpressionAttributeNames: input.Names,
        ReturnValues: input.ReturnValues,
      }),
    );
  }

  async recordFailure(tenantId: string, id: string, o: { nowIso: string; count: number }): Promise<Subscription | undefined> {
    try {
      const res = await this.update(tenantId, id, {
        UpdateExpression: "ADD consecutiveFailures :n SET failingSince = if_not_exists(failingSince, :now)",
        Values: { ":n": o.count, ":now": o.nowIso },
        ReturnValues: "ALL_NEW",
      });
      return res.Attributes as Subscription;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  async recordSuccess(tenantId: string, id: string, o: { nowIso: string; close: boolean }): Promise<boolean> {
    // Closing (only if a circuit is open: concurrent successes close it once, and a stale view of an
    // open circuit does not reset the release cursor again) makes the parked work due now.
    const closed =
      o.close &&
      (await conditional(
        this.update(tenantId, id, {
          UpdateExpression:
            "SET consecutiveFailures = :zero, #wake = :due, wakeAt = :now, releasedThrough = :reset REMOVE failingSince, circuit, openedAt, nextProbeAt, probeIntervalSeconds",
          ConditionExpression: "attribute_exists(circuit)",
          Names: { "#wake": "wake" },
          Values: { ":zero": 0, ":due": WAKE_DUE, ":now": o.nowIso, ":reset": releaseReset(o.nowIso) },
        }),
      ));
    if (!closed)
      await conditional(this.update(tenantId, id, { UpdateExpression: "SET consecutiveFailures = :zero REMOVE failingSince", Values: { ":zero": 0 } }));
    return closed;
  }

  async openCircuit(
    tenantId: string,
    id: string,
    o: { threshold: number; nowIso: string; nextProbeAt: string; probeIntervalSeconds: number },
  ): Promise<boolean> {
    return conditional(
      this.update(tenantId, id, {
        UpdateExpression: "SET circuit = :open, openedAt = :now, nextProbeAt = :probe, probeIntervalSeconds = :interval, #wake = :due, wakeAt = :probe",
        ConditionExpression: "attribute_not_exists(circuit) AND consecutiveFailures >= :threshold",
        Names: { "#wake": "wake" },
        Values: {
          ":open": "open",
          ":now": o.nowIso,
          ":probe": o.nextProbeAt,
          ":interval": o.probeIntervalSeconds,
          ":due": WAKE_DUE,
          ":threshold": o.threshold,
        },
      }),
    );
  }

  async claimProbe(tenantId: string, id: string, o: { expectNextProbeAt: string; nextProbeAt: string; probeIntervalSeconds: number }): Promise<boolean> {
    return conditional(
      this.update(tenantId, id, {
        UpdateExpression: "SET circuit = :half, nextProbeAt = :next, probeIntervalSeconds = :interval",
        ConditionExpression: "circuit IN (:open, :half) AND nextProbeAt = :expect",
        Values: { ":half": "half-open", ":open": "open", ":next": o.nextProbeAt, ":interval": o.probeIntervalSeconds, ":expect": o.expectNextProbeAt },
      }),
    );
  }

  async probeFailed(tenantId: string, id: string): Promise<void> {
    await conditional(
      this.update(tenantId, id, {
        UpdateExpression: "SET circuit = :open",
        ConditionExpression: "circuit = :half",
        Values: { ":open": "open", ":half": "half-open" },
      }),
    );
  }

  async noteParked(tenantId: string, id: string, o: { count: number; dueAt: string; nowIso: string; sooner?: boolean }): Promise<void> {
    const counted = { ":n": o.count, ":one": 1, ":now": o.nowIso };
    // Due no later than `dueAt`: set when it is sooner than the wake already there (or none is).
    const sooner =
      o.sooner !== false &&
      (await conditional(
        this.update(tenantId, id, {
          UpdateExpression: "ADD parkedCount :n, parkSeq :one SET lastParkAt = :now, #wake = :due, wakeAt = :at",
          ConditionExpression: "attribute_not_exists(wakeAt) OR wakeAt > :at",
          Names: { "#wake": "wake" },
          Values: { ...counted, ":due": WAKE_DUE, ":at": o.dueAt },
        }),
      ));
    if (!sooner) await conditional(this.update(tenantId, id, { UpdateExpression: "ADD parkedCount :n, parkSeq :one SET lastParkAt = :now", Values: counted }));
  }

  async noteUnparked(tenantId: string, id: string, count: number): Promise<void> {
    if (count > 0) await conditional(this.update(tenantId, id, { UpdateExpression: "ADD parkedCount :n", Values: { ":n": -count } }));
  }

  async setWake(tenantId: string, id: string, o: { wakeAt?: string; expectParkSeq?: number; cursor?: { from?: string; to: string } }): Promise<boolean> {
    const { wakeAt, expectParkSeq, cursor } = o;
    const conditions: string[] = [];
    const values: Record<string, unknown> = {};
    if (expectParkSeq !== undefined) {
      // No park since the sweep read the webhook (a park brings the wake forward; it must stand).
      conditions.push(expectParkSeq === 0 ? "(attribute_not_exists(parkSeq) OR parkSeq = :seq)" : "parkSeq = :seq");
      values[":seq"] = expectParkSeq;
    }
    if (cursor) {
      // The cursor moves only from where the sweep read it: a reset meanwhile (close, resume) wins.
      conditions.push(cursor.from === undefined ? "attribute_not_exists(releasedThrough)" : "releasedThrough = :from");
      if (cursor.from !== undefined) values[":from"] = cursor.from;
      values[":to"] = cursor.to;
    }
    const set =
      wakeAt === undefined ? "REMOVE #wake, wakeAt SET parkedCount = :zero" : `SET #wake = :due, wakeAt = :at${cursor ? ", releasedThrough = :to" : ""}`;
    if (wakeAt === undefined) values[":zero"] = 0;
    else Object.assign(values, { ":due": WAKE_DUE, ":at": wakeAt });
    return conditional(
      this.update(tenantId, id, {
        UpdateExpression: set,
        ConditionExpression: conditions.length ? conditions.join(" AND ") : undefined,
        Names: { "#wake": "wake" },
        Values: values,
      }),
    );
  }

  async due(nowIso: string, limit: number): Promise<Subscription[]> {
    const res = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: WAKE.name,
        KeyConditionExpression: "#wake = :due AND wakeAt <= :now",
        ExpressionAttributeNames: { "#wake": WAKE.partitionKey },
        ExpressionAttributeValues: { ":due": WAKE_DUE, ":now": nowIso },
        Limit: limit,
      }),
    );
    return (res.Items ?? []) as Subscription[];
  }

  async summary(): Promise<{ openCircuits: number; parked: number }> {
    let openCircuits = 0;
    let parked = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const res = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: WAKE.name,
          KeyConditionExpression: "#wake = :due",
          ExpressionAttributeNames: { "#wake": WAKE.partitionKey },
          ExpressionAttributeValues: { ":due": WAKE_DUE },
          ProjectionExpression: "circuit, parkedCount",
          ExclusiveStartKey: start,
        }),
      );
      for (const item of res.Items ?? []) {
        if (item.circuit) openCircuits++;
        parked += Math.max(0, Number(item.parkedCount ?? 0));
      }
      start = res.LastEvaluatedKey;
    } while (start);
    return { openCircuits, parked };
  }

  async markSlow(tenantId: string, id: string, o: { slowUntil: string; slowMs: number }): Promise<void> {
    await conditional(
      this.update(tenantId, id, { UpdateExpression: "SET slowUntil = :until, slowMs = :ms", Values: { ":until": o.slowUntil, ":ms": o.slowMs } }),
    );
  }

  async takeSlot(tenantId: string, id: string, o: { lease: number; limit: number; expired: readonly number[] }): Promise<boolean> {
    // Leases of workers that died (past their end) are dropped first; one expression cannot both add to and delete from a set.
    if (o.expired.length)
      await conditional(this.update(tenantId, id, { UpdateExpression: "DELETE slots :expired", Values: { ":expired": new Set(o.expired) } }));
    return conditional(
      this.update(tenantId, id, {
        UpdateExpression: "ADD slots :lease",
        // A lease already in the set would be shared by two holders (ADD of a member is a no-op): refused.
        ConditionExpression: "(attribute_not_exists(slots) OR size(slots) < :max) AND NOT contains(slots, :one)",
        Values: { ":lease": new Set([o.lease]), ":max": o.limit, ":one": o.lease },
      }),
    );
  }

  async freeSlot(tenantId: string, id: string, lease: number): Promise<void> {
    await conditional(this.update(tenantId, id, { UpdateExpression: "DELETE slots :lease", Values: { ":lease": new Set([lease]) } }));
  }

  async takeRate(tenantId: string, id: string, o: { second: number; limit: number }): Promise<boolean> {
    // Not on the subscription item: a busy webhook would rewrite its (larger) item on every delivery.
    return conditional(
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { tenantId: ratePk(tenantId, id), id: String(o.second) },
          UpdateExpression: "ADD n :one SET expiresAt = :expires",
          ConditionExpression: "attribute_not_exists(n) OR n < :limit",
          ExpressionAttributeValues: { ":one": 1, ":limit": o.limit, ":expires": o.second + 120 },
        }),
      ),
    );
  }
}
