/**
 * The one helper for batch calls (lambdas/adapters/batch-calls.ts): batches cut to the API's size,
 * and what a call leaves unprocessed sent again after a backoff. Driven through the in-memory
 * DynamoDB (sim/ports/dynamo.ts), whose partitions refuse past their throughput and leave the
 * refused items unprocessed, as DynamoDB does; its retries are this helper, in virtual time.
 */
import { callUntilProcessed, chunk, DYNAMODB_RETRY, SQS_RETRY, type RetryUnprocessed } from "#adapters/batch-calls.ts";
import { Ledger, VirtualTime } from "../../sim/engine.ts";
import { itemSize, PARTITION_RCU, PARTITION_WCU, SimDynamo } from "../../sim/ports/dynamo.ts";

describe("chunk", () => {
  test("runs of the size asked, in order, the last one shorter", () => {
    expect(chunk([1, 2, 3, 4, 5, 6, 7], 3)).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(chunk([1, 2, 3], 3)).toEqual([[1, 2, 3]]);
    expect(chunk([1, 2], 25)).toEqual([[1, 2]]);
  });

  test("nothing in, no run; a size below 1 is refused (it would never end)", () => {
    expect(chunk([], 10)).toEqual([]);
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});

/** The waits of a retry policy before tries 2, 3, … `tries`. */
const waitsOf = (retry: RetryUnprocessed) => Array.from({ length: retry.tries - 1 }, (_, i) => retry.backoffMs(i + 1));

describe("callUntilProcessed", () => {
  test("sends what is left, after each backoff, until nothing is", async () => {
    const calls: (readonly number[])[] = [];
    const waits: number[] = [];
    // A receiver that takes two items per call, the rest left unprocessed.
    await callUntilProcessed(
      [1, 2, 3, 4, 5],
      async (pending) => {
        calls.push(pending);
        return pending.slice(2);
      },
      DYNAMODB_RETRY,
      () => new Error("unreachable"),
      async (ms) => void waits.push(ms),
    );
    expect(calls).toEqual([[1, 2, 3, 4, 5], [3, 4, 5], [5]]);
    expect(waits).toEqual([100, 200]);
  });

  test("throws after the last try still leaves items, having waited each backoff once", async () => {
    const waits: number[] = [];
    let calls = 0;
    const err = await callUntilProcessed(
      ["a", "b"],
      // A receiver that never takes "b".
      async (pending) => {
        calls++;
        return pending.filter((x) => x === "b");
      },
      SQS_RETRY,
      (left) => new Error(`left ${left.join(",")}`),
      async (ms) => void waits.push(ms),
    ).catch((e: Error) => e);
    // Try 1 leaves b, tries 2–4 leave it too: 4 calls, 3 waits, then the error naming what is left.
    expect(calls).toBe(SQS_RETRY.tries);
    expect(waits).toEqual([200, 400, 800]);
    expect(err).toEqual(new Error("left b"));
  });

  test("nothing to send, no call; an answer of undefined means all processed", async () => {
    let calls = 0;
    const count = async () => {
      calls++;
      return undefined;
    };
    await callUntilProcessed([], count, DYNAMODB_RETRY, () => new Error("unreachable"));
    expect(calls).toBe(0);
    await callUntilProcessed([1], count, DYNAMODB_RETRY, () => new Error("unreachable"));
    expect(calls).toBe(1);
  });

  test("an error of the call itself goes up at once, untried again", async () => {
    let calls = 0;
    const failing = async (): Promise<number[]> => {
      calls++;
      throw new Error("ValidationException");
    };
    await expect(callUntilProcessed([1], failing, DYNAMODB_RETRY, () => new Error("unreachable"))).rejects.toThrow("ValidationException");
    expect(calls).toBe(1);
  });

  test("DynamoDB's backoff doubles from 100 ms to 1 s, 6.5 s over 10 tries; SQS's 200, 400, 800 ms over 4", () => {
    expect(waitsOf(DYNAMODB_RETRY)).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000, 1_000]);
    expect(waitsOf(SQS_RETRY)).toEqual([200, 400, 800]);
  });
});

