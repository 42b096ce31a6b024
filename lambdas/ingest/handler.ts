import middy from "@middy/core";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { configFromEnv } from "../shared/config.ts";
import { observability } from "../shared/observability.ts";
import { createIngestHandler } from "./app.ts";
import { createIngestService } from "./services.ts";

/** The λ entry: its services (./services.ts) from the environment the stack sets, Powertools middleware, then the app. */
const { logger, metrics, coreMetrics } = observability("webhooks-ingest");

export const handler = middy(createIngestHandler(createIngestService(configFromEnv(), { logger, metrics: coreMetrics }), logger))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
