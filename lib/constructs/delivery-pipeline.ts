import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { thresholdAlarm } from "./alarms.ts";
import { METRICS, MAX_MESSAGE_BYTES, QUEUE, SLOW_LANE } from "#core/settings.ts";
import { webhooksEnvironment, type TunedBehaviour } from "./environment.ts";
import type { WebhooksTables } from "./tables.ts";
import { WebhooksFunction } from "./webhooks-function.ts";

export interface DeliveryPipelineProps {
  readonly tables: WebhooksTables;
  readonly config: TunedBehaviour;
  /** The key that seals signing secrets: the deliver λ opens them to sign. */
  readonly secretsKey: kms.IKey;
}

/**
 * The delivery queue, the slow lane's queue (SLOW_LANE), their DLQ, and the deliver λ that drains
 * both in batches with partial batch failures, through one event source mapping each. Retries are
 * the λ's own `ChangeMessageVisibility` backoffs; when the schedule is exhausted the λ moves the
 * message to the DLQ itself. The queues' redrive policy is only the safety net for poison messages.
 * Alarms watch the DLQ, the in-flight ceiling and the age of the backlog of each queue, and the λ.
 */
export class DeliveryPipeline extends Construct {
  readonly queue: sqs.IQueue;
  /** The slow lane: a slow webhook's deliveries, forwarded by the deliver λ, consumed by it through a mapping of its own. */
  readonly slowQueue: sqs.IQueue;
  readonly dlq: sqs.IQueue;
  readonly deliver: WebhooksFunction;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DeliveryPipelineProps) {
    super(scope, id);
    const { tables } = props;

    const queueDefaults = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(QUEUE.retentionSeconds),
      // What the ingest limits can produce (settings: MAX_MESSAGE_BYTES), not SQS's 256 KiB default.
      maxMessageSizeBytes: MAX_MESSAGE_BYTES,
    } satisfies sqs.QueueProps;
    const dlq = new sqs.Queue(this, "Dlq", queueDefaults);
    // Both lanes' queues from one definition: the same λ consumes them with the same timeout, and
    // both dead-letter to the one DLQ that the alarms, the redrive and the CLI know.
    const deliveryQueueProps = {
      ...queueDefaults,
      visibilityTimeout: Duration.seconds(QUEUE.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: dlq, maxReceiveCount: QUEUE.maxReceiveCount },
    } satisfies sqs.QueueProps;
    const queue = new sqs.Queue(this, "Queue", deliveryQueueProps);
    const slowQueue = new sqs.Queue(this, "SlowQueue", deliveryQueueProps);
    this.queue = queue;
    this.slowQueue = slowQueue;
    this.dlq = dlq;

    const deliver = new WebhooksFunction(this, "Deliver", {
      entry: "lambdas/deliver/handler.ts",
      description: "Delivers signed webhooks from the delivery queue and the slow lane's queue to customer endpoints",
      timeout: Duration.seconds(QUEUE.deliverTimeoutSeconds),
      // Both mappings' maxConcurrency together (QUEUE.deliverConcurrency + SLOW_LANE.concurrency): the
      // pollers never ask for more than the λ may run, and the λ never takes the rest of the account.
      reservedConcurrentExecutions: QUEUE.reservedConcurrency,
      environment: webhooksEnvironment({ tables, queue, slowQueue, dlq, config: props.config, secretsKey: props.secretsKey }),
    });
    // Exactly what the deliver λ calls: subscriptions are read in batches and only ever updated
    // (failingSince, auto-disable); delivery records are read and written in batches and updated
    // per attempt. No events grant: the message carries the exact payload.
    deliver.bindTable(tables.subscriptions, ["BatchGetItem", "UpdateItem"]);
    deliver.bindTable(tables.deliveries, ["BatchGetItem", "BatchWriteItem", "PutItem", "UpdateItem"]);
    // It signs: it opens the sealed secrets (and cannot seal new ones).
    deliver.bindSecrets(props.secretsKey, "open");
    // The event source mappings receive, delete and read attributes; the λ changes visibility (backoff).
    const consume = ["ReceiveMessage", "ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes"] as const;
    deliver.bindQueue(queue, consume);
    // The slow lane's likewise, and the main lane forwards a slow webhook's messages to it.
    deliver.bindQueue(slowQueue, [...consume, "SendMessage"]);
    // An exhausted schedule: the λ itself sends the message to the DLQ.
    deliver.bindQueue(dlq, ["SendMessage"]);
    // Mappings without SqsEventSource, whose grantConsumeMessages would add sqs:GetQueueUrl.
    deliver.function.addEventSourceMapping("QueueSource", {
      eventSourceArn: queue.queueArn,
      batchSize: QUEUE.batchSize,
      maxBatchingWindow: Duration.seconds(QUEUE.maxBatchingWindowSeconds),
      reportBatchItemFailures: true,
      maxConcurrency: QUEUE.maxConcurrency,
    });
    // The handler tells the lanes apart by the records' eventSourceARN (DELIVERY_SLOW_QUEUE_ARN).
    deliver.function.addEventSourceMapping("SlowQueueSource", {
      eventSourceArn: slowQueue.queueArn,
      batchSize: SLOW_LANE.batchSize,
      maxBatchingWindow: Duration.seconds(SLOW_LANE.maxBatchingWindowSeconds),
      reportBatchItemFailures: true,
      maxConcurrency: SLOW_LANE.concurrency,
    });
    this.deliver = deliver;

    const fiveMinutes = Duration.minutes(5);
    const deliverMetric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: METRICS.namespace,
        metricName,
        dimensionsMap: { service: METRICS.deliverService },
        period: fiveMinutes,
        statistic,
      });
    this.alarms = [
      // Not the DLQ's depth: that stays above 0 for up to 14 days after one failure, and an alarm
      // already in ALARM never notifies again. Messages sent to the DLQ in a period fire for each new one.
      thresholdAlarm(this, "DlqMessagesSent", {
        description: "Deliveries exhausted their retry schedule and were sent to the DLQ in the last 5 minutes: inspect, then redrive the DLQ",
        metric: dlq.metricNumberOfMessagesSent({ period: fiveMinutes, statistic: "Sum" }),
        threshold: 0,
      }),
      // NumberOfMessagesSent counts the λ's own SendMessage to the DLQ, not the queue's redrive
      // policy moving a poison message there: the depth rising catches those too.
      thresholdAlarm(this, "DlqDepthRising", {
        description:
          "The DLQ grew in the last 5 minutes. With DlqMessagesSent: deliveries exhausted their schedule. Alone: the queue's redrive policy moved messages the deliver λ could not parse (poison messages)",
        metric: new cloudwatch.MathExpression({
          expression: "DIFF(visible)",
          usingMetrics: { visible: dlq.metricApproximateNumberOfMessagesVisible({ period: fiveMinutes, statistic: "Maximum" }) },
          label: "DLQ depth change",
          period: fiveMinutes,
        }),
        threshold: 0,
      }),
      thresholdAlarm(this, "InFlightHigh", {
        description:
          "Safety net: messages in flight approach the ~120,000 limit of a standard queue, past which every tenant stalls. The circuit breaker keeps dead endpoints' backlogs parked in DynamoDB, so this means something it does not cover: find what holds the messages (docs/operations.md)",
        metric: queue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: QUEUE.inFlightAlarmThreshold,
        atOrAbove: true,
      }),
      // The slow lane's queue has an in-flight limit of its own: its backoffs count there.
      thresholdAlarm(this, "SlowInFlightHigh", {
        description:
          "Safety net: messages in flight on the slow lane's queue approach the ~120,000 limit of a standard queue, past which slow webhooks stall. Find the slow webhooks holding them (docs/operations.md)",
        metric: slowQueue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: QUEUE.inFlightAlarmThreshold,
        atOrAbove: true,
      }),
      thresholdAlarm(this, "BacklogOld", {
        description: "The oldest waiting delivery is over an hour old: the deliver λ is not keeping up",
        metric: queue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: "Maximum" }),
        threshold: BACKLOG_ALARM_SECONDS,
      }),
      thresholdAlarm(this, "SlowBacklogOld", {
        description: `The oldest waiting delivery on the slow lane's queue is over an hour old: its mapping (at most ${SLOW_LANE.concurrency} invocations) is not keeping up`,
        metric: slowQueue.metricApproximateAgeOfOldestMessage({ period: fiveMinutes, statistic: "Maximum" }),
        threshold: BACKLOG_ALARM_SECONDS,
      }),
      // Failed attempts are reported as batch item failures, so an invocation error is a bug.
      thresholdAlarm(this, "DeliverErrors", {
        description: "The deliver λ failed whole invocations (its batch is retried as a whole)",
        metric: deliver.function.metricErrors({ period: fiveMinutes, statistic: "Sum" }),
        threshold: 0,
      }),
      thresholdAlarm(this, "DeliverThrottles", {
        description: "The deliver λ was throttled: account concurrency is exhausted",
        metric: deliver.function.metricThrottles({ period: fiveMinutes, statistic: "Sum" }),
        threshold: 0,
      }),
      thresholdAlarm(this, "DeliverNearTimeout", {
        description: `A deliver λ invocation ran longer than ${DELIVER_DURATION_ALARM_FRACTION * 100}% of its ${QUEUE.deliverTimeoutSeconds} s timeout: a timeout fails the whole batch`,
        metric: deliver.function.metricDuration({ period: fiveMinutes, statistic: "Maximum" }),
        threshold: DELIVER_DURATION_ALARM_FRACTION * QUEUE.deliverTimeoutSeconds * 1_000,
        atOrAbove: true,
      }),
      thresholdAlarm(this, "BookkeepingWriteFailures", {
        description:
          "The deliver λ failed to write delivery records or subscription flags (metric BookkeepingWriteFailures): the log lags, batches are retried",
        metric: deliverMetric(METRICS.bookkeepingWriteFailures, "Sum"),
        threshold: 0,
      }),
    ];
  }
}

/** A queue's oldest waiting message older than this (seconds) alarms: BacklogOld, SlowBacklogOld. */
export const BACKLOG_ALARM_SECONDS = 3_600;

/** The deliver duration alarm fires at this fraction of the λ's timeout. */
export const DELIVER_DURATION_ALARM_FRACTION = 0.8;
