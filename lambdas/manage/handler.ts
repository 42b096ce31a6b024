import middy from "@middy/core";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { configFromEnv } from "../shared/config.ts";
import { observability } from "../shared/observability.ts";
import { createManageHandler } from "./app.ts";
import { createManageService } from "./services.ts";

/** The λ entry: its services (./services.ts) from the environment the stack sets, Powertools middleware, then the app. */
const { logger, metrics } = observability("webhooks-manage");

export const handler = middy(createManageHandler(createManageService(configFromEnv(), { logger }), logger))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
