import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  expect(deliveries[0]).toMatchObject({ eventId, eventType: "record.created", status: "succeeded", attemptCount: 1, lastAttempt: { n: 1, statusCode: 200, error: null } });
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
  expect(await cliJson(["replay", "--tenant", TENANT, "--webhook", hook.id, "--since", "1h"])).toEqual({ replayed: 0, matched: 0, truncated: false, status: "failed", cursor: null });
});

test("tail prints one line per new attempt", async () => {
  const TENANT = newTenant();
  const r = await receiver();
  const hook = await stack.createWebhook(TENANT, r.url, ["sync.completed"]);
  const child = spawnCli(["tail", "--tenant", TENANT, "--json", "--interval", "200ms", "--for", "30s"]);
  // The first poll is the baseline; the event is published after it.
  await lineOf(child.stderr!, (l) => (l.startsWith(`following new attempts of tenant ${TENANT}`) ? true : undefined));
  const res = await stack.api("POST", "/events", { type: "sync.completed", tenantId: TENANT, data: { syncId: "syn_1", source: "sharepoint", recordsSynced: 3, startedAt: "2026-11-26T10:00:00Z", finishedAt: "2026-11-26T10:01:00Z" } });
  expect(res.status).toBe(202);
  const line = await lineOf(child.stdout!, (l) => (l.trim() ? JSON.parse(l) : undefined));
  expect(line).toMatchObject({ webhookId: hook.id, eventId: res.body.id, eventType: "sync.completed", result: "succeeded", nextAttemptAt: null, attempt: { n: 1, statusCode: 200, error: null } });
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
  expect(invalid).toEqual({ code: 1, stdout: "", stderr: "error: since: must be an ISO 8601 date-time, e.g. 2026-11-26T10:00:00Z (HTTP 400 validation_failed)\n" });

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

  while (lines.length < 3) await new Promise((r) => setTimeout(r, 20));
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
  while (!out.includes('"a": 1')) await new Promise((r) => setTimeout(r, 20));
  const block = out.split("── ")[1];
  expect(block).toMatch(/^POST \/x {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}· signature unverified \(no --secret\)\n/);
  expect(block).toContain("\nwebhook-id: evt_2\n");
  expect(block).toContain('\n\n{\n  "a": 1\n}\n');
  const exit = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGINT");
  expect(await exit).toBe(0);
});
