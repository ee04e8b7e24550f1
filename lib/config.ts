/**
 * The users' storage configuration: TOML with `[object_store]`,
 * `backend = "s3"` and `[object_store.s3]`, as the product documentation
 * ("S3-Compatible Storage") describes it. Everything wrong with a file is
 * collected into one ConfigError before any request is made; settings left
 * empty are filled from the AWS environment variables users already set.
 * Plain options (storageConfig) are checked by the same rules. The rules of
 * each provider, from its own documentation, are in lib/providers.ts.
 */
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { TomlError, parse } from 'smol-toml';
import { ConfigError, type ConfigProblem } from './errors.js';
import {
  awsHost, bucketNameProblem, checkProvider, privateHost, providerOf, regionOfHost, regionalHost,
  type Provider, type Report, type Sourced,
} from './providers.js';
import { MAX_PRESIGN_EXPIRY } from './signer.js';

/** The environment variables a configuration reads; `process.env` by default. */
export type Environment = Readonly<Record<string, string | undefined>>;

const S3_TABLE = '[object_store.s3]';

/** The keys of [object_store.s3], with their TOML type. */
const KEYS = {
  endpoint: 'string',
  access_key: 'string',
  secret_key: 'string',
  session_token: 'string',
  bucket: 'string',
  region: 'string',
  force_path_style: 'boolean',
  presigned_expiry_secs: 'integer',
  public_url_base: 'string',
} as const;
type Key = keyof typeof KEYS;

/** What messages call a key: `[object_store.s3] access_key` in a file, `options.accessKeyId` for plain options. */
type Name = (key: Key) => string;
/** The values of [object_store.s3] keys that have the right type. */
type Values = Partial<Record<Key, string | boolean | bigint>>;

const fileKey: Name = (key) => `${S3_TABLE} ${key}`;

/** Keys whose values never appear in a message. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['secret_key', 'session_token']);

/**
 * Environment variables that fill a key left empty, in order; the file wins
 * where both are set. The names are the AWS CLI and SDKs' own.
 */
const FROM_ENVIRONMENT = {
  access_key: ['AWS_ACCESS_KEY_ID'],
  secret_key: ['AWS_SECRET_ACCESS_KEY'],
  session_token: ['AWS_SESSION_TOKEN'],
  region: ['AWS_REGION'],
  endpoint: ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'],
} as const satisfies Partial<Record<Key, readonly string[]>>;
type EnvironmentKey = keyof typeof FROM_ENVIRONMENT;

/** The resolved settings, before they are frozen into a StorageConfig. */
interface Settings {
  source: string;
  endpoint: EndpointParts;
  provider: Provider;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | undefined;
  bucket: string;
  region: string;
  forcePathStyle: boolean;
  presignedExpirySecs: number;
  publicUrlBase: string | undefined;
  warnings: string[];
}

/** The endpoint as the loader parsed it, once: what Endpoint builds request targets from. */
export interface EndpointParts {
  /** `https:` or `http:`. */
  readonly protocol: 'http:' | 'https:';
  /** The authority as WHATWG URL gives it (`URL.host`): lower case, default port dropped, IPv6 in brackets: `s3.us-east-1.amazonaws.com`, `127.0.0.1:7480`. */
  readonly host: string;
  /** `URL.hostname`: the host without its port (IPv6 keeps its brackets). */
  readonly hostname: string;
  /** The base path without a trailing `/`: '' or `/storage`. */
  readonly basePath: string;
}

/**
 * A validated storage configuration. The secret key and session token live
 * in private fields: they are readable through `credentials()` and never
 * appear in `util.inspect`, `JSON.stringify` or a message.
 */
