import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { ListQueuesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { listeningSockets, npmStart, processTree, type Proc, shell } from "../support/npm-start.ts";

/**
 * `npm start` as a person runs it (issue 12 item 6, issue 15 items 1–3): it opens nothing but
 * loopback, its emulators take only its own credentials and no browser, its state is private, the
 * generated API token survives a restart, a second start on the same state dir or a busy PORT is
 * one plain line and a non-zero exit, and an old Node is told so before anything loads.
 */
let stateDir: string;
let port: number;
let stack: Proc | undefined;
const running: Proc[] = [];

const readState = () => JSON.parse(readFileSync(join(stateDir, "local-stack.json"), "utf8"));

beforeAll(async () => {
  stateDir = mkdtempSync(join(tmpdir(), "rk-safety-"));
  // What an older version left: a readable dir with a readable file holding secrets.
  mkdirSync(join(stateDir, "dynamodb"), { recursive: true });
  writeFileSync(join(stateDir, "dynamodb", "OLD.log"), "secret", { mode: 0o644 });
  chmodSync(stateDir, 0o755);
  chmodSync(join(stateDir, "dynamodb"), 0o755);
  // The stack the tests below look at, started here so that each of them runs alone too (-t); on a
  // port the OS picks (PORT=0), read back from the state file.
  stack = await npmStart({ port: 0, stateDir });
  running.push(stack);
  port = Number(new URL(readState().apiUrl).port);
}, 60_000);

afterAll(async () => {
  for (const p of running) await p.kill();
  rmSync(stateDir, { recursive: true, force: true });
});

const isLoopback = (address: string) => /^127\./.test(address) || address === "::1" || /^::ffff:127\./.test(address);

/** Every path under dir with its permission bits, e.g. ["dynamodb/LOCK", 0o600]. */
function modes(dir: string, prefix = ""): [string, number][] {
  const out: [string, number][] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    out.push([`${prefix}${name}`, st.mode & 0o777]);
    if (st.isDirectory()) out.push(...modes(path, `${prefix}${name}/`));
  }
  return out;
}

