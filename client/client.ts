import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { newEventId } from "#core/ids.ts";
import { parseRetryAfter } from "#core/retry.ts";
import { INGEST, LIMITS } from "#core/settings.ts";
import { apiRegion, bearer, defaultCredentials, sigv4, stackApiUrl, type Authorizer, type Credentials, type OutgoingRequest } from "./auth.ts";
import { WebhooksError, type ErrorDetail } from "./errors.ts";
import type {
  Accepted,
  Delivery,
  DeliveryStatus,
  DeliverySummary,
  DlqDepth,
  EventLookup,
  EventTypeDescription,
  Page,
  QueueDepths,
  PortalSession,
  PublishEvent,
  PublishResult,
  RedriveResult,
  Replayed,
  ReplayRange,
  ReplayResult,
  TestSent,
  Webhook,
  WebhookCreate,
  WebhookPatch,
  WebhookWithRotatedSecret,
  WebhookWithSecret,
} from "./types.ts";

/**
 * Every route the client calls, by method: the route keys of docs/openapi.yaml (and of
 * lambdas/core/routes.ts). test/integration/client-contract.test.ts checks that this table covers
 * every route of the document and that each method really calls the route it names.
 */
export const CLIENT_ROUTES = {
  publish: "POST /events",
  publishMany: "POST /events",
  eventTypes: "GET /event-types",
  createWebhook: "POST /tenants/{tenantId}/webhooks",
  listWebhooks: "GET /tenants/{tenantId}/webhooks",
  getWebhook: "GET /tenants/{tenantId}/webhooks/{webhookId}",
  updateWebhook: "PATCH /tenants/{tenantId}/webhooks/{webhookId}",
  deleteWebhook: "DELETE /tenants/{tenantId}/webhooks/{webhookId}",
  rotateSecret: "POST /tenants/{tenantId}/webhooks/{webhookId}/rotate-secret",
  sendTest: "POST /tenants/{tenantId}/webhooks/{webhookId}/test",
  listDeliveries: "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries",
  getDelivery: "GET /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}",
  retryDelivery: "POST /tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry",
  replay: "POST /tenants/{tenantId}/webhooks/{webhookId}/replay",
  getEvent: "GET /tenants/{tenantId}/events/{eventId}",
  createPortalSession: "POST /tenants/{tenantId}/portal-sessions",
  revokePortalSessions: "DELETE /tenants/{tenantId}/portal-sessions",
  dlqDepth: "GET /admin/dlq",
  queues: "GET /admin/queues",
  redrive: "POST /admin/redrive",
} as const;

type RouteKey = (typeof CLIENT_ROUTES)[keyof typeof CLIENT_ROUTES];

/**
 * Which failures a call retries:
 * - `idempotent`: network errors (also after the request was sent), timeouts, 429 and 5xx. Reads,
 *   updates and `POST /events` (every event carries its id before the first try, so a repeat is
 *   answered from the first and delivers nothing twice).
 * - `once`: only what certainly did not reach the service: a refused connection and 429. Calls
 *   that would act twice if repeated (create, rotate, test, retry, replay, redrive, delete).
 */
type RetryPolicy = "idempotent" | "once";

export interface RetryOptions {
  /** Give up (throwing the last error) rather than wait past this many ms after the call began. Default 30 000. */
  deadlineMs?: number;
  /** Tries at most (1: no retry). Default unbounded (the deadline bounds them). */
  maxAttempts?: number;
  /** The first backoff; each next one doubles, up to `maxDelayMs`, each scaled by a random factor in [0.5, 1]. Default 200. */
  baseDelayMs?: number;
  /** Default 5 000. A `Retry-After` longer than this is still honoured (if the deadline allows). */
  maxDelayMs?: number;
}

