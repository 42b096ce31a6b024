import { packageOf } from "../../bench/bundle.ts";
import { costPerMillion, lambdaDurationMs, logBytesPerInvocation } from "../../bench/cost.ts";
import { PLATFORM_LOG_BYTES_PER_INVOCATION } from "../../bench/prices.ts";
import { goals, TARGETS, type Results } from "../../bench/report.ts";
import { cpuMs, parseProcStat, percentile, stealPercent, summarize } from "../../bench/stats.ts";
import {
  consumedCapacity,
  difference,
  emptyTally,
  messagesIn,
  operationOf,
  perDelivery,
  record,
  sqsBilledRequests,
  withConsumedCapacity,
} from "../../bench/tally.ts";

/** The pure parts of `npm run bench`: statistics, request counting, the cost model. No timing here. */

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose

  test("of 1..100 is the rank itself", () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
  });

  test("rounds the rank up: p50 of four samples is the second, p99 of ten is the tenth", () => {
    expect(percentile([40, 10, 30, 20], 50)).toBe(20);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
  });

  test("of one sample is that sample; of none is NaN; outside 0..100 is an error", () => {
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow("percentile 101 is outside 0..100");
  });

  test("summarize gives count, p50, p95, p99 and max without sorting the caller's array", () => {
    const values = [5, 1, 4, 2, 3];
    expect(summarize(values)).toEqual({ count: 5, p50: 3, p95: 5, p99: 5, max: 5 });
    expect(values).toEqual([5, 1, 4, 2, 3]);
  });

  test("cpuMs adds user and system time, microseconds to milliseconds", () => {
    expect(cpuMs({ user: 1_000, system: 500 }, { user: 4_000, system: 2_000 })).toBe(4.5);
  });

  test("CPU steal is the hypervisor's share of all CPU time between two /proc/stat readings", () => {
    const before = parseProcStat("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n");
    const after = parseProcStat("cpu  200 0 60 900 10 0 5 75 0 0\n");
    expect(before).toEqual({ total: 1_000, steal: 35 });
    expect(after).toEqual({ total: 1_250, steal: 75 });
    expect(stealPercent(before, after)).toBe(16); // 40 of 250
    expect(stealPercent(undefined, after)).toBeUndefined();
    expect(parseProcStat("intr 1 2 3")).toBeUndefined();
  });
});

