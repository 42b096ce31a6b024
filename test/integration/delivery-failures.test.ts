import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { Webhook } from "standardwebhooks";
import { documentClient, DynamoDeliveryLog } from "#adapters/dynamodb.ts";
import { TestReceiver, type Received } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * Fault injection against the real pipeline: the deliver λ's app on the local event source,
 * fauxqs + dynalite through the AWS SDK, and real HTTP endpoints on 127.0.0.1 that fail in every
 * way a customer's endpoint does. Schedules are short ("1s,1s" = 3 attempts); counts are exact.
 */
const TENANT = "acct_faults";
let stack: TestStack;
const receivers: TestReceiver[] = [];

async function receiver(behaviour?: ConstructorParameters<typeof TestReceiver>[0]): Promise<TestReceiver> {
  const r = await new TestReceiver(behaviour).start();
  receivers.push(r);
  return r;
}

async function publish(type = "record.created", data: Record<string, unknown> = { recordId: "rec_1" }, id?: string) {
  const res = await stack.api("POST", "/events", { id, type, tenantId: TENANT, data });
  expect(res.status).toBe(202);
  return res.body as { id: string; deliveries: number };
}

function verify(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, {
    "webhook-id": String(r.headers["webhook-id"]),
    "webhook-timestamp": String(r.headers["webhook-timestamp"]),
    "webhook-signature": String(r.headers["webhook-signature"]),
  });
}

const settled = (items: any[]) => items.length > 0 && items.every((d) => d.status !== "pending");

beforeAll(async () => {
  // The retry schedule is the subject here: the circuit breaker (test/integration/endpoint-health.test.ts) must not open first.
  stack = await startTestStack({ schedule: "1s,1s", attemptTimeoutMs: 1_000, health: { breakerThreshold: 1_000 } });
});

afterAll(async () => {
  await stack.stop();
  await Promise.all(receivers.map((r) => r.stop()));
});

