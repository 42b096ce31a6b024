import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hashToken } from "#core/portal.ts";
import { PORTAL_MIRRORED_ROUTES, portalRouteKey, ROUTES } from "#core/routes.ts";
import { frameAncestors, securityHeaders } from "../../lambdas/portal/app.ts";
import { buildPortalAssets } from "../../portal/build.ts";

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