test("the listening-socket check sees a socket on every interface (the detector's own control)", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "0.0.0.0", resolve));
  const { port: open } = server.address() as { port: number };
  try {
    expect(listeningSockets([process.pid]).filter((l) => l.port === open)).toEqual([{ pid: process.pid, address: "0.0.0.0", port: open }]);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("every listener of npm start is on loopback, and is one the state file announces", async () => {
  const tree = processTree(stack!.pid);
  expect(tree.length).toBeGreaterThanOrEqual(2); // bash → npm → sh → tsx → node

  const listeners = listeningSockets(tree);
  const state = readState();
  expect(listeners.filter((l) => !isLoopback(l.address))).toEqual([]);
  // Nothing but what the stack announces in its state file: the API and the emulators' one guard
  // (every endpoint the AWS SDK clients are given), each once, on 127.0.0.1.
  const announced = new Set([state.apiUrl, ...Object.values(state.endpoints).filter((v): v is string => typeof v === "string")].map((u) => new URL(u).host));
  expect(announced).toEqual(new Set([`127.0.0.1:${port}`, new URL(state.endpoints.sqs).host]));
  expect(listeners.map((l) => `${l.address}:${l.port}`).sort()).toEqual([...announced].sort());
  expect(state.endpoints.dynamodb).toBe(state.endpoints.sqs);
});

test("the running stack's emulators take only its own credentials, and refuse a browser Origin", async () => {
  const { endpoints, config } = readState();
  const client = { region: "us-east-1", maxAttempts: 1 };
  // Positive control: the credentials in the state file see the stack's queues and tables.
  const queues = (await new SQSClient({ ...client, endpoint: endpoints.sqs, credentials: endpoints.credentials }).send(new ListQueuesCommand({}))).QueueUrls!;
  expect(queues.map((u) => u.split("/").pop()).sort()).toEqual(
    [config.queue.queueUrl, config.queue.slowQueueUrl, config.queue.dlqUrl].map((u: string) => u.split("/").pop()).sort(),
  );
  const tables = (await new DynamoDBClient({ ...client, endpoint: endpoints.dynamodb, credentials: endpoints.credentials }).send(new ListTablesCommand({})))
    .TableNames!;
  expect(tables.sort()).toEqual(Object.values(config.tables as Record<string, string>).sort());

  for (const credentials of [
    { accessKeyId: "local", secretAccessKey: "local" },
    { accessKeyId: endpoints.credentials.accessKeyId, secretAccessKey: "not-the-secret" },
  ]) {
    const sqs = new SQSClient({ ...client, endpoint: endpoints.sqs, credentials }).send(new ListQueuesCommand({}));
    const ddb = new DynamoDBClient({ ...client, endpoint: endpoints.dynamodb, credentials }).send(new ListTablesCommand({}));
    for (const call of [sqs, ddb]) {
      await expect(call).rejects.toMatchObject({
        name: expect.stringMatching(/^(UnrecognizedClientException|InvalidSignatureException)$/),
        $metadata: { httpStatusCode: 400 },
      });
    }
  }
  for (const target of ["AmazonSQS.ListQueues", "DynamoDB_20120810.ListTables"]) {
    const res = await fetch(`${endpoints.sqs}/`, {
      method: "POST",
      headers: { origin: "http://evil.example", "content-type": "application/x-amz-json-1.0", "x-amz-target": target },
      body: "{}",
    });
    expect([target, res.status, res.headers.get("access-control-allow-origin")]).toEqual([target, 403, null]);
  }
});

test("an old state dir left world-readable is narrowed: the dir is 0700 and every file in it 0600, the old one and the emulators' own included", async () => {
  // Some writes first, so that the emulators have created their files.
  const { apiUrl, token } = readState();
  const created = await fetch(`${apiUrl}/tenants/acct_modes/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ url: "http://127.0.0.1:9/", eventTypes: ["record.*"] }),
  });
  expect(created.status).toBe(201);
  expect(lstatSync(stateDir).mode & 0o777).toBe(0o700);
  const all = modes(stateDir);
  for (const name of ["api-token", "local-stack.json", "npm-start.pid", "dynamodb/OLD.log", "sqs/fauxqs.db"]) expect(all.map(([n]) => n)).toContain(name);
  expect(all.some(([n]) => /^dynamodb\/\d+\.log$/.test(n))).toBe(true);
  const wrong = all.filter(([name, mode]) => mode !== (lstatSync(join(stateDir, name)).isDirectory() ? 0o700 : 0o600));
  expect(wrong).toEqual([]);
});

test("a second npm start on the same state dir says who runs it and exits 1; a busy PORT names PORT", async () => {
  const pid = Number(readFileSync(join(stateDir, "npm-start.pid"), "utf8"));
  expect(processTree(stack!.pid)).toContain(pid);

  const second = shell("npm start", { PORT: "0", WEBHOOKS_STATE_DIR: stateDir });
  expect(await second.exited).toBe(1);
  expect(second.out).toContain(`npm start: already running, pid ${pid}, API http://127.0.0.1:${port}: another npm start uses ${stateDir}.`);
  expect(second.out).not.toMatch(/\n\s+at |Database is closed|EADDRINUSE/);

  const otherDir = mkdtempSync(join(tmpdir(), "rk-safety-port-"));
  try {
    const third = shell("npm start", { PORT: String(port), WEBHOOKS_STATE_DIR: otherDir });
    expect(await third.exited).toBe(1);
    expect(third.out).toContain(
      `npm start: port ${port} on 127.0.0.1 is already in use (PORT=${port}): stop what listens there, or choose another port, e.g. PORT=${port + 1} npm start`,
    );
    expect(third.out).not.toMatch(/\n\s+at |EADDRINUSE/);
    expect(existsSync(join(otherDir, "npm-start.pid"))).toBe(false); // its lock went with it
  } finally {
    rmSync(otherDir, { recursive: true, force: true });
  }
  // The first stack was not disturbed.
  expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
});

test("two npm starts racing for one state dir: exactly one runs, the other says already running", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rk-safety-race-"));
  const racers = [0, 1].map(() => shell("npm start", { PORT: "0", WEBHOOKS_STATE_DIR: dir }));
  running.push(...racers);
  try {
    // Each either becomes ready or exits; wait for both outcomes.
    const outcomes = await Promise.all(
      racers.map((r) =>
        r.waitFor("Ctrl-C stops", { what: "npm start" }).then(
          () => "running",
          () => r.out,
        ),
      ),
    );
    const winner = outcomes.indexOf("running");
    expect(outcomes.filter((o) => o === "running")).toHaveLength(1);
    const loser = outcomes[1 - winner];
    const pid = Number(readFileSync(join(dir, "npm-start.pid"), "utf8"));
    const { apiUrl } = JSON.parse(readFileSync(join(dir, "local-stack.json"), "utf8"));
    expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    expect(loser).toMatch(new RegExp(`npm start: already running, pid ${pid}, API (${apiUrl.replaceAll(".", "\\.")}|\\(starting\\)): `));
    expect(racers[1 - winner].exitCode).toBe(1);
    expect(processTree(racers[winner].pid)).toContain(pid);
    await racers[winner].interrupt();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the generated API token survives a restart; WEBHOOKS_API_TOKEN still wins; a stale lock (dead or reused pid) is taken over", async () => {
  const { apiUrl, token } = readState();
  const created = await fetch(`${apiUrl}/tenants/acct_restart/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ url: "http://127.0.0.1:9/", eventTypes: ["record.*"] }),
  });
  expect(created.status).toBe(201);
  expect(readFileSync(join(stateDir, "api-token"), "utf8").trim()).toBe(token);
  expect(stack!.out).toContain(`export TOKEN=${token}`);
  await stack!.interrupt();
  expect(stack!.out).toContain(`stopped; state kept in ${stateDir}`);
  expect(existsSync(join(stateDir, "npm-start.pid"))).toBe(false);

  // A stack that was killed leaves its lock behind: a pid that is no longer alive.
  const dead = shell("exit 0");
  await dead.exited;
  writeFileSync(join(stateDir, "npm-start.pid"), `${dead.pid}\n`, { mode: 0o600 });

  const again = await npmStart({ port: 0, stateDir });
  running.push(again);
  expect(again.out).toContain(`export TOKEN=${token}`);
  const listed = await fetch(`${readState().apiUrl}/tenants/acct_restart/webhooks`, { headers: { authorization: `Bearer ${token}` } });
  expect(listed.status).toBe(200);
  expect(((await listed.json()) as { items: { id: string }[] }).items.map((w) => w.id)).toEqual([((await created.json()) as { id: string }).id]);
  await again.interrupt();
  expect(again.out).toContain("stopped; state kept in");

  // A lock whose pid is alive but is no stack (the pid was reused): this test's own process.
  writeFileSync(join(stateDir, "npm-start.pid"), `${process.pid}\n`, { mode: 0o600 });
  const chosen = await npmStart({ port: 0, stateDir, env: { WEBHOOKS_API_TOKEN: "chosen-token-0123456789" } });
  running.push(chosen);
  expect(chosen.out).toContain("export TOKEN=chosen-token-0123456789");
  const chosenUrl = readState().apiUrl;
  expect((await fetch(`${chosenUrl}/event-types`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  expect((await fetch(`${chosenUrl}/event-types`, { headers: { authorization: "Bearer chosen-token-0123456789" } })).status).toBe(200);
  await chosen.interrupt();
  expect(chosen.out).toContain("stopped; state kept in");
  expect(readFileSync(join(stateDir, "api-token"), "utf8").trim()).toBe(token); // the kept one is left as it was
});

test("on a Node older than 22.19, npm start says so in one line and exits 1, before loading anything", async () => {
  const fake = join(stateDir, "old-node.cjs");
  writeFileSync(fake, "Object.defineProperty(process.versions, 'node', { value: '22.18.0' });\n");
  const old = shell("npm start", { PORT: String(port), WEBHOOKS_STATE_DIR: join(stateDir, "never"), NODE_OPTIONS: `--require ${fake}` });
  expect(await old.exited).toBe(1);
  const lines = old.out.split("\n").filter((l) => l.startsWith("npm start"));
  expect(lines).toEqual([expect.stringMatching(/^npm start needs Node\.js >=22\.19, and this is Node\.js 22\.18\.0 \(.+\)\. \.nvmrc says 24: /)]);
  expect(old.out).not.toMatch(/ERR_UNKNOWN_BUILTIN_MODULE|\n\s+at /);
  expect(existsSync(join(stateDir, "never"))).toBe(false);

  // The same check passes on this Node, and on the boundary version itself.
  const ok = shell("node local/preflight.cjs && echo fine");
  expect([await ok.exited, ok.out]).toEqual([0, "fine\n"]);
  writeFileSync(fake, "Object.defineProperty(process.versions, 'node', { value: '22.19.0' });\n");
  const boundary = shell("node local/preflight.cjs && echo fine", { NODE_OPTIONS: `--require ${fake}` });
  expect([await boundary.exited, boundary.out]).toEqual([0, "fine\n"]);
});

test("a bad value of a variable npm start reads is one line naming it, and exit 1", async () => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "abc" }, 'npm start: PORT must be a port number (0–65535), got "abc"'],
    [{ PORT: "70000" }, 'npm start: PORT must be a port number (0–65535), got "70000"'],
    [{ WEBHOOKS_RETRY_SCHEDULE: "2x" }, 'npm start: WEBHOOKS_RETRY_SCHEDULE: "2x" is not a duration like 30s, 2m or 1h'],
    [{ WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS: "yes" }, 'npm start: WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS must be true or false, got "yes"'],
    [{ WEBHOOKS_LOG_LEVEL: "loud" }, 'npm start: WEBHOOKS_LOG_LEVEL must be one of debug, info, warn, error, silent, got "loud"'],
  ];
  const runs = cases.map(([env]) => shell("npm start", { WEBHOOKS_STATE_DIR: join(stateDir, "never"), PORT: String(port), ...env }));
  running.push(...runs);
  for (const [i, run] of runs.entries()) {
    expect([cases[i][1], await run.exited]).toEqual([cases[i][1], 1]);
    expect(run.out.split("\n").filter((l) => l.startsWith("npm start"))).toEqual([cases[i][1]]);
  }
  expect(existsSync(join(stateDir, "never"))).toBe(false);
});
