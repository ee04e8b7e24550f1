/**
 * The two credential endpoints of AWS compute: the container endpoint (ECS,
 * EKS Pod Identity; "AWS SDKs and Tools Reference Guide", "Container
 * credential provider") and EC2's instance metadata service, IMDSv2 only
 * unless v1 is asked for (EC2 User Guide, "Use the Instance Metadata Service
 * to access instance metadata"). Their failures throw FetchFailure with a
 * reason; nothing they say holds a token or a secret.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import { type CredentialFields, type SourcedCredentials, credentialsFrom } from './credentials.js';
import { type Fetched, FetchFailure, fetchText, seconds } from './fetch.js';
import { ipVersion } from './providers.js';
import type { Environment } from './settings.js';

/** The ECS host of AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. */
const CONTAINER_HOST = 'http://169.254.170.2';
/**
 * The hosts AWS_CONTAINER_CREDENTIALS_FULL_URI may name over plain http besides loopback, whatever the port: ECS's and
 * EKS Pod Identity's, as the AWS SDKs allow them ("Container credential provider").
 */
const CONTAINER_HOSTS: ReadonlySet<string> = new Set(['169.254.170.2', '169.254.170.23', '[fd00:ec2::23]']);
const CONTAINER_TIMEOUT_MS = 2000;

/** Where the container endpoint is, or why there is none. */
export function containerUrl(env: Environment): { url: string } | { reason: string } {
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  if (relative) return { url: `${CONTAINER_HOST}${relative.startsWith('/') ? '' : '/'}${relative}` };
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (!full) return { reason: 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set' };
  let url: URL;
  try {
    url = new URL(full);
  } catch {
    return { reason: 'AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL' };
  }
  if (url.protocol === 'https:') return { url: full };
  if (url.protocol === 'http:' && (loopback(url.hostname) || CONTAINER_HOSTS.has(url.hostname))) return { url: full };
  return {
    reason: `AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http on loopback or the ECS or EKS Pod Identity address, got ${url.protocol}//${url.host}`,
  };
}

/** 127.0.0.0/8, ::1 and localhost: the hosts a plain-http credential endpoint may be on. */
function loopback(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const version = ipVersion(bare);
  if (version === 4) return bare.startsWith('127.');
  if (version === 6) return bare === '::1';
  return bare === 'localhost';
}

/**
 * The Authorization header and where it came from: the token file's contents, read at each call since it rotates,
 * else the token; undefined when neither is set.
 */
function containerAuthorization(env: Environment): { value: string; from: string } | undefined {
  const file = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
  if (file) {
    const from = `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (${file})`;
    return { value: readTokenFile(file, from), from };
  }
  const token = env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
  return token ? { value: token, from: 'AWS_CONTAINER_AUTHORIZATION_TOKEN' } : undefined;
}

/** A token is a few KiB (a JWT); a file larger than this is not one. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/**
 * A token file's contents, trimmed: read at each fetch, since the orchestrator rotates it. Only a regular file of at
 * most 64 KiB is read: a FIFO or a device would block or never end. `what` names it in messages.
 */
export function readTokenFile(path: string, what: string): string {
  let token: string;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new FetchFailure(`${what} is not a regular file`);
    if (stats.size > MAX_TOKEN_FILE_BYTES)
      throw new FetchFailure(`${what} holds more than 64 KiB, which no token does`);
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if (error instanceof FetchFailure) throw error;
    throw new FetchFailure(`cannot read ${what} (${(error as NodeJS.ErrnoException).code})`);
  }
  if (token === '') throw new FetchFailure(`${what} is empty`);
  return token;
}

