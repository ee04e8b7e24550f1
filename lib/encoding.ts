/**
 * Percent-encoding for SigV4 and S3 (the one encoder of the project).
 *
 * SigV4's UriEncode (S3 API Reference, "Signature Calculations for the
 * Authorization Header", UriEncode()): every byte of the UTF-8 form is kept
 * if it is an RFC 3986 unreserved character (A-Z a-z 0-9 - . _ ~) and written
 * as %XY with upper-case hex otherwise. Space is %20, `+` is %2B; `/` is kept
 * in object keys (paths) and encoded as %2F everywhere else.
 */
import { InvalidArgumentError } from './errors.js';

/** `%XY` for every byte value, upper-case hex. */
const PERCENT: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
);

/** 1 where the byte is RFC 3986 unreserved. */
const UNRESERVED = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

const SLASH = 0x2f;
const PLAIN_KEY = /^[A-Za-z0-9\-._~/]*$/;
/** encodeURIComponent leaves these five sub-delimiters alone; RFC 3986 UriEncode does not. */
const SUB_DELIMS = /[!'()*]/g;

/**
 * Whether an already-encoded path (`/` kept) differs from its canonical form:
 * a character outside unreserved, `/` and `%`; a `%` not followed by two
 * upper-case hex digits; or an escape of an unreserved character or of `/`.
 */
const PATH_NEEDS_RECODE = /[^A-Za-z0-9\-._~/%]|%(?![0-9A-F]{2})|%(?:2[DEF]|3\d|4[1-9A-F]|5[\dAF]|6[1-9A-F]|7[\dAE])/;
/** The same test for a query key or value, where `%2F` is canonical. */
const QUERY_NEEDS_RECODE = /[^A-Za-z0-9\-._~%]|%(?![0-9A-F]{2})|%(?:2[DE]|3\d|4[1-9A-F]|5[\dAF]|6[1-9A-F]|7[\dAE])/;

function escapeSubDelim(ch: string): string {
  return PERCENT[ch.charCodeAt(0)]!;
}

/**
 * Encodes one query key or value (or any string that must not keep `/`).
 * Throws when the string is not well-formed Unicode (a lone surrogate has no UTF-8 form).
 */
export function encodeComponent(value: string, argument = 'value'): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    throw new InvalidArgumentError(argument, 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding');
  }
  return encoded.replace(SUB_DELIMS, escapeSubDelim);
}

/**
 * Encodes an S3 object key for the URL path: each byte of its UTF-8 form as
 * UriEncode does, `/` kept. The key is never normalised: `//`, `.`, `..` and a
 * trailing `/` survive, since S3 keys are opaque strings (S3 User Guide,
 * "Naming Amazon S3 objects").
 */
export function encodeKey(key: string, argument = 'key'): string {
  if (typeof key !== 'string') throw new InvalidArgumentError(argument, `must be a string, got ${typeof key}`);
  if (PLAIN_KEY.test(key)) return key;
  return encodeComponent(key, argument).replace(/%2F/g, '/');
}

/** A query parameter, encoded by formatQuery; without a value it is a bare sub-resource such as `?uploads`. */
export type QueryPair = readonly [name: string, value?: string];

/**
 * The query string (without `?`) of parameters in the order given, each name and value encoded with encodeComponent.
 */
export function formatQuery(pairs: readonly QueryPair[]): string {
  let query = '';
  for (const [name, value] of pairs) {
    const pair = value === undefined ? encodeComponent(name) : `${encodeComponent(name)}=${encodeComponent(value)}`;
    query += query === '' ? pair : `&${pair}`;
  }
  return query;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Decodes percent escapes in `text` to bytes and encodes the bytes again the
 * canonical way. Characters that were never encoded (raw UTF-8, sub-delims)
 * are encoded; a `%` without two hex digits is taken literally, as `%25`.
 */
function recode(text: string, keepSlash: boolean): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    let b = bytes[i]!;
    if (b === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1]!);
      const lo = hexValue(bytes[i + 2]!);
      if (hi >= 0 && lo >= 0) {
        b = (hi << 4) | lo;
        i += 2;
      }
    }
    out += UNRESERVED[b] === 1 || (keepSlash && b === SLASH) ? String.fromCharCode(b) : PERCENT[b]!;
  }
  return out;
}

/**
 * The canonical form of an already-encoded path, as an S3 server computes it
 * from what it receives: escapes decoded, then encoded once again. A path
 * built with encodeKey() comes back unchanged (the fast, usual case).
 */
export function canonicalPath(path: string): string {
  return PATH_NEEDS_RECODE.test(path) ? recode(path, true) : path;
}

/** The canonical form of one already-encoded query key or value. */
export function canonicalQueryComponent(text: string): string {
  return QUERY_NEEDS_RECODE.test(text) ? recode(text, false) : text;
}

/**
 * RFC 3986 section 5.2.4 dot-segment removal plus collapsing of empty
 * segments, as the generic (non-S3) SigV4 suites expect: `//a/./b/../c/`
 * becomes `/a/c/`. Never used for S3, where keys are opaque.
 */
export function normalizePath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}
