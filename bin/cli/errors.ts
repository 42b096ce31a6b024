/**
 * The CLI's two kinds of failure and their exit codes: 1 when the API or the network refused or
 * failed, 2 when the command line itself was wrong. 0 is success.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A bad command line: an unknown option, a missing argument, a value of the wrong form. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The API answered with an error, could not be reached, or the target could not be found. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    /** The HTTP status when the API answered; absent for network and setup failures. */
    readonly status?: number,
    /** The API's error code (`not_found`, `validation_failed`, …). */
    readonly code?: string,
    /** The API's per-field details. */
    readonly details: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}
