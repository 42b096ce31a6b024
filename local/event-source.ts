import { randomUUID } from "node:crypto";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface EventSourceOptions {
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  /** Concurrent pollers, like the event source mapping's maximum concurrency. */
  concurrency: number;
  /** Long-poll wait per receive, seconds. */
  waitSeconds: number;
  region: string;
  onError?: (err: unknown) => void;
}

/**
 * Feeds an SQS handler the way Lambda's event source mapping does: long-polls batches, invokes the
 * handler, deletes the records it did not report in `batchItemFailures` and leaves those on the
 * queue (they reappear when their visibility timeout ends). A handler that throws fails the whole
 * batch. The queue's own redrive policy moves a message to the DLQ after maxReceiveCount receives.
 */
export class LocalEventSource {
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly abort = new AbortController();
  /** Stopped together with the pollers (the release sweeper runs beside the deliver worker). */
  private readonly companions: { stop(): Promise<void> }[] = [];

  constructor(
    private readonly sqs: SQSClient,
    private readonly handler: SqsHandler,
    private readonly options: EventSourceOptions,
  ) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < this.options.concurrency; i++) this.loops.push(this.loop());
  }

  /** Something to stop with this event source. */
  alongside(companion: { stop(): Promise<void> }): this {
    this.companions.push(companion);
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await Promise.all([...this.loops, ...this.companions.map((c) => c.stop())]);
    this.loops = [];
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const res = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: this.options.batchSize,
            WaitTimeSeconds: this.options.waitSeconds,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: this.abort.signal },
        );
        if (res.Messages?.length) await this.invoke(res.Messages);
      } catch (err) {
        if (!this.running) return;
        this.options.onError?.(err);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async invoke(messages: Message[]): Promise<void> {
    const event: SQSEvent = { Records: messages.map((m) => this.toRecord(m)) };
    let failed: Set<string>;
    try {
      const res = await this.handler(event, fakeContext());
      failed = new Set((res?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (err) {
      this.options.onError?.(err);
      return; // the whole batch comes back after its visibility timeout
    }
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length === 0) return;
    await this.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: this.options.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }

  private toRecord(m: Message): SQSEvent["Records"][number] {
    const a = m.Attributes ?? {};
    return {
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
        SentTimestamp: a.SentTimestamp ?? String(Date.now()),
        SenderId: a.SenderId ?? "local",
        ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.options.queueArn,
      awsRegion: this.options.region,
    };
  }
}

function fakeContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "local-deliver",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:local:000000000000:function:local-deliver",
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: "local",
    logStreamName: "local",
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
