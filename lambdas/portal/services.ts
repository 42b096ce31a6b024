import { documentClient } from "#adapters/dynamodb.ts";
import { DynamoPortalSessionStore } from "#adapters/portal-sessions.ts";
import { PortalService } from "#core/portal.ts";
import { systemClock } from "#core/ports.ts";
import { createManageService } from "../manage/services.ts";
import type { Observability, RuntimeConfig } from "../shared/config.ts";

/** The portal λ's composition root: sessions in DynamoDB, and the management API for the session's tenant. */
export function createPortalService(config: RuntimeConfig, o: Observability & { portalUrl?: () => string }): PortalService {
  return new PortalService({
    sessions: new DynamoPortalSessionStore(documentClient(config.dynamodb), config.tables.portalSessions),
    manage: createManageService(config, o).routes(),
    clock: o.clock ?? systemClock,
    logger: o.logger,
    portalUrl: o.portalUrl ?? (() => config.portalUrl ?? "/portal"),
  });
}
