/**
 * Replies: an error reply becomes an S3Error with a hint (or a ProtocolError
 * when it carries no S3 error code), and an object's reply headers become
 * ObjectInfo, PutResult or a GetResult whose body is read once. The hints,
 * the region codes and the minimum-policy text are shared with `doctor`.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { decodeWords } from './encoded-words.js';
import { ProtocolError, S3Error } from './errors.js';
import { BodyTimeoutError } from './undici.js';
import { MAX_XML_LENGTH, parseXml, textOf, XmlError, type XmlElement } from './xml.js';

export type ReplyHeaders = Record<string, string | string[] | undefined>;

/** What a request got back: the status, the headers, and the body (read into `text` when the request asked). */
export interface Reply {
  status: number;
  headers: ReplyHeaders;
  body: Dispatcher.ResponseData['body'];
  /** The body, when the request asked for its text; '' otherwise. */
  text: string;
}

/** What hints name: the configuration's bucket, region and endpoint. */
export interface HintContext {
  readonly bucket: string;
  readonly region: string;
  readonly endpoint: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** Without quotes. */
  etag: string;
  contentType: string | undefined;
  lastModified: Date | undefined;
  metadata: Record<string, string>;
}

export interface PutResult {
  /** Without quotes. */
  etag: string;
  versionId: string | undefined;
  /**
   * The reply's Date (RFC 9110 §6.6.1), on the server's clock: the object was written by then, so a later listing that
   * shows it last modified no later shows this write (sync's records). Undefined when the reply has none that reads.
   */
  date: Date | undefined;
  /** With `resume` through multipart: the parts of an earlier upload kept, and their bytes (none when it began anew). */
  resumed?: { parts: number; bytes: number };
}

export interface GetResult extends Omit<ObjectInfo, 'size'> {
  /**
   * The object's size: the Content-Length, or a range reply's Content-Range total; undefined when the reply does not
   * say (a chunked body, a `bytes 0-4/*` range).
   */
  size: number | undefined;
  /** The body as a stream; read it once, with this or with text(), bytes() or json(). */
  body: Readable;
  /** `bytes 0-99/1234` for a range request. */
  contentRange: string | undefined;
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
}

/** Codes that mean the request was signed for, or sent to, the wrong region. */
export const REGION_CODES: ReadonlySet<string> = new Set([
  'AuthorizationHeaderMalformed',
  'PermanentRedirect',
  'IllegalLocationConstraintException',
]);

/** The reference's minimum policy for a bucket ("S3-Compatible Storage", "Minimum policy"). */
export function minimumPolicy(bucket: string): string {
  return `s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::${bucket}/*`;
}

/**
 * Codes of error replies without an S3 error body, by status: HEAD replies
 * have no body, so a missing key is `NotFound` there and `NoSuchKey` from a
 * GET, as the AWS SDKs name them.
 */
const STATUS_CODES: Readonly<Record<number, string>> = {
  // A HEAD sent to the wrong region: its x-amz-bucket-region header names the right one (S3 API Reference, HeadBucket).
  301: 'PermanentRedirect',
  304: 'NotModified',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
  416: 'InvalidRange',
};

const STATUS_TEXT: Readonly<Record<number, string>> = {
  301: 'moved permanently',
  304: 'not modified',
  400: 'bad request',
  403: 'forbidden',
  404: 'not found',
  409: 'conflict',
  412: 'precondition failed',
  416: 'range not satisfiable',
  500: 'internal server error',
  503: 'service unavailable',
};

