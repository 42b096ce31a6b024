import type * as kms from "aws-cdk-lib/aws-kms";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { ENV } from "#core/settings.ts";
import type { WebhooksTables } from "./tables.ts";

/**
 * Behaviour the stack's props tune, handed to every λ through its environment; each λ reads it back
 * into its RuntimeConfig (lambdas/shared/config.ts, `configFromEnv`).
 */
export interface TunedBehaviour {
  /** Delays after attempt 1, in seconds. */
  readonly retryScheduleSeconds: readonly number[];
  readonly autoDisableAfterSeconds: number;
  /** Endpoint health (docs/delivery-semantics.md): consecutive failures that open a circuit. */
  readonly breakerThreshold: number;
  /** First probe interval of an open circuit, in seconds. */
  readonly breakerProbeIntervalSeconds: number;
  /** Parked deliveries released per second per webhook. */
  readonly releaseRate: number;
}

export interface EnvironmentSources {
  readonly tables: WebhooksTables;
  readonly queue: sqs.IQueue;
  /** The slow lane's queue (SLOW_LANE). */
  readonly slowQueue: sqs.IQueue;
  readonly dlq: sqs.IQueue;
  readonly config: TunedBehaviour;
  /** The key that seals signing secrets. */
  readonly secretsKey: kms.IKey;
}

/**
 * The environment every λ reads (names from `ENV` in the core settings). All λs get the same
 * variables; what each may actually touch is decided by its grants, not by what it can name.
 */
export function webhooksEnvironment(sources: EnvironmentSources): Record<string, string> {
  const { tables, queue, slowQueue, dlq, config, secretsKey } = sources;
  return {
    [ENV.subscriptionsTable]: tables.subscriptions.tableName,
    [ENV.eventsTable]: tables.events.tableName,
    [ENV.deliveriesTable]: tables.deliveries.tableName,
    [ENV.portalSessionsTable]: tables.portalSessions.tableName,
    [ENV.deliveryQueueUrl]: queue.queueUrl,
    [ENV.deliveryQueueArn]: queue.queueArn,
    [ENV.slowQueueUrl]: slowQueue.queueUrl,
    [ENV.slowQueueArn]: slowQueue.queueArn,
    [ENV.dlqUrl]: dlq.queueUrl,
    [ENV.dlqArn]: dlq.queueArn,
    [ENV.retrySchedule]: config.retryScheduleSeconds.map((s) => `${s}s`).join(","),
    [ENV.allowPrivateEndpoints]: "false",
    [ENV.autoDisableAfter]: String(config.autoDisableAfterSeconds),
    [ENV.secretsKeyArn]: secretsKey.keyArn,
    [ENV.breakerThreshold]: String(config.breakerThreshold),
    [ENV.breakerProbeInterval]: `${config.breakerProbeIntervalSeconds}s`,
    [ENV.releaseRate]: String(config.releaseRate),
  };
}
