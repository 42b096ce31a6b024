import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as sns from "aws-cdk-lib/aws-sns";
import { Construct } from "constructs";
import { METRICS } from "#core/settings.ts";
import type { DeliveryPipeline } from "./delivery-pipeline.ts";
import type { EndpointHealth } from "./endpoint-health.ts";
import type { WebhooksTables } from "./tables.ts";
import type { WebhooksApi } from "./webhooks-api.ts";
import type { WebhooksFunction } from "./webhooks-function.ts";

export interface WebhooksMonitoringProps {
  readonly pipeline: DeliveryPipeline;
  readonly health: EndpointHealth;
  readonly api: WebhooksApi;
  readonly tables: WebhooksTables;
  /** Receives every alarm's ALARM and OK transitions. @default - alarms have no actions */
  readonly alarmTopic?: sns.ITopic;
}

/** One dashboard over the API, the queues (both delivery lanes, the DLQ) and the λs, and the wiring of every alarm to the topic. */
export class WebhooksMonitoring extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: WebhooksMonitoringProps) {
    super(scope, id);
    const { pipeline, api, health } = props;
    const alarms = [...pipeline.alarms, ...health.alarms, ...api.alarms, ...props.tables.alarms];

    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    const period = Duration.minutes(1);
    const max = { period, statistic: "Maximum" };
    const sum = { period, statistic: "Sum" };
    const fns = Object.entries({ ingest: api.ingest, manage: api.manage, deliver: pipeline.deliver, release: health.release });
    const lanes = Object.entries({ main: pipeline.queue, slow: pipeline.slowQueue });
    const perFunction = (metric: (fn: WebhooksFunction, label: string) => cloudwatch.IMetric) => fns.map(([label, fn]) => metric(fn, label));

    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: "Alarms", alarms, width: 24 }));
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "API requests and errors",
        left: [api.stage.metricCount(sum)],
        right: [api.stage.metricClientError(sum), api.stage.metricServerError(sum)],
      }),
      new cloudwatch.GraphWidget({
        title: "API latency (p99)",
        left: [api.stage.metricLatency({ period, statistic: "p99" })],
      }),
      // Both lanes: the slow lane's queue has its own in-flight limit and its own backlog.
      new cloudwatch.GraphWidget({
        title: "Delivery queues (main, slow lane)",
        left: lanes.flatMap(([lane, queue]) => [
          queue.metricApproximateNumberOfMessagesVisible({ ...max, label: `${lane} visible` }),
          queue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: `${lane} in flight` }),
        ]),
        right: lanes.map(([lane, queue]) => queue.metricApproximateAgeOfOldestMessage({ ...max, label: `${lane} oldest (s)` })),
      }),
      new cloudwatch.GraphWidget({
        title: "DLQ depth and messages sent to it",
        left: [pipeline.dlq.metricApproximateNumberOfMessagesVisible(max)],
        right: [pipeline.dlq.metricNumberOfMessagesSent(sum)],
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "λ invocations",
        left: perFunction((f, label) => f.function.metricInvocations({ ...sum, label })),
      }),
      new cloudwatch.GraphWidget({
        title: "λ errors and throttles",
        left: perFunction((f, label) => f.function.metricErrors({ ...sum, label: `${label} errors` })),
        right: perFunction((f, label) => f.function.metricThrottles({ ...sum, label: `${label} throttles` })),
      }),
      new cloudwatch.GraphWidget({
        title: "λ duration (p99)",
        left: perFunction((f, label) => f.function.metricDuration({ period, statistic: "p99", label })),
      }),
      new cloudwatch.GraphWidget({
        title: "Deliver λ concurrency",
        left: [pipeline.deliver.function.metric("ConcurrentExecutions", max)],
      }),
    );
    // Endpoint health (docs/delivery-semantics.md): what the release λ's sweeps see, and the circuit and parking
    // counts of whichever λ emits them (a search, so the graph does not depend on which one does).
    const gauge = (metricName: string) =>
      new cloudwatch.Metric({ namespace: METRICS.namespace, metricName, dimensionsMap: { service: METRICS.releaseService }, ...max });
    const counts = (metricName: string) =>
      new cloudwatch.MathExpression({
        expression: `SUM(SEARCH('{${METRICS.namespace},service} MetricName="${metricName}"', 'Sum', ${period.toSeconds()}))`,
        label: metricName,
        period,
      });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Open circuits and parked deliveries",
        left: [gauge(METRICS.openCircuits)],
        right: [gauge(METRICS.parkedDeliveries)],
      }),
      new cloudwatch.GraphWidget({
        title: "Circuits opened / closed",
        left: [counts(METRICS.circuitsOpened), counts(METRICS.circuitsClosed)],
      }),
      new cloudwatch.GraphWidget({
        title: "Deliveries parked / released",
        left: [counts(METRICS.deliveriesParked), counts(METRICS.deliveriesReleased)],
      }),
    );
  }
}