describe("against the in-memory DynamoDB: a hot partition leaves items unprocessed", () => {
  /** Virtual time at which each try was made: 0 and then the running sum of the backoffs. */
  const tryTimes = [0];
  for (const w of waitsOf(DYNAMODB_RETRY)) tryTimes.push(tryTimes[tryTimes.length - 1] + w);

  function dynamo() {
    const time = new VirtualTime();
    const ledger = new Ledger();
    return { time, ledger, db: new SimDynamo(time, ledger), start: time.now() };
  }

  /** `n` items of one partition, each with a blob of `bytes` (a write unit is 1 KB of item). */
  function items(n: number, bytes: number) {
    return Array.from({ length: n }, (_, i) => ({ pk: "tenant#wh", sk: `dlv_${i}`, item: { pk: "tenant#wh", id: `dlv_${i}`, blob: "x".repeat(bytes) } }));
  }

  test("BatchWriteItem of 25 items, 10 a second: written in full, the rest retried as each second's capacity frees up", async () => {
    const { time, ledger, db, start } = dynamo();
    const batch = items(25, 99_000);
    const units = Math.ceil(itemSize(batch[0].item) / 1_024);
    const perSecond = Math.floor(PARTITION_WCU / units);
    expect(perSecond).toBe(10);
    const done = db.batchWrite("deliveries", batch);
    await time.runUntil(start + 10_000);
    await done;
    expect(ledger.requests.get("DynamoDB.WCU")).toBe(25 * units);
    // 10 in second 0 (tries at 0, 100, 300, 700 ms), 10 in second 1 (1.5 s), 5 in second 2 (2.5 s): 6 tries.
    const triesNeeded = tryTimes.findIndex((t) => Math.floor(t / 1_000) === 2) + 1;
    expect(ledger.requests.get("DynamoDB.BatchWriteItem")).toBe(triesNeeded);
    expect(triesNeeded).toBe(6);
    expect(ledger.throttles.get("DynamoDB.deliveries UnprocessedItems")).toBe(triesNeeded - 1);
  });

  test("BatchWriteItem of items only 2 fit a second: after 10 tries over 6.5 s, the items still left make it throw", async () => {
    const { time, ledger, db, start } = dynamo();
    const batch = items(25, 399_000);
    const units = Math.ceil(itemSize(batch[0].item) / 1_024);
    expect(Math.floor(PARTITION_WCU / units)).toBe(2);
    const done = db.batchWrite("deliveries", batch).catch((e: Error) => e);
    await time.runUntil(start + 10_000);
    // The 10 tries fall in 7 distinct seconds (0 … 6.5 s): 14 written, 11 left.
    const seconds = new Set(tryTimes.map((t) => Math.floor(t / 1_000))).size;
    expect(seconds).toBe(7);
    expect(await done).toEqual(new Error(`BatchWriteItem left ${25 - 2 * seconds} items unprocessed`));
    expect(ledger.requests.get("DynamoDB.BatchWriteItem")).toBe(DYNAMODB_RETRY.tries);
    expect(ledger.requests.get("DynamoDB.WCU")).toBe(2 * seconds * units);
  });

  test("BatchGetItem of 100 keys, 30 a second: every key read, in batches of at most 100", async () => {
    const { time, ledger, db, start } = dynamo();
    const keys = Array.from({ length: 130 }, (_, i) => ({ pk: `tenant#wh${i < 100 ? 0 : 1}`, sk: `dlv_${i}`, size: () => 400 * 1_024 }));
    const done = db.batchGet("deliveries", keys);
    await time.runUntil(start + 10_000);
    await done;
    const units = (400 * 1_024) / 4_096;
    expect(Math.floor(PARTITION_RCU / units)).toBe(30);
    // The first 100 (one partition): 30 a second over seconds 0–3, 7 tries; then the other 30 keys (another partition), 1 try.
    const triesNeeded = tryTimes.findIndex((t) => Math.floor(t / 1_000) === 3) + 1;
    expect(triesNeeded).toBe(7);
    expect(ledger.requests.get("DynamoDB.BatchGetItem")).toBe(triesNeeded + 1);
    expect(ledger.throttles.get("DynamoDB.deliveries UnprocessedKeys")).toBe(triesNeeded - 1);
  });
});
