import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { ApiRequest, ApiResponse } from "#core/api.ts";

/** API Gateway v2 event → the core's request. */
export function fromApiGateway(event: APIGatewayProxyEventV2): ApiRequest {
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
  return { routeKey: event.routeKey, pathParameters: event.pathParameters ?? {}, query: event.queryStringParameters ?? {}, body, headers: event.headers ?? {} };
}

/** The core's response → API Gateway v2 result. */
export function toApiGateway(res: ApiResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: res.statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: res.body === undefined ? "" : JSON.stringify(res.body),
  };
}
