import { SQSClient, type SQSClientConfig } from "@aws-sdk/client-sqs";
import type { DynamoDBClientConfig } from "@aws-sdk/client-dynamodb";
import { KMSClient, type KMSClientConfig } from "@aws-sdk/client-kms";
import { documentClient, DynamoDeliveryLog, DynamoEventStore, DynamoSubscriptionStore } from "../adapters/dynamodb.ts";
import { KmsSecretSealer } from "../adapters/kms.ts";
import { SqsDeliveryQueue, type SqsQueueConfig } from "../adapters/sqs.ts";
import { DeliveryService, type AttemptReport } from "./delivery.ts";
import { UndiciSender } from "../adapters/http-sender.ts";
import { IngestService } from "./ingest.ts";
import { ManageService } from "./manage.ts";
import { DynamoPortalSessionStore } from "../adapters/portal-sessions.ts";
import { PortalService } from "./portal.ts";
import { noMetrics, systemClock, type Clock, type CoreLogger, type CoreMetrics, type HttpSender } from "./ports.ts";
import { parseDuration, RetrySchedule } from "./retry.ts";
import { DELIVERY, ENV, HEALTH } from "./settings.ts";
import { ParkingService, type HealthPolicy } from "./parking.ts";
import { DynamoHealthStore } from "../adapters/health.ts";

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
      redrive: env.WEBHOOKS_REDRIVE_MODE === "copy" ? "copy" : "move-task",
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

/** The envelope of signing secrets: KMS with the configured key, data keys reused at most `dataKeyCacheMs`. */
function secretSealer(config: RuntimeConfig, dataKeyCacheMs: number, clock?: Clock): KmsSecretSealer {
  if (!config.secretsKeyId) throw new Error(`environment variable ${ENV.secretsKeyArn} is not set`);
  return new KmsSecretSealer(new KMSClient(config.kms ?? {}), config.secretsKeyId, { dataKeyCacheMs, clock });
}

export interface Observability {
  logger: CoreLogger;
  metrics?: CoreMetrics;
  clock?: Clock;
  /** How long a λ may reuse subscriptions it read; tests set 0 to see every change at once. */
  subscriptionCacheMs?: number;
}

function stores(config: RuntimeConfig) {
  const db = documentClient(config.dynamodb);
  return {
    subscriptions: new DynamoSubscriptionStore(db, config.tables.subscriptions),
    // A webhook's health lives on its subscription item (same table, same client).
    health: new DynamoHealthStore(db, config.tables.subscriptions),
    events: new DynamoEventStore(db, config.tables.events),
    deliveries: new DynamoDeliveryLog(db, config.tables.deliveries),
    queue: new SqsDeliveryQueue(new SQSClient(config.sqs ?? {}), config.queue),
  };
}

export function createIngestService(config: RuntimeConfig, o: Observability & { recoveryDelaySeconds?: number }): IngestService {
  const { subscriptions, events, queue } = stores(config);
  return new IngestService({
    subscriptions,
    events,
    queue,
    clock: o.clock ?? systemClock,
    logger: o.logger,
    metrics: o.metrics ?? noMetrics,
    subscriptionCacheMs: o.subscriptionCacheMs ?? DELIVERY.subscriptionCacheMs,
    recoveryDelaySeconds: o.recoveryDelaySeconds,
  });
}

export function createManageService(config: RuntimeConfig, o: Observability): ManageService {
  const { subscriptions, events, deliveries, queue } = stores(config);
  return new ManageService({
    subscriptions,
    events,
    deliveries,
    queue,
    secrets: secretSealer(config, 0),
    clock: o.clock ?? systemClock,
    logger: o.logger,
    endpointPolicy: { allowPrivate: config.allowPrivateEndpoints },
  });
}

/** The deliver λ's services: the main lane's, and the slow lane's (SLOW_LANE) where the stack has one. */
export interface DeliveryServices {
  main: DeliveryService;
  slow?: { service: DeliveryService; queueArn: string };
}

export function createDeliveryServices(
  config: RuntimeConfig,
  o: Observability & { sender?: HttpSender; onAttempt?: (a: AttemptReport) => void; attemptTimeoutMs?: number; recoveryDelaySeconds?: number },
): DeliveryServices {
  const metrics = o.metrics ?? noMetrics;
  // The service counts its own failed bookkeeping writes (BookkeepingWriteFailures), where it handles them.
  const { queue, subscriptions, deliveries, health } = stores(config);
  const subscriptionCacheMs = o.subscriptionCacheMs ?? DELIVERY.subscriptionCacheMs;
  const deps = {
    subscriptions,
    health,
    policy: config.health,
    deliveries,
    queue,
    // Data keys are reused no longer than the subscriptions they open.
    secrets: secretSealer(config, subscriptionCacheMs, o.clock),
    sender: o.sender ?? new UndiciSender({ allowPrivate: config.allowPrivateEndpoints }),
    clock: o.clock ?? systemClock,
    schedule: config.schedule,
    logger: o.logger,
    metrics,
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

/** The full health policy: the configured parts, the rest from HEALTH. */
export function healthPolicy(config: RuntimeConfig, sweepSeconds: number = HEALTH.sweepSeconds): HealthPolicy {
  return { ...config.health, maxProbeIntervalSeconds: HEALTH.maxProbeIntervalSeconds, sweepSeconds };
}

/** The release λ's service (and the local stack's timer): parked deliveries, probes, expiry. */
export function createParkingService(config: RuntimeConfig, o: Observability & { sweepSeconds?: number }): ParkingService {
  const { queue, deliveries, health } = stores(config);
  return new ParkingService({
    health,
    deliveries,
    queue,
    clock: o.clock ?? systemClock,
    schedule: config.schedule,
    policy: healthPolicy(config, o.sweepSeconds),
    logger: o.logger,
    metrics: o.metrics ?? noMetrics,
  });
}

/** The portal λ's service: sessions, and the management API for the session's tenant. */
export function createPortalService(config: RuntimeConfig, o: Observability & { portalUrl?: () => string }): PortalService {
  return new PortalService({
    sessions: new DynamoPortalSessionStore(documentClient(config.dynamodb), config.tables.portalSessions),
    manage: createManageService(config, o).routes(),
    clock: o.clock ?? systemClock,
    logger: o.logger,
    portalUrl: o.portalUrl ?? (() => config.portalUrl ?? "/portal"),
  });
}
