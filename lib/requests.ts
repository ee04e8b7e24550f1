/**
 * The options of the object operations (put, get, copy) and the request
 * headers they become: content headers and metadata, the range and
 * conditions of a GET, the source of a copy. Each is checked here, naming
 * the option it refuses.
 */
import { isByteCount } from './arguments.js';
import { encodeKey } from './encoding.js';
import { InvalidArgumentError } from './errors.js';

export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  /** User metadata, sent as x-amz-meta-* headers. */
  metadata?: Record<string, string>;
  /**
   * `'*'`: create only, fail with PreconditionFailed when the key exists. A multipart put also asks first (HEAD), as
   * servers such as Ceph 16 do not check the condition when the upload completes; see the README on what that leaves.
   */
  ifNoneMatch?: '*';
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
  /** Replaces the metadata (and content type) instead of copying the source's. */
  metadata?: Record<string, string>;
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
  if (typeof range === 'string') return range;
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
  if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
  if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
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

/** Headers of an object's PUT (or a REPLACE copy): its content headers and metadata. */
export function objectHeaders(
  options: Pick<PutOptions, 'contentType' | 'cacheControl' | 'contentDisposition' | 'metadata'>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  if (options.cacheControl !== undefined) headers['cache-control'] = options.cacheControl;
  if (options.contentDisposition !== undefined) headers['content-disposition'] = options.contentDisposition;
  for (const [name, value] of Object.entries(options.metadata ?? {})) {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name))
      throw new InvalidArgumentError(`metadata["${name}"]`, 'is not a valid header name');
    headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  }
  return headers;
}
