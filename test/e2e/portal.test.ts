import { Webhook } from "standardwebhooks";
import type { Browser, Page } from "playwright-core";
import { DynamoPortalSessionStore } from "#adapters/portal-sessions.ts";
import { documentClient } from "#adapters/dynamodb.ts";
import { hashToken } from "#core/portal.ts";
import { checkAccessibility, launchBrowser, openPage, refreshUntil, screenshot, tabTo, type WatchedPage } from "../support/browser.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The tenant portal in real Chromium (docs/portal.md, issue 11), against a local stack (the λ apps on
 * fauxqs + dynalite) and real HTTP receivers on 127.0.0.1. Driven by visible labels and roles, as a
 * person does it. Every screen is checked with axe-core and photographed (test/support/browser.ts: SCREENSHOTS); any
 * console error or uncaught exception fails the test that caused it.
 */
let stack: TestStack;
let browser: Browser;
const pages: WatchedPage[] = [];
const receivers: TestReceiver[] = [];
const receiver = async (r = new TestReceiver()) => {
  receivers.push(r);
  return r.start();
};

beforeAll(async () => {
  // The flow fails nine attempts in a row on purpose; the circuit breaker (its own tests) would park them.
  [stack, browser] = await Promise.all([startTestStack({ schedule: "1s,1s", health: { breakerThreshold: 1_000 } }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await Promise.all(receivers.map((r) => r.stop().catch(() => {})));
});

/** Console errors the test expects (an API refusal the page handles); anything else fails it. */
let expectedConsole: RegExp[] = [];
afterEach(async () => {
  const unexpected = pages.flatMap((p) => p.errors).filter((e) => !expectedConsole.some((r) => r.test(e)));
  expectedConsole = [];
  await Promise.all(pages.splice(0).map((p) => p.context.close()));
  expect(unexpected).toEqual([]);
});

async function mint(tenantId: string, body: Record<string, unknown> = {}): Promise<{ url: string; token: string }> {
  const res = await stack.api("POST", `/tenants/${tenantId}/portal-sessions`, body);
  expect(res.status).toBe(201);
  return res.body;
}

async function portal(tenantId: string, body: Record<string, unknown> = {}): Promise<Page> {
  const { url } = await mint(tenantId, body);
  const watched = await openPage(browser, url);
  pages.push(watched);
  return watched.page;
}

async function publish(tenantId: string, data: Record<string, unknown>, id?: string): Promise<string> {
  const res = await stack.api("POST", "/events", { ...(id ? { id } : {}), type: "file.ingested", tenantId, data: { fileId: "fil_1", ...data } });
  expect(res.status).toBe(202);
  return res.body.id;
}

/** `datetime-local` value of a time (the browser runs in UTC). */
const localInput = (ms: number) => new Date(ms).toISOString().slice(0, 19);

// The longest flow (an outage waited through its retries, twice): ~18 s on a loaded machine, so more than jest's minute is allowed.
test("set-up flow: create a webhook for file.ingested, copy the secret, send a test event, see failures, Retry, Recover failed since", async () => {
  const tenant = "acct_portal_setup";
  // It goes down and comes back at the same URL below: on an address of this process's own (support/receiver.ts).
  const endpoint = new TestReceiver();
  receivers.push(endpoint);
  await endpoint.startRestartable();
  const page = await portal(tenant);

  await page.getByRole("heading", { name: "Webhooks" }).waitFor();
  await page.getByText("No webhooks yet. Create one to start receiving events.").waitFor();
  await checkAccessibility(page, "webhooks (empty)");

  await page.getByRole("link", { name: "Create webhook" }).click();
  await page.getByRole("heading", { name: "Create webhook" }).waitFor();
  await page.getByLabel("Endpoint URL").fill(endpoint.url);
  await page.getByLabel("Description (optional)").fill("Files into our archive");
  await page.getByRole("checkbox", { name: "file.ingested", exact: true }).check();
  await page.getByText("Example payload of file.ingested").click();
  await page.getByLabel("Example payload of file.ingested").getByText('"fileId": "fil_301"').waitFor();
  await checkAccessibility(page, "create webhook");
  await screenshot(page, "create-webhook");
  await page.getByRole("button", { name: "Create webhook" }).click();

  await page.getByRole("heading", { name: "Signing secret" }).waitFor();
  const secret = (await page.locator("#signing-secret").textContent())!;
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  await page.getByRole("button", { name: "Copy secret" }).click();
  await page.getByText("Copied to the clipboard.").waitFor();
  expect(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText())).toBe(secret);
  await checkAccessibility(page, "secret");
  await screenshot(page, "signing-secret");

  // The webhook as the API sees it: file.ingested only, the description given.
  const [hook] = (await stack.api("GET", `/tenants/${tenant}/webhooks`)).body.items;
  expect(hook).toMatchObject({ url: endpoint.url, eventTypes: ["file.ingested"], description: "Files into our archive", enabled: true });

  await page.getByRole("link", { name: "Open the webhook" }).click();
  await page.getByRole("heading", { level: 1, name: /^Webhook / }).waitFor();
  await page.getByText("No deliveries yet — send a test event.").waitFor();
  await page.getByLabel("Test event type").selectOption("file.ingested");
  await page.getByRole("button", { name: "Send test event" }).click();
  await page.getByText(/^Test event file\.ingested sent/).waitFor();
  const logRows = page.getByRole("table", { name: "Deliveries, newest first" }).getByRole("row");
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.filter({ hasText: "succeeded" }).filter({ hasText: "HTTP 200" }));
  // The secret copied from the page verifies what the endpoint received.
  await endpoint.waitFor(1);
  const got = endpoint.requests[0];
  expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({ type: "file.ingested", tenantId: tenant });

  // The endpoint goes down: a published event fails every attempt (3 with schedule 1s,1s), each with its error.
  await endpoint.stop();
  const downId = await publish(tenant, { name: "down.pdf" }, "evt_portal_down_1");
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.filter({ hasText: "failed" }));
  await checkAccessibility(page, "webhook with log");
  await screenshot(page, "webhook-logs");
  await logRows.filter({ hasText: "failed" }).getByRole("link").click();
  await page.getByRole("heading", { name: /^Delivery dlv_/ }).waitFor();
  const attempts = page.getByRole("table", { name: "Attempts" }).getByRole("row");
  await attempts.nth(3).waitFor();
  await expect(attempts.count()).resolves.toBe(4); // header + 3 attempts
  for (let i = 1; i <= 3; i++) await attempts.nth(i).getByText("connection_refused: the endpoint refused the connection").waitFor();
  await page.getByRole("link", { name: downId }).waitFor();
  await checkAccessibility(page, "delivery");
  await screenshot(page, "delivery-failed");

  // Back up: Retry sends it again, and it succeeds.
  await endpoint.restart();
  await page.getByRole("button", { name: "Retry" }).click();
  const retried = (await page
    .getByText(/^Sent again as/)
    .getByRole("link")
    .textContent())!;
  await page.getByRole("link", { name: "← Webhook" }).click();
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.filter({ hasText: retried }).filter({ hasText: "HTTP 200" }));
  expect(endpoint.requests.map((r) => r.headers["webhook-id"])).toContain(downId);

  // Down again for three events; Recover failed since → all three delivered.
  await endpoint.stop();
  const since = Date.now() - 1_000;
  const outage = [await publish(tenant, { n: 1 }), await publish(tenant, { n: 2 }), await publish(tenant, { n: 3 })];
  await page.getByLabel("Status").selectOption("failed");
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.nth(4)); // header + 4 failed (1 old, 3 new)
  await endpoint.restart();
  const before = endpoint.requests.length;
  await page.getByLabel("Recover failed since").fill(localInput(since));
  await page.getByRole("button", { name: "Recover failed deliveries" }).click();
  await page.getByText("3 failed deliveries sent again.").waitFor();
  await endpoint.waitFor(before + 3);
  expect(
    endpoint.requests
      .slice(before)
      .map((r) => r.headers["webhook-id"])
      .sort(),
  ).toEqual([...outage].sort());
  await page.getByLabel("Status").selectOption("succeeded");
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.nth(5)); // header + test + retry + 3 recovered

  // Find an event by id across every webhook.
  await page.getByRole("link", { name: "Find an event" }).click();
  await page.getByLabel("Event id").fill(downId);
  await page.getByRole("button", { name: "Find event" }).click();
  await page.getByRole("heading", { name: `Event ${downId}` }).waitFor();
  await page.getByLabel("Event data").getByText('"name": "down.pdf"').waitFor();
  await page.getByRole("table", { name: "Deliveries of this event" }).getByText("connection_refused: the endpoint refused the connection").waitFor();
  await checkAccessibility(page, "event");
  await screenshot(page, "find-event");

  await page.getByRole("link", { name: "Event catalogue" }).click();
  await page.getByRole("heading", { name: "ai.insight.generated" }).waitFor();
  await checkAccessibility(page, "catalogue");
  await screenshot(page, "event-catalogue");

  await page.getByRole("link", { name: "Webhooks", exact: true }).click();
  await page.getByRole("link", { name: endpoint.url }).waitFor();
  await page
    .getByRole("row")
    .filter({ hasText: endpoint.url })
    .getByText(/% of the last \d+/)
    .waitFor();
  await checkAccessibility(page, "webhooks");
  await screenshot(page, "webhooks");
}, 180_000);

