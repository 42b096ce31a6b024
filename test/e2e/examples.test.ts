import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jest } from "@jest/globals";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { Webhook } from "standardwebhooks";
import { WebhooksClient } from "recordskeeper-webhooks/client";
import { Outbox, publishBatch, publishOne } from "../../examples/core-app-publisher/publisher.ts";
import { createHandler } from "../../examples/lambda-receiver/handler.ts";
import { createReceiver } from "../../examples/node-receiver/server.ts";
import { auditRecordUpdated } from "../../examples/recipes/audit-record-updated.ts";
import { eltSyncCompleted } from "../../examples/recipes/elt-sync-completed.ts";
import { jiraAiInsight } from "../../examples/recipes/jira-ai-insight.ts";
import { slackFileIngested } from "../../examples/recipes/slack-file-ingested.ts";
import type { DeliveryContext, WebhookEvent } from "../../examples/shared/webhooks.ts";
import { runTs } from "../support/child.ts";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The examples against the real pipeline: an in-memory local stack delivers signed events to the
 * example Node receiver, which verifies them with `standardwebhooks`, dedupes on `webhook-id` and
 * runs every recipe. Slack, Jira, Airflow, Power BI and the audit service are local HTTP servers
 * that record what the recipes send them. The Lambda receiver is invoked with a real delivery
 * captured off the wire.
 */
const TENANT = "acct_examples";
const LAMBDA_TENANT = "acct_examples_lambda";

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in for a third-party API: records every request and answers `status` with `body`. */
class FakeService {
  readonly requests: Recorded[] = [];
  private server?: Server;

  constructor(
    private readonly status: number,
    private readonly body = "",
  ) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.requests.push({ method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(this.status, { "content-type": "application/json" }).end(this.body);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server!.close(() => r()));
  }
}

let stack: TestStack;
let receiver: Server;
let receiverUrl: string;
let webhook: { id: string; secret: string };
const slack = new FakeService(200, "ok");
const jira = new FakeService(201, '{"id":"10001","key":"RK-1","self":"https://example.atlassian.net/rest/api/3/issue/10001"}');
const airflow = new FakeService(200, '{"dag_run_id":"x","state":"queued"}');
const powerBi = new FakeService(202);
const audit = new FakeService(204);

/** Every call of the receiver's handler, and the ids whose recipes have all finished. */
const handled: { event: WebhookEvent; ctx: DeliveryContext }[] = [];
const finished = new Set<string>();
const handlerErrors: unknown[] = [];

const SLACK_PATH = "/services/T000/B000/XXXXXXXX";