export class StorageConfig {
  /** The file it came from (or the name given to parseConfig). */
  readonly source: string;
  /** The endpoint's origin and base path, without a trailing `/`: `https://s3.us-east-1.amazonaws.com`. */
  readonly endpoint: string;
  /** The same endpoint as parsed parts, frozen: what Endpoint builds request targets from. */
  readonly endpointParts: EndpointParts;
  readonly provider: Provider;
  readonly accessKeyId: string;
  readonly bucket: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** 0: download links are plain object URLs; more: presigned for that many seconds. */
  readonly presignedExpirySecs: number;
  /** Download links go here when set: `{publicUrlBase}/{encoded key}`. No trailing `/`. */
  readonly publicUrlBase: string | undefined;
  /** Things that work but probably not as meant, each naming its key. The library never prints them. */
  readonly warnings: readonly string[];
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;

  /** @internal Built by parseConfig and loadConfig. */
  constructor(settings: Settings) {
    this.source = settings.source;
    this.endpoint = joined(settings.endpoint);
    this.endpointParts = settings.endpoint;
    this.provider = settings.provider;
    this.accessKeyId = settings.accessKeyId;
    this.bucket = settings.bucket;
    this.region = settings.region;
    this.forcePathStyle = settings.forcePathStyle;
    this.presignedExpirySecs = settings.presignedExpirySecs;
    this.publicUrlBase = settings.publicUrlBase;
    this.warnings = Object.freeze([...settings.warnings]);
    this.#secretAccessKey = settings.secretAccessKey;
    this.#sessionToken = settings.sessionToken;
    Object.freeze(this);
  }