/** A header's value, repeated values joined with `,`. */
export function header(headers: ReplyHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** An ETag without its quotes: one leading and one trailing `"` dropped, where present. */
export function unquote(etag: string): string {
  const start = etag.charCodeAt(0) === 0x22 ? 1 : 0;
  const end = etag.length > start && etag.charCodeAt(etag.length - 1) === 0x22 ? etag.length - 1 : etag.length;
  return start === 0 && end === etag.length ? etag : etag.slice(start, end);
}

/**
 * Bounds on reply bodies read whole. A result document is at most MAX_XML_LENGTH (16 MiB: S3's largest, a full
 * listing of 1024-byte keys, is near 2 MB). An error document is a few hundred bytes (S3 API Reference, "Error
 * responses"): 64 KiB holds any S3 error with room to spare, and bounds what a proxy's HTML error page may cost.
 */
export const MAX_RESULT_BYTES = MAX_XML_LENGTH;
export const MAX_ERROR_BYTES = 64 * 1024;

const UTF8 = new TextDecoder();

/** What readBounded reads: a reply body (undici's, or any stream of bytes that can be destroyed). */
type BodyStream = AsyncIterable<Uint8Array> & {
  destroy(error?: Error): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
};

/**
 * Stops reading a body and releases its socket. undici's body then emits RequestAbortedError, which is what was
 * asked for: it is listened to, so it is not an unhandled 'error' event.
 */
function discard(body: BodyStream): void {
  body.on('error', () => undefined);
  body.destroy();
}

/**
 * Reads a reply's body as UTF-8 text, at most `limit` bytes: a declared Content-Length above it is refused before
 * reading, and a body that grows past it is destroyed at once (releasing its socket), so memory never holds more than
 * `limit` bytes of it. Either is a ProtocolError.
 */
export async function readBounded(
  reply: { status: number; headers: ReplyHeaders; body: BodyStream },
  limit: number,
  label: string,
): Promise<string> {
  const { status, body } = reply;
  const tooLarge = (declared: string) =>
    new ProtocolError(`${label}: HTTP ${status} with a body above the ${limit} bytes accepted${declared}`, {
      status,
      request: label,
    });
  const declared = Number(header(reply.headers, 'content-length'));
  if (declared > limit) {
    discard(body);
    throw tooLarge(` (Content-Length ${declared})`);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += chunk.length;
    if (length > limit) {
      discard(body);
      throw tooLarge('');
    }
    chunks.push(chunk);
  }
  return UTF8.decode(Buffer.concat(chunks, length));
}

/**
 * The one reader of reply documents: parses `text` and checks that its root is one of `roots`. A reply that is not
 * XML (an HTML page from a proxy, a truncated body) or has another root is a ProtocolError: a 200 that is not the
 * document asked for never passes for an empty listing or a clean delete.
 */
export function document(text: string, roots: readonly string[], label: string, status = 200): XmlElement {
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    throw new ProtocolError(`${label}: HTTP ${status} with a body that is not the XML expected (${error.message})`, {
      status,
      request: label,
    });
  }
  if (!roots.includes(root.name)) {
    const expected = roots.map((name) => `<${name}>`).join(' or ');
    throw new ProtocolError(`${label}: HTTP ${status} with a <${root.name}> document where ${expected} was expected`, {
      status,
      request: label,
    });
  }
  return root;
}

/** The error a refused request's reply means, from its status, headers and body text. */
export function refusal(
  reply: Pick<Reply, 'status' | 'headers'>,
  text: string,
  label: string,
  context?: HintContext,
): S3Error | ProtocolError {
  let error: XmlElement | undefined;
  try {
    // A body that is not an S3 <Error> document (an HTML page, another document) names no code: the status speaks.
    error = text.trim() === '' ? undefined : document(text, ['Error'], label, reply.status);
  } catch (cause) {
    if (!(cause instanceof ProtocolError)) throw cause;
  }
  return errorFrom(reply, error, label, context);
}

/**
 * The error of a HeadBucket 404, which has no body to name its code: the bucket is missing, NoSuchBucket as a GET
 * would say (S3 API Reference, HeadBucket), with its hint.
 */
export function noSuchBucket(reply: Pick<Reply, 'status' | 'headers'>, label: string, context: HintContext): S3Error {
  const code: XmlElement = { name: 'Code', children: [], text: 'NoSuchBucket' };
  return errorFrom(reply, { name: 'Error', children: [code], text: '' }, label, context) as S3Error;
}

