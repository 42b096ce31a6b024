/**
 * The CDK stack, checked on its synthesised template: routes and their authorisation, λ defaults,
 * queue timings, tables, alarms, least-privilege grants, outputs, and cdk-nag's AwsSolutions pack.
 * The app is synthesised once (with real esbuild bundles) and shared by every test.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { App, type CfnElement, Token, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import * as cxapi from "aws-cdk-lib/cx-api";
import type { IConstruct } from "constructs";
import { AwsSolutionsChecks } from "cdk-nag";
import { ROUTES } from "#core/routes.ts";
import { ENV, QUEUE, TABLES } from "#core/settings.ts";
import type { WebhooksFunction } from "../../lib/constructs/webhooks-function.ts";
import { WebhooksStack } from "../../lib/webhooks-stack.ts";

const ROOT = path.join(import.meta.dirname, "..", "..");
/** The feature flags of cdk.json, so that the test synthesises what `cdk synth` does. */
const CDK_CONTEXT = JSON.parse(readFileSync(path.join(ROOT, "cdk.json"), "utf8")).context as Record<string, unknown>;

const READ = [
  "dynamodb:BatchGetItem",
  "dynamodb:ConditionCheckItem",
  "dynamodb:DescribeTable",
  "dynamodb:GetItem",
  "dynamodb:GetRecords",
  "dynamodb:GetShardIterator",
  "dynamodb:Query",
  "dynamodb:Scan",
];
const READ_WRITE = [...READ, "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"].sort();
const KMS_ENCRYPT_DECRYPT = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"];
const LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"];
const XRAY = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"];
const SEND = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"];

let app: App;
let stack: WebhooksStack;
let template: Template;
let nag: AwsSolutionsChecks;
let validationReport: { pluginReports: unknown[] };

beforeAll(() => {
  // Findings are asserted by the cdk-nag tests below rather than failing the synthesis itself.
  app = new App({ context: { ...CDK_CONTEXT, [cxapi.FAIL_SYNTH_ON_VALIDATION_ERRORS_CONTEXT]: false } });
  stack = new WebhooksStack(app, "RecordsKeeperWebhooks", { alarmEmail: "ops@example.com" });
  nag = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(nag);
  const assembly = app.synth();
  template = Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template);
  validationReport = JSON.parse(readFileSync(path.join(assembly.directory, cxapi.VALIDATION_REPORT_FILE), "utf8"));
});

const logicalId = (construct: IConstruct): string => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const ref = (construct: IConstruct) => ({ Ref: logicalId(construct) });
const arn = (construct: IConstruct) => ({ "Fn::GetAtt": [logicalId(construct), "Arn"] });

/** The λ's role policy as `resource logical id (or "*") → sorted actions`. */
function grantsOf(fn: WebhooksFunction): Record<string, string[]> {
  const policies = Object.values(
    template.findResources("AWS::IAM::Policy", { Properties: { Roles: [ref(fn.role)] } }),
  );
  expect(policies).toHaveLength(1);
  const grants: Record<string, Set<string>> = {};
  for (const statement of policies[0].Properties.PolicyDocument.Statement) {
    expect(statement.Effect).toBe("Allow");
    expect(statement.Condition).toBeUndefined();
    const actions: string[] = [statement.Action].flat();
    for (const resource of [statement.Resource].flat()) {
      // A table's indexes are granted as `<table arn>/index/*`: counted as the table's.
      const joined = resource["Fn::Join"]?.[1];
      const key = resource === "*" ? "*" : (resource["Fn::GetAtt"]?.[0] ?? (joined?.[1] === "/index/*" ? joined[0]["Fn::GetAtt"]?.[0] : undefined));
      expect(key).toEqual(expect.any(String));
      grants[key] ??= new Set();
      for (const action of actions) grants[key].add(action);
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([key, actions]) => [key, [...actions].sort()]));
}