describe("counting AWS requests by X-Amz-Target", () => {
  const SQS_RECEIVE_2 = '{"Messages":[{"MessageId":"a","Body":"{\\"MessageId\\":\\"x\\"}"},{"MessageId":"b","Body":"{}"}]}';

  test("the target names the service and the operation, as the SDK v3 JSON protocol sends it", () => {
    expect(operationOf("AmazonSQS.SendMessageBatch")).toEqual({ service: "sqs", op: "SendMessageBatch" });
    expect(operationOf("DynamoDB_20120810.UpdateItem")).toEqual({ service: "dynamodb", op: "UpdateItem" });
    expect(operationOf("AWSEvents.PutEvents")).toBeUndefined();
    expect(operationOf("nodot")).toBeUndefined();
    expect(operationOf(undefined)).toBeUndefined();
  });

  test("SQS bills one request per started 64 KiB of the larger of request and response", () => {
    expect(sqsBilledRequests(0, 0)).toBe(1);
    expect(sqsBilledRequests(65_536, 100)).toBe(1);
    expect(sqsBilledRequests(65_537, 100)).toBe(2);
    expect(sqsBilledRequests(100, 200_000)).toBe(4);
  });

  test("messages of a receive are counted by their unescaped MessageId keys only", () => {
    expect(messagesIn(SQS_RECEIVE_2)).toBe(2);
    expect(messagesIn("{}")).toBe(0);
  });

  test("ReturnConsumedCapacity is added to data-plane DynamoDB requests, and to nothing else", () => {
    expect(JSON.parse(withConsumedCapacity("UpdateItem", '{"TableName":"t"}'))).toEqual({ TableName: "t", ReturnConsumedCapacity: "TOTAL" });
    expect(JSON.parse(withConsumedCapacity("BatchGetItem", "{}"))).toEqual({ ReturnConsumedCapacity: "TOTAL" });
    expect(withConsumedCapacity("CreateTable", '{"TableName":"t"}')).toBe('{"TableName":"t"}');
  });

  test("consumed capacity is read from single-item and batch responses", () => {
    expect(consumedCapacity('{"Attributes":{},"ConsumedCapacity":{"CapacityUnits":2,"TableName":"rk-webhooks-deliveries"}}')).toEqual([
      { table: "rk-webhooks-deliveries", units: 2 },
    ]);
    expect(consumedCapacity('{"Responses":{},"ConsumedCapacity":[{"CapacityUnits":10,"TableName":"a"},{"CapacityUnits":0.5,"TableName":"b"}]}')).toEqual([
      { table: "a", units: 10 },
      { table: "b", units: 0.5 },
    ]);
    expect(consumedCapacity("{}")).toEqual([]);
  });

  test("a tally adds requests, billed units, messages, empty receives and capacity per table", () => {
    const t = emptyTally();
    record(t, "AmazonSQS.SendMessageBatch", 70_000, "{}");
    record(t, "AmazonSQS.ReceiveMessage", 300, SQS_RECEIVE_2);
    record(t, "AmazonSQS.ReceiveMessage", 300, "{}");
    record(t, "AmazonSQS.DeleteMessageBatch", 500, "{}");
    record(t, "DynamoDB_20120810.PutItem", 900, '{"ConsumedCapacity":{"CapacityUnits":1,"TableName":"rk-webhooks-events"}}');
    record(t, "DynamoDB_20120810.UpdateItem", 900, '{"ConsumedCapacity":{"CapacityUnits":2,"TableName":"rk-webhooks-deliveries"}}');
    record(t, "DynamoDB_20120810.BatchGetItem", 300, '{"ConsumedCapacity":[{"CapacityUnits":3,"TableName":"rk-webhooks-deliveries"}]}');
    record(t, "DynamoDB_20120810.CreateTable", 300, '{"TableDescription":{}}');
    record(t, "Unknown.Thing", 300, "{}");

    expect(t.sqs).toEqual({
      SendMessageBatch: { requests: 1, units: 2, messages: 0, empty: 0 },
      ReceiveMessage: { requests: 2, units: 2, messages: 2, empty: 1 },
      DeleteMessageBatch: { requests: 1, units: 1, messages: 0, empty: 0 },
    });
    expect(t.dynamodb.UpdateItem).toEqual({ requests: 1, units: 2, messages: 0, empty: 0 });
    expect(t.dynamodb.CreateTable).toEqual({ requests: 1, units: 0, messages: 0, empty: 0 });
    expect(t.tables).toEqual({ "rk-webhooks-events": { read: 0, write: 1 }, "rk-webhooks-deliveries": { read: 3, write: 2 } });

    const per = perDelivery(t, 4);
    expect(per.sqs).toEqual({ send: 0.25, receive: 0.5, emptyReceive: 0.25, delete: 0.25, changeVisibility: 0, other: 0, total: 1, billed: 1.25 });
    expect(per.dynamodb).toEqual({
      readRequests: 0.25,
      writeRequests: 0.5,
      readUnits: 0.75,
      writeUnits: 0.75,
      tables: { events: { read: 0, write: 0.25 }, deliveries: { read: 0.75, write: 0.5 } },
    });
  });

  test("the difference of two snapshots is what happened in between, operations with no new request left out", () => {
    const before = emptyTally();
    record(before, "AmazonSQS.ReceiveMessage", 10, "{}");
    record(before, "DynamoDB_20120810.UpdateItem", 10, '{"ConsumedCapacity":{"CapacityUnits":1,"TableName":"d"}}');
    const after = structuredClone(before);
    record(after, "DynamoDB_20120810.UpdateItem", 10, '{"ConsumedCapacity":{"CapacityUnits":3,"TableName":"d"}}');
    expect(difference(after, before)).toEqual({
      sqs: {},
      dynamodb: { UpdateItem: { requests: 1, units: 3, messages: 0, empty: 0 } },
      tables: { d: { read: 0, write: 3 } },
    });
  });
});

