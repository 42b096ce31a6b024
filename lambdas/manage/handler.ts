import middy from "@middy/core";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { configFromEnv, createManageService } from "#core/wiring.ts";
import { observability } from "../shared/observability.ts";
import { createManageHandler } from "./app.ts";

/** The λ entry: wiring from the environment the stack sets, Powertools middleware, then the app. */
const { logger, metrics } = observability("webhooks-manage");

export const handler = middy(createManageHandler(createManageService(configFromEnv(), { logger }), logger))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
