/**
 * The parts of SigV4 task 1, the canonical request (AWS General Reference,
 * "Create a signed AWS API request", task 1; S3 API Reference, "Signature
 * Calculations for the Authorization Header"): the request target split from
 * a URL, the canonical query string, and the canonical headers with the
 * signed-headers list. Also the checks of what a caller hands the signer.
 * Pure functions; the only state is the caller's map of header names seen.
 */
import { canonicalQueryComponent } from './encoding.js';
import { InvalidArgumentError } from './errors.js';

/** A request target, split: what Endpoint resolves once per request, and what a URL string is split into. */
export class RequestTarget {
  /**
   * @param origin `scheme://authority` exactly as sent.
   * @param host The `host` header value: lower case, default port dropped.
   * @param path The encoded path, never normalised; `/` at least.
   * @param query The encoded query string without `?`; '' for none.
   */
  constructor(
    readonly origin: string,
    readonly host: string,
    readonly path: string,
    readonly query: string,
  ) {}

  /** The path and query as sent on the request line. */
  get pathAndQuery(): string {
    return this.query === '' ? this.path : `${this.path}?${this.query}`;
  }
}

export type HeaderValue = string | number | readonly string[] | undefined;
export type HeadersInput = Readonly<Record<string, HeaderValue>>;

export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const PRINTABLE = /^[\x21-\x7e]+$/;
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
 * last target split: a caller signing URL strings signs request after
 * request to one origin, whose host is then taken as it was.
 */
export function splitUrl(url: string, previous?: RequestTarget): RequestTarget {
  if (typeof url !== 'string') throw new InvalidArgumentError('url', `must be a string, got ${typeof url}`);
  if (
    previous !== undefined &&
    // lastIndexOf(x, 0) rather than startsWith: Node 20's optimised startsWith takes about 4x as long (bench/sign.ts).
    url.lastIndexOf(previous.origin, 0) === 0 &&
    endsAuthority(url.charCodeAt(previous.origin.length))
  ) {
    return targetAfter(url, previous.origin, previous.host);
  }
  const schemeEnd = url.indexOf('://');
  // https and http, the usual schemes, need no pattern test.
  const usual = (schemeEnd === 5 && url.startsWith('https')) || (schemeEnd === 4 && url.startsWith('http'));
  if (!usual && (schemeEnd <= 0 || !SCHEME.test(url.slice(0, schemeEnd)))) {
    throw new InvalidArgumentError('url', 'must be an absolute URL such as https://bucket.s3.amazonaws.com/key');
  }
  const authorityStart = schemeEnd + 3;
  let authorityEnd = authorityStart;
  while (!endsAuthority(url.charCodeAt(authorityEnd))) authorityEnd++;
  const authority = url.slice(authorityStart, authorityEnd);
  if (authority === '') throw new InvalidArgumentError('url', 'has no host');
  if (authority.includes('@')) {
    throw new InvalidArgumentError('url', 'must not carry user info (user:password@); pass credentials to the signer');
  }
  const origin = url.slice(0, authorityEnd);
  let host = authority.toLowerCase();
  // RFC 3986 section 3.2.3: an empty port is no port; RFC 9110 section 4.2: nor is the default one.
  if (host.endsWith(':')) host = host.slice(0, -1);
  else if (host.endsWith(':443') || host.endsWith(':80')) {
    const defaultPort = DEFAULT_PORT[url.slice(0, schemeEnd + 1).toLowerCase()];
    if (defaultPort !== undefined && host.endsWith(defaultPort)) host = host.slice(0, -defaultPort.length);
  }
  return targetAfter(url, origin, host);
}

/** The target of `url` whose origin and host are known: its path and query, up to a fragment. */
function targetAfter(url: string, origin: string, host: string): RequestTarget {
  let hashAt = url.indexOf('#', origin.length);
  if (hashAt < 0) hashAt = url.length;
  let queryAt = url.indexOf('?', origin.length);
  if (queryAt < 0 || queryAt > hashAt) queryAt = hashAt;
  const path = origin.length < queryAt ? url.slice(origin.length, queryAt) : '/';
  return new RequestTarget(origin, host, path, queryAt < hashAt ? url.slice(queryAt + 1, hashAt) : '');
}

export function comparePairs(a: readonly [string, string], b: readonly [string, string]): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] !== b[1]) return a[1] < b[1] ? -1 : 1;
  return 0;
}

/**
 * Query pairs decoded and encoded again, then sorted by key and value.
 * Repeated keys and bare keys (`?uploads` is `uploads=`) are kept. `+` is a
 * literal plus (RFC 3986), encoded `%2B`; write a space as `%20`.
 */