test("500, 500, then 200: three attempts, one delivery, the same webhook-id every time, each attempt signed", async () => {
  const r = await receiver((i) => ({ kind: "status", status: i < 2 ? 500 : 200, body: i < 2 ? "down" : "ok" }));
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  const { id } = await publish();
  const [d] = await stack.waitForDeliveries(TENANT, hook.id, settled);

  expect(r.requests).toHaveLength(3);
  expect(r.requests.map((q) => q.headers["webhook-id"])).toEqual([id, id, id]);
  for (const q of r.requests) expect(verify(hook.secret, q)).toMatchObject({ id, type: "record.created" });
  const full = await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}/deliveries/${d.id}`);
  expect(full.body.status).toBe("succeeded");
  expect(full.body.attempts.map((a: any) => [a.n, a.statusCode, a.responseExcerpt])).toEqual([
    [1, 500, "down"],
    [2, 500, "down"],
    [3, 200, "ok"],
  ]);
  expect(full.body.attempts[0].error).toBe("http_error: HTTP 500");
  expect(full.body.attempts[2].error).toBeNull();
});

test("always 500: exactly schedule + 1 attempts, then the DLQ; redrive delivers it once with a fresh schedule", async () => {
  const r = await receiver(() => ({ kind: "status", status: 500 }));
  const hook = await stack.createWebhook(TENANT, r.url, ["sync.completed"]);
  await publish("sync.completed", { syncId: "syn_1" });
  const [failed] = await stack.waitForDeliveries(TENANT, hook.id, settled);
  expect(failed).toMatchObject({ status: "failed", attemptCount: 3, reason: "retry schedule exhausted" });
  expect(r.requests).toHaveLength(3);
  expect((await stack.api("GET", "/admin/dlq")).body).toEqual({ visible: 1, inFlight: 0 });

  r.respondWith(() => ({ kind: "status", status: 204 }));
  expect(await stack.api("POST", "/admin/redrive")).toEqual({ status: 202, body: { moved: 1 } });
  const [redriven] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.status === "succeeded");
  expect(redriven).toMatchObject({ id: failed.id, attemptCount: 4, lastAttempt: { n: 4, statusCode: 204 } });
  expect(r.requests).toHaveLength(4);
  expect((await stack.api("GET", "/admin/dlq")).body).toEqual({ visible: 0, inFlight: 0 });
});

test("a redriven delivery that keeps failing gets the whole schedule again, then returns to the DLQ", async () => {
  const r = await receiver(() => ({ kind: "status", status: 503 }));
  const hook = await stack.createWebhook(TENANT, r.url, ["file.ingested"]);
  await publish("file.ingested", { fileId: "fil_9" });
  await stack.waitForDeliveries(TENANT, hook.id, settled);
  expect(r.requests).toHaveLength(3);
  expect((await stack.api("POST", "/admin/redrive")).body).toEqual({ moved: 1 });
  const [again] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.attemptCount === 6 && items[0].status === "failed");
  expect(again.lastAttempt.n).toBe(6);
  expect(r.requests).toHaveLength(6);
  expect((await stack.api("GET", "/admin/dlq")).body.visible).toBe(1);
  await stack.api("POST", "/admin/redrive"); // leave the DLQ empty for the other tests
  r.respondWith(() => ({ kind: "status", status: 200 }));
  await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.status === "succeeded");
});

describe("what counts as a failed attempt", () => {
  const cases: [string, Parameters<TestReceiver["respondWith"]>[0], { statusCode: number | null; error: RegExp }][] = [
    ["a timeout (no answer)", () => ({ kind: "hang" }), { statusCode: null, error: /^timeout: no complete response within 1000 ms$/ }],
    ["a body that never ends", () => ({ kind: "slow-body", chunkEveryMs: 50 }), { statusCode: null, error: /^timeout:/ }],
    ["a connection reset", () => ({ kind: "reset" }), { statusCode: null, error: /^connection_reset:/ }],
    [
      "a redirect (not followed)",
      () => ({ kind: "status", status: 302, headers: { location: "http://127.0.0.1:9/elsewhere" } }),
      { statusCode: 302, error: /^redirect: HTTP 302/ },
    ],
    ["a 404", () => ({ kind: "status", status: 404, body: "x".repeat(10_000) }), { statusCode: 404, error: /^http_error: HTTP 404$/ }],
  ];

  test.each(cases)("%s", async (_name, behaviour, expected) => {
    const r = await receiver(behaviour);
    const hook = await stack.createWebhook(TENANT, r.url, ["record.updated"]);
    await stack.api("PATCH", `/tenants/${TENANT}/webhooks/${hook.id}`, { eventTypes: ["record.updated"] });
    await publish("record.updated", { recordId: "rec_2" });
    const [d] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.attemptCount >= 1);
    expect(d.lastAttempt.statusCode).toBe(expected.statusCode);
    expect(d.lastAttempt.error).toMatch(expected.error);
    if (expected.statusCode === 404) expect(d.lastAttempt.responseExcerpt).toHaveLength(4_096);
    await stack.api("DELETE", `/tenants/${TENANT}/webhooks/${hook.id}`); // stop its retries
  });

  test("a TLS error (a certificate nobody signed): no request is ever made", async () => {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], { keyType: "ec", algorithm: "sha256" });
    let requests = 0;
    const server = createHttpsServer({ key: pems.private, cert: pems.cert }, (_req, res) => {
      requests++;
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
      const hook = await stack.createWebhook(TENANT, url, ["sync.completed"]);
      await publish("sync.completed", { syncId: "syn_tls" });
      const [d] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.attemptCount >= 1);
      expect(d.lastAttempt).toMatchObject({ statusCode: null, error: "tls_error: DEPTH_ZERO_SELF_SIGNED_CERT" });
      expect(requests).toBe(0);
      await stack.api("DELETE", `/tenants/${TENANT}/webhooks/${hook.id}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  test("a refused connection", async () => {
    const r = await receiver();
    const url = r.url;
    await r.stop();
    const hook = await stack.createWebhook(TENANT, url, ["ai.insight.generated"]);
    await publish("ai.insight.generated", { insightId: "ins_1" });
    const [d] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.attemptCount >= 1);
    expect(d.lastAttempt).toMatchObject({ statusCode: null, error: "connection_refused: the endpoint refused the connection" });
    await stack.api("DELETE", `/tenants/${TENANT}/webhooks/${hook.id}`);
  });
});

