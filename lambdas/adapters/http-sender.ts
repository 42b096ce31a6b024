import { request, type Dispatcher } from "undici";
import { assertDialable, type EndpointPolicy } from "#core/endpoint-guard.ts";
import { createGuardedDispatcher } from "./guarded-dispatcher.ts";
import type { HttpResult, HttpSender } from "#core/ports.ts";
import { EXCERPT_READ_BYTES, responseExcerpt } from "#core/excerpt.ts";
import { DELIVERY } from "#core/settings.ts";

/**
 * POSTs a delivery with undici: keep-alive connections reused across invocations (the dispatcher
 * lives as long as the λ container), no redirects followed, every address checked when dialled.
 * Never throws: every outcome, including a timeout or a reset, is an HttpResult for the attempt log.
 */
export class UndiciSender implements HttpSender {
  private readonly dispatcher: Dispatcher;

  constructor(
    private readonly policy: EndpointPolicy,
    dispatcher?: Dispatcher,
  ) {
    this.dispatcher = dispatcher ?? createGuardedDispatcher(policy);
  }

  async post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<HttpResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const target = new URL(url);
      assertDialable(target, this.policy);
      const res = await request(target, {
        method: "POST",
        headers,
        body,
        dispatcher: this.dispatcher,
        // One deadline for connect, headers and the whole body: a body that never ends is a failure.
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const responseExcerpt = await readExcerpt(res.body);
      const retryAfter = res.headers["retry-after"];
      const statusCode = res.statusCode;
      return {
        statusCode,
        durationMs: elapsed(),
        responseExcerpt,
        retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        error:
          statusCode >= 200 && statusCode < 300
            ? undefined
            : statusCode >= 300 && statusCode < 400
              ? `redirect: HTTP ${statusCode} (redirects are not followed)`
              : `http_error: HTTP ${statusCode}`,
      };
    } catch (err) {
      return { error: describeFailure(err, timeoutMs), durationMs: elapsed() };
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** Reads the body to its end (so the connection can be reused), keeping its head for the excerpt. */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string | undefined> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (keptBytes < EXCERPT_READ_BYTES) {
      const part = chunk.subarray(0, EXCERPT_READ_BYTES - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
    if (total > DELIVERY.maxResponseBodyBytes) {
      body.destroy();
      break;
    }
  }
  // Decoded first, then cut on a character boundary; a binary body is named as such.
  return responseExcerpt(Buffer.concat(kept), total);
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

/** Error class first (timeout, connection_refused, …), then the detail: stable to filter, clear to read. */
export function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? "";
  const message = e.message ?? String(err);
  if (
    e.name === "TimeoutError" ||
    e.name === "AbortError" ||
    code === "UND_ERR_HEADERS_TIMEOUT" ||
    code === "UND_ERR_BODY_TIMEOUT" ||
    code === "UND_ERR_CONNECT_TIMEOUT"
  ) {
    return `timeout: no complete response within ${timeoutMs} ms`;
  }
  if (code === "ERR_FORBIDDEN_ADDRESS") return `forbidden_address: ${message}`;
  if (code === "ECONNREFUSED") return "connection_refused: the endpoint refused the connection";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE") return "connection_reset: the connection was closed before a complete response";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `dns_error: ${message}`;
  if (TLS_CODE.test(code)) return `tls_error: ${code}`;
  if (e.name === "TypeError" && /Invalid URL/i.test(message)) return `invalid_url: ${message}`;
  return `network_error: ${code ? `${code} ` : ""}${message}`.slice(0, 500);
}