test("XSS: a receiver answering HTML and script, a description and event data holding them: nothing runs, the text shows as text", async () => {
  const tenant = "acct_portal_xss";
  const IMG = `<img src=x onerror="globalThis.__xss='img'">`;
  const SCRIPT = `<script>globalThis.__xss='script'</script>`;
  const evil = await receiver(
    new TestReceiver((i) => ({ kind: "status", status: i === 0 ? 500 : 200, headers: { "content-type": "text/html" }, body: i === 0 ? IMG : SCRIPT })),
  );
  const created = await stack.api("POST", `/tenants/${tenant}/webhooks`, { url: evil.url, eventTypes: ["*"], description: `${IMG}${SCRIPT}` });
  expect(created.status).toBe(201);
  const eventId = await publish(tenant, { name: IMG, note: SCRIPT });
  await stack.waitForDeliveries(tenant, created.body.id, (items) => items.length === 1 && items[0].status === "succeeded");

  const page = await portal(tenant);
  const noScriptRan = async () => {
    expect(await page.evaluate(() => (globalThis as any).__xss)).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(1); // the app's own bundle
  };
  await page.getByRole("cell", { name: `${IMG}${SCRIPT}` }).waitFor();
  await noScriptRan();
  await page.getByRole("link", { name: evil.url }).click();
  await page.getByText(`${IMG}${SCRIPT}`).waitFor();
  await page.getByRole("table", { name: "Deliveries, newest first" }).getByRole("link").first().click();
  const attempts = page.getByRole("table", { name: "Attempts" });
  await attempts.getByText(IMG).waitFor();
  await attempts.getByText(SCRIPT).waitFor();
  await noScriptRan();
  await checkAccessibility(page, "delivery with HTML excerpts");
  await page.getByRole("link", { name: eventId }).click();
  await page.getByLabel("Event data").getByText(JSON.stringify(IMG).slice(1, -1), { exact: false }).waitFor();
  await noScriptRan();
});

