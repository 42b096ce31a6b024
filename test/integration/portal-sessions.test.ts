import { createHash } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { DynamoPortalSessionStore } from "#adapters/portal-sessions.ts";
import { documentClient } from "#adapters/dynamodb.ts";
import { PORTAL_MIRRORED_ROUTES, portalRouteKey } from "#core/routes.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Portal sessions (docs/portal.md) on a real local stack: what a session answers, how its token is kept
 * (only its SHA-256, with a TTL, never logged), expiry, revocation and its races, and the portal API
 * mirroring the management API for the session's tenant.
 */
let stack: TestStack;
let receiver: TestReceiver;
const logs: string[] = [];

beforeAll(async () => {
  receiver = await new TestReceiver().start();
  stack = await startTestStack({ logLevel: "debug", logSink: (line) => logs.push(line) });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
});

const mint = (tenant: string, body: object = {}) => stack.api("POST", `/tenants/${tenant}/portal-sessions`, body);
const whoami = (token: string) => stack.api("GET", "/portal/api/session", undefined, token);

async function sessionItems(): Promise<Record<string, unknown>[]> {
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(stack.stack.config.dynamodb!));
  const res = await db.send(new ScanCommand({ TableName: stack.stack.config.tables.portalSessions, ConsistentRead: true }));
  db.destroy();
  return res.Items ?? [];
}

test("a session: 201 with a portal URL carrying the token in its fragment, an hour by default, and the portal API for its tenant", async () => {
  const before = Date.now();
  const res = await mint("acct_ps_1");
  expect(res.status).toBe(201);
  const { url, token, expiresAt, tenantId, readOnly } = res.body;
  expect(token).toMatch(/^rkps_[A-Za-z0-9_-]{43}$/); // 256 random bits
  expect(url).toBe(`${stack.apiUrl}/portal#token=${token}`);
  expect(new URL(url).search).toBe("");
  expect({ tenantId, readOnly }).toEqual({ tenantId: "acct_ps_1", readOnly: false });
  const expiry = Date.parse(expiresAt);
  expect(expiry).toBeGreaterThanOrEqual(before + 3_600_000);
  expect(expiry).toBeLessThanOrEqual(Date.now() + 3_600_000);
  expect(await whoami(token)).toEqual({ status: 200, body: { tenantId: "acct_ps_1", readOnly: false, expiresAt } });

  const short = await mint("acct_ps_1", { expiresInSeconds: 60, readOnly: true });
  expect(Date.parse(short.body.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);
  expect((await whoami(short.body.token)).body.readOnly).toBe(true);
  const long = await mint("acct_ps_1", { expiresInSeconds: 86_400 });
  expect(Date.parse(long.body.expiresAt) - Date.now()).toBeGreaterThan(86_000_000);

  // Two sessions never share a token.
  expect(new Set([token, short.body.token, long.body.token]).size).toBe(3);
});

test("the token is stored only as its SHA-256, with a TTL, and never logged", async () => {
  const { body } = await mint("acct_ps_hash", { expiresInSeconds: 120 });
  await whoami(body.token);
  await whoami(`${body.token.slice(0, -1)}A`);
  const items = await sessionItems();
  const mine = items.filter((i) => i.tenantId === "acct_ps_hash");
  expect(mine).toHaveLength(1);
  const hash = createHash("sha256").update(body.token).digest("hex");
  expect(mine[0]).toMatchObject({ pk: `session#${hash}`, tokenHash: hash, readOnly: false, expiresAt: Math.ceil(Date.parse(body.expiresAt) / 1000) });
  expect(JSON.stringify(items)).not.toContain(body.token);
  expect(JSON.stringify(items)).not.toContain(body.token.slice(5));
  expect(logs.join("\n")).toContain("portal session created");
  expect(logs.join("\n")).not.toContain(body.token.slice(5));
});

test("every management route of the tenant is mirrored under /portal/api and answers as the management API does", async () => {
  const { body } = await mint("acct_ps_mirror");
  const hook = await stack.api("POST", "/portal/api/tenants/acct_ps_mirror/webhooks", { url: receiver.url, eventTypes: ["record.*"] }, body.token);
  expect(hook.status).toBe(201);
  expect(hook.body.secret).toMatch(/^whsec_/);
  const viaIam = await stack.api("GET", `/tenants/acct_ps_mirror/webhooks/${hook.body.id}`);
  expect((await stack.api("GET", `/portal/api/tenants/acct_ps_mirror/webhooks/${hook.body.id}`, undefined, body.token)).body).toEqual(viaIam.body);
  expect(PORTAL_MIRRORED_ROUTES.map(portalRouteKey)).toContain("POST /portal/api/tenants/{tenantId}/webhooks/{webhookId}/replay");
  expect(PORTAL_MIRRORED_ROUTES.filter((k) => k.includes("portal-sessions") || k.includes("/admin/"))).toEqual([]);
});

test("an expired session is refused, though its item is still there (DynamoDB's TTL deletes late)", async () => {
  const store = new DynamoPortalSessionStore(documentClient(stack.stack.config.dynamodb), stack.stack.config.tables.portalSessions);
  const token = `rkps_${"E".repeat(43)}`;
  const hash = createHash("sha256").update(token).digest("hex");
  // Valid for 2 s: room for the store's write and the first call on a loaded machine (200 ms left next to none).
  const expiresAtMs = Date.now() + 2_000;
  await store.put(hash, { tenantId: "acct_ps_exp", readOnly: false, expiresAtMs, generation: 0, createdAt: new Date().toISOString() });
  expect((await whoami(token)).status).toBe(200);
  for (const deadline = expiresAtMs + 10_000; (await whoami(token)).status === 200; ) {
    if (Date.now() > deadline) throw new Error("the session never expired");
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await whoami(token)).body.error).toEqual({ code: "session_expired", message: "the portal session has expired", details: [] });
});

