import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  type SendMessageBatchRequestEntry,
} from "@aws-sdk/client-sqs";
import type { DeliveryMessage } from "#core/model.ts";
import { RedriveInProgress, type DeliveryQueue, type QueueDepths, type RedriveTask } from "#core/ports.ts";
import { callUntilProcessed, chunk, SQS_RETRY } from "./batch-calls.ts";

export interface SqsQueueConfig {
  queueUrl: string;
  queueArn: string;
  /** The slow lane's queue (settings SLOW_LANE), if the stack has one. */
  slowQueueUrl?: string;
  slowQueueArn?: string;
  dlqUrl: string;
  dlqArn: string;
  /**
   * How the DLQ is redriven: `move-task` uses SQS's StartMessageMoveTask (AWS); `copy` receives,
   * re-sends and deletes (the local stack: fauxqs has no message move tasks).
   */
  redrive: "move-task" | "copy";
}

/**
 * Characters SQS refuses in a message body: everything outside #x9 | #xA | #xD | #x20–#xD7FF |
 * #xE000–#xFFFD | #x10000–#x10FFFF. In JSON.stringify's output that leaves U+FFFE, U+FFFF and
 * surrogates (astral characters such as emoji, which the fauxqs emulator also refuses; lone ones are
 * already escaped by JSON.stringify).
 */
const SQS_UNSAFE = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/g;

/**
 * A message body SQS always accepts: the JSON text of `value` with each character SQS refuses written
 * as a `\uXXXX` escape. Outside string literals JSON.stringify writes only ASCII, so every such
 * character sits in a string and its escape denotes the same string: `JSON.parse` on the other side
 * gives back exactly the payload that was accepted. An escape is 6 bytes for a character of 3 (U+FFFE,
 * U+FFFF) or of 4 (an astral one, two escapes): a body grows at most 3× over its payload.
 */
