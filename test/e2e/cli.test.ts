import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { Webhook } from "standardwebhooks";
import { TestReceiver } from "../support/receiver.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";

/**
 * The operator CLI exactly as an operator runs it: `node bin/rk-webhooks.js … --state-dir DIR`
 * in a child process, against an in-memory local stack that wrote DIR/local-stack.json, with real
 * receivers. The stack makes a single attempt per delivery (schedule ""), so a failure goes
 * straight to the DLQ.
 */
const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "rk-webhooks.js");

let stateDir: string;
let stack: TestStack;
const children = new Set<ChildProcess>();
const receivers: TestReceiver[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI; NODE_OPTIONS is cleared because jest's --experimental-vm-modules is not the CLI's. */
function spawnCli(args: string[], dir = stateDir): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args, "--state-dir", dir], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  return child;
}

function cli(args: string[], dir = stateDir): Promise<Run> {
  const child = spawnCli(args, dir);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

/** Runs the CLI with --json, expects exit 0, and parses what it printed. */
async function cliJson<T = any>(args: string[]): Promise<T> {
  const run = await cli([...args, "--json"]);
  if (run.code !== 0) throw new Error(`rk-webhooks ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** Resolves with the first output line for which `pick` returns a value. */
function lineOf<T>(stream: NodeJS.ReadableStream, pick: (line: string) => T | undefined, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`no matching line in: ${buffer}`)), timeoutMs);
    stream.on("data", (d) => {
      buffer += d;
      for (const line of buffer.split("\n")) {
        const value = pick(line);
        if (value !== undefined) {
          clearTimeout(timer);
          return resolve(value);
        }
      }
    });
  });
}

async function receiver(): Promise<TestReceiver> {
  const r = await new TestReceiver().start();
  receivers.push(r);
  return r;
}

/** Each test has a tenant of its own, so that lists hold exactly its webhooks. */
let n = 0;
const newTenant = () => `acct_cli_${++n}`;

async function publish(tenant: string, type = "record.created"): Promise<string> {
  const res = await stack.api("POST", "/events", { type, tenantId: tenant, data: { recordId: "rec_1", title: "Invoice" } });
  expect(res.status).toBe(202);
  return res.body.id;
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "rk-cli-"));
  stack = await startTestStack({ stateDir, schedule: "" });
});

afterAll(async () => {
  for (const child of children) child.kill();
  await Promise.all(receivers.map((r) => r.stop()));
  await stack.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test("webhooks, deliveries and show print what the API holds", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["record.*"]);

  const webhooks = await cliJson(["webhooks", "--tenant", TENANT]);
  expect(webhooks).toEqual([(await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}`)).body]);
  expect(webhooks[0]).toMatchObject({ id: hook.id, url: r.url, eventTypes: ["record.*"], enabled: true });
  expect(webhooks[0].secret).toBeUndefined();

  const eventId = await publish(TENANT);
  const [settled] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length === 1 && items[0].status === "succeeded");

  const deliveries = await cliJson(["deliveries", "--tenant", TENANT, "--webhook", hook.id]);
  expect(deliveries).toEqual([settled]);
  expect(deliveries[0]).toMatchObject({
    eventId,
    eventType: "record.created",
    status: "succeeded",
    attemptCount: 1,
    lastAttempt: { n: 1, statusCode: 200, error: null },
  });
  // Without --webhook: every webhook of the tenant, gathered, newest first.
  const other = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  await publish(TENANT);
  const [otherSettled] = await stack.waitForDeliveries(TENANT, other.id, (items) => items[0]?.status === "succeeded");
  const [second] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length === 2 && items[0].status === "succeeded");
  const gathered = await cliJson(["deliveries", "--tenant", TENANT]);
  expect(gathered).toEqual([otherSettled, second, settled].sort((a, b) => (a.id < b.id ? 1 : -1)));
  expect(await cliJson(["deliveries", "--tenant", TENANT, "--limit", "1"])).toEqual([gathered[0]]);
  expect(await cliJson(["deliveries", "--tenant", TENANT, "--webhook", hook.id, "--status", "failed"])).toEqual([]);

  const shown = await cliJson(["show", settled.id, "--tenant", TENANT, "--webhook", hook.id]);
  expect(shown).toEqual((await stack.api("GET", `/tenants/${TENANT}/webhooks/${hook.id}/deliveries/${settled.id}`)).body);
  // Delivery ids are unique: without --webhook, the CLI finds the webhook (here the second of two).
  expect(await cliJson(["show", settled.id, "--tenant", TENANT])).toEqual(shown);
  const nowhere = await cli(["show", "dlv_01M8D5HBB6776E5F09FRJMWTF9", "--tenant", TENANT]);
  expect(nowhere).toEqual({
    code: 1,
    stdout: "",
    stderr: `error: delivery dlv_01M8D5HBB6776E5F09FRJMWTF9 not found under any webhook of tenant ${TENANT} (HTTP 404 not_found)\n`,
  });
  expect(shown.attempts).toHaveLength(1);
  expect(shown.attempts[0]).toMatchObject({ n: 1, statusCode: 200, error: null });

  // The text form: a header line and one row.
  const text = await cli(["deliveries", "--tenant", TENANT, "--webhook", hook.id]);
  expect(text.code).toBe(0);
  const lines = text.stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(3);
  expect(lines[0].split(/\s{2,}/)).toEqual(["DELIVERY", "WEBHOOK", "EVENT TYPE", "STATUS", "ATTEMPTS", "LAST", "CREATED"]);
  expect(lines[2].split(/\s{2,}/).slice(0, 6)).toEqual([settled.id, hook.id, "record.created", "succeeded", "1", "200"]);
});

