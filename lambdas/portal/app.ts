import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { handleApi } from "#core/api.ts";
import type { PortalService } from "#core/portal.ts";
import type { CoreLogger } from "#core/ports.ts";
import { fromApiGateway, toApiGateway } from "../shared/apigateway.ts";

/** The portal's built files by name (`index.html`, `app.js`, `app.css`), built by portal/build.ts. */
export type PortalAssets = Readonly<Record<string, string>>;

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/**
 * `frame-ancestors` from `WEBHOOKS_PORTAL_FRAME_ANCESTORS`: space-separated origins (or `'self'`);
 * absent or empty: `'none'`. Anything else is refused at start, so no header can be injected.
 */
export function frameAncestors(value: string | undefined): string {
  const sources = (value ?? "").split(/\s+/).filter(Boolean);
  if (sources.length === 0) return "'none'";
  for (const s of sources) {
    if (s !== "'self'" && s !== "'none'" && !/^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(s)) {
      throw new Error(`WEBHOOKS_PORTAL_FRAME_ANCESTORS: "${s}" is not an origin like https://app.example.com, nor 'self'`);
    }
  }
  return sources.join(" ");
}

/** Headers of every portal page and asset: a CSP with no inline script, no framing unless configured. */
export function securityHeaders(ancestors: string): Record<string, string> {
  return {
    "content-security-policy": [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${ancestors}`,
    ].join("; "),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    ...(ancestors === "'none'" ? { "x-frame-options": "DENY" } : {}),
  };
}

/**
 * The portal λ: the page and its assets (public), the portal-session routes (IAM) and the portal API
 * (authorised by the session token, checked in PortalService).
 */
export function createPortalHandler(service: PortalService, assets: PortalAssets, logger: CoreLogger, o: { frameAncestors?: string } = {}) {
  const routes = service.routes();
  const headers = securityHeaders(frameAncestors(o.frameAncestors));
  const file = (name: string, cache: string): APIGatewayProxyStructuredResultV2 => ({
    statusCode: 200,
    headers: { "content-type": CONTENT_TYPES[name.split(".").pop()!], "cache-control": cache, ...headers },
    body: assets[name],
  });
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => {
    if (event.routeKey === "GET /portal") return file("index.html", "no-store");
    if (event.routeKey === "GET /portal/assets/{asset}") {
      const name = event.pathParameters?.asset ?? "";
      if (name === "index.html" || !Object.hasOwn(assets, name)) {
        return {
          statusCode: 404,
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ error: { code: "not_found", message: "asset not found", details: [] } }),
        };
      }
      return file(name, "no-cache");
    }
    return toApiGateway(await handleApi(routes, fromApiGateway(event), logger));
  };
}
