import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiRequest, RouteHandler } from "#core/api.ts";
import { ApiError } from "#core/errors.ts";
import { hashToken, type PortalSession, type PortalSessionStore, PortalService } from "#core/portal.ts";
import { PORTAL_MIRRORED_ROUTES, portalRouteKey, ROUTES } from "#core/routes.ts";
import { PORTAL } from "#core/settings.ts";
import { frameAncestors, securityHeaders } from "../../lambdas/portal/app.ts";
import { buildPortalAssets } from "../../portal/build.ts";
import { MemoryLogger } from "../../sim/world.ts";

/** The portal's pure parts: its CSP, the frame-ancestors setting, token hashing, routes, the build. */
test("frame-ancestors: none by default; origins and 'self' pass; anything that could inject a directive is refused", () => {
  expect(frameAncestors(undefined)).toBe("'none'");
  expect(frameAncestors("  ")).toBe("'none'");
  expect(frameAncestors("https://app.recordskeeper.ai  https://*.example.com:8443 'self'")).toBe(
    "https://app.recordskeeper.ai https://*.example.com:8443 'self'",
  );
  for (const bad of [
    "*",
    "https://a.example.com;",
    "javascript:alert(1)",
    "https://a.example.com/path",
    "'unsafe-inline'",
    "data:",
    "https://a b\r\nx-evil: 1",
  ]) {
    expect(() => frameAncestors(bad)).toThrow(/is not an origin/);
  }
});