/**
 * The error's code: the document's, or the status's for a reply without one. A 412 is always PreconditionFailed, the
 * one code S3 gives it (S3 API Reference, "Error responses"): Swift's s3api answers a failed If-None-Match on
 * CompleteMultipartUpload with 412 InvalidRequest.
 */
function errorCode(status: number, named: string | undefined): string | undefined {
  if (status === 412) return 'PreconditionFailed';
  return named || STATUS_CODES[status];
}

/** The error an S3 error document (or none, for a reply without body) stands for. */
function errorFrom(
  reply: Pick<Reply, 'status' | 'headers'>,
  document: XmlElement | undefined,
  label: string,
  context?: HintContext,
): S3Error | ProtocolError {
  const { status, headers } = reply;
  const code = errorCode(status, document && textOf(document, 'Code'));
  if (code === undefined) {
    return new ProtocolError(`${label}: HTTP ${status} without an S3 error code`, { status, request: label });
  }
  return new S3Error({
    code,
    status,
    // Ceph often sends an empty <Message/>: the status text stands in.
    message: (document && textOf(document, 'Message')) || STATUS_TEXT[status] || `HTTP ${status}`,
    requestId: (document && textOf(document, 'RequestId')) || header(headers, 'x-amz-request-id'),
    hostId: (document && textOf(document, 'HostId')) || header(headers, 'x-amz-id-2'),
    hint: context === undefined ? undefined : hint(code, context, regionOf(headers, document)),
    request: label,
  });
}

/**
 * The `root` document of a request that can fail after its 200 (CopyObject,
 * CompleteMultipartUpload: S3 API Reference); an <Error> root is thrown.
 */
export function resultOf(
  reply: Pick<Reply, 'status' | 'headers' | 'text'>,
  root: string,
  label: string,
  context?: HintContext,
): XmlElement {
  const result = document(reply.text, [root, 'Error'], label, reply.status);
  if (result.name === 'Error') throw errorFrom(reply, result, label, context);
  return result;
}

/** The region a refusal names, from its body or its x-amz-bucket-region header. */
function regionOf(headers: ReplyHeaders, document: XmlElement | undefined): string | undefined {
  const named = document && (textOf(document, 'Region') || textOf(document, 'ExpectedRegion'));
  return named || header(headers, 'x-amz-bucket-region');
}

/** What usually fixes an error, from the provider's reply and the configuration. */
function hint(code: string, context: HintContext, expected: string | undefined): string | undefined {
  const { bucket, region, endpoint } = context;
  /** The region to set when the reply names another, else `otherwise`. */
  const regionHint = (otherwise: string) =>
    expected === undefined || expected === region
      ? otherwise
      : `the bucket is in ${expected}; set region = "${expected}"`;
  if (REGION_CODES.has(code)) return regionHint('check region and endpoint');
  switch (code) {
    case 'PathStyleDomainForbidden':
      return 'this bucket only accepts virtual-hosted requests; set force_path_style = false';
    case 'SignatureDoesNotMatch':
      return 'check that secret_key belongs to access_key, and that no proxy rewrites the request';
    case 'InvalidAccessKeyId':
      return `access_key is not known to ${endpoint}; check the key and the endpoint`;
    case 'NoSuchBucket':
      return `bucket "${bucket}" does not exist at ${endpoint}; check bucket, endpoint and region`;
    case 'AccessDenied':
      return `the credentials may not do this; the minimum policy is ${minimumPolicy(bucket)}`;
    case 'RequestTimeTooSkewed':
      return "this machine's clock is too far from the server's; synchronise it (NTP)";
    case 'BadRequest':
      // A 400 without an error document, as a HEAD signed for the wrong region gets from Swift's s3api; AWS names
      // the bucket's region in x-amz-bucket-region (S3 API Reference, HeadBucket).
      return regionHint('the reply gives no reason: check region and endpoint');
    case 'Forbidden':
      // A 403 without an error document, as every HEAD refusal is (HEAD replies have no body, RFC 9110 section
      // 9.3.2): a wrong secret, a skewed clock and a missing permission all look the same.
      return "the reply gives no reason: check that secret_key belongs to access_key, this machine's clock, and that the credentials may do this";
    default:
      return undefined;
  }
}

