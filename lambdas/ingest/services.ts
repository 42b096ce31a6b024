import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoEventStore, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { IngestService } from "#core/ingest.ts";
import { noMetrics, systemClock } from "#core/ports.ts";
import { DELIVERY } from "#core/settings.ts";
import type { Observability, RuntimeConfig } from "../shared/config.ts";

/** The ingest λ's composition root: subscriptions and events in DynamoDB, the delivery queue. No KMS, no HTTP. */
export function createIngestService(config: RuntimeConfig, o: Observability & { recoveryDelaySeconds?: number }): IngestService {
  const db = documentClient(config.dynamodb);
  return new IngestService({
    subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
    events: new DynamoEventStore(db, config.tables.events),
    queue: new SqsDeliveryQueue(new SQSClient(config.sqs ?? {}), config.queue),
    clock: o.clock ?? systemClock,
    logger: o.logger,
    metrics: o.metrics ?? noMetrics,
    subscriptionCacheMs: o.subscriptionCacheMs ?? DELIVERY.subscriptionCacheMs,
    recoveryDelaySeconds: o.recoveryDelaySeconds,
  });
}