test("read-only session: sees webhooks, logs and attempts, has no control that changes anything, and the API answers 403 to every write", async () => {
  const tenant = "acct_portal_ro";
  const endpoint = await receiver();
  const hook = await stack.createWebhook(tenant, endpoint.url, ["record.*"]);
  await stack.api("POST", "/events", { type: "record.created", tenantId: tenant, data: { recordId: "rec_ro" } });
  const [delivery] = await stack.waitForDeliveries(tenant, hook.id, (items) => items.length === 1 && items[0].status === "succeeded");

  const { url, token } = await mint(tenant, { readOnly: true });
  const watched = await openPage(browser, url);
  pages.push(watched);
  const page = watched.page;
  await page.getByText("Read-only access").waitFor();
  await page.getByRole("link", { name: endpoint.url }).waitFor();
  expect(await page.getByRole("link", { name: "Create webhook" }).count()).toBe(0);
  await checkAccessibility(page, "read-only webhooks");
  await page.getByRole("link", { name: endpoint.url }).click();
  await page.getByRole("link", { name: delivery.id }).waitFor();
  await screenshot(page, "read-only");
  for (const name of ["Edit webhook", "Disable webhook", "Send test event", "Rotate secret", "Delete webhook", "Recover failed deliveries"]) {
    expect({ name, count: await page.getByRole("button", { name }).count() }).toEqual({ name, count: 0 });
  }
  await page.getByRole("link", { name: delivery.id }).click();
  await page.getByRole("table", { name: "Attempts" }).getByText("200").first().waitFor();
  expect(await page.getByRole("button", { name: "Retry" }).count()).toBe(0);
  await checkAccessibility(page, "read-only delivery");

  // The API itself refuses every write of a read-only session, and serves every read.
  const base = `/portal/api/tenants/${tenant}/webhooks`;
  const writes: [string, string, unknown][] = [
    ["POST", base, { url: endpoint.url, eventTypes: ["*"] }],
    ["PATCH", `${base}/${hook.id}`, { enabled: false }],
    ["DELETE", `${base}/${hook.id}`, undefined],
    ["POST", `${base}/${hook.id}/rotate-secret`, {}],
    ["POST", `${base}/${hook.id}/test`, {}],
    ["POST", `${base}/${hook.id}/deliveries/${delivery.id}/retry`, undefined],
    ["POST", `${base}/${hook.id}/replay`, { since: "2026-01-01T00:00:00Z" }],
  ];
  for (const [method, path, body] of writes) {
    const res = await stack.api(method, path, body, token);
    expect({ method, path, status: res.status, code: res.body.error.code }).toEqual({ method, path, status: 403, code: "read_only_session" });
  }
  expect((await stack.api("GET", `${base}/${hook.id}`, undefined, token)).body).toMatchObject({ id: hook.id, enabled: true });
  expect((await stack.api("GET", base, undefined, token)).body.items).toHaveLength(1);
  expect(endpoint.requests).toHaveLength(1);
});

