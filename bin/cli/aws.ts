import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Authorizer } from "./client.ts";
import { CliError } from "./errors.ts";

/**
 * The deployed stack's side of the CLI: where its API is (the stack's `ApiUrl` output) and how to
 * sign for it (SigV4, service `execute-api`: the API authorises every route with IAM, design §8).
 */

/** The stack output that holds the API's URL (lib/webhooks-stack.ts). */
export const API_URL_OUTPUT = "ApiUrl";

/** The part of CloudFormation's DescribeStacks answer this module reads. */
export interface DescribeStacksAnswer {
  Stacks?: { StackName?: string; StackStatus?: string; Outputs?: { OutputKey?: string; OutputValue?: string }[] }[];
}

/** DescribeStacks for one stack name: the SDK in the CLI, a plain function in tests. */
export type DescribeStacks = (stackName: string) => Promise<DescribeStacksAnswer>;

/** Static credentials or a provider (the default chain's `fromNodeProviderChain()`), as the signer takes them. */
export type Credentials = ConstructorParameters<typeof SignatureV4>[0]["credentials"];

/** Reads the stack's `ApiUrl` output; a missing stack or output is a CliError that says which. */
export async function stackApiUrl(stackName: string, describeStacks: DescribeStacks): Promise<string> {
  let answer: DescribeStacksAnswer;
  try {
    answer = await describeStacks(stackName);
  } catch (err) {
    throw new CliError(`cannot read stack ${stackName}: ${(err as Error).message}`);
  }
  const stack = answer.Stacks?.[0];
  if (!stack) throw new CliError(`stack ${stackName} not found`);
  const url = stack.Outputs?.find((o) => o.OutputKey === API_URL_OUTPUT)?.OutputValue;
  if (!url) {
    throw new CliError(`stack ${stackName} (${stack.StackStatus ?? "unknown status"}) has no ${API_URL_OUTPUT} output: is it a RecordsKeeper webhooks stack, fully deployed?`);
  }
  return url;
}

/** The region in an API Gateway URL (`https://{id}.execute-api.{region}.amazonaws.com/`), if it is one. */
export function apiRegion(apiUrl: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(apiUrl).hostname)?.[1];
}

/**
 * Signs each request with SigV4 for API Gateway. The signed headers are returned without `host`,
 * which fetch sets itself to the same value.
 */
export function sigv4(o: {
  region: string;
  credentials: Credentials;
  /** Fixed signing time, for tests; now when absent. */
  signingDate?: Date;
}): Authorizer {
  const signer = new SignatureV4({ service: "execute-api", region: o.region, credentials: o.credentials, sha256: Hash.bind(null, "sha256") });
  return async (req) => {
    const signed = await signer.sign(
      {
        method: req.method,
        protocol: req.url.protocol,
        hostname: req.url.hostname,
        port: req.url.port ? Number(req.url.port) : undefined,
        path: req.url.pathname,
        query: Object.fromEntries(req.url.searchParams),
        headers: { ...req.headers, host: req.url.host },
        body: req.body,
      },
      { signingDate: o.signingDate },
    );
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
}
