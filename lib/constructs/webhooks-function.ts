import * as path from "node:path";
import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** The repository root: entries are given relative to it, and esbuild runs from it. */
const PROJECT_ROOT = path.resolve(import.meta.dirname, "..", "..");

/** CloudWatch namespace and Powertools service name of every λ. */
export const SERVICE_NAME = "RecordsKeeperWebhooks";

/**
 * What a λ may do with a table:
 * - `read`: get, query, scan;
 * - `readUpdate`: read, plus UpdateItem only (flags on existing items, never puts or deletes);
 * - `readWrite`: read, put, update, delete.
 */
export type TableAccess = "read" | "readUpdate" | "readWrite";

/**
 * What a λ may do with a queue:
 * - `send`: SendMessage;
 * - `consume`: receive, change visibility, delete;
 * - `redriveSource`: inspect the queue and move its messages elsewhere (StartMessageMoveTask).
 */
export type QueueAccess = "send" | "consume" | "redriveSource";

export interface WebhooksFunctionProps {
  /** Handler file, relative to the repository root, e.g. `lambdas/deliver/handler.ts`. */
  readonly entry: string;
  readonly description: string;
  /** @default 10 seconds */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
  /** Reserved concurrency; @default none (the account's unreserved pool) */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A Node.js λ with the project's defaults fixed in one place: Node 24 on arm64, X-Ray tracing, its
 * own log group with a retention, an esbuild bundle built locally (no Docker, offline), and a role
 * that starts with nothing but writing to that log group. Access is added through the intent-named
 * `bind*` methods.
 */
export class WebhooksFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.IRole;
  readonly logGroup: logs.ILogGroup;
  private keyWriteAcknowledged = false;

  constructor(scope: Construct, id: string, props: WebhooksFunctionProps) {
    super(scope, id);

    this.logGroup = new logs.LogGroup(this, "LogGroup", {
      retention: logs.RetentionDays.ONE_MONTH,
      // Operational logs only: the delivery log lives in DynamoDB, which the stack retains.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // An explicit role instead of AWSLambdaBasicExecutionRole, which may write to any log group.
    const role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: props.description,
    });
    this.logGroup.grantWrite(role);
    this.role = role;

    this.function = new NodejsFunction(this, "Function", {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, "package-lock.json"),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: lambda.Tracing.ACTIVE,
      role,
      logGroup: this.logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: SERVICE_NAME,
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: false,
        target: "node24",
        format: OutputFormat.CJS,
        // Bundle the AWS SDK too: the λ runs the exact versions the lockfile pins and the tests ran,
        // not whichever SDK the runtime happens to ship.
        externalModules: [],
      },
    });
    Validations.of(role).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions.",
    });
  }

  /** Grants this λ `access` to `table`, including its KMS key. */
  bindTable(table: dynamodb.ITable, access: TableAccess): void {
    if (table.encryptionKey && access !== "read") this.acknowledgeKeyWrite();
    const cfn = table.node.defaultChild as dynamodb.CfnTable | undefined;
    if (cfn && [Stack.of(table).resolve(cfn.globalSecondaryIndexes) ?? []].flat().length > 0) {
      // CDK's table grants cover the table's indexes as `<table arn>/index/*`: that table's own indexes only.
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(table).getLogicalId(cfn)}.Arn>/index/*]`,
        reason: "Reading a table's own secondary indexes (the deliveries' status index); no other table's.",
      });
    }
    switch (access) {
      case "read":
        table.grantReadData(this.role);
        return;
      case "readUpdate":
        table.grantReadData(this.role);
        table.grant(this.role, "dynamodb:UpdateItem");
        table.encryptionKey?.grantEncrypt(this.role);
        return;
      case "readWrite":
        table.grantReadWriteData(this.role);
        return;
    }
  }

  /** cdk-nag: the KMS wildcard actions that come with writing to an encrypted table, once per role. */
  private acknowledgeKeyWrite(): void {
    if (this.keyWriteAcknowledged) return;
    this.keyWriteAcknowledged = true;
    for (const action of ["kms:GenerateDataKey*", "kms:ReEncrypt*"]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "Writing to a table encrypted with a customer managed key needs the KMS action families CDK's table grants use, on that one key only.",
      });
    }
  }

  /** Grants this λ `access` to `queue`. */
  bindQueue(queue: sqs.IQueue, access: QueueAccess): void {
    switch (access) {
      case "send":
        queue.grantSendMessages(this.role);
        return;
      case "consume":
        queue.grantConsumeMessages(this.role);
        return;
      case "redriveSource":
        queue.grant(
          this.role,
          "sqs:GetQueueAttributes",
          "sqs:ReceiveMessage",
          "sqs:DeleteMessage",
          "sqs:StartMessageMoveTask",
          "sqs:ListMessageMoveTasks",
        );
        queue.encryptionMasterKey?.grantDecrypt(this.role);
        return;
    }
  }
}