export interface WebhooksClientOptions {
  /** The API's base URL: the stack's `ApiUrl` output (a trailing `/` or a stage path is fine), or `http://127.0.0.1:3000` for `npm start`. */
  apiUrl: string;
  /** The local stack's bearer token. Without it, requests are SigV4-signed for `execute-api`. */
  token?: string;
  /** SigV4 credentials (static or a provider). Default: the AWS SDK's default credential chain. */
  credentials?: Credentials;
  /** The profile for the default credential chain. */
  profile?: string;
  /** The signing region. Default: the one in the API's hostname, else `$AWS_REGION` / `$AWS_DEFAULT_REGION`. */
  region?: string;
  /** Sign or authorise requests yourself (replaces `token` and SigV4). */
  authorize?: Authorizer;
  retry?: RetryOptions;
  /** Each try is abandoned (and retried, when allowed) after this many ms. Default 10 000. */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

/** A request the client is about to make: the route key and the values of its path parameters. */
interface Call {
  route: RouteKey;
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** The JSON body, already serialised. */
  body?: string;
  policy: RetryPolicy;
}

/** Network failures that certainly happened before the request reached the service. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT", "EHOSTUNREACH", "ENETUNREACH"]);

const tenantParams = (tenantId: string, webhookId?: string, deliveryId?: string) => ({
  tenantId,
  ...(webhookId === undefined ? {} : { webhookId }),
  ...(deliveryId === undefined ? {} : { deliveryId }),
});

const iso = (t: string | Date | undefined) => (t instanceof Date ? t.toISOString() : t);

/**
 * The RecordsKeeper.AI webhooks API for the core app and operators: publish events safely (an id
 * before the first try, retries with jittered backoff within a deadline, batches split to the API's
 * limits) and manage webhooks and deliveries. See docs/publishing.md.
 */
export class WebhooksClient {
  readonly apiUrl: string;
  private readonly authorize: Authorizer;
  private readonly retry: Required<Omit<RetryOptions, "maxAttempts">> & { maxAttempts: number };
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(o: WebhooksClientOptions) {
    let url: URL;
    try {
      url = new URL(o.apiUrl);
    } catch {
      throw new WebhooksError({ code: "config", message: `apiUrl: "${o.apiUrl}" is not a URL` });
    }
    this.apiUrl = url.toString();
    if (o.authorize) this.authorize = o.authorize;
    else if (o.token !== undefined) this.authorize = bearer(o.token);
    else {
      const region = o.region ?? apiRegion(this.apiUrl) ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (!region) {
        throw new WebhooksError({
          code: "config",
          message: `region is missing: ${url.host} names none; pass the region option or set AWS_REGION (or pass token for the local stack)`,
        });
      }
      this.authorize = sigv4({ region, credentials: o.credentials ?? defaultCredentials(o.profile) });
    }
    this.retry = {
      deadlineMs: o.retry?.deadlineMs ?? 30_000,
      maxAttempts: o.retry?.maxAttempts ?? Number.POSITIVE_INFINITY,
      baseDelayMs: o.retry?.baseDelayMs ?? 200,
      maxDelayMs: o.retry?.maxDelayMs ?? 5_000,
    };
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.fetch = o.fetch ?? ((...args) => fetch(...args));
  }

  /**
   * A client for a deployed stack: the API URL from its `ApiUrl` output (CloudFormation
   * DescribeStacks), requests signed with the default credential chain unless `credentials` is given.
   */
  static async fromStack(o: Omit<WebhooksClientOptions, "apiUrl" | "token"> & { stack: string }): Promise<WebhooksClient> {
    const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
    const credentials = o.credentials ?? defaultCredentials(o.profile);
    const cfn = new CloudFormationClient({ region: o.region, credentials, profile: o.profile });
    const apiUrl = await stackApiUrl(o.stack, (name) => cfn.send(new DescribeStacksCommand({ StackName: name })));
    const region = o.region ?? apiRegion(apiUrl) ?? (await cfn.config.region());
    return new WebhooksClient({ ...o, apiUrl, region, credentials });
  }

  /** A client for the local stack (`npm start`): URL and token from `<stateDir>/local-stack.json`. */
  static fromLocalStack(o: Omit<WebhooksClientOptions, "apiUrl" | "token"> & { stateDir?: string } = {}): WebhooksClient {
    const file = join(resolve(o.stateDir ?? process.env.WEBHOOKS_STATE_DIR ?? ".local"), "local-stack.json");
    let state: { apiUrl?: unknown; token?: unknown };
    try {
      state = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      throw new WebhooksError({
        code: "no_local_stack",
        message: missing ? `no local stack found: ${file} does not exist. Start one with "npm start"` : `cannot read ${file}: ${(err as Error).message}`,
      });
    }
    if (typeof state.apiUrl !== "string" || typeof state.token !== "string")
      throw new WebhooksError({ code: "no_local_stack", message: `${file} has no apiUrl and token` });
    return new WebhooksClient({ ...o, apiUrl: state.apiUrl, token: state.token });
  }

  // ── publishing ─────────────────────────────────────────────────────────────────────────────

  /**
   * Publishes one event. Its id is fixed before the first try (the given one, or a new `evt_…`),
   * so the retries after a lost answer deliver it once. Resolves to the id and the number of
   * deliveries; throws a WebhooksError (after retrying what can be retried within the deadline).
   */
  async publish(event: PublishEvent): Promise<Accepted> {
    const body = JSON.stringify(withId(event));
    return this.request<Accepted>({ route: CLIENT_ROUTES.publish, body, policy: "idempotent" });
  }

