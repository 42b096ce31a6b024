/**
 * What a production account needs, checked on the running services (issue 12, items 9 and 11):
 * the queues take the largest message the ingest limits allow (and no more), failed bookkeeping
 * writes are counted for their alarm, and a second DLQ redrive while one runs is a 409 naming the
 * running task — on the local stack's copy loop and on the SQS message move task path.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DeleteTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, SendMessageBatchCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { RedriveInProgress, type CoreMetrics } from "#core/ports.ts";
import { INGEST, MAX_MESSAGE_BYTES, METRICS } from "#core/settings.ts";
import { LOCAL_REGION, newEmulatorCredentials } from "../../local/emulators.ts";
import { OpenApiValidator } from "../support/openapi.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

const stacks: TestStack[] = [];
const receivers: TestReceiver[] = [];
afterAll(async () => {
  await Promise.all([...stacks.map((s) => s.stop()), ...receivers.map((r) => r.stop())]);
});

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("queue message size", () => {
  let stack: TestStack;
  let receiver: TestReceiver;
  let sqs: SQSClient;

  beforeAll(async () => {
    [stack, receiver] = await Promise.all([startTestStack(), new TestReceiver().start()]);
    stacks.push(stack);
    receivers.push(receiver);
    sqs = new SQSClient(stack.stack.config.sqs!);
  });

  test("both queues are created with MaximumMessageSize = MAX_MESSAGE_BYTES, as the stack sets it", async () => {
    for (const url of [stack.stack.config.queue.queueUrl, stack.stack.config.queue.dlqUrl]) {
      const res = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["MaximumMessageSize"] }));
      expect(Number(res.Attributes!.MaximumMessageSize)).toBe(MAX_MESSAGE_BYTES);
    }
  });

  test("the worst-case event (256 KiB of data that all needs escaping) is accepted and delivered exactly", async () => {
    const hook = await stack.createWebhook("acct_big", receiver.url);
    // {"recordId":"…","s":"\"\\…"}: every character of `s` is escaped twice on its way into the message.
    const recordId = INGEST.maxDataBytes % 2 === JSON.stringify({ recordId: "rec_1", s: "" }).length % 2 ? "rec_1" : "rec_10";
    const quotes = (INGEST.maxDataBytes - JSON.stringify({ recordId, s: "" }).length) / 2;
    const data = { recordId, s: '"'.repeat(Math.floor(quotes / 2)) + "\\".repeat(Math.ceil(quotes / 2)) };
    expect(Buffer.byteLength(JSON.stringify(data))).toBe(INGEST.maxDataBytes);
    const res = await stack.api("POST", "/events", { type: "record.created", tenantId: "acct_big", data });
    expect(res.status).toBe(202);
    await receiver.waitFor(1);
    expect(JSON.parse(receiver.requests[0].body).data).toEqual(data);
    const [delivery] = await stack.waitForDeliveries("acct_big", hook.id, (items) => items[0]?.status === "succeeded");
    expect(delivery.attemptCount).toBe(1);
  });

  test("a message one byte over the limit is refused by the queue (the limit is real locally too)", async () => {
    const body = JSON.stringify({ pad: "x".repeat(MAX_MESSAGE_BYTES - '{"pad":""}'.length) });
    expect(Buffer.byteLength(body)).toBe(MAX_MESSAGE_BYTES);
    await sqs.send(new SendMessageCommand({ QueueUrl: stack.stack.config.queue.dlqUrl, MessageBody: body }));
    await expect(sqs.send(new SendMessageCommand({ QueueUrl: stack.stack.config.queue.dlqUrl, MessageBody: `${body} ` }))).rejects.toThrow();
  });
});

describe("GET /admin/queues", () => {
  const api = new OpenApiValidator();
  /** The depths as the API answers them, checked against docs/openapi.yaml. */
  const depths = async (stack: TestStack) => {
    const res = await stack.api("GET", "/admin/queues");
    expect(api.checkResponse("GET", "/admin/queues", res.status, res.body)).toEqual([]);
    expect(res.status).toBe(200);
    return res.body;
  };

  test("with no worker receiving, every delivery published waits visible on the delivery queue, as SQS counts it", async () => {
    const stack = await startTestStack({ worker: false });
    stacks.push(stack);
    const sqs = new SQSClient(stack.stack.config.sqs!);
    expect(await depths(stack)).toEqual({
      delivery: { visible: 0, inFlight: 0, delayed: 0 },
      slow: { visible: 0, inFlight: 0, delayed: 0 },
      dlq: { visible: 0, inFlight: 0 },
    });
    await stack.createWebhook("acct_depth", "https://a.example.com/h", ["record.*"]);
    await stack.createWebhook("acct_depth", "https://b.example.com/h", ["record.created"]);
    const events = Array.from({ length: 7 }, (_, i) => ({
      type: i < 4 ? "record.created" : "record.updated",
      tenantId: "acct_depth",
      data: { recordId: `rec_${i}` },
    }));
    const accepted = await stack.api("POST", "/events", { events });
    expect(accepted.body.deliveries).toBe(11);
    expect(await depths(stack)).toEqual({
      delivery: { visible: 11, inFlight: 0, delayed: 0 },
      slow: { visible: 0, inFlight: 0, delayed: 0 },
      dlq: { visible: 0, inFlight: 0 },
    });
    // The same figures as SQS's own attributes.
    const res = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.stack.config.queue.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    expect([Number(res.Attributes!.ApproximateNumberOfMessages), Number(res.Attributes!.ApproximateNumberOfMessagesNotVisible)]).toEqual([11, 0]);
    sqs.destroy();
  });

  test("with a worker: a healthy endpoint's deliveries leave the queue; a failing one's wait in flight through their backoff, then sit in the DLQ", async () => {
    const up = await new TestReceiver().start();
    const down = await new TestReceiver(() => ({ kind: "status", status: 503 })).start();
    receivers.push(up, down);
    // Two attempts 5 s apart. Two events make four failed attempts, under the breaker's threshold
    // (5): the circuit stays closed, so the retries wait on the queue, not parked.
    const stack = await startTestStack({ schedule: "5s" });
    stacks.push(stack);
    const healthy = await stack.createWebhook("acct_depth2", up.url, ["record.created"]);
    const failing = await stack.createWebhook("acct_depth2", down.url, ["record.created"]);
    for (const recordId of ["rec_1", "rec_2"]) await stack.api("POST", "/events", { type: "record.created", tenantId: "acct_depth2", data: { recordId } });
    await stack.waitForDeliveries("acct_depth2", healthy.id, (items) => items.length === 2 && items.every((d) => d.status === "succeeded"));
    await stack.waitForDeliveries(
      "acct_depth2",
      failing.id,
      (items) => items.length === 2 && items.every((d) => d.status === "pending" && d.attemptCount === 1),
    );
    expect(await depths(stack)).toEqual({
      delivery: { visible: 0, inFlight: 2, delayed: 0 },
      slow: { visible: 0, inFlight: 0, delayed: 0 },
      dlq: { visible: 0, inFlight: 0 },
    });
    await stack.waitForDeliveries("acct_depth2", failing.id, (items) => items.length === 2 && items.every((d) => d.status === "failed"));
    expect(
      await until("the DLQ to hold both", async () => {
        const d = await depths(stack);
        return d.dlq.visible === 2 ? d : undefined;
      }),
    ).toEqual({ delivery: { visible: 0, inFlight: 0, delayed: 0 }, slow: { visible: 0, inFlight: 0, delayed: 0 }, dlq: { visible: 2, inFlight: 0 } });
    expect(up.requests).toHaveLength(2);
    expect(down.requests).toHaveLength(4);
  });
});

