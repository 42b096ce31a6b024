import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoDeliveryLog } from "#adapters/dynamodb.ts";
import { DynamoHealthStore } from "#adapters/health.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { ParkingService } from "#core/parking.ts";
import { noMetrics, systemClock } from "#core/ports.ts";
import { healthPolicy, type Observability, type RuntimeConfig } from "../shared/config.ts";

/**
 * The release λ's composition root (and the local stack's timer): parked deliveries, probes, expiry.
 * Endpoint health and the delivery log in DynamoDB, the queues: it queues what it releases (probes
 * included) for the deliver λ, so it calls no endpoint and opens no secret.
 */
export function createParkingService(config: RuntimeConfig, o: Observability & { sweepSeconds?: number }): ParkingService {
  const db = documentClient(config.dynamodb);
  return new ParkingService({
    // A webhook's health lives on its subscription item (same table, same client).
    health: new DynamoHealthStore(db, config.tables.subscriptions),
    deliveries: new DynamoDeliveryLog(db, config.tables.deliveries),
    queue: new SqsDeliveryQueue(new SQSClient(config.sqs ?? {}), config.queue),
    clock: o.clock ?? systemClock,
    schedule: config.schedule,
    policy: healthPolicy(config, o.sweepSeconds),
    logger: o.logger,
    metrics: o.metrics ?? noMetrics,
  });
}
