import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { CoreMetrics } from "#core/ports.ts";
import { METRICS } from "#core/settings.ts";

/**
 * Powertools Logger and Metrics for one λ. The service name is the λ's own (`webhooks-deliver`, …), given
 * here: Powertools prefers it to POWERTOOLS_SERVICE_NAME, and it is the `service` dimension the stack's
 * alarms read (METRICS.deliverService, METRICS.releaseService). The namespace is METRICS.namespace, the
 * one the alarms read too, whatever the environment says (docs/operations.md#logs-metrics-and-tracing).
 */
export function observability(serviceName: string) {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ serviceName, namespace: METRICS.namespace });
  const coreMetrics: CoreMetrics = {
    count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
    milliseconds: (name, value) => metrics.addMetric(name, MetricUnit.Milliseconds, value),
  };
  return { logger, metrics, coreMetrics };
}
