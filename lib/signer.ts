/**
 * AWS Signature Version 4, hand-written over node:crypto.
 *
 * Pure and synchronous: no I/O, no clock unless the caller omits `date`, and
 * no state beyond the signing-key cache. Each step is a function named after
 * the spec (AWS General Reference, "Create a signed AWS API request"; S3 API
 * Reference, "Signature Calculations for the Authorization Header",
 * "Query Parameters", "Signature Calculations for the Payload... in Multiple
 * Chunks" and "Browser-Based Uploads Using POST").
 */
import { createHmac, hash } from 'node:crypto';
import { canonicalPath, canonicalQueryComponent, encodeComponent, encodeKey, normalizePath } from './encoding.js';
import { InvalidArgumentError } from './errors.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
/** SHA-256 of the empty string: the payload hash of a request without body. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** Longest validity of a presigned URL: 7 days (S3 API Reference, "Query Parameters", X-Amz-Expires). */
export const MAX_PRESIGN_EXPIRY = 604_800;
/** Smallest chunk AWS accepts in a signed streaming upload, except the last ones (S3 API Reference, sigv4-streaming). */
export const MIN_CHUNK_SIZE = 8192;

/**
 * `s3`: the path is signed as sent (encoded once, never normalised) and
 * `x-amz-content-sha256` is sent with every request.
 * `generic`: other AWS services' rules, which the aws-sig-v4 test suites use:
 * the path is normalised and then encoded again (double encoding).
 */
export type SigningMode = 's3' | 'generic';

export interface SignerOptions {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  region: string;
  /** Defaults to `s3`. */
  service?: string;
  /** Defaults to `s3`. */
  mode?: SigningMode;
  /** Send and sign `x-amz-content-sha256`. Defaults to true in `s3` mode, false in `generic` mode. */
  contentSha256Header?: boolean;
  /**
   * Sign the session token (default). Some non-S3 services want it added
   * after signing instead (botocore suite, post-sts-token/readme.txt).
   */
  signSessionToken?: boolean;
}

export type HeaderValue = string | number | readonly string[] | undefined;
export type HeadersInput = Readonly<Record<string, HeaderValue>>;

export interface SignRequest {
  method: string;
  /** Absolute URL whose path is already encoded (see encodeKey); it is never normalised in `s3` mode. */
  url: string;
  headers?: HeadersInput | undefined;
  /** The body, hashed here when `payloadHash` is not given. */
  body?: string | Uint8Array | undefined;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  payloadHash?: string | undefined;
}

export interface SignOptions {
  /** The signing time; defaults to now. Tests pass a fixed one. */
  date?: Date | number | undefined;
}

export interface PresignOptions extends SignOptions {
  /** Seconds the URL stays valid: 1 to 604800. */
  expiresIn: number;
}

/** Headers to add to the request. */
export interface SignedHeaders {
  authorization: string;
  'x-amz-date': string;
  'x-amz-content-sha256'?: string;
  'x-amz-security-token'?: string;
}

/** Headers to add to a signed streaming upload. */
export interface StreamingSignedHeaders extends SignedHeaders {
  'x-amz-content-sha256': string;
  'content-encoding': string;
  'content-length': string;
  'x-amz-decoded-content-length': string;
}

/** The intermediate values of a signature, for tests and for debugging `SignatureDoesNotMatch`. */
export interface SignatureSteps {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

export interface HeaderSignature extends SignatureSteps {
  headers: SignedHeaders;
}

export interface QuerySignature extends SignatureSteps {
  url: string;
}

export interface StreamingOptions extends SignOptions {
  /** Length of the object's bytes (before chunk framing). */
  contentLength: number;
  /** Size of every chunk but the last two (the short tail and the empty final chunk); at least 8192. Defaults to 65536. */
  chunkSize?: number;
}

export interface StreamingSignature {
  headers: StreamingSignedHeaders;
  /** Signs the chunks in order; the last one must be empty. */
  chunks: ChunkSigner;
}

/** A POST policy condition: `{ field: value }` or `[operator, '$field', value]` / `['content-length-range', min, max]`. */
export type PostCondition = Readonly<Record<string, string>> | readonly [string, string | number, string | number];

export interface PostPolicyInput {
  bucket: string;
  /** The object key; a key ending in `${filename}` becomes a `starts-with` condition on the part before it. */
  key: string;
  /** Seconds the form stays valid: 1 to 604800. */
  expiresIn: number;
  /** Extra form fields; each gets an exact-match condition unless `conditions` already names it. */
  fields?: Readonly<Record<string, string>>;
  conditions?: readonly PostCondition[];
}

export interface PostPolicyDocument {
  expiration: string;
  conditions: PostCondition[];
}

export interface PresignedPost {
  /** The form fields to send, in order, before the file field. */
  fields: Record<string, string>;
  /** The policy before base64 encoding. */
  policy: PostPolicyDocument;
}

// ---------------------------------------------------------------------------
// Spec steps, exported so each can be tested and reused on its own.

/** Task 1: the canonical request. */
export function canonicalRequest(
  method: string,
  canonicalUri: string,
  canonicalQuery: string,
  canonicalHeaders: string,
  signedHeaders: string,
  payloadHash: string,
): string {
  return method + '\n' + canonicalUri + '\n' + canonicalQuery + '\n' + canonicalHeaders + '\n' + signedHeaders + '\n' + payloadHash;
}

/** Task 2: the string to sign. */
export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return stringToSignPrefix(amzDate, scope) + hash('sha256', canonicalRequestText);
}