describe("the cost model", () => {
  test("adds up every line item per million deliveries on the list prices", () => {
    const cost = costPerMillion({
      sqsRequestsPerDelivery: 0.3,
      dynamodbWriteUnitsPerDelivery: 2,
      dynamodbReadUnitsPerDelivery: 1,
      apiRequestsPerDelivery: 0.01,
      lambdas: {
        // 99.2 ms is billed as 100 ms.
        deliver: { invocationsPerDelivery: 0.1, durationMs: 99.2, memoryMb: 256, logBytesPerInvocation: 1_000, logLinesPerInvocation: 2 },
        ingest: { invocationsPerDelivery: 0.01, durationMs: 500, memoryMb: 256, logBytesPerInvocation: 300, logLinesPerInvocation: 1 },
      },
    });
    expect(cost.lambdaRequests).toBeCloseTo(0.022, 12); // 110,000 invocations × $0.20/M
    expect(cost.lambdaCompute).toBeCloseTo(3_750 * 0.0000133334, 12); // 100,000 × 0.25 GB × 0.1 s + 10,000 × 0.25 GB × 0.5 s
    expect(cost.sqs).toBeCloseTo(0.12, 12);
    expect(cost.dynamodbWrites).toBeCloseTo(1.25, 12);
    expect(cost.dynamodbReads).toBeCloseTo(0.125, 12);
    expect(cost.httpApi).toBeCloseTo(0.01, 12);
    // (1,000 + 2 × 26 + 418) B × 100,000 + (300 + 26 + 418) B × 10,000 = 0.15444 GB at $0.50
    expect(cost.logs).toBeCloseTo(0.07722, 12);
    expect(cost.total).toBeCloseTo(0.022 + 3_750 * 0.0000133334 + 0.12 + 1.25 + 0.125 + 0.01 + 0.07722, 12);
  });

  test("a λ's log bytes are its own lines, 26 bytes of metadata per line, and Lambda's START/END/REPORT", () => {
    expect(PLATFORM_LOG_BYTES_PER_INVOCATION).toBe(418);
    expect(logBytesPerInvocation({ logBytesPerInvocation: 1_000, logLinesPerInvocation: 2 })).toBe(1_470);
  });

  test("a 256 MB λ runs CPU work 1,769/256 times slower than a full core; waiting is unchanged", () => {
    expect(lambdaDurationMs(100, 10, 256)).toBe(100 + 10 * (1_769 / 256 - 1));
    expect(lambdaDurationMs(100, 10, 1_769)).toBe(100);
    expect(lambdaDurationMs(100, 10, 4_096)).toBe(100);
  });
});

test("bundle inputs are grouped by npm package, scoped or not, and ours", () => {
  expect(packageOf("node_modules/@aws-sdk/client-sqs/dist-cjs/index.js")).toBe("@aws-sdk/client-sqs");
  expect(packageOf("node_modules/undici/lib/dispatcher/agent.js")).toBe("undici");
  expect(packageOf("node_modules/a/node_modules/zod/v4/core.js")).toBe("zod");
  expect(packageOf("lambdas/core/delivery.ts")).toBe("ours");
});

