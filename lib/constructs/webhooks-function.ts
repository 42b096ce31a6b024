import * as path from "node:path";
import { Aws, Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { SECRETS } from "#core/settings.ts";

/** The repository root: entries are given relative to it, and esbuild runs from it. */
const PROJECT_ROOT = path.resolve(import.meta.dirname, "..", "..");

/** The DynamoDB actions the core's adapters call (lambdas/adapters/dynamodb.ts); a λ is granted those it uses. */
export type TableAction = "GetItem" | "BatchGetItem" | "Query" | "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem";

const TABLE_WRITES: ReadonlySet<TableAction> = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"]);

/** The SQS actions the core's adapters (and the event source mapping) call. */
export type QueueAction =
  | "SendMessage"
  | "ReceiveMessage"
  | "ChangeMessageVisibility"
  | "DeleteMessage"
  | "GetQueueAttributes"
  | "StartMessageMoveTask"
  | "ListMessageMoveTasks";

/** What a λ may do with the signing secrets' envelope: create one (GenerateDataKey) or open one (Decrypt). */
export type SecretAccess = "seal" | "open";

export interface WebhooksFunctionProps {
  /** Handler file, relative to the repository root, e.g. `lambdas/deliver/handler.ts`. */
  readonly entry: string;
  readonly description: string;
  /** @default 10 seconds */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  readonly environment?: Readonly<Record<string, string>>;
  /** A directory copied into the bundle under this name (the portal λ's built page and assets). */
  readonly bundleDirectory?: { readonly from: string; readonly as: string };
  /** Reserved concurrency; @default none (the account's unreserved pool) */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A Node.js λ with the project's defaults fixed in one place: Node 24 on arm64, its own log group
 * with a retention, an esbuild bundle built locally (no Docker, offline), and a role that starts
 * with nothing but writing to that log group. Access is added through the `bind*` methods, each
 * with the exact actions the λ calls. X-Ray tracing is off: the λs do not instrument their SDK
 * calls, and a trace of the invocation alone would only look like tracing (docs/operations.md).
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
      tracing: lambda.Tracing.DISABLED,
      role,
      logGroup: this.logGroup,
      // No POWERTOOLS_SERVICE_NAME / _METRICS_NAMESPACE: each λ names its service and the namespace in
      // code (lambdas/shared/observability.ts), which Powertools prefers to the environment.
      environment: props.environment,
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: false,
        target: "node24",
        format: OutputFormat.CJS,
        // Bundle the AWS SDK too: the λ runs the exact versions the lockfile pins and the tests ran,
        // not whichever SDK the runtime happens to ship.
        externalModules: [],
        ...(props.bundleDirectory
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                // Readable by the runtime's user whatever the source's mode and the umask.
                afterBundling: (_input: string, output: string) => {
                  const target = path.join(output, props.bundleDirectory!.as);
                  return [`cp -R "${props.bundleDirectory!.from}" "${target}"`, `chmod -R a+rX "${target}"`];
                },
              },
            }
          : {}),
      },
    });
  }

  /**
   * Grants this λ exactly `actions` on `table`, and the use of the table's KMS key through DynamoDB
   * only (`kms:ViaService`): the key grant cannot be used to call KMS directly.
   */
  bindTable(table: dynamodb.ITable, actions: readonly TableAction[]): void {
    const cfn = table.node.defaultChild as dynamodb.CfnTable | undefined;
    if (cfn && [Stack.of(table).resolve(cfn.globalSecondaryIndexes) ?? []].flat().length > 0) {
      // CDK's table grants cover the table's indexes as `<table arn>/index/*`: that table's own indexes only.
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${Stack.of(table).getLogicalId(cfn)}.Arn>/index/*]`,
        reason: "Querying a table's own secondary indexes (TABLES in lambdas/core/settings.ts: byStatus, parked, byWake); no other table's.",
      });
    }
    table.grant(this.role, ...actions.map((a) => `dynamodb:${a}`));
    const key = table.encryptionKey;
    if (!key) return;
    const writes = actions.some((a) => TABLE_WRITES.has(a));
    if (writes) this.acknowledgeKeyWrite();
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["kms:Decrypt", "kms:DescribeKey", ...(writes ? ["kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"] : [])],
        resources: [key.keyArn],
        conditions: { StringEquals: { "kms:ViaService": `dynamodb.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
  }

  /**
   * Grants this λ one side of the signing secrets' envelope on `key`: `seal` (GenerateDataKey) or
   * `open` (Decrypt), only with the encryption context the KMS adapter sets (purpose, tenant, webhook).
   */
  bindSecrets(key: kms.IKey, access: SecretAccess): void {
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [access === "seal" ? "kms:GenerateDataKey" : "kms:Decrypt"],
        resources: [key.keyArn],
        conditions: {
          StringEquals: { "kms:EncryptionContext:purpose": SECRETS.purpose },
          "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": [...SECRETS.contextKeys] },
        },
      }),
    );
  }

  /** cdk-nag: the KMS wildcard actions that come with writing to an encrypted table, once per role. */
  private acknowledgeKeyWrite(): void {
    if (this.keyWriteAcknowledged) return;
    this.keyWriteAcknowledged = true;
    for (const action of ["kms:GenerateDataKey*", "kms:ReEncrypt*"]) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          "Writing to a table encrypted with a customer managed key needs the KMS action families CDK's table grants use, on that one key only, through DynamoDB only.",
      });
    }
  }

  /** Grants this λ exactly `actions` on `queue` (SQS-managed encryption: no key to grant). */
  bindQueue(queue: sqs.IQueue, actions: readonly QueueAction[]): void {
    queue.grant(this.role, ...actions.map((a) => `sqs:${a}`));
  }
}