export function canonicalQueryPairs(query: string): Array<[string, string]> {
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

/** `k=v&k2=v2` from pairs already encoded. */
export function joinPairs(pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (let i = 0; i < pairs.length; i++) out += `${i === 0 ? '' : '&'}${pairs[i]![0]}=${pairs[i]![1]}`;
  return out;
}

/** Trimall (SigV4 Task 1): values trimmed, inner runs of spaces and tabs collapsed to one space. */
function canonicalHeaderValue(value: string, name: string): string {
  if (!HEADER_VALUE_NEEDS_WORK.test(value)) return value;
  if (HEADER_VALUE_FORBIDDEN.test(value)) {
    throw new InvalidArgumentError(
      `headers["${name}"]`,
      'contains CR, LF or NUL, which an HTTP header value cannot carry',
    );
  }
  return value.replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

/** A header's canonical value: trimmed, a number as text, repeated values joined with `,`. */
export function headerValueText(value: Exclude<HeaderValue, undefined>, name: string): string {
  if (typeof value === 'string') return canonicalHeaderValue(value, name);
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map((v) => canonicalHeaderValue(String(v), name)).join(',');
  throw new InvalidArgumentError(
    `headers["${name}"]`,
    `must be a string, number or array of strings, got ${typeof value}`,
  );
}

/** A signer remembers this many header names; a caller inventing names forever only empties the memory more often. */
const KNOWN_NAMES_LIMIT = 256;

/**
 * Checks a header name once and remembers its canonical form: the name in
 * lower case, or '' for a header never signed. The same few names come with
 * every request, so the check and the lower-casing are done once per signer.
 */
function learnHeaderName(name: string, knownNames: Map<string, string>): string {
  if (!TOKEN.test(name)) {
    throw new InvalidArgumentError(
      `headers["${name}"]`,
      "is not a valid header name (RFC 9110 token: ASCII letters, digits and !#$%&'*+-.^_`|~)",
    );
  }
  const lower = name.toLowerCase();
  const canonical = UNSIGNED_HEADERS.has(lower) ? '' : lower;
  if (knownNames.size >= KNOWN_NAMES_LIMIT) knownNames.clear();
  knownNames.set(name, canonical);
  return canonical;
}

export interface CanonicalHeaders {
  canonical: string;
  signed: string;
}

/** The headers a signer sets itself (such as host and x-amz-date), sorted, with their parts of the output made once. */
export class FixedHeaders {
  /** `name:`, the start of each one's canonical line. */
  readonly lineStarts: readonly string[];
  /** The signed-headers list when no header of the caller's is signed. */
  readonly signed: string;

  constructor(readonly names: readonly string[]) {
    this.lineStarts = names.map((name) => `${name}:`);
    this.signed = names.join(';');
  }
}

/**
 * Canonical headers and the signed-headers list: names lower-cased and
 * sorted, values trimmed, repeated names joined with `,` in the order given.
 * The fixed headers take `fixedValues` (in their order) and replace any
 * caller value of the same name.
 */
export function canonicalHeaders(
  input: HeadersInput | undefined,
  fixed: FixedHeaders,
  fixedValues: readonly string[],
  knownNames: Map<string, string>,
): CanonicalHeaders {
  // The caller's signed headers in parallel arrays, insertion-sorted: requests carry a handful, and this is the
  // signer's hottest loop. They are then merged with the fixed ones, which are sorted already.
  const names: string[] = [];
  const values: string[] = [];
  if (input !== undefined) {
    for (const name in input) {
      const value = input[name];
      if (value === undefined) continue;
      const lower = knownNames.get(name) ?? learnHeaderName(name, knownNames);
      if (lower === '' || fixed.names.includes(lower)) continue;
      const text = headerValueText(value, name);
      const at = names.indexOf(lower);
      if (at < 0) {
        let j = names.length - 1;
        names.push(lower);
        values.push(text);
        for (; j >= 0 && names[j]! > lower; j--) {
          names[j + 1] = names[j]!;
          values[j + 1] = values[j]!;
        }
        names[j + 1] = lower;
        values[j + 1] = text;
      } else {
        values[at] += `,${text}`;
      }
    }
  }
  // Built in one pass: Array#join costs more than the concatenation.
  let canonical = '';
  let signed = '';
  const fixedNames = fixed.names;
  for (let i = 0, j = 0; i < names.length || j < fixedNames.length; ) {
    if (j === fixedNames.length || (i < names.length && names[i]! < fixedNames[j]!)) {
      canonical += `${names[i]}:${values[i]}\n`;
      signed += signed === '' ? names[i] : `;${names[i]}`;
      i++;
    } else {
      canonical += `${fixed.lineStarts[j]}${fixedValues[j]}\n`;
      if (names.length > 0) signed += signed === '' ? fixedNames[j] : `;${fixedNames[j]}`;
      j++;
    }
  }
  return { canonical, signed: names.length === 0 ? fixed.signed : signed };
}

/** The caller's `x-amz-content-sha256` header, whatever its case. */
export function payloadHashHeader(headers: HeadersInput | undefined): string | undefined {
  if (headers === undefined) return undefined;
  for (const name in headers) {
    if (name.length === 20 && name.toLowerCase() === 'x-amz-content-sha256') {
      const value = headers[name];
      return value === undefined ? undefined : String(value).trim();
    }
  }
  return undefined;
}

/** Methods an S3 client sends, known to be tokens: a Set lookup costs a third of the pattern test. */
const S3_METHODS: ReadonlySet<unknown> = new Set(['GET', 'PUT', 'HEAD', 'POST', 'DELETE']);

export function checkMethod(method: unknown): string {
  if (S3_METHODS.has(method)) return method as string;
  if (typeof method !== 'string' || !TOKEN.test(method)) {
    throw new InvalidArgumentError('method', 'must be an HTTP method token such as GET or PUT');
  }
  return method;
}

/** Longest validity of a presigned URL: 7 days (S3 API Reference, "Query Parameters", X-Amz-Expires). */
export const MAX_PRESIGN_EXPIRY = 604_800;

export function checkExpiry(expiresIn: unknown, argument: string): number {
  if (
    typeof expiresIn !== 'number' ||
    !Number.isInteger(expiresIn) ||
    expiresIn < 1 ||
    expiresIn > MAX_PRESIGN_EXPIRY
  ) {
    throw new InvalidArgumentError(
      argument,
      `must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRY} (7 days), got ${String(expiresIn)}`,
    );
  }
  return expiresIn;
}

export function checkText(value: unknown, argument: string, pattern: RegExp, expected: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(argument, 'must be a non-empty string');
  if (!pattern.test(value)) throw new InvalidArgumentError(argument, expected);
  return value;
}
