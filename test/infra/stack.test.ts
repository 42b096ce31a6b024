/**
 * The CDK stack, checked on its synthesised template: routes and their authorisation, λ defaults,
 * queue timings, tables, alarms, least-privilege grants, outputs, and cdk-nag's AwsSolutions pack.
 * The app is synthesised once (with real esbuild bundles) and shared by every test.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { App, type CfnElement, Token, Validations } from "aws-cdk-lib";
import { Annotations, Match, Template } from "aws-cdk-lib/assertions";
import * as cxapi from "aws-cdk-lib/cx-api";
import type { IConstruct } from "constructs";
import { AwsSolutionsChecks } from "cdk-nag";
import { ROUTES } from "#core/routes.ts";
import { ENV, HEALTH, MAX_MESSAGE_BYTES, METRICS, QUEUE, SLOW_LANE, SQS_MAX_MESSAGE_BYTES, TABLES } from "#core/settings.ts";
import type { WebhooksFunction } from "../../lib/constructs/webhooks-function.ts";
import { WebhooksStack } from "../../lib/webhooks-stack.ts";

const ROOT = path.join(import.meta.dirname, "..", "..");
/** The feature flags of cdk.json, so that the test synthesises what `cdk synth` does. */
const CDK_CONTEXT = JSON.parse(readFileSync(path.join(ROOT, "cdk.json"), "utf8")).context as Record<string, unknown>;

const LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"];
/** The table key's actions for a λ that writes to a table, through DynamoDB only. */
const KMS_VIA_DYNAMODB = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"];
const VIA_DYNAMODB = { StringEquals: { "kms:ViaService": { "Fn::Join": ["", ["dynamodb.", { Ref: "AWS::Region" }, ".", { Ref: "AWS::URLSuffix" }]] } } };
const SECRETS_CONTEXT = {
  StringEquals: { "kms:EncryptionContext:purpose": "webhook-signing-secret" },
  "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["purpose", "tenantId", "webhookId"] },
};
const dynamo = (...actions: string[]) => actions.map((a) => `dynamodb:${a}`).sort();
const sqsActions = (...actions: string[]) => actions.map((a) => `sqs:${a}`).sort();

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

/** Every λ of the stack. */
const allFunctions = (): WebhooksFunction[] => [stack.api.ingest, stack.api.manage, stack.api.portal, stack.pipeline.deliver, stack.health.release];

const logicalId = (construct: IConstruct): string => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const ref = (construct: IConstruct) => ({ Ref: logicalId(construct) });
const arn = (construct: IConstruct) => ({ "Fn::GetAtt": [logicalId(construct), "Arn"] });

/**
 * The λ's role policy as `resource logical id → sorted actions`. Statements on the stack's key are
 * told apart by their condition: `<key> via dynamodb` (kms:ViaService, the tables' encryption) and
 * `<key> secrets` (the signing secrets' encryption context); any other condition fails.
 */
function grantsOf(fn: WebhooksFunction): Record<string, string[]> {
  const policies = Object.values(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [ref(fn.role)] } }));
  expect(policies).toHaveLength(1);
  const grants: Record<string, Set<string>> = {};
  for (const statement of policies[0].Properties.PolicyDocument.Statement) {
    expect(statement.Effect).toBe("Allow");
    let suffix = "";
    if (statement.Condition !== undefined) {
      if (JSON.stringify(statement.Condition) === JSON.stringify(VIA_DYNAMODB)) suffix = " via dynamodb";
      else if (JSON.stringify(statement.Condition) === JSON.stringify(SECRETS_CONTEXT)) suffix = " secrets";
      else throw new Error(`unexpected condition ${JSON.stringify(statement.Condition)}`);
    }
    const actions: string[] = [statement.Action].flat();
    for (const resource of [statement.Resource].flat()) {
      // A table's indexes are granted as `<table arn>/index/*`: counted as the table's.
      const joined = resource["Fn::Join"]?.[1];
      const id = resource === "*" ? "*" : (resource["Fn::GetAtt"]?.[0] ?? (joined?.[1] === "/index/*" ? joined[0]["Fn::GetAtt"]?.[0] : undefined));
      expect(id).toEqual(expect.any(String));
      const key = `${id}${suffix}`;
      grants[key] ??= new Set();
      for (const action of actions) grants[key].add(action);
    }
  }
  return Object.fromEntries(Object.entries(grants).map(([key, actions]) => [key, [...actions].sort()]));
}

/**
 * The SQS metrics a dashboard body (an Fn::Join of JSON text and tokens) graphs for the queue with
 * this logical id: each is `["AWS/SQS","<metric>","QueueName","` followed by the queue's name token.
 */
