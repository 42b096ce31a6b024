import { SQSClient } from "@aws-sdk/client-sqs";
import { documentClient, DynamoDeliveryLog, DynamoEventStore, DynamoSubscriptionStore } from "#adapters/dynamodb.ts";
import { SqsDeliveryQueue } from "#adapters/sqs.ts";
import { systemClock } from "#core/ports.ts";
import type { Observability, RuntimeConfig } from "../shared/config.ts";
import { secretSealer } from "../shared/secrets.ts";
import { ManageApi } from "./routes.ts";

/**
 * The manage λ's composition root (the portal λ's too: it serves the same API to a session's tenant):
 * subscriptions, events and the delivery log in DynamoDB, the queues, and KMS to seal new secrets.
 */
export function createManageService(config: RuntimeConfig, o: Observability): ManageApi {
  const db = documentClient(config.dynamodb);
  return new ManageApi({
    subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
    events: new DynamoEventStore(db, config.tables.events),
    deliveries: new DynamoDeliveryLog(db, config.tables.deliveries),
    queue: new SqsDeliveryQueue(new SQSClient(config.sqs ?? {}), config.queue),
    secrets: secretSealer(config, 0),
    clock: o.clock ?? systemClock,
    logger: o.logger,
    endpointPolicy: { allowPrivate: config.allowPrivateEndpoints },
  });
}
