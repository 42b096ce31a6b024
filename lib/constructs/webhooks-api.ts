import { Duration, RemovalPolicy } from "aws-cdk-lib";
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
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { thresholdAlarm } from "./alarms.ts";
import { ROUTES, type FunctionName } from "#core/routes.ts";
import { webhooksEnvironment, type RuntimeConfig } from "./environment.ts";
import type { WebhooksTables } from "./tables.ts";
import { WebhooksFunction } from "./webhooks-function.ts";

export interface ApiThrottle {
  /** Steady-state requests per second across the stage. */
  readonly rateLimit: number;
  /** Requests allowed in a short burst above the rate. */
  readonly burstLimit: number;
}

export interface WebhooksApiProps {
  readonly tables: WebhooksTables;
  readonly queue: sqs.IQueue;
  readonly dlq: sqs.IQueue;
  readonly config: RuntimeConfig;
  /** @default 200 requests/s, bursts of 400 */
  readonly throttle?: ApiThrottle;
  /** Origins allowed to frame the tenant portal (CSP frame-ancestors). @default none */
  readonly portalFrameAncestors?: readonly string[];
}

/**
 * The HTTP API: exactly the routes of `ROUTES` (core), every one IAM (SigV4) authorised but the
 * tenant portal's page and session-authorised API, served by the ingest λ (`POST /events`), the
 * portal λ (the portal and its sessions) and the manage λ (everything else), on a throttled
 * `$default` stage with JSON access logs.
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
    const { tables, queue, dlq } = props;
    const environment = webhooksEnvironment({ tables, queue, dlq, config: props.config });

    const ingest = new WebhooksFunction(this, "Ingest", {
      entry: "lambdas/ingest/handler.ts",
      description: "POST /events: validates, records and fans out events to the delivery queue",
      timeout: Duration.seconds(15),
      environment,
    });
    ingest.bindTable(tables.subscriptions, "read");
    ingest.bindTable(tables.events, "readWrite");
    ingest.bindQueue(queue, "send");
    this.ingest = ingest;

    const manage = new WebhooksFunction(this, "Manage", {
      entry: "lambdas/manage/handler.ts",
      description: "Management API: subscriptions, delivery log, replay, DLQ redrive",
      timeout: Duration.seconds(25),
      environment,
    });
    manage.bindTable(tables.subscriptions, "readWrite");
    // Read for replays; written by `POST …/test`, which records its example event like a publish.
    manage.bindTable(tables.events, "readWrite");
    manage.bindTable(tables.deliveries, "readWrite");
    // Test sends, replays, and the destination of a DLQ redrive.
    manage.bindQueue(queue, "send");
    manage.bindQueue(dlq, "redriveSource");
    this.manage = manage;

    // The tenant portal (design §6a): its page and assets, portal sessions, and the portal API, which
    // calls the management API's handlers for the session's tenant. No DLQ access: no admin route.
    const portal = new WebhooksFunction(this, "Portal", {
      entry: "lambdas/portal/handler.ts",
      description: "Tenant portal: its page and assets, portal sessions, and the session-authorised portal API",
      timeout: Duration.seconds(25),
      environment,
      // Built with esbuild at synth, offline, and shipped inside the λ's bundle.
      bundleDirectory: { from: writePortalAssets(), as: "portal-assets" },
    });
    portal.bindTable(tables.subscriptions, "readWrite");
    portal.bindTable(tables.events, "readWrite");
    portal.bindTable(tables.deliveries, "readWrite");
    portal.bindTable(tables.portalSessions, "readWrite");
    portal.bindQueue(queue, "send");
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
    for (const route of ROUTES) {
      const [method, routePath] = route.routeKey.split(" ");
      const [added] = this.httpApi.addRoutes({
        path: routePath,
        methods: [apigw.HttpMethod[method as keyof typeof apigw.HttpMethod]],
        integration: integrations[route.fn],
        // The portal's page, assets and session-authorised API: the portal λ checks the session token.
        ...(route.auth ? { authorizer: new apigw.HttpNoneAuthorizer() } : {}),
      });
      if (route.auth) {
        Validations.of(added).acknowledge({
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

    this.accessLogGroup = new logs.LogGroup(this, "AccessLogs", {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const throttle = props.throttle ?? { rateLimit: 200, burstLimit: 400 };
    this.stage = this.httpApi.addStage("DefaultStage", {
      stageName: "$default",
      autoDeploy: true,
      throttle,
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
