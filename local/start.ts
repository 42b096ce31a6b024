import { join, resolve } from "node:path";
import { RetrySchedule } from "#core/retry.ts";
import { ENV } from "#core/settings.ts";
import { healthFromEnv } from "../lambdas/shared/config.ts";
import { printAttempt } from "./attempt-line.ts";
import type { Level } from "./console-logger.ts";
import { startLocalStack } from "./stack.ts";
import { AlreadyRunning, apiToken, lockStateDir, makePrivate, preparePrivateDir, TOKEN_FILE } from "./state-dir.ts";

/**
 * `npm start`: the whole pipeline on this machine (README.md, docs/operations.md). Reads PORT, WEBHOOKS_API_TOKEN,
 * WEBHOOKS_STATE_DIR, WEBHOOKS_RETRY_SCHEDULE, WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS, WEBHOOKS_LOG_LEVEL,
 * WEBHOOKS_BREAKER_THRESHOLD, WEBHOOKS_BREAKER_PROBE_INTERVAL, WEBHOOKS_RELEASE_RATE (docs/delivery-semantics.md),
 * WEBHOOKS_PORTAL_TENANT (the tenant of the portal session it prints, default acct_demo) and
 * WEBHOOKS_PORTAL_FRAME_ANCESTORS (README's table). `local/preflight.cjs` has checked the Node
 * version before.
 */
const LEVELS: Level[] = ["debug", "info", "warn", "error", "silent"];

/** A refusal the user can act on: printed as one line, no stack trace. */
class StartError extends Error {}

async function main(): Promise<void> {
  // Everything this process creates (state file, token, the emulators' files) is the user's alone.
  process.umask(0o077);
  const env = process.env;
  const stateDir = resolve(env.WEBHOOKS_STATE_DIR || ".local");
  const portText = env.PORT || "3000";
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    throw new StartError(`PORT must be a port number (0–65535), got "${env.PORT}"`);
  }
  let schedule: RetrySchedule;
  try {
    schedule = env[ENV.retrySchedule] === undefined ? new RetrySchedule() : RetrySchedule.parse(env[ENV.retrySchedule]!);
  } catch (err) {
    throw new StartError(`${ENV.retrySchedule}: ${(err as Error).message}`);
  }
  const allowPrivateText = (env[ENV.allowPrivateEndpoints] ?? "true").toLowerCase();
  if (allowPrivateText !== "true" && allowPrivateText !== "false") {
    throw new StartError(`${ENV.allowPrivateEndpoints} must be true or false, got "${env[ENV.allowPrivateEndpoints]}"`);
  }
  const allowPrivate = allowPrivateText === "true";
  let health: ReturnType<typeof healthFromEnv>;
  try {
    health = healthFromEnv(env);
  } catch (err) {
    throw new StartError((err as Error).message);
  }
  const logLevel = (env.WEBHOOKS_LOG_LEVEL || "warn") as Level;
  if (!LEVELS.includes(logLevel)) throw new StartError(`WEBHOOKS_LOG_LEVEL must be one of ${LEVELS.join(", ")}, got "${env.WEBHOOKS_LOG_LEVEL}"`);

  preparePrivateDir(stateDir);
  let release: () => void;
  try {
    release = lockStateDir(stateDir);
  } catch (err) {
    if (err instanceof AlreadyRunning) throw new StartError(err.message);
    throw err;
  }
  process.on("exit", () => release());
  const { token, source } = apiToken(stateDir, env.WEBHOOKS_API_TOKEN);

  const stack = await startLocalStack({
    port,
    token,
    stateDir,
    persist: true,
    retrySchedule: schedule,
    allowPrivateEndpoints: allowPrivate,
    logLevel,
    onAttempt: printAttempt,
    portalFrameAncestors: env[ENV.portalFrameAncestors],
    health,
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "EADDRINUSE") {
      throw new StartError(
        `port ${port} on 127.0.0.1 is already in use (PORT=${port}): stop what listens there, or choose another port, e.g. PORT=${port + 1} npm start`,
      );
    }
    if (err.code === "EACCES") throw new StartError(`port ${port} needs privileges this user lacks (PORT=${port}): choose a port above 1023`);
    throw err;
  });
  makePrivate(stateDir);

  const tokenNote = {
    env: "(from WEBHOOKS_API_TOKEN)",
    kept: `(kept in ${join(stateDir, TOKEN_FILE)}; set WEBHOOKS_API_TOKEN to choose one)`,
    generated: `(generated and kept in ${join(stateDir, TOKEN_FILE)} for the next start; set WEBHOOKS_API_TOKEN to choose one)`,
  }[source];

  // A fresh portal session, minted the way the core app does it (docs/portal.md).
  const portalTenant = env.WEBHOOKS_PORTAL_TENANT || "acct_demo";
  const minted = await fetch(`${stack.apiUrl}/tenants/${encodeURIComponent(portalTenant)}/portal-sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
    body: JSON.stringify({ expiresInSeconds: 86_400 }),
  });
  if (minted.status !== 201) throw new Error(`could not create a portal session: ${minted.status} ${await minted.text()}`);
  const session = (await minted.json()) as { url: string; expiresAt: string };

  console.log(`RecordsKeeper.AI Webhooks — local stack ready

  API         ${stack.apiUrl}            (GET /health, POST /events, /tenants/{tenantId}/webhooks …)
  API token   ${stack.token}   ${tokenNote}
  State       ${stateDir}   (queues, tables, token and this stack's addresses, private to this user: the CLI reads them)
  Retries     ${schedule.maxAttempts} attempts; delays after attempt 1: ${schedule.toString() || "none"}
  Endpoints   ${allowPrivate ? "http and private/loopback addresses allowed (development only)" : "https and public addresses only"}
  Portal      ${session.url}
              (tenant ${portalTenant}, until ${session.expiresAt}; set WEBHOOKS_PORTAL_TENANT for another;
               POST /tenants/{tenantId}/portal-sessions mints more)

  export TOKEN=${stack.token}
  curl -s ${stack.apiUrl}/event-types -H "authorization: Bearer $TOKEN"

Each delivery attempt prints one line below. Ctrl-C stops.`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    await stack.stop();
    release();
    console.log("stopped; state kept in", stateDir);
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  console.error(`npm start${err instanceof StartError ? "" : " failed"}: ${(err as Error).message}`);
  process.exit(1);
});
