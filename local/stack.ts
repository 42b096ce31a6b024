import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { AttemptReport } from "#core/delivery.ts";
import type { HttpSender } from "#core/ports.ts";
import { RetrySchedule } from "#core/retry.ts";
import { DELIVERY, QUEUE } from "#core/settings.ts";
import { createDeliveryService, createIngestService, createManageService, type RuntimeConfig } from "#core/wiring.ts";
import { createDeliverHandler } from "../lambdas/deliver/app.ts";
import { createIngestHandler } from "../lambdas/ingest/app.ts";
import { createManageHandler } from "../lambdas/manage/app.ts";
import { startApiServer } from "./api-server.ts";
import { consoleLogger, type Level } from "./console-logger.ts";
import { createResources, LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators, type Emulators } from "./emulators.ts";
import { LocalEventSource } from "./event-source.ts";
import { STATE_FILE, type StateFile } from "./state-file.ts";

export { STATE_FILE, type StateFile };
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
  receiveWaitSeconds?: number;
  logLevel?: Level;
  /** Where log lines go (default: stderr); tests capture them to prove no secret is ever logged. */
  logSink?: (line: string) => void;
  onAttempt?: (a: AttemptReport) => void;
  attemptTimeoutMs?: number;
  recoveryDelaySeconds?: number;
  autoDisableAfterSeconds?: number;
  sender?: HttpSender;
  /** Subscription cache of the ingest and deliver services (default: settings, 1 s). */
  subscriptionCacheMs?: number;
  /** The delivery queue's visibility timeout; only crash tests shorten it (default: settings). */
  visibilityTimeoutSeconds?: number;
  /** Use emulators that are already running instead of starting them. */
  endpoints?: { sqs: string; dynamodb: string };
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
  endpoints: { sqs: string; dynamodb: string },
  resources: Pick<RuntimeConfig, "tables" | "queue">,
  o: { schedule: RetrySchedule; allowPrivateEndpoints: boolean; autoDisableAfterSeconds: number },
): RuntimeConfig {
  const client = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  return {
    ...resources,
    schedule: o.schedule,
    allowPrivateEndpoints: o.allowPrivateEndpoints,
    autoDisableAfterSeconds: o.autoDisableAfterSeconds,
    sqs: { ...client, endpoint: endpoints.sqs },
    dynamodb: { ...client, endpoint: endpoints.dynamodb },
  };
}

/** Starts the deliver worker: the local event source feeding the deliver λ's app. */
export function startWorker(
  config: RuntimeConfig,
  o: Pick<LocalStackOptions, "logLevel" | "logSink" | "onAttempt" | "attemptTimeoutMs" | "sender" | "workerConcurrency" | "receiveWaitSeconds" | "subscriptionCacheMs" | "recoveryDelaySeconds">,
): LocalEventSource {
  const logger = consoleLogger(o.logLevel, o.logSink);
  const service = createDeliveryService(config, {
    logger,
    onAttempt: o.onAttempt,
    attemptTimeoutMs: o.attemptTimeoutMs,
    sender: o.sender,
    subscriptionCacheMs: o.subscriptionCacheMs,
    recoveryDelaySeconds: o.recoveryDelaySeconds,
  });
  const source = new LocalEventSource(new SQSClient(config.sqs!), createDeliverHandler(service), {
    queueUrl: config.queue.queueUrl,
    queueArn: config.queue.queueArn,
    // One ReceiveMessage returns at most 10; the Lambda event source gathers QUEUE.batchSize from several.
    batchSize: Math.min(QUEUE.batchSize, 10),
    concurrency: o.workerConcurrency ?? 4,
    waitSeconds: o.receiveWaitSeconds ?? 2,
    region: LOCAL_REGION,
    onError: (err) => logger.error("deliver worker error", { error: err as Error }),
  });
  source.start();
  return source;
}

export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = consoleLogger(o.logLevel, o.logSink);
  let emulators: Emulators | undefined;
  const endpoints =
    o.endpoints ??
    (await (async () => {
      emulators = await startEmulators(o.persist && o.stateDir ? o.stateDir : undefined);
      return { sqs: emulators.sqsEndpoint, dynamodb: emulators.dynamodbEndpoint };
    })());
  const client = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const resources = await createResources(
    new SQSClient({ ...client, endpoint: endpoints.sqs }),
    new DynamoDBClient({ ...client, endpoint: endpoints.dynamodb }),
    { visibilityTimeoutSeconds: o.visibilityTimeoutSeconds },
  );
  const config = localConfig(
    endpoints,
    {
      tables: resources.tables,
      queue: { queueUrl: resources.queueUrl, queueArn: resources.queueArn, dlqUrl: resources.dlqUrl, dlqArn: resources.dlqArn, redrive: "copy" },
    },
    {
      schedule: o.retrySchedule ?? new RetrySchedule(),
      allowPrivateEndpoints: o.allowPrivateEndpoints ?? true,
      autoDisableAfterSeconds: o.autoDisableAfterSeconds ?? DELIVERY.autoDisableAfterSeconds,
    },
  );

  const token = o.token ?? randomBytes(24).toString("base64url");
  const ingest = createIngestService(config, { logger, recoveryDelaySeconds: o.recoveryDelaySeconds, subscriptionCacheMs: o.subscriptionCacheMs });
  const manage = createManageService(config, { logger });
  let ready = false;
  const { server, url } = await startApiServer({
    port: o.port ?? 3000,
    token,
    handlers: { ingest: createIngestHandler(ingest, logger), manage: createManageHandler(manage, logger) },
    extras: { "/health": () => ({ statusCode: ready ? 200 : 503, body: { status: ready ? "ok" : "starting" } }), "/openapi.json": () => ({ statusCode: 200, body: loadOpenApi() }) },
  });
  const worker = o.worker === false ? undefined : startWorker(config, o);

  if (o.stateDir) {
    mkdirSync(o.stateDir, { recursive: true });
    const { sqs: _s, dynamodb: _d, schedule, ...rest } = config;
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
    },
  };
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
