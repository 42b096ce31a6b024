import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type { Construct } from "constructs";

export interface ThresholdAlarmProps {
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly threshold: number;
  /** @default strictly greater than the threshold */
  readonly atOrAbove?: boolean;
}

/**
 * The stack's alarms share one shape: one evaluation period, missing data is not a breach (a quiet
 * queue or API has no datapoints), and they fire above (or at) a threshold.
 */
export function thresholdAlarm(scope: Construct, id: string, p: ThresholdAlarmProps): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, id, {
    alarmDescription: p.description,
    metric: p.metric,
    threshold: p.threshold,
    comparisonOperator: p.atOrAbove ? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD : cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}
