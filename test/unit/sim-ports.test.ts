/**
 * The in-memory ports refuse what AWS refuses (and what fauxqs and dynalite let through), so the
 * simulator and the unit tests built on them cannot pass by breaking a rule.
 */
import { Ledger, VirtualTime } from "../../sim/engine.ts";
import { MAX_ITEM_BYTES, SimDynamo, SimHealthStore, SimSubscriptionStore } from "../../sim/ports/dynamo.ts";
import { SimQueue } from "../../sim/ports/sqs.ts";

function queue(inFlightLimit = 5) {
  const time = new VirtualTime();
  const ledger = new Ledger();
  const dlq = new SimQueue(time, ledger, { name: "dlq", visibilityTimeoutSeconds: 30, inFlightLimit: 100 });
  const q = new SimQueue(time, ledger, { name: "q", visibilityTimeoutSeconds: 180, inFlightLimit, maxReceiveCount: 2, dlq });
  return { time, ledger, q, dlq };
}

describe("simulated SQS", () => {
  test("12 h of visibility counted from the receive: 43,200 s asked 10 s after the receive is refused, 43,190 s is not", async () => {
    const { time, ledger, q } = queue();
    q.send("a");
    const [m] = q.receive(1);
    await time.runUntil(time.now() + 10_000);
    expect(q.changeVisibilityBatch([{ id: "1", handle: m.handle!, seconds: 43_200 }])).toEqual([{ id: "1", code: "InvalidParameterValue" }]);
    expect(ledger.violations).toHaveLength(1);
    expect(q.changeVisibilityBatch([{ id: "1", handle: m.handle!, seconds: 43_190 }])).toEqual([]);
    await time.runUntil(time.now() + 43_189_000);
    expect(q.receive(1)).toEqual([]);
    await time.runUntil(time.now() + 1_000);
    expect(q.receive(1)).toHaveLength(1);
  });

  test("past the in-flight limit a receive returns nothing; DelaySeconds over 900, oversized batches and repeated ids are refused", () => {
    const { ledger, q } = queue(2);
    for (const b of ["a", "b", "c"]) q.send(b);
    expect(q.receive(10)).toHaveLength(2);
    expect(q.receive(10)).toEqual([]);
    expect(ledger.throttles.get("SQS.OverLimit(in flight)")).toBe(1);
    expect(() => q.send("d", undefined, 901)).toThrow(/DelaySeconds 901/);
    expect(() =>
      q.sendBatch([
        { id: "1", body: "x".repeat(600_000) },
        { id: "2", body: "y".repeat(600_000) },
      ]),
    ).toThrow(/BatchRequestTooLong/);
    expect(() =>
      q.sendBatch([
        { id: "1", body: "x" },
        { id: "1", body: "y" },
      ]),
    ).toThrow(/BatchEntryIdsNotDistinct/);
    expect(() => q.sendBatch(Array.from({ length: 11 }, (_, i) => ({ id: String(i), body: "x" })))).toThrow(/TooManyEntries/);
    expect(() => q.receive(11)).toThrow(/MaxNumberOfMessages/);
    expect(ledger.violations).toHaveLength(5);
  });

  test("past maxReceiveCount a message moves to the DLQ instead of being received", async () => {
    const { time, q, dlq } = queue();
    q.send("poison");
    for (let i = 0; i < 2; i++) {
      expect(q.receive(1)).toHaveLength(1);
      await time.runUntil(time.now() + 181_000);
    }
    expect(q.receive(1)).toEqual([]);
    expect(dlq.heldBodies()).toEqual(["poison"]);
  });
});

describe("simulated DynamoDB", () => {
  test("duplicate keys in a batch call and items over 400 KB are refused; a partition takes 1,000 WCU/s, then throttles", async () => {
    const time = new VirtualTime();
    const ledger = new Ledger();
    const db = new SimDynamo(time, ledger);
    await expect(
      db.batchGet("t", [
        { pk: "a", sk: "1", size: () => 10 },
        { pk: "a", sk: "1", size: () => 10 },
      ]),
    ).rejects.toThrow(/contains duplicates/);
    expect(() => db.checkSize("t", { pk: "a", blob: "x".repeat(MAX_ITEM_BYTES) })).toThrow(/Item size has exceeded/);
    const subs = new SimSubscriptionStore(db);
    const writes = Array.from({ length: 1_000 }, () => db.write("PutItem", "t", "hot", 1_024));
    await Promise.all(writes);
    expect(db.hottestWcuPerSecond).toBe(1_000);
    // The 1,001st write in the same second is throttled, retried by the SDK in virtual time, and refused.
    await expect(time.drive(db.write("PutItem", "t", "hot", 1_024))).rejects.toThrow(/ProvisionedThroughputExceeded/);
    // Another partition is not affected.
    await expect(subs.listByTenant("other")).resolves.toEqual([]);
    expect(ledger.violations).toHaveLength(2);
  });

  test("a subscription update writes what the management API changes (a resume's wake included) and removes what is null", async () => {
    const subs = new SimSubscriptionStore(new SimDynamo(new VirtualTime(), new Ledger()));
    const at = "2026-11-26T10:00:00.000Z";
    await subs.create(
      {
        tenantId: "t",
        id: "wh_1",
        url: "https://h.example.com/",
        eventTypes: ["*"],
        enabled: true,
        secrets: [],
        createdAt: at,
        updatedAt: at,
        paused: true,
        rateLimit: 5,
      },
      50,
    );
    const resumed = await subs.update("t", "wh_1", { paused: false, rateLimit: null, wake: "due", wakeAt: at, updatedAt: at });
    expect(resumed).toMatchObject({ paused: false, wake: "due", wakeAt: at });
    expect(resumed).not.toHaveProperty("rateLimit");
    expect(await subs.get("t", "wh_1")).toEqual(resumed);
    expect(await subs.update("t", "wh_1", { wake: null, wakeAt: null })).not.toHaveProperty("wake");
  });
  test("a slot lease the set already holds is refused, as the adapter's condition refuses it on DynamoDB", async () => {
    const dynamo = new SimDynamo(new VirtualTime(), new Ledger());
    const subs = new SimSubscriptionStore(dynamo);
    const health = new SimHealthStore(dynamo, subs);
    const at = "2026-11-26T10:00:00.000Z";
    await subs.create(
      { tenantId: "t", id: "wh_1", url: "https://h.example.com/", eventTypes: ["*"], enabled: true, secrets: [], createdAt: at, updatedAt: at },
      50,
    );
    expect(await health.takeSlot("t", "wh_1", { lease: 7, limit: 3, expired: [] })).toBe(true);
    expect(await health.takeSlot("t", "wh_1", { lease: 7, limit: 3, expired: [] })).toBe(false);
    expect(await health.takeSlot("t", "wh_1", { lease: 8, limit: 3, expired: [] })).toBe(true);
    expect([...((await subs.get("t", "wh_1"))?.slots ?? [])]).toEqual([7, 8]);
  });
});