describe("API", () => {
  test("has exactly the routes of ROUTES, each IAM-authorised and served by its λ", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Route", ROUTES.length);
    const integrations = template.findResources("AWS::ApiGatewayV2::Integration");
    const functionOf = (integrationId: string) => integrations[integrationId].Properties.IntegrationUri["Fn::GetAtt"][0];
    const expectedFunction = { ingest: logicalId(stack.api.ingest.function), manage: logicalId(stack.api.manage.function) };

    for (const route of ROUTES) {
      const found = Object.values(template.findResources("AWS::ApiGatewayV2::Route", { Properties: { RouteKey: route.routeKey } }));
      expect(found).toHaveLength(1);
      const props = found[0].Properties;
      expect(props.AuthorizationType).toBe("AWS_IAM");
      const integrationId = props.Target["Fn::Join"][1][1].Ref;
      expect(functionOf(integrationId)).toBe(expectedFunction[route.fn]);
    }
  });

  test("serves the $default stage with throttling and JSON access logs", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: arn(stack.api.accessLogGroup),
        Format: Match.serializedJson(Match.objectLike({ requestId: "$context.requestId", caller: "$context.identity.userArn" })),
      },
    });
  });
});

describe("λs", () => {
  test("all run Node 24 on arm64 with tracing, 256 MB and their own log group", () => {
    const functions = [stack.api.ingest, stack.api.manage, stack.pipeline.deliver];
    template.resourceCountIs("AWS::Lambda::Function", functions.length);
    for (const fn of functions) {
      template.hasResourceProperties("AWS::Lambda::Function", {
        Runtime: "nodejs24.x",
        Architectures: ["arm64"],
        MemorySize: 256,
        Handler: "index.handler",
        TracingConfig: { Mode: "Active" },
        LoggingConfig: { LogGroup: ref(fn.logGroup) },
        Role: arn(fn.role),
      });
    }
  });

  test("log groups keep a month", () => {
    const groups = Object.values(template.findResources("AWS::Logs::LogGroup"));
    expect(groups).toHaveLength(4); // three λs and the API access log
    for (const group of groups) expect(group.Properties.RetentionInDays).toBe(30);
  });

  test("roles carry no AWS managed policy", () => {
    for (const role of Object.values(template.findResources("AWS::IAM::Role"))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  test("every λ gets the same environment, from the core settings' names", () => {
    const expected = {
      POWERTOOLS_SERVICE_NAME: "RecordsKeeperWebhooks",
      POWERTOOLS_METRICS_NAMESPACE: "RecordsKeeperWebhooks",
      [ENV.subscriptionsTable]: ref(stack.tables.subscriptions),
      [ENV.eventsTable]: ref(stack.tables.events),
      [ENV.deliveriesTable]: ref(stack.tables.deliveries),
      [ENV.deliveryQueueUrl]: ref(stack.pipeline.queue),
      [ENV.deliveryQueueArn]: arn(stack.pipeline.queue),
      [ENV.dlqUrl]: ref(stack.pipeline.dlq),
      [ENV.dlqArn]: arn(stack.pipeline.dlq),
      WEBHOOKS_RETRY_SCHEDULE: "5s,30s,120s,600s,1800s,3600s,7200s,14400s,28800s,43200s,43200s,43200s",
      WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS: "false",
      WEBHOOKS_AUTO_DISABLE_AFTER: "432000",
    };
    for (const fn of Object.values(template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables).toEqual(expected);
    }
  });
});

describe("delivery pipeline", () => {
  test("queue visibility is at least 6 × the deliver λ timeout", () => {
    const deliver = template.findResources("AWS::Lambda::Function")[logicalId(stack.pipeline.deliver.function)];
    expect(deliver.Properties.Timeout).toBe(QUEUE.deliverTimeoutSeconds);
    const queue = template.findResources("AWS::SQS::Queue")[logicalId(stack.pipeline.queue)];
    expect(queue.Properties.VisibilityTimeout).toBe(180);
    expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * deliver.Properties.Timeout);
  });

  test("queue and DLQ keep messages 14 days, encrypted; the queue redrives to the DLQ", () => {
    const queues = template.findResources("AWS::SQS::Queue");
    expect(Object.keys(queues)).toHaveLength(2);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.MessageRetentionPeriod).toBe(1_209_600);
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    }
    expect(queues[logicalId(stack.pipeline.queue)].Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: arn(stack.pipeline.dlq),
      maxReceiveCount: 50,
    });
    expect(queues[logicalId(stack.pipeline.dlq)].Properties.RedrivePolicy).toBeUndefined();
  });

  test("both queues refuse requests without TLS", () => {
    for (const queue of [stack.pipeline.queue, stack.pipeline.dlq]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
          ]),
        },
      });
    }
  });

  test("the deliver λ drains the queue in batches with partial batch failures", () => {
    template.resourceCountIs("AWS::Lambda::EventSourceMapping", 1);
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: arn(stack.pipeline.queue),
      FunctionName: ref(stack.pipeline.deliver.function),
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: 500 },
    });
    // Reserved concurrency is the same one setting (QUEUE.deliverConcurrency).
    template.hasResourceProperties("AWS::Lambda::Function", {
      FunctionName: Match.absent(),
      Description: Match.stringLikeRegexp("^Delivers signed webhooks"),
      ReservedConcurrentExecutions: 500,
    });
  });
});

