import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import * as apigw from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { Validations } from "aws-cdk-lib";
import { ENV } from "#core/settings.ts";
import { writePortalAssets } from "../../portal/build.ts";
import { frameAncestors } from "../../lambdas/portal/app.ts";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { thresholdAlarm } from "./alarms.ts";
import { ROUTES, type FunctionName } from "#core/routes.ts";
import { webhooksEnvironment, type EnvironmentSources } from "./environment.ts";
import { WebhooksFunction } from "./webhooks-function.ts";

export interface ApiThrottle {
  /** Steady-state requests per second (per route). */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

/** Route-level throttles: publishing and management apart, so a busy console cannot starve publishers (or the reverse). */
export interface ApiThrottles {
  /** `POST /events`. @default 200 requests/s, bursts of 400 */
  readonly ingest?: ApiThrottle;
  /** Every management route, each on its own. @default 50 requests/s, bursts of 100 */
  readonly management?: ApiThrottle;
}

export const DEFAULT_THROTTLES: Required<ApiThrottles> = {
  ingest: { rateLimit: 200, burstLimit: 400 },
  management: { rateLimit: 50, burstLimit: 100 },
};

/**
 * The resources every λ's environment names (the manage λ reads the slow lane's depths for
 * `GET /admin/queues`; the manage and portal λs seal new secrets with the key), and the API's own settings.
 */
export interface WebhooksApiProps extends EnvironmentSources {
  /** @default DEFAULT_THROTTLES */
  readonly throttle?: ApiThrottles;
  /** Origins allowed to frame the tenant portal (CSP frame-ancestors). @default none */
  readonly portalFrameAncestors?: readonly string[];
}

/**
 * The HTTP API: exactly the routes of `ROUTES` (core), every one IAM (SigV4) authorised but the
 * tenant portal's page and session-authorised API, served by the ingest λ (`POST /events`), the
 * portal λ (the portal and its sessions) and the manage λ (everything else), on a `$default` stage
 * with route-level throttles (ingest and management apart) and JSON access logs under `/aws/vendedlogs/`.
 */
export class WebhooksApi extends Construct {
  readonly httpApi: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly ingest: WebhooksFunction;
  readonly manage: WebhooksFunction;
  readonly portal: WebhooksFunction;
  readonly accessLogGroup: logs.ILogGroup;
  readonly alarms: readonly cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: WebhooksApiProps) {
    super(scope, id);
    const { tables, queue, slowQueue, dlq } = props;
    const environment = webhooksEnvironment(props);

    const ingest = new WebhooksFunction(this, "Ingest", {
      entry: "lambdas/ingest/handler.ts",
      description: "POST /events: validates, records and fans out events to the delivery queue",
      timeout: Duration.seconds(15),
      environment,
    });
    // Exactly what ingest calls: the fan-out query; the idempotent put, its read-back and the
    // take-back of a refused batch; the send. No secret access: it can neither seal nor open one.
    ingest.bindTable(tables.subscriptions, ["Query"]);
    ingest.bindTable(tables.events, ["PutItem", "GetItem", "UpdateItem", "DeleteItem"]);
    ingest.bindQueue(queue, ["SendMessage"]);
    this.ingest = ingest;

    const manage = new WebhooksFunction(this, "Manage", {
      entry: "lambdas/manage/handler.ts",
      description: "Management API: subscriptions, delivery log, replay, DLQ redrive",
      timeout: Duration.seconds(25),
      environment,
    });
    // Exactly what manage calls: list and count (Query), read, create, update, delete a webhook.
    manage.bindTable(tables.subscriptions, ["Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem"]);
    // Read for replays; written by `POST …/test`, which records its example event like a publish.
    manage.bindTable(tables.events, ["GetItem", "PutItem"]);
    // The delivery log, read only.
    manage.bindTable(tables.deliveries, ["GetItem", "Query", "BatchGetItem"]);
    // Creates and rotates secrets: seals them (and cannot open them).
    manage.bindSecrets(props.secretsKey, "seal");
    // Test sends, replays, and the destination of a DLQ redrive; its depths for `GET /admin/queues`.
    manage.bindQueue(queue, ["SendMessage", "GetQueueAttributes"]);
    // The slow lane's depths for `GET /admin/queues` (`slow`); nothing is sent there but by the deliver λ.
    manage.bindQueue(slowQueue, ["GetQueueAttributes"]);
    // DLQ depth, and a redrive: StartMessageMoveTask needs receive, delete and attributes on its
    // source; ListMessageMoveTasks reports a redrive already running (409).
    manage.bindQueue(dlq, ["GetQueueAttributes", "ReceiveMessage", "DeleteMessage", "StartMessageMoveTask", "ListMessageMoveTasks"]);
    this.manage = manage;

    // The tenant portal (docs/portal.md): its page and assets, portal sessions, and the portal API, which
    // calls the management API's handlers for the session's tenant. No DLQ access: no admin route.
    const portal = new WebhooksFunction(this, "Portal", {
      entry: "lambdas/portal/handler.ts",
      description: "Tenant portal: its page and assets, portal sessions, and the session-authorised portal API",
      timeout: Duration.seconds(25),
      environment,
      // Built with esbuild at synth, offline, and shipped inside the λ's bundle.
      bundleDirectory: { from: writePortalAssets(), as: "portal-assets" },
    });
    // The management routes it serves need what manage's do (less the DLQ): the same table actions,
    // sealing new secrets, the queue send of test sends and replays.
    portal.bindTable(tables.subscriptions, ["Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem"]);
    portal.bindTable(tables.events, ["GetItem", "PutItem"]);
    portal.bindTable(tables.deliveries, ["GetItem", "Query", "BatchGetItem"]);
    // Sessions: created (put), checked (get of the session and of its tenant's generation), revoked (update).
    portal.bindTable(tables.portalSessions, ["GetItem", "PutItem", "UpdateItem"]);
    portal.bindSecrets(props.secretsKey, "seal");
    portal.bindQueue(queue, ["SendMessage"]);
    this.portal = portal;

    this.httpApi = new apigw.HttpApi(this, "HttpApi", {
      description: "RecordsKeeper.AI webhooks: ingest and management",
      defaultAuthorizer: new HttpIamAuthorizer(),
      createDefaultStage: false,
    });

    const integrations: Record<FunctionName, HttpLambdaIntegration> = {
      ingest: new HttpLambdaIntegration("IngestIntegration", ingest.function),
      manage: new HttpLambdaIntegration("ManageIntegration", manage.function),
      portal: new HttpLambdaIntegration("PortalIntegration", portal.function),
    };
    const routes: apigw.HttpRoute[] = [];
    for (const route of ROUTES) {
      const [method, routePath] = route.routeKey.split(" ");
      const added = this.httpApi.addRoutes({
        path: routePath,
        methods: [apigw.HttpMethod[method as keyof typeof apigw.HttpMethod]],
        integration: integrations[route.fn],
        // The portal's page, assets and session-authorised API: the portal λ checks the session token.
        ...(route.auth ? { authorizer: new apigw.HttpNoneAuthorizer() } : {}),
      });
      routes.push(...added);
      if (route.auth) {
        Validations.of(added[0]).acknowledge({
          id: "AwsSolutions-APIG4",
          reason:
            route.auth === "public"
              ? "The tenant portal's page and static assets are public by design; they hold no data (docs/security.md)."
              : "Authorised by the portal session bearer token, checked by the portal λ against its SHA-256 in DynamoDB (docs/security.md).",
        });
      }
    }
    portal.function.addEnvironment(ENV.portalUrl, `${this.httpApi.apiEndpoint}/portal`);
    // Refused at synth, like at the λ's start: an origin list that is not one cannot reach a header.
    if (props.portalFrameAncestors?.length) frameAncestors(props.portalFrameAncestors.join(" "));
    if (props.portalFrameAncestors?.length) portal.function.addEnvironment(ENV.portalFrameAncestors, props.portalFrameAncestors.join(" "));

    // Under /aws/vendedlogs/: API Gateway's log delivery then does not add this group to the
    // account's CloudWatch Logs resource policy, which is capped at 5,120 characters and may be
    // nearly full in a crowded account (docs/operations.md: what `cdk deploy` needs).
    this.accessLogGroup = new logs.LogGroup(this, "AccessLogs", {
      logGroupName: `/aws/vendedlogs/apigateway/${Stack.of(this).stackName}/access-logs`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttles = { ...DEFAULT_THROTTLES, ...props.throttle };
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      // Every management route has this limit on its own; the ingest route has its own below.
      throttle: throttles.management,
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            time: "$context.requestTime",
            caller: "$context.identity.userArn",
            sourceIp: "$context.identity.sourceIp",
            routeKey: "$context.routeKey",
            path: "$context.path",
            status: "$context.status",
            latencyMs: "$context.responseLatency",
            responseLength: "$context.responseLength",
            integrationError: "$context.integrationErrorMessage",
            authorizerError: "$context.authorizer.error",
          }),
        ),
      },
    });

    const cfnStage = this.stage.node.defaultChild as apigw.CfnStage;
    cfnStage.routeSettings = Object.fromEntries(
      ROUTES.filter((r) => r.fn === "ingest").map((r) => [
        r.routeKey,
        // A plain JSON property in CloudFormation's own spelling (the L1 passes it through as is).
        { ThrottlingRateLimit: throttles.ingest.rateLimit, ThrottlingBurstLimit: throttles.ingest.burstLimit },
      ]),
    );
    // Route settings name route keys, which must exist before the stage refers to them.
    for (const route of routes) this.stage.node.addDependency(route);

    this.alarms = [
      thresholdAlarm(this, "ServerErrors", {
        description: "The API answered 5xx: publishes or management calls are failing",
        metric: this.stage.metricServerError({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
      }),
    ];
  }

  /** The API's base URL (the `$default` stage: no stage segment). */
  get url(): string {
    return this.stage.url;
  }

  /** The tenant portal's page: a session's `url` is this plus `#token=…`. */
  get portalUrl(): string {
    return `${this.httpApi.apiEndpoint}/portal`;
  }

  /** The execute-api ARN of every route, method and stage: grant callers `execute-api:Invoke` on it. */
  get invokeArn(): string {
    return this.httpApi.arnForExecuteApi();
  }
}
