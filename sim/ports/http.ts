import { responseExcerpt } from "#core/excerpt.ts";
import type { HttpResult, HttpSender } from "#core/ports.ts";
import type { VirtualTime } from "../engine.ts";

/** How a simulated endpoint answers, possibly depending on the time. */
export interface EndpointBehaviour {
  /** Response time, ms of virtual time. */
  latencyMs: number;
  /** HTTP status; undefined: the connection is refused (a dead endpoint). */
  status?: number;
  retryAfter?: string;
  body?: Uint8Array | string;
}

export type Endpoint = (nowMs: number) => EndpointBehaviour;

export const healthy =
  (latencyMs = 80): Endpoint =>
  () => ({ latencyMs, status: 200, body: "ok" });
export const dead: Endpoint = () => ({ latencyMs: 3 });

/** What one endpoint saw: every POST, and the first 2xx per webhook-id (the delivery) with its time. */
export interface Receipt {
  posts: number;
  delivered: Map<string, number>;
}

/**
 * The HTTP sender on simulated endpoints, keyed by URL: latencies pass in virtual time, an answer
 * slower than the attempt timeout is a timeout, and excerpts are cut by the core's own function.
 */
export class SimSender implements HttpSender {
  readonly endpoints = new Map<string, Endpoint>();
  readonly receipts = new Map<string, Receipt>();
  posts = 0;
  /** The headers of the last request sent (tests read its signature headers). */
  lastHeaders?: Record<string, string>;

  constructor(private readonly time: VirtualTime) {}

  async post(url: string, headers: Record<string, string>, _body: string, timeoutMs: number): Promise<HttpResult> {
    const started = this.time.now();
    const endpoint = this.endpoints.get(url) ?? dead;
    const b = endpoint(started);
    this.posts++;
    this.lastHeaders = headers;
    if (b.latencyMs >= timeoutMs) {
      await this.time.sleep(timeoutMs);
      this.note(url, headers["webhook-id"], undefined);
      return { error: `timeout: no complete response within ${timeoutMs} ms`, durationMs: timeoutMs };
    }
    await this.time.sleep(b.latencyMs);
    if (b.status === undefined) return { error: "connection_refused: the endpoint refused the connection", durationMs: b.latencyMs };
    this.note(url, headers["webhook-id"], b.status);
    const bytes = typeof b.body === "string" ? Buffer.from(b.body) : (b.body ?? new Uint8Array());
    const ok = b.status >= 200 && b.status < 300;
    return {
      statusCode: b.status,
      durationMs: b.latencyMs,
      responseExcerpt: responseExcerpt(bytes.subarray(0, 4_099), bytes.length),
      retryAfter: b.retryAfter,
      error: ok ? undefined : `http_error: HTTP ${b.status}`,
    };
  }

  private note(url: string, webhookId: string | undefined, status: number | undefined): void {
    let r = this.receipts.get(url);
    if (!r) this.receipts.set(url, (r = { posts: 0, delivered: new Map() }));
    r.posts++;
    if (webhookId && status !== undefined && status >= 200 && status < 300 && !r.delivered.has(webhookId)) r.delivered.set(webhookId, this.time.now());
  }
}
