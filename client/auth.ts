import { Hash } from "@smithy/hash-node";
import { SignatureV4 } from "@smithy/signature-v4";
import { WebhooksError } from "./errors.ts";

/**
 * How the client proves who it is: a SigV4 signature for API Gateway (service `execute-api`; the
 * deployed API authorises every route with IAM) or the local stack's bearer token.
 */

/** A request about to be sent, as an authoriser sees it. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

/** Returns the headers that authorise `req` (added to its own). */
export type Authorizer = (req: OutgoingRequest) => Promise<Record<string, string>>;

/** Static credentials or a provider (the default chain's `fromNodeProviderChain()`), as the signer takes them. */
export type Credentials = ConstructorParameters<typeof SignatureV4>[0]["credentials"];

/** The local stack's authorisation: the bearer token `npm start` printed and wrote to its state file. */
export const bearer =
  (token: string): Authorizer =>
  async () => ({ authorization: `Bearer ${token}` });

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

/** The AWS SDK's default credential chain (environment, profile, SSO, container and instance roles), loaded on first use. */
export function defaultCredentials(profile?: string): Credentials {
  let provider: Promise<Exclude<Credentials, object & { accessKeyId: string }>> | undefined;
  return async () => {
    provider ??= import("@aws-sdk/credential-providers").then(({ fromNodeProviderChain }) => fromNodeProviderChain({ profile }));
    return (await provider)();
  };
}

/** The region in an API Gateway URL (`https://{id}.execute-api.{region}.amazonaws.com/`), if it is one. */
export function apiRegion(apiUrl: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(apiUrl).hostname)?.[1];
}

/** The stack output that holds the API's URL (lib/webhooks-stack.ts). */
export const API_URL_OUTPUT = "ApiUrl";

/** The part of CloudFormation's DescribeStacks answer this module reads. */
export interface DescribeStacksAnswer {
  Stacks?: { StackName?: string; StackStatus?: string; Outputs?: { OutputKey?: string; OutputValue?: string }[] }[];
}

/** DescribeStacks for one stack name: the SDK's CloudFormation client, or a plain function in tests. */
export type DescribeStacks = (stackName: string) => Promise<DescribeStacksAnswer>;

/** Reads the stack's `ApiUrl` output; a missing stack or output is a WebhooksError (code `config`) that says which. */
export async function stackApiUrl(stackName: string, describeStacks: DescribeStacks): Promise<string> {
  let answer: DescribeStacksAnswer;
  try {
    answer = await describeStacks(stackName);
  } catch (err) {
    const message = (err as Error).message;
    const hint = /region is missing/i.test(message) ? " (pass a region: --region REGION, the client's `region` option, or AWS_REGION)" : "";
    throw new WebhooksError({ code: "config", message: `cannot read stack ${stackName}: ${message}${hint}` });
  }
  const stack = answer.Stacks?.[0];
  if (!stack) throw new WebhooksError({ code: "config", message: `stack ${stackName} not found` });
  const url = stack.Outputs?.find((o) => o.OutputKey === API_URL_OUTPUT)?.OutputValue;
  if (!url) {
    throw new WebhooksError({
      code: "config",
      message: `stack ${stackName} (${stack.StackStatus ?? "unknown status"}) has no ${API_URL_OUTPUT} output: is it a RecordsKeeper webhooks stack, fully deployed?`,
    });
  }
  return url;
}
