/**
 * The settings of a `[object_store.s3]` table ("S3-Compatible Storage"):
 * its keys and their types, the AWS environment variables that fill the
 * ones left empty, and the checks that turn the table into Settings, every
 * problem reported with the key it concerns. config.ts reads the TOML and
 * freezes the result; each provider's own rules are in providers.ts.
 */
import {
  awsHost,
  bucketNameProblem,
  checkProvider,
  privateHost,
  providerOf,
  regionOfHost,
  regionalHost,
  type Provider,
  type Report,
  type Sourced,
} from './providers.js';
import { closest } from './arguments.js';
import type { CredentialPlan } from './chain.js';
import type { CredentialAttempt } from './errors.js';
import { MAX_PRESIGN_EXPIRY } from './signer.js';
import {
  type Profile,
  type SharedFiles,
  filesShown,
  findProfile,
  profileEndpoint,
  profileName,
  profileValue,
  readSharedFiles,
} from './profiles.js';

/** The environment variables a configuration reads; `process.env` by default. */
export type Environment = Readonly<Record<string, string | undefined>>;

export const S3_TABLE = '[object_store.s3]';

/** The keys of [object_store.s3], with their TOML type. */
export const KEYS = {
  endpoint: 'string',
  access_key: 'string',
  secret_key: 'string',
  session_token: 'string',
  bucket: 'string',
  region: 'string',
  force_path_style: 'boolean',
  presigned_expiry_secs: 'integer',
  public_url_base: 'string',
  profile: 'string',
} as const;
export type Key = keyof typeof KEYS;

/** What messages call a key: `[object_store.s3] access_key` in a file, `options.accessKeyId` for plain options. */
export type Name = (key: Key) => string;
/** The values of [object_store.s3] keys that have the right type. */
type Values = Partial<Record<Key, string | boolean | bigint>>;

export const fileKey: Name = (key) => `${S3_TABLE} ${key}`;

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
export interface Settings {
  source: string;
  endpoint: EndpointParts;
  provider: Provider;
  credentials: CredentialPlan;
  profile: string | undefined;
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
  /**
   * The authority as WHATWG URL gives it (`URL.host`): lower case, default port dropped, IPv6 in brackets:
   * `s3.us-east-1.amazonaws.com`, `127.0.0.1:7480`.
   */
  readonly host: string;
  /** `URL.hostname`: the host without its port (IPv6 keeps its brackets). */
  readonly hostname: string;
  /** The base path without a trailing `/`: '' or `/storage`. */
  readonly basePath: string;
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
export function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'bigint') return `the integer ${value}`;
  // Integers are bigints, so a number is a TOML float: 3600.0 must not read as the whole number 3600.
  if (typeof value === 'number') return `the number ${Number.isInteger(value) ? value.toFixed(1) : value}`;
  if (typeof value === 'boolean') return `${value}`;
  return kind(value);
}

/** The credential keys: all of them come from the file, or all from the environment. */
const CREDENTIAL_KEYS = ['access_key', 'secret_key', 'session_token'] as const;

/** The placeholders of the reference's example ("S3-Compatible Storage", "Configuration Reference"). */
const PLACEHOLDERS: ReadonlySet<string> = new Set(['YOUR_ACCESS_KEY', 'YOUR_SECRET_KEY']);

/**
 * What is wrong with a credential, never showing it: a documentation placeholder, or the whitespace a CRLF env file
 * or a copied line leaves, which would sign every request with the wrong key. `printable`: the value goes into a
 * header (access key id, session token), so it must be printable ASCII.
 */
export function credentialProblem(value: string, printable: boolean): string | undefined {
  if (PLACEHOLDERS.has(value))
    return `still holds the placeholder ${value} from the documentation example; put your own value there`;
  if (/[\r\n]$/.test(value)) return 'ends with a line break (CR or LF), as a Windows (CRLF) env file gives; remove it';
  if (/^\s|\s$/.test(value)) return 'starts or ends with whitespace; remove it';
  if (/\p{Cc}/u.test(value)) return 'holds a control character';
  if (printable && !/^[\x21-\x7e]+$/.test(value)) return 'must be printable ASCII without spaces';
  return undefined;
}

export function unknownKey(key: string, valid: readonly string[]): string {
  const nearest = closest(key, valid)!;
  if (nearest.distance <= Math.max(2, Math.floor(nearest.name.length / 3)))
    return `is not a known key; did you mean ${nearest.name}?`;
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
      report(
        at(key as Key),
        type === 'boolean' ? `must be true or false, got ${shown}` : `must be a string, got ${shown}`,
      );
    }
  }
  return values;
}

