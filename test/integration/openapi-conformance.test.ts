import { Webhook } from "standardwebhooks";
import { ROUTES } from "#core/routes.ts";
import { INGEST } from "#core/settings.ts";
import { loadOpenApi } from "../../local/openapi.ts";
import { OpenApiValidator } from "../support/openapi.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * docs/openapi.yaml against a running stack: every route is called for real (the local stack runs
 * the λ handlers on fauxqs + dynalite), and every ACTUAL answer must have a documented status and a
 * body that fits that status's schema. Valid requests are checked against the request schemas too,
 * and the request an endpoint receives against the `webhooks` section.
 */
const api = new OpenApiValidator();
const tenant = "acct_oas";
let stack: TestStack;
let ok: TestReceiver;
let failing: TestReceiver;
/** Route keys answered with a 2xx during the current test. */
const covered = new Set<string>();

/**
 * The routes each test answers with a documented 2xx (checked at its end, so that each runs alone);
 * together every route of lambdas/core/routes.ts (the last test).
 */
const ANSWERED = {
  management: [
    "GET /event-types",
    "POST /tenants/{tenantId}/webhooks",
    "GET /tenants/{tenantId}/webhooks",
    "GET /tenants/{tenantId}/webhooks/{webhookId}",
    "PATCH /tenants/{tenantId}/webhooks/{webhookId}",
    "POST /events",
    "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries",
    "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}",
    "GET /admin/dlq",
    "GET /admin/queues",
    "POST /admin/redrive",
    "POST /tenants/{tenantId}/webhooks/{webhookId}/replay",
    "POST /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
    "POST /tenants/{tenantId}/webhooks/{webhookId}/test",
    "POST /tenants/{tenantId}/webhooks/{webhookId}/rotate-secret",
    "DELETE /tenants/{tenantId}/webhooks/{webhookId}",
  ],
  portal: [
    "POST /tenants/{tenantId}/portal-sessions",
    "GET /portal",
    "GET /portal/assets/{asset}",
    "GET /portal/api/session",
    "GET /portal/api/event-types",
    "POST /portal/api/tenants/{tenantId}/webhooks",
    "GET /portal/api/tenants/{tenantId}/webhooks",
    "GET /portal/api/tenants/{tenantId}/webhooks/{webhookId}",
    "PATCH /portal/api/tenants/{tenantId}/webhooks/{webhookId}",
    "POST /portal/api/tenants/{tenantId}/webhooks/{webhookId}/test",
    "GET /portal/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries",
    "GET /portal/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}",
    "POST /portal/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
    "POST /portal/api/tenants/{tenantId}/webhooks/{webhookId}/replay",
    "POST /portal/api/tenants/{tenantId}/webhooks/{webhookId}/rotate-secret",
    "GET /portal/api/tenants/{tenantId}/events/{eventId}",
    "GET /tenants/{tenantId}/events/{eventId}",
    "DELETE /portal/api/tenants/{tenantId}/webhooks/{webhookId}",
    "DELETE /tenants/{tenantId}/portal-sessions",
  ],
};

/** Every route `ANSWERED[part]` names was answered with a documented 2xx during this test. */
function expectAnswered(part: keyof typeof ANSWERED): void {
  expect(ANSWERED[part].filter((route) => !covered.has(route))).toEqual([]);
}
const failures: string[] = [];

/**
 * Calls `method template` with the path parameters filled in and checks the answer against the
 * document. `valid: false` marks a request that is wrong on purpose (its body is not checked).
 */
async function call(
  method: string,
  template: string,
  o: { params?: Record<string, string>; query?: string; body?: unknown; valid?: boolean; token?: string } = {},
) {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(o.params?.[name] ?? `missing-${name}`));
  if (o.valid !== false && typeof o.body !== "string") failures.push(...api.checkRequest(method, template, o.body));
  const res = await stack.api(method, `${path}${o.query ? `?${o.query}` : ""}`, o.body, o.token);
  failures.push(...api.checkResponse(method, template, res.status, res.body));
  if (res.status >= 200 && res.status < 300) covered.add(`${method} ${template}`);
  return res;
}

const W = "/tenants/{tenantId}/webhooks";