test("expired, revoked, forged or missing session: a clear 'session expired' page", async () => {
  const tenant = "acct_portal_expiry";
  const expectSessionExpired = async (page: Page) => {
    await page.getByRole("heading", { name: "Your session has expired" }).waitFor();
    await page.getByText("Open the webhooks portal again from RecordsKeeper.AI").waitFor();
  };
  expectedConsole = [/status of 401/];

  // Revoked while open: the next call lands on the page.
  const open = await portal(tenant);
  await open.getByRole("heading", { name: "Webhooks" }).waitFor();
  expect((await stack.api("DELETE", `/tenants/${tenant}/portal-sessions`)).status).toBe(204);
  // The search's call meets the revoked session; any call the page made first (a refresh) may have
  // met it already, and then the page is gone before the search, or before this click (the link is
  // detached: a click would wait for it for ever): either way, the same page.
  await open
    .getByRole("link", { name: "Find an event" })
    .click({ timeout: 5_000 })
    .catch(() => undefined);
  const expired = open.getByRole("heading", { name: "Your session has expired" });
  const search = open.getByRole("button", { name: "Find event" });
  await expired.or(search).first().waitFor();
  if (await search.isVisible()) {
    // If the page turns to the expired one meanwhile, the form is gone: the outcome below is what counts.
    await open
      .getByLabel("Event id")
      .fill("evt_anything", { timeout: 5_000 })
      .then(() => search.click({ timeout: 5_000 }))
      .catch(() => undefined);
  }
  await expectSessionExpired(open);
  await checkAccessibility(open, "session expired");
  await screenshot(open, "session-expired");
  // The token is gone from the tab: a reload does not bring the portal back.
  await open.reload();
  await expectSessionExpired(open);

  // Expired: a session whose time is over, stored as the service stores it.
  const expiredToken = `rkps_${"A".repeat(43)}`;
  const store = new DynamoPortalSessionStore(documentClient(stack.stack.config.dynamodb), stack.stack.config.tables.portalSessions);
  await store.put(hashToken(expiredToken), {
    tenantId: tenant,
    readOnly: false,
    expiresAtMs: Date.now() - 1_000,
    generation: await store.generation(tenant),
    createdAt: new Date().toISOString(),
  });
  expect((await stack.api("GET", "/portal/api/session", undefined, expiredToken)).body.error.code).toBe("session_expired");
  for (const url of [`${stack.apiUrl}/portal#token=${expiredToken}`, `${stack.apiUrl}/portal#token=rkps_${"B".repeat(43)}`, `${stack.apiUrl}/portal`]) {
    const watched = await openPage(browser, url);
    pages.push(watched);
    await expectSessionExpired(watched.page);
  }
});