/** A PutObject reply's result: S3 always sends the ETag (S3 API Reference, PutObject), so a 200 without one is refused. */
export function putResult(headers: ReplyHeaders, label: string): PutResult {
  const etag = header(headers, 'etag');
  if (etag === undefined) throw new ProtocolError(`${label}: the reply has no ETag`, { status: 200, request: label });
  return { etag: unquote(etag), versionId: header(headers, 'x-amz-version-id'), date: replyDate(headers) };
}

/** A reply's Date header, if it reads as a date. */
export function replyDate(headers: ReplyHeaders): Date | undefined {
  const value = header(headers, 'date');
  const date = value === undefined ? undefined : new Date(value);
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

/** ObjectInfo as a GET's reply gives it: the size may be unknown. */
type GetResultFacts = Omit<ObjectInfo, 'size'> & { size: number | undefined };

/**
 * An object's facts from its reply's headers. `size` is the Content-Length, undefined without one (a chunked body);
 * a Last-Modified that is not an HTTP date is a ProtocolError rather than an Invalid Date.
 */
function objectFacts(key: string, headers: ReplyHeaders, label: string): GetResultFacts {
  const metadata: Record<string, string> = {};
  for (const name in headers) {
    // Non-ASCII values come as RFC 2047 encoded-words (lib/encoded-words.ts). lastIndexOf(x, 0) rather than
    // startsWith: Node 20's optimised startsWith takes about 4x as long, and this runs for every reply header.
    if (name.lastIndexOf('x-amz-meta-', 0) === 0) metadata[name.slice(11)] = decodeWords(header(headers, name)!);
  }
  const modified = header(headers, 'last-modified');
  const lastModified = modified === undefined ? undefined : new Date(modified);
  if (lastModified !== undefined && Number.isNaN(lastModified.getTime())) {
    throw new ProtocolError(`${label}: Last-Modified ${JSON.stringify(modified)} is not a date`, {
      status: 200,
      request: label,
    });
  }
  const length = header(headers, 'content-length');
  return {
    key,
    size: length === undefined ? undefined : Number(length),
    etag: unquote(header(headers, 'etag') ?? ''),
    contentType: header(headers, 'content-type'),
    lastModified,
    metadata,
  };
}

/** C0 controls, DEL and C1 controls (Unicode's Cc): what a key may hold but a log line must not. */
const CONTROLS = /\p{Cc}/gu;
const HAS_CONTROL = /\p{Cc}/u;

/**
 * A key as messages show it (`PUT key`): its control characters written as `\u000d` escapes, so a key with a CR or
 * LF cannot break or forge a line of the caller's logs.
 */
export function shownKey(key: string): string {
  // Every request's label is made this way; a test first costs 40% of a replace that finds nothing.
  if (!HAS_CONTROL.test(key)) return key;
  return key.replace(CONTROLS, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A HEAD reply's ObjectInfo: a HEAD of an object always says its Content-Length (RFC 9110, 9.3.2), so one without is refused. */
export function objectInfo(key: string, headers: ReplyHeaders): ObjectInfo {
  const label = `HEAD ${shownKey(key)}`;
  const { size, ...facts } = objectFacts(key, headers, label);
  if (size === undefined) {
    throw new ProtocolError(`${label}: the reply has no Content-Length`, { status: 200, request: label });
  }
  return { ...facts, size };
}

/**
 * The object's size from a range reply's Content-Range (RFC 9110, 14.4): `bytes 0-4/1234` gives 1234, `bytes 0-4/*`
 * an unknown size; anything else is a ProtocolError.
 */
function rangeTotal(contentRange: string, label: string): number | undefined {
  const total = /^bytes \d+-\d+\/(\d+|\*)$/.exec(contentRange.trim())?.[1];
  if (total === undefined) {
    throw new ProtocolError(`${label}: Content-Range ${JSON.stringify(contentRange)} cannot be read`, {
      status: 206,
      request: label,
    });
  }
  return total === '*' ? undefined : Number(total);
}

/** A GET's reply: the object's facts, and its body to read once. */
export class Download implements GetResult {
  readonly key: string;
  readonly size: number | undefined;
  readonly etag: string;
  readonly contentType: string | undefined;
  readonly lastModified: Date | undefined;
  readonly metadata: Record<string, string>;
  readonly contentRange: string | undefined;
  readonly #body: Reply['body'];
  #stream: Readable | undefined;
  /**
   * Turns an error met while reading the body into NetworkError or AbortError: the request has returned, but the body
   * can still stall or break.
   */
  readonly #fail: (error: unknown) => Error;
  /** Releases a body nobody reads; refreshed by every chunk read. */
  readonly #idle: NodeJS.Timeout;

  /**
   * `idleMs`: how long the body may wait unread before it is released. undici's bodyTimeout runs only while a body is
   * read, so a body left unread would hold its socket, and the pool's close(), forever. Headers it cannot read are a
   * ProtocolError, the body destroyed so its socket is not held. `label` names the request in messages.
   */
  constructor(key: string, label: string, reply: Reply, fail: (error: unknown) => Error, idleMs: number) {
    let info: GetResultFacts;
    try {
      info = objectFacts(key, reply.headers, label);
      this.contentRange = header(reply.headers, 'content-range');
      // The object's size, also for a range request (from Content-Range).
      if (this.contentRange !== undefined) info.size = rangeTotal(this.contentRange, label);
    } catch (error) {
      discard(reply.body);
      throw error;
    }
    this.key = key;
    this.size = info.size;
    this.etag = info.etag;
    this.contentType = info.contentType;
    this.lastModified = info.lastModified;
    this.metadata = info.metadata;
    this.#body = reply.body;
    this.#fail = fail;
    this.#idle = setTimeout(() => reply.body.destroy(new BodyTimeoutError()), idleMs).unref();
    reply.body.once('close', () => clearTimeout(this.#idle));
  }

  /**
   * The body as a stream whose errors are NetworkError or AbortError, like
   * every other failure. Made on first use: text(), bytes() and json() read
   * the reply directly.
   */
  get body(): Readable {
    if (this.#stream === undefined) {
      const chunks = typedChunks(this.#body as AsyncIterable<Buffer>, this.#fail, this.#idle);
      this.#stream = Readable.from(chunks, { objectMode: false });
      // Destroyed before its first read, the stream never starts `chunks`, so the reply's body must be told. undici's
      // body then emits RequestAbortedError, which nobody reads any more: unheard, it would crash the process.
      this.#stream.once('close', () => this.#body.once('error', () => undefined).destroy());
    }
    return this.#stream;
  }

  text(): Promise<string> {
    clearTimeout(this.#idle);
    return this.#body.text().catch((error: unknown) => Promise.reject(this.#fail(error)));
  }

  async bytes(): Promise<Uint8Array> {
    clearTimeout(this.#idle);
    const buffer: ArrayBuffer = await this.#body
      .arrayBuffer()
      .catch((error: unknown) => Promise.reject(this.#fail(error)));
    return new Uint8Array(buffer);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/**
 * Yields `source`'s chunks, refreshing the `idle` timer at each; turns its error into `fail(error)`. Stopping early
 * ends the source too (for await's return).
 */
async function* typedChunks(
  source: AsyncIterable<Buffer>,
  fail: (error: unknown) => Error,
  idle: NodeJS.Timeout,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of source) {
      yield chunk;
      idle.refresh();
    }
  } catch (error) {
    throw fail(error);
  } finally {
    clearTimeout(idle);
  }
}
