/**
 * The deliver worker in a process of its own: `node --import tsx local/worker-main.ts [stateDir]`.
 * It attaches to a running local stack through the stack's state file — `local-stack.json` in
 * stateDir (default: WEBHOOKS_STATE_DIR or `.local`), or the same JSON given whole in the
 * WEBHOOKS_WORKER_STATE environment variable — and feeds the deliver app until it is stopped.
 *
 * Optional environment: WEBHOOKS_WORKER_CONCURRENCY (pollers, default 4), WEBHOOKS_LOG_LEVEL
 * (default warn), WEBHOOKS_WORKER_WAIT_SECONDS (long-poll wait, default 2).
 *
 * Started with an IPC channel (child_process.fork), it answers `{cmd: "cpu"}` with its
 * process.cpuUsage() and `{cmd: "stop"}` by stopping its pollers and exiting: `npm run bench`
 * measures the worker's CPU per delivery this way.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RetrySchedule } from "#core/retry.ts";
import type { Level } from "./console-logger.ts";
import { localConfig, startWorker, STATE_FILE, type StateFile } from "./stack.ts";

const env = process.env;
const state = JSON.parse(
  env.WEBHOOKS_WORKER_STATE ?? readFileSync(join(resolve(process.argv[2] ?? env.WEBHOOKS_STATE_DIR ?? ".local"), STATE_FILE), "utf8"),
) as StateFile;
const config = localConfig(state.endpoints, state.config, {
  schedule: RetrySchedule.parse(state.config.schedule),
  allowPrivateEndpoints: state.config.allowPrivateEndpoints,
  autoDisableAfterSeconds: state.config.autoDisableAfterSeconds,
  health: state.config.health,
});
const worker = startWorker(config, {
  logLevel: (env.WEBHOOKS_LOG_LEVEL as Level | undefined) ?? "warn",
  workerConcurrency: Number(env.WEBHOOKS_WORKER_CONCURRENCY ?? 4),
  receiveWaitSeconds: Number(env.WEBHOOKS_WORKER_WAIT_SECONDS ?? 2),
});

async function stop(): Promise<never> {
  await worker.stop();
  process.exit(0);
}

process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
if (process.send) {
  process.on("message", (m: { cmd?: string }) => {
    if (m.cmd === "cpu") process.send!({ cpu: process.cpuUsage() });
    if (m.cmd === "stop") void stop();
  });
  process.on("disconnect", () => void stop());
  process.send({ ready: true });
} else {
  console.log(`deliver worker attached to ${state.endpoints.sqs} (${state.config.queue.queueUrl})`);
}
