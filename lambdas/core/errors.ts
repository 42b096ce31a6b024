/** The one error shape every refusal uses: `{"error": {"code", "message", "details"}}` (docs/openapi.yaml: `Error`). */
export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `events[3].type` or `url`. */
  readonly field: string;
  readonly message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly ErrorDetail[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  toBody(): { error: { code: string; message: string; details: readonly ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export const notFound = (what: string): ApiError => new ApiError(404, "not_found", `${what} not found`);

export const validationError = (details: readonly ErrorDetail[]): ApiError =>
  new ApiError(400, "validation_failed", details.length === 1 ? `${details[0].field}: ${details[0].message}` : `${details.length} fields are invalid`, details);
