import { ReceiveMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { handleApi, type ApiResponse } from "#core/api.ts";
import { documentClient, DynamoDeliveryLog, DynamoEventStore, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import type { Clock } from "#core/ports.ts";
import { RetrySchedule } from "#core/retry.ts";
import { createDeliveryService } from "../../lambdas/deliver/services.ts";
import { createIngestService } from "../../lambdas/ingest/services.ts";
import { createManageService } from "../../lambdas/manage/services.ts";
import type { RuntimeConfig } from "../../lambdas/shared/config.ts";
import { consoleLogger } from "../../local/console-logger.ts";
import { startLocalStack, type LocalStack } from "../../local/stack.ts";

/**
 * A clock the test moves: the services read it, nothing else does. It starts at the real time and
 * only moves forward: ids are monotonic ULIDs (ids.ts), and an id made at a time before an earlier
 * id's (e.g. one made with the real clock) takes that earlier id's time.
 */
export class TestClock implements Clock {
  constructor(public ms = Date.now()) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * The core's services wired exactly as in the λs (their composition roots, lambdas/<λ>/services.ts) to the real AWS SDK clients and the
 * embedded emulators (in this process, ~0.5 s to start), with a clock the test moves. No worker runs:
 * a test receives queue messages itself and hands them to the deliver handler when it wants to.
 */
export class CoreUnderTest {
  readonly clock = new TestClock();
  readonly logger = consoleLogger("silent");
  private constructor(readonly stack: LocalStack) {}

  static async start(): Promise<CoreUnderTest> {
    return new CoreUnderTest(
      await startLocalStack({ port: 0, worker: false, logLevel: "silent", subscriptionCacheMs: 0, retrySchedule: RetrySchedule.parse("1s,1s") }),
    );
  }

  get config(): RuntimeConfig {
    return this.stack.config;
  }

  readonly manage = () => createManageService(this.config, { logger: this.logger, clock: this.clock });
  readonly ingest = () => createIngestService(this.config, { logger: this.logger, clock: this.clock, subscriptionCacheMs: 0 });
  readonly delivery = () => createDeliveryService(this.config, { logger: this.logger, clock: this.clock, subscriptionCacheMs: 0 });

  get subscriptions() {
    return new DynamoSubscriptionStore(documentClient(this.config.dynamodb), this.config.tables.subscriptions);
  }
  get events() {
    return new DynamoEventStore(documentClient(this.config.dynamodb), this.config.tables.events);
  }
  get deliveries() {
    return new DynamoDeliveryLog(documentClient(this.config.dynamodb), this.config.tables.deliveries);
  }
  get sqs() {
    return new SQSClient(this.config.sqs!);
  }
  get queue() {
    return new SqsDeliveryQueue(this.sqs, this.config.queue);
  }

  /** Calls a management route, as the manage λ does (one error shape for every refusal). */
  async call(
    routeKey: string,
    pathParameters: Record<string, string>,
    body?: unknown,
    query: Record<string, string> = {},
  ): Promise<ApiResponse & { body: any }> {
    const res = await handleApi(
      this.manage().routes(),
      { routeKey, pathParameters, query, body: body === undefined ? undefined : JSON.stringify(body), contentType: "application/json" },
      this.logger,
    );
    return res as ApiResponse & { body: any };
  }

  /** Receives up to `max` messages from a queue (default: the delivery queue), with their system attributes; waits up to `waitSeconds` for one. */
  async receive(max: number, queueUrl = this.config.queue.queueUrl, waitSeconds = 1): Promise<Message[]> {
    const res = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ["All", "MessageGroupId"],
      }),
    );
    return res.Messages ?? [];
  }

  stop(): Promise<void> {
    return this.stack.stop();
  }
}

/** The SQS event Lambda's event source mapping hands the deliver λ for these messages. */
export function sqsEvent(messages: readonly Message[], queueArn: string): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId!,
      receiptHandle: m.ReceiptHandle!,
      body: m.Body ?? "",
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
        SentTimestamp: m.Attributes?.SentTimestamp ?? "0",
        SenderId: "test",
        ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? "0",
      },
      messageAttributes: {},
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: queueArn,
      awsRegion: "us-east-1",
    })),
  };
}
