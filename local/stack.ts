import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { KMSClientConfig } from "@aws-sdk/client-kms";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AttemptReport } from "#core/delivery.ts";
import type { CoreMetrics, HttpSender } from "#core/ports.ts";
import { RetrySchedule } from "#core/retry.ts";
import { DELIVERY, HEALTH, QUEUE, SLOW_LANE } from "#core/settings.ts";
import { createDeliverHandler } from "../lambdas/deliver/app.ts";
import { createDeliveryServices } from "../lambdas/deliver/services.ts";
import { createIngestHandler } from "../lambdas/ingest/app.ts";
import { createIngestService } from "../lambdas/ingest/services.ts";
import { createManageHandler } from "../lambdas/manage/app.ts";
import { createManageService } from "../lambdas/manage/services.ts";
import { createPortalHandler } from "../lambdas/portal/app.ts";
import { createPortalService } from "../lambdas/portal/services.ts";
import { createParkingService } from "../lambdas/release/services.ts";
import type { RuntimeConfig } from "../lambdas/shared/config.ts";
import { buildPortalAssets } from "../portal/build.ts";
import { startApiServer } from "./api-server.ts";
import { consoleLogger, type Level } from "./console-logger.ts";
import { createResources, LOCAL_REGION, startEmulators, type Emulators } from "./emulators.ts";
import { LocalEventSource } from "./event-source.ts";
import { LocalSweeper } from "./sweeper.ts";
import { LOCAL_KMS_KEY_ARN, startLocalKms, type LocalKms } from "./kms.ts";
import { STATE_FILE, type EmulatorEndpoints, type StateFile } from "./state-file.ts";

export { STATE_FILE, type EmulatorEndpoints, type StateFile };
import { loadOpenApi } from "./openapi.ts";

export interface LocalStackOptions {
  /** API port; 0 picks a free one. */
  port?: number;
  /** Bearer token for the API; generated when absent. */
  token?: string;
  /** Where the state file (and, with `persist`, the emulators' data) lives. */
  stateDir?: string;
  /** Keep queues and tables on disk under stateDir across restarts. */
  persist?: boolean;
  retrySchedule?: RetrySchedule;
  allowPrivateEndpoints?: boolean;
  /** Run the deliver worker in this process (default) or not (a separate process runs it). */
  worker?: boolean;
  workerConcurrency?: number;
  /** Pollers of the slow lane's queue (default 2). */
  slowWorkerConcurrency?: number;
  receiveWaitSeconds?: number;
  logLevel?: Level;
  /** Where log lines go (default: stderr); tests capture them to prove no secret is ever logged. */
  logSink?: (line: string) => void;
  onAttempt?: (a: AttemptReport) => void;
  /** Receives the deliver worker's metrics (the λ's go to CloudWatch); tests count them. */
  metrics?: CoreMetrics;
  attemptTimeoutMs?: number;
  recoveryDelaySeconds?: number;
  autoDisableAfterSeconds?: number;
  sender?: HttpSender;
  /** Subscription cache of the ingest and deliver services (default: settings, 1 s). */
  subscriptionCacheMs?: number;
  /** The delivery queue's visibility timeout; only crash tests shorten it (default: settings). */
  visibilityTimeoutSeconds?: number;
  /** CSP frame-ancestors of the portal page (WEBHOOKS_PORTAL_FRAME_ANCESTORS); default none. */
  portalFrameAncestors?: string;
  /** Breaker threshold, probe interval, release rate (WEBHOOKS_BREAKER_THRESHOLD, …); default: settings. */
  health?: Partial<RuntimeConfig["health"]>;
  /** How often the release sweep runs beside the worker (default HEALTH.localSweepSeconds). */
  sweepIntervalMs?: number;
  /**
   * Use emulators that are already running (behind their guard, with its credentials) instead of
   * starting them; without `kms`, a KMS stand-in is started with the same credentials.
   */
  endpoints?: EmulatorEndpoints;
}

