import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { WebhooksClient, WebhooksError } from "../../client/index.ts";
import { CliError, UsageError } from "./errors.ts";
import { STATE_FILE, type StateFile } from "../../local/state-file.ts";

/** Where the commands send their requests: the global options. */
export interface TargetOptions {
  /** The local stack's state directory; default `$WEBHOOKS_STATE_DIR` or `.local`. */
  stateDir?: string;
  /** A deployed CloudFormation stack's name. */
  stack?: string;
  region?: string;
  profile?: string;
}

export function stateDir(o: TargetOptions, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(o.stateDir ?? env.WEBHOOKS_STATE_DIR ?? ".local");
}

/**
 * A client for the local stack: its URL and bearer token from `<stateDir>/local-stack.json`. One
 * try per call: the local stack does not throttle, and a stopped one should say so at once.
 */
export function localClient(dir: string): WebhooksClient {
  const file = join(dir, STATE_FILE);
  let state: Partial<Record<keyof StateFile, unknown>>;
  try {
    state = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
    throw new CliError(
      missing
        ? `no local stack found: ${file} does not exist. Start one with "npm start", or pass --state-dir DIR, or --stack NAME for a deployed stack`
        : `cannot read ${file}: ${(err as Error).message}`,
    );
  }
  if (typeof state.apiUrl !== "string" || typeof state.token !== "string") throw new CliError(`${file} has no apiUrl and token`);
  return new WebhooksClient({ apiUrl: state.apiUrl, token: state.token, retry: { maxAttempts: 1 } });
}

/**
 * A client for a deployed stack: the API URL from the stack's outputs, every request signed with
 * SigV4 using the default AWS credential chain (environment, profile, SSO, instance role…). The
 * AWS SDK is loaded only then, so that local use starts fast.
 */
export async function deployedClient(o: { stack: string; region?: string; profile?: string }): Promise<WebhooksClient> {
  try {
    return await WebhooksClient.fromStack({ stack: o.stack, region: o.region, profile: o.profile });
  } catch (err) {
    if (err instanceof WebhooksError && /region is missing/i.test(err.message)) {
      throw new CliError(
        `cannot read stack ${o.stack}: no AWS region. Pass --region REGION (the stack's region, e.g. eu-west-1), set AWS_REGION, or set a region in the --profile's config`,
      );
    }
    throw err;
  }
}

/** The client the global options ask for. */
export async function connect(o: TargetOptions): Promise<WebhooksClient> {
  if (o.stack !== undefined) {
    if (o.stateDir !== undefined) throw new UsageError("--stack and --state-dir name two different targets: give one");
    return deployedClient({ stack: o.stack, region: o.region, profile: o.profile });
  }
  if (o.region !== undefined || o.profile !== undefined) throw new UsageError("--region and --profile apply to a deployed stack: add --stack NAME");
  return localClient(stateDir(o));
}