function sqsMetricsOn(body: { "Fn::Join": [string, unknown[]] }, queueId: string): string[] {
  const parts = body["Fn::Join"][1];
  const metrics = new Set<string>();
  parts.forEach((part, i) => {
    const att = (part as { "Fn::GetAtt"?: string[] })["Fn::GetAtt"];
    if (att?.[0] !== queueId || att[1] !== "QueueName") return;
    const metric = /\["AWS\/SQS","(\w+)","QueueName","$/.exec(String(parts[i - 1]))?.[1];
    if (metric) metrics.add(metric);
  });
  return [...metrics].sort();
}

describe("API", () => {
  test("has exactly the routes of ROUTES, each IAM-authorised (the portal's page and session-authorised API: none) and served by its λ", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Route", ROUTES.length);
    const integrations = template.findResources("AWS::ApiGatewayV2::Integration");
    const functionOf = (integrationId: string) => integrations[integrationId].Properties.IntegrationUri["Fn::GetAtt"][0];
    const expectedFunction = {
      ingest: logicalId(stack.api.ingest.function),
      manage: logicalId(stack.api.manage.function),
      portal: logicalId(stack.api.portal.function),
    };

    for (const route of ROUTES) {
      const found = Object.values(template.findResources("AWS::ApiGatewayV2::Route", { Properties: { RouteKey: route.routeKey } }));
      expect(found).toHaveLength(1);
      const props = found[0].Properties;
      expect({ route: route.routeKey, auth: props.AuthorizationType }).toEqual({ route: route.routeKey, auth: route.auth ? "NONE" : "AWS_IAM" });
      const integrationId = props.Target["Fn::Join"][1][1].Ref;
      expect(functionOf(integrationId)).toBe(expectedFunction[route.fn]);
    }
  });

  test("serves the $default stage with JSON access logs and separate ingest and management throttles", () => {
    const routeIds = Object.keys(template.findResources("AWS::ApiGatewayV2::Route")).sort();
    template.hasResource("AWS::ApiGatewayV2::Stage", {
      Properties: {
        StageName: "$default",
        AutoDeploy: true,
        // Every management route on its own; the ingest route its own, higher limit.
        DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        RouteSettings: { "POST /events": { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 } },
        AccessLogSettings: {
          DestinationArn: arn(stack.api.accessLogGroup),
          Format: Match.serializedJson(Match.objectLike({ requestId: "$context.requestId", caller: "$context.identity.userArn" })),
        },
      },
    });
    // The route settings name route keys: the stage waits for every route.
    const [stage] = Object.values(template.findResources("AWS::ApiGatewayV2::Stage"));
    expect(routeIds.filter((id) => !stage.DependsOn.includes(id))).toEqual([]);
    expect(ROUTES.filter((r) => r.fn === "ingest").map((r) => r.routeKey)).toEqual(["POST /events"]);
  });

  test("the access log group is under /aws/vendedlogs/, so the account's Logs resource policy is not touched", () => {
    const group = template.findResources("AWS::Logs::LogGroup")[logicalId(stack.api.accessLogGroup)];
    expect(group.Properties.LogGroupName).toBe("/aws/vendedlogs/apigateway/RecordsKeeperWebhooks/access-logs");
  });
});