export function sqsMessageBody(value: unknown): string {
  return JSON.stringify(value).replace(SQS_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** SQS caps a SendMessageBatch at 10 entries and at 1 MiB for all their bodies together. */
const MAX_BATCH_BYTES = 1_048_576;

export function sendBatches(entries: readonly SendMessageBatchRequestEntry[]): SendMessageBatchRequestEntry[][] {
  const out: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = Buffer.byteLength(entry.MessageBody ?? "");
    if (current.length === 10 || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ ...entry, Id: String(current.length) });
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

export class SqsDeliveryQueue implements DeliveryQueue {
  /** The local copy loop under way in this process (the local stack's one manage service). */
  private copying?: { taskId: string; status: "RUNNING"; startedAt: string; moved: number };

  constructor(
    private readonly sqs: SQSClient,
    private readonly config: SqsQueueConfig,
  ) {}

  async send(messages: readonly DeliveryMessage[], delaySeconds?: number): Promise<void> {
    await this.sendDelayed(messages.map((message) => ({ message, delaySeconds })));
  }

  async sendDelayed(items: readonly { message: DeliveryMessage; delaySeconds?: number }[]): Promise<void> {
    const entries = items.map(({ message, delaySeconds }) => ({
      Id: "",
      MessageBody: sqsMessageBody(message),
      // Fair queue (SQS, 2025): one webhook's backlog waits behind the others, not in front of them.
      MessageGroupId: message.webhookId,
      DelaySeconds: delaySeconds,
    }));
    await Promise.all(sendBatches(entries).map((batch) => this.sendBatch(this.config.queueUrl, batch)));
  }

  /** SendMessageBatch can partly fail; the failed entries are retried a few times, then it throws. */
  private async sendBatch(queueUrl: string, entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let reason: string | undefined;
    await callUntilProcessed(
      entries,
      async (pending) => {
        const res = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: [...pending] }));
        const failed = new Set((res.Failed ?? []).map((f) => f.Id));
        reason = res.Failed?.[0]?.Message;
        return pending.filter((e) => failed.has(e.Id));
      },
      SQS_RETRY,
      (left) => new Error(`SendMessageBatch failed for ${left.length} messages: ${reason}`),
    );
  }

  async changeVisibility(items: readonly { receiptHandle: string; seconds: number }[]): Promise<void> {
    await Promise.all(
      chunk(items, 10).map(async (part) => {
        const res = await this.sqs.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.config.queueUrl,
            Entries: part.map((it, i) => ({ Id: String(i), ReceiptHandle: it.receiptHandle, VisibilityTimeout: it.seconds })),
          }),
        );
        // A failed entry keeps the queue's own visibility timeout: a later retry, never a lost one.
        if (res.Failed?.length) throw new Error(`ChangeMessageVisibilityBatch failed for ${res.Failed.length} messages: ${res.Failed[0].Message}`);
      }),
    );
  }

  async deadLetter(message: DeliveryMessage): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.config.dlqUrl, MessageBody: sqsMessageBody(message), MessageGroupId: message.webhookId }));
  }

  async dlqDepth(): Promise<{ visible: number; inFlight: number }> {
    const { visible, inFlight } = await this.depth(this.config.dlqUrl);
    return { visible, inFlight };
  }

  async depths(): Promise<QueueDepths> {
    const { slowQueueUrl } = this.config;
    const [delivery, dlq, slow] = await Promise.all([
      this.depth(this.config.queueUrl),
      this.depth(this.config.dlqUrl),
      slowQueueUrl ? this.depth(slowQueueUrl) : undefined,
    ]);
    return { delivery, ...(slow ? { slow } : {}), dlq: { visible: dlq.visible, inFlight: dlq.inFlight } };
  }

  /** The same queue port on the slow lane's queue: sends and backoffs go there; the DLQ is the same. */
  slowLane(): SqsDeliveryQueue | undefined {
    const { slowQueueUrl, slowQueueArn } = this.config;
    return slowQueueUrl
      ? new SqsDeliveryQueue(this.sqs, { ...this.config, queueUrl: slowQueueUrl, queueArn: slowQueueArn ?? "", slowQueueUrl: undefined })
      : undefined;
  }

  private async depth(queueUrl: string): Promise<QueueDepths["delivery"]> {
    const res = await this.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
      }),
    );
    return {
      visible: Number(res.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(res.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(res.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  /**
   * Moves every DLQ message back. On AWS: an SQS message move task, one at a time per queue; a
   * running one (ListMessageMoveTasks) is reported as RedriveInProgress, before starting and when
   * a start loses a race with another. Locally: the copy loop, one at a time likewise.
   */
  async redrive(): Promise<{ moved?: number; taskId?: string }> {
    if (this.config.redrive === "move-task") {
      const running = await this.runningMoveTask();
      if (running) throw new RedriveInProgress(running);
      try {
        const res = await this.sqs.send(new StartMessageMoveTaskCommand({ SourceArn: this.config.dlqArn, DestinationArn: this.config.queueArn }));
        return { taskId: res.TaskHandle };
      } catch (err) {
        // SQS refuses a second active task on the queue: report the one that won.
        const winner = await this.runningMoveTask().catch(() => undefined);
        if (winner) throw new RedriveInProgress(winner);
        throw err;
      }
    }
    if (this.copying) throw new RedriveInProgress({ ...this.copying });
    const task = { taskId: `local-${Date.now().toString(36)}`, status: "RUNNING" as const, startedAt: new Date().toISOString(), moved: 0 };
    this.copying = task;
    try {
      await this.copyBack(task);
      return { moved: task.moved };
    } finally {
      this.copying = undefined;
    }
  }

  /** The DLQ's running (or cancelling) move task, if any: SQS lists the most recent first. */
  private async runningMoveTask(): Promise<RedriveTask | undefined> {
    const res = await this.sqs.send(new ListMessageMoveTasksCommand({ SourceArn: this.config.dlqArn, MaxResults: 10 }));
    const t = (res.Results ?? []).find((r) => r.Status === "RUNNING" || r.Status === "CANCELLING");
    if (!t) return undefined;
    return {
      taskId: t.TaskHandle,
      status: t.Status!,
      startedAt: t.StartedTimestamp === undefined ? undefined : new Date(t.StartedTimestamp).toISOString(),
      moved: t.ApproximateNumberOfMessagesMoved,
      toMove: t.ApproximateNumberOfMessagesToMove,
    };
  }

  private async copyBack(task: { moved: number }): Promise<void> {
    for (;;) {
      const res = await this.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: this.config.dlqUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: 60,
          MessageSystemAttributeNames: ["MessageGroupId"],
        }),
      );
      const messages = res.Messages ?? [];
      if (messages.length === 0) return;
      const entries = messages.map((m) => ({ Id: "", MessageBody: m.Body ?? "", MessageGroupId: m.Attributes?.MessageGroupId }));
      for (const batch of sendBatches(entries)) await this.sendBatch(this.config.queueUrl, batch);
      // Deleted only once re-sent: a crash in between leaves a copy in both, never in neither.
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.config.dlqUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      task.moved += messages.length;
    }
  }
}