test("send-test sends an example event that the receiver gets", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["file.*"]);
  const sent = await cliJson(["send-test", "--tenant", TENANT, "--webhook", hook.id, "--type", "file.ingested"]);
  expect(Object.keys(sent).sort()).toEqual(["deliveryId", "eventId", "type"]);
  expect(sent.type).toBe("file.ingested");
  await r.waitFor(1);
  expect(r.requests[0].headers["webhook-id"]).toBe(sent.eventId);
  expect(JSON.parse(r.requests[0].body)).toMatchObject({ id: sent.eventId, type: "file.ingested", tenantId: TENANT });
  new Webhook(hook.secret).verify(r.requests[0].body, r.requests[0].headers as Record<string, string>);
});

test("a failed delivery goes to the DLQ; dlq shows it, redrive moves it back and it then succeeds", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  r.respondWith(() => ({ kind: "status", status: 500 }));
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  await publish(TENANT);
  const [failed] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.status === "failed");
  expect(failed.attemptCount).toBe(1);

  expect(await cliJson(["dlq"])).toEqual({ visible: 1, inFlight: 0 });
  expect(await cli(["dlq"])).toEqual({ code: 0, stdout: "DLQ: 1 message waiting, 0 in flight\n", stderr: "" });

  r.respondWith(() => ({ kind: "status", status: 200 }));
  const redrive = await cli(["redrive", "--json"]);
  expect(redrive.code).toBe(0);
  expect(JSON.parse(redrive.stdout)).toEqual({ before: { visible: 1, inFlight: 0 }, moved: 1, after: { visible: 0, inFlight: 0 } });
  expect(redrive.stderr).toBe("DLQ before: 1 message waiting, 0 in flight\nmoving 1 message to the delivery queue…\n");

  const [succeeded] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.status === "succeeded");
  expect(succeeded.id).toBe(failed.id);
  expect(succeeded.attemptCount).toBe(2);
  expect(r.requests.map((q) => q.headers["webhook-id"])).toEqual([failed.eventId, failed.eventId]);
  expect(await cliJson(["dlq"])).toEqual({ visible: 0, inFlight: 0 });
  expect(await cliJson(["redrive"])).toEqual({ before: { visible: 0, inFlight: 0 }, moved: 0 });
});

