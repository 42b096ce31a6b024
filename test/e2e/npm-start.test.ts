import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { TestReceiver } from "../support/receiver.ts";

/**
 * The walking skeleton end to end, exactly as a user runs it: `npm start` in a child process
 * (emulators, API, worker), a webhook created over HTTP, an event published, the delivery verified
 * with the independent `standardwebhooks` library. Then a restart keeps the subscription.
 */
const ROOT = join(import.meta.dirname, "..", "..");
let stateDir: string;
let receiver: TestReceiver;

function start(port: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "local/start.ts"], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), WEBHOOKS_STATE_DIR: stateDir, WEBHOOKS_API_TOKEN: "e2e-token", WEBHOOKS_RETRY_SCHEDULE: "1s" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not become ready:\n${out}`)), 30_000);
    child.stdout!.on("data", () => {
      if (out.includes("Ctrl-C stops")) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    });
    child.on("exit", (code) => reject(new Error(`npm start exited with ${code}:\n${out}`)));
  });
}

/** The API's URL, as the running stack wrote it to its state file. */
const apiUrlOfState = (): string => JSON.parse(readFileSync(join(stateDir, "local-stack.json"), "utf8")).apiUrl;

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.kill("SIGINT");
  });
}

async function api(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: "Bearer e2e-token", "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "rk-e2e-"));
  receiver = await new TestReceiver().start();
});

afterAll(async () => {
  await receiver.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

test("npm start: create a webhook, publish, receive a delivery that standardwebhooks verifies, restart keeps state", async () => {
  // PORT=0: the OS picks a free port; the state file says which (as it does for the CLI).
  const first = await start(0);
  const base = apiUrlOfState();
  expect(base).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);

  expect((await fetch(`${base}/health`)).status).toBe(200);
  expect((await fetch(`${base}/tenants/acct_e2e/webhooks`)).status).toBe(401);

  // It prints a portal URL with a fresh session (the token in the fragment), which works.
  const portal = /Portal\s+(\S+)/.exec(first.output())?.[1] ?? "";
  expect(portal).toMatch(new RegExp(`^${base}/portal#token=rkps_[A-Za-z0-9_-]{43}$`));
  expect((await fetch(portal.split("#")[0])).headers.get("content-type")).toBe("text/html; charset=utf-8");
  const session = await fetch(`${base}/portal/api/session`, { headers: { authorization: `Bearer ${portal.split("#token=")[1]}` } });
  expect(await session.json()).toMatchObject({ tenantId: "acct_demo", readOnly: false });

  const created = await api(base, "POST", "/tenants/acct_e2e/webhooks", { url: receiver.url, eventTypes: ["file.*"] });
  expect(created.status).toBe(201);
  expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

  const published = await api(base, "POST", "/events", {
    id: "evt_e2e_1",
    type: "file.ingested",
    tenantId: "acct_e2e",
    occurredAt: "2026-11-26T10:00:00Z",
    data: { fileId: "fil_1", name: "a.pdf" },
  });
  expect(published).toEqual({ status: 202, body: { id: "evt_e2e_1", deliveries: 1 } });

  await receiver.waitFor(1);
  const [got] = receiver.requests;
  const verified = new Webhook(created.body.secret).verify(got.body, {
    "webhook-id": got.headers["webhook-id"] as string,
    "webhook-timestamp": got.headers["webhook-timestamp"] as string,
    "webhook-signature": got.headers["webhook-signature"] as string,
  });
  expect(verified).toEqual({
    id: "evt_e2e_1",
    type: "file.ingested",
    timestamp: "2026-11-26T10:00:00.000Z",
    tenantId: "acct_e2e",
    data: { fileId: "fil_1", name: "a.pdf" },
  });
  expect(got.headers["webhook-id"]).toBe("evt_e2e_1");
  expect(got.headers["content-type"]).toBe("application/json");
  expect(got.headers["user-agent"]).toMatch(/^RecordsKeeper-Webhooks\/\d+\.\d+\.\d+$/);

  // The attempt is in the log, and npm start printed a line for it. The worker writes a batch's
  // first-attempt records after its POSTs (docs/performance.md), so the receipt can come first.
  let log = await api(base, "GET", `/tenants/acct_e2e/webhooks/${created.body.id}/deliveries`);
  for (const deadline = Date.now() + 10_000; log.body.items.length === 0 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    log = await api(base, "GET", `/tenants/acct_e2e/webhooks/${created.body.id}/deliveries`);
  }
  expect(log.body.items).toHaveLength(1);
  expect(log.body.items[0]).toMatchObject({ status: "succeeded", attemptCount: 1, lastAttempt: { n: 1, statusCode: 200 } });
  expect(first.output()).toContain("✔ delivered");
  expect(first.output()).not.toContain(created.body.secret);
  expect(await stop(first.child)).toBe(0);

  // State survives a restart.
  const second = await start(0);
  const listed = await api(apiUrlOfState(), "GET", "/tenants/acct_e2e/webhooks");
  expect(listed.body.items.map((w: { id: string }) => w.id)).toEqual([created.body.id]);
  expect(await stop(second.child)).toBe(0);
});
