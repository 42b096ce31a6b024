import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { handleApi } from "#core/api.ts";
import type { IngestService } from "#core/ingest.ts";
import type { CoreLogger } from "#core/ports.ts";
import { parseJsonBody } from "#core/validation.ts";
import { fromApiGateway, toApiGateway } from "../shared/apigateway.ts";

/** `POST /events`: parse → core → shape the answer. */
export function createIngestHandler(service: IngestService, logger: CoreLogger) {
  const routes = {
    "POST /events": async (req: { body?: string }) => ({ statusCode: 202, body: await service.publish(parseJsonBody(req.body)) }),
  };
  return async (event: APIGatewayProxyEventV2) => toApiGateway(await handleApi(routes, fromApiGateway(event), logger));
}
