import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import middy from "@middy/core";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import { configFromEnv } from "../shared/config.ts";
import { observability } from "../shared/observability.ts";
import { createPortalHandler } from "./app.ts";
import { createPortalService } from "./services.ts";

/** The λ entry. The portal's files were built at synth and copied next to this bundle (`portal-assets/`). */
const { logger, metrics } = observability("webhooks-portal");
const dir = join(process.env.LAMBDA_TASK_ROOT ?? ".", "portal-assets");
const assets = Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), "utf8")]));
const config = configFromEnv();

export const handler = middy(createPortalHandler(createPortalService(config, { logger }), assets, logger, { frameAncestors: config.portalFrameAncestors }))
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