beforeAll(async () => {
  ok = await new TestReceiver().start();
  failing = await new TestReceiver(() => ({ kind: "status", status: 503, body: "maintenance" })).start();
  stack = await startTestStack({ schedule: "1s" });
});

afterAll(async () => {
  await stack?.stop();
  await Promise.all([ok?.stop(), failing?.stop()]);
});

beforeEach(() => covered.clear());

afterEach(() => {
  // Each test's schema failures are reported by that test.
  const found = failures.splice(0);
  expect(found).toEqual([]);
});

test("the local-only routes answer as documented; /openapi.json serves docs/openapi.yaml", async () => {
  const health = await fetch(`${stack.apiUrl}/health`);
  failures.push(...api.checkResponse("GET", "/health", health.status, await health.json()));
  const served = await fetch(`${stack.apiUrl}/openapi.json`);
  const document = await served.json();
  failures.push(...api.checkResponse("GET", "/openapi.json", served.status, document));
  expect(served.status).toBe(200);
  expect(document).toEqual(loadOpenApi());
});

test("the catalogue, webhooks, publishing, the delivery log and retries answer as documented", async () => {
  expect((await call("GET", "/event-types")).status).toBe(200);

  const params = { tenantId: tenant };
  const a = await call("POST", W, { params, body: { url: ok.url, eventTypes: ["record.*"], description: "conformance" } });
  expect(a.status).toBe(201);
  const b = await call("POST", W, { params, body: { url: failing.url, eventTypes: ["*"] } });
  expect(b.status).toBe(201);
  const hookA = { tenantId: tenant, webhookId: a.body.id as string };
  const hookB = { tenantId: tenant, webhookId: b.body.id as string };

  const page1 = await call("GET", W, { params, query: "limit=1" });
  expect(page1.body.cursor).toEqual(expect.any(String));
  const page2 = await call("GET", W, { params, query: `limit=1&cursor=${page1.body.cursor}` });
  expect(page2.body.cursor).toBeNull();
  expect((await call("GET", `${W}/{webhookId}`, { params: hookA })).status).toBe(200);
  expect((await call("PATCH", `${W}/{webhookId}`, { params: hookA, body: { description: null } })).body.description).toBeNull();
  // Endpoint health (docs/delivery-semantics.md): pause and a rate limit, then back to neither.
  const paused = await call("PATCH", `${W}/{webhookId}`, { params: hookA, body: { paused: true, rateLimit: 50 } });
  expect(paused.body).toMatchObject({ paused: true, rateLimit: 50, health: { state: "closed", consecutiveFailures: 0, parked: 0 } });
  expect((await call("PATCH", `${W}/{webhookId}`, { params: hookA, body: { paused: false, rateLimit: null } })).body).toMatchObject({
    paused: false,
    rateLimit: null,
  });

  const one = await call("POST", "/events", { body: { type: "record.created", tenantId: tenant, data: { recordId: "rec_1" } } });
  expect(one).toEqual({ status: 202, body: { id: expect.stringMatching(/^evt_/), deliveries: 2 } });
  const batch = await call("POST", "/events", {
    body: {
      events: [
        { id: "evt_conf_1", type: "file.ingested", tenantId: tenant, occurredAt: "2026-11-26T10:00:00Z", data: { fileId: "fil_1" } },
        { type: "record.updated", tenantId: tenant, data: { recordId: "rec_1", changes: ["owner"] } },
      ],
    },
  });
  expect(batch.body).toEqual({
    events: [
      { id: "evt_conf_1", deliveries: 1 },
      { id: expect.any(String), deliveries: 2 },
    ],
    deliveries: 3,
  });

  // A succeeds at once; B answers 503 twice (schedule "1s": 2 attempts) and ends in the DLQ.
  const delivered = await stack.waitForDeliveries(tenant, hookA.webhookId, (items) => items.length === 2 && items.every((d) => d.status === "succeeded"));
  await stack.waitForDeliveries(tenant, hookB.webhookId, (items) => items.length === 3 && items.every((d) => d.status === "failed"));

  const list = await call("GET", `${W}/{webhookId}/deliveries`, { params: hookB, query: "status=failed&limit=2" });
  expect(list.body.items).toHaveLength(2);
  expect(
    (await call("GET", `${W}/{webhookId}/deliveries`, { params: hookB, query: `status=failed&limit=2&cursor=${list.body.cursor}` })).body.items,
  ).toHaveLength(1);
  const failed = await call("GET", `${W}/{webhookId}/deliveries/{deliveryId}`, { params: { ...hookB, deliveryId: list.body.items[0].id } });
  expect(failed.body.attempts.map((x: { statusCode: number }) => x.statusCode)).toEqual([503, 503]);
  expect((await call("GET", `${W}/{webhookId}/deliveries/{deliveryId}`, { params: { ...hookA, deliveryId: delivered[0].id } })).body.status).toBe("succeeded");

  expect((await call("GET", "/admin/dlq")).body).toEqual({ visible: 3, inFlight: 0 });
  expect((await call("GET", "/admin/queues")).body.dlq).toEqual({ visible: 3, inFlight: 0 });
  expect((await call("POST", "/admin/redrive")).body).toEqual({ moved: 3 });

  const replay = await call("POST", `${W}/{webhookId}/replay`, { params: hookA, body: { since: "2026-01-01T00:00:00Z", status: "succeeded" } });
  expect(replay.body).toEqual({ replayed: 2, matched: 2, truncated: false, status: "succeeded", cursor: null });
  const retried = await call("POST", `${W}/{webhookId}/deliveries/{deliveryId}/retry`, { params: { ...hookA, deliveryId: delivered[0].id } });
  expect(retried.body).toEqual({ deliveryId: expect.stringMatching(/^dlv_/), replayOf: delivered[0].id });
  expect((await call("POST", `${W}/{webhookId}/test`, { params: hookA, body: { type: "record.updated" } })).body.type).toBe("record.updated");
  expect((await call("POST", `${W}/{webhookId}/test`, { params: hookA })).body.type).toBe("record.created");

  const rotated = await call("POST", `${W}/{webhookId}/rotate-secret`, { params: hookA, body: { graceSeconds: 60 } });
  expect(rotated.body.previousSecretsExpireAt).toEqual(expect.any(String));
  const noGrace = await call("POST", `${W}/{webhookId}/rotate-secret`, { params: hookB, body: { graceSeconds: 0 } });
  expect(noGrace.body.previousSecretsExpireAt).toBeNull();

  // What the endpoint received fits the `webhooks` section, and verifies with the secret it was created with.
  const first = ok.requests[0];
  failures.push(...api.validate("#/webhooks/event/post/requestBody/content/application~1json/schema", JSON.parse(first.body)));
  for (const [index, header] of (api.doc.webhooks.event.post.parameters as { name: string }[]).entries()) {
    failures.push(...api.validate(`#/webhooks/event/post/parameters/${index}/schema`, first.headers[header.name]).map((e) => `header ${header.name}: ${e}`));
  }
  expect(() => new Webhook(a.body.secret).verify(first.body, first.headers as Record<string, string>)).not.toThrow();

  expect((await call("DELETE", `${W}/{webhookId}`, { params: hookB })).status).toBe(204);
  expectAnswered("management");
});

