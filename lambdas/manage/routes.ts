import type { ApiRequest, RouteHandler } from "#core/api.ts";
import { describeCatalogue } from "#core/catalogue.ts";
import { DeliveryLogService, type DeliveryLogDeps } from "#core/deliveries.ts";
import { publicSubscription } from "#core/model.ts";
import type { ManageRouteKey } from "#core/routes.ts";
import { parseJsonBody, parseOrThrow, tenantIdSchema } from "#core/validation.ts";
import { WebhookService, type WebhookDeps } from "#core/webhooks.ts";
import { presentDelivery, presentEventDeliveries, summariseDelivery } from "./presenters.ts";
import { createSchema, deliveryLogSchemas, listSchema, patchSchema, rotateSchema, testSchema } from "./schemas.ts";

export type ManageDeps = WebhookDeps & DeliveryLogDeps;

/** The manage λ's route table: one handler per management route key, no more, no fewer (the compiler checks it). */
export type ManageRoutes = Record<ManageRouteKey, RouteHandler>;

/**
 * The management API (docs/openapi.yaml) over the core's services: each handler reads the path,
 * parses the body or query (schemas.ts), calls a service and presents its answer (presenters.ts).
 * A webhook in the path is read before the body is parsed, so an unknown one is a 404 whatever the
 * body holds.
 */
export class ManageApi {
  readonly webhooks: WebhookService;
  readonly deliveries: DeliveryLogService;

  constructor(deps: ManageDeps) {
    this.webhooks = new WebhookService(deps);
    this.deliveries = new DeliveryLogService(deps);
  }

  routes(): ManageRoutes {
    return manageRoutes(this.webhooks, this.deliveries);
  }
}

export function manageRoutes(webhooks: WebhookService, deliveries: DeliveryLogService): ManageRoutes {
  const schemas = deliveryLogSchemas((cursor) => deliveries.isCursor(cursor));
  const body = (req: ApiRequest) => parseJsonBody(req.body) ?? {};
  /** The path's webhook, or 404. */
  const webhook = (req: ApiRequest) => webhooks.get(tenant(req), req.pathParameters.webhookId ?? "");
  const deliveryId = (req: ApiRequest) => req.pathParameters.deliveryId ?? "";
  return {
    "GET /event-types": async () => ({ statusCode: 200, body: { eventTypes: describeCatalogue() } }),
    "POST /tenants/{tenantId}/webhooks": async (req) => {
      const tenantId = tenant(req);
      const { subscription, secret } = await webhooks.create(tenantId, parseOrThrow(createSchema, body(req)));
      return { statusCode: 201, body: { ...publicSubscription(subscription), secret } };
    },
    "GET /tenants/{tenantId}/webhooks": async (req) => {
      const tenantId = tenant(req);
      const page = await webhooks.list(tenantId, parseOrThrow(listSchema, req.query));
      return { statusCode: 200, body: { items: page.items.map(publicSubscription), cursor: page.cursor } };
    },
    "GET /tenants/{tenantId}/webhooks/{webhookId}": async (req) => ({ statusCode: 200, body: publicSubscription(await webhook(req)) }),
    "PATCH /tenants/{tenantId}/webhooks/{webhookId}": async (req) => {
      const sub = await webhook(req);
      return { statusCode: 200, body: publicSubscription(await webhooks.update(sub, parseOrThrow(patchSchema, body(req)))) };
    },
    "DELETE /tenants/{tenantId}/webhooks/{webhookId}": async (req) => {
      await webhooks.delete(tenant(req), req.pathParameters.webhookId ?? "");
      return { statusCode: 204 };
    },
    "POST /tenants/{tenantId}/webhooks/{webhookId}/rotate-secret": async (req) => {
      const sub = await webhook(req);
      const { subscription, secret, previousSecretsExpireAt } = await webhooks.rotateSecret(sub, parseOrThrow(rotateSchema, body(req)));
      return { statusCode: 200, body: { ...publicSubscription(subscription), secret, previousSecretsExpireAt } };
    },
    "POST /tenants/{tenantId}/webhooks/{webhookId}/test": async (req) => {
      const sub = await webhook(req);
      return { statusCode: 202, body: await webhooks.sendTest(sub, parseOrThrow(testSchema, body(req))) };
    },
    "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries": async (req) => {
      const sub = await webhook(req);
      const page = await deliveries.list(sub, parseOrThrow(schemas.deliveriesQuery, req.query));
      return { statusCode: 200, body: { items: page.items.map(summariseDelivery), cursor: page.cursor } };
    },
    "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}": async (req) => {
      const sub = await webhook(req);
      return { statusCode: 200, body: presentDelivery(await deliveries.get(sub, deliveryId(req))) };
    },
    "POST /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry": async (req) => {
      const sub = await webhook(req);
      return { statusCode: 202, body: await deliveries.retry(sub, deliveryId(req)) };
    },
    "POST /tenants/{tenantId}/webhooks/{webhookId}/replay": async (req) => {
      const sub = await webhook(req);
      return { statusCode: 202, body: await deliveries.replay(sub, parseOrThrow(schemas.replay, body(req))) };
    },
    "GET /admin/dlq": async () => ({ statusCode: 200, body: await deliveries.dlqDepth() }),
    "GET /admin/queues": async () => ({ statusCode: 200, body: await deliveries.queueDepths() }),
    "POST /admin/redrive": async () => ({ statusCode: 202, body: await deliveries.redrive() }),
    "GET /tenants/{tenantId}/events/{eventId}": async (req) => {
      const tenantId = tenant(req);
      return { statusCode: 200, body: presentEventDeliveries(await deliveries.lookupEvent(tenantId, req.pathParameters.eventId ?? "")) };
    },
  };
}

function tenant(req: ApiRequest): string {
  return parseOrThrow(tenantIdSchema, req.pathParameters.tenantId, "tenantId");
}
