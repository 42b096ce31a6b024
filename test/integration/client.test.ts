import { INGEST } from "#core/settings.ts";
import { WebhooksClient, WebhooksError, type PublishEvent } from "../../client/index.ts";
import { FaultyProxy, type ProxyAction } from "../support/proxy.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The core app's client against the local stack and real receivers, through a loopback proxy that
 * records every request (with its arrival time) and misbehaves on cue: a lost answer, a 429 with
 * Retry-After, a 503 that never ends. Waits are on conditions, never fixed sleeps.
 */
let stack: TestStack;
const logs: string[] = [];
const proxies: FaultyProxy[] = [];
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  stack = await startTestStack({ logLevel: "info", logSink: (line) => logs.push(line) });
});

afterAll(async () => {
  await Promise.all([...proxies.map((p) => p.stop()), ...receivers.map((r) => r.stop())]);
  await stack.stop();
});

async function proxy(plan?: (n: number) => ProxyAction): Promise<FaultyProxy> {
  const p = await new FaultyProxy(stack.apiUrl, plan).start();
  proxies.push(p);
  return p;
}

async function receiver(): Promise<TestReceiver> {
  const r = await new TestReceiver().start();
  receivers.push(r);
  return r;
}

/** A client through `p`, with short backoffs so that the tests run fast. */
const clientVia = (p: FaultyProxy, retry = {}) => new WebhooksClient({ apiUrl: p.url, token: stack.stack.token, retry: { baseDelayMs: 20, ...retry } });

const bodyOf = (r: { body: string }) => JSON.parse(r.body);

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("the answer to the first try is lost: the retry carries the same id, and the event is delivered exactly once", async () => {
  const tenant = "acct_client_lost";
  const r = await receiver();
  const hook = await stack.createWebhook(tenant, r.url, ["record.created"]);
  const p = await proxy((n) => (n === 1 ? "drop-response" : "forward"));

  const accepted = await clientVia(p).publish({ type: "record.created", tenantId: tenant, data: { recordId: "rec_1", title: "Lease" } });

  expect(accepted).toEqual({ id: expect.stringMatching(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/), deliveries: 1 });
  expect(p.requests).toHaveLength(2);
  // The first try reached the API and was accepted; only its answer was lost.
  expect(p.requests.map((q) => q.upstreamStatus)).toEqual([202, 202]);
  expect(p.requests.map((q) => bodyOf(q).id)).toEqual([accepted.id, accepted.id]);
  // The retry's recovery copy of the fan-out has gone through the worker and been dropped.
  await until("the recovery copy to be dropped", () => logs.some((l) => l.includes("duplicate from an ingest retry dropped") && l.includes(accepted.id)));
  const items = await stack.waitForDeliveries(tenant, hook.id, (d) => d.length === 1 && d[0].status === "succeeded");
  expect(items.map((d) => [d.eventId, d.attemptCount])).toEqual([[accepted.id, 1]]);
  expect(r.requests.map((q) => q.headers["webhook-id"])).toEqual([accepted.id]);
});

test("a 429 with Retry-After: 1 is retried no sooner than 1 s later", async () => {
  const p = await proxy((n) => (n === 1 ? { status: 429, headers: { "retry-after": "1" }, body: '{"message":"Too Many Requests"}' } : "forward"));
  const accepted = await clientVia(p).publish({ type: "file.ingested", tenantId: "acct_client_429", id: "evt_client_429", data: { fileId: "fil_1" } });
  expect(accepted).toEqual({ id: "evt_client_429", deliveries: 0 });
  expect(p.requests).toHaveLength(2);
  expect(p.requests[1].at - p.requests[0].at).toBeGreaterThanOrEqual(1_000);
  expect(p.requests.map((q) => bodyOf(q).id)).toEqual(["evt_client_429", "evt_client_429"]);
});

test("a batch of 250 events is three calls of at most 100, all accepted, each event with its own result", async () => {
  const p = await proxy();
  const events: PublishEvent[] = Array.from({ length: 250 }, (_, i) => ({
    type: "record.created",
    tenantId: "acct_client_batch",
    data: { recordId: `rec_${i}` },
  }));
  const results = await clientVia(p).publishMany(events);

  expect(p.requests.map((q) => [q.method, q.path, bodyOf(q).events.length, q.upstreamStatus])).toEqual([
    ["POST", "/events", 100, 202],
    ["POST", "/events", 100, 202],
    ["POST", "/events", 50, 202],
  ]);
  expect(results).toHaveLength(250);
  expect(results.every((x) => x.ok && x.deliveries === 0)).toBe(true);
  const sent = p.requests.flatMap((q) => bodyOf(q).events.map((e: { id: string }) => e.id));
  expect(results.map((x) => x.id)).toEqual(sent);
  expect(new Set(sent).size).toBe(250);
});

test("a batch is split at the request size limit too", async () => {
  const p = await proxy();
  // 200 KiB of data each: five of them fit in 1 MiB, six do not.
  const big = "x".repeat(200 * 1024);
  const events: PublishEvent[] = Array.from({ length: 12 }, (_, i) => ({
    type: "record.created",
    tenantId: "acct_client_big",
    data: { recordId: `rec_${i}`, title: "t", note: big },
  }));
  const results = await clientVia(p).publishMany(events);
  expect(results.filter((x) => x.ok)).toHaveLength(12);
  expect(p.requests.map((q) => bodyOf(q).events.length)).toEqual([5, 5, 2]);
  for (const q of p.requests) expect(Buffer.byteLength(q.body)).toBeLessThanOrEqual(INGEST.maxRequestBytes);
});