/** The part of the string to sign before the canonical request's hash; a signer keeps it for the current second. */
function stringToSignPrefix(amzDate: string, scope: string): string {
  return ALGORITHM + '\n' + amzDate + '\n' + scope + '\n';
}

/** Task 3: the signing key, HMAC chain over date, region, service and `aws4_request`. */
export function deriveSigningKey(secretAccessKey: string, dateStamp: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', 'AWS4' + secretAccessKey).update(dateStamp).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** SHA-256's block size, B in RFC 2104. */
const BLOCK = 64;
const UTF8 = new TextEncoder();

/**
 * A signing key ready for HMAC-SHA256 (RFC 2104): its two padded key blocks
 * are prepared once, so each MAC is two one-shot SHA-256 calls over reused
 * buffers. A createHmac object per signature costs about twice as much, and
 * that HMAC is most of what signing a request costs.
 */
export class SigningKey {
  /** K xor ipad, followed by the message. */
  #inner: Buffer;
  /** The part of #inner after the key block. */
  #message: Uint8Array;
  /** The key block and the last message. */
  #innerView: Uint8Array;
  /** K xor opad, followed by the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + 32);

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length === 0 || key.length > BLOCK) {
      throw new InvalidArgumentError('signingKey', 'must be 1 to 64 bytes, such as deriveSigningKey() returns');
    }
    this.#inner = Buffer.alloc(BLOCK + 256);
    this.#message = this.#inner.subarray(BLOCK);
    this.#innerView = this.#inner.subarray(0, BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      const k = key[i] ?? 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  /** Lower-case hex HMAC-SHA256 of the UTF-8 form of `message`. */
  sign(message: string): string {
    let encoded = UTF8.encodeInto(message, this.#message);
    if (encoded.read !== message.length) {
      // A UTF-16 code unit takes at most 3 UTF-8 bytes.
      const grown = Buffer.alloc(BLOCK + message.length * 3);
      this.#inner.copy(grown, 0, 0, BLOCK);
      this.#inner = grown;
      this.#message = grown.subarray(BLOCK);
      this.#innerView = grown.subarray(0, BLOCK);
      encoded = UTF8.encodeInto(message, this.#message);
    }
    // Strings to sign of one signer share a length, so the view is usually reused.
    if (this.#innerView.length !== BLOCK + encoded.written) this.#innerView = this.#inner.subarray(0, BLOCK + encoded.written);
    // A 'binary' (latin1) digest is one char per byte; a Buffer digest costs an allocation more.
    this.#outer.write(hash('sha256', this.#innerView, 'binary'), BLOCK, 'latin1');
    return hash('sha256', this.#outer, 'hex');
  }
}

/** Task 4: the signature, lower-case hex. */
export function signature(signingKey: SigningKey | Uint8Array, stringToSignText: string): string {
  return (signingKey instanceof SigningKey ? signingKey : new SigningKey(signingKey)).sign(stringToSignText);
}

/** Hex SHA-256 of a body. */
export function hashPayload(body: string | Uint8Array): string {
  return hash('sha256', body);
}

/**
 * Encoded length of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body: every chunk is
 * `hex(size);chunk-signature=<64 hex>\r\n<data>\r\n`, ending with an empty chunk.
 */
export function streamingContentLength(contentLength: number, chunkSize: number): number {
  const frame = (size: number) => size.toString(16).length + ';chunk-signature='.length + 64 + 4 + size;
  const full = Math.floor(contentLength / chunkSize);
  const tail = contentLength % chunkSize;
  return full * frame(chunkSize) + (tail > 0 ? frame(tail) : 0) + frame(0);
}

// ---------------------------------------------------------------------------
// The signing-key cache: one entry per (secret, date, region, service).

const KEY_CACHE_LIMIT = 64;
const keyCache = new Map<string, SigningKey>();

function cachedSigningKey(secretAccessKey: string, dateStamp: string, region: string, service: string): SigningKey {
  const id = dateStamp + '\n' + region + '\n' + service + '\n' + secretAccessKey;
  let key = keyCache.get(id);
  if (key === undefined) {
    key = new SigningKey(deriveSigningKey(secretAccessKey, dateStamp, region, service));
    // A key lives one day; dropping all on overflow is simpler than LRU and rarely happens.
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}

// ---------------------------------------------------------------------------
// Input parsing and validation.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRINTABLE = /^[\x21-\x7e]+$/;
/** A header value that is not already trimmed and collapsed, or holds a character HTTP forbids. */
const HEADER_VALUE_NEEDS_WORK = /^[ \t]|[ \t]$|[ \t]{2}|[\t\r\n\0]/;
const HEADER_VALUE_FORBIDDEN = /[\r\n\0]/;

/**
 * Headers never signed: `user-agent` and `x-amzn-trace-id` are changed by
 * proxies and tooling, `authorization` is the output, and hop-by-hop fields
 * (RFC 9110 section 7.6.1) may be rewritten by any intermediary or by undici.
 */
const UNSIGNED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'user-agent',
  'x-amzn-trace-id',
  'expect',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

interface UrlParts {
  /** `scheme://authority` exactly as given. */
  origin: string;
  /** The `host` header value: lower case, default port dropped. */
  host: string;
  path: string;
  query: string;
}

/** RFC 3986 section 3.1. */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const DEFAULT_PORT: Readonly<Record<string, string>> = { 'http:': ':80', 'https:': ':443' };

/** Whether `c` (a char code, NaN past the end) ends a URL's authority: `/`, `?`, `#` or the end. */
function endsAuthority(c: number): boolean {
  return c === 0x2f || c === 0x3f || c === 0x23 || Number.isNaN(c);
}

/**
 * Splits an absolute URL by hand. WHATWG `URL` would rewrite the path
 * (`/a/../b` becomes `/b`), which S3 keys must survive. `previous` is the
 * last URL split: a client sends every request to the same origin, so its
 * host is reused rather than parsed again.
 */
function splitUrl(url: string, previous: UrlParts | undefined): UrlParts {
  if (typeof url !== 'string') throw new InvalidArgumentError('url', `must be a string, got ${typeof url}`);
  let origin: string;
  let host: string;
  if (previous !== undefined && url.startsWith(previous.origin) && endsAuthority(url.charCodeAt(previous.origin.length))) {
    ({ origin, host } = previous);
  } else {
    const schemeEnd = url.indexOf('://');
    if (schemeEnd <= 0 || !SCHEME.test(url.slice(0, schemeEnd))) {
      throw new InvalidArgumentError('url', 'must be an absolute URL such as https://bucket.s3.amazonaws.com/key');
    }
    const authorityStart = schemeEnd + 3;
    let authorityEnd = authorityStart;
    while (!endsAuthority(url.charCodeAt(authorityEnd))) authorityEnd++;
    const authority = url.slice(authorityStart, authorityEnd);
    if (authority === '') throw new InvalidArgumentError('url', 'has no host');
    if (authority.includes('@')) throw new InvalidArgumentError('url', 'must not carry user info (user:password@); pass credentials to the signer');
    origin = url.slice(0, authorityEnd);
    host = authority.toLowerCase();
    // RFC 3986 section 3.2.3: an empty port is no port; RFC 9110 section 4.2: nor is the default one.
    if (host.endsWith(':')) host = host.slice(0, -1);
    else if (host.endsWith(':443') || host.endsWith(':80')) {
      const defaultPort = DEFAULT_PORT[url.slice(0, schemeEnd + 1).toLowerCase()];
      if (defaultPort !== undefined && host.endsWith(defaultPort)) host = host.slice(0, -defaultPort.length);
    }
  }
  const pathStart = origin.length;
  let hashAt = url.indexOf('#', pathStart);
  if (hashAt < 0) hashAt = url.length;
  let queryAt = url.indexOf('?', pathStart);
  if (queryAt < 0 || queryAt > hashAt) queryAt = hashAt;
  return {
    origin,
    host,
    path: pathStart < queryAt ? url.slice(pathStart, queryAt) : '/',
    query: queryAt < hashAt ? url.slice(queryAt + 1, hashAt) : '',
  };
}

function comparePairs(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/**
 * Query pairs decoded and encoded again, then sorted by key and value.
 * Repeated keys and bare keys (`?uploads` is `uploads=`) are kept. `+` is a
 * literal plus (RFC 3986), encoded `%2B`; write a space as `%20`.
 */
function canonicalQueryPairs(query: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (query === '') return pairs;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    pairs.push(
      eq < 0
        ? [canonicalQueryComponent(part), '']
        : [canonicalQueryComponent(part.slice(0, eq)), canonicalQueryComponent(part.slice(eq + 1))],
    );
  }
  return pairs.sort(comparePairs);
}

function joinPairs(pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (let i = 0; i < pairs.length; i++) out += (i === 0 ? '' : '&') + pairs[i]![0] + '=' + pairs[i]![1];
  return out;
}

/** Trimall (SigV4 Task 1): values trimmed, inner runs of spaces and tabs collapsed to one space. */
function canonicalHeaderValue(value: string, name: string): string {
  if (!HEADER_VALUE_NEEDS_WORK.test(value)) return value;
  if (HEADER_VALUE_FORBIDDEN.test(value)) {
    throw new InvalidArgumentError(`headers["${name}"]`, 'contains CR, LF or NUL, which an HTTP header value cannot carry');
  }
  return value.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

function headerValueText(value: Exclude<HeaderValue, undefined>, name: string): string {
  if (typeof value === 'string') return canonicalHeaderValue(value, name);
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map((v) => canonicalHeaderValue(String(v), name)).join(',');
  throw new InvalidArgumentError(`headers["${name}"]`, `must be a string, number or array of strings, got ${typeof value}`);
}

const HOST_ONLY: readonly string[] = ['host'];
/** The query parameters a presign adds (S3 API Reference, "Query Parameters"), lower-cased. */
const PRESIGN_PARAMS: ReadonlySet<string> = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signedheaders',
  'x-amz-signature',
]);
/** A signer remembers this many header names; a caller inventing names forever only empties the memory more often. */
const KNOWN_NAMES_LIMIT = 256;

/**
 * Checks a header name once and remembers its canonical form: the name in
 * lower case, or '' for a header never signed. The same few names come with
 * every request, so the check and the lower-casing are done once per signer.
 */
function learnHeaderName(name: string, knownNames: Map<string, string>): string {
  if (!TOKEN.test(name)) throw new InvalidArgumentError(`headers["${name}"]`, 'is not a valid header name (RFC 9110 token: ASCII letters, digits and !#$%&\'*+-.^_`|~)');
  const lower = name.toLowerCase();
  const canonical = UNSIGNED_HEADERS.has(lower) ? '' : lower;
  if (knownNames.size >= KNOWN_NAMES_LIMIT) knownNames.clear();
  knownNames.set(name, canonical);
  return canonical;
}

interface CanonicalHeaders {
  canonical: string;
  signed: string;
}

/**
 * Canonical headers and the signed-headers list: names lower-cased and
 * sorted, values trimmed, repeated names joined with `,` in the order given.
 * `fixedNames` (sorted, such as host and x-amz-date) take `fixedValues` and
 * replace any caller value of the same name.
 */
function canonicalHeaders(
  input: HeadersInput | undefined,
  fixedNames: readonly string[],
  fixedValues: readonly string[],
  knownNames: Map<string, string>,
): CanonicalHeaders {
  // Parallel arrays and an insertion sort: requests carry a handful of headers,
  // and this is the signer's hottest loop.
  const names: string[] = [];
  const values: string[] = [];
  if (input !== undefined) {
    for (const name in input) {
      const value = input[name];
      if (value === undefined) continue;
      const lower = knownNames.get(name) ?? learnHeaderName(name, knownNames);
      if (lower === '' || fixedNames.includes(lower)) continue;
      const text = headerValueText(value, name);
      const at = names.indexOf(lower);
      if (at < 0) {
        names.push(lower);
        values.push(text);
      } else {
        values[at] += ',' + text;
      }
    }
  }
  for (let i = 0; i < fixedNames.length; i++) {
    names.push(fixedNames[i]!);
    values.push(fixedValues[i]!);
  }
  for (let i = 1; i < names.length; i++) {
    const name = names[i]!;
    const value = values[i]!;
    let j = i - 1;
    for (; j >= 0 && names[j]! > name; j--) {
      names[j + 1] = names[j]!;
      values[j + 1] = values[j]!;
    }
    names[j + 1] = name;
    values[j + 1] = value;
  }
  // Built in one pass: Array#join costs more than the concatenation.
  let canonical = '';
  let signed = '';
  for (let i = 0; i < names.length; i++) {
    canonical += names[i] + ':' + values[i] + '\n';
    signed += i === 0 ? names[i] : ';' + names[i];
  }
  return { canonical, signed };
}

/** The caller's `x-amz-content-sha256` header, whatever its case. */
function payloadHashHeader(headers: HeadersInput | undefined): string | undefined {
  if (headers === undefined) return undefined;
  for (const name in headers) {
    if (name.length === 20 && name.toLowerCase() === 'x-amz-content-sha256') {
      const value = headers[name];
      return value === undefined ? undefined : String(value).trim();
    }
  }
  return undefined;
}

function checkMethod(method: unknown): string {
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new InvalidArgumentError('method', 'must be an HTTP method token such as GET or PUT');
  }
  return method;
}

function checkExpiry(expiresIn: unknown, argument: string): number {
  if (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_EXPIRY) {
    throw new InvalidArgumentError(argument, `must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRY} (7 days), got ${String(expiresIn)}`);
  }
  return expiresIn;
}

function checkText(value: unknown, argument: string, pattern: RegExp, expected: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(argument, 'must be a non-empty string');
  if (!pattern.test(value)) throw new InvalidArgumentError(argument, expected);
  return value;
}

const SCOPE_PART = /^[\x21-\x2e\x30-\x7e]+$/;

/** One signing second: its X-Amz-Date and day scope. */
interface Moment {
  second: number;
  amzDate: string;
  day: DayScope;
  stringToSignPrefix: string;
}

/** Per-day values of a signer: scope, credential and signing key. */
interface DayScope {
  dateStamp: string;
  scope: string;
  credential: string;
  encodedCredential: string;
  /** The Authorization header up to the signed headers list. */
  authorizationPrefix: string;
  key: SigningKey;
}

/**
 * Signs requests with AWS Signature Version 4.
 *
 * ```ts
 * const signer = new SigV4Signer({ accessKeyId, secretAccessKey, region: 'us-east-1' });
 * const headers = signer.sign({ method: 'GET', url: 'https://bucket.s3.amazonaws.com/' + encodeKey(key) });
 * ```
 */
export class SigV4Signer {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
  readonly mode: SigningMode;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;
  readonly #contentSha256Header: boolean;
  readonly #signSessionToken: boolean;
  /** The headers the signer sets and signs itself, sorted. */
  readonly #fixedNames: string[];
  #lastMoment: Moment | undefined;
  #lastUrl: UrlParts | undefined;
  /** Header names seen, see learnHeaderName. */
  readonly #knownNames = new Map<string, string>();
  #lastDay: DayScope | undefined;

  constructor(options: SignerOptions) {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options', 'must be an object with accessKeyId, secretAccessKey and region');
    this.accessKeyId = checkText(options.accessKeyId, 'accessKeyId', PRINTABLE, 'must be printable ASCII without spaces');
    if (typeof options.secretAccessKey !== 'string' || options.secretAccessKey === '') {
      throw new InvalidArgumentError('secretAccessKey', 'must be a non-empty string');
    }
    this.#secretAccessKey = options.secretAccessKey;
    if (options.sessionToken !== undefined) {
      this.#sessionToken = checkText(options.sessionToken, 'sessionToken', PRINTABLE, 'must be printable ASCII without spaces');
    }
    this.region = checkText(options.region, 'region', SCOPE_PART, 'must be printable ASCII without spaces or "/", such as us-east-1');
    this.service = checkText(options.service ?? 's3', 'service', SCOPE_PART, 'must be printable ASCII without spaces or "/", such as s3');
    const mode = options.mode ?? 's3';
    if (mode !== 's3' && mode !== 'generic') throw new InvalidArgumentError('mode', `must be "s3" or "generic", got ${String(mode)}`);
    this.mode = mode;
    this.#contentSha256Header = options.contentSha256Header ?? mode === 's3';
    this.#signSessionToken = options.signSessionToken ?? true;
    this.#fixedNames = ['host'];
    if (this.#contentSha256Header) this.#fixedNames.push('x-amz-content-sha256');
    this.#fixedNames.push('x-amz-date');
    if (this.#sessionToken !== undefined && this.#signSessionToken) this.#fixedNames.push('x-amz-security-token');
  }

  /** Signs with the `Authorization` header; returns the headers to add. */
  sign(request: SignRequest, options?: SignOptions): SignedHeaders {
    return this.explainSign(request, options).headers;
  }

  /** Presigns with `X-Amz-*` query parameters; returns the URL to use. */
  presign(request: SignRequest, options: PresignOptions): string {
    return this.explainPresign(request, options).url;
  }

  /** `sign()` with its canonical request and string to sign. */
  explainSign(request: SignRequest, options?: SignOptions): HeaderSignature {
    const method = checkMethod(request.method);
    const url = (this.#lastUrl = splitUrl(request.url, this.#lastUrl));
    const moment = this.#moment(options?.date);
    const { amzDate, day } = moment;
    const payloadHash = this.#payloadHash(request, request.body === undefined ? EMPTY_SHA256 : undefined);
    const added: SignedHeaders = { authorization: '', 'x-amz-date': amzDate };
    // Values in the order of #fixedNames: host, [x-amz-content-sha256], x-amz-date, [x-amz-security-token].
    const fixedValues = [url.host];
    if (this.#contentSha256Header) fixedValues.push((added['x-amz-content-sha256'] = payloadHash));
    fixedValues.push(amzDate);
    if (this.#sessionToken !== undefined) {
      added['x-amz-security-token'] = this.#sessionToken;
      if (this.#signSessionToken) fixedValues.push(this.#sessionToken);
    }
    const headers = canonicalHeaders(request.headers, this.#fixedNames, fixedValues, this.#knownNames);
    const query = url.query === '' ? '' : joinPairs(canonicalQueryPairs(url.query));
    const creq = canonicalRequest(method, this.#canonicalUri(url.path), query, headers.canonical, headers.signed, payloadHash);
    const sts = moment.stringToSignPrefix + hash('sha256', creq);
    const sig = day.key.sign(sts);
    added.authorization = day.authorizationPrefix + headers.signed + ', Signature=' + sig;
    return { canonicalRequest: creq, stringToSign: sts, signature: sig, headers: added };
  }

  /** `presign()` with its canonical request and string to sign. */
  explainPresign(request: SignRequest, options: PresignOptions): QuerySignature {
    const method = checkMethod(request.method);
    const expiresIn = checkExpiry(options?.expiresIn, 'expiresIn');
    const url = (this.#lastUrl = splitUrl(request.url, this.#lastUrl));
    const moment = this.#moment(options.date);
    const { amzDate, day } = moment;
    // S3 presigned URLs never sign the body (S3 API Reference, "Query Parameters").
    const payloadHash = this.#payloadHash(request, this.mode === 's3' ? UNSIGNED_PAYLOAD : undefined);
    const headers = canonicalHeaders(request.headers, HOST_ONLY, [url.host], this.#knownNames);
    const token = this.#sessionToken;
    const amzParams: Array<[string, string]> = [
      ['X-Amz-Algorithm', ALGORITHM],
      ['X-Amz-Credential', day.encodedCredential],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(expiresIn)],
    ];
    if (token !== undefined && this.#signSessionToken) amzParams.push(['X-Amz-Security-Token', encodeComponent(token)]);
    amzParams.push(['X-Amz-SignedHeaders', headers.signed === 'host' ? 'host' : encodeComponent(headers.signed)]);
    const userParams = canonicalQueryPairs(url.query);
    for (const [name] of userParams) {
      if (PRESIGN_PARAMS.has(name.toLowerCase())) throw new InvalidArgumentError('url', `already carries ${name}; presign a URL without X-Amz-* signing parameters`);
    }
    const query = joinPairs(userParams.length === 0 ? amzParams : userParams.concat(amzParams).sort(comparePairs));
    const creq = canonicalRequest(method, this.#canonicalUri(url.path), query, headers.canonical, headers.signed, payloadHash);
    const sts = moment.stringToSignPrefix + hash('sha256', creq);
    const sig = day.key.sign(sts);
    let signed = url.origin + url.path + '?' + query + '&X-Amz-Signature=' + sig;
    if (token !== undefined && !this.#signSessionToken) signed += '&X-Amz-Security-Token=' + encodeComponent(token);
    return { canonicalRequest: creq, stringToSign: sts, signature: sig, url: signed };
  }

  /**
   * Signs the headers of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload and
   * returns the chunk signer that continues the chain, so a stream is sent
   * without being buffered. Send `chunks.chunkHeader(data)`, the data and
   * `\r\n` for each chunk of `chunkSize` bytes (the last may be shorter), then
   * an empty final chunk.
   */
  signStreaming(request: Omit<SignRequest, 'body' | 'payloadHash'>, options: StreamingOptions): StreamingSignature {
    const { contentLength } = options;
    const chunkSize = options.chunkSize ?? 65_536;
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) {
      throw new InvalidArgumentError('contentLength', `must be a whole number of bytes, 0 or more, got ${String(contentLength)}`);
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE) {
      throw new InvalidArgumentError('chunkSize', `must be a whole number of bytes, at least ${MIN_CHUNK_SIZE}, got ${String(chunkSize)}`);
    }
    const framing: Record<string, string> = {
      // aws-chunked goes first when the object has its own encoding (S3 API Reference, sigv4-streaming).
      'content-encoding': 'aws-chunked',
      'content-length': String(streamingContentLength(contentLength, chunkSize)),
      'x-amz-decoded-content-length': String(contentLength),
    };
    const headers: Record<string, HeaderValue> = {};
    for (const name in request.headers) {
      const value = request.headers[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (lower === 'content-encoding') framing['content-encoding'] += ',' + headerValueText(value, name);
      else if (!Object.hasOwn(framing, lower)) headers[name] = value;
    }
    const signed = this.explainSign({ method: request.method, url: request.url, headers: { ...headers, ...framing }, payloadHash: STREAMING_PAYLOAD }, options);
    const day = this.#day(signed.headers['x-amz-date'].slice(0, 8));
    return {
      headers: { ...signed.headers, 'x-amz-content-sha256': STREAMING_PAYLOAD, ...framing } as StreamingSignedHeaders,
      chunks: new ChunkSigner(day.key, signed.headers['x-amz-date'], day.scope, signed.signature, chunkSize),
    };
  }

  /**
   * A presigned POST form for browser uploads (S3 API Reference,
   * "Browser-Based Uploads Using POST"): the policy document, base64-encoded,
   * is the string to sign.
   */
  presignPost(input: PostPolicyInput, options?: SignOptions): PresignedPost {
    if (input === null || typeof input !== 'object') throw new InvalidArgumentError('input', 'must be an object with bucket, key and expiresIn');
    const bucket = checkText(input.bucket, 'bucket', /^[^\r\n]+$/, 'must be a bucket name');
    const key = checkText(input.key, 'key', /^[^\r\n]*$/, 'must not contain line breaks');
    const expiresIn = checkExpiry(input.expiresIn, 'expiresIn');
    const { second, amzDate, day } = this.#moment(options?.date);
    const userFields = input.fields ?? {};
    const conditions: PostCondition[] = [...(input.conditions ?? [])];
    for (const name in userFields) {
      if (!conditions.some((c) => conditionNames(c, name))) conditions.push({ [name]: userFields[name]! });
    }
    conditions.push({ bucket });
    const FILENAME = '${filename}';
    conditions.push(key.endsWith(FILENAME) ? ['starts-with', '$key', key.slice(0, -FILENAME.length)] : { key });
    const amz: Record<string, string> = {
      'x-amz-algorithm': ALGORITHM,
      'x-amz-credential': day.credential,
      'x-amz-date': amzDate,
    };
    if (this.#sessionToken !== undefined) amz['x-amz-security-token'] = this.#sessionToken;
    for (const name in amz) conditions.push({ [name]: amz[name]! });
    const expiration = new Date((second + expiresIn) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const policy: PostPolicyDocument = { expiration, conditions };
    const encoded = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
    return {
      fields: { ...userFields, key, ...amz, policy: encoded, 'x-amz-signature': day.key.sign(encoded) },
      policy,
    };
  }

  #moment(input: Date | number | undefined): Moment {
    const ms = input === undefined ? Date.now() : input instanceof Date ? input.getTime() : input;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidArgumentError('date', 'must be a valid Date or a number of milliseconds');
    const second = Math.floor(ms / 1000);
    const last = this.#lastMoment;
    if (last !== undefined && second === last.second) return last;
    // ECMAScript Date covers 8.64e15 ms either side of 1970; SigV4 dates have four-digit years.
    const iso = Math.abs(ms) <= 8.64e15 ? new Date(second * 1000).toISOString() : '';
    if (iso.length !== 24) throw new InvalidArgumentError('date', 'must fall in the years 0000 to 9999');
    const dateStamp = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10);
    const amzDate = dateStamp + 'T' + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
    const day = this.#day(dateStamp);
    this.#lastMoment = { second, amzDate, day, stringToSignPrefix: stringToSignPrefix(amzDate, day.scope) };
    return this.#lastMoment;
  }

  #day(dateStamp: string): DayScope {
    const last = this.#lastDay;
    if (last !== undefined && last.dateStamp === dateStamp) return last;
    const scope = dateStamp + '/' + this.region + '/' + this.service + '/aws4_request';
    const credential = this.accessKeyId + '/' + scope;
    this.#lastDay = {
      dateStamp,
      scope,
      credential,
      encodedCredential: encodeComponent(credential, 'accessKeyId'),
      authorizationPrefix: ALGORITHM + ' Credential=' + credential + ', SignedHeaders=',
      key: cachedSigningKey(this.#secretAccessKey, dateStamp, this.region, this.service),
    };
    return this.#lastDay;
  }

  #canonicalUri(path: string): string {
    return this.mode === 's3' ? canonicalPath(path) : encodeKey(normalizePath(path), 'url');
  }

  /** The caller's payloadHash, else its x-amz-content-sha256 header, else `fallback`, else the body's hash. */
  #payloadHash(request: SignRequest, fallback: string | undefined): string {
    const given = request.payloadHash;
    const header = payloadHashHeader(request.headers);
    if (given !== undefined && header !== undefined && given !== header) {
      throw new InvalidArgumentError('payloadHash', 'differs from the x-amz-content-sha256 header; pass one of them');
    }
    const chosen = given ?? header;
    if (chosen !== undefined) {
      if (typeof chosen !== 'string' || !PRINTABLE.test(chosen)) {
        throw new InvalidArgumentError('payloadHash', 'must be a hex SHA-256 or UNSIGNED-PAYLOAD');
      }
      return chosen;
    }
    if (request.body !== undefined) {
      if (typeof request.body !== 'string' && !(request.body instanceof Uint8Array)) {
        throw new InvalidArgumentError('body', 'must be a string or Uint8Array; hash other bodies yourself and pass payloadHash');
      }
      return fallback === UNSIGNED_PAYLOAD ? fallback : hashPayload(request.body);
    }
    return fallback ?? EMPTY_SHA256;
  }
}

/** Whether a POST condition constrains form field `name`. */
function conditionNames(condition: PostCondition, name: string): boolean {
  const lower = name.toLowerCase();
  if (Array.isArray(condition)) return typeof condition[1] === 'string' && condition[1].toLowerCase() === '$' + lower;
  return Object.keys(condition).some((k) => k.toLowerCase() === lower);
}

/**
 * Continues a streaming signature chunk by chunk: each chunk's string to sign
 * holds the previous signature, starting from the seed (the request's own).
 */
export class ChunkSigner {
  readonly chunkSize: number;
  readonly #key: SigningKey;
  readonly #prefix: string;
  #previous: string;
  #finished = false;

  constructor(signingKey: SigningKey | Uint8Array, amzDate: string, scope: string, seedSignature: string, chunkSize: number) {
    this.#key = signingKey instanceof SigningKey ? signingKey : new SigningKey(signingKey);
    this.#prefix = 'AWS4-HMAC-SHA256-PAYLOAD\n' + amzDate + '\n' + scope + '\n';
    this.#previous = seedSignature;
    this.chunkSize = chunkSize;
  }

  /** Whether the empty final chunk has been signed. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The signature of the next chunk. */
  signChunk(data: Uint8Array): string {
    if (this.#finished) throw new InvalidArgumentError('data', 'comes after the empty final chunk, which ends the upload');
    const sig = this.#key.sign(this.#prefix + this.#previous + '\n' + EMPTY_SHA256 + '\n' + hash('sha256', data));
    this.#previous = sig;
    if (data.length === 0) this.#finished = true;
    return sig;
  }

  /** The framing line sent before a chunk's data: `hex(size);chunk-signature=<sig>\r\n`. */
  chunkHeader(data: Uint8Array): string {
    return data.length.toString(16) + ';chunk-signature=' + this.signChunk(data) + '\r\n';
  }
}
