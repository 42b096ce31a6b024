import type { RuntimeConfig } from "../lambdas/shared/config.ts";

/**
 * The file `npm start` writes into its state dir so that the CLI, tests and a separate worker
 * process can find the running stack. Kept apart from stack.ts so that readers load nothing else.
 * It holds the API token and the emulators' credentials: mode 0600, in a 0700 directory.
 */
export const STATE_FILE = "local-stack.json";

/**
 * Where the embedded emulators answer (one loopback guard for SQS, DynamoDB and KMS alike) and the
 * credentials they take. `kms` may be absent from endpoints given to startLocalStack (it then starts
 * a KMS stand-in of its own, with the same credentials).
 */
export interface EmulatorEndpoints {
  sqs: string;
  dynamodb: string;
  kms?: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface StateFile {
  apiUrl: string;
  token: string;
  endpoints: EmulatorEndpoints & { kms: string };
  config: Omit<RuntimeConfig, "schedule" | "sqs" | "dynamodb" | "kms"> & { schedule: string };
}
