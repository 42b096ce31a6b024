import middy from "@middy/core";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { METRICS } from "#core/settings.ts";
import { configFromEnv } from "../shared/config.ts";
import { observability } from "../shared/observability.ts";
import { createDeliverHandler } from "./app.ts";
import { createDeliveryServices } from "./services.ts";

/** The λ entry: its services (./services.ts) from the environment the stack sets, Powertools middleware, then the app. */
const { logger, metrics, coreMetrics } = observability(METRICS.deliverService);

const services = createDeliveryServices(configFromEnv(), { logger, metrics: coreMetrics });

export const handler = middy(createDeliverHandler(services.main, services.slow)).use(injectLambdaContext(logger)).use(logMetrics(metrics));
