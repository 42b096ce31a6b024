import { Webhook } from "standardwebhooks";
import type { Browser, Page } from "playwright-core";
import { DynamoPortalSessionStore } from "#core/adapters/portal-sessions.ts";
import { documentClient } from "#core/adapters/dynamodb.ts";
import { hashToken } from "#core/portal.ts";
import { checkAccessibility, launchBrowser, openPage, refreshUntil, screenshot, tabTo, type WatchedPage } from "../support/browser.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The tenant portal in real Chromium (design §6a, issue 11), against a local stack (the λ apps on
 * fauxqs + dynalite) and real HTTP receivers on 127.0.0.1. Driven by visible labels and roles, as a
 * person does it. Every screen is checked with axe-core and photographed into docs/portal/; any
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
  [stack, browser] = await Promise.all([startTestStack({ schedule: "1s,1s" }), launchBrowser()]);
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

test("set-up flow: create a webhook for file.ingested, copy the secret, send a test event, see failures, Retry, Recover failed since", async () => {
  const tenant = "acct_portal_setup";
  const endpoint = await receiver();
  const port = Number(new URL(endpoint.url).port);
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
  await endpoint.start(port);
  await page.getByRole("button", { name: "Retry" }).click();
  const retried = (await page.getByText(/^Sent again as/).getByRole("link").textContent())!;
  await page.getByRole("link", { name: "← Webhook" }).click();
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.filter({ hasText: retried }).filter({ hasText: "HTTP 200" }));
  expect(endpoint.requests.map((r) => r.headers["webhook-id"])).toContain(downId);

  // Down again for three events; Recover failed since → all three delivered.
  await endpoint.stop();
  const since = Date.now() - 1_000;
  const outage = [await publish(tenant, { n: 1 }), await publish(tenant, { n: 2 }), await publish(tenant, { n: 3 })];
  await page.getByLabel("Status").selectOption("failed");
  await refreshUntil(page.getByRole("button", { name: "Refresh" }), logRows.nth(4)); // header + 4 failed (1 old, 3 new)
  await endpoint.start(port);
  const before = endpoint.requests.length;
  await page.getByLabel("Recover failed since").fill(localInput(since));
  await page.getByRole("button", { name: "Recover failed deliveries" }).click();
  await page.getByText("3 failed deliveries sent again.").waitFor();
  await endpoint.waitFor(before + 3);
  expect(endpoint.requests.slice(before).map((r) => r.headers["webhook-id"]).sort()).toEqual([...outage].sort());
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
  await page.getByRole("row").filter({ hasText: endpoint.url }).getByText(/% of the last \d+/).waitFor();
  await checkAccessibility(page, "webhooks");
  await screenshot(page, "webhooks");
});
