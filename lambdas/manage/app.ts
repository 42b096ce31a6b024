import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { handleApi } from "#core/api.ts";
import type { CoreLogger } from "#core/ports.ts";
import { fromApiGateway, toApiGateway } from "../shared/apigateway.ts";
import type { ManageApi } from "./routes.ts";

/** The management API: every `/tenants/{tenantId}/…`, `/event-types` and `/admin/…` route. */
export function createManageHandler(api: ManageApi, logger: CoreLogger) {
  const routes = api.routes();
  return async (event: APIGatewayProxyEventV2) => toApiGateway(await handleApi(routes, fromApiGateway(event), logger));
}