  /**
   * Publishes many events in calls of at most 100 events and at most the API's request size, one
   * call after the other. Every event gets its id first. The API accepts or refuses a call as a
   * whole, so one bad event fails the events of its call (each result says why) and not the others.
   */
  async publishMany(events: readonly PublishEvent[]): Promise<PublishResult[]> {
    const serialised = events.map((e) => {
      const withIdEvent = withId(e);
      return { id: withIdEvent.id, json: JSON.stringify(withIdEvent) };
    });
    const results: PublishResult[] = [];
    for (const chunk of chunks(serialised)) {
      const body = `{"events":[${chunk.map((e) => e.json).join(",")}]}`;
      try {
        const answer = await this.request<{ events: Accepted[] }>({ route: CLIENT_ROUTES.publishMany, body, policy: "idempotent" });
        results.push(...answer.events.map((a): PublishResult => ({ ok: true, ...a })));
      } catch (err) {
        if (!(err instanceof WebhooksError)) throw err;
        results.push(...chunk.map((e, i): PublishResult => ({ ok: false, id: e.id, error: forEvent(err, i) })));
      }
    }
    return results;
  }

  // ── catalogue ──────────────────────────────────────────────────────────────────────────────

  async eventTypes(): Promise<EventTypeDescription[]> {
    return (await this.request<{ eventTypes: EventTypeDescription[] }>({ route: CLIENT_ROUTES.eventTypes, policy: "idempotent" })).eventTypes;
  }

  // ── webhooks ───────────────────────────────────────────────────────────────────────────────

  /** Creates a webhook; the answer carries its signing secret, shown only here (and on rotation). */
  createWebhook(tenantId: string, input: WebhookCreate): Promise<WebhookWithSecret> {
    return this.request({ route: CLIENT_ROUTES.createWebhook, params: tenantParams(tenantId), body: JSON.stringify(input), policy: "once" });
  }

  /** One page of a tenant's webhooks, newest first. */
  listWebhooks(tenantId: string, page: { limit?: number; cursor?: string } = {}): Promise<Page<Webhook>> {
    return this.request({ route: CLIENT_ROUTES.listWebhooks, params: tenantParams(tenantId), query: page, policy: "idempotent" });
  }

  /** Every webhook of a tenant, fetching pages as it goes. */
  async *webhooks(tenantId: string): AsyncGenerator<Webhook> {
    let cursor: string | undefined;
    do {
      const page = await this.listWebhooks(tenantId, { limit: LIMITS.pageSizeMax, cursor });
      yield* page.items;
      cursor = page.cursor ?? undefined;
    } while (cursor);
  }

  getWebhook(tenantId: string, webhookId: string): Promise<Webhook> {
    return this.request({ route: CLIENT_ROUTES.getWebhook, params: tenantParams(tenantId, webhookId), policy: "idempotent" });
  }

  updateWebhook(tenantId: string, webhookId: string, patch: WebhookPatch): Promise<Webhook> {
    return this.request({ route: CLIENT_ROUTES.updateWebhook, params: tenantParams(tenantId, webhookId), body: JSON.stringify(patch), policy: "idempotent" });
  }

  async deleteWebhook(tenantId: string, webhookId: string): Promise<void> {
    await this.request({ route: CLIENT_ROUTES.deleteWebhook, params: tenantParams(tenantId, webhookId), policy: "once" });
  }

  /** A new secret; the previous ones keep signing for `graceSeconds` (default 24 h, 0: stop now). */
  rotateSecret(tenantId: string, webhookId: string, o: { graceSeconds?: number } = {}): Promise<WebhookWithRotatedSecret> {
    return this.request({ route: CLIENT_ROUTES.rotateSecret, params: tenantParams(tenantId, webhookId), body: JSON.stringify(o), policy: "once" });
  }

  /** Sends the catalogue's example of `type` (default: the first type the webhook subscribes to) now. */
  sendTest(tenantId: string, webhookId: string, o: { type?: string } = {}): Promise<TestSent> {
    return this.request({ route: CLIENT_ROUTES.sendTest, params: tenantParams(tenantId, webhookId), body: JSON.stringify(o), policy: "once" });
  }

  // ── deliveries ─────────────────────────────────────────────────────────────────────────────

  /** One page of a webhook's deliveries, newest first, each with its last attempt. */
  listDeliveries(tenantId: string, webhookId: string, o: { status?: DeliveryStatus; limit?: number; cursor?: string } = {}): Promise<Page<DeliverySummary>> {
    return this.request({ route: CLIENT_ROUTES.listDeliveries, params: tenantParams(tenantId, webhookId), query: o, policy: "idempotent" });
  }

