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

/** One thing wrong in a configuration: where (`key`, or a line and column) and what. */
export interface ConfigProblem {
  /** `[object_store.s3] bucket`, or `line 4, column 12` for a TOML syntax error. */
  key: string;
  /** What was wrong and what was expected. Never holds a secret. */
  problem: string;
}

/** A configuration that cannot be used; `problems` lists everything wrong with it at once. */
export class ConfigError extends S3v4Error {
  /** The file (or the name given to parseConfig). */
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      'ERR_S3V4_CONFIG',
      `${file}: the storage configuration has ${count}:\n${problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`,
    );
    this.file = file;
    this.problems = problems;
  }
}

/** What S3 said when it refused a request, and what to do about it. */
export interface S3ErrorDetails {
  /** S3's error code, such as NoSuchKey or SignatureDoesNotMatch. */
  code: string;
  status: number;
  /** S3's message, or the status text when the reply had none. */
  message: string;
  requestId?: string | undefined;
  hostId?: string | undefined;
  /** What usually fixes this error, when s3v4 knows. */
  hint?: string | undefined;
  /** The request, as `PUT key` or `GET ?list-type=2`: never a signature or secret. */
  request: string;
}

/** The server refused a request. `code` is S3's own error code. */
export class S3Error extends S3v4Error {
  readonly status: number;
  readonly requestId: string | undefined;
  readonly hostId: string | undefined;
  readonly hint: string | undefined;
  readonly request: string;

  constructor(details: S3ErrorDetails) {
    const hint = details.hint === undefined ? '' : ` (${details.hint})`;
    super(details.code, `${details.request}: ${details.status} ${details.code}: ${details.message}${hint}`);
    this.status = details.status;
    this.requestId = details.requestId;
    this.hostId = details.hostId;
    this.hint = details.hint;
    this.request = details.request;
  }
}

/**
 * The server's reply broke the S3 protocol: an error status without S3's
 * error code, a document without a field it must carry (an UploadId, an
 * ETag, a continuation token), or a listing that would loop. Not S3's own
 * refusal, so it is not an S3Error; `status` is the reply's.
 */
export class ProtocolError extends S3v4Error {
  readonly status: number;
  /** The request, as `GET ?list-type=2` or `UploadPart`: never a signature or secret. */
  readonly request: string;

  constructor(message: string, details: { status: number; request: string }) {
    super('ERR_S3V4_PROTOCOL', message);
    this.status = details.status;
    this.request = details.request;
  }
}

/** The request never got a reply: connection refused or reset, DNS, timeout. `cause` is the underlying error. */
export class NetworkError extends S3v4Error {
  constructor(code: 'ERR_S3V4_NETWORK' | 'ERR_S3V4_TIMEOUT', message: string, cause: unknown) {
    super(code, message, { cause });
  }
}

/**
 * A body held more or fewer bytes than its length said: a stream's declared
 * `contentLength`, or a file's size when it was opened (a file that shrinks
 * or grows while it is read). Nothing was stored: the request was cut off,
 * or the multipart upload aborted.
 */
export class BodyLengthError extends S3v4Error {
  /** The bytes the body was to hold. */
  readonly expected: number;
  /** The bytes read when the mismatch showed: all of a short body, or more than expected at the chunk too many. */
  readonly actual: number;

  constructor(what: string, expected: number, actual: number) {
    const held = actual > expected ? `more than ${expected}` : `only ${actual}`;
    super(
      'ERR_S3V4_BODY_LENGTH',
      `${what}: the body was to hold ${expected} bytes but held ${held}; nothing was stored`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * A body could not be read, or is no longer what was measured: a file that
 * cannot be opened or read, or that was replaced or rewritten since
 * fromFile() measured it (its parts would come from two versions), a Blob or
 * stream that failed (`cause` keeps its error). Nothing was stored.
 */
export class SourceError extends S3v4Error {
  constructor(what: string, problem: string, cause?: unknown) {
    super('ERR_S3V4_SOURCE', `${what}: ${problem}; nothing was stored`, cause === undefined ? {} : { cause });
  }
}

/** The caller's AbortSignal fired; multipart uploads were aborted, nothing is left half-written. */
export class AbortError extends S3v4Error {
  constructor(message: string, cause: unknown) {
    super('ABORT_ERR', message, { cause });
    this.name = 'AbortError';
  }
}

/** The command line was used wrongly: an unknown command or option, a missing or malformed argument. */
export class UsageError extends S3v4Error {
  constructor(message: string) {
    super('ERR_S3V4_USAGE', message);
  }
}

/** One credential source the chain asked, and why it gave no credentials. */
export interface CredentialAttempt {
  /** `environment`, `web identity`, `profile default`, `container`, `IMDS`... */
  source: string;
  /** Why it gave nothing: `AWS_ROLE_ARN not set`, `no answer within 1 s`. Never a secret or a token. */
  reason: string;
}

/**
 * No credentials could be had: every source of the chain gave nothing (`tried` lists each and why), or temporary
 * credentials expired and could not be refreshed. The message never holds a secret, a token or a token file's
 * contents.
 */
export class CredentialsError extends S3v4Error {
  readonly tried: readonly CredentialAttempt[];

  constructor(message: string, tried: readonly CredentialAttempt[] = [], options?: { cause?: unknown }) {
    const list = tried.map((attempt) => `\n  ${attempt.source}: ${attempt.reason}`).join('');
    super('ERR_S3V4_CREDENTIALS', `${message}${list}`, options);
    this.tried = Object.freeze([...tried]);
  }
}