beforeAll(async () => {
  stack = await startTestStack();
  await Promise.all([slack.start(), jira.start(), airflow.start(), powerBi.start(), audit.start()]);

  const recipes = [
    slackFileIngested({ webhookUrl: `${slack.url}${SLACK_PATH}` }),
    jiraAiInsight({
      baseUrl: jira.url,
      email: "bot@example.com",
      apiToken: "jira-token",
      projectKey: "RK",
      recordLink: (id) => `https://app.recordskeeper.ai/records/${id}`,
    }),
    eltSyncCompleted({
      airflow: { baseUrl: airflow.url, dagId: "load_recordskeeper", username: "airflow-user", password: "airflow-pass" },
      powerBi: { apiBase: powerBi.url, groupId: "grp-1", datasetId: "ds-1", accessToken: "pbi-token" },
    }),
    auditRecordUpdated({ url: `${audit.url}/ingest`, bearerToken: "audit-token" }),
  ];

  // The secret comes with the webhook, the webhook needs the receiver's URL: create it with a
  // placeholder URL, start the receiver, then point the webhook at it.
  webhook = await stack.createWebhook(TENANT, "http://127.0.0.1:9/placeholder", ["*"]);
  receiver = createReceiver({
    secret: webhook.secret,
    onEvent: async (event, ctx) => {
      handled.push({ event, ctx });
      try {
        for (const recipe of recipes) await recipe(event, ctx);
      } finally {
        finished.add(event.id);
      }
    },
    onError: (err) => handlerErrors.push(err),
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks`;
  const patched = await stack.api("PATCH", `/tenants/${TENANT}/webhooks/${webhook.id}`, { url: receiverUrl });
  expect(patched.status).toBe(200);
});

afterAll(async () => {
  await new Promise((r) => receiver?.close(r));
  await Promise.all([slack, jira, airflow, powerBi, audit].map((f) => f.stop()));
  await stack?.stop();
});

afterEach(() => expect(handlerErrors).toEqual([]));

async function publish(tenantId: string, id: string, type: string, data: Record<string, unknown>): Promise<void> {
  const res = await stack.api("POST", "/events", { id, type, tenantId, data });
  expect(res).toEqual({ status: 202, body: { id, deliveries: 1 } });
}

async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Publishes an event to the Node receiver's tenant and waits until its recipes have run. */
async function publishAndHandle(id: string, type: string, data: Record<string, unknown>): Promise<void> {
  await publish(TENANT, id, type, data);
  await until(`${id} to be handled`, () => finished.has(id));
}

const handledFor = (id: string) => handled.filter((h) => h.event.id === id);
const json = (r: Recorded) => JSON.parse(r.body);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

describe("node receiver", () => {
  test("verifies a real delivery, handles it once, and answers a replay of the same event 2xx without handling it again", async () => {
    const id = "evt_ex_dedupe";
    await publishAndHandle(id, "record.created", { recordId: "rec_ex_1", title: "Lease agreement" });
    const [first] = await stack.waitForDeliveries(TENANT, webhook.id, (items) => items.some((d) => d.eventId === id && d.status === "succeeded"));

    const retried = await stack.api("POST", `/tenants/${TENANT}/webhooks/${webhook.id}/deliveries/${first.id}/retry`);
    expect(retried.status).toBe(202);
    const both = (
      await stack.waitForDeliveries(TENANT, webhook.id, (items) => items.filter((d) => d.eventId === id && d.status === "succeeded").length === 2)
    ).filter((d) => d.eventId === id);

    const original = both.find((d) => d.replayOf === null)!;
    const replay = both.find((d) => d.replayOf === original.id)!;
    expect(original.lastAttempt).toMatchObject({ statusCode: 200, responseExcerpt: '{"received":true}' });
    expect(replay.lastAttempt).toMatchObject({ statusCode: 200, responseExcerpt: '{"received":true,"duplicate":true}' });

    expect(handledFor(id)).toHaveLength(1);
    const [{ event, ctx }] = handledFor(id);
    expect(event).toEqual({
      id,
      type: "record.created",
      tenantId: TENANT,
      timestamp: expect.any(String),
      data: { recordId: "rec_ex_1", title: "Lease agreement" },
    });
    expect(ctx.headers["webhook-id"]).toBe(id);
    expect(JSON.parse(ctx.rawBody)).toEqual(event);
  });

  test("refuses with 401, and does not handle, a request whose signature does not verify", async () => {
    const body = JSON.stringify({
      id: "evt_ex_forged",
      type: "record.created",
      timestamp: new Date().toISOString(),
      tenantId: TENANT,
      data: { recordId: "rec_x" },
    });
    const now = new Date();
    const sign = (secret: string, id: string, at: Date, payload: string) => new Webhook(secret).sign(id, at, payload);
    const headers = (id: string, at: Date, signature: string) => ({
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": signature,
    });
    const otherSecret = `whsec_${randomBytes(32).toString("base64")}`;
    const tenMinutesAgo = new Date(now.getTime() - 600_000);
    const post = (h: Record<string, string>, payload = body) =>
      fetch(receiverUrl, { method: "POST", headers: { "content-type": "application/json", ...h }, body: payload });

    const refused = {
      "another secret": await post(headers("evt_ex_forged", now, sign(otherSecret, "evt_ex_forged", now, body))),
      "a tampered body": await post(headers("evt_ex_forged", now, sign(webhook.secret, "evt_ex_forged", now, body)), body.replace("rec_x", "rec_y")),
      "another webhook-id": await post(headers("evt_ex_forged", now, sign(webhook.secret, "evt_other", now, body))),
      "a timestamp 10 minutes old": await post(headers("evt_ex_forged", tenMinutesAgo, sign(webhook.secret, "evt_ex_forged", tenMinutesAgo, body))),
      "no signature header": await post({ "webhook-id": "evt_ex_forged", "webhook-timestamp": String(Math.floor(now.getTime() / 1000)) }),
    };
    for (const [why, res] of Object.entries(refused)) {
      expect([why, res.status, await res.json()]).toEqual([why, 401, { error: "invalid signature" }]);
    }

    // The control: the same request signed with the right secret is accepted and handled.
    const accepted = await post(headers("evt_ex_forged", now, sign(webhook.secret, "evt_ex_forged", now, body)));
    expect(accepted.status).toBe(200);
    await until("the control request to be handled", () => finished.has("evt_ex_forged"));
    expect(handledFor("evt_ex_forged")).toHaveLength(1);
  });
});

describe("lambda receiver", () => {
  let lambdaHook: { id: string; secret: string };
  let capture: TestReceiver;
  let delivery: { headers: IncomingHttpHeaders; body: string };

  /** A function URL invocation (payload format 2.0) carrying the captured request. */
  function functionUrlEvent(body: string, isBase64Encoded: boolean): APIGatewayProxyEventV2 {
    const headers = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]));
    return {
      version: "2.0",
      routeKey: "$default",
      rawPath: "/",
      rawQueryString: "",
      headers,
      requestContext: {
        accountId: "anonymous",
        apiId: "abcdefghij",
        domainName: "abcdefghij.lambda-url.eu-west-1.on.aws",
        domainPrefix: "abcdefghij",
        http: { method: "POST", path: "/", protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: headers["user-agent"] ?? "" },
        requestId: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        routeKey: "$default",
        stage: "$default",
        time: "26/Nov/2026:10:00:00 +0000",
        timeEpoch: Date.now(),
      },
      body,
      isBase64Encoded,
    };
  }

  beforeAll(async () => {
    capture = await new TestReceiver().start();
    lambdaHook = await stack.createWebhook(LAMBDA_TENANT, capture.url, ["record.created"]);
    await publish(LAMBDA_TENANT, "evt_ex_lambda", "record.created", { recordId: "rec_ex_lambda", title: "Müller & Söhne — Vertrag" });
    await capture.waitFor(1);
    delivery = capture.requests[0];
  });

  afterAll(() => capture.stop());

  const handlerRecording = () => {
    const events: WebhookEvent[] = [];
    return { events, handler: createHandler({ secret: lambdaHook.secret, onEvent: async (e) => void events.push(e) }) };
  };
  const expectedEvent = () => ({
    id: "evt_ex_lambda",
    type: "record.created",
    tenantId: LAMBDA_TENANT,
    timestamp: expect.any(String),
    data: { recordId: "rec_ex_lambda", title: "Müller & Söhne — Vertrag" },
  });

  test("verifies a real delivery, handles it, and answers a second copy as a duplicate", async () => {
    const { events, handler } = handlerRecording();
    expect(await handler(functionUrlEvent(delivery.body, false))).toMatchObject({ statusCode: 200, body: '{"received":true}' });
    expect(await handler(functionUrlEvent(delivery.body, false))).toMatchObject({ statusCode: 200, body: '{"received":true,"duplicate":true}' });
    expect(events).toEqual([expectedEvent()]);
  });

  test("decodes a base64-encoded body before verifying it", async () => {
    const { events, handler } = handlerRecording();
    const encoded = Buffer.from(delivery.body, "utf8").toString("base64");
    expect(await handler(functionUrlEvent(encoded, true))).toMatchObject({ statusCode: 200, body: '{"received":true}' });
    expect(events).toEqual([expectedEvent()]);
  });

  test("refuses a tampered body with 401 and handles nothing", async () => {
    const { events, handler } = handlerRecording();
    expect(await handler(functionUrlEvent(delivery.body.replace("rec_ex_lambda", "rec_ex_other"), false))).toMatchObject({ statusCode: 401 });
    expect(events).toEqual([]);
  });

  test("answers 500 when the handler fails, and handles the sender's retry of that event", async () => {
    const events: WebhookEvent[] = [];
    let calls = 0;
    const handler = createHandler({
      secret: lambdaHook.secret,
      onEvent: async (e) => {
        if (++calls === 1) throw new Error("downstream unavailable");
        events.push(e);
      },
    });
    const errors = jest.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect(await handler(functionUrlEvent(delivery.body, false))).toMatchObject({ statusCode: 500 });
      expect(errors).toHaveBeenCalledTimes(1);
    } finally {
      errors.mockRestore();
    }
    expect(await handler(functionUrlEvent(delivery.body, false))).toMatchObject({ statusCode: 200, body: '{"received":true}' });
    expect(events).toEqual([expectedEvent()]);
  });
});

describe("recipes, plugged into the node receiver", () => {
  test("file.ingested → a Slack incoming-webhook message naming the file and linking to it", async () => {
    const url = "https://app.recordskeeper.ai/files/fil_ex_1";
    await publishAndHandle("evt_ex_file", "file.ingested", { fileId: "fil_ex_1", name: "invoice-2026-11.pdf", sizeBytes: 482_113, url });

    expect(slack.requests).toHaveLength(1);
    const [req] = slack.requests;
    expect([req.method, req.path, req.headers["content-type"]]).toEqual(["POST", SLACK_PATH, "application/json"]);
    const message = json(req);
    expect(message.text).toBe(`File ingested: invoice-2026-11.pdf ${url}`);
    expect(message.blocks[0]).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: `:page_facing_up: *File ingested:* <${url}|invoice-2026-11.pdf>\n470.8 KiB · file \`fil_ex_1\`` },
    });
    expect(message.blocks[1].elements[0].text).toContain(`account ${TENANT}`);
  });

  test("ai.insight.generated → a Jira issue with project, summary, ADF description, labels and a priority from the severity", async () => {
    const summary = "Retention period ends in 30 days but the record is under legal hold.";
    await publishAndHandle("evt_ex_insight", "ai.insight.generated", { insightId: "ins_ex_1", recordId: "rec_ex_2", summary, severity: "high" });

    expect(jira.requests).toHaveLength(1);
    const [req] = jira.requests;
    expect([req.method, req.path, req.headers.authorization, req.headers["content-type"]]).toEqual([
      "POST",
      "/rest/api/3/issue",
      basic("bot@example.com", "jira-token"),
      "application/json",
    ]);
    const { fields } = json(req);
    expect(fields.project).toEqual({ key: "RK" });
    expect(fields.issuetype).toEqual({ name: "Task" });
    expect(fields.summary).toBe(`AI insight (high): ${summary}`);
    expect(fields.priority).toEqual({ name: "High" });
    expect(fields.labels).toEqual(["recordskeeper", "ai-insight", "severity-high"]);
    expect(fields.description).toMatchObject({ type: "doc", version: 1 });
    expect(fields.description.content[0]).toEqual({ type: "paragraph", content: [{ type: "text", text: summary }] });
    const record = fields.description.content[1].content[1].content[0].content;
    expect(record).toEqual([
      { type: "text", text: "Record: ", marks: [{ type: "strong" }] },
      { type: "text", text: "rec_ex_2", marks: [{ type: "link", attrs: { href: "https://app.recordskeeper.ai/records/rec_ex_2" } }] },
    ]);
  });

  test("sync.completed → an Airflow DAG run whose conf carries the sync, then a Power BI dataset refresh", async () => {
    await publishAndHandle("evt_ex_sync", "sync.completed", { syncId: "syn_ex_1", source: "sharepoint", recordsSynced: 1_204 });

    expect(airflow.requests).toHaveLength(1);
    const [run] = airflow.requests;
    expect([run.method, run.path, run.headers.authorization]).toEqual([
      "POST",
      "/api/v1/dags/load_recordskeeper/dagRuns",
      basic("airflow-user", "airflow-pass"),
    ]);
    const { dag_run_id, conf } = json(run);
    expect(dag_run_id).toBe("recordskeeper__evt_ex_sync");
    expect(conf).toEqual({
      eventId: "evt_ex_sync",
      tenantId: TENANT,
      syncId: "syn_ex_1",
      source: "sharepoint",
      recordsSynced: 1_204,
      completedAt: handledFor("evt_ex_sync")[0].event.timestamp,
    });

    expect(powerBi.requests).toHaveLength(1);
    const [refresh] = powerBi.requests;
    expect([refresh.method, refresh.path, refresh.headers.authorization]).toEqual([
      "POST",
      "/v1.0/myorg/groups/grp-1/datasets/ds-1/refreshes",
      "Bearer pbi-token",
    ]);
    expect(json(refresh)).toEqual({ notifyOption: "NoNotification" });
  });

  test("a sensitive record.updated → the original signed body and headers forwarded unchanged to the audit service; others are not", async () => {
    await publishAndHandle("evt_ex_plain", "record.updated", { recordId: "rec_ex_3", changes: ["title"], sensitive: false });
    await publishAndHandle("evt_ex_unmarked", "record.updated", { recordId: "rec_ex_3", changes: ["title"] });
    await publishAndHandle("evt_ex_sensitive", "record.updated", { recordId: "rec_ex_3", changes: ["retentionClass"], sensitive: true });

    expect(audit.requests).toHaveLength(1);
    const [req] = audit.requests;
    const { ctx } = handledFor("evt_ex_sensitive")[0];
    expect([req.method, req.path, req.headers.authorization, req.headers["content-type"]]).toEqual([
      "POST",
      "/ingest",
      "Bearer audit-token",
      "application/json",
    ]);
    expect(req.body).toBe(ctx.rawBody);
    for (const name of ["webhook-id", "webhook-timestamp", "webhook-signature"]) expect([name, req.headers[name]]).toEqual([name, ctx.headers[name]]);

    // The audit service verifies the forwarded request itself, with the endpoint's secret.
    const verified = new Webhook(webhook.secret).verify(req.body, req.headers as Record<string, string>);
    expect(verified).toMatchObject({ id: "evt_ex_sensitive", type: "record.updated", data: { sensitive: true } });
  });

  test("the audit recipe forwards the body byte for byte, also when re-serialising it would change it", async () => {
    // Signed by the test with the endpoint's secret: spacing and key order that JSON.stringify would not reproduce.
    const body = `{\n  "type": "record.updated", "id": "evt_ex_pretty",\n  "tenantId": "${TENANT}", "timestamp": "2026-11-26T10:00:00.000Z",\n  "data": { "sensitive": true, "recordId": "rec_ex_4", "note": "caf\\u00e9 1.50" }\n}`;
    const now = new Date();
    const headers = {
      "content-type": "application/json",
      "webhook-id": "evt_ex_pretty",
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": new Webhook(webhook.secret).sign("evt_ex_pretty", now, body),
    };
    const before = audit.requests.length;
    expect((await fetch(receiverUrl, { method: "POST", headers, body })).status).toBe(200);
    await until("the pretty-printed event to be handled", () => finished.has("evt_ex_pretty"));

    expect(audit.requests).toHaveLength(before + 1);
    const forwarded = audit.requests[before];
    expect(forwarded.body).toBe(body);
    expect(forwarded.headers["webhook-signature"]).toBe(headers["webhook-signature"]);
    expect(new Webhook(webhook.secret).verify(forwarded.body, forwarded.headers as Record<string, string>)).toMatchObject({ id: "evt_ex_pretty" });
  });
});