test("replay sends one delivery again, or every delivery of a time range, with the same webhook-id", async () => {
  const TENANT = newTenant();
  const since = new Date().toISOString();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["record.created"]);
  const eventId = await publish(TENANT);
  const [original] = await stack.waitForDeliveries(TENANT, hook.id, (items) => items[0]?.status === "succeeded");

  const one = await cliJson(["replay", original.id, "--tenant", TENANT, "--webhook", hook.id]);
  expect(one.replayOf).toBe(original.id);
  expect(one.deliveryId).toMatch(/^dlv_/);
  expect(one.deliveryId).not.toBe(original.id);
  await r.waitFor(2);
  expect(r.requests.map((q) => q.headers["webhook-id"])).toEqual([eventId, eventId]);
  await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length === 2 && items.every((d) => d.status === "succeeded"));

  const many = await cliJson(["replay", "--tenant", TENANT, "--webhook", hook.id, "--since", since, "--status", "succeeded"]);
  expect(many).toEqual({ replayed: 2, matched: 2, truncated: false, status: "succeeded", cursor: null });
  await r.waitFor(4);
  expect(r.requests.map((q) => q.headers["webhook-id"])).toEqual([eventId, eventId, eventId, eventId]);
  // The default status is failed: none here.
  expect(await cliJson(["replay", "--tenant", TENANT, "--webhook", hook.id, "--since", "1h"])).toEqual({
    replayed: 0,
    matched: 0,
    truncated: false,
    status: "failed",
    cursor: null,
  });
});

test("tail prints one line per new attempt", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["sync.completed"]);
  const child = spawnCli(["tail", "--tenant", TENANT, "--json", "--interval", "200ms", "--for", "30s"]);
  // The first poll is the baseline; the event is published after it.
  await lineOf(child.stderr!, (l) => (l.startsWith(`following new attempts of tenant ${TENANT}`) ? true : undefined));
  const res = await stack.api("POST", "/events", {
    type: "sync.completed",
    tenantId: TENANT,
    data: { syncId: "syn_1", source: "sharepoint", recordsSynced: 3, startedAt: "2026-11-26T10:00:00Z", finishedAt: "2026-11-26T10:01:00Z" },
  });
  expect(res.status).toBe(202);
  const line = await lineOf(child.stdout!, (l) => (l.trim() ? JSON.parse(l) : undefined));
  expect(line).toMatchObject({
    webhookId: hook.id,
    eventId: res.body.id,
    eventType: "sync.completed",
    result: "succeeded",
    nextAttemptAt: null,
    attempt: { n: 1, statusCode: 200, error: null },
  });
  const exit = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  expect(await exit).toBe(0);
});

