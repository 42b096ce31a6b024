import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { ApiRequest, ApiResponse } from "#core/api.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * API Gateway v2 event → the core's request. A body API Gateway passed base64-encoded (bytes it did
 * not take for text) is decoded strictly: bytes that are not UTF-8 are refused by the core, never
 * replaced by U+FFFD. The local API server passes such bodies the same way.
 */
export function fromApiGateway(event: APIGatewayProxyEventV2): ApiRequest {
  const base = {
    routeKey: event.routeKey,
    pathParameters: event.pathParameters ?? {},
    query: event.queryStringParameters ?? {},
    contentType: event.headers?.["content-type"],
    headers: event.headers ?? {},
  };
  if (event.body === undefined || !event.isBase64Encoded) return { ...base, body: event.body };
  try {
    return { ...base, body: utf8.decode(Buffer.from(event.body, "base64")) };
  } catch {
    return { ...base, bodyNotUtf8: true };
  }
}

/** The core's response → API Gateway v2 result. */
export function toApiGateway(res: ApiResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: res.statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    // A trailing newline, so that `curl` output does not run into the shell prompt.
    body: res.body === undefined ? "" : `${JSON.stringify(res.body)}\n`,
  };
}