describe("core-app publisher", () => {
  const PUBLISHER_TENANT = "acct_examples_publisher";
  let publisherStack: TestStack;
  let stateDir: string;
  let capture: TestReceiver;
  let client: WebhooksClient;
  const quiet = () => jest.spyOn(console, "log").mockImplementation(() => {});

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "rk-examples-publisher-"));
    publisherStack = await startTestStack({ stateDir });
    capture = await new TestReceiver().start();
    await publisherStack.createWebhook(PUBLISHER_TENANT, capture.url, ["*"]);
    client = WebhooksClient.fromLocalStack({ stateDir });
  });

  afterAll(async () => {
    await publisherStack?.stop();
    await capture?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test("one event and a batch arrive once each; a refused event in a batch is reported with its field", async () => {
    const log = quiet();
    try {
      const id = await publishOne(client, PUBLISHER_TENANT);
      const batch = await publishBatch(client, PUBLISHER_TENANT, ["rec_p1", "rec_p2", "rec_p3"]);
      expect(batch.map((r) => r.ok)).toEqual([true, true, true]);
      await capture.waitFor(4);
      const ids = capture.requests.map((r) => r.headers["webhook-id"]);
      expect(ids.sort()).toEqual([id, ...batch.map((r) => r.id)].sort());
      expect(log.mock.calls.map((c) => c[0])).toEqual([`published file.ingested ${id} → 1 delivery`, "published 3 of 3 record.created events"]);

      const refused = await publishBatch(client, PUBLISHER_TENANT, ["rec_p4", ""]);
      expect(refused.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["batch_refused", "validation_failed"]);
      expect(log.mock.calls.at(-1)![0]).toMatch(/^ {2}not published evt_\S+: validation_failed: data\.recordId: /);
    } finally {
      log.mockRestore();
    }
  });

  test("the outbox keeps an event whose call timed out and publishes it later with the same id: delivered once", async () => {
    const log = quiet();
    try {
      const before = capture.requests.length;
      const outbox = new Outbox();
      const id = outbox.add({ type: "record.updated", tenantId: PUBLISHER_TENANT, data: { recordId: "rec_p1", changes: ["owner"] } });
      // A client whose every try is abandoned at once: the call fails, retryable, and the event stays.
      const impatient = WebhooksClient.fromLocalStack({ stateDir, timeoutMs: 1, retry: { maxAttempts: 1 } });
      expect(await outbox.flush(impatient)).toEqual({ published: [], kept: [id], dropped: [] });
      expect(outbox.pending).toEqual([id]);
      expect(await outbox.flush(client)).toEqual({ published: [id], kept: [], dropped: [] });
      expect(outbox.pending).toEqual([]);
      await capture.waitFor(before + 1);
      const hook = (await publisherStack.api("GET", `/tenants/${PUBLISHER_TENANT}/webhooks`)).body.items[0].id;
      const settled = await publisherStack.waitForDeliveries(PUBLISHER_TENANT, hook, (items) =>
        items.some((d) => d.eventId === id && d.status === "succeeded"),
      );
      expect(settled.filter((d) => d.eventId === id)).toHaveLength(1);
      expect(capture.requests.filter((r) => r.headers["webhook-id"] === id)).toHaveLength(1);

      // An event the API refuses is dropped, not retried forever.
      const bad = outbox.add({ type: "record.updated", tenantId: PUBLISHER_TENANT, data: {} } as never);
      expect(await outbox.flush(client)).toEqual({ published: [], kept: [], dropped: [bad] });
    } finally {
      log.mockRestore();
    }
  });

  test("run as a script against a running local stack (its state dir), it exits 0", async () => {
    const { code, stdout, stderr } = await runTs(["examples/core-app-publisher/publisher.ts", PUBLISHER_TENANT], {
      cwd: join(import.meta.dirname, "..", ".."),
      env: { ...process.env, WEBHOOKS_STATE_DIR: stateDir },
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^published file\.ingested evt_\S+ → 1 delivery$/);
    expect(lines[1]).toBe("published 3 of 3 record.created events");
    expect(lines.at(-1)).toMatch(/^outbox: published evt_outbox_\S+; 0 pending$/);
  });
});