describe("λs", () => {
  test("all run Node 24 on arm64, 256 MB, their own log group, X-Ray off (not half on)", () => {
    const functions = allFunctions();
    expect(functions).toHaveLength(5);
    template.resourceCountIs("AWS::Lambda::Function", functions.length);
    for (const fn of functions) {
      template.hasResourceProperties("AWS::Lambda::Function", {
        Runtime: "nodejs24.x",
        Architectures: ["arm64"],
        MemorySize: 256,
        Handler: "index.handler",
        LoggingConfig: { LogGroup: ref(fn.logGroup) },
        Role: arn(fn.role),
      });
    }
    for (const f of Object.values(template.findResources("AWS::Lambda::Function"))) {
      expect(f.Properties.TracingConfig?.Mode ?? "PassThrough").toBe("PassThrough");
    }
    const statements = Object.values(template.findResources("AWS::IAM::Policy")).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements.flatMap((st) => [st.Action].flat()).filter((a: string) => a.startsWith("xray:"))).toEqual([]);
  });

  test("log groups keep a month", () => {
    const groups = Object.values(template.findResources("AWS::Logs::LogGroup"));
    expect(groups).toHaveLength(6); // five λs and the API access log
    for (const group of groups) expect(group.Properties.RetentionInDays).toBe(30);
  });

  test("roles carry no AWS managed policy", () => {
    for (const role of Object.values(template.findResources("AWS::IAM::Role"))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  test("every λ gets the same environment, from the core settings' names", () => {
    const expected = {
      [ENV.subscriptionsTable]: ref(stack.tables.subscriptions),
      [ENV.eventsTable]: ref(stack.tables.events),
      [ENV.deliveriesTable]: ref(stack.tables.deliveries),
      [ENV.portalSessionsTable]: ref(stack.tables.portalSessions),
      [ENV.deliveryQueueUrl]: ref(stack.pipeline.queue),
      [ENV.deliveryQueueArn]: arn(stack.pipeline.queue),
      // The slow lane's queue: the deliver λ tells its records apart by this ARN, manage reads its depths.
      DELIVERY_SLOW_QUEUE_URL: ref(stack.pipeline.slowQueue),
      DELIVERY_SLOW_QUEUE_ARN: arn(stack.pipeline.slowQueue),
      [ENV.dlqUrl]: ref(stack.pipeline.dlq),
      [ENV.dlqArn]: arn(stack.pipeline.dlq),
      WEBHOOKS_RETRY_SCHEDULE: "5s,30s,120s,600s,1800s,3600s,7200s,14400s,28800s,43200s,43200s,43200s",
      WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS: "false",
      WEBHOOKS_AUTO_DISABLE_AFTER: "432000",
      [ENV.secretsKeyArn]: arn(stack.key),
      // Endpoint health (docs/delivery-semantics.md), the defaults.
      WEBHOOKS_BREAKER_THRESHOLD: "5",
      WEBHOOKS_BREAKER_PROBE_INTERVAL: "60s",
      WEBHOOKS_RELEASE_RATE: "50",
    };
    const portal = logicalId(stack.api.portal.function);
    for (const [id, fn] of Object.entries(template.findResources("AWS::Lambda::Function"))) {
      const { [ENV.portalUrl]: portalUrl, ...rest } = fn.Properties.Environment.Variables;
      expect(rest).toEqual(expected);
      // The portal λ alone knows its page's URL: the base of a new session's `url`.
      if (id === portal) expect(portalUrl).toEqual({ "Fn::Join": ["", [{ "Fn::GetAtt": [logicalId(stack.api.httpApi), "ApiEndpoint"] }, "/portal"]] });
      else expect(portalUrl).toBeUndefined();
    }
  });
});

describe("delivery pipeline", () => {
  test("both lanes' queue visibility is at least 6 × the deliver λ timeout", () => {
    const deliver = template.findResources("AWS::Lambda::Function")[logicalId(stack.pipeline.deliver.function)];
    expect(deliver.Properties.Timeout).toBe(QUEUE.deliverTimeoutSeconds);
    for (const lane of [stack.pipeline.queue, stack.pipeline.slowQueue]) {
      const queue = template.findResources("AWS::SQS::Queue")[logicalId(lane)];
      expect(queue.Properties.VisibilityTimeout).toBe(180);
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * deliver.Properties.Timeout);
    }
  });

  test("the queues and the DLQ keep messages 14 days, encrypted, take the largest message ingest can make; both lanes redrive to the DLQ", () => {
    const queues = template.findResources("AWS::SQS::Queue");
    expect(Object.keys(queues).sort()).toEqual([stack.pipeline.queue, stack.pipeline.slowQueue, stack.pipeline.dlq].map(logicalId).sort());
    expect(MAX_MESSAGE_BYTES).toBe(3 * 262_144 + 16_384);
    expect(MAX_MESSAGE_BYTES).toBeLessThanOrEqual(SQS_MAX_MESSAGE_BYTES);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.MessageRetentionPeriod).toBe(1_209_600);
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      expect(queue.Properties.MaximumMessageSize).toBe(802_816);
    }
    expect(queues[logicalId(stack.pipeline.queue)].Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: arn(stack.pipeline.dlq),
      maxReceiveCount: 50,
    });
    expect(queues[logicalId(stack.pipeline.dlq)].Properties.RedrivePolicy).toBeUndefined();
    // The slow lane's queue is the delivery queue's twin: same timeout, retention, size, encryption, DLQ.
    expect(queues[logicalId(stack.pipeline.slowQueue)]).toEqual(queues[logicalId(stack.pipeline.queue)]);
  });

  test("every queue refuses requests without TLS", () => {
    for (const queue of [stack.pipeline.queue, stack.pipeline.slowQueue, stack.pipeline.dlq]) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(queue)],
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]),
        },
      });
    }
  });

  test("the deliver λ drains both lanes' queues in batches with partial batch failures, one mapping each", () => {
    const mappings = Object.values(template.findResources("AWS::Lambda::EventSourceMapping")).map((m) => m.Properties);
    expect(mappings).toHaveLength(2);
    const mappingOf = (queue: IConstruct) => mappings.filter((m) => JSON.stringify(m.EventSourceArn) === JSON.stringify(arn(queue)));
    expect(mappingOf(stack.pipeline.queue)).toEqual([
      {
        EventSourceArn: arn(stack.pipeline.queue),
        FunctionName: ref(stack.pipeline.deliver.function),
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 500 },
      },
    ]);
    // The slow lane (SLOW_LANE): the same λ, a mapping of its own, so slow attempts hold only its invocations.
    expect(SLOW_LANE).toEqual({ batchSize: 100, maxBatchingWindowSeconds: 1, concurrency: 50 });
    expect(mappingOf(stack.pipeline.slowQueue)).toEqual([
      {
        EventSourceArn: arn(stack.pipeline.slowQueue),
        FunctionName: ref(stack.pipeline.deliver.function),
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        ScalingConfig: { MaximumConcurrency: 50 },
      },
    ]);
  });

  test("the deliver λ reserves both mappings' maximum concurrency together (500 + 50)", () => {
    expect(QUEUE.reservedConcurrency).toBe(QUEUE.deliverConcurrency + SLOW_LANE.concurrency);
    const deliver = template.findResources("AWS::Lambda::Function")[logicalId(stack.pipeline.deliver.function)];
    expect(deliver.Properties).toMatchObject({
      Description: expect.stringMatching(/^Delivers signed webhooks from the delivery queue and the slow lane's queue/),
      ReservedConcurrentExecutions: 550,
    });
    expect(deliver.Properties.FunctionName).toBeUndefined();
  });
});

describe("endpoint health", () => {
  test("an EventBridge rule runs the release λ every minute (HEALTH.sweepSeconds), with no retry piling up behind a sweep", () => {
    expect(HEALTH.sweepSeconds).toBe(60);
    const rules = Object.values(template.findResources("AWS::Events::Rule"));
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties).toMatchObject({
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [{ Arn: arn(stack.health.release.function), RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } }],
    });
    template.hasResourceProperties("AWS::Lambda::Permission", {
      Action: "lambda:InvokeFunction",
      FunctionName: arn(stack.health.release.function),
      Principal: "events.amazonaws.com",
      SourceArn: { "Fn::GetAtt": [logicalId(stack.health.rule), "Arn"] },
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(stack.health.release.function),
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 60,
    });
  });

  test("one sweep at a time (reserved concurrency 1), each over before the next tick (timeout 50 s)", () => {
    const release = template.findResources("AWS::Lambda::Function")[logicalId(stack.health.release.function)];
    expect(release.Properties).toMatchObject({ ReservedConcurrentExecutions: 1, Timeout: 50 });
    expect(release.Properties.Timeout).toBeLessThan(HEALTH.sweepSeconds);
    // Only the rule invokes it: no event source mapping (both are the deliver λ's), no API route.
    for (const mapping of Object.values(template.findResources("AWS::Lambda::EventSourceMapping"))) {
      expect(mapping.Properties.FunctionName).toEqual(ref(stack.pipeline.deliver.function));
    }
  });
});

