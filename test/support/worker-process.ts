/**
 * A deliver worker in a process of its own, for crash tests: `node --import tsx
 * test/support/worker-process.ts <stateDir>` attaches to the stack whose local-stack.json is in
 * stateDir and feeds the deliver app until it is killed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { RetrySchedule } from "#core/retry.ts";
import { localConfig, startWorker, STATE_FILE, type StateFile } from "../../local/stack.ts";

const stateDir = process.argv[2];
const state = JSON.parse(readFileSync(join(stateDir, STATE_FILE), "utf8")) as StateFile;
const config = localConfig(state.endpoints, state.config, {
  schedule: RetrySchedule.parse(state.config.schedule),
  allowPrivateEndpoints: state.config.allowPrivateEndpoints,
  autoDisableAfterSeconds: state.config.autoDisableAfterSeconds,
});
startWorker(config, { logLevel: "silent", workerConcurrency: 2, receiveWaitSeconds: 1, subscriptionCacheMs: 0 });
process.stdout.write("worker ready\n");