test("410 Gone disables the subscription at once, with the reason, and later events are not sent to it", async () => {
  const r = await receiver(() => ({ kind: "status", status: 410 }));
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  const other = await receiver();
  const otherHook = await stack.createWebhook("acct_gone_other", other.url, ["record.created"]);
  await stack.api("POST", "/events", { type: "record.created", tenantId: "acct_gone_other", data: { recordId: "r" } });
  await publish();
  const [d] = await stack.waitForDeliveries(TENANT, hook.id, settled);
  expect(d).toMatchObject({ status: "failed", attemptCount: 1, reason: "endpoint answered 410 Gone" });
  const sub = await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}`);
  expect(sub.body).toMatchObject({ enabled: false, disabledReason: "the endpoint answered 410 Gone" });
  expect(r.requests).toHaveLength(1);
  await other.waitFor(1);
  expect((await stack.api("GET", `/tenants/acct_gone_other/webhooks/${otherHook.id}`)).body.enabled).toBe(true);

  // A later event for the same tenant and type is not sent to it: once every message in the queue has
  // been judged, the endpoint still saw one request and the webhook's log holds the first delivery only.
  await publish("record.created", { recordId: "rec_after_410" });
  await stack.waitForQueueDrained(30_000);
  expect(r.requests).toHaveLength(1);
  const log = await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}/deliveries`);
  expect(log.body.items.map((x: any) => x.id)).toEqual([d.id]);

  // Re-enabling is one PATCH.
  const patched = await stack.api("PATCH", `/tenants/${TENANT}/webhooks/${hook.id}`, { enabled: true });
  expect(patched.body).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null });
});

test("429 with Retry-After: the next attempt waits the asked time, clamped to twice the scheduled delay", async () => {
  const r = await receiver((i) => (i === 0 ? { kind: "status", status: 429, headers: { "retry-after": "30" } } : { kind: "status", status: 200 }));
  const hook = await stack.createWebhook(TENANT, r.url, ["sync.completed"]);
  await publish("sync.completed", { syncId: "syn_2" });
  const [pending] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.attemptCount === 1);
  // Scheduled 1 s, asked 30 s → clamped to 2 s (no jitter on a Retry-After delay).
  const waitMs = Date.parse(pending.nextAttemptAt) - Date.parse(pending.lastAttempt.at);
  // nextAttemptAt is taken after the failure's bookkeeping (a DynamoDB write: up to hundreds of ms on a
  // loaded machine), the attempt's `at` before it was sent; the exact, jitter-free 2 s is retry.test.ts's.
  expect(waitMs).toBeGreaterThanOrEqual(2_000);
  expect(waitMs).toBeLessThan(2_000 + pending.lastAttempt.durationMs + 1_000);
  const [done] = await stack.waitForDeliveries(TENANT, hook.id, settled);
  expect(done).toMatchObject({ status: "succeeded", attemptCount: 2 });
});

test("a slow endpoint does not hold back the fast ones of its batch", async () => {
  // The slow endpoint answers only after every fast one has received its request, and each fast one
  // only after the slow one has received its: attempts made one after another would wait on each
  // other until the 1 s attempt timeout and fail; made concurrently, all six succeed at once.
  const fastReached: Promise<void>[] = [];
  let slowReached!: () => void;
  const slowArrived = new Promise<void>((r) => (slowReached = r));
  const fast = await Promise.all(Array.from({ length: 5 }, () => receiver(() => ({ kind: "await", until: slowArrived }))));
  const slow = await receiver(() => {
    slowReached();
    return { kind: "await", until: Promise.all(fastReached) };
  });
  for (const f of fast) fastReached.push(f.waitFor(1));
  const hooks = [await stack.createWebhook("acct_batch", slow.url, ["record.created"])];
  for (const f of fast) hooks.push(await stack.createWebhook("acct_batch", f.url, ["record.created"]));
  await stack.api("POST", "/events", { type: "record.created", tenantId: "acct_batch", data: { recordId: "r" } });
  for (const hook of hooks) {
    const [d] = await stack.waitForDeliveries("acct_batch", hook.id, settled);
    expect(d).toMatchObject({ status: "succeeded", attemptCount: 1 });
  }
  expect([slow, ...fast].map((f) => f.requests.length)).toEqual([1, 1, 1, 1, 1, 1]);
});

/**
 * An endpoint whose first request is held open until `changed` settles, then answered 500: the change
 * (a disable, a delete) is made while the delivery's first attempt is in flight, so that the attempt
 * fails and leaves the delivery pending with its retry due 1 s later, which must find the change.
 * (Made after the attempt instead, the change would race that retry on a loaded machine.)
 */
function failingOnceChangedMeanwhile(): { changed: () => void; behaviour: ConstructorParameters<typeof TestReceiver>[0] } {
  let changed!: () => void;
  const done = new Promise<void>((resolve) => (changed = resolve));
  return { changed, behaviour: (i) => (i === 0 ? { kind: "await", until: done, status: 500 } : { kind: "status", status: 200 }) };
}

