import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { thresholdAlarm } from "./alarms.ts";
import { QUEUE } from "#core/settings.ts";
import { webhooksEnvironment, type RuntimeConfig } from "./environment.ts";
import type { WebhooksTables } from "./tables.ts";
import { WebhooksFunction } from "./webhooks-function.ts";

export interface DeliveryPipelineProps {
  readonly tables: WebhooksTables;
  readonly config: RuntimeConfig;
}

/**
 * The delivery queue, its DLQ, and the deliver λ that drains it in batches with partial batch
 * failures. Retries are the λ's own `ChangeMessageVisibility` backoffs; when the schedule is
 * exhausted the λ moves the message to the DLQ itself. The queue's redrive policy is only the
 * safety net for poison messages. Alarms watch the DLQ, the in-flight ceiling, the age of the
 * backlog and the λ.
 */
export class DeliveryPipeline extends Construct {
  readonly queue: sqs.IQueue;
  readonly dlq: sqs.IQueue;
  readonly deliver: WebhooksFunction;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DeliveryPipelineProps) {
    super(scope, id);
    const { tables } = props;
    if (QUEUE.visibilityTimeoutSeconds < 6 * QUEUE.deliverTimeoutSeconds) {
      throw new Error("QUEUE.visibilityTimeoutSeconds must be at least 6 × QUEUE.deliverTimeoutSeconds");
    }

    const queueDefaults = {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.seconds(QUEUE.retentionSeconds),
    } satisfies sqs.QueueProps;
    const dlq = new sqs.Queue(this, "Dlq", queueDefaults);
    const queue = new sqs.Queue(this, "Queue", {
      ...queueDefaults,
      visibilityTimeout: Duration.seconds(QUEUE.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: dlq, maxReceiveCount: QUEUE.maxReceiveCount },
    });
    this.queue = queue;
    this.dlq = dlq;

    const deliver = new WebhooksFunction(this, "Deliver", {
      entry: "lambdas/deliver/handler.ts",
      description: "Delivers signed webhooks from the delivery queue to customer endpoints",
      timeout: Duration.seconds(QUEUE.deliverTimeoutSeconds),
      // The same number as the event source's maxConcurrency (QUEUE.deliverConcurrency): the poller
      // never asks for more than the λ may run, and the λ never takes the rest of the account.
      reservedConcurrentExecutions: QUEUE.reservedConcurrency,
      environment: webhooksEnvironment({ tables, queue, dlq, config: props.config }),
    });
    // Signs with the subscription's secrets, and records failing-since / auto-disable on it.
    deliver.bindTable(tables.subscriptions, "readUpdate");
    // No events grant: the message carries the exact payload, so the deliver λ never reads the event.
    deliver.bindTable(tables.deliveries, "readWrite");
    // Receive, ChangeMessageVisibility (the retry backoff) and DeleteMessage on the queue.
    deliver.bindQueue(queue, "consume");
    // An exhausted schedule: the λ itself sends the message to the DLQ.
    deliver.bindQueue(dlq, "send");
    deliver.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: QUEUE.batchSize,
        maxBatchingWindow: Duration.seconds(QUEUE.maxBatchingWindowSeconds),
        reportBatchItemFailures: true,
        maxConcurrency: QUEUE.maxConcurrency,
      }),
    );
    this.deliver = deliver;

    this.alarms = [
      thresholdAlarm(this, "DlqNotEmpty", {
        description: "Deliveries exhausted their retry schedule: inspect, then redrive the DLQ",
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: 0,
      }),
      thresholdAlarm(this, "InFlightHigh", {
        description: "Messages in flight (mostly retry backoffs) approach the ~120,000 limit of a standard queue, past which every tenant stalls",
        metric: queue.metricApproximateNumberOfMessagesNotVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
        threshold: QUEUE.inFlightAlarmThreshold,
        atOrAbove: true,
      }),
      thresholdAlarm(this, "BacklogOld", {
        description: "The oldest waiting delivery is over an hour old: the deliver λ is not keeping up",
        metric: queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: "Maximum" }),
        threshold: 3_600,
      }),
      // Failed attempts are reported as batch item failures, so an invocation error is a bug.
      thresholdAlarm(this, "DeliverErrors", {
        description: "The deliver λ failed whole invocations (its batch is retried as a whole)",
        metric: deliver.function.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
      }),
      thresholdAlarm(this, "DeliverThrottles", {
        description: "The deliver λ was throttled: account concurrency is exhausted",
        metric: deliver.function.metricThrottles({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
      }),
    ];
  }
}
