/** One field the API refused, by its dotted path (`events[3].data.recordId`, `url`, `(body)`). */
export interface ErrorDetail {
  readonly field: string;
  readonly message: string;
}

/**
 * Every failure of the client: the API's refusal (`code`, `message`, `details` and the HTTP
 * `status`, as in docs/openapi.yaml's `Error`), API Gateway's own (`forbidden`, `throttled`), or no
 * answer at all (`network_error`, `timeout`: `status` is undefined).
 */
export class WebhooksError extends Error {
  override readonly name = "WebhooksError";
  /** The API's stable code (`validation_failed`, `not_found`, …), or the client's (`network_error`, `timeout`, `no_local_stack`, `config`). */
  readonly code: string;
  /** The HTTP status; undefined when no answer came. */
  readonly status?: number;
  /** The refused fields; [] when the refusal is not about a field. */
  readonly details: readonly ErrorDetail[];
  /** API Gateway's request id (`apigw-requestid`), for AWS support and the access logs. */
  readonly requestId?: string;
  /** How many times the request was sent (more than 1 after retries). */
  readonly attempts: number;
  /** Whether sending the same request again later may succeed (network, timeout, 429, 5xx). */
  readonly retryable: boolean;

  constructor(o: { code: string; message: string; status?: number; details?: readonly ErrorDetail[]; requestId?: string; attempts?: number }) {
    super(o.message);
    this.code = o.code;
    this.status = o.status;
    this.details = o.details ?? [];
    this.requestId = o.requestId;
    this.attempts = o.attempts ?? 1;
    this.retryable = o.status === undefined ? o.code === "network_error" || o.code === "timeout" : o.status === 429 || o.status >= 500;
  }

  /** The same error, counting `attempts` tries. */
  withAttempts(attempts: number): WebhooksError {
    return new WebhooksError({ code: this.code, message: this.message, status: this.status, details: this.details, requestId: this.requestId, attempts });
  }
}
