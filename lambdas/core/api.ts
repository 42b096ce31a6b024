import { ApiError } from "./errors.ts";
import type { CoreLogger } from "./ports.ts";
import { INGEST } from "./settings.ts";

/** An API request, free of any API Gateway type: the λ adapters and the local server both build it. */
export interface ApiRequest {
  readonly routeKey: string;
  readonly pathParameters: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  /** The request's `content-type` header, if any. */
  readonly contentType?: string;
  /** Set when the body's bytes are not UTF-8 (the body is then absent): refused, never repaired. */
  readonly bodyNotUtf8?: true;
  /** Lower-case header names; only the portal API reads one (`authorization`). */
  readonly headers?: Readonly<Record<string, string | undefined>>;
}

export interface ApiResponse {
  readonly statusCode: number;
  readonly body?: unknown;
}

export type RouteHandler = (req: ApiRequest) => Promise<ApiResponse>;

/** Dispatches by route key and turns every refusal into the one error shape. */
export async function handleApi(routes: Readonly<Record<string, RouteHandler>>, req: ApiRequest, logger: CoreLogger): Promise<ApiResponse> {
  try {
    const route = routes[req.routeKey];
    if (!route) throw new ApiError(404, "route_not_found", `no route ${req.routeKey}`);
    if (req.body !== undefined && Buffer.byteLength(req.body) > INGEST.maxRequestBytes) {
      throw new ApiError(413, "payload_too_large", `request body is larger than ${INGEST.maxRequestBytes} bytes`, [
        { field: "(body)", message: `must be at most ${INGEST.maxRequestBytes} bytes` },
      ]);
    }
    const hasBody = (req.body !== undefined && req.body !== "") || req.bodyNotUtf8;
    if (hasBody && !isJsonMediaType(req.contentType)) {
      throw new ApiError(
        415,
        "unsupported_media_type",
        `request bodies must be JSON, sent as 'content-type: application/json' (got ${JSON.stringify(req.contentType ?? "none")})`,
        [{ field: "content-type", message: "must be application/json (charset, if given, utf-8)" }],
      );
    }
    if (req.bodyNotUtf8) {
      throw new ApiError(400, "invalid_encoding", "request body is not valid UTF-8", [{ field: "(body)", message: "must be JSON encoded as UTF-8" }]);
    }
    return await route(req);
  } catch (err) {
    if (err instanceof ApiError) {
      logger.info("request refused", { routeKey: req.routeKey, status: err.status, code: err.code });
      return { statusCode: err.status, body: err.toBody() };
    }
    logger.error("request failed", { routeKey: req.routeKey, error: err as Error });
    return { statusCode: 500, body: { error: { code: "internal_error", message: "internal error; the request may be retried", details: [] } } };
  }
}

/** `application/json`, with no parameter but an optional `charset=utf-8` (RFC 8259: JSON is UTF-8). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const [type, ...params] = contentType.split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json") return false;
  return params.every((p) => p === "" || /^charset="?utf-8"?$/.test(p));
}