test("the page's headers: a CSP with no inline script or style, no referrer, no sniffing; DENY only when nothing may frame it", () => {
  const none = securityHeaders("'none'");
  expect(none["content-security-policy"]).toBe(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  expect(none).toMatchObject({ "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "x-frame-options": "DENY" });
  const some = securityHeaders("https://app.example.com");
  expect(some["content-security-policy"]).toMatch(/frame-ancestors https:\/\/app\.example\.com$/);
  expect(some["x-frame-options"]).toBeUndefined();
});

test("tokens are hashed with SHA-256 (hex)", () => {
  expect(hashToken("rkps_x")).toBe(createHash("sha256").update("rkps_x").digest("hex"));
  expect(hashToken("rkps_x")).toMatch(/^[0-9a-f]{64}$/);
});

test("the portal API mirrors only tenant routes and the catalogue, each a route of the table with portal-session auth", () => {
  for (const key of PORTAL_MIRRORED_ROUTES) {
    expect(ROUTES.find((r) => r.routeKey === key)?.auth).toBeUndefined();
    expect(ROUTES.find((r) => r.routeKey === portalRouteKey(key))).toEqual({ routeKey: portalRouteKey(key), fn: "portal", auth: "portal-session" });
    expect(key).toMatch(/^(GET|POST|PATCH|DELETE) \/(tenants\/\{tenantId\}\/(webhooks|events)|event-types)/);
  }
  expect(ROUTES.filter((r) => r.auth === "public").map((r) => r.routeKey)).toEqual(["GET /portal", "GET /portal/assets/{asset}"]);
});

test("the build: three files, the page loads only its own script and style, no inline script", () => {
  const files = buildPortalAssets();
  expect(Object.keys(files).sort()).toEqual(["app.css", "app.js", "index.html"]);
  const html = files["index.html"];
  expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script type="module" src="/portal/assets/app.js">']);
  expect(html).toMatch(/<script[^>]*><\/script>/);
  expect(html).not.toMatch(/\son\w+=|style=|https?:\/\//);
  expect(files["app.js"].length).toBeGreaterThan(10_000);
});

test("the portal's source never hands a string to the HTML parser", () => {
  const dir = join(import.meta.dirname, "..", "..", "portal", "src");
  for (const name of readdirSync(dir)) {
    const source = readFileSync(join(dir, name), "utf8");
    expect({ name, html: /innerHTML|outerHTML|dangerouslySetInnerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/.test(source) }).toEqual({
      name,
      html: false,
    });
  }
});

/** The session store's contract (adapters/portal-sessions.ts) in memory: items by token hash, a generation per tenant. */
class MemorySessions implements PortalSessionStore {
  readonly items = new Map<string, { tokenHash: string; session: PortalSession }>();
  readonly generations = new Map<string, number>();
  async put(tokenHash: string, session: PortalSession): Promise<void> {
    if (this.items.has(tokenHash)) throw new Error("ConditionalCheckFailedException");
    this.items.set(tokenHash, { tokenHash, session: { ...session } });
  }
  async get(tokenHash: string) {
    return this.items.get(tokenHash);
  }
  async generation(tenantId: string): Promise<number> {
    return this.generations.get(tenantId) ?? 0;
  }
  async revokeAll(tenantId: string): Promise<number> {
    const next = (this.generations.get(tenantId) ?? 0) + 1;
    this.generations.set(tenantId, next);
    return next;
  }
}

describe("PortalService: sessions minted, checked and revoked; the mirrored routes reach the session's tenant only", () => {
  const T = Date.parse("2026-06-01T12:00:00.000Z");
  const MIRRORED_GET = "GET /tenants/{tenantId}/webhooks";
  const MIRRORED_WRITE = "POST /tenants/{tenantId}/webhooks";

  function portal() {
    const clock = { ms: T, now: () => clock.ms };
    const sessions = new MemorySessions();
    const logger = new MemoryLogger();
    const calls: ApiRequest[] = [];
    const manage: Record<string, RouteHandler> = {};
    for (const key of PORTAL_MIRRORED_ROUTES) {
      manage[key] = async (req) => {
        calls.push(req);
        return { statusCode: 299, body: { served: req.routeKey } };
      };
    }
    const service = new PortalService({ sessions, manage, clock, logger, portalUrl: () => "https://api.example.com/portal" });
    return { clock, sessions, logger, calls, service, routes: service.routes() };
  }

  const req = (routeKey: string, o: Partial<ApiRequest> = {}): ApiRequest => ({ routeKey, pathParameters: {}, query: {}, ...o });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  /** The refusal a promise ends in: its status and the error body users get. */
  async function refusal(p: Promise<unknown>) {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(err)}`);
    return { status: err.status, ...err.toBody().error };
  }

  async function mint(p: ReturnType<typeof portal>, tenantId: string, body?: unknown) {
    return p.routes["POST /tenants/{tenantId}/portal-sessions"](
      req("POST /tenants/{tenantId}/portal-sessions", { pathParameters: { tenantId }, body: body === undefined ? undefined : JSON.stringify(body) }),
    );
  }
  const whoami = (p: ReturnType<typeof portal>, headers?: Record<string, string>, query: Record<string, string> = {}) =>
    p.routes["GET /portal/api/session"](req("GET /portal/api/session", { headers, query }));

  test("minting without a body: a 201 with the page URL carrying the token in its fragment, an hour's read-write session, stored under the token's hash only", async () => {
    const p = portal();
    p.sessions.generations.set("acct_p1", 4);
    const res = await mint(p, "acct_p1");
    const body = res.body as { url: string; token: string; expiresAt: string; tenantId: string; readOnly: boolean };
    expect(res.statusCode).toBe(201);
    expect(body.token).toMatch(new RegExp(`^${PORTAL.tokenPrefix}[A-Za-z0-9_-]{43}$`));
    expect(body).toEqual({
      url: `https://api.example.com/portal#token=${body.token}`,
      token: body.token,
      expiresAt: "2026-06-01T13:00:00.000Z",
      tenantId: "acct_p1",
      readOnly: false,
    });
    expect([...p.sessions.items.keys()]).toEqual([hashToken(body.token)]);
    expect(p.sessions.items.get(hashToken(body.token))!.session).toEqual({
      tenantId: "acct_p1",
      readOnly: false,
      expiresAtMs: T + 3_600_000,
      generation: 4,
      createdAt: "2026-06-01T12:00:00.000Z",
    });
    expect(p.logger.lines).toEqual([
      { level: "info", message: "portal session created", extra: { tenantId: "acct_p1", readOnly: false, expiresAt: "2026-06-01T13:00:00.000Z" } },
    ]);
    // Each token is new.
    const again = (await mint(p, "acct_p1")).body as { token: string };
    expect(again.token).not.toBe(body.token);
  });

  test("minting read-only for the shortest and the longest time allowed", async () => {
    const p = portal();
    const short = await mint(p, "acct_p2", { expiresInSeconds: PORTAL.sessionSecondsMin, readOnly: true });
    expect(short.body).toMatchObject({ expiresAt: new Date(T + 60_000).toISOString(), readOnly: true });
    const long = await mint(p, "acct_p2", { expiresInSeconds: PORTAL.sessionSecondsMax, readOnly: false });
    expect(long.body).toMatchObject({ expiresAt: new Date(T + 86_400_000).toISOString(), readOnly: false });
    const stored = [...p.sessions.items.values()].map((i) => [i.session.readOnly, i.session.expiresAtMs]);
    expect(stored).toEqual([
      [true, T + 60_000],
      [false, T + 86_400_000],
    ]);
  });

  test.each([
    ["a tenant id outside the alphabet", "bad tenant", {}, "tenantId"],
    ["expiresInSeconds below the minimum", "acct_p3", { expiresInSeconds: PORTAL.sessionSecondsMin - 1 }, "expiresInSeconds"],
    ["expiresInSeconds above the maximum", "acct_p3", { expiresInSeconds: PORTAL.sessionSecondsMax + 1 }, "expiresInSeconds"],
    ["expiresInSeconds not whole", "acct_p3", { expiresInSeconds: 90.5 }, "expiresInSeconds"],
    ["readOnly not a boolean", "acct_p3", { readOnly: "yes" }, "readOnly"],
    ["an unknown field", "acct_p3", { scope: "all" }, "scope"],
  ])("minting refused: %s (400 naming the field, nothing stored)", async (_what, tenantId, body, field) => {
    const p = portal();
    expect(await refusal(mint(p, tenantId, body))).toMatchObject({ status: 400, code: "validation_failed", details: [expect.objectContaining({ field })] });
    expect(p.sessions.items.size).toBe(0);
  });

  test("a minted session authenticates: GET /portal/api/session shows its tenant, mode and expiry", async () => {
    const p = portal();
    const { token } = (await mint(p, "acct_p4", { readOnly: true, expiresInSeconds: 600 })).body as { token: string };
    expect(await whoami(p, bearer(token))).toEqual({ statusCode: 200, body: { tenantId: "acct_p4", readOnly: true, expiresAt: "2026-06-01T12:10:00.000Z" } });
  });

  test.each(["token", "access_token"])("a token in the query string (%s) is refused, even with a valid header", async (name) => {
    const p = portal();
    const { token } = (await mint(p, "acct_p5")).body as { token: string };
    expect(await refusal(whoami(p, bearer(token), { [name]: token }))).toEqual({
      status: 400,
      code: "token_in_url",
      message: "send the portal session token as 'Authorization: Bearer <token>', never in the URL",
      details: [{ field: name, message: "must not be in the query string" }],
    });
  });

  test("no Authorization header: 401 session_missing", async () => {
    const p = portal();
    expect(await refusal(whoami(p))).toEqual({
      status: 401,
      code: "session_missing",
      message: "send the portal session token as 'Authorization: Bearer <token>'",
      details: [],
    });
    expect(await refusal(whoami(p, { authorization: "" }))).toMatchObject({ status: 401, code: "session_missing" });
  });

  test("a malformed header or token: 401 session_invalid, 'malformed', and the store is not asked", async () => {
    const p = portal();
    const { token } = (await mint(p, "acct_p6")).body as { token: string };
    const get = p.sessions.get.bind(p.sessions);
    let reads = 0;
    p.sessions.get = (h) => {
      reads++;
      return get(h);
    };
    for (const authorization of [
      token,
      `bearer ${token}`,
      `Basic ${token}`,
      `Bearer  ${token}`,
      `Bearer ${token} x`,
      `x Bearer ${token}`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token}A`,
      `Bearer rkpx_${token.slice(5)}`,
      `Bearer ${token.slice(0, -1)}=`,
      `Bearer `,
    ]) {
      expect({ authorization, refusal: await refusal(whoami(p, { authorization })) }).toEqual({
        authorization,
        refusal: { status: 401, code: "session_invalid", message: "the portal session token is malformed", details: [] },
      });
    }
    expect(reads).toBe(0);
  });

  test("a well-formed token that was never minted: 401 session_invalid, 'not valid'", async () => {
    const p = portal();
    expect(await refusal(whoami(p, bearer(`rkps_${"A".repeat(43)}`)))).toEqual({
      status: 401,
      code: "session_invalid",
      message: "the portal session token is not valid",
      details: [],
    });
  });

  test("an item whose stored hash is not the token's (a store answering another key) is not a session", async () => {
    const p = portal();
    const token = `rkps_${"B".repeat(43)}`;
    const session: PortalSession = { tenantId: "acct_p7", readOnly: false, expiresAtMs: T + 60_000, generation: 0, createdAt: new Date(T).toISOString() };
    p.sessions.items.set(hashToken(token), { tokenHash: hashToken(`rkps_${"C".repeat(43)}`), session });
    expect(await refusal(whoami(p, bearer(token)))).toMatchObject({ status: 401, code: "session_invalid", message: "the portal session token is not valid" });
    p.sessions.items.set(hashToken(token), { tokenHash: hashToken(token), session });
    expect((await whoami(p, bearer(token))).statusCode).toBe(200);
  });

  test("a session is valid until the ms before its expiry, refused from it on (session_expired)", async () => {
    const p = portal();
    const { token } = (await mint(p, "acct_p8", { expiresInSeconds: 60 })).body as { token: string };
    p.clock.ms = T + 59_999;
    expect((await whoami(p, bearer(token))).statusCode).toBe(200);
    p.clock.ms = T + 60_000;
    expect(await refusal(whoami(p, bearer(token)))).toEqual({ status: 401, code: "session_expired", message: "the portal session has expired", details: [] });
  });

  test("revoke-all: 204; the tenant's sessions minted before are refused (session_revoked), later ones and other tenants' work", async () => {
    const p = portal();
    const before = ((await mint(p, "acct_p9")).body as { token: string }).token;
    const other = ((await mint(p, "acct_p9b")).body as { token: string }).token;
    const res = await p.routes["DELETE /tenants/{tenantId}/portal-sessions"](
      req("DELETE /tenants/{tenantId}/portal-sessions", { pathParameters: { tenantId: "acct_p9" } }),
    );
    expect(res).toEqual({ statusCode: 204 });
    expect(p.sessions.generations.get("acct_p9")).toBe(1);
    expect(p.logger.lines.at(-1)).toEqual({ level: "info", message: "portal sessions revoked", extra: { tenantId: "acct_p9", generation: 1 } });
    expect(await refusal(whoami(p, bearer(before)))).toEqual({ status: 401, code: "session_revoked", message: "the portal session was revoked", details: [] });
    expect((await whoami(p, bearer(other))).statusCode).toBe(200);
    const after = ((await mint(p, "acct_p9")).body as { token: string }).token;
    expect((await whoami(p, bearer(after))).body).toMatchObject({ tenantId: "acct_p9" });
  });

  test("revoking for a malformed tenant id is a 400 and revokes nothing", async () => {
    const p = portal();
    const refused = await refusal(
      p.routes["DELETE /tenants/{tenantId}/portal-sessions"](req("DELETE /tenants/{tenantId}/portal-sessions", { pathParameters: { tenantId: "no/slash" } })),
    );
    expect(refused).toMatchObject({ status: 400, details: [expect.objectContaining({ field: "tenantId" })] });
    expect(p.sessions.generations.size).toBe(0);
  });

  test("every mirrored route is served under /portal/api by the management handler, called with its own route key and the request as sent", async () => {
    const p = portal();
    const { token } = (await mint(p, "acct_p10")).body as { token: string };
    expect(Object.keys(p.routes).sort()).toEqual(
      [
        "POST /tenants/{tenantId}/portal-sessions",
        "DELETE /tenants/{tenantId}/portal-sessions",
        "GET /portal/api/session",
        ...PORTAL_MIRRORED_ROUTES.map(portalRouteKey),
      ].sort(),
    );
    for (const key of PORTAL_MIRRORED_ROUTES) {
      const sent = req(portalRouteKey(key), {
        pathParameters: { tenantId: "acct_p10", webhookId: "wh_1" },
        query: { limit: "5" },
        body: "{}",
        headers: bearer(token),
      });
      expect(await p.routes[portalRouteKey(key)](sent)).toEqual({ statusCode: 299, body: { served: key } });
      expect(p.calls.at(-1)).toEqual({ ...sent, routeKey: key });
    }
    expect(p.calls).toHaveLength(PORTAL_MIRRORED_ROUTES.length);
  });

  test("a mirrored route refuses a request without a valid session before calling the handler", async () => {
    const p = portal();
    const route = p.routes[portalRouteKey(MIRRORED_GET)];
    expect(await refusal(route(req(portalRouteKey(MIRRORED_GET), { pathParameters: { tenantId: "acct_p11" } })))).toMatchObject({
      status: 401,
      code: "session_missing",
    });
    expect(p.calls).toEqual([]);
  });

  test("another tenant in the path: 403 tenant_mismatch naming tenantId; a route without a tenant (the catalogue) is served", async () => {
    const p = portal();
    const { token } = (await mint(p, "acct_p12")).body as { token: string };
    const route = p.routes[portalRouteKey(MIRRORED_GET)];
    expect(await refusal(route(req(portalRouteKey(MIRRORED_GET), { pathParameters: { tenantId: "acct_other" }, headers: bearer(token) })))).toEqual({
      status: 403,
      code: "tenant_mismatch",
      message: "this portal session belongs to another tenant",
      details: [{ field: "tenantId", message: "must be the session's tenant" }],
    });
    expect(p.calls).toEqual([]);
    const catalogue = p.routes[portalRouteKey("GET /event-types")];
    expect((await catalogue(req(portalRouteKey("GET /event-types"), { headers: bearer(token) }))).statusCode).toBe(299);
  });

  test("a read-only session reads but every write is refused (403 read_only_session); a read-write session writes", async () => {
    const p = portal();
    const ro = ((await mint(p, "acct_p13", { readOnly: true })).body as { token: string }).token;
    const rw = ((await mint(p, "acct_p13")).body as { token: string }).token;
    const pathParameters = { tenantId: "acct_p13", webhookId: "wh_1", deliveryId: "dlv_1" };
    for (const key of PORTAL_MIRRORED_ROUTES) {
      const call = (token: string) => p.routes[portalRouteKey(key)](req(portalRouteKey(key), { pathParameters, headers: bearer(token) }));
      if (key.startsWith("GET ")) expect((await call(ro)).statusCode).toBe(299);
      else {
        expect(await refusal(call(ro))).toEqual({
          status: 403,
          code: "read_only_session",
          message: "this portal session is read-only: it cannot change anything",
          details: [],
        });
      }
      expect((await call(rw)).statusCode).toBe(299);
    }
    // The handler ran for each read twice (both sessions) and for each write once (the read-write session).
    expect(p.calls.map((c) => c.routeKey)).toEqual(PORTAL_MIRRORED_ROUTES.flatMap((k) => (k.startsWith("GET ") ? [k, k] : [k])));
  });

  test("a management API missing a mirrored route is a wiring error at start, naming the route", () => {
    const p = portal();
    const manage: Record<string, RouteHandler> = {};
    for (const key of PORTAL_MIRRORED_ROUTES) if (key !== MIRRORED_WRITE) manage[key] = async () => ({ statusCode: 200 });
    const service = new PortalService({ sessions: p.sessions, manage, clock: p.clock, logger: p.logger, portalUrl: () => "" });
    expect(() => service.routes()).toThrow(`the portal mirrors ${MIRRORED_WRITE}, which the management API does not serve`);
  });
});
