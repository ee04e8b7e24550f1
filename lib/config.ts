/**
 * The users' storage configuration: TOML with `[object_store]`,
 * `backend = "s3"` and `[object_store.s3]`, as the product documentation
 * ("S3-Compatible Storage") describes it, read into a frozen StorageConfig.
 * Everything wrong with a file is collected into one ConfigError before any
 * request is made. Plain options (storageConfig) are checked by the same
 * rules: the keys, the environment fill and the checks are in settings.ts,
 * each provider's own rules in providers.ts.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { createRequire } from 'node:module';
import type { TomlError } from 'smol-toml';
import type { CredentialPlan } from './chain.js';
import type { Credentials } from './credentials.js';
import { ConfigError, type ConfigProblem } from './errors.js';
import type { Provider, Report } from './providers.js';
import {
  type EndpointParts,
  type Environment,
  fileKey,
  joined,
  KEYS,
  type Key,
  type Name,
  resolve,
  S3_TABLE,
  type Settings,
  describe,
  unknownKey,
} from './settings.js';

export type { EndpointParts, Environment } from './settings.js';

/**
 * A validated storage configuration. Keys of its own (or the environment's)
 * live in a private field: they are readable through `credentials()` and
 * never appear in `util.inspect`, `JSON.stringify` or a message. Without
 * keys, the client asks the credential chain (README, Credentials).
 */
export class StorageConfig {
  /** The file it came from (or the name given to parseConfig). */
  readonly source: string;
  /** The endpoint's origin and base path, without a trailing `/`: `https://s3.us-east-1.amazonaws.com`. */
  readonly endpoint: string;
  /** The same endpoint as parsed parts, frozen: what Endpoint builds request targets from. */
  readonly endpointParts: EndpointParts;
  readonly provider: Provider;
  /** The access key of the configuration or the environment; undefined when the credentials come from the chain. */
  readonly accessKeyId: string | undefined;
  /** Where the keys come from: the file's name (or `options`), `environment`, or `chain`. */
  readonly credentialSource: string;
  /** The TOML `profile`: the shared files' profile the chain and the region and endpoint come from. */
  readonly profile: string | undefined;
  readonly bucket: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** 0: download links are plain object URLs; more: presigned for that many seconds. */
  readonly presignedExpirySecs: number;
  /** Download links go here when set: `{publicUrlBase}/{encoded key}`. No trailing `/`. */
  readonly publicUrlBase: string | undefined;
  /** Things that work but probably not as meant, each naming its key. The library never prints them. */
  readonly warnings: readonly string[];
  readonly #credentials: CredentialPlan;

  /** @internal Built by parseConfig and loadConfig. */
  constructor(settings: Settings) {
    this.source = settings.source;
    this.endpoint = joined(settings.endpoint);
    this.endpointParts = settings.endpoint;
    this.provider = settings.provider;
    const plan = settings.credentials;
    this.accessKeyId = plan.kind === 'static' ? plan.credentials.accessKeyId : undefined;
    this.credentialSource = plan.kind === 'static' ? plan.credentials.source : 'chain';
    this.profile = settings.profile;
    this.bucket = settings.bucket;
    this.region = settings.region;
    this.forcePathStyle = settings.forcePathStyle;
    this.presignedExpirySecs = settings.presignedExpirySecs;
    this.publicUrlBase = settings.publicUrlBase;
    this.warnings = Object.freeze([...settings.warnings]);
    this.#credentials = plan;
    Object.freeze(this);
  }

  /** The keys of the configuration or the environment, for a SigV4Signer; undefined when the chain gives them. */
  credentials(): Credentials | undefined {
    const plan = this.#credentials;
    if (plan.kind !== 'static') return undefined;
    const { accessKeyId, secretAccessKey, sessionToken } = plan.credentials;
    return { accessKeyId, secretAccessKey, sessionToken };
  }

  /** @internal How the client gets credentials: these keys, or the chain with its environment and shared files. */
  credentialPlan(): CredentialPlan {
    return this.#credentials;
  }