  /** Every delivery of a webhook (of one status, if given), newest first, fetching pages as it goes. */
  async *deliveries(tenantId: string, webhookId: string, o: { status?: DeliveryStatus; pageSize?: number } = {}): AsyncGenerator<DeliverySummary> {
    let cursor: string | undefined;
    do {
      const page = await this.listDeliveries(tenantId, webhookId, { status: o.status, limit: o.pageSize ?? LIMITS.pageSizeMax, cursor });
      yield* page.items;
      cursor = page.cursor ?? undefined;
    } while (cursor);
  }

  /** One delivery with every attempt. */
  getDelivery(tenantId: string, webhookId: string, deliveryId: string): Promise<Delivery> {
    return this.request({ route: CLIENT_ROUTES.getDelivery, params: tenantParams(tenantId, webhookId, deliveryId), policy: "idempotent" });
  }

  /** Sends a past delivery again now, as a new delivery of the same event (same `webhook-id`). */
  retryDelivery(tenantId: string, webhookId: string, deliveryId: string): Promise<Replayed> {
    return this.request({ route: CLIENT_ROUTES.retryDelivery, params: tenantParams(tenantId, webhookId, deliveryId), policy: "once" });
  }

  /** Replays every delivery of a webhook created in a time range (default: the failed ones). */
  replay(tenantId: string, webhookId: string, range: ReplayRange): Promise<ReplayResult> {
    const body = JSON.stringify({ since: iso(range.since), until: iso(range.until), status: range.status, cursor: range.cursor });
    return this.request({ route: CLIENT_ROUTES.replay, params: tenantParams(tenantId, webhookId), body, policy: "once" });
  }

  // ── operations ─────────────────────────────────────────────────────────────────────────────

  /** The event and its deliveries to every webhook of the tenant: "did event X reach everyone?". */
  getEvent(tenantId: string, eventId: string): Promise<EventLookup> {
    return this.request({ route: CLIENT_ROUTES.getEvent, params: { tenantId, eventId }, policy: "idempotent" });
  }

  /**
   * A tenant portal session (docs/portal.md): send the customer to its `url`, whose fragment carries
   * the token. Not retried after a possible arrival: a repeat would mint a second session.
   */
  createPortalSession(tenantId: string, o: { expiresInSeconds?: number; readOnly?: boolean } = {}): Promise<PortalSession> {
    return this.request({ route: CLIENT_ROUTES.createPortalSession, params: { tenantId }, body: JSON.stringify(o), policy: "once" });
  }

  /** Ends every portal session of the tenant at once. */
  async revokePortalSessions(tenantId: string): Promise<void> {
    await this.request({ route: CLIENT_ROUTES.revokePortalSessions, params: { tenantId }, policy: "idempotent" });
  }

  dlqDepth(): Promise<DlqDepth> {
    return this.request({ route: CLIENT_ROUTES.dlqDepth, policy: "idempotent" });
  }

  /** The delivery queue's and the DLQ's depths (approximate, from SQS): what is waiting, in flight, delayed. */
  queues(): Promise<QueueDepths> {
    return this.request({ route: CLIENT_ROUTES.queues, policy: "idempotent" });
  }

  redrive(): Promise<RedriveResult> {
    return this.request({ route: CLIENT_ROUTES.redrive, policy: "once" });
  }

  // ── the transport ──────────────────────────────────────────────────────────────────────────

  /** The URL of a route with its parameters, under the base URL (keeping any stage path). */
  url(route: RouteKey, params: Record<string, string> = {}, query: Record<string, string | number | undefined> = {}): URL {
    const path = route.split(" ")[1].replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params[name];
      if (value === undefined || value === "")
        throw new WebhooksError({ code: "validation_failed", message: `${name}: is required`, details: [{ field: name, message: "is required" }] });
      return encodeURIComponent(value);
    });
    const base = new URL(this.apiUrl);
    const url = new URL(`${base.pathname.replace(/\/$/, "")}${path}`, base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") url.searchParams.set(k, String(v));
    return url;
  }