describe("the goals a run is checked against", () => {
  const aws = (writeUnits: number) => ({
    sqs: { send: 0.1, receive: 0.1, emptyReceive: 0, delete: 0.1, changeVisibility: 0, other: 0, total: 0.3, billed: 0.3 },
    dynamodb: { readRequests: 0, writeRequests: 0, readUnits: 0, writeUnits, tables: {} },
  });
  const e2e = (fanout: number, workerCpuMsPerDelivery: number, perSecond: number, writeUnits: number) => ({
    name: `fan-out ${fanout}, full load`,
    fanout,
    load: "full",
    attempts: 1,
    deliveries: 1_000,
    duplicates: 0,
    seconds: 1,
    perSecond,
    latencyMs: { count: 1, p50: 1, p95: 1, p99: 1, max: 1 },
    workerCpuMsPerDelivery,
    cpuMsPerDelivery: { worker: workerCpuMsPerDelivery, emulators: 0, apiAndIngest: 0, receivers: 0 },
    aws: aws(writeUnits),
  });
  const breakdown = (total: number) => ({ lambdaRequests: 0, lambdaCompute: 0, sqs: 0, dynamodbWrites: 0, dynamodbReads: 0, httpApi: 0, logs: 0, total });
  const lambda = (cpuMs: number, messagesPerInvocation: number) => ({
    invocations: 3,
    messagesPerInvocation,
    wallMs: cpuMs,
    cpuMs,
    lambdaMs: cpuMs,
    logBytes: 0,
    logLines: 0,
    logSample: "",
  });
  const bundle = (name: "ingest" | "deliver", importMs: number) => ({ name, bytes: 1, largest: [], importMs, importMinMs: importMs });
  const results = {
    settings: { deliverBatchSize: 100 },
    bareLoop: { requests: 1, ok: 1, perSecond: 1, cpuMsPerRequest: 0.2 },
    endToEnd: [e2e(1, 0.5, 1_600, 2.0), e2e(10, 0.42, 1_400, 1.2002)],
    slowBatch: { batch: 11, slowMs: 500, samplesMs: [600], medianMs: 600, maxMs: 600 },
    lambda: { "ingest, fan-out 1": lambda(61, 100), "ingest, fan-out 1, producer ids": lambda(1, 100) },
    cost: [
      // the batches of 10 are another case: the goal is checked at the mapping's batch size
      { name: "fan-out 1, first try, batches of 10", fanout: 1, attempts: 1, endpointMs: 50, batchSize: 10, breakdown: breakdown(9) },
      { name: "fan-out 1, first try", fanout: 1, attempts: 1, endpointMs: 50, batchSize: 100, breakdown: breakdown(1.5) },
      { name: "fan-out 10, first try", fanout: 10, attempts: 1, endpointMs: 50, batchSize: 100, breakdown: breakdown(0.96) },
    ],
    coldStart: { emptyMs: 5, runs: 9, bundles: [bundle("ingest", 121), bundle("deliver", 150)] },
  } as unknown as Results;

  test("the hot paths' targets first, each row met or missed by how much", () => {
    expect(TARGETS.workerCpuRatio).toEqual({ 1: 2.5, 10: 2.0 });
    const rows = goals(results).map((g) => [g.goal, g.target, g.actual, g.met ? "yes" : g.by]);
    expect(rows.slice(0, 7)).toEqual([
      ["worker CPU per delivery ÷ bare loop CPU per request, fan-out 1", "≤ 2.50×", "2.50×", "yes"],
      ["worker CPU per delivery ÷ bare loop CPU per request, fan-out 10", "≤ 2.00×", "2.10×", "+5 %"],
      ["ingest λ CPU per event (calls of 100, fan-out 1)", "≤ 0.60 ms", "0.61 ms", "+2 %"],
      ["cost per million first-try deliveries, fan-out 1 (50 ms endpoints)", "≤ $1.500", "$1.500", "yes"],
      ["cost per million first-try deliveries, fan-out 10 (50 ms endpoints)", "≤ $0.950", "$0.960", "+1 %"],
      ["deliver λ import time (cold start, median of 9)", "≤ 150 ms", "150 ms", "yes"],
      ["ingest λ import time (cold start, median of 9)", "≤ 120 ms", "121 ms", "+0.8 %"],
    ]);
  });

  test("then throughput, the slow batch and requests; a miss too small for whole percents shows its decimals", () => {
    const rows = goals(results).map((g) => [g.goal, g.met ? "yes" : g.by]);
    expect(rows.slice(7)).toEqual([
      ["end-to-end throughput, fan-out 1", "yes"],
      ["end-to-end throughput, fan-out 10", "-7 %"],
      ["batch wall time with one 500 ms endpoint", "yes"],
      ["SQS requests per first-try delivery, fan-out 1", "yes"],
      ["SQS requests per first-try delivery, fan-out 10", "yes"],
      ["DynamoDB write units per first-try delivery, fan-out 1", "yes"],
      ["DynamoDB write units per first-try delivery, fan-out 10", "+0.02 %"],
    ]);
  });
});