export interface LocalStack {
  apiUrl: string;
  token: string;
  config: RuntimeConfig;
  worker?: LocalEventSource;
  stop(): Promise<void>;
}

/** Runtime config pointing the real AWS SDK clients at the emulators. */
export function localConfig(
  endpoints: EmulatorEndpoints,
  resources: Pick<RuntimeConfig, "tables" | "queue">,
  o: { schedule: RetrySchedule; allowPrivateEndpoints: boolean; autoDisableAfterSeconds: number; health?: Partial<RuntimeConfig["health"]> },
): RuntimeConfig {
  const client = { region: LOCAL_REGION, credentials: endpoints.credentials };
  // Secrets are sealed exactly as on AWS, by the same KMS adapter, with the local KMS's key.
  const kms: KMSClientConfig | undefined = endpoints.kms ? { ...client, endpoint: endpoints.kms, maxAttempts: 2 } : undefined;
  return {
    ...resources,
    schedule: o.schedule,
    allowPrivateEndpoints: o.allowPrivateEndpoints,
    autoDisableAfterSeconds: o.autoDisableAfterSeconds,
    health: {
      breakerThreshold: o.health?.breakerThreshold ?? HEALTH.breakerThreshold,
      probeIntervalSeconds: o.health?.probeIntervalSeconds ?? HEALTH.probeIntervalSeconds,
      releaseRate: o.health?.releaseRate ?? HEALTH.releaseRate,
    },
    secretsKeyId: kms ? LOCAL_KMS_KEY_ARN : undefined,
    sqs: { ...client, endpoint: endpoints.sqs },
    dynamodb: { ...client, endpoint: endpoints.dynamodb },
    kms,
  };
}

/** Starts the deliver worker: the local event source feeding the deliver λ's app. */
export function startWorker(
  config: RuntimeConfig,
  o: Pick<
    LocalStackOptions,
    | "logLevel"
    | "logSink"
    | "onAttempt"
    | "metrics"
    | "attemptTimeoutMs"
    | "sender"
    | "workerConcurrency"
    | "slowWorkerConcurrency"
    | "receiveWaitSeconds"
    | "subscriptionCacheMs"
    | "recoveryDelaySeconds"
    | "sweepIntervalMs"
  >,
): LocalEventSource {
  const logger = consoleLogger(o.logLevel, o.logSink);
  const services = createDeliveryServices(config, {
    logger,
    metrics: o.metrics,
    onAttempt: o.onAttempt,
    attemptTimeoutMs: o.attemptTimeoutMs,
    sender: o.sender,
    subscriptionCacheMs: o.subscriptionCacheMs,
    recoveryDelaySeconds: o.recoveryDelaySeconds,
  });
  const handler = createDeliverHandler(services.main, services.slow);
  const sqs = new SQSClient(config.sqs!);
  const poll = {
    waitSeconds: o.receiveWaitSeconds ?? 2,
    region: LOCAL_REGION,
    onError: (err: unknown) => logger.error("deliver worker error", { error: err as Error }),
  };
  // One ReceiveMessage returns at most 10; the Lambda event source gathers QUEUE.batchSize from several.
  const source = new LocalEventSource(sqs, handler, {
    ...poll,
    queueUrl: config.queue.queueUrl,
    queueArn: config.queue.queueArn,
    batchSize: Math.min(QUEUE.batchSize, 10),
    concurrency: o.workerConcurrency ?? 4,
  });
  source.start();
  // The slow lane's mapping (settings SLOW_LANE): pollers of its own, so slow endpoints never hold the main ones.
  if (config.queue.slowQueueUrl) {
    const slow = new LocalEventSource(sqs, handler, {
      ...poll,
      queueUrl: config.queue.slowQueueUrl,
      queueArn: config.queue.slowQueueArn ?? "",
      batchSize: Math.min(SLOW_LANE.batchSize, 10),
      concurrency: o.slowWorkerConcurrency ?? 2,
    });
    slow.start();
    source.alongside(slow);
  }
  // The release λ's schedule, locally: the same sweep on a timer, stopped with the worker.
  const sweepMs = o.sweepIntervalMs ?? HEALTH.localSweepSeconds * 1000;
  const parking = createParkingService(config, { logger, metrics: o.metrics, sweepSeconds: sweepMs / 1000 });
  return source.alongside(new LocalSweeper(parking, sweepMs, logger).start());
}

