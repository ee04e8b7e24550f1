/**
 * Error classes. Every error s3v4 throws carries a stable `code` so callers can
 * branch without parsing messages. Messages name the argument and what was wrong;
 * they never include a secret key or session token.
 */

/** Base class of every error s3v4 throws. */
export class S3v4Error extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A caller passed an argument the library cannot use. `argument` names it. */
export class InvalidArgumentError extends S3v4Error {
  readonly argument: string;

  constructor(argument: string, problem: string) {
    super('ERR_S3V4_INVALID_ARGUMENT', `${argument}: ${problem}`);
    this.argument = argument;
  }
}
