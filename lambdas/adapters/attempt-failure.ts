/**
 * The attempt log's text for a failed attempt (docs/delivery-semantics.md): the error class first
 * (timeout, connection_refused, …), then the detail, stable to filter and clear to read. Knows the
 * errors NodeHttpSender meets: its own deadline, the endpoint guard's refusal, and the codes of
 * node's net, dns, tls and http client.
 */

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/;

/** The timeout every sender raises at its whole-attempt deadline: `describeFailure` names it `timeout:`. */
export function attemptTimeout(timeoutMs: number): Error {
  const err = new Error(`no complete response within ${timeoutMs} ms`);
  err.name = "TimeoutError";
  return err;
}

/** Error class first (timeout, connection_refused, …), then the detail: stable to filter, clear to read. */
export function describeFailure(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? "";
  const message = e.message ?? String(err);
  if (e.name === "TimeoutError" || e.name === "AbortError") return `timeout: no complete response within ${timeoutMs} ms`;
  if (code === "ERR_FORBIDDEN_ADDRESS") return `forbidden_address: ${message}`;
  if (code === "ECONNREFUSED") return "connection_refused: the endpoint refused the connection";
  if (code === "ECONNRESET" || code === "EPIPE") return "connection_reset: the connection was closed before a complete response";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `dns_error: ${message}`;
  if (TLS_CODE.test(code)) return `tls_error: ${code}`;
  if (e.name === "TypeError" && /Invalid URL/i.test(message)) return `invalid_url: ${message}`;
  return `network_error: ${code ? `${code} ` : ""}${message}`.slice(0, 500);
}