  private async request<T>(call: Call): Promise<T> {
    const started = Date.now();
    const deadline = started + this.retry.deadlineMs;
    const method = call.route.split(" ")[0];
    const url = this.url(call.route, call.params, call.query);
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.once<T>(method, url, call.body, Math.max(1, Math.min(this.timeoutMs, deadline - Date.now())));
      if (outcome.ok) return outcome.value;
      const { error, sent, retryAfterMs } = outcome;
      const retryable = error.retryable && (call.policy === "idempotent" || !sent || error.status === 429);
      if (!retryable || attempt >= this.retry.maxAttempts) throw error.withAttempts(attempt);
      const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      const wait = Math.max(backoff, retryAfterMs ?? 0);
      if (Date.now() + wait >= deadline) throw error.withAttempts(attempt);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** One try: the parsed answer, or the error and whether the request may have reached the service. */
  private async once<T>(
    method: string,
    url: URL,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<{ ok: true; value: T } | { ok: false; error: WebhooksError; sent: boolean; retryAfterMs?: number }> {
    const req: OutgoingRequest = { method, url, headers: { accept: "application/json" }, body };
    if (body !== undefined) req.headers["content-type"] = "application/json";
    const headers = { ...req.headers, ...(await this.authorize(req)) };
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: Error & { code?: string } };
      if (e.name === "TimeoutError") {
        return { ok: false, sent: true, error: new WebhooksError({ code: "timeout", message: `no answer from ${url.origin} within ${timeoutMs} ms` }) };
      }
      const code = e.cause?.code;
      return {
        ok: false,
        sent: !(code && NOT_SENT.has(code)),
        error: new WebhooksError({ code: "network_error", message: `cannot reach ${url.origin}: ${e.cause?.message ?? e.message}` }),
      };
    }
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.ok) return { ok: true, value: parsed as T };
    const requestId = res.headers.get("apigw-requestid") ?? res.headers.get("x-amzn-requestid") ?? undefined;
    const e = parsed?.error;
    const error = new WebhooksError({
      status: res.status,
      requestId,
      // API Gateway's own answers are `{"message": "Forbidden"}` (IAM) or `Too Many Requests` (throttling).
      code: typeof e?.code === "string" ? e.code : res.status === 403 ? "forbidden" : res.status === 429 ? "throttled" : `http_${res.status}`,
      message: typeof e?.message === "string" ? e.message : typeof parsed?.message === "string" ? parsed.message : text.trim() || res.statusText,
      details: Array.isArray(e?.details) ? (e.details as ErrorDetail[]) : [],
    });
    const retryAfter = parseRetryAfter(res.headers.get("retry-after") ?? undefined, Date.now());
    return { ok: false, error, sent: true, retryAfterMs: retryAfter === undefined ? undefined : retryAfter * 1000 };
  }
}

/** The event with its id: the given one, or a new `evt_…`. */
function withId(event: PublishEvent): PublishEvent & { id: string } {
  const { occurredAt, ...rest } = event;
  return { ...rest, id: event.id ?? newEventId(), ...(occurredAt === undefined ? {} : { occurredAt: iso(occurredAt) }) } as PublishEvent & { id: string };
}

/** Consecutive runs of at most 100 events whose `{"events":[…]}` body stays within the API's size limit. */
function chunks<T extends { json: string }>(events: readonly T[]): T[][] {
  const envelope = Buffer.byteLength('{"events":[]}');
  const out: T[][] = [];
  let current: T[] = [];
  let size = envelope;
  for (const e of events) {
    const bytes = Buffer.byteLength(e.json) + (current.length ? 1 : 0);
    if (current.length && (current.length >= INGEST.maxEventsPerRequest || size + bytes > INGEST.maxRequestBytes)) {
      out.push(current);
      current = [];
      size = envelope;
    }
    size += Buffer.byteLength(e.json) + (current.length ? 1 : 0);
    current.push(e);
  }
  if (current.length) out.push(current);
  return out;
}

/**
 * A call's refusal as one of its events sees it: the details about `events[i]` renamed to the
 * event's own fields; an event that was not at fault learns that its call was refused.
 */
function forEvent(err: WebhooksError, i: number): WebhooksError {
  const prefix = `events[${i}]`;
  const own = err.details.filter((d) => d.field === prefix || d.field.startsWith(`${prefix}.`));
  const byField = err.details.some((d) => /^events\[\d+\]/.test(d.field));
  if (!byField) return err;
  if (own.length === 0) {
    return new WebhooksError({
      code: "batch_refused",
      message: `not published: the API refuses a call as a whole, and another event of this call was refused (${err.message})`,
      status: err.status,
      requestId: err.requestId,
      attempts: err.attempts,
    });
  }
  const details = own.map((d) => ({ field: d.field === prefix ? "(event)" : d.field.slice(prefix.length + 1), message: d.message }));
  return new WebhooksError({
    code: err.code,
    message: details.map((d) => `${d.field}: ${d.message}`).join("; "),
    status: err.status,
    details,
    requestId: err.requestId,
    attempts: err.attempts,
  });
}