test("tenant A's session never shows or reaches tenant B's data, by any URL", async () => {
  const endpoint = await receiver();
  const b = await stack.createWebhook("acct_portal_b", endpoint.url, ["*"]);
  const eventB = await publish("acct_portal_b", { name: "secret-b.pdf" });
  const [deliveryB] = await stack.waitForDeliveries("acct_portal_b", b.id, (items) => items.length === 1 && items[0].status === "succeeded");
  const { url, token } = await mint("acct_portal_a");
  expectedConsole = [/status of 404/];

  const watched = await openPage(browser, url);
  pages.push(watched);
  const page = watched.page;
  await page.getByText("No webhooks yet.", { exact: false }).waitFor();
  for (const hash of [`#/webhooks/${b.id}`, `#/webhooks/${b.id}/deliveries/${deliveryB.id}`, `#/events/${eventB}`]) {
    await page.evaluate((h) => ((globalThis as any).location.hash = h), hash);
    await page
      .getByRole("alert")
      .getByText(/not found/)
      .waitFor();
    expect(await page.getByText(endpoint.url).count()).toBe(0);
    expect(await page.getByText("secret-b.pdf").count()).toBe(0);
  }

  // The API: B's tenant in the path is refused; B's ids under A's tenant are not found; IAM routes want the API token.
  const refusals: [string, number, string][] = [
    [`/portal/api/tenants/acct_portal_b/webhooks`, 403, "tenant_mismatch"],
    [`/portal/api/tenants/acct_portal_b/webhooks/${b.id}`, 403, "tenant_mismatch"],
    [`/portal/api/tenants/acct_portal_b/events/${eventB}`, 403, "tenant_mismatch"],
    [`/portal/api/tenants/acct_portal_a/webhooks/${b.id}`, 404, "not_found"],
    [`/portal/api/tenants/acct_portal_a/webhooks/${b.id}/deliveries/${deliveryB.id}`, 404, "not_found"],
    [`/portal/api/tenants/acct_portal_a/events/${eventB}`, 404, "not_found"],
    [`/tenants/acct_portal_b/webhooks`, 401, "unauthorized"],
    [`/tenants/acct_portal_a/webhooks`, 401, "unauthorized"],
  ];
  for (const [path, status, code] of refusals) {
    const res = await stack.api("GET", path, undefined, token);
    expect({ path, status: res.status, code: res.body.error.code }).toEqual({ path, status, code });
  }
  expect((await stack.api("PATCH", `/portal/api/tenants/acct_portal_b/webhooks/${b.id}`, { enabled: false }, token)).status).toBe(403);
  expect((await stack.api("GET", `/tenants/acct_portal_b/webhooks/${b.id}`)).body.enabled).toBe(true);
});

