/**
 * The options of the object operations (put, get, copy) and the request
 * headers they become: content headers and metadata, the range and
 * conditions of a GET, the source of a copy. Each is checked here, naming
 * the option it refuses.
 *
 * Header values are checked here too, for every request that sends them (a
 * PUT, a REPLACE copy, a CreateMultipartUpload, a GET, a presigned URL's
 * headers). HTTP carries ASCII in a field value (RFC 9110 section 5.5):
 * undici sends a string's code units as latin1 and refuses any above 0xFF,
 * while SigV4 signs the UTF-8 bytes, so any other character would end in
 * SignatureDoesNotMatch or no reply at all. Metadata values are therefore sent
 * as RFC 2047 encoded-words when they are not plain ASCII, as S3 itself does;
 * every other header is ASCII only.
 */
import { isByteCount } from './arguments.js';
import { type HeadersInput, TOKEN } from './canonical.js';
import { encodeWords } from './encoded-words.js';
import { encodeKey } from './encoding.js';
import { InvalidArgumentError } from './errors.js';

/**
 * Content headers and metadata. contentType, cacheControl and
 * contentDisposition are sent as they are, so they must be printable ASCII
 * with no space at either end (HTTP drops it); anything else is an
 * InvalidArgumentError naming the option.
 */
export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
  /**
   * ASCII only: write a non-ASCII filename as `filename*=UTF-8''` and its
   * percent-encoded UTF-8, with an ASCII `filename="..."` fallback
   * (RFC 6266 section 4.3, RFC 8187).
   */
  contentDisposition?: string;
  /**
   * User metadata, sent as x-amz-meta-* headers. Names are HTTP tokens
   * (RFC 9110 section 5.6.2), case-insensitive, stored in lower case. A value
   * that is not plain ASCII (non-ASCII text, a space at either end, `=?`) is
   * sent as RFC 2047 encoded-words, and head() and get() decode them, so it
   * reads back as written. Control characters (U+0000 to U+001F, U+007F to
   * U+009F, TAB included) and lone surrogates are refused.
   */
  metadata?: Record<string, string>;
  /**
   * `'*'`: create only, fail with PreconditionFailed when the key exists. A multipart put also asks first (HEAD), as
   * servers such as Ceph 16 do not check the condition when the upload completes; see the README on what that leaves.
   */
  ifNoneMatch?: '*';
  /**
   * Continues the newest unfinished multipart upload of the key, if there is one (ListMultipartUploads, ListParts):
   * each of its parts whose size and MD5 match the bytes the body would send there is kept, any other sent again, so
   * the object is always exactly the body. Whether this upload fails or is aborted (close() included), it is then
   * kept on the server for the next resume instead of aborted; abortStaleUploads() removes one never resumed. Once
   * the put succeeds, any other unfinished upload of the key (an older one, say) is aborted. The object gets the
   * content type and metadata of the upload it continues: they were sent when that upload was created.
   * Matters only for a body that goes through multipart; a part's MD5 is its ETag only without SSE-KMS or SSE-C.
   */
  resume?: boolean;
  /** The length of a stream body, when known: it is then sent in one request up to the multipart threshold. */
  contentLength?: number;
  signal?: AbortSignal;
  /** Called as bytes are sent, with the total when known. */
  onProgress?: (progress: { loaded: number; total: number | undefined }) => void;
}

export interface GetOptions {
  /** `bytes=0-99`, or [start, end] inclusive, or `{ suffix: n }` for the last n bytes (RFC 9110 section 14.1.2). */
  range?: string | readonly [number, number] | { readonly suffix: number };
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  signal?: AbortSignal;
}

export interface CopyOptions {
  /** Replaces the metadata (and content type) instead of copying the source's; values as in PutOptions.metadata. */
  metadata?: Record<string, string>;
  /** Printable ASCII, as in PutOptions. */
  contentType?: string;
  signal?: AbortSignal;
}

/** Headers of a CopyObject: the source, and the metadata that replaces the source's when given. */
export function copyHeaders(bucket: string, from: string, options: CopyOptions): Record<string, string> {
  const headers: Record<string, string> = { 'x-amz-copy-source': `/${bucket}/${encodeKey(from)}` };
  if (options.metadata !== undefined || options.contentType !== undefined) {
    headers['x-amz-metadata-directive'] = 'REPLACE';
    const replaced = options.contentType === undefined ? {} : { contentType: options.contentType };
    Object.assign(headers, objectHeaders({ ...replaced, metadata: options.metadata ?? {} }));
  }
  return headers;
}

/** The Range header of a range: a string as given, a tuple or a suffix checked first. */
function rangeHeader(range: NonNullable<GetOptions['range']>): string {
  if (typeof range === 'string') return asciiHeaderValue(range, 'range');
  if (Array.isArray(range)) {
    const [start, end] = range as readonly [number, number];
    if (range.length !== 2 || !isByteCount(start) || !isByteCount(end) || start > end) {
      throw new InvalidArgumentError(
        'range',
        `must be [start, end], whole byte offsets with start <= end, got ${JSON.stringify(range)}`,
      );
    }
    return `bytes=${start}-${end}`;
  }
  if (range !== null && typeof range === 'object') {
    const { suffix } = range as { suffix: number };
    if (!isByteCount(suffix) || suffix === 0) {
      throw new InvalidArgumentError('range.suffix', `must be a whole number of bytes above 0, got ${String(suffix)}`);
    }
    return `bytes=-${suffix}`;
  }
  throw new InvalidArgumentError('range', 'must be a string such as bytes=0-99, [start, end] or { suffix: n }');
}

