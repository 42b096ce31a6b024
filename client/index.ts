/**
 * The RecordsKeeper.AI webhooks client (package export `recordskeeper-webhooks/client`): the core
 * app publishes with it, the operator CLI (bin/rk-webhooks.ts) runs on it. docs/publishing.md.
 */
export { WebhooksClient, CLIENT_ROUTES, type WebhooksClientOptions, type RetryOptions } from "./client.ts";
export { WebhooksError, type ErrorDetail } from "./errors.ts";
export {
  bearer,
  sigv4,
  defaultCredentials,
  apiRegion,
  stackApiUrl,
  API_URL_OUTPUT,
  type Authorizer,
  type Credentials,
  type OutgoingRequest,
  type DescribeStacks,
} from "./auth.ts";
export type * from "./types.ts";
