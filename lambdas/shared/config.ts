import type { DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import type { KMSClientConfig } from "@aws-sdk/client-kms";
import type { SQSClientConfig } from "@aws-sdk/client-sqs";
import type { SqsQueueConfig } from "#adapters/sqs.ts";
import type { HealthPolicy } from "#core/parking.ts";
import type { Clock, CoreLogger, CoreMetrics } from "#core/ports.ts";
import { parseDuration, RetrySchedule } from "#core/retry.ts";
import { DELIVERY, ENV, HEALTH } from "#core/settings.ts";

/*
 * What every λ's composition root (lambdas/<λ>/services.ts) is given: the configuration read from
 * the environment the stack sets (lib/constructs/environment.ts writes it, configFromEnv reads it),
 * and the λ's logger and metrics. Types only from the SDKs, so no λ loads a client it does not use.
 */

/** Everything a λ needs to know about its surroundings; read from the environment the stack sets. */
export interface RuntimeConfig {
  /** Endpoint health (docs/delivery-semantics.md): breaker threshold, probe interval, release rate. */
  health: Pick<HealthPolicy, "breakerThreshold" | "probeIntervalSeconds" | "releaseRate">;
  tables: { subscriptions: string; events: string; deliveries: string; portalSessions: string };
  queue: SqsQueueConfig;
  schedule: RetrySchedule;
  allowPrivateEndpoints: boolean;
  autoDisableAfterSeconds: number;
  /** The KMS key that seals signing secrets; the manage and deliver λs need it, ingest does not. */
  secretsKeyId?: string;
  /** The portal page's URL (`…/portal`), the base of a new session's `url`. */
  portalUrl?: string;
  /** CSP frame-ancestors of the portal page (space-separated origins); default 'none'. */
  portalFrameAncestors?: string;
  /** Endpoint overrides for the local stack; on AWS the SDK's defaults apply. */
  sqs?: SQSClientConfig;
  dynamodb?: DynamoDBClientConfig;
  kms?: KMSClientConfig;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`environment variable ${name} must be a positive number, not "${raw}"`);
  return value;
}

/** WEBHOOKS_BREAKER_THRESHOLD, WEBHOOKS_BREAKER_PROBE_INTERVAL (a duration: `60s`, `2m`), WEBHOOKS_RELEASE_RATE; defaults from HEALTH. */
export function healthFromEnv(env: NodeJS.ProcessEnv): RuntimeConfig["health"] {
  const interval = env[ENV.breakerProbeInterval];
  return {
    breakerThreshold: positiveNumber(env, ENV.breakerThreshold, HEALTH.breakerThreshold),
    probeIntervalSeconds: interval ? parseDuration(interval) : HEALTH.probeIntervalSeconds,
    releaseRate: positiveNumber(env, ENV.releaseRate, HEALTH.releaseRate),
  };
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  const schedule = env[ENV.retrySchedule];
  return {
    tables: {
      subscriptions: required(env, ENV.subscriptionsTable),
      events: required(env, ENV.eventsTable),
      deliveries: required(env, ENV.deliveriesTable),
      portalSessions: required(env, ENV.portalSessionsTable),
    },
    queue: {
      queueUrl: required(env, ENV.deliveryQueueUrl),
      queueArn: env[ENV.deliveryQueueArn] ?? "",
      dlqUrl: required(env, ENV.dlqUrl),
      dlqArn: env[ENV.dlqArn] ?? "",
      slowQueueUrl: env[ENV.slowQueueUrl] || undefined,
      slowQueueArn: env[ENV.slowQueueArn] || undefined,
      // SQS move tasks on AWS; the local stack, whose SQS has none, sets "copy" itself (local/stack.ts).
      redrive: "move-task",
    },
    schedule: schedule === undefined ? new RetrySchedule() : RetrySchedule.parse(schedule),
    health: healthFromEnv(env),
    allowPrivateEndpoints: env[ENV.allowPrivateEndpoints] === "true",
    autoDisableAfterSeconds: Number(env[ENV.autoDisableAfter] ?? DELIVERY.autoDisableAfterSeconds),
    secretsKeyId: env[ENV.secretsKeyArn] || undefined,
    portalUrl: env[ENV.portalUrl],
    portalFrameAncestors: env[ENV.portalFrameAncestors],
  };
}

/** What a composition root is given besides the configuration: the λ's logger and metrics, and test hooks. */
export interface Observability {
  logger: CoreLogger;
  metrics?: CoreMetrics;
  clock?: Clock;
  /** How long a λ may reuse subscriptions it read; tests set 0 to see every change at once. */
  subscriptionCacheMs?: number;
}

/** The full health policy: the configured parts, the rest from HEALTH. */
export function healthPolicy(config: RuntimeConfig, sweepSeconds: number = HEALTH.sweepSeconds): HealthPolicy {
  return { ...config.health, maxProbeIntervalSeconds: HEALTH.maxProbeIntervalSeconds, sweepSeconds };
}