describe("tables", () => {
  test("are keyed as TABLES, on demand, with PITR, KMS encryption with the stack key, TTL, retained", () => {
    const expectedKeys = {
      [logicalId(stack.tables.subscriptions)]: [["tenantId", "HASH"], ["id", "RANGE"]],
      [logicalId(stack.tables.events)]: [["pk", "HASH"]],
      [logicalId(stack.tables.deliveries)]: [["pk", "HASH"], ["id", "RANGE"]],
    };
    const tables = template.findResources("AWS::DynamoDB::Table");
    expect(Object.keys(tables).sort()).toEqual(Object.keys(expectedKeys).sort());
    for (const [id, table] of Object.entries(tables)) {
      const keys = expectedKeys[id];
      expect(table.DeletionPolicy).toBe("Retain");
      expect(table.UpdateReplacePolicy).toBe("Retain");
      const indexed = id === logicalId(stack.tables.deliveries);
      expect(table.Properties).toEqual({
        KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
        AttributeDefinitions: [...keys.map(([AttributeName]) => ({ AttributeName, AttributeType: "S" })), ...(indexed ? [{ AttributeName: "statusKey", AttributeType: "S" }] : [])],
        ...(indexed
          ? {
              GlobalSecondaryIndexes: [
                {
                  IndexName: "byStatus",
                  KeySchema: [{ AttributeName: "statusKey", KeyType: "HASH" }, { AttributeName: "id", KeyType: "RANGE" }],
                  Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: ["eventId"] },
                },
              ],
            }
          : {}),
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: "KMS", KMSMasterKeyId: arn(stack.key) },
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
      });
    }
    expect(TABLES.ttlAttribute).toBe("expiresAt");
  });

  test("the stack's one KMS key rotates and is retained", () => {
    template.resourceCountIs("AWS::KMS::Key", 1);
    template.hasResource("AWS::KMS::Key", {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: "Retain",
    });
  });
});

describe("alarms", () => {
  const alarmOn = (metricName: string) =>
    Object.values(template.findResources("AWS::CloudWatch::Alarm", { Properties: { MetricName: metricName } }));

  test("in-flight messages alarm at 80,000, well below the ~120,000 ceiling", () => {
    const [alarm] = alarmOn("ApproximateNumberOfMessagesNotVisible");
    expect(alarm.Properties).toMatchObject({
      Threshold: 80_000,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Statistic: "Maximum",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [logicalId(stack.pipeline.queue), "QueueName"] } }],
    });
  });

  test("any message in the DLQ alarms", () => {
    const [alarm] = alarmOn("ApproximateNumberOfMessagesVisible");
    expect(alarm.Properties).toMatchObject({
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [logicalId(stack.pipeline.dlq), "QueueName"] } }],
    });
  });

  test("a backlog older than an hour, deliver errors and throttles alarm", () => {
    expect(alarmOn("ApproximateAgeOfOldestMessage")[0].Properties.Threshold).toBe(3_600);
    for (const metric of ["Errors", "Throttles"]) {
      const [alarm] = alarmOn(metric);
      expect(alarm.Properties).toMatchObject({
        Threshold: 0,
        Dimensions: [{ Name: "FunctionName", Value: ref(stack.pipeline.deliver.function) }],
      });
    }
  });

  test("every alarm notifies the alarm topic, which is KMS-encrypted and e-mails the operator", () => {
    const topic = Object.keys(template.findResources("AWS::SNS::Topic"));
    expect(topic).toHaveLength(1);
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: arn(stack.key) });
    template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.com" });
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms).toHaveLength(6);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic[0] }]);
    }
  });

  test("a dashboard exists", () => {
    template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
  });
});