test("exit codes: 2 for a usage error, 1 for an API error with its message, 1 without a stack", async () => {
  const TENANT = newTenant();
  const neither = await cli(["replay", "--tenant", TENANT, "--webhook", "wh_01M8D5HBACP4078W1EZ0S3TY54"]);
  expect(neither).toEqual({
    code: 2,
    stdout: "",
    stderr: "error: replay needs a delivery id, or --since ISO-TIME (or a duration like 2h) to replay many\n(add --help for usage)\n",
  });
  const missing = await cli(["deliveries"]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toBe("error: required option '--tenant <tenantId>' not specified\n(add --help for usage)\n");
  expect((await cli(["deliveries", "--tenant", TENANT, "--limit", "zero"])).code).toBe(2);
  expect((await cli(["frobnicate"])).code).toBe(2);
  expect(await cli(["dlq", "--stack", "RecordsKeeperWebhooks"])).toEqual({
    code: 2,
    stdout: "",
    stderr: "error: --stack and --state-dir name two different targets: give one\n(add --help for usage)\n",
  });

  const unknown = await cli(["deliveries", "--tenant", TENANT, "--webhook", "wh_01M8D5HBACP4078W1EZ0S3TY54"]);
  expect(unknown).toEqual({ code: 1, stdout: "", stderr: "error: webhook not found (HTTP 404 not_found)\n" });
  const unknownJson = await cli(["show", "dlv_01M8D5HBB6776E5F09FRJMWTF9", "--tenant", TENANT, "--webhook", "wh_01M8D5HBACP4078W1EZ0S3TY54", "--json"]);
  expect(unknownJson).toEqual({ code: 1, stdout: "", stderr: "error: webhook not found (HTTP 404 not_found)\n" });
  const hook = await stack.createWebhook(TENANT, "http://127.0.0.1:9/hooks");
  const invalid = await cli(["replay", "--tenant", TENANT, "--webhook", hook.id, "--since", "yesterday"]);
  expect(invalid).toEqual({
    code: 2,
    stdout: "",
    stderr: 'error: --since "yesterday" is neither an ISO 8601 time (2026-11-26T10:00:00Z) nor a duration ago (30m, 2h, 7d)\n(add --help for usage)\n',
  });
  const badDuration = await cli(["tail", "--tenant", TENANT, "--for", "soon"]);
  expect(badDuration.code).toBe(2);
  expect(badDuration.stderr).toBe(
    `error: option '--for <duration>' argument 'soon' is invalid. "soon" is not a duration like 30s, 2m or 1h\n(add --help for usage)\n`,
  );

  const empty = mkdtempSync(join(tmpdir(), "rk-cli-none-"));
  try {
    const none = await cli(["dlq"], empty);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      `error: no local stack found: ${join(empty, "local-stack.json")} does not exist. Start one with "npm start", or pass --state-dir DIR, or --stack NAME for a deployed stack\n`,
    );
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("inspect verifies signatures with standardwebhooks and prints headers and body", async () => {
  const TENANT = newTenant();
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const child = spawnCli(["inspect", "--port", "0", "--secret", secret, "--json"]);
  const lines: any[] = [];
  let partial = "";
  child.stdout!.on("data", (d) => {
    const parts = (partial + d).split("\n");
    partial = parts.pop()!;
    lines.push(...parts.map((l) => JSON.parse(l)));
  });
  const { listening } = await lineOf(child.stdout!, (l) => (l.includes("listening") ? JSON.parse(l) : undefined));
  expect(listening).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

  const body = JSON.stringify({ id: "evt_1", type: "record.created", timestamp: "2026-11-26T10:00:00.000Z", tenantId: TENANT, data: { recordId: "rec_1" } });
  const now = new Date();
  const headers = {
    "content-type": "application/json",
    "webhook-id": "evt_1",
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign("evt_1", now, body),
  };
  const good = await fetch(`${listening}hooks`, { method: "POST", headers, body });
  expect(good.status).toBe(200);
  const bad = await fetch(`${listening}hooks`, { method: "POST", headers, body: body.replace("rec_1", "rec_2") });
  expect(bad.status).toBe(401);
  expect(await bad.json()).toEqual({ error: "signature invalid: No matching signature found" });

  await until("three output lines", () => lines.length >= 3);
  expect(lines[0]).toEqual({ listening, verifying: true });
  expect(lines[1]).toMatchObject({ method: "POST", path: "/hooks", signature: "verified", body: JSON.parse(body) });
  expect(lines[1].headers).toMatchObject(headers);
  expect(lines[1].error).toBeUndefined();
  expect(lines[2]).toMatchObject({ signature: "invalid", error: "No matching signature found", body: { data: { recordId: "rec_2" } } });

  const exit = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  expect(await exit).toBe(0);
});

test("inspect without a secret prints requests as unverified", async () => {
  const child = spawnCli(["inspect", "--port", "0"]);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const url = await lineOf(child.stdout!, (l) => /^inspecting webhooks at (\S+) — signatures unverified/.exec(l)?.[1]);
  expect((await fetch(`${url}x`, { method: "POST", headers: { "webhook-id": "evt_2" }, body: '{"a":1}' })).status).toBe(200);
  await until("the request in the output", () => out.includes('"a": 1'));
  const block = out.split("── ")[1];
  expect(block).toMatch(/^POST \/x {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}· signature unverified \(no --secret\)\n/);
  expect(block).toContain("\nwebhook-id: evt_2\n");
  expect(block).toContain('\n\n{\n  "a": 1\n}\n');
  const exit = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  expect(await exit).toBe(0);
});

test("webhooks create prints an export line for the shell; update, disable, enable, rotate-secret and delete change it", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const created = await cli([
    "webhooks",
    "create",
    "--tenant",
    TENANT,
    "--url",
    r.url,
    "--event-types",
    "record.*, file.ingested",
    "--description",
    "from the CLI",
  ]);
  expect(created.code).toBe(0);
  const m = /^export WEBHOOK=(wh_[0-9A-Z]{26}) SECRET=(whsec_[A-Za-z0-9+/=]+)\n$/.exec(created.stdout);
  expect(m).not.toBeNull();
  const [, id, secret] = m!;
  expect(created.stderr).toBe(`created webhook ${id} for record.*,file.ingested → ${r.url}; its secret is shown only now\n`);
  // The secret is the webhook's: a delivery verifies with it.
  const sent = await cliJson(["send-test", "--tenant", TENANT, "--webhook", id]);
  await r.waitFor(1);
  expect(new Webhook(secret).verify(r.requests[0].body, r.requests[0].headers as Record<string, string>)).toMatchObject({ id: sent.eventId });

  // `webhooks --tenant` lists (the default subcommand), as `webhooks list` does.
  const listed = await cliJson(["webhooks", "--tenant", TENANT]);
  expect(listed).toEqual(await cliJson(["webhooks", "list", "--tenant", TENANT]));
  expect(listed).toEqual([expect.objectContaining({ id, eventTypes: ["record.*", "file.ingested"], description: "from the CLI", enabled: true })]);

  const json = await cliJson(["webhooks", "create", "--tenant", TENANT, "--url", r.url, "--disabled"]);
  expect(json).toMatchObject({
    tenantId: TENANT,
    eventTypes: ["*"],
    enabled: false,
    disabledReason: "created disabled",
    secret: expect.stringMatching(/^whsec_/),
  });

  const updated = await cli(["webhooks", "update", id, "--tenant", TENANT, "--event-types", "sync.completed", "--description", ""]);
  expect(updated.code).toBe(0);
  expect(updated.stdout).toContain(`Webhook:      ${id}\n`);
  expect(updated.stdout).toContain("Event types:  sync.completed\n");
  expect((await stack.api("GET", `/tenants/${TENANT}/webhooks/${id}`)).body).toMatchObject({ eventTypes: ["sync.completed"], description: null });

  expect(await cli(["webhooks", "disable", id, "--tenant", TENANT])).toEqual({
    code: 0,
    stdout: `webhook ${id} disabled (disabled through the API)\n`,
    stderr: "",
  });
  expect((await stack.api("GET", `/tenants/${TENANT}/webhooks/${id}`)).body.enabled).toBe(false);
  expect(await cli(["webhooks", "enable", id, "--tenant", TENANT])).toEqual({ code: 0, stdout: `webhook ${id} enabled\n`, stderr: "" });

  const rotated = await cli(["webhooks", "rotate-secret", id, "--tenant", TENANT, "--grace", "1h"]);
  expect(rotated.code).toBe(0);
  const newSecret = /^export SECRET=(whsec_\S+)\n$/.exec(rotated.stdout)![1];
  expect(newSecret).not.toBe(secret);
  expect(rotated.stderr).toMatch(
    new RegExp(`^new secret for ${id}; the previous one keeps signing until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ: switch the receiver before then\n$`),
  );

  expect(await cli(["webhooks", "delete", id, "--tenant", TENANT])).toEqual({ code: 0, stdout: `webhook ${id} deleted\n`, stderr: "" });
  expect((await stack.api("GET", `/tenants/${TENANT}/webhooks/${id}`)).status).toBe(404);
  expect(await cli(["webhooks", "delete", id, "--tenant", TENANT])).toEqual({ code: 1, stdout: "", stderr: "error: webhook not found (HTTP 404 not_found)\n" });

  // Usage errors exit 2 before any request.
  expect((await cli(["webhooks", "update", id, "--tenant", TENANT])).stderr).toBe(
    "error: webhooks update needs at least one of --url, --event-types, --description, --rate-limit\n(add --help for usage)\n",
  );
  expect((await cli(["webhooks", "create", "--tenant", TENANT])).code).toBe(2);
  const refused = await cli(["webhooks", "create", "--tenant", TENANT, "--url", r.url, "--event-types", "record.deleted"]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^error: unknown event type "record\.deleted"; known types: .* \(HTTP 400 unknown_event_type\)\n$/);
});

test("webhooks show, pause, resume and --rate-limit: health, pause and the limit as the API holds them; queues shows the depths", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const created = await cliJson(["webhooks", "create", "--tenant", TENANT, "--url", r.url, "--paused", "--rate-limit", "5"]);
  expect(created).toMatchObject({ paused: true, rateLimit: 5, health: { state: "closed", consecutiveFailures: 0, parked: 0 } });
  const id: string = created.id;
  const path = `/tenants/${TENANT}/webhooks/${id}`;
  expect(await cliJson(["webhooks", "show", id, "--tenant", TENANT])).toEqual((await stack.api("GET", path)).body);

  // The text forms: the list's HEALTH and RATE columns, show's health lines.
  const listed = await cli(["webhooks", "--tenant", TENANT]);
  const [header, row] = listed.stdout.trimEnd().split("\n");
  expect(header.split(/\s{2,}/)).toEqual(["ID", "ENABLED", "HEALTH", "RATE", "EVENT TYPES", "URL", "DESCRIPTION"]);
  expect(row.split(/\s{2,}/)).toEqual([id, "yes", "paused", "5/s", "*", r.url]);
  const shown = await cli(["webhooks", "show", id, "--tenant", TENANT]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toContain(`Webhook:      ${id}\n`);
  expect(shown.stdout).toContain(
    "Paused:       yes: its deliveries are parked until it is resumed\nRate limit:   5 deliveries/s\nCircuit:      closed\nFailures:     0 in a row\nParked:       0\n",
  );
  expect(shown.stdout).not.toContain("Next probe");

  // Resume, then pause again: the PATCH each makes, and what they print.
  expect(await cli(["webhooks", "resume", id, "--tenant", TENANT])).toEqual({ code: 0, stdout: `webhook ${id} resumed\n`, stderr: "" });
  expect((await stack.api("GET", path)).body.paused).toBe(false);
  expect(await cli(["webhooks", "pause", id, "--tenant", TENANT])).toEqual({
    code: 0,
    stdout: `webhook ${id} paused: its deliveries are kept (parked), not sent, until it is resumed\n`,
    stderr: `resume it with: npx rk-webhooks webhooks resume ${id} --tenant ${TENANT}\n`,
  });
  expect((await stack.api("GET", path)).body.paused).toBe(true);

  // An open circuit with parked deliveries, as the deliver λ records it: show and the list display it,
  // and the resume says how many are released.
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(stack.stack.config.dynamodb!));
  await db.send(
    new UpdateCommand({
      TableName: stack.stack.config.tables.subscriptions,
      Key: { tenantId: TENANT, id },
      UpdateExpression: "SET circuit = :c, consecutiveFailures = :f, openedAt = :o, nextProbeAt = :n, parkedCount = :p",
      ExpressionAttributeValues: { ":c": "open", ":f": 6, ":o": "2026-11-26T10:00:00.000Z", ":n": "2026-11-26T10:01:00.000Z", ":p": 40 },
    }),
  );
  db.destroy();
  const open = await cli(["webhooks", "show", id, "--tenant", TENANT]);
  expect(open.stdout).toContain(
    "Circuit:      open since 2026-11-26 10:00:00Z\nFailures:     6 in a row\nParked:       40\nNext probe:   2026-11-26 10:01:00Z\n",
  );
  expect(
    (await cli(["webhooks", "--tenant", TENANT])).stdout
      .split("\n")[1]
      .split(/\s{2,}/)
      .slice(2, 4),
  ).toEqual(["paused, open (6 failed, 40 parked)", "5/s"]);
  expect((await cliJson(["webhooks", "--tenant", TENANT]))[0].health).toEqual({
    state: "open",
    consecutiveFailures: 6,
    openedAt: "2026-11-26T10:00:00.000Z",
    nextProbeAt: "2026-11-26T10:01:00.000Z",
    parked: 40,
  });
  expect((await cli(["webhooks", "resume", id, "--tenant", TENANT])).stdout).toBe(
    `webhook ${id} resumed: its 40 parked deliveries are released, oldest first, at the release rate\n`,
  );

  // --rate-limit none removes the limit; out of range is a usage error before any request.
  expect(await cliJson(["webhooks", "update", id, "--tenant", TENANT, "--rate-limit", "none"])).toMatchObject({ rateLimit: null });
  expect((await cliJson(["webhooks", "update", id, "--tenant", TENANT, "--rate-limit", "1000"])).rateLimit).toBe(1_000);
  for (const bad of ["0", "1001", "1.5", "fast"]) {
    const refused = await cli(["webhooks", "update", id, "--tenant", TENANT, "--rate-limit", bad]);
    expect([bad, refused.code, refused.stderr]).toEqual([
      bad,
      2,
      `error: option '--rate-limit <perSecond>' argument '${bad}' is invalid. must be a whole number from 1 to 1000\n(add --help for usage)\n`,
    ]);
  }
  expect((await cli(["webhooks", "create", "--tenant", TENANT, "--url", r.url, "--rate-limit", "0"])).code).toBe(2);
  expect((await stack.api("GET", path)).body.rateLimit).toBe(1_000);
  expect(await cli(["webhooks", "pause", "wh_01M8D5HBACP4078W1EZ0S3TY54", "--tenant", TENANT])).toEqual({
    code: 1,
    stdout: "",
    stderr: "error: webhook not found (HTTP 404 not_found)\n",
  });

  // queues: the API's answer (nothing runs between the two reads), and its text form.
  const depths = await cliJson(["queues"]);
  expect(depths).toEqual((await stack.api("GET", "/admin/queues")).body);
  expect(Object.keys(depths.delivery).sort()).toEqual(["delayed", "inFlight", "visible"]);
  const text = await cli(["queues"]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/^Delivery queue: {2}\d+ messages? waiting, \d+ in flight, \d+ delayed\nDLQ: {13}\d+ messages? waiting, \d+ in flight\n$/);
});

test("publish sends an event with --data JSON or @file; bad data is a usage error, an unknown type the API's error", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["file.ingested"]);
  const published = await cli([
    "publish",
    "--type",
    "file.ingested",
    "--tenant",
    TENANT,
    "--data",
    '{"fileId": "fil_1", "name": "a.pdf"}',
    "--id",
    "evt_cli_pub_1",
  ]);
  expect(published).toEqual({
    code: 0,
    stdout: "published file.ingested event evt_cli_pub_1: 1 delivery\n",
    stderr: `follow it with: npx rk-webhooks deliveries --tenant ${TENANT}\n`,
  });
  await r.waitFor(1);
  expect(JSON.parse(r.requests[0].body)).toMatchObject({
    id: "evt_cli_pub_1",
    type: "file.ingested",
    tenantId: TENANT,
    data: { fileId: "fil_1", name: "a.pdf" },
  });

  const file = join(stateDir, "event.json");
  writeFileSync(file, JSON.stringify({ fileId: "fil_2", sizeBytes: 12 }));
  const fromFile = await cliJson(["publish", "--type", "file.ingested", "--tenant", TENANT, "--data", `@${file}`]);
  expect(fromFile).toEqual({ id: expect.stringMatching(/^evt_/), deliveries: 1 });
  await stack.waitForDeliveries(TENANT, hook.id, (items) => items.length === 2 && items.every((d) => d.status === "succeeded"));
  expect(JSON.parse(r.requests[1].body).data).toEqual({ fileId: "fil_2", sizeBytes: 12 });

  expect(await cli(["publish", "--type", "record.created", "--tenant", TENANT, "--data", '{"recordId": "rec_1"}'])).toEqual({
    code: 0,
    stdout: expect.stringMatching(/^published record\.created event evt_\S+: 0 deliveries\n$/),
    stderr: `no enabled webhook of tenant ${TENANT} subscribes to record.created\n`,
  });
  const notJson = await cli(["publish", "--type", "file.ingested", "--tenant", TENANT, "--data", "{fileId: 1}"]);
  expect(notJson.code).toBe(2);
  expect(notJson.stderr).toMatch(/^error: --data is not JSON: /);
  expect((await cli(["publish", "--type", "file.ingested", "--tenant", TENANT, "--data", "[1]"])).code).toBe(2);
  expect((await cli(["publish", "--type", "file.ingested", "--tenant", TENANT, "--data", "@/nonexistent/event.json"])).code).toBe(2);
  const unknown = await cli(["publish", "--type", "record.deleted", "--tenant", TENANT, "--data", "{}"]);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/^error: unknown event type "record\.deleted"; known types: record\.created, .* \(HTTP 400 unknown_event_type\)\n$/);
  const missing = await cli(["publish", "--type", "file.ingested", "--tenant", TENANT, "--data", "{}"]);
  expect(missing).toEqual({ code: 1, stdout: "", stderr: "error: data.fileId: is required: the file id (HTTP 400 validation_failed)\n" });
});