  /** The credentials, for a SigV4Signer. */
  credentials(): { accessKeyId: string; secretAccessKey: string; sessionToken: string | undefined } {
    return { accessKeyId: this.accessKeyId, secretAccessKey: this.#secretAccessKey, sessionToken: this.#sessionToken };
  }

  /** What a log line may show: every setting, the secrets only as whether they are set. */
  toJSON(): Record<string, unknown> {
    return {
      source: this.source,
      endpoint: this.endpoint,
      provider: this.provider,
      accessKeyId: this.accessKeyId,
      secretAccessKey: '[redacted]',
      sessionToken: this.#sessionToken === undefined ? undefined : '[redacted]',
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

/** Reads and validates a TOML configuration file. Throws one ConfigError listing every problem. */
export function loadConfig(path: string, env: Environment = process.env): StorageConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    throw new ConfigError(path, [{ key: 'file', problem: `${reason}; pass the path of a TOML file with an [object_store] table` }]);
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
    document = parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new ConfigError(name, [{ key: `line ${error.line}, column ${error.column}`, problem: `TOML syntax error: ${reason}` }]);
  }
  const table = s3Table(document, report);
  if (table === undefined) throw new ConfigError(name, problems);
  const settings = resolve(name, table, env, fileKey, report);
  if (problems.length > 0 || settings === undefined) throw new ConfigError(name, problems);
  return new StorageConfig(settings);
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
  bucket: 'bucket',
  region: 'region',
  forcePathStyle: 'force_path_style',
  presignedExpirySecs: 'presigned_expiry_secs',
  publicUrlBase: 'public_url_base',
};

/** Validates plain options like a configuration file (environment variables fill what they leave empty). */
export function storageConfig(options: StorageOptions, env: Environment = process.env): StorageConfig {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', [{ key: 'options', problem: 'must be an object with bucket, region and credentials' }]);
  const problems: ConfigProblem[] = [];
  const report = (key: string, problem: string) => problems.push({ key, problem });
  const table: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    const key = (OPTION_KEYS as Record<string, Key | undefined>)[name];
    if (key === undefined) problems.push({ key: `options.${name}`, problem: unknownKey(name, Object.keys(OPTION_KEYS)) });
    // A whole number stands for a TOML integer; anything else is reported with its type.
    else if (value !== undefined) table[key] = key === 'presigned_expiry_secs' && Number.isSafeInteger(value) ? BigInt(value as number) : value;
  }
  const settings = resolve('options', table, env, optionKey, report);
  if (problems.length > 0 || settings === undefined) throw new ConfigError('options', problems);
  return new StorageConfig(settings);
}

/** The option that stands for a configuration key, as messages name it: `options.accessKeyId`. */
const optionKey: Name = (key) =>
  `options.${(Object.keys(OPTION_KEYS) as Array<keyof StorageOptions>).find((option) => OPTION_KEYS[option] === key)!}`;

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** The [object_store.s3] table, once [object_store] says backend = "s3". Other top-level tables belong to the rest of the application. */
function s3Table(document: Record<string, unknown>, report: Report): Record<string, unknown> | undefined {
  const store = document['object_store'];
  if (!isTable(store)) {
    report('[object_store]', store === undefined ? 'is missing; add an [object_store] table with backend = "s3"' : `must be a table, got ${describe(store)}`);
    return undefined;
  }
  const backend = store['backend'];
  if (backend === undefined) report('[object_store] backend', 'is missing; set backend = "s3"');
  else if (backend !== 's3') report('[object_store] backend', `must be "s3", the backend s3v4 serves, got ${describe(backend)}`);
  for (const key of Object.keys(store)) {
    // Tables beside s3 are other backends' settings; a stray plain value is a typo, or an s3 key written above the [object_store.s3] header.
    if (key === 'backend' || key === 's3' || isTable(store[key])) continue;
    report(`[object_store] ${key}`, Object.hasOwn(KEYS, key) ? `belongs in ${S3_TABLE}; move it below that header` : unknownKey(key, ['backend']));
  }
  const s3 = store['s3'];
  if (!isTable(s3)) {
    report(S3_TABLE, s3 === undefined ? 'is missing; add an [object_store.s3] table with bucket, region and credentials' : `must be a table, got ${describe(s3)}`);
    return undefined;
  }
  return backend === 's3' ? s3 : undefined;
}

/** `a string`, `an array`: the kind of a TOML value, for messages that must not show the value. */
function kind(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'bigint' || typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (value instanceof Date) return 'a date';
  return Array.isArray(value) ? 'an array' : 'a table';
}

/** `the string "yes"`, `the number 1.5`: what a value was, for messages. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'bigint') return `the integer ${value}`;
  // Integers are bigints, so a number is a TOML float: 3600.0 must not read as the whole number 3600.
  if (typeof value === 'number') return `the number ${Number.isInteger(value) ? value.toFixed(1) : value}`;
  if (typeof value === 'boolean') return `${value}`;
  return kind(value);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}

function unknownKey(key: string, valid: readonly string[]): string {
  const nearest = [...valid].sort((a, b) => distance(key, a) - distance(key, b))[0]!;
  if (distance(key, nearest) <= Math.max(2, Math.floor(nearest.length / 3))) return `is not a known key; did you mean ${nearest}?`;
  return `is not a known key; the keys are ${valid.join(', ')}`;
}

/** The typed values of [object_store.s3]; wrong types and unknown keys are reported. */
function readKeys(table: Record<string, unknown>, at: Name, report: Report): Values {
  const values: Values = {};
  for (const key of Object.keys(table)) {
    const value = table[key];
    if (!Object.hasOwn(KEYS, key)) {
      // Only a file holds unknown keys: storageConfig reports unknown options itself.
      report(`${S3_TABLE} ${key}`, unknownKey(key, Object.keys(KEYS)));
      continue;
    }
    const type = KEYS[key as Key];
    const shown = SECRET_KEYS.has(key) ? kind(value) : describe(value);
    if (type === 'integer') {
      if (typeof value === 'bigint') values[key as Key] = value;
      else report(at(key as Key), `must be a whole number of seconds, got ${shown}`);
    } else if (typeof value === type) {
      values[key as Key] = value as string | boolean;
    } else {
      report(at(key as Key), type === 'boolean' ? `must be true or false, got ${shown}` : `must be a string, got ${shown}`);
    }
  }
  return values;
}

/** Why a key gives no value: `is missing` or `is empty`; undefined when it holds something (a wrong type is reported by readKeys). */
function absence(table: Record<string, unknown>, key: Key): string | undefined {
  if (table[key] === undefined) return 'is missing';
  return table[key] === '' ? 'is empty' : undefined;
}

/** The settings of a table, each problem reported as `at(key)`. Warnings name the file's keys for plain options too. */
function resolve(
  source: string, table: Record<string, unknown>, env: Environment, at: Name, report: Report,
): Settings | undefined {
  const values = readKeys(table, at, report);
  const warnings: string[] = [];
  /** A key's string value, else the first environment variable set; '' when neither is. Messages point at `by(key)`. */
  const sourced = (key: EnvironmentKey, by = at): Sourced => {
    const own = values[key];
    if (typeof own === 'string' && own !== '') return { value: own, at: by(key) };
    for (const variable of FROM_ENVIRONMENT[key]) {
      const value = env[variable];
      // A bad value from the environment is not in the file, so its message names the variable.
      if (value !== undefined && value !== '') return { value, at: `${by(key)} (from ${variable})` };
    }
    return { value: '', at: by(key) };
  };
  const unset = (key: EnvironmentKey, advice: string) => {
    const why = absence(table, key);
    if (why !== undefined) report(at(key), `${why} and ${FROM_ENVIRONMENT[key][0]} is not set; ${advice}`);
  };

  const accessKey = sourced('access_key');
  if (accessKey.value === '') unset('access_key', 'set one of them');
  else if (!/^[\x21-\x7e]+$/.test(accessKey.value)) report(accessKey.at, 'must be printable ASCII without spaces');
  const secretKey = sourced('secret_key');
  if (secretKey.value === '') unset('secret_key', 'set one of them');
  const token = sourced('session_token');
  if (token.value !== '' && !/^[\x21-\x7e]+$/.test(token.value)) report(token.at, 'must be printable ASCII without spaces');

  const bucket = typeof values.bucket === 'string' ? values.bucket : '';
  const noBucket = absence(table, 'bucket');
  if (noBucket !== undefined) report(at('bucket'), `${noBucket}; set the bucket name`);
  else if (bucket !== '') {
    const broken = bucketNameProblem(bucket);
    if (broken !== undefined) report(at('bucket'), `${JSON.stringify(bucket)} ${broken} (S3 bucket naming rules)`);
  }

  // Checked as a bigint, so an out-of-range 2^63 - 1 is shown as written.
  const expiry = values.presigned_expiry_secs;
  const expiryInRange = typeof expiry === 'bigint' && expiry >= 0n && expiry <= BigInt(MAX_PRESIGN_EXPIRY);
  if (typeof expiry === 'bigint' && !expiryInRange) {
    report(at('presigned_expiry_secs'), `must be from 0 (plain public URLs) to ${MAX_PRESIGN_EXPIRY} (7 days, the longest S3 allows), got ${expiry}`);
  }
  const presignedExpirySecs = expiryInRange ? Number(expiry) : 0;

  const endpointText = sourced('endpoint');
  const awsDefaultEndpoint = endpointText.value === '';
  const endpoint = awsDefaultEndpoint ? undefined : httpUrl(endpointText.value, endpointText.at, 'https://s3.us-east-1.amazonaws.com', report);
  const baseText = typeof values.public_url_base === 'string' ? values.public_url_base : '';
  const base = baseText === '' ? undefined : httpUrl(baseText, at('public_url_base'), 'https://cdn.example.com', report);

  const host = endpoint?.hostname ?? '';
  // A virtual-hosted endpoint copied from a console would name the bucket twice: my-bucket.my-bucket.s3...
  if (bucket !== '' && host.startsWith(`${bucket}.`)) {
    report(endpointText.at, `already starts with the bucket name; set endpoint = "${endpoint!.protocol}//${endpoint!.host.slice(bucket.length + 1)}" and keep bucket = "${bucket}"`);
  }
  const provider = awsDefaultEndpoint ? 'aws' : providerOf(host);
  const hostRegion = regionOfHost(provider, host);
  const given = sourced('region');
  // The file, then AWS_REGION, then the region the endpoint host names, then the provider's default.
  const region = given.value !== '' ? given : { value: hostRegion ?? (provider === 'r2' ? 'auto' : provider === 'other' ? 'us-east-1' : ''), at: given.at };
  // Only a valid region makes a host name: the AWS default endpoint is built from it.
  const regionValid = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(region.value);
  if (region.value === '') unset('region', 'set the bucket\'s region, such as us-east-1');
  else if (!regionValid) report(region.at, `must be a region name such as us-east-1, got ${describe(region.value)}`);
  else if (hostRegion !== undefined && region.value !== hostRegion) {
    // AWS_REGION may name another provider's region altogether: only a region the file chose earns the other endpoint as a fix.
    const otherFix = region.at === at('region') ? `, or endpoint = "https://${regionalHost(provider, region.value)}" to use ${region.value}` : ' in the file';
    report(region.at, `is ${JSON.stringify(region.value)} but the endpoint ${host} serves ${hostRegion}; set region = ${JSON.stringify(hostRegion)}${otherFix}`);
  }
  const forcePathStyle = values.force_path_style === true;
  const namedBucket = { value: bucket, at: at('bucket') };
  // Like the http:// warning below, the force_path_style warnings name the file's key whatever `at` is.
  const pathStyle = { value: forcePathStyle, at: fileKey('force_path_style') };
  checkProvider(provider, { host, bucket: namedBucket, region, forcePathStyle: pathStyle }, report, warnings);
  // Plain http carries every request, and the access key id, in the clear: fine on this machine or a private network only.
  if (endpoint?.protocol === 'http:' && !privateHost(host)) {
    const unencrypted = `http:// sends requests to ${host} unencrypted; use https:// unless it is on a private network`;
    warnings.push(`${sourced('endpoint', fileKey).at}: ${unencrypted}`);
  }

  if (endpoint === undefined && !(awsDefaultEndpoint && regionValid)) return undefined;
  return {
    source,
    endpoint: partsOf(endpoint ?? new URL(`https://${awsHost(region.value)}`)),
    provider,
    accessKeyId: accessKey.value,
    secretAccessKey: secretKey.value,
    sessionToken: token.value === '' ? undefined : token.value,
    bucket,
    region: region.value,
    forcePathStyle,
    presignedExpirySecs,
    publicUrlBase: base === undefined ? undefined : joined(partsOf(base)),
    warnings,
  };
}

/** The parts of an http(s) URL that httpUrl let through, frozen. */
function partsOf(url: URL): EndpointParts {
  const { host, hostname, pathname } = url;
  const protocol = url.protocol as EndpointParts['protocol'];
  return Object.freeze({ protocol, host, hostname, basePath: pathname.replace(/\/+$/, '') });
}

/** Origin and base path without a trailing `/`, so a key is appended after exactly one. */
function joined(parts: EndpointParts): string {
  return `${parts.protocol}//${parts.host}${parts.basePath}`;
}

/** An absolute http(s) URL without query, fragment or user info; reported and undefined otherwise. */
function httpUrl(text: string, key: string, example: string, report: Report): URL | undefined {
  const placeholder = /<[^<>]*>/.exec(text);
  if (placeholder !== null) {
    report(key, `still holds the placeholder ${placeholder[0]} from the documentation example; put your own value there`);
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // Everything up to the last "@" may be user:password, perhaps the secret key itself: messages never show it.
  const shown = describe(text.replace(/^((?:[^:/?#@]*:\/\/)?)[^]*@/, '$1[redacted]@'));
  // "minio:9000" parses, as a URL of scheme "minio:"; it is the scheme that is missing.
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    report(key, `must be an absolute URL starting with http:// or https://, such as ${example}, got ${shown}`);
  } else if (url.username !== '' || url.password !== '') report(key, 'must not carry user:password@; put credentials in access_key and secret_key');
  else if (url.search !== '' || text.includes('?')) report(key, `must not carry a query (?...), got ${shown}`);
  else if (url.hash !== '' || text.includes('#')) report(key, `must not carry a fragment (#...), got ${shown}`);
  else return url;
  return undefined;
}
