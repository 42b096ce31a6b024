import { RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as kms from "aws-cdk-lib/aws-kms";
import { Construct } from "constructs";
import { TABLES } from "#core/settings.ts";

export interface WebhooksTablesProps {
  /** Customer managed key that encrypts every table. */
  readonly encryptionKey: kms.IKey;
}

interface KeySchema {
  readonly partitionKey: string;
  readonly sortKey?: string;
}

/**
 * The three tables, keyed exactly as `TABLES` in the core settings: on-demand, point-in-time
 * recovery, encrypted with the stack's key, expiring items by `TABLES.ttlAttribute`, and retained
 * when the stack is deleted.
 */
export class WebhooksTables extends Construct {
  readonly subscriptions: dynamodb.ITable;
  readonly events: dynamodb.ITable;
  readonly deliveries: dynamodb.ITable;

  constructor(scope: Construct, id: string, props: WebhooksTablesProps) {
    super(scope, id);
    this.subscriptions = this.table("Subscriptions", TABLES.subscriptions, props.encryptionKey);
    this.events = this.table("Events", TABLES.events, props.encryptionKey);
    const deliveries = this.table("Deliveries", TABLES.deliveries, props.encryptionKey);
    // The sparse status index (settings.TABLES.deliveries.statusIndex; the local stack creates the same).
    const index = TABLES.deliveries.statusIndex;
    deliveries.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.INCLUDE,
      nonKeyAttributes: [...index.nonKeyAttributes],
    });
    this.deliveries = deliveries;
  }

  private table(id: string, keys: KeySchema, encryptionKey: kms.IKey): dynamodb.Table {
    return new dynamodb.Table(this, id, {
      partitionKey: { name: keys.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: keys.sortKey ? { name: keys.sortKey, type: dynamodb.AttributeType.STRING } : undefined,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey,
      timeToLiveAttribute: TABLES.ttlAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