describe("bookkeeping write failures", () => {
  test("a delivery record write that fails is counted as BookkeepingWriteFailures (the alarm's metric)", async () => {
    const counts = new Map<string, number>();
    const metrics: CoreMetrics = { count: (name, value = 1) => counts.set(name, (counts.get(name) ?? 0) + value), milliseconds: () => {} };
    const receiver = await new TestReceiver().start();
    receivers.push(receiver);
    // A first receive soon after acceptance reads no record (the default recovery delay makes it
    // fresh), so the attempt is made and only its record write meets the missing table.
    const stack = await startTestStack({ metrics, recoveryDelaySeconds: 60 });
    stacks.push(stack);
    await stack.createWebhook("acct_books", receiver.url);
    // The delivery log becomes unwritable: the attempt succeeds, its record cannot be written.
    const db = new DynamoDBClient(stack.stack.config.dynamodb!);
    await db.send(new DeleteTableCommand({ TableName: stack.stack.config.tables.deliveries }));
    db.destroy();
    expect(counts.get(METRICS.bookkeepingWriteFailures)).toBeUndefined();

    const res = await stack.api("POST", "/events", { type: "record.created", tenantId: "acct_books", data: { recordId: "r1" } });
    expect(res.status).toBe(202);
    await receiver.waitFor(1);
    expect(await until("the failure to be counted", () => counts.get(METRICS.bookkeepingWriteFailures))).toBeGreaterThanOrEqual(1);
    expect(counts.get("DeliveriesSucceeded")).toBe(1);
  });
});