/**
 * Why a key gives no value: `is missing` or `is empty`; undefined when it holds something (a wrong type is reported
 * by readKeys).
 */
function absence(table: Record<string, unknown>, key: Key): string | undefined {
  if (table[key] === undefined) return 'is missing';
  return table[key] === '' ? 'is empty' : undefined;
}

/** The settings of a table, each problem reported as `at(key)`. Warnings name the file's keys for plain options too. */
export function resolve(
  source: string,
  table: Record<string, unknown>,
  env: Environment,
  at: Name,
  report: Report,
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
    // Then the profile's region and endpoint_url, as the AWS CLI and SDKs take them; never its keys (the chain's).
    const chosenProfile = key === 'region' || key === 'endpoint' ? profile() : undefined;
    if (chosenProfile !== undefined) {
      const value = key === 'region' ? profileValue(chosenProfile, 'region') : profileEndpoint(chosenProfile, 's3');
      if (value !== undefined) return { value, at: `${by(key)} (from profile ${chosenProfile.name})` };
    }
    return { value: '', at: by(key) };
  };
  const unset = (key: EnvironmentKey, advice: string) => {
    const why = absence(table, key);
    if (why !== undefined) report(at(key), `${why} and ${FROM_ENVIRONMENT[key][0]} is not set; ${advice}`);
  };

  const explicitProfile = typeof values.profile === 'string' && values.profile !== '' ? values.profile : undefined;
  let files: SharedFiles | undefined;
  /** The shared files, read once when something needs them; a malformed one is reported at its line. */
  const shared = (): SharedFiles => {
    files ??= readSharedFiles(env, (error) =>
      report(error.line === 0 ? error.file : `${error.file} line ${error.line}`, error.problem),
    );
    return files;
  };
  let chosen: { profile: Profile | undefined } | undefined;
  /** The profile of the shared files that fills region and endpoint: the TOML profile, AWS_PROFILE or default. */
  const profile = (): Profile | undefined => {
    chosen ??= { profile: findProfile(shared(), profileName(explicitProfile, env)) };
    return chosen.profile;
  };
  if (explicitProfile !== undefined && profile() === undefined)
    report(
      at('profile'),
      `names the profile ${JSON.stringify(explicitProfile)}, which is not in ${filesShown(shared())}`,
    );

  // Credentials come from one source, as botocore takes them: the file (or the options) when it sets any of them,
  // else the environment, unless the file names a profile (botocore's explicit profile leaves the environment's keys
  // out too). A session token belongs to the key it was issued with, so AWS_SESSION_TOKEN is never attached to a key
  // from the file. Neither set: the chain (chain.ts) finds them when the first request needs them.
  const inFile = CREDENTIAL_KEYS.filter((key) => absence(table, key) === undefined);
  const fromEnvironment = inFile.length === 0 && explicitProfile === undefined;
  const credential = (key: (typeof CREDENTIAL_KEYS)[number]): Sourced => {
    if (fromEnvironment) return sourced(key);
    const own = values[key];
    return { value: typeof own === 'string' ? own : '', at: at(key) };
  };
  const accessKey = credential('access_key');
  const secretKey = credential('secret_key');
  const token = credential('session_token');
  for (const [key, sourcedKey, other] of [
    ['access_key', accessKey, secretKey],
    ['secret_key', secretKey, accessKey],
  ] as const) {
    if (sourcedKey.value !== '' || absence(table, key) === undefined) continue;
    if (inFile.length === 0) {
      if (other.value !== '')
        unset(key, 'set both, or neither to take credentials from the chain (README, Credentials)');
      continue;
    }
    const [set] = inFile;
    const sources = `${FROM_ENVIRONMENT.access_key[0]} and ${FROM_ENVIRONMENT.secret_key[0]}`;
    report(
      at(key),
      `${absence(table, key)} but ${at(set!)} is set; credentials come from one source, so set both here, or neither to take them from ${sources}`,
    );
  }
  for (const [sourcedKey, printable] of [
    [accessKey, true],
    [secretKey, false],
    [token, true],
  ] as const) {
    const problem = sourcedKey.value === '' ? undefined : credentialProblem(sourcedKey.value, printable);
    if (problem !== undefined) report(sourcedKey.at, problem);
  }
  const ignoredToken = FROM_ENVIRONMENT.session_token[0];
  if (inFile.length > 0 && token.value === '' && (env[ignoredToken] ?? '') !== '') {
    const why =
      'the access key comes from the configuration, and a session token belongs to the key it was issued with';
    warnings.push(`${fileKey('session_token')}: ${ignoredToken} is set but not used: ${why}`);
  }
  const ignoredKey = FROM_ENVIRONMENT.access_key[0];
  if (inFile.length === 0 && explicitProfile !== undefined && (env[ignoredKey] ?? '') !== '') {
    const why = `${fileKey('profile')} names a profile, and credentials come from one source`;
    warnings.push(`${fileKey('profile')}: ${ignoredKey} is set but not used: ${why}`);
  }

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
    report(
      at('presigned_expiry_secs'),
      `must be from 0 (plain public URLs) to ${MAX_PRESIGN_EXPIRY} (7 days, the longest S3 allows), got ${expiry}`,
    );
  }
  const presignedExpirySecs = expiryInRange ? Number(expiry) : 0;

  const endpointText = sourced('endpoint');
  const awsDefaultEndpoint = endpointText.value === '';
  const endpoint = awsDefaultEndpoint
    ? undefined
    : httpUrl(endpointText.value, endpointText.at, 'https://s3.us-east-1.amazonaws.com', report);
  const baseText = typeof values.public_url_base === 'string' ? values.public_url_base : '';
  const base =
    baseText === '' ? undefined : httpUrl(baseText, at('public_url_base'), 'https://cdn.example.com', report);

  const host = endpoint?.hostname ?? '';
  const provider = awsDefaultEndpoint ? 'aws' : providerOf(host);
  const misplaced = endpoint === undefined ? undefined : bucketInEndpoint(endpoint, bucket, provider);
  if (misplaced !== undefined) report(endpointText.at, misplaced);
  const hostRegion = regionOfHost(provider, host);
  const given = sourced('region');
  // The file, then AWS_REGION, then the region the endpoint host names, then the provider's default.
  const region =
    given.value !== ''
      ? given
      : { value: hostRegion ?? (provider === 'r2' ? 'auto' : provider === 'other' ? 'us-east-1' : ''), at: given.at };
  // Only a valid region makes a host name: the AWS default endpoint is built from it.
  const regionValid = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(region.value);
  if (region.value === '') unset('region', "set the bucket's region, such as us-east-1");
  else if (!regionValid) report(region.at, `must be a region name such as us-east-1, got ${describe(region.value)}`);
  else if (hostRegion !== undefined && region.value !== hostRegion) {
    // AWS_REGION may name another provider's region altogether: only a region the file chose earns the other endpoint
    // as a fix.
    const otherFix =
      region.at === at('region')
        ? `, or endpoint = "https://${regionalHost(provider, region.value)}" to use ${region.value}`
        : ' in the file';
    const served = `the endpoint ${host} serves ${hostRegion}`;
    report(
      region.at,
      `is ${JSON.stringify(region.value)} but ${served}; set region = ${JSON.stringify(hostRegion)}${otherFix}`,
    );
  }
  const forcePathStyle = values.force_path_style === true;
  const namedBucket = { value: bucket, at: at('bucket') };
  // Like the http:// warning below, the force_path_style warnings name the file's key whatever `at` is.
  const pathStyle = { value: forcePathStyle, at: fileKey('force_path_style') };
  const facts = {
    host,
    bucket: namedBucket,
    region,
    forcePathStyle: pathStyle,
    forcePathStyleKey: at('force_path_style'),
  };
  checkProvider(provider, facts, report, warnings);
  // Plain http carries every request, and the access key id, in the clear: fine on this machine or a private network
  // only.
  if (endpoint?.protocol === 'http:' && !privateHost(host)) {
    const unencrypted = `http:// sends requests to ${host} unencrypted; use https:// unless it is on a private network`;
    warnings.push(`${sourced('endpoint', fileKey).at}: ${unencrypted}`);
  }

  if (endpoint === undefined && !(awsDefaultEndpoint && regionValid)) return undefined;
  /** The keys found, or the chain with why the configuration and the environment gave none. */
  const credentialPlan = (): CredentialPlan => {
    if (accessKey.value !== '' && secretKey.value !== '') {
      const credentials = {
        source: inFile.length > 0 ? source : 'environment',
        accessKeyId: accessKey.value,
        secretAccessKey: secretKey.value,
        sessionToken: token.value === '' ? undefined : token.value,
      };
      return { kind: 'static', credentials };
    }
    // AWS_PROFILE names the profile the chain will read: one that is not there is as wrong as a TOML profile that is
    // not (botocore raises ProfileNotFound).
    const named = env.AWS_PROFILE;
    if (explicitProfile === undefined && named && profile() === undefined)
      report('AWS_PROFILE', `names the profile ${JSON.stringify(named)}, which is not in ${filesShown(shared())}`);
    const keys = `${at('access_key')} and ${at('secret_key')}`;
    const skipped: CredentialAttempt[] = [
      { source, reason: `${keys} not set` },
      {
        source: 'environment',
        reason: fromEnvironment
          ? `${FROM_ENVIRONMENT.access_key[0]} and ${FROM_ENVIRONMENT.secret_key[0]} not set`
          : `not used: ${at('profile')} names a profile`,
      },
    ];
    return { kind: 'chain', env, profile: explicitProfile, region: region.value, files: shared(), skipped };
  };
  return {
    source,
    endpoint: partsOf(endpoint ?? new URL(`https://${awsHost(region.value)}`)),
    provider,
    credentials: credentialPlan(),
    profile: explicitProfile,
    bucket,
    region: region.value,
    forcePathStyle,
    presignedExpirySecs,
    publicUrlBase: base === undefined ? undefined : joined(partsOf(base)),
    warnings,
  };
}