  /** What a log line may show: every setting, the secrets only as whether they are set. */
  toJSON(): Record<string, unknown> {
    return {
      source: this.source,
      endpoint: this.endpoint,
      provider: this.provider,
      accessKeyId: this.accessKeyId,
      credentialSource: this.credentialSource,
      profile: this.profile,
      secretAccessKey: this.accessKeyId === undefined ? undefined : '[redacted]',
      sessionToken: this.credentials()?.sessionToken === undefined ? undefined : '[redacted]',
      bucket: this.bucket,
      region: this.region,
      forcePathStyle: this.forcePathStyle,
      presignedExpirySecs: this.presignedExpirySecs,
      publicUrlBase: this.publicUrlBase,
      warnings: this.warnings,
    };
  }

  [inspect.custom](_depth: number, options: object): string {
    return `StorageConfig ${inspect(this.toJSON(), options)}`;
  }
}

let toml: typeof import('smol-toml') | undefined;

/** smol-toml (its CommonJS build, so loading stays synchronous), the first time a text is parsed: `import('s3v4')` alone does not load it. */
function smolToml(): typeof import('smol-toml') {
  toml ??= createRequire(import.meta.url)('smol-toml') as typeof import('smol-toml');
  return toml;
}

/** Reads and validates a TOML configuration file. Throws one ConfigError listing every problem. */
export function loadConfig(path: string, env: Environment = process.env): StorageConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'does not exist'
        : `cannot be read (${(error as Error).message})`;
    throw new ConfigError(path, [
      { key: 'file', problem: `${reason}; pass the path of a TOML file with an [object_store] table` },
    ]);
  }
  return parseConfig(text, path, env);
}

/** Validates TOML text; `name` is used in messages in place of a file name. */
export function parseConfig(text: string, name = 'config', env: Environment = process.env): StorageConfig {
  const problems: ConfigProblem[] = [];
  const report = (key: string, problem: string) => problems.push({ key, problem });
  let document: Record<string, unknown>;
  try {
    // Integers as bigint tell 3600 from 3600.0 and 1.5 (TOML 1.0 section "Integer").
    document = smolToml().parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (!(error instanceof smolToml().TomlError)) throw error;
    throw new ConfigError(name, [syntaxProblem(text, error)]);
  }
  const table = s3Table(document, report);
  if (table === undefined) throw new ConfigError(name, problems);
  const settings = resolve(name, table, env, fileKey, report);
  if (problems.length > 0 || settings === undefined) throw new ConfigError(name, problems);
  return new StorageConfig(settings);
}

/** The reason smol-toml gives, without its excerpt of the source (which may hold the secret key). */
function reasonOf(error: TomlError): string {
  return error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
}

/** The syntax error parsing `text` throws, if any. */
function syntaxError(text: string): TomlError | undefined {
  try {
    smolToml().parse(text);
  } catch (error) {
    if (error instanceof smolToml().TomlError) return error;
    throw error;
  }
  return undefined;
}

/**
 * A TOML syntax error, with its line and column. smol-toml reports a string whose line ends before its closing
 * quote as a control character (the line break) in the string; cut there, the string runs to the end of the text,
 * which smol-toml reports as unfinished where the string starts. Both are an unterminated string (TOML 1.0, "String").
 */
function syntaxProblem(text: string, error: TomlError): ConfigProblem {
  let found: TomlError = error;
  const lines = text.split('\n');
  const at = lines[error.line - 1]?.[error.column - 1];
  if (reasonOf(error).startsWith('control characters are not allowed') && (at === undefined || at === '\r')) {
    const offset = lines.slice(0, error.line - 1).reduce((sum, line) => sum + line.length + 1, error.column - 1);
    const cut = syntaxError(text.slice(0, offset));
    if (cut !== undefined && reasonOf(cut) === 'unfinished string') found = cut;
  }
  const reason = reasonOf(found);
  const problem = reason === 'unfinished string' ? 'unterminated string: the closing quote is missing' : reason;
  return { key: `line ${found.line}, column ${found.column}`, problem: `TOML syntax error: ${problem}` };
}

/**
 * The same settings as plain options, for code that configures s3v4 without
 * a file: `storageConfig({ bucket, region, ... })`. Checked by the same rules;
 * messages name the options (`options.forcePathStyle`).
 */
export interface StorageOptions {
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** A profile of the AWS shared files, for the credential chain, the region and the endpoint. */
  profile?: string;
  bucket: string;
  region?: string;
  forcePathStyle?: boolean;
  presignedExpirySecs?: number;
  publicUrlBase?: string;
}

