import type { RuntimeConfig } from "#core/wiring.ts";

/**
 * The file `npm start` writes into its state dir so that the CLI, tests and a separate worker
 * process can find the running stack. Kept apart from stack.ts so that readers load nothing else.
 * It holds the API token and the emulators' credentials: mode 0600, in a 0700 directory.
 */
export const STATE_FILE = "local-stack.json";

/** Where the embedded emulators answer (one loopback guard for both) and the credentials they take. */
export interface EmulatorEndpoints {
  sqs: string;
  dynamodb: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface StateFile {
  apiUrl: string;
  token: string;
  endpoints: EmulatorEndpoints;
  config: Omit<RuntimeConfig, "schedule" | "sqs" | "dynamodb"> & { schedule: string };
}
