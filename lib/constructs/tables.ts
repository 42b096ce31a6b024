import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as kms from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";
import { TABLES, type TableName } from "#core/settings.ts";
import { tableSchema } from "#core/table-schema.ts";
import { thresholdAlarm } from "./alarms.ts";

export interface WebhooksTablesProps {
  /** Customer managed key that encrypts every table. */
  readonly encryptionKey: kms.IKey;
}

/**
 * The tables, keyed exactly as `TABLES` in the core settings, with the secondary indexes defined
 * there (deliveries: `byStatus`, `parked`; subscriptions: `byWake`; the local stack creates the
 * same from the same definitions): on-demand, point-in-time
 * recovery, encrypted with the stack's key, expiring items by `TABLES.ttlAttribute`, protected
 * from deletion (DeletionProtectionEnabled: not even a console or API call deletes them until it is
 * turned off), and retained when the stack is deleted.
 */
export class WebhooksTables extends Construct {
  readonly subscriptions: dynamodb.ITable;
  readonly events: dynamodb.ITable;
  readonly deliveries: dynamodb.ITable;
  readonly portalSessions: dynamodb.ITable;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: WebhooksTablesProps) {
    super(scope, id);
    this.subscriptions = this.table("Subscriptions", "subscriptions", props.encryptionKey);
    this.events = this.table("Events", "events", props.encryptionKey);
    this.deliveries = this.table("Deliveries", "deliveries", props.encryptionKey);
    this.portalSessions = this.table("PortalSessions", "portalSessions", props.encryptionKey);

    // On-demand tables throttle too (a partition's limits, a sudden jump past twice the previous
    // peak): every table's read and write throttle events, summed, in one alarm.
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    const tables = { s: this.subscriptions, e: this.events, d: this.deliveries, p: this.portalSessions };
    for (const [key, table] of Object.entries(tables)) {
      for (const [kind, metricName] of [
        ["r", "ReadThrottleEvents"],
        ["w", "WriteThrottleEvents"],
      ]) {
        usingMetrics[`${kind}${key}`] = table.metric(metricName, { period: Duration.minutes(5), statistic: "Sum" });
      }
    }
    this.alarms = [
      thresholdAlarm(this, "DynamoThrottles", {
        description: "A table throttled reads or writes: publishes, deliveries or their records are being slowed or retried",
        metric: new cloudwatch.MathExpression({
          expression: Object.keys(usingMetrics).join(" + "),
          usingMetrics,
          label: "DynamoDB throttle events",
          period: Duration.minutes(5),
        }),
        threshold: 0,
      }),
    ];
  }

  private table(id: string, kind: TableName, encryptionKey: kms.IKey): dynamodb.Table {
    const schema = tableSchema(kind);
    const table = new dynamodb.Table(this, id, {
      partitionKey: { name: schema.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: schema.sortKey ? { name: schema.sortKey, type: dynamodb.AttributeType.STRING } : undefined,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey,
      // On every table: events, deliveries, sessions, and the subscriptions table's rate-window items
      // (`#rate#…`, docs/delivery-semantics.md) expire through it; webhooks themselves have no expiresAt.
      timeToLiveAttribute: TABLES.ttlAttribute,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Sparse indexes: an item is in one only while it has the index's keys.
    for (const index of schema.indexes) {
      table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        ...(index.nonKeyAttributes
          ? { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: [...index.nonKeyAttributes] }
          : { projectionType: dynamodb.ProjectionType.ALL }),
      });
    }
    return table;
  }
}