describe("tables", () => {
  test("are keyed as TABLES, on demand, with PITR, KMS encryption with the stack key, TTL, deletion protection, retained", () => {
    const expectedKeys = {
      [logicalId(stack.tables.subscriptions)]: [
        ["tenantId", "HASH"],
        ["id", "RANGE"],
      ],
      [logicalId(stack.tables.events)]: [["pk", "HASH"]],
      [logicalId(stack.tables.deliveries)]: [
        ["pk", "HASH"],
        ["id", "RANGE"],
      ],
      [logicalId(stack.tables.portalSessions)]: [["pk", "HASH"]],
    };
    const tables = template.findResources("AWS::DynamoDB::Table");
    expect(Object.keys(tables).sort()).toEqual(Object.keys(expectedKeys).sort());
    for (const [id, table] of Object.entries(tables)) {
      const keys = expectedKeys[id];
      expect(table.DeletionPolicy).toBe("Retain");
      expect(table.UpdateReplacePolicy).toBe("Retain");
      const gsi = (name: string, hash: string, range: string, Projection: object) => ({
        IndexName: name,
        KeySchema: [
          { AttributeName: hash, KeyType: "HASH" },
          { AttributeName: range, KeyType: "RANGE" },
        ],
        Projection,
      });
      // The sparse indexes of TABLES: the deliveries' status and parked indexes, the subscriptions' wake index.
      const indexes: Record<string, { attributes: string[]; indexes: object[] }> = {
        [logicalId(stack.tables.deliveries)]: {
          attributes: ["statusKey", "parkKey", "parkSort"],
          indexes: [
            gsi("byStatus", "statusKey", "id", { ProjectionType: "INCLUDE", NonKeyAttributes: ["eventId"] }),
            gsi("parked", "parkKey", "parkSort", { ProjectionType: "ALL" }),
          ],
        },
        [logicalId(stack.tables.subscriptions)]: {
          attributes: ["wake", "wakeAt"],
          indexes: [gsi("byWake", "wake", "wakeAt", { ProjectionType: "ALL" })],
        },
      };
      expect(table.Properties).toEqual({
        KeySchema: keys.map(([AttributeName, KeyType]) => ({ AttributeName, KeyType })),
        AttributeDefinitions: [...keys.map(([AttributeName]) => AttributeName), ...(indexes[id]?.attributes ?? [])].map((AttributeName) => ({
          AttributeName,
          AttributeType: "S",
        })),
        ...(indexes[id] ? { GlobalSecondaryIndexes: indexes[id].indexes } : {}),
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: "KMS", KMSMasterKeyId: arn(stack.key) },
        TimeToLiveSpecification: { AttributeName: "expiresAt", Enabled: true },
        DeletionProtectionEnabled: true,
      });
    }
    expect(TABLES.ttlAttribute).toBe("expiresAt");
  });

  test("the stack's one KMS key rotates and is retained; CloudWatch may use it for this account's alarms only", () => {
    template.resourceCountIs("AWS::KMS::Key", 1);
    template.hasResource("AWS::KMS::Key", {
      Properties: Match.objectLike({ EnableKeyRotation: true }),
      DeletionPolicy: "Retain",
    });
    const key = template.findResources("AWS::KMS::Key")[logicalId(stack.key)];
    const services = key.Properties.KeyPolicy.Statement.filter((st: any) => st.Principal?.Service);
    expect(services).toEqual([
      {
        Sid: "CloudWatchAlarmsPublishToTheEncryptedTopic",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
      },
    ]);
  });
});