/**
 * Why an endpoint names the bucket, or a path its provider does not serve, or undefined. A console's virtual-hosted
 * URL names it in the host (my-bucket.s3...), the R2 dashboard's in the path (https://<account>.r2...com/<bucket>):
 * either would name the bucket twice, and every key would land under `<bucket>/`. AWS, COS and R2 serve the S3 API at
 * the root of their hosts; other servers may sit behind a base path (https://gw.example.net/s3), which is kept.
 */
function bucketInEndpoint(url: URL, bucket: string, provider: Provider): string | undefined {
  const path = url.pathname.replace(/\/+$/, '');
  const keep = bucket === '' ? 'set bucket to the bucket name' : `keep bucket = "${bucket}"`;
  if (bucket !== '' && url.hostname.startsWith(`${bucket}.`)) {
    const without = `${url.protocol}//${url.host.slice(bucket.length + 1)}${path}`;
    return `already starts with the bucket name; set endpoint = "${without}" and ${keep}`;
  }
  if (bucket !== '' && path.split('/').at(-1) === bucket) {
    const without = `${url.protocol}//${url.host}${path.slice(0, -(bucket.length + 1))}`;
    return `ends in the bucket name, so every key would land under ${bucket}/; remove it from the path: set endpoint = "${without}" and ${keep}`;
  }
  if (path !== '' && provider !== 'other') {
    const root = `${url.protocol}//${url.host}`;
    return `has the path ${path}, but AWS, COS and R2 serve the S3 API at the root of the host; set endpoint = "${root}" and ${keep}`;
  }
  return undefined;
}

