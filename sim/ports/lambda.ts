import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { VirtualTime } from "../engine.ts";
import type { SimMessage, SimQueue } from "./sqs.ts";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface EventSourceOptions {
  batchSize: number;
  maxBatchingWindowSeconds: number;
  /** The event source mapping's maxConcurrency. */
  maxConcurrency: number;
  /** The function's reserved concurrency: invocations past it are throttled. */
  reservedConcurrency: number;
  /** Virtual time an invocation spends besides its endpoints (runtime, SDK calls). */
  invocationOverheadMs: number;
  timeoutSeconds: number;
}

/**
 * Lambda's SQS event source mapping: pollers receive 10 at a time until the batch is full or the
 * batching window ends, invoke the function (at most maxConcurrency at once, within its reserved
 * concurrency), delete what `batchItemFailures` does not name, and leave the whole batch when the
 * invocation fails or times out (it comes back after the queue's visibility timeout).
 */
export class SimEventSource {
  active = 0;
  peakConcurrency = 0;
  invocations = 0;
  errors = 0;
  /** GB-seconds of the invocations, for the cost. */
  durationMs = 0;
  private running = false;

  constructor(
    private readonly time: VirtualTime,
    private readonly queue: SimQueue,
    /** One handler per execution environment: Lambda runs concurrent invocations in separate containers. */
    private readonly newHandler: () => SqsHandler,
    readonly options: EventSourceOptions,
  ) {}

  start(): void {
    this.running = true;
    const pollers = Math.min(this.options.maxConcurrency, this.options.reservedConcurrency);
    for (let i = 0; i < pollers; i++) void this.loop(this.newHandler());
  }

  stop(): void {
    this.running = false;
  }

  private async loop(handler: SqsHandler): Promise<void> {
    while (this.running) {
      await this.queue.waitForMessages(20_000);
      if (!this.running) return;
      const batch = this.queue.receive(Math.min(10, this.options.batchSize));
      if (batch.length === 0) {
        // Nothing returned although messages may be visible (the in-flight limit): poll again a second later.
        await this.time.sleep(1_000);
        continue;
      }
      const windowEnd = this.time.now() + this.options.maxBatchingWindowSeconds * 1000;
      while (batch.length < this.options.batchSize && this.running) {
        const more = this.queue.receive(Math.min(10, this.options.batchSize - batch.length));
        if (more.length > 0) {
          batch.push(...more);
          continue;
        }
        if (this.time.now() >= windowEnd) break;
        // Visible messages that a receive does not return (the in-flight limit): wait out the window.
        if (this.queue.visibleCount > 0) await this.time.sleep(windowEnd - this.time.now());
        else await this.queue.waitForMessages(windowEnd - this.time.now());
      }
      await this.invoke(handler, batch);
    }
  }

  private async invoke(handler: SqsHandler, batch: SimMessage[]): Promise<void> {
    this.active++;
    this.invocations++;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.active);
    const started = this.time.now();
    const handles = new Map(batch.map((m) => [m.id, m.handle!]));
    try {
      await this.time.sleep(this.options.invocationOverheadMs);
      const event: SQSEvent = { Records: batch.map((m) => this.toRecord(m)) };
      let failed: Set<string>;
      try {
        const res = await handler(event, context(this.options.timeoutSeconds));
        failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch {
        this.errors++;
        return;
      }
      if (this.time.now() - started > this.options.timeoutSeconds * 1000) {
        this.errors++;
        return;
      }
      const done = batch.filter((m) => !failed.has(m.id)).map((m) => handles.get(m.id)!);
      for (let i = 0; i < done.length; i += 10) this.queue.deleteBatch(done.slice(i, i + 10));
    } finally {
      this.durationMs += this.time.now() - started;
      this.active--;
    }
  }

  private toRecord(m: SimMessage): SQSEvent["Records"][number] {
    return {
      messageId: m.id,
      receiptHandle: m.handle!,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentAt),
        SenderId: "sim",
        ApproximateFirstReceiveTimestamp: String(m.firstReceiveAt ?? m.receivedAt),
        ...(m.groupId ? { MessageGroupId: m.groupId } : {}),
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:sim:000000000000:delivery",
      awsRegion: "sim",
    };
  }
}

function context(timeoutSeconds: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "sim-deliver",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:sim:000000000000:function:sim-deliver",
    memoryLimitInMB: "256",
    awsRequestId: "sim",
    logGroupName: "sim",
    logStreamName: "sim",
    getRemainingTimeInMillis: () => timeoutSeconds * 1000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