test("refusals answer as documented", async () => {
  const params = { tenantId: tenant };
  const hook = await call("POST", W, { params, body: { url: ok.url, eventTypes: ["sync.completed"] } });
  const ids = { tenantId: tenant, webhookId: hook.body.id as string };
  const refusals: [number, Promise<{ status: number; body: any }>][] = [
    [400, call("POST", "/events", { body: { type: "record.deleted", tenantId: tenant, data: {} }, valid: false })],
    [400, call("POST", "/events", { body: { events: [{ type: "record.created", tenantId: tenant, data: {} }] }, valid: false })],
    [400, call("POST", "/events", { body: "{not json", valid: false })],
    [
      413,
      call("POST", "/events", {
        body: { type: "record.created", tenantId: tenant, data: { recordId: "r", pad: "x".repeat(INGEST.maxDataBytes) } },
        valid: false,
      }),
    ],
    [400, call("POST", W, { params, body: { url: "ftp://example.com/", eventTypes: ["nope.*"] }, valid: false })],
    [400, call("GET", W, { params: { tenantId: "-bad" } })],
    [400, call("GET", W, { params, query: "limit=1000", valid: false })],
    [400, call("GET", `${W}/{webhookId}/deliveries`, { params: ids, query: "status=lost", valid: false })],
    [400, call("PATCH", `${W}/{webhookId}`, { params: ids, body: {}, valid: false })],
    [400, call("PATCH", `${W}/{webhookId}`, { params: ids, body: { rateLimit: 0 }, valid: false })],
    [400, call("POST", W, { params, body: { url: ok.url, eventTypes: ["*"], paused: "yes" }, valid: false })],
    [400, call("POST", `${W}/{webhookId}/rotate-secret`, { params: ids, body: { graceSeconds: -1 }, valid: false })],
    [400, call("POST", `${W}/{webhookId}/replay`, { params: ids, body: { since: "2026-11-26T10:00:00Z", until: "2026-11-25T10:00:00Z" } })],
    [400, call("POST", `${W}/{webhookId}/test`, { params: ids, body: { type: "record.deleted" } })],
    [404, call("GET", `${W}/{webhookId}`, { params: { tenantId: "acct_other", webhookId: ids.webhookId } })],
    [404, call("DELETE", `${W}/{webhookId}`, { params: { tenantId: tenant, webhookId: "wh_nope" } })],
    [404, call("GET", `${W}/{webhookId}/deliveries/{deliveryId}`, { params: { ...ids, deliveryId: "dlv_01M8D5NAK3DEV7NC4BR49X56A8" } })],
    [404, call("POST", `${W}/{webhookId}/deliveries/{deliveryId}/retry`, { params: { ...ids, deliveryId: "dlv_01M8D5NAK3DEV7NC4BR49X56A8" } })],
    [401, call("GET", "/event-types", { token: "wrong" })],
    [401, call("GET", "/admin/dlq", { token: "wrong" })],
    [401, call("GET", "/admin/queues", { token: "wrong" })],
  ];
  const answers = await Promise.all(refusals.map(([, p]) => p));
  expect(answers.map((a) => a.status)).toEqual(refusals.map(([status]) => status));

  await call("POST", "/events", { body: { id: "evt_conf_dup", type: "sync.completed", tenantId: tenant, data: { syncId: "s1" } } });
  const conflict = await call("POST", "/events", { body: { id: "evt_conf_dup", type: "sync.completed", tenantId: tenant, data: { syncId: "s2" } } });
  expect(conflict.body.error.code).toBe("idempotency_conflict");

  await call("PATCH", `${W}/{webhookId}`, { params: ids, body: { enabled: false } });
  expect((await call("POST", `${W}/{webhookId}/test`, { params: ids })).body.error.code).toBe("webhook_disabled");
  const limit = await Promise.all(
    Array.from({ length: 50 }, (_, i) => stack.api("POST", `/tenants/acct_oas_full/webhooks`, { url: `https://h${i}.example.com/`, eventTypes: ["*"] })),
  );
  expect(limit.filter((r) => r.status === 201)).toHaveLength(50);
  expect(
    (await call("POST", W, { params: { tenantId: "acct_oas_full" }, body: { url: "https://one-more.example.com/", eventTypes: ["*"] } })).body.error.code,
  ).toBe("webhook_limit_reached");
});

