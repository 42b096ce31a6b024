import http from "node:http";
import https from "node:https";
import { assertDialable, type EndpointPolicy } from "#core/endpoint-guard.ts";
import { EXCERPT_READ_BYTES, responseExcerpt } from "#core/excerpt.ts";
import type { HttpResult, HttpSender } from "#core/ports.ts";
import { DELIVERY } from "#core/settings.ts";
import { attemptTimeout, describeFailure } from "./attempt-failure.ts";
import { createGuardedAgents, type GuardedAgents } from "./guarded-agent.ts";

/**
 * POSTs a delivery with node:http / node:https (docs/delivery-semantics.md, "What counts as a failed
 * attempt"): keep-alive sockets reused across invocations (the agents live as long as the λ
 * container), no redirects followed, every address checked when dialled (guarded-agent.ts), TLS
 * verified. One deadline covers the wait for a socket, connect, headers and the whole body.
 * Never throws: every outcome, including a timeout or a reset, is an HttpResult for the attempt log.
 */
export class NodeHttpSender implements HttpSender {
  private readonly agents: GuardedAgents;

  constructor(
    private readonly policy: EndpointPolicy,
    agents?: GuardedAgents,
  ) {
    this.agents = agents ?? createGuardedAgents(policy);
  }

  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    let options: https.RequestOptions;
    let client: typeof http | typeof https;
    try {
      const target = new URL(url);
      // net and tls dial IP literals without calling the agent's lookup: judged here (and again by the agent).
      assertDialable(target, this.policy);
      if (target.protocol === "https:") client = https;
      else if (target.protocol === "http:") client = http;
      else throw new TypeError(`unsupported protocol ${target.protocol}`);
      const host = target.hostname;
      options = {
        method: "POST",
        // net.connect takes an IPv6 literal without its brackets.
        hostname: host.startsWith("[") ? host.slice(1, -1) : host,
        port: target.port,
        path: target.pathname + target.search,
        // `req.end(body)` before any write: node sends Content-Length, never chunked.
        headers,
        agent: client === https ? this.agents.https : this.agents.http,
      };
    } catch (err) {
      return Promise.resolve({ error: describeFailure(err, timeoutMs), durationMs: elapsed() });
    }

    return new Promise<HttpResult>((resolve) => {
      let settled = false;
      let req: http.ClientRequest | undefined;
      const finish = (result: HttpResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      /** Fails the attempt; its socket is destroyed, never handed back to the pool half-read. */
      const fail = (err: unknown): void => {
        finish({ error: describeFailure(err, timeoutMs), durationMs: elapsed() });
        req?.destroy();
      };
      const timer = setTimeout(() => fail(attemptTimeout(timeoutMs)), timeoutMs);

      const onResponse = (res: http.IncomingMessage): void => {
        const statusCode = res.statusCode ?? 0;
        const kept: Buffer[] = [];
        let keptBytes = 0;
        let total = 0;
        const answer = (): void => {
          finish({
            statusCode,
            durationMs: elapsed(),
            // Decoded first, then cut on a character boundary; a binary body is named as such.
            responseExcerpt: responseExcerpt(kept.length === 1 ? kept[0]! : Buffer.concat(kept), total),
            // node keeps the first of repeated Retry-After headers.
            retryAfter: res.headers["retry-after"],
            error:
              statusCode >= 200 && statusCode < 300
                ? undefined
                : statusCode >= 300 && statusCode < 400
                  ? `redirect: HTTP ${statusCode} (redirects are not followed)`
                  : `http_error: HTTP ${statusCode}`,
          });
        };
        // The body is read to its end so that the socket goes back to the pool, keeping only its head;
        // past DELIVERY.maxResponseBodyBytes the socket is destroyed instead (never reused half-read).
        res.on("data", (chunk: Buffer) => {
          if (settled) return;
          total += chunk.length;
          if (keptBytes < EXCERPT_READ_BYTES) {
            const part = chunk.subarray(0, EXCERPT_READ_BYTES - keptBytes);
            kept.push(part);
            keptBytes += part.length;
          }
          if (total > DELIVERY.maxResponseBodyBytes) {
            answer();
            req?.destroy();
          }
        });
        res.on("end", answer);
        // A reset in the middle of the body: 'error' (ECONNRESET "aborted"), or 'close' before 'end'.
        res.on("error", fail);
        res.on("close", () => {
          if (!settled) fail(Object.assign(new Error("the connection was closed before the response ended"), { code: "ECONNRESET" }));
        });
      };

      try {
        req = client.request(options, onResponse);
        req.on("error", fail);
        req.end(body);
      } catch (err) {
        // A header value node refuses (ERR_INVALID_CHAR) throws here, before any socket.
        fail(err);
      }
    });
  }

  /** Closes every socket, idle or not: for the end of a process (tests, the bench). */
  close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
    return Promise.resolve();
  }
}