describe("a second redrive while one runs", () => {
  test("local stack: exactly one redrive moves the DLQ, the other is a 409 naming the running task", async () => {
    const stack = await startTestStack({ worker: false });
    stacks.push(stack);
    const { queue } = stack.stack.config;
    const sqs = new SQSClient(stack.stack.config.sqs!);
    const count = 300;
    for (let i = 0; i < count; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.dlqUrl,
          Entries: Array.from({ length: 10 }, (_, j) => ({ Id: String(j), MessageBody: JSON.stringify({ n: i + j }) })),
        }),
      );
    }
    const answers = await Promise.all([stack.api("POST", "/admin/redrive"), stack.api("POST", "/admin/redrive")]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, 409]);
    const moved = answers.find((a) => a.status === 202)!;
    const refused = answers.find((a) => a.status === 409)!;
    expect(moved.body).toEqual({ moved: count });
    expect(refused.body).toMatchObject({
      error: { code: "redrive_running", message: expect.stringMatching(/already running \(task local-/), details: [] },
      task: { taskId: expect.stringMatching(/^local-/), status: "RUNNING", startedAt: expect.any(String), moved: expect.any(Number), toMove: null },
    });
    // Both answers as docs/openapi.yaml documents them.
    const api = new OpenApiValidator();
    for (const a of answers) expect(api.checkResponse("POST", "/admin/redrive", a.status, a.body)).toEqual([]);
    // Moved once, not twice: the queue holds each message exactly once, the DLQ none.
    const attrs = async (url: string) =>
      Number(
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes!
          .ApproximateNumberOfMessages,
      );
    expect(await attrs(queue.queueUrl)).toBe(count);
    expect(await attrs(queue.dlqUrl)).toBe(0);
    // Afterwards a redrive is possible again.
    expect(await stack.api("POST", "/admin/redrive")).toEqual({ status: 202, body: { moved: 0 } });
    sqs.destroy();
  });

  describe("AWS: SQS message move tasks", () => {
    // fauxqs has no message move tasks: a stand-in for the two SQS operations, spoken to by the
    // real @aws-sdk/client-sqs (JSON protocol), records what the adapter asks.
    let server: Server;
    let endpoint: string;
    const calls: { target: string; body: any }[] = [];
    let answer: (target: string, call: number) => { status: number; body: unknown };

    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          const target = String(req.headers["x-amz-target"]);
          calls.push({ target, body: JSON.parse(body) });
          const a = answer(target, calls.filter((c) => c.target === target).length);
          res.writeHead(a.status, { "content-type": "application/x-amz-json-1.0" });
          res.end(JSON.stringify(a.body));
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));
    beforeEach(() => void (calls.length = 0));

    const config = {
      queueUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
      queueArn: "arn:aws:sqs:eu-west-1:123456789012:q",
      dlqUrl: "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
      dlqArn: "arn:aws:sqs:eu-west-1:123456789012:dlq",
      redrive: "move-task" as const,
    };
    const queue = () => new SqsDeliveryQueue(new SQSClient({ region: LOCAL_REGION, credentials: newEmulatorCredentials(), endpoint, maxAttempts: 1 }), config);
    const running = {
      TaskHandle: "eyJ0YXNrSWQiOiJydW5uaW5nIn0=",
      Status: "RUNNING",
      SourceArn: config.dlqArn,
      ApproximateNumberOfMessagesMoved: 40,
      ApproximateNumberOfMessagesToMove: 100,
      StartedTimestamp: Date.parse("2026-12-01T10:00:00Z"),
    };

    test("no task running: starts one from the DLQ to the queue and answers its handle", async () => {
      answer = (target) =>
        target === "AmazonSQS.ListMessageMoveTasks"
          ? { status: 200, body: { Results: [{ ...running, Status: "COMPLETED", TaskHandle: undefined }] } }
          : { status: 200, body: { TaskHandle: "new-task" } };
      expect(await queue().redrive()).toEqual({ taskId: "new-task" });
      expect(calls).toEqual([
        { target: "AmazonSQS.ListMessageMoveTasks", body: { SourceArn: config.dlqArn, MaxResults: 10 } },
        { target: "AmazonSQS.StartMessageMoveTask", body: { SourceArn: config.dlqArn, DestinationArn: config.queueArn } },
      ]);
    });

    test("a task running: RedriveInProgress with it, and no start", async () => {
      answer = () => ({ status: 200, body: { Results: [running] } });
      const err = await queue()
        .redrive()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedriveInProgress);
      expect((err as RedriveInProgress).task).toEqual({
        taskId: running.TaskHandle,
        status: "RUNNING",
        startedAt: "2026-12-01T10:00:00.000Z",
        moved: 40,
        toMove: 100,
      });
      expect(calls.map((c) => c.target)).toEqual(["AmazonSQS.ListMessageMoveTasks"]);
    });

    test("a start that loses the race to another: SQS refuses it, the winner is reported", async () => {
      answer = (target, n) =>
        target === "AmazonSQS.ListMessageMoveTasks"
          ? { status: 200, body: { Results: n === 1 ? [] : [running] } }
          : { status: 400, body: { __type: "com.amazonaws.sqs#InvalidParameterValueException", message: "There is already a task running." } };
      const err = await queue()
        .redrive()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedriveInProgress);
      expect((err as RedriveInProgress).task.taskId).toBe(running.TaskHandle);
      expect(calls.map((c) => c.target)).toEqual(["AmazonSQS.ListMessageMoveTasks", "AmazonSQS.StartMessageMoveTask", "AmazonSQS.ListMessageMoveTasks"]);
    });

    test("a start refused for another reason, with nothing running, is that error (a 500, not a 409)", async () => {
      answer = (target) =>
        target === "AmazonSQS.ListMessageMoveTasks"
          ? { status: 200, body: { Results: [] } }
          : { status: 400, body: { __type: "com.amazonaws.sqs#AccessDenied", message: "denied" } };
      const err = await queue()
        .redrive()
        .catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(RedriveInProgress);
      expect((err as Error).message).toBe("denied");
    });
  });
});