test("the event lookup, portal sessions, the portal page and the portal API answer as documented", async () => {
  const t = "acct_oas_portal";
  const params = { tenantId: t };
  const session = await call("POST", "/tenants/{tenantId}/portal-sessions", { params, body: { expiresInSeconds: 600 } });
  expect(session.status).toBe(201);
  const token = session.body.token as string;
  const readOnly = await call("POST", "/tenants/{tenantId}/portal-sessions", { params, body: { readOnly: true } });
  expect((await call("POST", "/tenants/{tenantId}/portal-sessions", { params, body: { expiresInSeconds: 0 }, valid: false })).status).toBe(400);

  // The page and its assets: public, not JSON.
  for (const [path, template, type] of [
    ["/portal", "/portal", "text/html"],
    ["/portal/assets/app.js", "/portal/assets/{asset}", "text/javascript"],
    ["/portal/assets/app.css", "/portal/assets/{asset}", "text/css"],
  ] as const) {
    const res = await fetch(`${stack.apiUrl}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(new RegExp(`^${type}`));
    expect(Object.keys(api.operation("GET", template).op.responses["200"].content)).toContain(type);
    covered.add(`GET ${template}`);
  }
  const missing = await fetch(`${stack.apiUrl}/portal/assets/nope.js`);
  failures.push(...api.checkResponse("GET", "/portal/assets/{asset}", missing.status, await missing.json()));

  const P = "/portal/api/tenants/{tenantId}/webhooks";
  expect((await call("GET", "/portal/api/session", { token })).body.tenantId).toBe(t);
  expect((await call("GET", "/portal/api/event-types", { token })).status).toBe(200);
  const created = await call("POST", P, { params, token, body: { url: ok.url, eventTypes: ["file.*"], description: "portal" } });
  expect(created.status).toBe(201);
  const hook = { tenantId: t, webhookId: created.body.id as string };
  expect((await call("GET", P, { params, token })).body.items).toHaveLength(1);
  expect((await call("GET", `${P}/{webhookId}`, { params: hook, token })).status).toBe(200);
  expect((await call("PATCH", `${P}/{webhookId}`, { params: hook, token, body: { description: "changed" } })).body.description).toBe("changed");
  const sent = await call("POST", `${P}/{webhookId}/test`, { params: hook, token, body: { type: "file.ingested" } });
  expect(sent.status).toBe(202);
  const [delivered] = await stack.waitForDeliveries(t, hook.webhookId, (items) => items.length === 1 && items[0].status === "succeeded");
  expect((await call("GET", `${P}/{webhookId}/deliveries`, { params: hook, token })).body.items).toHaveLength(1);
  const one = { ...hook, deliveryId: delivered.id as string };
  expect((await call("GET", `${P}/{webhookId}/deliveries/{deliveryId}`, { params: one, token })).body.attempts).toHaveLength(1);
  expect((await call("POST", `${P}/{webhookId}/deliveries/{deliveryId}/retry`, { params: one, token })).status).toBe(202);
  expect((await call("POST", `${P}/{webhookId}/replay`, { params: hook, token, body: { since: "2026-01-01T00:00:00Z", status: "succeeded" } })).status).toBe(
    202,
  );
  expect((await call("POST", `${P}/{webhookId}/rotate-secret`, { params: hook, token, body: { graceSeconds: 60 } })).status).toBe(200);
  const event = { tenantId: t, eventId: sent.body.eventId as string };
  const found = await call("GET", "/portal/api/tenants/{tenantId}/events/{eventId}", { params: event, token });
  expect(found.body.deliveries.map((d: { id: string }) => d.id)).toEqual([delivered.id]);
  expect((await call("GET", "/tenants/{tenantId}/events/{eventId}", { params: event })).body).toEqual(found.body);

  // Refusals of the portal API.
  const refusals: [number, Promise<{ status: number }>][] = [
    [401, call("GET", "/portal/api/session", { token: "rkps_forged" })],
    [400, call("GET", P, { params, query: `token=${token}`, token })],
    [403, call("GET", P, { params: { tenantId: "acct_other" }, token })],
    [403, call("PATCH", `${P}/{webhookId}`, { params: hook, token: readOnly.body.token, body: { enabled: false } })],
    [404, call("GET", "/portal/api/tenants/{tenantId}/events/{eventId}", { params: { tenantId: t, eventId: "evt_nope" }, token })],
    [404, call("GET", "/tenants/{tenantId}/events/{eventId}", { params: { tenantId: t, eventId: "evt_nope" } })],
  ];
  expect((await Promise.all(refusals.map(([, p]) => p))).map((a) => a.status)).toEqual(refusals.map(([s]) => s));

  expect((await call("DELETE", `${P}/{webhookId}`, { params: hook, token })).status).toBe(204);
  expect((await call("DELETE", "/tenants/{tenantId}/portal-sessions", { params })).status).toBe(204);
  expect((await call("GET", "/portal/api/session", { token })).status).toBe(401);
  expectAnswered("portal");
});

test("every route of lambdas/core/routes.ts is one the tests above answer with a documented 2xx", () => {
  expect([...ANSWERED.management, ...ANSWERED.portal].sort()).toEqual(ROUTES.map((r) => r.routeKey).sort());
});