/** Headers of a GET: its range and conditions. */
export function getHeaders(options: GetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.range !== undefined) headers.range = rangeHeader(options.range);
  if (options.ifMatch !== undefined) headers['if-match'] = asciiHeaderValue(options.ifMatch, 'ifMatch');
  if (options.ifNoneMatch !== undefined)
    headers['if-none-match'] = asciiHeaderValue(options.ifNoneMatch, 'ifNoneMatch');
  if (options.ifModifiedSince !== undefined) headers['if-modified-since'] = options.ifModifiedSince.toUTCString();
  return headers;
}

/** The conditions of an object's write: `If-None-Match: *` for create-only. */
export function writeConditions(options: Pick<PutOptions, 'ifNoneMatch'>): Record<string, string> {
  if (options.ifNoneMatch === undefined) return {};
  if (options.ifNoneMatch !== '*')
    throw new InvalidArgumentError('ifNoneMatch', `must be "*" (create only), got ${String(options.ifNoneMatch)}`);
  return { 'if-none-match': '*' };
}

/** Headers of an object's PUT (or a REPLACE copy, or a CreateMultipartUpload): its content headers and metadata. */
export function objectHeaders(
  options: Pick<PutOptions, 'contentType' | 'cacheControl' | 'contentDisposition' | 'metadata'>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.contentType !== undefined) headers['content-type'] = asciiHeaderValue(options.contentType, 'contentType');
  if (options.cacheControl !== undefined) {
    headers['cache-control'] = asciiHeaderValue(options.cacheControl, 'cacheControl');
  }
  if (options.contentDisposition !== undefined) {
    headers['content-disposition'] = asciiHeaderValue(
      options.contentDisposition,
      'contentDisposition',
      FILENAME_ADVICE,
    );
  }
  for (const [name, value] of Object.entries(options.metadata ?? {})) {
    const field = `metadata["${name}"]`;
    if (!TOKEN.test(name)) {
      throw new InvalidArgumentError(
        field,
        "is not a valid header name (RFC 9110 token: ASCII letters, digits and !#$%&'*+-.^_`|~)",
      );
    }
    const header = `x-amz-meta-${name.toLowerCase()}`;
    if (header in headers) {
      throw new InvalidArgumentError(
        field,
        'repeats a name given in another case; metadata names are case-insensitive',
      );
    }
    headers[header] = metadataValue(value, field);
  }
  return headers;
}

/** Checks the values of headers given as they are (a presigned URL's): each as asciiHeaderValue does. */
export function checkHeaderValues(headers: HeadersInput | undefined): void {
  for (const name in headers) {
    const value = headers[name];
    for (const text of typeof value === 'string' ? [value] : Array.isArray(value) ? value : []) {
      asciiHeaderValue(text, `headers["${name}"]`);
    }
  }
}

/** Control characters (Unicode Cc: C0, DEL and C1), which no field value may carry, and lone surrogates. */
const UNSENDABLE = /\p{Cc}|\p{Cs}/u;
/** A value HTTP carries unchanged: printable ASCII and inner spaces, none at either end (RFC 9110 section 5.5). */
const PLAIN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const NON_ASCII = /[^\x20-\x7e]/u;
const FILENAME_ADVICE =
  "; write a non-ASCII filename as filename*=UTF-8'' and its percent-encoded UTF-8, after an ASCII " +
  'filename="..." fallback (RFC 6266 section 4.3, RFC 8187)';

/** `U+00E9`: a character named without showing the value it is in. */
function codePoint(character: string): string {
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** A string without control characters or lone surrogates. */
function sendable(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(field, `must be a string, got ${typeof value}`);
  const bad = UNSENDABLE.exec(value)?.[0];
  if (bad === undefined) return value;
  throw new InvalidArgumentError(
    field,
    /\p{Cs}/u.test(bad)
      ? `holds a lone UTF-16 surrogate (${codePoint(bad)}), which has no UTF-8 encoding`
      : `holds the control character ${codePoint(bad)}, which an HTTP header value cannot carry (RFC 9110 section 5.5)`,
  );
}

/** A header value sent as it is: printable ASCII, not empty, no space at either end. */
function asciiHeaderValue(value: unknown, field: string, advice = ''): string {
  const text = sendable(value, field);
  if (PLAIN.test(text)) return text;
  const other = NON_ASCII.exec(text)?.[0];
  if (other !== undefined) {
    throw new InvalidArgumentError(
      field,
      `holds ${codePoint(other)}, but this header is sent as it is and carries ASCII only${advice}`,
    );
  }
  throw new InvalidArgumentError(
    field,
    text === '' ? 'is empty; leave it out instead' : 'starts or ends with a space, which HTTP drops; trim it',
  );
}

/** A metadata value: as it is when HTTP carries it unchanged and it reads as no encoded-word; else encoded-words. */
function metadataValue(value: unknown, field: string): string {
  const text = sendable(value, field);
  return text === '' || (PLAIN.test(text) && !text.includes('=?')) ? text : encodeWords(text);
}
