/**
 * Runs a bundled λ handler (bench/bundle.ts builds it the way the stack does) in this process, the
 * way Lambda would, to measure what the cost model needs: handler duration, its CPU time, and the
 * bytes it logs (Powertools' JSON lines and EMF metrics: what CloudWatch Logs would ingest).
 * argv[2] is the bundle; the environment (set by bench/run.ts) is the λ's, with the SDK pointed at
 * the emulators through AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_DYNAMODB.
 *
 * IPC commands:
 *   { cmd: "deliver", size, batches } receives `batches` batches of `size` messages from the
 *      delivery queue, invokes the handler on each and deletes what it did not report as failed.
 *   { cmd: "ingest", body, times, ids? } invokes the handler with a `POST /events` API Gateway event;
 *      with `ids`, each event of each call gets an id of its own.
 * Both answer { invocations: [{ ms, cpuMs, logBytes, logLines, failures?, statusCode? }], logSample }
 * (logSample: the start of what the last invocation logged).
 *   { cmd: "stop" } exits.
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEventV2, Context, SQSEvent } from "aws-lambda";
import { cpuMs } from "./stats.ts";

// What the handler writes to stdout/stderr is counted, not printed: Lambda would ship it to CloudWatch Logs.
let logBytes = 0;
let logLines = 0;
/** What the last invocation logged (its start), to show in the results what the bytes are. */
let logText = "";
for (const stream of [process.stdout, process.stderr]) {
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    logBytes += Buffer.byteLength(text);
    logLines += text.split("\n").length - 1;
    if (logText.length < 4_000) logText += text;
    const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
}

const bundle = process.argv[2];
const { handler } = createRequire(import.meta.url)(bundle) as { handler: (event: unknown, context: Context) => Promise<any> };
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME!;

function context(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE!,
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/01/15/[$LATEST]${randomUUID().replaceAll("-", "")}`,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export interface Invocation {
  ms: number;
  cpuMs: number;
  logBytes: number;
  logLines: number;
  failures?: number;
  statusCode?: number;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; inv: Invocation }> {
  logText = "";
  const bytes0 = logBytes;
  const lines0 = logLines;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  return { result, inv: { ms: performance.now() - t0, cpuMs: cpuMs(cpu0, process.cpuUsage()), logBytes: logBytes - bytes0, logLines: logLines - lines0 } };
}

const sqs = new SQSClient({});
const queueUrl = process.env.DELIVERY_QUEUE_URL!;

async function receive(size: number): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + 10_000;
  while (out.length < size) {
    if (Date.now() > deadline) throw new Error(`only ${out.length} of ${size} messages arrived on the delivery queue`);
    const res = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, size - out.length),
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["All"],
      }),
      { abortSignal: AbortSignal.timeout(5_000) },
    );
    out.push(...(res.Messages ?? []));
  }
  return out;
}

function sqsEvent(messages: Message[]): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: "AIDAEXAMPLE",
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: process.env.DELIVERY_QUEUE_ARN ?? "",
      awsRegion: "us-east-1",
    })),
  };
}

async function deliver(size: number, batches: number): Promise<Invocation[]> {
  const out: Invocation[] = [];
  for (let b = 0; b < batches; b++) {
    const messages = await receive(size);
    const { result, inv } = await timed(() => handler(sqsEvent(messages), context()));
    const failed = new Set<string>((result?.batchItemFailures ?? []).map((f: { itemIdentifier: string }) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    for (let i = 0; i < done.length; i += 10) {
      const part = done.slice(i, i + 10);
      await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: part.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })) }));
    }
    out.push({ ...inv, failures: failed.size });
  }
  return out;
}

function apiEvent(body: string): APIGatewayProxyEventV2 {
  const now = Date.now();
  return {
    version: "2.0",
    routeKey: "POST /events",
    rawPath: "/events",
    rawQueryString: "",
    headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) },
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: "123456789012",
      apiId: "a1b2c3d4e5",
      domainName: "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
      domainPrefix: "a1b2c3d4e5",
      http: { method: "POST", path: "/events", protocol: "HTTP/1.1", sourceIp: "10.0.0.1", userAgent: "bench" },
      requestId: randomUUID(),
      routeKey: "POST /events",
      stage: "$default",
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
  };
}

let calls = 0;

async function ingest(body: string, times: number, ids: boolean): Promise<Invocation[]> {
  const out: Invocation[] = [];
  const events = ids ? (JSON.parse(body) as { events: Record<string, unknown>[] }).events : [];
  for (let i = 0; i < times; i++) {
    // Each call is new events: without ids the service makes new ones; with ids, each call has its
    // own (the same ids again would be idempotent replays).
    const call = calls++;
    const sent = ids ? JSON.stringify({ events: events.map((e, j) => ({ id: `evt_probe_${process.pid}_${call}_${j}`, ...e })) }) : body;
    const { result, inv } = await timed(() => handler(apiEvent(sent), context()));
    out.push({ ...inv, statusCode: result.statusCode });
  }
  return out;
}

process.on("message", async (m: { cmd: string; size?: number; batches?: number; body?: string; times?: number; ids?: boolean }) => {
  if (m.cmd === "stop") process.exit(0);
  try {
    const invocations = m.cmd === "deliver" ? await deliver(m.size!, m.batches!) : await ingest(m.body!, m.times!, m.ids ?? false);
    process.send!({ invocations, logSample: logText.slice(0, 4_000) });
  } catch (err) {
    process.send!({ error: (err as Error).stack ?? String(err) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send!({ ready: true });
