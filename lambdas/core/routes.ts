/**
 * Every API route, as API Gateway v2 route keys. The CDK stack creates exactly these routes and the
 * local HTTP server matches exactly these, so the two cannot disagree.
 */
export type FunctionName = "ingest" | "manage";

export interface RouteDefinition {
  readonly routeKey: string;
  readonly fn: FunctionName;
}

export const ROUTES: readonly RouteDefinition[] = [
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
  { routeKey: "POST /admin/redrive", fn: "manage" },
];

/** `GET /health` is answered by the local server only; on AWS, API Gateway's own availability is the health. */