describe("alarms", () => {
  const alarmOn = (metricName: string) => Object.values(template.findResources("AWS::CloudWatch::Alarm", { Properties: { MetricName: metricName } }));

  const queueName = (queue: IConstruct) => ({ "Fn::GetAtt": [logicalId(queue), "QueueName"] });
  /** The alarms on `metricName` by the queue they watch (its logical id). */
  const alarmsByQueue = (metricName: string) =>
    Object.fromEntries(alarmOn(metricName).map((a) => [a.Properties.Dimensions[0].Value["Fn::GetAtt"][0], a.Properties]));

  test("in-flight messages of each lane's queue alarm at 80,000, well below the ~120,000 ceiling: a safety net behind the circuit breaker", () => {
    const alarms = alarmsByQueue("ApproximateNumberOfMessagesNotVisible");
    expect(Object.keys(alarms).sort()).toEqual([stack.pipeline.queue, stack.pipeline.slowQueue].map(logicalId).sort());
    for (const queue of [stack.pipeline.queue, stack.pipeline.slowQueue]) {
      const alarm = alarms[logicalId(queue)];
      expect(alarm.AlarmDescription).toMatch(/^Safety net: /);
      expect(alarm).toMatchObject({
        Namespace: "AWS/SQS",
        Threshold: 80_000,
        ComparisonOperator: "GreaterThanOrEqualToThreshold",
        Statistic: "Maximum",
        Period: 60,
        Dimensions: [{ Name: "QueueName", Value: queueName(queue) }],
      });
    }
    expect(alarms[logicalId(stack.pipeline.queue)].AlarmDescription).toMatch(/circuit breaker/);
    expect(alarms[logicalId(stack.pipeline.slowQueue)].AlarmDescription).toMatch(/slow lane/);
  });

  test("messages sent to the DLQ alarm per 5 minutes (not its depth, which stays in ALARM for days)", () => {
    const [alarm] = alarmOn("NumberOfMessagesSent");
    expect(alarm.Properties).toMatchObject({
      Namespace: "AWS/SQS",
      Statistic: "Sum",
      Period: 300,
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [logicalId(stack.pipeline.dlq), "QueueName"] } }],
    });
    expect(alarmOn("ApproximateNumberOfMessagesVisible")).toEqual([]);
  });

  test("the DLQ's depth rising alarms too (poison messages moved by the redrive policy are not 'sent')", () => {
    const alarm = template.findResources("AWS::CloudWatch::Alarm")[logicalId(stack.pipeline.alarms.find((a) => a.node.id === "DlqDepthRising")!)];
    const metrics = alarm.Properties.Metrics as any[];
    expect(metrics.find((m) => m.Expression).Expression).toBe("DIFF(visible)");
    expect(metrics.find((m) => m.Id === "visible").MetricStat).toMatchObject({
      Metric: {
        Namespace: "AWS/SQS",
        MetricName: "ApproximateNumberOfMessagesVisible",
        Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [logicalId(stack.pipeline.dlq), "QueueName"] } }],
      },
      Stat: "Maximum",
      Period: 300,
    });
    expect(alarm.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: "GreaterThanThreshold", TreatMissingData: "notBreaching" });
  });

  test("a backlog older than an hour on either lane's queue, deliver errors and throttles alarm", () => {
    const backlogs = alarmsByQueue("ApproximateAgeOfOldestMessage");
    expect(Object.keys(backlogs).sort()).toEqual([stack.pipeline.queue, stack.pipeline.slowQueue].map(logicalId).sort());
    for (const queue of [stack.pipeline.queue, stack.pipeline.slowQueue]) {
      expect(backlogs[logicalId(queue)]).toMatchObject({ Threshold: 3_600, Statistic: "Maximum", Period: 300, ComparisonOperator: "GreaterThanThreshold" });
    }
    expect(backlogs[logicalId(stack.pipeline.slowQueue)].AlarmDescription).toMatch(/slow lane/);
    for (const metric of ["Errors", "Throttles"]) {
      const [alarm] = alarmOn(metric).filter((a) => a.Properties.Dimensions[0].Value.Ref === logicalId(stack.pipeline.deliver.function));
      expect(alarm.Properties).toMatchObject({
        Threshold: 0,
        Dimensions: [{ Name: "FunctionName", Value: ref(stack.pipeline.deliver.function) }],
      });
    }
  });

  test("a deliver invocation near its timeout alarms (80% of 30 s)", () => {
    const [alarm] = alarmOn("Duration");
    expect(alarm.Properties).toMatchObject({
      Namespace: "AWS/Lambda",
      Statistic: "Maximum",
      Threshold: 24_000,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Dimensions: [{ Name: "FunctionName", Value: ref(stack.pipeline.deliver.function) }],
    });
  });

  test("failed bookkeeping writes (the deliver λ's own metric) alarm", () => {
    const [alarm] = alarmOn(METRICS.bookkeepingWriteFailures);
    expect(alarm.Properties).toMatchObject({
      Namespace: "RecordsKeeperWebhooks",
      Statistic: "Sum",
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
      Dimensions: [{ Name: "service", Value: "webhooks-deliver" }],
    });
  });

  test("a circuit open for 15 minutes alarms (informational): the release λ's OpenCircuits, three 5-minute maxima ≥ 1 in a row", () => {
    const [alarm] = alarmOn(METRICS.openCircuits);
    expect(alarm.Properties).toMatchObject({
      Namespace: "RecordsKeeperWebhooks",
      Dimensions: [{ Name: "service", Value: "webhooks-release" }],
      Statistic: "Maximum",
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
    expect(alarm.Properties.AlarmDescription).toMatch(/open for 15 minutes/);
  });

  test("more than 100,000 parked deliveries alarm (ParkedDeliveries, the release λ's)", () => {
    const [alarm] = alarmOn(METRICS.parkedDeliveries);
    expect(alarm.Properties).toMatchObject({
      Namespace: "RecordsKeeperWebhooks",
      Dimensions: [{ Name: "service", Value: "webhooks-release" }],
      Statistic: "Maximum",
      Threshold: 100_000,
      ComparisonOperator: "GreaterThanThreshold",
      TreatMissingData: "notBreaching",
    });
  });

  test("a failed sweep of the release λ alarms", () => {
    const alarms = alarmOn("Errors").filter((a) => a.Properties.Dimensions[0].Value.Ref === logicalId(stack.health.release.function));
    expect(alarms).toHaveLength(1);
    expect(alarms[0].Properties).toMatchObject({
      Namespace: "AWS/Lambda",
      Statistic: "Sum",
      Period: 300,
      Threshold: 0,
      ComparisonOperator: "GreaterThanThreshold",
    });
  });

  test("DynamoDB read and write throttles of every table alarm, summed", () => {
    const math = [template.findResources("AWS::CloudWatch::Alarm")[logicalId(stack.tables.alarms[0])]];
    expect(stack.tables.alarms).toHaveLength(1);
    const metrics = math[0].Properties.Metrics as any[];
    const inputs = metrics.filter((m) => m.MetricStat).map((m) => `${m.MetricStat.Metric.MetricName} ${m.MetricStat.Metric.Dimensions[0].Value.Ref}`);
    const tables = [stack.tables.subscriptions, stack.tables.events, stack.tables.deliveries, stack.tables.portalSessions].map(logicalId);
    expect(inputs.sort()).toEqual(tables.flatMap((t) => [`ReadThrottleEvents ${t}`, `WriteThrottleEvents ${t}`]).sort());
    for (const m of metrics.filter((m) => m.MetricStat)) expect(m.MetricStat).toMatchObject({ Stat: "Sum", Period: 300 });
    const expression = metrics.find((m) => m.Expression);
    expect(expression.ReturnData ?? true).toBe(true);
    expect(expression.Expression.split(" + ").sort()).toEqual(
      metrics
        .filter((m) => m.MetricStat)
        .map((m) => m.Id)
        .sort(),
    );
    expect(math[0].Properties).toMatchObject({ Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
  });

  test("every alarm notifies the alarm topic, which is KMS-encrypted and e-mails the operator", () => {
    const topic = Object.keys(template.findResources("AWS::SNS::Topic"));
    expect(topic).toHaveLength(1);
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: arn(stack.key) });
    template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.com" });
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms).toHaveLength(15);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic[0] }]);
    }
    Annotations.fromStack(stack).hasNoWarning("*", Match.stringLikeRegexp("No alarm target"));
  });

  test("a dashboard exists, with both delivery lanes' queues, the endpoint health metrics and the release λ", () => {
    template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    const [dashboard] = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const name of [
      METRICS.openCircuits,
      METRICS.parkedDeliveries,
      METRICS.circuitsOpened,
      METRICS.circuitsClosed,
      METRICS.deliveriesParked,
      METRICS.deliveriesReleased,
    ]) {
      expect([name, body.includes(name)]).toEqual([name, true]);
    }
    expect(body).toContain(logicalId(stack.health.release.function));
    // Both lanes' queues: visible, in flight and oldest message of each.
    const metricsOf = (queue: IConstruct) => sqsMetricsOn(dashboard.Properties.DashboardBody, logicalId(queue));
    for (const queue of [stack.pipeline.queue, stack.pipeline.slowQueue]) {
      expect(metricsOf(queue)).toEqual(["ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesVisible"]);
    }
  });
});