export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = consoleLogger(o.logLevel, o.logSink);
  let emulators: Emulators | undefined;
  let localKms: LocalKms | undefined;
  const emulated: EmulatorEndpoints =
    o.endpoints ??
    (await (async () => {
      emulators = await startEmulators({ stateDir: o.persist && o.stateDir ? o.stateDir : undefined });
      return emulators.endpoints;
    })());
  if (!emulated.kms) {
    if (o.persist && o.stateDir) mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    localKms = await startLocalKms({ credentials: emulated.credentials, stateDir: o.persist ? o.stateDir : undefined });
  }
  const endpoints = { ...emulated, kms: emulated.kms ?? localKms!.endpoint };
  const client = { region: LOCAL_REGION, credentials: endpoints.credentials };
  const resources = await createResources(
    new SQSClient({ ...client, endpoint: endpoints.sqs }),
    new DynamoDBClient({ ...client, endpoint: endpoints.dynamodb }),
    { visibilityTimeoutSeconds: o.visibilityTimeoutSeconds },
  );
  const config = localConfig(
    endpoints,
    {
      tables: resources.tables,
      queue: {
        queueUrl: resources.queueUrl,
        queueArn: resources.queueArn,
        dlqUrl: resources.dlqUrl,
        dlqArn: resources.dlqArn,
        slowQueueUrl: resources.slowQueueUrl,
        slowQueueArn: resources.slowQueueArn,
        redrive: "copy",
      },
    },
    {
      schedule: o.retrySchedule ?? new RetrySchedule(),
      allowPrivateEndpoints: o.allowPrivateEndpoints ?? true,
      autoDisableAfterSeconds: o.autoDisableAfterSeconds ?? DELIVERY.autoDisableAfterSeconds,
      health: o.health,
    },
  );

  const token = o.token ?? randomBytes(24).toString("base64url");
  const ingest = createIngestService(config, { logger, recoveryDelaySeconds: o.recoveryDelaySeconds, subscriptionCacheMs: o.subscriptionCacheMs });
  const manage = createManageService(config, { logger });
  let apiUrl = "";
  const portal = createPortalService(config, { logger, portalUrl: () => `${apiUrl}/portal` });
  const portalHandler = createPortalHandler(portal, buildPortalAssets(), logger, { frameAncestors: o.portalFrameAncestors });
  let ready = false;
  const { server, url } = await startApiServer({
    port: o.port ?? 3000,
    token,
    handlers: { ingest: createIngestHandler(ingest, logger), manage: createManageHandler(manage, logger), portal: portalHandler },
    extras: {
      "/health": () => ({ statusCode: ready ? 200 : 503, body: { status: ready ? "ok" : "starting" } }),
      "/openapi.json": () => ({ statusCode: 200, body: loadOpenApi() }),
    },
  }).catch(async (err: unknown) => {
    await emulators?.stop(); // e.g. the port is taken: leave nothing open behind
    await localKms?.stop();
    throw err;
  });
  apiUrl = url;
  const worker = o.worker === false ? undefined : startWorker(config, o);

  if (o.stateDir) {
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const { sqs: _s, dynamodb: _d, kms: _k, schedule, ...rest } = config;
    const state: StateFile = { apiUrl: url, token, endpoints, config: { ...rest, schedule: schedule.toString() } };
    writeFileSync(join(o.stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }
  ready = true;

  return {
    apiUrl: url,
    token,
    config,
    worker,
    async stop() {
      ready = false;
      await worker?.stop();
      await closeServer(server);
      await emulators?.stop();
      await localKms?.stop();
    },
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