test("a 400 is an error naming the field, and is not retried", async () => {
  const p = await proxy();
  const bad = { type: "record.created", tenantId: "acct_client_400", data: { title: "no record id" } } as unknown as PublishEvent;
  const err: WebhooksError = await clientVia(p)
    .publish(bad)
    .catch((e) => e);
  expect(err).toBeInstanceOf(WebhooksError);
  expect([err.status, err.code, err.message, err.details, err.attempts, err.retryable]).toEqual([
    400,
    "validation_failed",
    "data.recordId: is required: the record id",
    [{ field: "data.recordId", message: "is required: the record id" }],
    1,
    false,
  ]);
  expect(p.requests).toHaveLength(1);
});

test("in a batch, the bad event's result names its field; the rest of its call is refused with it, other calls go through", async () => {
  const p = await proxy();
  const events = Array.from({ length: 120 }, (_, i) => ({
    type: "record.created",
    tenantId: "acct_client_mixed",
    data: i === 103 ? { title: "x" } : { recordId: `rec_${i}` },
  })) as PublishEvent[];
  const results = await clientVia(p).publishMany(events);
  expect(p.requests.map((q) => q.upstreamStatus)).toEqual([202, 400]);
  expect(results.slice(0, 100).every((x) => x.ok)).toBe(true);
  const failed = results[103];
  expect(failed.ok).toBe(false);
  if (failed.ok) return;
  expect([failed.error.code, failed.error.details]).toEqual(["validation_failed", [{ field: "data.recordId", message: "is required: the record id" }]]);
  const others = results.slice(100).filter((_, i) => i !== 3);
  expect(others.every((x) => !x.ok && x.error.code === "batch_refused" && x.error.status === 400)).toBe(true);
});

test("a 503 that does not end: retried with backoff until the deadline, then an error with the request id", async () => {
  const p = await proxy(() => ({ status: 503, headers: { "apigw-requestid": "Zq1HfhB-oAMEV3A=" }, body: '{"message":"Service Unavailable"}' }));
  const started = Date.now();
  // A 4 s deadline: backoffs of 50–100, 100–200, 200–400, 400–800 ms leave room for at least three
  // tries even when each round trip takes a second on a loaded machine.
  const err: WebhooksError = await clientVia(p, { deadlineMs: 4_000, baseDelayMs: 100 })
    .publish({ type: "sync.completed", tenantId: "acct_client_503", data: { syncId: "syn_1" } })
    .catch((e) => e);
  // It gives up instead of waiting past the deadline (with room for a loaded machine).
  expect(Date.now() - started).toBeLessThan(4_000 + 3_000);
  expect([err.status, err.code, err.message, err.requestId, err.retryable]).toEqual([503, "http_503", "Service Unavailable", "Zq1HfhB-oAMEV3A=", true]);
  expect(err.attempts).toBe(p.requests.length);
  expect(p.requests.length).toBeGreaterThanOrEqual(3);
  // One id throughout, and each wait at least as long as the one before it, give or take its jitter.
  expect(new Set(p.requests.map((q) => bodyOf(q).id)).size).toBe(1);
  const gaps = p.requests.slice(1).map((q, i) => q.at - p.requests[i].at);
  expect(gaps[0]).toBeGreaterThanOrEqual(50);
});

test("a call that would act twice (create a webhook) is not retried after a 5xx, but is after a 429", async () => {
  const failing = await proxy(() => ({ status: 502, body: '{"message":"Bad Gateway"}' }));
  const err: WebhooksError = await clientVia(failing)
    .createWebhook("acct_client_once", { url: "http://127.0.0.1:9/", eventTypes: ["*"] })
    .catch((e) => e);
  expect([err.status, err.attempts]).toEqual([502, 1]);
  expect(failing.requests).toHaveLength(1);

  const throttled = await proxy((n) => (n === 1 ? { status: 429, body: '{"message":"Too Many Requests"}' } : "forward"));
  const created = await clientVia(throttled).createWebhook("acct_client_once", { url: "http://127.0.0.1:9/", eventTypes: ["*"] });
  expect(created.secret).toMatch(/^whsec_/);
  expect(throttled.requests.map((q) => q.upstreamStatus)).toEqual([undefined, 201]);
});

test("a stopped API is a network_error at once; no region and no token is a config error", async () => {
  const p = await proxy();
  const url = p.url;
  await p.stop();
  proxies.splice(proxies.indexOf(p), 1);
  const err: WebhooksError = await new WebhooksClient({ apiUrl: url, token: "t", retry: { maxAttempts: 1 } }).dlqDepth().catch((e) => e);
  expect([err.code, err.status, err.retryable]).toEqual(["network_error", undefined, true]);
  expect(err.message).toMatch(new RegExp(`^cannot reach ${url}: .*ECONNREFUSED`));

  const saved = [process.env.AWS_REGION, process.env.AWS_DEFAULT_REGION];
  delete process.env.AWS_REGION;
  delete process.env.AWS_DEFAULT_REGION;
  try {
    expect(() => new WebhooksClient({ apiUrl: "https://webhooks.example.com/" })).toThrow(
      "region is missing: webhooks.example.com names none; pass the region option or set AWS_REGION (or pass token for the local stack)",
    );
  } finally {
    if (saved[0] !== undefined) process.env.AWS_REGION = saved[0];
    if (saved[1] !== undefined) process.env.AWS_DEFAULT_REGION = saved[1];
  }
});