describe("least privilege", () => {
  const ids = () => ({
    subscriptions: logicalId(stack.tables.subscriptions),
    events: logicalId(stack.tables.events),
    deliveries: logicalId(stack.tables.deliveries),
    queue: logicalId(stack.pipeline.queue),
    dlq: logicalId(stack.pipeline.dlq),
    key: logicalId(stack.key),
  });

  test("ingest: reads subscriptions, writes events, sends to the queue; nothing else", () => {
    const { subscriptions, events, queue, key, deliveries, dlq } = ids();
    const grants = grantsOf(stack.api.ingest);
    expect(grants).toEqual({
      [logicalId(stack.api.ingest.logGroup)]: LOGS,
      "*": XRAY,
      [key]: KMS_ENCRYPT_DECRYPT,
      [subscriptions]: READ,
      [events]: READ_WRITE,
      [queue]: SEND,
    });
    expect(grants[deliveries]).toBeUndefined();
    expect(grants[dlq]).toBeUndefined();
    expect(Object.values(grants).flat().filter((a) => a.startsWith("sqs:"))).toEqual(SEND);
  });

  test("manage: tables read-write (test sends record their event), queue send, DLQ redrive", () => {
    const { subscriptions, events, deliveries, queue, dlq, key } = ids();
    expect(grantsOf(stack.api.manage)).toEqual({
      [logicalId(stack.api.manage.logGroup)]: LOGS,
      "*": XRAY,
      [key]: KMS_ENCRYPT_DECRYPT,
      [subscriptions]: READ_WRITE,
      [events]: READ_WRITE,
      [deliveries]: READ_WRITE,
      [queue]: SEND,
      [dlq]: [
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ListMessageMoveTasks",
        "sqs:ReceiveMessage",
        "sqs:StartMessageMoveTask",
      ],
    });
  });

  test("deliver: reads subscriptions and may only update them, no events access, deliveries read-write, consumes the queue, sends to the DLQ", () => {
    const { subscriptions, deliveries, queue, dlq, key } = ids();
    expect(grantsOf(stack.pipeline.deliver)).toEqual({
      [logicalId(stack.pipeline.deliver.logGroup)]: LOGS,
      "*": XRAY,
      [key]: KMS_ENCRYPT_DECRYPT,
      [subscriptions]: [...READ, "dynamodb:UpdateItem"].sort(),
      [deliveries]: READ_WRITE,
      [queue]: [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
      ],
      [dlq]: SEND,
    });
  });
});

describe("outputs", () => {
  test("have stable names", () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual(
      ["ApiArn", "ApiUrl", "DeliveriesTableName", "DeliveryQueueUrl", "DlqUrl", "EventsTableName", "SubscriptionsTableName"],
    );
    template.hasOutput("ApiArn", {
      Value: { "Fn::Join": ["", Match.arrayWith([":execute-api:", ref(stack.api.httpApi), "/*/*/*"])] },
    });
    template.hasOutput("DlqUrl", { Value: ref(stack.pipeline.dlq) });
    template.hasOutput("EventsTableName", { Value: ref(stack.tables.events) });
  });
});