test("keyboard only: create a webhook, copy its secret, send a test event, open the delivery and retry it", async () => {
  const tenant = "acct_portal_keys";
  const endpoint = await receiver();
  const page = await portal(tenant);
  await page.getByRole("heading", { name: "Webhooks" }).waitFor();

  await tabTo(page, page.getByRole("link", { name: "Create webhook" }));
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByLabel("Endpoint URL"));
  await page.keyboard.type(endpoint.url);
  await tabTo(page, page.getByRole("checkbox", { name: "sync.completed", exact: true }));
  await page.keyboard.press("Space");
  await tabTo(page, page.getByRole("button", { name: "Create webhook" }));
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Signing secret" }).waitFor();
  await tabTo(page, page.getByRole("button", { name: "Copy secret" }));
  await page.keyboard.press("Enter");
  await page.getByText("Copied to the clipboard.").waitFor();
  await tabTo(page, page.getByRole("link", { name: "Open the webhook" }));
  await page.keyboard.press("Enter");

  await tabTo(page, page.getByRole("button", { name: "Send test event" }));
  await page.keyboard.press("Enter");
  await page.getByText(/^Test event sync\.completed sent/).waitFor();
  const rows = page.getByRole("table", { name: "Deliveries, newest first" }).getByRole("row");
  const refresh = page.getByRole("button", { name: "Refresh" });
  for (const deadline = Date.now() + 45_000; !(await rows.filter({ hasText: "HTTP 200" }).count()); ) {
    if (Date.now() > deadline) throw new Error("the test delivery never succeeded");
    await tabTo(page, refresh);
    await page.keyboard.press("Enter");
    await rows
      .filter({ hasText: "HTTP 200" })
      .waitFor({ timeout: 1_000 })
      .catch(() => {});
  }
  await tabTo(page, rows.nth(1).getByRole("link"));
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("button", { name: "Retry" }));
  await page.keyboard.press("Enter");
  await page.getByText(/^Sent again as/).waitFor();
  await endpoint.waitFor(2);
  expect(endpoint.requests.map((r) => JSON.parse(r.body).type)).toEqual(["sync.completed", "sync.completed"]);
});

