import { ROUTES } from "#core/routes.ts";
import { CLIENT_ROUTES, WebhooksClient } from "../../client/index.ts";
import { OpenApiValidator } from "../support/openapi.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The client against the contract, docs/openapi.yaml: every route of the document has a client
 * method and the client names no route outside it (a route added to the document or to
 * lambdas/core/routes.ts without a method fails here, by name); then every method is called for real
 * against the local stack, and each request it sends and each answer it parses must be the route it
 * names and validate against the document's schemas.
 */
const api = new OpenApiValidator();
/** The core app's routes: not the portal's page and session-authorised API, which its browser page calls. */
const browserOnly = new Set(ROUTES.filter((r) => r.auth !== undefined).map((r) => r.routeKey));
const documented = api.operations.filter((o) => !o.localOnly && !browserOnly.has(o.key));
type Method = keyof typeof CLIENT_ROUTES;

test("every route of docs/openapi.yaml (and of routes.ts) has a client method, and every method's route is documented", () => {
  const inDocument = new Set(documented.map((o) => o.key));
  const inClient = new Set<string>(Object.values(CLIENT_ROUTES));
  const missing = [...inDocument].filter((k) => !inClient.has(k));
  const undocumented = [...inClient].filter((k) => !inDocument.has(k));
  expect({ "routes without a client method (add one to client/client.ts and CLIENT_ROUTES)": missing }).toEqual({
    "routes without a client method (add one to client/client.ts and CLIENT_ROUTES)": [],
  });
  expect({ "client routes not in docs/openapi.yaml": undocumented }).toEqual({ "client routes not in docs/openapi.yaml": [] });
  expect(new Set(ROUTES.filter((r) => r.auth === undefined).map((r) => r.routeKey))).toEqual(inDocument);
  for (const name of Object.keys(CLIENT_ROUTES)) expect([name, typeof (WebhooksClient.prototype as any)[name]]).toEqual([name, "function"]);
});