test("revoke-all: every session of the tenant is refused at once, other tenants' are not, and new ones work", async () => {
  const a1 = (await mint("acct_ps_rev")).body.token;
  const a2 = (await mint("acct_ps_rev", { readOnly: true })).body.token;
  const other = (await mint("acct_ps_keep")).body.token;
  expect((await stack.api("DELETE", "/tenants/acct_ps_rev/portal-sessions")).status).toBe(204);
  for (const t of [a1, a2]) expect((await whoami(t)).body.error.code).toBe("session_revoked");
  expect((await whoami(other)).status).toBe(200);
  const fresh = (await mint("acct_ps_rev")).body.token;
  expect((await whoami(fresh)).status).toBe(200);
  // Revoking a tenant that never had a session is fine too.
  expect((await stack.api("DELETE", "/tenants/acct_ps_never/portal-sessions")).status).toBe(204);
});

test("races: concurrent revocations each count (atomic ADD); a session minted while revoking is either revoked or after it, never resurrected", async () => {
  const store = new DynamoPortalSessionStore(documentClient(stack.stack.config.dynamodb), stack.stack.config.tables.portalSessions);
  const early = await Promise.all(Array.from({ length: 5 }, () => mint("acct_ps_race")));
  const [revokes, racing] = await Promise.all([
    Promise.all(Array.from({ length: 10 }, () => stack.api("DELETE", "/tenants/acct_ps_race/portal-sessions"))),
    Promise.all(Array.from({ length: 10 }, () => mint("acct_ps_race"))),
  ]);
  expect(revokes.map((r) => r.status)).toEqual(Array(10).fill(204));
  expect(await store.generation("acct_ps_race")).toBe(10);
  for (const s of early) expect((await whoami(s.body.token)).body.error.code).toBe("session_revoked");
  // A racing session is valid only if it was minted with the final generation (after the last revoke).
  for (const s of racing) {
    expect(s.status).toBe(201);
    const answer = await whoami(s.body.token);
    const stored = await store.get(createHash("sha256").update(s.body.token).digest("hex"));
    expect(answer.status).toBe(stored!.session.generation === 10 ? 200 : 401);
  }
  const after = (await mint("acct_ps_race")).body.token;
  expect((await whoami(after)).status).toBe(200);
});

test("GET /tenants/{t}/events/{eventId}: the event and its delivery to every webhook of the tenant", async () => {
  const t = "acct_ps_event";
  const a = await stack.createWebhook(t, receiver.url, ["file.*"]);
  const b = await stack.createWebhook(t, receiver.url, ["*"]);
  await stack.createWebhook(t, receiver.url, ["record.created"]);
  const published = await stack.api("POST", "/events", { id: "evt_ps_find", type: "file.ingested", tenantId: t, data: { fileId: "fil_9" } });
  expect(published.body.deliveries).toBe(2);
  await stack.waitForDeliveries(t, a.id, (items) => items.length === 1 && items[0].status === "succeeded");
  await stack.waitForDeliveries(t, b.id, (items) => items.length === 1 && items[0].status === "succeeded");
  const res = await stack.api("GET", `/tenants/${t}/events/evt_ps_find`);
  expect(res.status).toBe(200);
  expect(res.body.event).toEqual({ id: "evt_ps_find", type: "file.ingested", timestamp: expect.any(String), tenantId: t, data: { fileId: "fil_9" } });
  expect(res.body.deliveries.map((d: { webhookId: string }) => d.webhookId).sort()).toEqual([a.id, b.id].sort());
  for (const d of res.body.deliveries) {
    expect(d).toMatchObject({ eventId: "evt_ps_find", status: "succeeded", attemptCount: 1, attempts: [{ n: 1, statusCode: 200 }] });
  }
  expect((await stack.api("GET", `/tenants/acct_other/events/evt_ps_find`)).status).toBe(404);
});
