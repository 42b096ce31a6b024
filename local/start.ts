import { resolve } from "node:path";
import { RetrySchedule } from "#core/retry.ts";
import { ENV } from "#core/settings.ts";
import { printAttempt } from "./attempt-line.ts";
import { startLocalStack } from "./stack.ts";

/**
 * `npm start`: the whole pipeline on this machine (design §7). Reads PORT, WEBHOOKS_API_TOKEN,
 * WEBHOOKS_STATE_DIR, WEBHOOKS_RETRY_SCHEDULE, WEBHOOKS_ALLOW_PRIVATE_ENDPOINTS, WEBHOOKS_PORTAL_TENANT (the
 * tenant of the portal session it prints, default acct_demo) and WEBHOOKS_PORTAL_FRAME_ANCESTORS.
 */
async function main(): Promise<void> {
  const env = process.env;
  const stateDir = resolve(env.WEBHOOKS_STATE_DIR ?? ".local");
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`PORT must be a port number, got "${env.PORT}"`);
  const schedule = env[ENV.retrySchedule] === undefined ? new RetrySchedule() : RetrySchedule.parse(env[ENV.retrySchedule]!);
  const allowPrivate = (env[ENV.allowPrivateEndpoints] ?? "true").toLowerCase() !== "false";

  const stack = await startLocalStack({
    port,
    token: env.WEBHOOKS_API_TOKEN || undefined,
    stateDir,
    persist: true,
    retrySchedule: schedule,
    allowPrivateEndpoints: allowPrivate,
    logLevel: (env.WEBHOOKS_LOG_LEVEL as "info" | undefined) ?? "warn",
    onAttempt: printAttempt,
    portalFrameAncestors: env[ENV.portalFrameAncestors],
  });

  // A fresh portal session, minted the way the core app does it (design §6a).
  const portalTenant = env.WEBHOOKS_PORTAL_TENANT || "acct_demo";
  const minted = await fetch(`${stack.apiUrl}/tenants/${encodeURIComponent(portalTenant)}/portal-sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.token}`, "content-type": "application/json" },
    body: JSON.stringify({ expiresInSeconds: 86_400 }),
  });
  if (minted.status !== 201) throw new Error(`could not create a portal session: ${minted.status} ${await minted.text()}`);
  const session = (await minted.json()) as { url: string; expiresAt: string };

  const generated = !env.WEBHOOKS_API_TOKEN;
  console.log(`RecordsKeeper.AI Webhooks — local stack ready

  API         ${stack.apiUrl}            (GET /health, POST /events, /tenants/{tenantId}/webhooks …)
  API token   ${stack.token}${generated ? "   (generated; set WEBHOOKS_API_TOKEN to fix it)" : ""}
  State       ${stateDir}   (queues, tables and this stack's addresses: the CLI reads them)
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
    console.log("stopped; state kept in", stateDir);
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  console.error(`npm start failed: ${(err as Error).message}`);
  process.exit(1);
});