/** Credentials from the container endpoint. */
export async function containerCredentials(
  dispatcher: Dispatcher,
  url: string,
  env: Environment,
): Promise<SourcedCredentials> {
  const authorization = containerAuthorization(env);
  if (authorization !== undefined && /[\r\n]/.test(authorization.value))
    throw new FetchFailure(`${authorization.from} holds a line break`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization.value;
  const what = `the container endpoint ${new URL(url).origin}`;
  const reply = await fetchText(dispatcher, { method: 'GET', url, headers, timeoutMs: CONTAINER_TIMEOUT_MS, what });
  if (reply.status === 401 || reply.status === 403) {
    const check =
      authorization === undefined
        ? 'no token was sent: set AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN'
        : `check ${authorization.from}`;
    throw new FetchFailure(`${what} answered ${reply.status}; ${check}`);
  }
  if (reply.status !== 200) throw new FetchFailure(`${what} answered ${reply.status}`);
  return credentialsFrom(tokenAsSessionToken(jsonOf(reply, what)), 'container', what);
}

/** The EC2 instance metadata service's address ("AWS SDKs and Tools Reference Guide", "IMDS credential provider"). */
function imdsEndpoint(env: Environment): string {
  if (env.AWS_EC2_METADATA_SERVICE_ENDPOINT) return env.AWS_EC2_METADATA_SERVICE_ENDPOINT.replace(/\/+$/, '');
  return env.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE?.toLowerCase() === 'ipv6'
    ? 'http://[fd00:ec2::254]'
    : 'http://169.254.169.254';
}

/** Per request; the SDKs use 1 s too. */
const IMDS_TIMEOUT_MS = 1000;
/** Attempts per IMDS request: one retry. */
const IMDS_ATTEMPTS = 2;
/** The session token's lifetime asked for: six hours, the longest IMDS grants. */
const TOKEN_TTL_SECONDS = 21_600;
const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials/';

/** IMDSv2: a session token, then the role name, then its credentials. One per client; the token is kept for its TTL. */
export class Imds {
  readonly #dispatcher: Dispatcher;
  readonly #endpoint: string;
  readonly #allowV1: boolean;
  #token: { value: string; until: number } | undefined;

  /** Why IMDS is not asked at all, or undefined: AWS_EC2_METADATA_DISABLED, wherever IMDS is the source. */
  readonly disabled: string | undefined;

  constructor(dispatcher: Dispatcher, env: Environment) {
    this.#dispatcher = dispatcher;
    this.#endpoint = imdsEndpoint(env);
    // IMDSv1 answers anyone who can reach the address; only an explicit choice falls back to it.
    this.#allowV1 = env.AWS_EC2_METADATA_V1_DISABLED?.toLowerCase() === 'false';
    this.disabled =
      env.AWS_EC2_METADATA_DISABLED?.toLowerCase() === 'true' ? 'AWS_EC2_METADATA_DISABLED is true' : undefined;
  }

  async credentials(): Promise<SourcedCredentials> {
    if (this.disabled !== undefined) throw new FetchFailure(this.disabled);
    const listing = await this.#get(CREDENTIALS_PATH);
    const role = listing.text.split('\n')[0]?.trim();
    if (!role) throw new FetchFailure(`${this.#endpoint} lists no instance role`);
    const reply = await this.#get(`${CREDENTIALS_PATH}${encodeURIComponent(role)}`);
    const document = jsonOf(reply, this.#endpoint);
    if (document.Code !== undefined && document.Code !== 'Success')
      throw new FetchFailure(`${this.#endpoint} says Code ${String(document.Code)} for the instance role`);
    return credentialsFrom(tokenAsSessionToken(document), 'IMDS', this.#endpoint);
  }

  /** A metadata GET with the session token; a 401 (the token expired) gets a new token once. */
  async #get(path: string): Promise<Fetched> {
    for (let renewed = false; ; renewed = true) {
      const token = await this.#sessionToken(renewed);
      const headers: Record<string, string> = token === undefined ? {} : { 'x-aws-ec2-metadata-token': token };
      const reply = await this.#request({ method: 'GET', url: `${this.#endpoint}${path}`, headers });
      if (reply.status === 200) return reply;
      if (reply.status === 401 && !renewed && token !== undefined) continue;
      throw new FetchFailure(`${this.#endpoint}${path} answered ${reply.status}`);
    }
  }

  /** The IMDSv2 session token, kept until a minute before its TTL ends; undefined only when v1 is allowed. */
  async #sessionToken(renew: boolean): Promise<string | undefined> {
    if (!renew && this.#token !== undefined && Date.now() < this.#token.until) return this.#token.value;
    const headers = { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) };
    let reply: Fetched;
    try {
      reply = await this.#request({ method: 'PUT', url: `${this.#endpoint}/latest/api/token`, headers });
    } catch (error) {
      if (this.#allowV1) return undefined;
      throw error;
    }
    if (reply.status === 200 && reply.text !== '') {
      this.#token = { value: reply.text.trim(), until: Date.now() + (TOKEN_TTL_SECONDS - 60) * 1000 };
      return this.#token.value;
    }
    if (this.#allowV1 && [403, 404, 405].includes(reply.status)) return undefined;
    const v1 = 'IMDSv1 is not used unless AWS_EC2_METADATA_V1_DISABLED=false';
    throw new FetchFailure(`${this.#endpoint} refused an IMDSv2 session token (${reply.status}); ${v1}`);
  }

  /** One IMDS request, tried twice within IMDS_TIMEOUT_MS each. */
  async #request(request: { method: 'GET' | 'PUT'; url: string; headers: Record<string, string> }): Promise<Fetched> {
    let failure: unknown;
    for (let attempt = 1; attempt <= IMDS_ATTEMPTS; attempt++) {
      try {
        const reply = await fetchText(this.#dispatcher, {
          ...request,
          timeoutMs: IMDS_TIMEOUT_MS,
          what: this.#endpoint,
        });
        if (reply.status < 500 || attempt === IMDS_ATTEMPTS) return reply;
      } catch (error) {
        failure = error;
      }
    }
    throw failure instanceof FetchFailure ? failure : new FetchFailure(`no answer within ${seconds(IMDS_TIMEOUT_MS)}`);
  }
}

/** The container endpoint and IMDS name the session token `Token`. */
function tokenAsSessionToken(document: Record<string, unknown>): CredentialFields {
  const { AccessKeyId, SecretAccessKey, Token, Expiration, RoleArn } = document;
  return { AccessKeyId, SecretAccessKey, SessionToken: Token, Expiration, RoleArn };
}

/** A reply's JSON object; its text is never shown, it holds credentials. */
function jsonOf(reply: Fetched, shown: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(reply.text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Reported below, without the text.
  }
  throw new FetchFailure(`${shown} did not answer with a JSON object`);
}
