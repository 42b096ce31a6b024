import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { Construct } from "constructs";
import { HEALTH, METRICS } from "#core/settings.ts";
import { thresholdAlarm } from "./alarms.ts";
import { webhooksEnvironment, type EnvironmentSources } from "./environment.ts";
import { WebhooksFunction } from "./webhooks-function.ts";

/**
 * What every λ's environment names. The release λ sends to the main queue only (the deliver λ forwards
 * slow webhooks' deliveries) and is granted nothing on the secrets key.
 */
export type EndpointHealthProps = EnvironmentSources;

/** Parked deliveries (all webhooks) above which `ParkedHigh` fires. */
export const PARKED_ALARM_THRESHOLD = 100_000;
/** `OpenCircuits` fires when a circuit has been open this long (in whole 5-minute periods). */
export const OPEN_CIRCUIT_ALARM_MINUTES = 15;

/**
 * What wakes parked work on AWS (docs/delivery-semantics.md): an EventBridge rule runs the release λ every
 * `HEALTH.sweepSeconds` (a minute, EventBridge's finest rate), and the λ runs ParkingService.sweep:
 * one query of the subscriptions' `byWake` index finds the due webhooks; their parked deliveries
 * (the deliveries' `parked` index) are released oldest first, paced with DelaySeconds, probes of open
 * circuits are sent, and parked deliveries whose retry window ended are failed and dead-lettered.
 * One sweep at a time (reserved concurrency 1), each done before the next tick.
 */
export class EndpointHealth extends Construct {
  readonly release: WebhooksFunction;
  readonly rule: events.Rule;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: EndpointHealthProps) {
    super(scope, id);
    const { tables, queue, dlq } = props;
    const sweep = Duration.seconds(HEALTH.sweepSeconds);

    const release = new WebhooksFunction(this, "Release", {
      entry: "lambdas/release/handler.ts",
      description: "Releases parked deliveries, sends the probes of open circuits, dead-letters expired parked deliveries",
      // Done before the next tick starts another (which reserved concurrency 1 would throttle).
      timeout: Duration.seconds(HEALTH.sweepSeconds - 10),
      // Two sweeps at once would release the same webhooks' deliveries twice as fast as the release rate.
      reservedConcurrentExecutions: 1,
      environment: webhooksEnvironment(props),
    });
    // A sweep that failed or could not start within its minute is not retried: the next tick does
    // its work (the parked deliveries wait in DynamoDB meanwhile), and retries would only pile up
    // behind the one sweep allowed to run.
    release.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: sweep });

    // Exactly what the sweep calls. Subscriptions: the due webhooks (a Query of `byWake`), one
    // webhook's state, and the conditional health writes (probe claims, wake times, counters).
    release.bindTable(tables.subscriptions, ["Query", "GetItem", "UpdateItem"]);
    // Deliveries: a webhook's parked ones (a Query of `parked`), a record, unparking and failing
    // (UpdateItem), and attempt items of records past their inline attempts (PutItem).
    release.bindTable(tables.deliveries, ["Query", "GetItem", "UpdateItem", "PutItem"]);
    // Releases and probes go back on the delivery queue; expired parked deliveries to the DLQ.
    release.bindQueue(queue, ["SendMessage"]);
    release.bindQueue(dlq, ["SendMessage"]);
    // No secrets: the release λ signs nothing, the deliver λ attempts what it releases.
    this.release = release;

    this.rule = new events.Rule(this, "Schedule", {
      description: `Runs the webhooks release λ every ${HEALTH.sweepSeconds} s: parked deliveries, probes, expiry`,
      schedule: events.Schedule.rate(sweep),
      targets: [new targets.LambdaFunction(release.function, { retryAttempts: 0, maxEventAge: sweep })],
    });

    const fiveMinutes = Duration.minutes(5);
    const releaseMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS.namespace,
        metricName,
        dimensionsMap: { service: METRICS.releaseService },
        period: fiveMinutes,
        statistic: "Maximum",
      });
    const openCircuitPeriods = OPEN_CIRCUIT_ALARM_MINUTES / 5;
    this.alarms = [
      // Informational: the breaker is doing its job, but a customer's endpoint has been dead a while.
      new cloudwatch.Alarm(this, "OpenCircuits", {
        alarmDescription: `A webhook's circuit has been open for ${OPEN_CIRCUIT_ALARM_MINUTES} minutes (metric OpenCircuits): its endpoint is down, its deliveries are parked, nobody else is slowed. Informational: tell the customer, or pause or disable the webhook`,
        metric: releaseMetric(METRICS.openCircuits),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: openCircuitPeriods,
        datapointsToAlarm: openCircuitPeriods,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      thresholdAlarm(this, "ParkedHigh", {
        description: `More than ${PARKED_ALARM_THRESHOLD.toLocaleString("en")} deliveries are parked (metric ParkedDeliveries): dead or paused endpoints' backlogs keep growing in DynamoDB`,
        metric: releaseMetric(METRICS.parkedDeliveries),
        threshold: PARKED_ALARM_THRESHOLD,
      }),
      thresholdAlarm(this, "ReleaseErrors", {
        description: "The release λ failed a sweep: parked deliveries, probes and expiry wait for the next one (every minute)",
        metric: release.function.metricErrors({ period: fiveMinutes, statistic: "Sum" }),
        threshold: 0,
      }),
    ];
  }
}