test("one webhook: edit, disable and enable, rotate with a grace, pages of the log, delete", async () => {
  const tenant = "acct_portal_manage";
  const endpoint = await receiver();
  const hook = await stack.createWebhook(tenant, endpoint.url, ["record.created"]);
  const page = await portal(tenant);
  await page.getByRole("link", { name: endpoint.url }).click();
  await page.getByRole("heading", { level: 1, name: /^Webhook / }).waitFor();

  await page.getByRole("button", { name: "Edit webhook" }).click();
  await page.getByLabel("Description (optional)").fill("Records to the CRM");
  await page.getByRole("checkbox", { name: "Every record event (record.*)" }).check();
  await page.getByRole("checkbox", { name: "record.created", exact: true }).uncheck();
  await checkAccessibility(page, "edit webhook");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByText("Changes saved.").waitFor();
  expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}`)).body).toMatchObject({
    description: "Records to the CRM",
    eventTypes: ["record.*"],
  });

  // The endpoint guard answers through the page exactly as through the API.
  await page.getByRole("button", { name: "Edit webhook" }).click();
  await page.getByLabel("Endpoint URL").fill("ftp://files.example.com/hooks");
  expectedConsole = [/status of 400/];
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.getByRole("alert").getByText("url: url must use http or https").waitFor();
  await page.getByRole("button", { name: "Cancel" }).click();

  await page.getByRole("button", { name: "Disable webhook" }).click();
  await page.getByText("Webhook disabled.").waitFor();
  expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}`)).body.enabled).toBe(false);
  await page.getByRole("button", { name: "Enable webhook" }).click();
  await page.getByText("Webhook enabled.").waitFor();
  expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}`)).body.enabled).toBe(true);

  await page.getByLabel("Grace period for the old secret (hours)").fill("2");
  await page.getByRole("button", { name: "Rotate secret" }).click();
  await page.getByRole("heading", { name: "New signing secret" }).waitFor();
  await page.getByText(/^The previous secret keeps signing too until/).waitFor();
  const secret = (await page.locator("#signing-secret").textContent())!;
  // Both secrets sign during the grace: the old one and the one shown.
  await page.getByLabel("Test event type").selectOption("record.updated");
  await page.getByRole("button", { name: "Send test event" }).click();
  await endpoint.waitFor(1);
  const got = endpoint.requests[0];
  expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({ type: "record.updated" });
  expect(new Webhook(hook.secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({ type: "record.updated" });

  // 21 more deliveries: two pages of 20.
  for (let i = 0; i < 20; i++) await stack.api("POST", "/events", { type: "record.created", tenantId: tenant, data: { recordId: `rec_${i}` } });
  await stack.waitForDeliveries(tenant, hook.id, (items) => items.length === 21 && items.every((d) => d.status === "succeeded"));
  await page.getByRole("button", { name: "Refresh" }).click();
  const rows = page.getByRole("table", { name: "Deliveries, newest first" }).getByRole("row");
  await page.getByRole("button", { name: "Next page" }).click();
  await page.getByRole("button", { name: "Previous page" }).waitFor();
  await rows.nth(1).getByText("record.updated").waitFor(); // the oldest, alone on page 2
  await expect(rows.count()).resolves.toBe(2);
  await page.getByRole("button", { name: "Previous page" }).click();
  await rows.nth(20).waitFor();

  await page.getByRole("button", { name: "Delete webhook" }).click();
  await page.getByRole("button", { name: "Yes, delete this webhook" }).click();
  await page.getByRole("heading", { name: "Webhooks" }).waitFor();
  await page.getByText("No webhooks yet.", { exact: false }).waitFor();
  expect((await stack.api("GET", `/tenants/${tenant}/webhooks/${hook.id}`)).status).toBe(404);
});

test("framing: refused by default; allowed for the origins WEBHOOKS_PORTAL_FRAME_ANCESTORS lists", async () => {
  const { createServer } = await import("node:http");
  let portalUrl = "";
  const host = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><title>Core app</title><iframe title="Webhooks" src="${portalUrl}" allow="clipboard-write"></iframe>`);
  });
  await new Promise<void>((r) => host.listen(0, "127.0.0.1", () => r()));
  const origin = `http://127.0.0.1:${(host.address() as { port: number }).port}`;
  const allowing = await startTestStack({ portalFrameAncestors: origin });
  try {
    expectedConsole = [/violates the following Content Security Policy directive: "frame-ancestors 'none'"/];
    portalUrl = (await mint("acct_portal_frame")).url;
    const refused = await openPage(browser, origin);
    pages.push(refused);
    for (const deadline = Date.now() + 10_000; !refused.errors.some((e) => e.includes("frame-ancestors 'none'")); ) {
      if (Date.now() > deadline) throw new Error(`the frame was not refused: ${refused.errors.join("; ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const blocked = refused.page.frames().find((f) => f !== refused.page.mainFrame())!;
    await expect(blocked.locator("h1").count()).resolves.toBe(0);

    const session = await allowing.api("POST", "/tenants/acct_portal_frame/portal-sessions", {});
    portalUrl = session.body.url;
    const framed = await openPage(browser, origin);
    pages.push(framed);
    await framed.page.frameLocator("iframe").getByRole("heading", { name: "Webhooks" }).waitFor();
    const header = (await fetch(`${allowing.apiUrl}/portal`)).headers.get("content-security-policy");
    expect(header).toContain(`frame-ancestors ${origin}`);
  } finally {
    await allowing.stop();
    await new Promise((r) => host.close(r));
  }
});