describe("cdk-nag AwsSolutions", () => {
  test("has no unacknowledged finding, error or warning", () => {
    const findings = nag.validateScope(app).violations.map(
      (v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(", ")}`,
    );
    expect(findings).toEqual([]);
    // Nor does anything else in the validation report (CloudFormation checks, construct warnings).
    expect(validationReport.pluginReports).toEqual([]);
  });

  test("acknowledges only the justified IAM5 wildcards, on the λ roles, each with a reason", () => {
    const acknowledged: string[] = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          expect(reason).toMatch(/\w.*\.$/);
          acknowledged.push(`${construct.node.path} ${id.replace(/^annotation::/i, "")}`);
        }
      }
    }
    const roles = [stack.api.ingest, stack.api.manage, stack.pipeline.deliver].map((f) => f.role.node.path);
    expect(acknowledged.sort()).toEqual(
      roles
        .flatMap((role) => [
          `${role} AwsSolutions-IAM5[Resource::*]`,
          `${role} AwsSolutions-IAM5[Action::kms:GenerateDataKey*]`,
          `${role} AwsSolutions-IAM5[Action::kms:ReEncrypt*]`,
        ])
        // The deliveries table's own status index, on the two roles that use that table.
        .concat([stack.api.manage, stack.pipeline.deliver].map((f) => `${f.role.node.path} AwsSolutions-IAM5[Resource::<${logicalId(stack.tables.deliveries)}.Arn>/index/*]`))
        .sort(),
    );
  });

  test("the only Resource * grant is X-Ray's, which has no resource-level permissions", () => {
    for (const fn of [stack.api.ingest, stack.api.manage, stack.pipeline.deliver]) {
      expect(grantsOf(fn)["*"]).toEqual(XRAY);
    }
  });
});

describe("props", () => {
  /** A stack whose assets are not bundled: enough to read its template quickly. */
  const unbundled = (props: ConstructorParameters<typeof WebhooksStack>[2]) => {
    const app = new App({ context: { ...CDK_CONTEXT, "aws:cdk:bundling-stacks": [] } });
    return new WebhooksStack(app, "Props", props);
  };

  test("a custom retry schedule reaches every λ; without alarm e-mail, no topic", () => {
    const template = Template.fromStack(unbundled({ retryScheduleSeconds: [5, 30, 120], autoDisableAfterSeconds: 3_600 }));
    for (const fn of Object.values(template.findResources("AWS::Lambda::Function"))) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        WEBHOOKS_RETRY_SCHEDULE: "5s,30s,120s",
        WEBHOOKS_AUTO_DISABLE_AFTER: "3600",
      });
    }
    template.resourceCountIs("AWS::SNS::Topic", 0);
    for (const alarm of Object.values(template.findResources("AWS::CloudWatch::Alarm"))) {
      expect(alarm.Properties.AlarmActions).toBeUndefined();
    }
  });

  test("an existing alarm topic receives the alarms", () => {
    const topicArn = "arn:aws:sns:eu-west-1:123456789012:ops";
    const template = Template.fromStack(unbundled({ alarmTopicArn: topicArn, alarmEmail: "ignored@example.com" }));
    template.resourceCountIs("AWS::SNS::Topic", 0);
    for (const alarm of Object.values(template.findResources("AWS::CloudWatch::Alarm"))) {
      expect(alarm.Properties.AlarmActions).toEqual([topicArn]);
    }
  });

  test.each([
    ["a delay above SQS's 12 h visibility limit", [5, 43_201], /43201 is not a whole number of seconds in \[0, 43200\]/],
    ["a fractional delay", [1.5], /1\.5 is not a whole number/],
    ["a negative delay", [-1], /-1 is not a whole number/],
    ["as many attempts as maxReceiveCount", Array(49).fill(60), /50 attempts would reach the queue's maxReceiveCount \(50\)/],
    ["a schedule outlasting 14 days' retention", Array(30).fill(43_200), /outlasts the queue's message retention/],
  ])("refuses %s", (_name, schedule, message) => {
    expect(() => unbundled({ retryScheduleSeconds: schedule })).toThrow(message);
  });

  test("refuses a non-positive auto-disable period", () => {
    expect(() => unbundled({ autoDisableAfterSeconds: 0 })).toThrow(/autoDisableAfterSeconds: 0/);
  });
});

test("the stack is environment-agnostic", () => {
  expect(Token.isUnresolved(stack.account)).toBe(true);
  expect(Token.isUnresolved(stack.region)).toBe(true);
});