/** The parts of an http(s) URL that httpUrl let through, frozen. */
function partsOf(url: URL): EndpointParts {
  const { host, hostname, pathname } = url;
  const protocol = url.protocol as EndpointParts['protocol'];
  return Object.freeze({ protocol, host, hostname, basePath: pathname.replace(/\/+$/, '') });
}

/** Origin and base path without a trailing `/`, so a key is appended after exactly one. */
export function joined(parts: EndpointParts): string {
  return `${parts.protocol}//${parts.host}${parts.basePath}`;
}

/** An absolute http(s) URL without query, fragment or user info; reported and undefined otherwise. */
function httpUrl(text: string, key: string, example: string, report: Report): URL | undefined {
  const placeholder = /<[^<>]*>/.exec(text);
  if (placeholder !== null) {
    report(
      key,
      `still holds the placeholder ${placeholder[0]} from the documentation example; put your own value there`,
    );
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // Everything up to the last "@" may be user:password, perhaps the secret key itself: messages never show it.
  const shown = describe(text.replace(/^((?:[^:/?#@]*:\/\/)?)[\s\S]*@/, '$1[redacted]@'));
  // "minio:9000" parses, as a URL of scheme "minio:"; it is the scheme that is missing.
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    report(key, `must be an absolute URL starting with http:// or https://, such as ${example}, got ${shown}`);
  } else if (url.username !== '' || url.password !== '')
    report(key, 'must not carry user:password@; put credentials in access_key and secret_key');
  else if (url.search !== '' || text.includes('?')) report(key, `must not carry a query (?...), got ${shown}`);
  else if (url.hash !== '' || text.includes('#')) report(key, `must not carry a fragment (#...), got ${shown}`);
  else return url;
  return undefined;
}
