import type { RuntimeConfig } from "#core/wiring.ts";

/**
 * The file `npm start` writes into its state dir so that the CLI, tests and a separate worker
 * process can find the running stack. Kept apart from stack.ts so that readers load nothing else.
 */
export const STATE_FILE = "local-stack.json";

export interface StateFile {
  apiUrl: string;
  token: string;
  endpoints: { sqs: string; dynamodb: string; kms: string };
  config: Omit<RuntimeConfig, "schedule" | "sqs" | "dynamodb" | "kms"> & { schedule: string };
}