describe("each method against the local stack", () => {
  let stack: TestStack;
  let receiver: TestReceiver;
  /** What the client sent and got, through its fetch. */
  let exchanges: { method: string; path: string; body?: string; status: number; answer?: unknown }[] = [];
  let client: WebhooksClient;

  const recordingFetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const res = await fetch(input, init);
    const text = await res.clone().text();
    exchanges.push({
      method: init?.method ?? "GET",
      path: url.pathname,
      body: init?.body as string | undefined,
      status: res.status,
      answer: text ? JSON.parse(text) : undefined,
    });
    return res;
  };

  const tenant = "acct_contract";
  /** What the methods that read or act on existing things need, made through the stack's own client (not recorded). */
  const fixture = { webhookId: "", deliveryId: "", eventId: "" };

  beforeAll(async () => {
    stack = await startTestStack({ schedule: "" });
    receiver = await new TestReceiver().start();
    client = new WebhooksClient({ apiUrl: stack.apiUrl, token: stack.stack.token, fetch: recordingFetch });
    // A webhook with one succeeded delivery: each method's test below runs alone too (`-t`).
    fixture.webhookId = (await stack.createWebhook(tenant, receiver.url, ["record.*"])).id;
    const published = await stack.api("POST", "/events", { type: "record.created", tenantId: tenant, data: { recordId: "rec_0" } });
    expect(published.status).toBe(202);
    fixture.eventId = published.body.id;
    const [delivered] = await stack.waitForDeliveries(tenant, fixture.webhookId, (items) => items.length === 1 && items[0].status === "succeeded");
    fixture.deliveryId = delivered.id;
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  /** One call per method; each needs only the fixture, or makes what it changes for good (the webhook it deletes). */
  const scenarios: Record<Method, () => Promise<unknown>> = {
    eventTypes: () => client.eventTypes(),
    createWebhook: async () => (await client.createWebhook(tenant, { url: receiver.url, eventTypes: ["record.*"], description: "contract" })).id,
    listWebhooks: () => client.listWebhooks(tenant, { limit: 1 }),
    getWebhook: () => client.getWebhook(tenant, fixture.webhookId),
    updateWebhook: () =>
      client.updateWebhook(tenant, fixture.webhookId, { description: null, eventTypes: ["record.*", "file.ingested"], paused: false, rateLimit: 100 }),
    publish: () =>
      client.publish({
        type: "record.created",
        tenantId: tenant,
        occurredAt: new Date("2026-11-26T10:00:00Z"),
        data: { recordId: "rec_1" },
      }),
    publishMany: () =>
      client.publishMany([
        { type: "file.ingested", tenantId: tenant, data: { fileId: "fil_1", sizeBytes: 3 } },
        { type: "record.updated", tenantId: tenant, data: { recordId: "rec_1" } },
      ]),
    sendTest: () => client.sendTest(tenant, fixture.webhookId, { type: "record.created" }),
    listDeliveries: () => client.listDeliveries(tenant, fixture.webhookId, { status: "succeeded", limit: 2 }),
    getDelivery: () => client.getDelivery(tenant, fixture.webhookId, fixture.deliveryId),
    retryDelivery: () => client.retryDelivery(tenant, fixture.webhookId, fixture.deliveryId),
    replay: () => client.replay(tenant, fixture.webhookId, { since: new Date(Date.now() - 3_600_000), status: "succeeded" }),
    rotateSecret: () => client.rotateSecret(tenant, fixture.webhookId, { graceSeconds: 60 }),
    getEvent: () => client.getEvent(tenant, fixture.eventId),
    createPortalSession: () => client.createPortalSession(tenant, { expiresInSeconds: 600, readOnly: true }),
    revokePortalSessions: () => client.revokePortalSessions(tenant),
    dlqDepth: () => client.dlqDepth(),
    queues: () => client.queues(),
    redrive: () => client.redrive(),
    deleteWebhook: async () => {
      // Its own webhook, made through the stack's client (not recorded): the fixture stays for the others.
      const { id } = await stack.createWebhook(tenant, receiver.url, ["sync.*"]);
      return client.deleteWebhook(tenant, id);
    },
  };

  test("there is a scenario for every method", () => {
    expect(Object.keys(scenarios).sort()).toEqual(Object.keys(CLIENT_ROUTES).sort());
  });

  test.each(Object.keys(scenarios) as Method[])("%s sends its route's request and parses a documented answer", async (name) => {
    exchanges = [];
    const route = CLIENT_ROUTES[name];
    const [method, template] = route.split(" ");
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, "[^/]+")}$`);
    const result = await scenarios[name]();
    // Only the client's calls are recorded (the stack's own client, used by deleteWebhook's scenario, is not).
    expect(exchanges.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const x of exchanges) {
      if (x.method !== method || !pattern.test(x.path)) problems.push(`${name} called ${x.method} ${x.path}, not ${route}`);
      problems.push(...api.checkRequest(method, template, x.body === undefined ? undefined : JSON.parse(x.body)));
      problems.push(...api.checkResponse(method, template, x.status, x.answer));
      if (x.status >= 300) problems.push(`${route} answered ${x.status}: ${JSON.stringify(x.answer)}`);
    }
    expect(problems).toEqual([]);
    // What the method resolves to is what the API answered (unwrapped where the method unwraps it).
    const last = exchanges[exchanges.length - 1].answer as any;
    const expected: Partial<Record<Method, unknown>> = {
      eventTypes: last?.eventTypes,
      createWebhook: last?.id,
      publishMany: last?.events?.map((e: object) => ({ ok: true, ...e })),
      deleteWebhook: undefined,
      revokePortalSessions: undefined,
    };
    expect(result).toEqual(name in expected ? expected[name] : last);
  });

  test("the async iterators follow the cursor over every page", async () => {
    const other = "acct_contract_pages";
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.unshift((await client.createWebhook(other, { url: receiver.url, eventTypes: ["sync.completed"] })).id);
    exchanges = [];
    const seen: string[] = [];
    for await (const w of client.webhooks(other)) seen.push(w.id);
    expect(seen).toEqual(ids);

    await client.publishMany(Array.from({ length: 5 }, (_, i) => ({ type: "sync.completed" as const, tenantId: other, data: { syncId: `syn_${i}` } })));
    await stack.waitForDeliveries(other, ids[0], (items) => items.length === 5 && items.every((d) => d.status === "succeeded"));
    exchanges = [];
    const deliveries: string[] = [];
    for await (const d of client.deliveries(other, ids[0], { pageSize: 2 })) deliveries.push(d.id);
    expect(deliveries).toHaveLength(5);
    expect([...deliveries].sort().reverse()).toEqual(deliveries);
    // Pages of 2, 2, 1: three calls, each answer documented.
    expect(exchanges.map((x) => [x.status, (x.answer as any).items.length])).toEqual([
      [200, 2],
      [200, 2],
      [200, 1],
    ]);
    for (const x of exchanges) expect(api.checkResponse("GET", "/tenants/{tenantId}/webhooks/{webhookId}/deliveries", x.status, x.answer)).toEqual([]);
  });
});

test("API answers end with a newline, so that a shell prompt does not stick to them", async () => {
  const stack = await startTestStack();
  try {
    const answered = await fetch(`${stack.apiUrl}/event-types`, { headers: { authorization: `Bearer ${stack.stack.token}` } });
    const refused = await fetch(`${stack.apiUrl}/admin/dlq`);
    const texts = [await answered.text(), await refused.text()];
    expect([answered.status, refused.status]).toEqual([200, 401]);
    for (const text of texts) expect([text.endsWith("}\n"), text.indexOf("\n")]).toEqual([true, text.length - 1]);
  } finally {
    await stack.stop();
  }
});
