/**
 * Every API route, as API Gateway v2 route keys. The CDK stack creates exactly these routes and the
 * local HTTP server matches exactly these, so the two cannot disagree.
 */
export type FunctionName = "ingest" | "manage" | "portal";

export interface RouteDefinition<K extends string = string> {
  readonly routeKey: K;
  readonly fn: FunctionName;
  /**
   * Absent: IAM (SigV4) on AWS, the API token locally. `portal-session`: the λ checks the portal
   * session token; `public`: the portal's page and assets. Both are listed in docs/security.md.
   */
  readonly auth?: "portal-session" | "public";
}

/** The tenant portal's API: these management routes again under this prefix, authorised by a portal session. */
export const PORTAL_API_PREFIX = "/portal/api";

/** Every route but the portal's mirrors of management routes (below), written once: the keys' types come from here. */
const OWN_ROUTES = [
  { routeKey: "POST /events", fn: "ingest" },
  { routeKey: "GET /event-types", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/webhooks", fn: "manage" },
  { routeKey: "GET /tenants/{tenantId}/webhooks", fn: "manage" },
  { routeKey: "GET /tenants/{tenantId}/webhooks/{webhookId}", fn: "manage" },
  { routeKey: "PATCH /tenants/{tenantId}/webhooks/{webhookId}", fn: "manage" },
  { routeKey: "DELETE /tenants/{tenantId}/webhooks/{webhookId}", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/webhooks/{webhookId}/rotate-secret", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/webhooks/{webhookId}/test", fn: "manage" },
  { routeKey: "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries", fn: "manage" },
  { routeKey: "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/webhooks/{webhookId}/replay", fn: "manage" },
  { routeKey: "GET /admin/dlq", fn: "manage" },
  { routeKey: "GET /admin/queues", fn: "manage" },
  { routeKey: "POST /admin/redrive", fn: "manage" },
  { routeKey: "GET /tenants/{tenantId}/events/{eventId}", fn: "manage" },
  { routeKey: "POST /tenants/{tenantId}/portal-sessions", fn: "portal" },
  { routeKey: "DELETE /tenants/{tenantId}/portal-sessions", fn: "portal" },
  { routeKey: "GET /portal", fn: "portal", auth: "public" },
  { routeKey: "GET /portal/assets/{asset}", fn: "portal", auth: "public" },
  { routeKey: "GET /portal/api/session", fn: "portal", auth: "portal-session" },
] as const satisfies readonly RouteDefinition[];

type OwnRoute = (typeof OWN_ROUTES)[number];
/** The manage λ's routes: its route table must have exactly these keys (lambdas/manage/routes.ts). */
export type ManageRouteKey = Extract<OwnRoute, { fn: "manage" }>["routeKey"];

export const PORTAL_MIRRORED_ROUTES = [
  "GET /event-types",
  "POST /tenants/{tenantId}/webhooks",
  "GET /tenants/{tenantId}/webhooks",
  "GET /tenants/{tenantId}/webhooks/{webhookId}",
  "PATCH /tenants/{tenantId}/webhooks/{webhookId}",
  "DELETE /tenants/{tenantId}/webhooks/{webhookId}",
  "POST /tenants/{tenantId}/webhooks/{webhookId}/rotate-secret",
  "POST /tenants/{tenantId}/webhooks/{webhookId}/test",
  "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries",
  "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}",
  "POST /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
  "POST /tenants/{tenantId}/webhooks/{webhookId}/replay",
  "GET /tenants/{tenantId}/events/{eventId}",
] as const satisfies readonly ManageRouteKey[];

export type PortalMirroredRouteKey = (typeof PORTAL_MIRRORED_ROUTES)[number];

/** `GET /x` → `GET /portal/api/x`. */
export type PortalRouteKey<K extends string> = K extends `${infer Method} /${infer Path}` ? `${Method} ${typeof PORTAL_API_PREFIX}/${Path}` : never;

export const portalRouteKey = <K extends string>(routeKey: K): PortalRouteKey<K> => routeKey.replace(" /", ` ${PORTAL_API_PREFIX}/`) as PortalRouteKey<K>;

/** Every route key the API serves. */
export type RouteKey = OwnRoute["routeKey"] | PortalRouteKey<PortalMirroredRouteKey>;

export const ROUTES: readonly RouteDefinition[] = [
  ...OWN_ROUTES,
  ...PORTAL_MIRRORED_ROUTES.map((k): RouteDefinition<RouteKey> => ({ routeKey: portalRouteKey(k), fn: "portal", auth: "portal-session" })),
];

/** `GET /health` is answered by the local server only; on AWS, API Gateway's own availability is the health. */
