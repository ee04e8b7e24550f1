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
    super('ERR_S3V4_CONFIG', `${file}: the storage configuration has ${count}:\n${problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`);
    this.file = file;
    this.problems = problems;
  }
}