/** Each option and the configuration key it stands for. */
const OPTION_KEYS: Readonly<Record<keyof StorageOptions, Key>> = {
  endpoint: 'endpoint',
  accessKeyId: 'access_key',
  secretAccessKey: 'secret_key',
  sessionToken: 'session_token',
  profile: 'profile',
  bucket: 'bucket',
  region: 'region',
  forcePathStyle: 'force_path_style',
  presignedExpirySecs: 'presigned_expiry_secs',
  publicUrlBase: 'public_url_base',
};

/** Validates plain options like a configuration file (environment variables fill what they leave empty). */
export function storageConfig(options: StorageOptions, env: Environment = process.env): StorageConfig {
  if (options === null || typeof options !== 'object')
    throw new ConfigError('options', [
      { key: 'options', problem: 'must be an object with bucket, region and credentials' },
    ]);
  const problems: ConfigProblem[] = [];
  const report = (key: string, problem: string) => problems.push({ key, problem });
  const table: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    const key = (OPTION_KEYS as Record<string, Key | undefined>)[name];
    if (key === undefined)
      problems.push({ key: `options.${name}`, problem: unknownKey(name, Object.keys(OPTION_KEYS)) });
    // A whole number stands for a TOML integer; anything else is reported with its type.
    else if (value !== undefined)
      table[key] = key === 'presigned_expiry_secs' && Number.isSafeInteger(value) ? BigInt(value as number) : value;
  }
  const settings = resolve('options', table, env, optionKey, report);
  if (problems.length > 0 || settings === undefined) throw new ConfigError('options', problems);
  return new StorageConfig(settings);
}

/** The option that stands for a configuration key, as messages name it: `options.accessKeyId`. */
const optionKey: Name = (key) =>
  `options.${(Object.keys(OPTION_KEYS) as Array<keyof StorageOptions>).find((option) => OPTION_KEYS[option] === key)!}`;

/**
 * Why a table is missing: a table beside it whose name differs only in case is what was meant, since TOML names are
 * case-sensitive (TOML 1.0, "Keys"); else `advice`. `parent` prefixes the names shown: `object_store.`.
 */
function missingTable(within: Record<string, unknown>, name: string, parent: string, advice: string): string {
  const twin = Object.keys(within).find((key) => key.toLowerCase() === name && isTable(within[key]));
  if (twin === undefined) return `is missing; ${advice}`;
  return `is missing; did you mean [${parent}${twin}]? Table names are case-sensitive: rename it [${parent}${name}]`;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * The [object_store.s3] table, once [object_store] says backend = "s3". Other top-level tables belong to the rest of
 * the application.
 */
function s3Table(document: Record<string, unknown>, report: Report): Record<string, unknown> | undefined {
  const store = document.object_store;
  if (!isTable(store)) {
    report(
      '[object_store]',
      store === undefined
        ? missingTable(document, 'object_store', '', 'add an [object_store] table with backend = "s3"')
        : `must be a table, got ${describe(store)}`,
    );
    return undefined;
  }
  const backend = store.backend;
  if (backend === undefined) report('[object_store] backend', 'is missing; set backend = "s3"');
  else if (backend !== 's3')
    report('[object_store] backend', `must be "s3", the backend s3v4 serves, got ${describe(backend)}`);
  for (const key of Object.keys(store)) {
    // Tables beside s3 are other backends' settings; a stray plain value is a typo, or an s3 key written above the
    // [object_store.s3] header.
    if (key === 'backend' || key === 's3' || isTable(store[key])) continue;
    report(
      `[object_store] ${key}`,
      Object.hasOwn(KEYS, key) ? `belongs in ${S3_TABLE}; move it below that header` : unknownKey(key, ['backend']),
    );
  }
  const s3 = store.s3;
  if (!isTable(s3)) {
    report(
      S3_TABLE,
      s3 === undefined
        ? missingTable(
            store,
            's3',
            'object_store.',
            'add an [object_store.s3] table with bucket, region and credentials',
          )
        : `must be a table, got ${describe(s3)}`,
    );
    return undefined;
  }
  return backend === 's3' ? s3 : undefined;
}