test("send-test notes a type the webhook is not subscribed to, and hints with npx rk-webhooks", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["record.*"]);
  const run = await cli(["send-test", "--tenant", TENANT, "--webhook", hook.id, "--type", "file.ingested"]);
  expect(run.code).toBe(0);
  const deliveryId = /as delivery (dlv_\S+)\n$/.exec(run.stdout)![1];
  expect(run.stderr).toBe(
    `note: webhook ${hook.id} is not subscribed to file.ingested (it takes record.*): the test is sent anyway, but published file.ingested events will not reach it\n` +
      `follow it with: npx rk-webhooks show ${deliveryId} --tenant ${TENANT}\n`,
  );
  const subscribed = await cli(["send-test", "--tenant", TENANT, "--webhook", hook.id, "--type", "record.updated"]);
  expect(subscribed.stderr).not.toContain("note:");
});

test("a stopped local stack: the error says to run npm start; --stack without a region says how to give one", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rk-cli-stopped-"));
  try {
    // A state file left by a stack that is no longer running: its port refuses connections.
    const closed = await receiver();
    const url = closed.url.replace(/\/[^/]*$/, "");
    await closed.stop();
    receivers.splice(receivers.indexOf(closed), 1);
    writeFileSync(join(dir, "local-stack.json"), JSON.stringify({ apiUrl: url, token: "t" }));
    const run = await cli(["dlq"], dir);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^error: cannot reach ${url.replace(/[.]/g, "\\.")}: .*ECONNREFUSED.*\nis \`npm start\` running\\? \\(its state dir: --state-dir or \\$WEBHOOKS_STATE_DIR, default \\.local\\)\n$`,
      ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: "",
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_EC2_METADATA_DISABLED: "true",
  };
  for (const k of ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
  const child = spawn(process.execPath, [BIN, "--stack", "RecordsKeeperWebhooks", "dlq"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  expect({ code, stderr }).toEqual({
    code: 1,
    stderr:
      "error: cannot read stack RecordsKeeperWebhooks: no AWS region. Pass --region REGION (the stack's region, e.g. eu-west-1), set AWS_REGION, or set a region in the --profile's config\n",
  });
});

test("--help shows duration defaults with their unit", async () => {
  /** The help text with its wrapped lines joined. */
  const help = async (...args: string[]) => {
    const run = await cli([...args, "--help"]);
    expect(run.code).toBe(0);
    return run.stdout.replace(/\s+/g, " ");
  };
  const redrive = await help("redrive");
  expect(redrive).toContain("--timeout <duration> on AWS, follow the move task this long (a duration: 500ms, 30s, 10m, 2h, 7d) (default: 10m)");
  expect(redrive).toContain("--interval <duration> on AWS, check the DLQ's depth this often (a duration: 500ms, 30s, 10m, 2h, 7d) (default: 2s)");
  expect(await help("tail")).toContain("--interval <duration> poll this often (a duration: 500ms, 30s, 10m, 2h, 7d) (default: 1s)");
  expect(await help("webhooks", "rotate-secret")).toMatch(/--grace <duration> [^(]+\(a duration: [^)]+\) \(default: 24h\)/);
});

/** Waits until `predicate` holds, at most `timeoutMs`. */
async function until(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !predicate(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
