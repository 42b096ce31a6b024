import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { ApiRequest, ApiResponse, RouteHandler } from "./api.ts";
import { ApiError } from "./errors.ts";
import type { Clock, CoreLogger } from "./ports.ts";
import { PORTAL_API_PREFIX, PORTAL_MIRRORED_ROUTES, portalRouteKey } from "./routes.ts";
import { PORTAL } from "./settings.ts";
import { parseJsonBody, parseOrThrow, tenantIdSchema } from "./validation.ts";

/**
 * Tenant portal sessions (docs/portal.md, docs/security.md). The core app (IAM-authorised) mints a session for one tenant;
 * the portal's API (`/portal/api/…`) is authorised by its token as a bearer and reaches that tenant
 * only. A token is 256 random bits; only its SHA-256 is stored (with a TTL), so a table read leaks no
 * usable token. Revocation bumps the tenant's session generation: every session minted before it is
 * refused at once, without finding and deleting each one.
 */
export interface PortalSession {
  readonly tenantId: string;
  readonly readOnly: boolean;
  /** ms since the epoch. */
  readonly expiresAtMs: number;
  /** The tenant's session generation when it was minted; a revocation makes it stale. */
  readonly generation: number;
  readonly createdAt: string;
}

export interface PortalSessionStore {
  /** Stores a session under the SHA-256 (hex) of its token. */
  put(tokenHash: string, session: PortalSession): Promise<void>;
  /** The session stored under this hash, with the hash as stored (compared in constant time). */
  get(tokenHash: string): Promise<{ tokenHash: string; session: PortalSession } | undefined>;
  /** The tenant's current generation (0 before any revocation). */
  generation(tenantId: string): Promise<number>;
  /** Atomically increments the tenant's generation and returns the new one. */
  revokeAll(tenantId: string): Promise<number>;
}

export interface PortalDeps {
  sessions: PortalSessionStore;
  /** The management API's handlers, which the portal API calls for the session's tenant. */
  manage: Readonly<Record<string, RouteHandler>>;
  clock: Clock;
  logger: CoreLogger;
  /** The portal page's URL (`…/portal`); a function, since the local stack learns its port late. */
  portalUrl: () => string;
}

const createSchema = z.strictObject({
  expiresInSeconds: z
    .number({ error: "must be a number of seconds" })
    .int("must be a whole number of seconds")
    .min(PORTAL.sessionSecondsMin, `must be at least ${PORTAL.sessionSecondsMin} seconds`)
    .max(PORTAL.sessionSecondsMax, `must be at most ${PORTAL.sessionSecondsMax} seconds (24 hours)`)
    .optional(),
  readOnly: z.boolean({ error: "must be true or false" }).optional(),
});

const TOKEN_PATTERN = new RegExp(`^${PORTAL.tokenPrefix}[A-Za-z0-9_-]{43}$`);

export const hashToken = (token: string): string => createHash("sha256").update(token).digest("hex");

const unauthorized = (code: string, message: string) => new ApiError(401, code, message);

export class PortalService {
  constructor(private readonly deps: PortalDeps) {}

  /** The IAM-authorised session routes and the session-authorised portal API. */
  routes(): Record<string, RouteHandler> {
    const routes: Record<string, RouteHandler> = {
      "POST /tenants/{tenantId}/portal-sessions": (r) => this.create(r),
      "DELETE /tenants/{tenantId}/portal-sessions": (r) => this.revoke(r),
      [`GET ${PORTAL_API_PREFIX}/session`]: async (r) => {
        const s = await this.authenticate(r);
        return { statusCode: 200, body: { tenantId: s.tenantId, readOnly: s.readOnly, expiresAt: new Date(s.expiresAtMs).toISOString() } };
      },
    };
    for (const key of PORTAL_MIRRORED_ROUTES) {
      const handler = this.deps.manage[key];
      if (!handler) throw new Error(`the portal mirrors ${key}, which the management API does not serve`);
      const write = !key.startsWith("GET ");
      routes[portalRouteKey(key)] = async (req) => {
        const session = await this.authenticate(req);
        if (req.pathParameters.tenantId !== undefined && req.pathParameters.tenantId !== session.tenantId) {
          throw new ApiError(403, "tenant_mismatch", "this portal session belongs to another tenant", [
            { field: "tenantId", message: "must be the session's tenant" },
          ]);
        }
        if (write && session.readOnly) throw new ApiError(403, "read_only_session", "this portal session is read-only: it cannot change anything");
        return handler({ ...req, routeKey: key });
      };
    }
    return routes;
  }

  private async create(req: ApiRequest): Promise<ApiResponse> {
    const tenantId = parseOrThrow(tenantIdSchema, req.pathParameters.tenantId, "tenantId");
    const input = parseOrThrow(createSchema, parseJsonBody(req.body) ?? {});
    const now = this.deps.clock.now();
    const token = PORTAL.tokenPrefix + randomBytes(PORTAL.tokenBytes).toString("base64url");
    const session: PortalSession = {
      tenantId,
      readOnly: input.readOnly ?? false,
      expiresAtMs: now + (input.expiresInSeconds ?? PORTAL.sessionSecondsDefault) * 1000,
      // A revocation racing this read makes the new session stale at once: revocation wins.
      generation: await this.deps.sessions.generation(tenantId),
      createdAt: new Date(now).toISOString(),
    };
    await this.deps.sessions.put(hashToken(token), session);
    this.deps.logger.info("portal session created", { tenantId, readOnly: session.readOnly, expiresAt: new Date(session.expiresAtMs).toISOString() });
    const expiresAt = new Date(session.expiresAtMs).toISOString();
    // The token travels in the fragment: browsers never send it to a server or put it in a Referer.
    return { statusCode: 201, body: { url: `${this.deps.portalUrl()}#token=${token}`, token, expiresAt, tenantId, readOnly: session.readOnly } };
  }

  private async revoke(req: ApiRequest): Promise<ApiResponse> {
    const tenantId = parseOrThrow(tenantIdSchema, req.pathParameters.tenantId, "tenantId");
    const generation = await this.deps.sessions.revokeAll(tenantId);
    this.deps.logger.info("portal sessions revoked", { tenantId, generation });
    return { statusCode: 204 };
  }

  /** The session of `Authorization: Bearer <token>`, or a 400/401 naming the problem. */
  async authenticate(req: ApiRequest): Promise<PortalSession> {
    for (const name of ["token", "access_token"]) {
      if (req.query[name] !== undefined) {
        throw new ApiError(400, "token_in_url", "send the portal session token as 'Authorization: Bearer <token>', never in the URL", [
          { field: name, message: "must not be in the query string" },
        ]);
      }
    }
    const header = req.headers?.authorization;
    if (!header) throw unauthorized("session_missing", "send the portal session token as 'Authorization: Bearer <token>'");
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    if (!token || !TOKEN_PATTERN.test(token)) throw unauthorized("session_invalid", "the portal session token is malformed");
    const hash = hashToken(token);
    const found = await this.deps.sessions.get(hash);
    if (!found || !timingSafeEqual(Buffer.from(found.tokenHash, "hex"), Buffer.from(hash, "hex"))) {
      throw unauthorized("session_invalid", "the portal session token is not valid");
    }
    const { session } = found;
    if (session.expiresAtMs <= this.deps.clock.now()) throw unauthorized("session_expired", "the portal session has expired");
    if ((await this.deps.sessions.generation(session.tenantId)) !== session.generation) {
      throw unauthorized("session_revoked", "the portal session was revoked");
    }
    return session;
  }
}