test("a disabled subscription's pending delivery is skipped, not sent", async () => {
  const endpoint = failingOnceChangedMeanwhile();
  const r = await receiver(endpoint.behaviour);
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  await publish();
  await r.waitFor(1);
  expect((await stack.api("PATCH", `/tenants/${TENANT}/webhooks/${hook.id}`, { enabled: false })).body.enabled).toBe(false);
  endpoint.changed();
  const [d] = await stack.waitForDeliveries(TENANT, hook.id, settled);
  expect(d).toMatchObject({ status: "skipped", attemptCount: 1, reason: "subscription is disabled" });
  expect(r.requests).toHaveLength(1);
});

test("a deleted subscription's pending delivery is skipped, not sent", async () => {
  const endpoint = failingOnceChangedMeanwhile();
  const r = await receiver(endpoint.behaviour);
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  await publish();
  await r.waitFor(1);
  expect((await stack.api("DELETE", `/tenants/${TENANT}/webhooks/${hook.id}`)).status).toBe(204);
  endpoint.changed();
  // The API no longer shows the webhook's log: read the record from the table.
  const { config } = stack.stack;
  const log = new DynamoDeliveryLog(documentClient(config.dynamodb), config.tables.deliveries);
  const deadline = Date.now() + 20_000;
  let items = (await log.list(TENANT, hook.id, { limit: 10 })).items;
  // No record yet (the first attempt's outcome not written) or pending: not judged yet.
  while (items[0] === undefined || items[0].status === "pending") {
    if (Date.now() > deadline) throw new Error(`the delivery was never judged: ${JSON.stringify(items)}`);
    await new Promise((res) => setTimeout(res, 100));
    items = (await log.list(TENANT, hook.id, { limit: 10 })).items;
  }
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({ status: "skipped", attemptCount: 1, reason: "subscription was deleted" });
  expect(r.requests).toHaveLength(1);
});

describe("auto-disable", () => {
  let short: TestStack;
  beforeAll(async () => {
    // Failing for 2 s stands in for the default 5 days.
    short = await startTestStack({ schedule: "1s,1s,1s,1s,1s", autoDisableAfterSeconds: 2, health: { breakerThreshold: 1_000 } });
  });
  afterAll(() => short.stop());

  test("an endpoint failing every attempt for the configured time is disabled with the reason; one PATCH brings it back", async () => {
    const r = await receiver(() => ({ kind: "status", status: 500 }));
    const hook = await short.createWebhook("acct_auto", r.url, ["record.created"]);
    await short.api("POST", "/events", { type: "record.created", tenantId: "acct_auto", data: { recordId: "r" } });
    const [d] = await short.waitForDeliveries("acct_auto", hook.id, (items) => items[0]?.status === "failed");
    expect(d.reason).toBe("subscription auto-disabled");
    const sub = (await short.api("GET", `/tenants/acct_auto/webhooks/${hook.id}`)).body;
    expect(sub.enabled).toBe(false);
    expect(sub.disabledReason).toMatch(/^every attempt failed for \d+(\.\d+)? days \(since 20\d\d-/);
    // The failing run began at the first attempt, and it stopped at the first attempt 2 s or more
    // after that one (each attempt's time is the time its outcome was judged at).
    const full = (await short.api("GET", `/tenants/acct_auto/webhooks/${hook.id}/deliveries/${d.id}`)).body;
    const since = Date.parse(full.attempts[0].at);
    expect(sub.disabledReason).toContain(`(since ${full.attempts[0].at})`);
    const elapsed = full.attempts.map((a: any) => Date.parse(a.at) - since);
    expect(elapsed.at(-1)).toBeGreaterThanOrEqual(2_000);
    for (const e of elapsed.slice(0, -1)) expect(e).toBeLessThan(2_000);
    expect(r.requests.length).toBe(d.attemptCount);
    expect(full.attempts).toHaveLength(d.attemptCount);

    r.respondWith(() => ({ kind: "status", status: 200 }));
    expect((await short.api("PATCH", `/tenants/acct_auto/webhooks/${hook.id}`, { enabled: true })).body).toMatchObject({ enabled: true, disabledReason: null });
    await short.api("POST", "/events", { type: "record.created", tenantId: "acct_auto", data: { recordId: "r2" } });
    const items = await short.waitForDeliveries("acct_auto", hook.id, (items) => items.some((x) => x.status === "succeeded"));
    expect(items.map((x) => x.status)).toEqual(["succeeded", "failed"]);
  });
});