describe("least privilege", () => {
  const ids = () => ({
    subscriptions: logicalId(stack.tables.subscriptions),
    events: logicalId(stack.tables.events),
    deliveries: logicalId(stack.tables.deliveries),
    queue: logicalId(stack.pipeline.queue),
    slowQueue: logicalId(stack.pipeline.slowQueue),
    dlq: logicalId(stack.pipeline.dlq),
    key: logicalId(stack.key),
  });

  test("ingest: the fan-out query, the event's put / read-back / claim / take-back, the send; no secret access", () => {
    const { subscriptions, events, queue, key } = ids();
    expect(grantsOf(stack.api.ingest)).toEqual({
      [logicalId(stack.api.ingest.logGroup)]: LOGS,
      [subscriptions]: dynamo("Query"),
      [events]: dynamo("DeleteItem", "GetItem", "PutItem", "UpdateItem"),
      [queue]: sqsActions("SendMessage"),
      [`${key} via dynamodb`]: KMS_VIA_DYNAMODB,
    });
  });

  test("manage: exactly the table actions it calls, seals secrets (never opens them), queue send and depths (both lanes), DLQ redrive", () => {
    const { subscriptions, events, deliveries, queue, slowQueue, dlq, key } = ids();
    expect(grantsOf(stack.api.manage)).toEqual({
      [logicalId(stack.api.manage.logGroup)]: LOGS,
      [subscriptions]: dynamo("DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"),
      [events]: dynamo("GetItem", "PutItem"),
      [deliveries]: dynamo("BatchGetItem", "GetItem", "Query"),
      [queue]: sqsActions("GetQueueAttributes", "SendMessage"),
      [slowQueue]: sqsActions("GetQueueAttributes"),
      [dlq]: sqsActions("DeleteMessage", "GetQueueAttributes", "ListMessageMoveTasks", "ReceiveMessage", "StartMessageMoveTask"),
      [`${key} via dynamodb`]: KMS_VIA_DYNAMODB,
      [`${key} secrets`]: ["kms:GenerateDataKey"],
    });
  });

  test("portal: the manage λ's table actions, seals secrets, queue send, and its sessions; no DLQ (no admin route)", () => {
    const { subscriptions, events, deliveries, queue, key } = ids();
    expect(grantsOf(stack.api.portal)).toEqual({
      [logicalId(stack.api.portal.logGroup)]: LOGS,
      [subscriptions]: dynamo("DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"),
      [events]: dynamo("GetItem", "PutItem"),
      [deliveries]: dynamo("BatchGetItem", "GetItem", "Query"),
      [logicalId(stack.tables.portalSessions)]: dynamo("GetItem", "PutItem", "UpdateItem"),
      [queue]: sqsActions("SendMessage"),
      [`${key} via dynamodb`]: KMS_VIA_DYNAMODB,
      [`${key} secrets`]: ["kms:GenerateDataKey"],
    });
  });

  test("deliver: batch reads and updates of subscriptions and records, opens secrets, consumes both lanes' queues, forwards to the slow lane, sends to the DLQ; no events access", () => {
    const { subscriptions, deliveries, queue, slowQueue, dlq, key } = ids();
    expect(grantsOf(stack.pipeline.deliver)).toEqual({
      [logicalId(stack.pipeline.deliver.logGroup)]: LOGS,
      [subscriptions]: dynamo("BatchGetItem", "UpdateItem"),
      [deliveries]: dynamo("BatchGetItem", "BatchWriteItem", "PutItem", "UpdateItem"),
      [queue]: sqsActions("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "ReceiveMessage"),
      [slowQueue]: sqsActions("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "ReceiveMessage", "SendMessage"),
      [dlq]: sqsActions("SendMessage"),
      [`${key} via dynamodb`]: KMS_VIA_DYNAMODB,
      [`${key} secrets`]: ["kms:Decrypt"],
    });
  });

  test("release: the wake and parked queries, health and record updates, attempt items, sends to the queue and the DLQ; no events, no secrets", () => {
    const { subscriptions, deliveries, queue, dlq, key } = ids();
    expect(grantsOf(stack.health.release)).toEqual({
      [logicalId(stack.health.release.logGroup)]: LOGS,
      [subscriptions]: dynamo("GetItem", "Query", "UpdateItem"),
      [deliveries]: dynamo("GetItem", "PutItem", "Query", "UpdateItem"),
      [queue]: sqsActions("SendMessage"),
      [dlq]: sqsActions("SendMessage"),
      [`${key} via dynamodb`]: KMS_VIA_DYNAMODB,
    });
  });

  test("only the deliver λ can decrypt with the key outside DynamoDB, and only the manage and portal λs can make data keys", () => {
    const direct: Record<string, string[]> = {};
    for (const [id, policy] of Object.entries(template.findResources("AWS::IAM::Policy"))) {
      for (const st of policy.Properties.PolicyDocument.Statement) {
        const kmsActions = [st.Action].flat().filter((a: string) => a.startsWith("kms:"));
        if (kmsActions.length === 0) continue;
        // Every key grant is conditioned: through DynamoDB, or with the secrets' encryption context.
        expect(st.Condition).toBeDefined();
        if (st.Condition.StringEquals?.["kms:ViaService"]) continue;
        (direct[id] ??= []).push(...kmsActions);
      }
    }
    const policyOf = (fn: WebhooksFunction) => Object.keys(template.findResources("AWS::IAM::Policy", { Properties: { Roles: [ref(fn.role)] } }))[0];
    expect(direct).toEqual({
      [policyOf(stack.pipeline.deliver)]: ["kms:Decrypt"],
      [policyOf(stack.api.manage)]: ["kms:GenerateDataKey"],
      [policyOf(stack.api.portal)]: ["kms:GenerateDataKey"],
    });
  });

  test("no λ may Scan, read streams or use wildcard DynamoDB or SQS actions", () => {
    for (const fn of allFunctions()) {
      const actions = Object.values(grantsOf(fn)).flat();
      expect(actions.filter((a) => /^dynamodb:(Scan|GetRecords|GetShardIterator|DescribeStream|ListStreams)$|^dynamodb:.*\*|^sqs:.*\*/.test(a))).toEqual([]);
    }
  });
});

describe("outputs", () => {
  test("have stable names", () => {
    expect(Object.keys(template.toJSON().Outputs).sort()).toEqual([
      "ApiArn",
      "ApiUrl",
      "DeliveriesTableName",
      "DeliveryQueueUrl",
      "DeliverySlowQueueUrl",
      "DlqUrl",
      "EventsTableName",
      "PortalSessionsTableName",
      "PortalUrl",
      "SubscriptionsTableName",
    ]);
    template.hasOutput("ApiArn", {
      Value: { "Fn::Join": ["", Match.arrayWith([":execute-api:", ref(stack.api.httpApi), "/*/*/*"])] },
    });
    template.hasOutput("DlqUrl", { Value: ref(stack.pipeline.dlq) });
    template.hasOutput("DeliverySlowQueueUrl", { Value: ref(stack.pipeline.slowQueue) });
    template.hasOutput("EventsTableName", { Value: ref(stack.tables.events) });
    template.hasOutput("PortalUrl", { Value: { "Fn::Join": ["", [{ "Fn::GetAtt": [logicalId(stack.api.httpApi), "ApiEndpoint"] }, "/portal"]] } });
  });
});

describe("cdk-nag AwsSolutions", () => {
  test("has no unacknowledged finding, error or warning", () => {
    const findings = nag
      .validateScope(app)
      .violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(", ")}`);
    expect(findings).toEqual([]);
    // Nor does anything else in the validation report (CloudFormation checks, construct warnings).
    expect(validationReport.pluginReports).toEqual([]);
  });

  test("acknowledges only the justified IAM5 wildcards on the λ roles and APIG4 on the portal routes, each with a reason", () => {
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
    const roles = allFunctions().map((f) => f.role.node.path);
    // API Gateway authorises no portal route: the page is public, the portal λ checks the session token.
    const portalRoutes = ROUTES.filter((r) => r.auth).map(
      (r) => `${stack.api.httpApi.node.path}/${r.routeKey.replace(" /", "--").replaceAll("/", "--")} AwsSolutions-APIG4`,
    );
    expect(portalRoutes).toHaveLength(16); // page, assets, session, 13 mirrored management routes
    expect(acknowledged.sort()).toEqual(
      [
        ...portalRoutes,
        ...roles.flatMap((role) => [`${role} AwsSolutions-IAM5[Action::kms:GenerateDataKey*]`, `${role} AwsSolutions-IAM5[Action::kms:ReEncrypt*]`]),
        // A table's own indexes, on the roles that use that table: the deliveries' byStatus and parked, the subscriptions' byWake.
        ...[stack.api.manage, stack.api.portal, stack.pipeline.deliver, stack.health.release].map(
          (f) => `${f.role.node.path} AwsSolutions-IAM5[Resource::<${logicalId(stack.tables.deliveries)}.Arn>/index/*]`,
        ),
        ...allFunctions().map((f) => `${f.role.node.path} AwsSolutions-IAM5[Resource::<${logicalId(stack.tables.subscriptions)}.Arn>/index/*]`),
      ].sort(),
    );
  });

  test("no λ has a grant on Resource *", () => {
    for (const fn of allFunctions()) {
      expect(grantsOf(fn)["*"]).toBeUndefined();
    }
  });
});

describe("props", () => {
  /** A stack whose assets are not bundled: enough to read its template quickly. */
  const unbundled = (props: ConstructorParameters<typeof WebhooksStack>[2]) => {
    const app = new App({ context: { ...CDK_CONTEXT, "aws:cdk:bundling-stacks": [] } });
    return new WebhooksStack(app, "Props", props);
  };

  test("a custom retry schedule reaches every λ; without alarm e-mail, no topic, and a synth warning says so", () => {
    const quiet = unbundled({ retryScheduleSeconds: [5, 30, 120], autoDisableAfterSeconds: 3_600 });
    const template = Template.fromStack(quiet);
    Annotations.fromStack(quiet).hasWarning("/Props", Match.stringLikeRegexp("^No alarm target: the stack's alarms notify nobody"));
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
    const withTopic = unbundled({ alarmTopicArn: topicArn, alarmEmail: "ignored@example.com" });
    const template = Template.fromStack(withTopic);
    Annotations.fromStack(withTopic).hasNoWarning("*", Match.anyValue());
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

  test("route throttles can be set apart", () => {
    const template = Template.fromStack(
      unbundled({ apiThrottle: { ingest: { rateLimit: 1_000, burstLimit: 2_000 }, management: { rateLimit: 5, burstLimit: 10 } } }),
    );
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 },
      RouteSettings: { "POST /events": { ThrottlingRateLimit: 1_000, ThrottlingBurstLimit: 2_000 } },
    });
  });

  test("portalFrameAncestors reach the portal λ only; an origin list that is not one is refused at synth", () => {
    const props = unbundled({ portalFrameAncestors: ["https://app.recordskeeper.ai", "https://*.example.com:8443"] });
    const envs = Object.values(Template.fromStack(props).findResources("AWS::Lambda::Function")).map((f) => f.Properties.Environment.Variables);
    expect(envs.filter((e) => e.WEBHOOKS_PORTAL_FRAME_ANCESTORS === "https://app.recordskeeper.ai https://*.example.com:8443")).toHaveLength(1);
    expect(envs.filter((e) => e.WEBHOOKS_PORTAL_FRAME_ANCESTORS === undefined)).toHaveLength(4);
    expect(() => unbundled({ portalFrameAncestors: ["https://ok.example.com; script-src *"] })).toThrow(/is not an origin/);
  });

  test("the endpoint health settings reach every λ", () => {
    const template = Template.fromStack(unbundled({ breakerThreshold: 3, breakerProbeIntervalSeconds: 120, releaseRate: 10 }));
    const functions = Object.values(template.findResources("AWS::Lambda::Function"));
    expect(functions).toHaveLength(5);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        WEBHOOKS_BREAKER_THRESHOLD: "3",
        WEBHOOKS_BREAKER_PROBE_INTERVAL: "120s",
        WEBHOOKS_RELEASE_RATE: "10",
      });
    }
  });

  test.each([
    [{ breakerThreshold: 0 }, /breakerThreshold: 0 is not a whole number of failed attempts, at least 1/],
    [{ breakerThreshold: 2.5 }, /breakerThreshold: 2\.5 is not/],
    [{ breakerProbeIntervalSeconds: 30 }, /breakerProbeIntervalSeconds: 30 is not a whole number of seconds in \[60, 900\]/],
    [{ breakerProbeIntervalSeconds: 901 }, /breakerProbeIntervalSeconds: 901 is not/],
    [{ releaseRate: 0 }, /releaseRate: 0 is not a whole number of deliveries per second in \[1, 1000\]/],
    [{ releaseRate: 1_001 }, /releaseRate: 1001 is not/],
    [{ releaseRate: Number.NaN }, /releaseRate: NaN is not/],
  ])("refuses the health setting %j", (props, message) => {
    expect(() => unbundled(props)).toThrow(message);
  });

  test("refuses a non-positive auto-disable period", () => {
    expect(() => unbundled({ autoDisableAfterSeconds: 0 })).toThrow(/autoDisableAfterSeconds: 0/);
  });
});

test("the stack is environment-agnostic", () => {
  expect(Token.isUnresolved(stack.account)).toBe(true);
  expect(Token.isUnresolved(stack.region)).toBe(true);
});
