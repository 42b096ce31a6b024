import { timingSafeEqual } from "node:crypto";
import { isUtf8 } from "node:buffer";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { ROUTES, type FunctionName } from "#core/routes.ts";
import { INGEST } from "#core/settings.ts";
import { readBody } from "./read-body.ts";

export type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

interface CompiledRoute {
  method: string;
  pattern: RegExp;
  params: string[];
  routeKey: string;
  fn: FunctionName;
  auth?: "portal-session" | "public";
}

/** Route templates (`/tenants/{tenantId}/…`) as regular expressions, from the one route table. */
function compile(): CompiledRoute[] {
  return ROUTES.map(({ routeKey, fn, auth }) => {
    const [method, path] = routeKey.split(" ");
    const params: string[] = [];
    const source = path
      .split("/")
      .map((segment) => {
        const param = /^\{(\w+)\}$/.exec(segment);
        if (!param) return segment.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
        params.push(param[1]);
        return "([^/]+)";
      })
      .join("/");
    return { method, pattern: new RegExp(`^${source}$`), params, routeKey, fn, auth };
  });
}

export interface ApiServerOptions {
  port: number;
  token: string;
  handlers: Record<FunctionName, HttpHandler>;
  /** Extra unauthenticated GET routes (health, OpenAPI). */
  extras?: Record<string, () => { statusCode: number; body: unknown }>;
}

const json = (res: ServerResponse, statusCode: number, body: unknown) => {
  res.writeHead(statusCode, { "content-type": "application/json" });
  res.end(`${JSON.stringify(body)}\n`);
};

const refusal = (code: string, message: string, details: { field: string; message: string }[] = []) => ({ error: { code, message, details } });

/** A malformed percent-encoding is passed on as it is, for the handler to refuse like any other bad value. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * The local stand-in for API Gateway: matches the stack's routes, checks the bearer token in place
 * of IAM, and turns each request into an API Gateway v2 event for the very handlers Lambda runs.
 */
export async function startApiServer(options: ApiServerOptions): Promise<{ server: Server; url: string }> {
  const routes = compile();
  const expected = Buffer.from(options.token);
  const server = createServer(async (req, res) => {
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://local");
      } catch {
        return json(
          res,
          400,
          refusal("invalid_request_target", `the request target ${JSON.stringify(req.url)} is not a valid path or URL`, [
            { field: "(request-target)", message: "must be a path such as /events, or an absolute URL with a valid host and port" },
          ]),
        );
      }
      // HEAD answers like GET, without the body (Node's server leaves it out).
      const extra = req.method === "GET" || req.method === "HEAD" ? options.extras?.[url.pathname] : undefined;
      if (extra) {
        const r = extra();
        return json(res, r.statusCode, r.body);
      }
      // The auth scheme is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
      const given = Buffer.from(/^bearer +(\S+) *$/i.exec(req.headers.authorization ?? "")?.[1] ?? "");
      // The portal's page and API are not IAM routes on AWS either: the portal λ checks its session token.
      const open = routes.find((r) => r.method === req.method && r.pattern.test(url.pathname))?.auth !== undefined;
      if (!open && (given.length !== expected.length || !timingSafeEqual(given, expected))) {
        return json(res, 401, refusal("unauthorized", "send the API token as 'Authorization: Bearer <token>' (printed by npm start)"));
      }
      const candidates = routes.filter((r) => r.pattern.test(url.pathname));
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        return candidates.length
          ? json(
              res,
              405,
              refusal("method_not_allowed", `${req.method} is not allowed on ${url.pathname}; allowed: ${candidates.map((c) => c.method).join(", ")}`),
            )
          : json(res, 404, refusal("route_not_found", `no route ${req.method} ${url.pathname}`));
      }
      const body = await readBody(req, INGEST.maxRequestBytes);
      if (body === undefined) {
        return json(
          res,
          413,
          refusal("payload_too_large", `request body is larger than ${INGEST.maxRequestBytes} bytes`, [
            { field: "(body)", message: `must be at most ${INGEST.maxRequestBytes} bytes` },
          ]),
        );
      }
      const match = route.pattern.exec(url.pathname)!;
      const pathParameters = Object.fromEntries(route.params.map((p, i) => [p, decodePathSegment(match[i + 1])]));
      const result = await options.handlers[route.fn](toEvent(req, url, route.routeKey, pathParameters, body));
      res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
      res.end(result.body ?? "");
    } catch (err) {
      json(res, 500, refusal("internal_error", (err as Error).message));
    }
  });
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(options.port, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

/** Like API Gateway: a UTF-8 body as text, any other bytes base64-encoded for the handler to judge. */
function eventBody(body: Buffer): { body?: string; isBase64Encoded: boolean } {
  if (body.length === 0) return { isBase64Encoded: false };
  return isUtf8(body) ? { body: body.toString("utf8"), isBase64Encoded: false } : { body: body.toString("base64"), isBase64Encoded: true };
}

function toEvent(req: IncomingMessage, url: URL, routeKey: string, pathParameters: Record<string, string>, body: Buffer): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = Date.now();
  return {
    version: "2.0",
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters,
    ...eventBody(body),
    requestContext: {
      accountId: "000000000000",
      apiId: "local",
      domainName: url.host,
      domainPrefix: "local",
      http: {
        method: req.method ?? "GET",
        path: url.pathname,
        protocol: "HTTP/1.1",
        sourceIp: req.socket.remoteAddress ?? "",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId: `local-${now}`,
      routeKey,
      stage: "$default",
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
  };
}
