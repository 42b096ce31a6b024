import { Annotations, Aws, CfnOutput, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as sns from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { DEFAULT_RETRY_SCHEDULE_SECONDS, DELIVERY, HEALTH, MAX_VISIBILITY_TIMEOUT_SECONDS, QUEUE, RETRY_JITTER } from "#core/settings.ts";
import { DeliveryPipeline } from "./constructs/delivery-pipeline.ts";
import { EndpointHealth } from "./constructs/endpoint-health.ts";
import type { TunedBehaviour } from "./constructs/environment.ts";
import { WebhooksMonitoring } from "./constructs/monitoring.ts";
import { WebhooksTables } from "./constructs/tables.ts";
import { WebhooksApi, type ApiThrottles } from "./constructs/webhooks-api.ts";

export interface WebhooksStackProps extends StackProps {
  /**
   * Delays after attempt 1, in seconds; its length + 1 is the number of attempts. Each delay is a
   * visibility timeout, so at most 12 hours.
   * @default DEFAULT_RETRY_SCHEDULE_SECONDS (13 attempts over about 2.2 days)
   */
  readonly retryScheduleSeconds?: readonly number[];
  /**
   * An endpoint failing every attempt for this long is disabled.
   * @default DELIVERY.autoDisableAfterSeconds (5 days)
   */
  readonly autoDisableAfterSeconds?: number;
  /**
   * Consecutive failed attempts that open a webhook's circuit (docs/delivery-semantics.md); WEBHOOKS_BREAKER_THRESHOLD.
   * @default HEALTH.breakerThreshold (5)
   */
  readonly breakerThreshold?: number;
  /**
   * Seconds between probes of an open circuit at first; it doubles after each failed probe, up to
   * 15 minutes. At least a minute: the release λ sends the probes, and it runs once a minute.
   * WEBHOOKS_BREAKER_PROBE_INTERVAL.
   * @default HEALTH.probeIntervalSeconds (60)
   */
  readonly breakerProbeIntervalSeconds?: number;
  /**
   * Parked deliveries released per second per webhook once it may be sent to again; WEBHOOKS_RELEASE_RATE.
   * @default HEALTH.releaseRate (50)
   */
  readonly releaseRate?: number;
  /** An existing SNS topic for alarm notifications; takes precedence over `alarmEmail`. */
  readonly alarmTopicArn?: string;
  /** Creates an alarm topic with this e-mail subscribed (to be confirmed by its owner). */
  readonly alarmEmail?: string;
  /**
   * Route-level API throttling, publishing and management apart.
   * @default ingest (`POST /events`) 200 requests/s, bursts of 400; each management route 50/s, bursts of 100
   */
  readonly apiThrottle?: ApiThrottles;
  /**
   * Origins allowed to frame the tenant portal (its CSP `frame-ancestors`), e.g.
   * `["https://app.recordskeeper.ai"]`; the λ reads them as WEBHOOKS_PORTAL_FRAME_ANCESTORS.
   * @default none: the portal may not be framed
   */
  readonly portalFrameAncestors?: readonly string[];
}

/**
 * The webhook delivery service: tables, the delivery pipeline (queue, slow lane queue, DLQ, deliver λ), the
 * IAM-authorised HTTP API (ingest and manage λs), and monitoring. Environment-agnostic.
 */
export class WebhooksStack extends Stack {
  readonly key: kms.IKey;
  readonly tables: WebhooksTables;
  readonly pipeline: DeliveryPipeline;
  readonly health: EndpointHealth;
  readonly api: WebhooksApi;
  readonly monitoring: WebhooksMonitoring;
  readonly alarmTopic?: sns.ITopic;

  constructor(scope: Construct, id: string, props: WebhooksStackProps = {}) {
    super(scope, id, props);
    const config: TunedBehaviour = {
      retryScheduleSeconds: validRetrySchedule(props.retryScheduleSeconds ?? DEFAULT_RETRY_SCHEDULE_SECONDS),
      autoDisableAfterSeconds: validAutoDisable(props.autoDisableAfterSeconds ?? DELIVERY.autoDisableAfterSeconds),
      breakerThreshold: validBreakerThreshold(props.breakerThreshold ?? HEALTH.breakerThreshold),
      breakerProbeIntervalSeconds: validProbeInterval(props.breakerProbeIntervalSeconds ?? HEALTH.probeIntervalSeconds),
      releaseRate: validReleaseRate(props.releaseRate ?? HEALTH.releaseRate),
    };

    // Retained with the tables: a retained table is unreadable without its key.
    this.key = new kms.Key(this, "DataKey", {
      description: "RecordsKeeper.AI webhooks: encrypts the DynamoDB tables and the alarm topic, and seals the signing secrets",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.tables = new WebhooksTables(this, "Tables", { encryptionKey: this.key });
    this.pipeline = new DeliveryPipeline(this, "Delivery", { tables: this.tables, config, secretsKey: this.key });
    // What every λ's environment names.
    const sources = {
      tables: this.tables,
      queue: this.pipeline.queue,
      slowQueue: this.pipeline.slowQueue,
      dlq: this.pipeline.dlq,
      config,
      secretsKey: this.key,
    };
    this.health = new EndpointHealth(this, "Health", sources);
    this.api = new WebhooksApi(this, "Api", {
      ...sources,
      throttle: props.apiThrottle,
      portalFrameAncestors: props.portalFrameAncestors,
    });

    this.alarmTopic = props.alarmTopicArn
      ? sns.Topic.fromTopicArn(this, "AlarmTopic", props.alarmTopicArn)
      : props.alarmEmail
        ? this.createAlarmTopic(props.alarmEmail)
        : undefined;
    if (!this.alarmTopic) {
      Annotations.of(this).addWarningV2(
        "@recordskeeper/webhooks:noAlarmTarget",
        "No alarm target: the stack's alarms notify nobody. Deploy with -c alarmEmail=… or -c alarmTopicArn=… (props alarmEmail / alarmTopicArn); see docs/operations.md.",
      );
    }
    this.monitoring = new WebhooksMonitoring(this, "Monitoring", {
      pipeline: this.pipeline,
      health: this.health,
      api: this.api,
      tables: this.tables,
      alarmTopic: this.alarmTopic,
    });

    const outputs: Record<string, string> = {
      ApiUrl: this.api.url,
      ApiArn: this.api.invokeArn,
      DeliveryQueueUrl: this.pipeline.queue.queueUrl,
      DeliverySlowQueueUrl: this.pipeline.slowQueue.queueUrl,
      DlqUrl: this.pipeline.dlq.queueUrl,
      SubscriptionsTableName: this.tables.subscriptions.tableName,
      EventsTableName: this.tables.events.tableName,
      DeliveriesTableName: this.tables.deliveries.tableName,
      PortalSessionsTableName: this.tables.portalSessions.tableName,
      PortalUrl: this.api.portalUrl,
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }

  private createAlarmTopic(email: string): sns.ITopic {
    const topic = new sns.Topic(this, "AlarmTopic", {
      displayName: "RecordsKeeper.AI webhooks alarms",
      masterKey: this.key,
      enforceSSL: true,
    });
    // CloudWatch publishes alarms to the encrypted topic, so it must be able to use the key: only
    // for this account's alarms (aws:SourceAccount), never as a confused deputy for another's.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: "CloudWatchAlarmsPublishToTheEncryptedTopic",
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey*"],
        resources: ["*"],
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
    );
    topic.addSubscription(new EmailSubscription(email));
    return topic;
  }
}

export function validRetrySchedule(schedule: readonly number[]): readonly number[] {
  for (const seconds of schedule) {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_VISIBILITY_TIMEOUT_SECONDS) {
      throw new Error(
        `retryScheduleSeconds: ${seconds} is not a whole number of seconds in [0, ${MAX_VISIBILITY_TIMEOUT_SECONDS}] (SQS's visibility timeout limit)`,
      );
    }
  }
  if (schedule.length + 1 >= QUEUE.maxReceiveCount) {
    throw new Error(
      `retryScheduleSeconds: ${schedule.length + 1} attempts would reach the queue's maxReceiveCount (${QUEUE.maxReceiveCount}) before the schedule ends`,
    );
  }
  const longest = schedule.reduce((a, b) => a + b, 0) * (1 + RETRY_JITTER);
  if (longest >= QUEUE.retentionSeconds) {
    throw new Error(`retryScheduleSeconds: up to ${longest} s in all (with jitter) outlasts the queue's message retention (${QUEUE.retentionSeconds} s)`);
  }
  return schedule;
}

export function validAutoDisable(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds <= 0) {
    throw new Error(`autoDisableAfterSeconds: ${seconds} is not a positive whole number of seconds`);
  }
  return seconds;
}

export function validBreakerThreshold(failures: number): number {
  if (!Number.isInteger(failures) || failures < 1) {
    throw new Error(`breakerThreshold: ${failures} is not a whole number of failed attempts, at least 1`);
  }
  return failures;
}

export function validProbeInterval(seconds: number): number {
  if (!Number.isInteger(seconds) || seconds < HEALTH.sweepSeconds || seconds > HEALTH.maxProbeIntervalSeconds) {
    throw new Error(
      `breakerProbeIntervalSeconds: ${seconds} is not a whole number of seconds in [${HEALTH.sweepSeconds}, ${HEALTH.maxProbeIntervalSeconds}] (the release λ sends probes and runs every ${HEALTH.sweepSeconds} s; the interval grows to at most ${HEALTH.maxProbeIntervalSeconds} s)`,
    );
  }
  return seconds;
}

export function validReleaseRate(perSecond: number): number {
  if (!Number.isInteger(perSecond) || perSecond < HEALTH.rateLimitMin || perSecond > HEALTH.rateLimitMax) {
    throw new Error(`releaseRate: ${perSecond} is not a whole number of deliveries per second in [${HEALTH.rateLimitMin}, ${HEALTH.rateLimitMax}]`);
  }
  return perSecond;
}
