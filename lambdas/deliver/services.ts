import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoDeliveryLog, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { DynamoHealthStore } from "#adapters/health.ts";
import { NodeHttpSender } from "#adapters/node-http-sender.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { type AttemptReport, DeliveryService } from "#core/delivery.ts";
import { type HttpSender, noMetrics, systemClock } from "#core/ports.ts";
import { DELIVERY } from "#core/settings.ts";
import type { Observability, RuntimeConfig } from "../shared/config.ts";
import { secretSealer } from "../shared/secrets.ts";

/** The deliver λ's services: the main lane's, and the slow lane's (SLOW_LANE) where the stack has one. */
export interface DeliveryServices {
  main: DeliveryService;
  slow?: { service: DeliveryService; queueArn: string };
}

/**
 * The deliver λ's composition root: subscriptions, endpoint health and the delivery log in DynamoDB,
 * the queues, KMS to open the signing secrets, and the guarded HTTP sender.
 */
export function createDeliveryServices(
  config: RuntimeConfig,
  o: Observability & { sender?: HttpSender; onAttempt?: (a: AttemptReport) => void; attemptTimeoutMs?: number; recoveryDelaySeconds?: number },
): DeliveryServices {
  const db = documentClient(config.dynamodb);
  const queue = new SqsDeliveryQueue(new SQSClient(config.sqs ?? {}), config.queue);
  const subscriptionCacheMs = o.subscriptionCacheMs ?? DELIVERY.subscriptionCacheMs;
  const deps = {
    subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
    // A webhook's health lives on its subscription item (same table, same client).
    health: new DynamoHealthStore(db, config.tables.subscriptions),
    policy: config.health,
    deliveries: new DynamoDeliveryLog(db, config.tables.deliveries),
    queue,
    // Data keys are reused no longer than the subscriptions they open.
    secrets: secretSealer(config, subscriptionCacheMs, o.clock),
    sender: o.sender ?? new NodeHttpSender({ allowPrivate: config.allowPrivateEndpoints }),
    clock: o.clock ?? systemClock,
    schedule: config.schedule,
    logger: o.logger,
    // The service counts its own failed bookkeeping writes (BookkeepingWriteFailures), where it handles them.
    metrics: o.metrics ?? noMetrics,
    attemptTimeoutMs: o.attemptTimeoutMs ?? DELIVERY.attemptTimeoutMs,
    autoDisableAfterSeconds: config.autoDisableAfterSeconds,
    subscriptionCacheMs,
    onAttempt: o.onAttempt,
    recoveryDelaySeconds: o.recoveryDelaySeconds,
  };
  const slowQueue = queue.slowLane();
  if (!slowQueue) return { main: new DeliveryService(deps) };
  // The slow lane's service: its backoffs change visibility on its own queue; it forwards nothing.
  const slow = new DeliveryService({ ...deps, queue: slowQueue });
  return {
    main: new DeliveryService({ ...deps, slowLane: { send: (messages) => slowQueue.send(messages) } }),
    slow: { service: slow, queueArn: config.queue.slowQueueArn ?? "" },
  };
}

/** The main lane's service alone (tools and tests that feed it directly). */
export function createDeliveryService(config: RuntimeConfig, o: Parameters<typeof createDeliveryServices>[1]): DeliveryService {
  return createDeliveryServices(config, o).main;
}
