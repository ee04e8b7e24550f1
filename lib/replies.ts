/**
 * Replies: an error reply becomes an S3Error with a hint (or a ProtocolError
 * when it carries no S3 error code), and an object's reply headers become
 * ObjectInfo, PutResult or a GetResult whose body is read once. The hints,
 * the region codes and the minimum-policy text are shared with `doctor`.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ProtocolError, S3Error } from './errors.js';
import { parseXml, textOf, XmlError, type XmlElement } from './xml.js';

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
}

export interface GetResult extends ObjectInfo {
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
  304: 'NotModified',
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  412: 'PreconditionFailed',
  416: 'InvalidRange',
};

const STATUS_TEXT: Readonly<Record<number, string>> = {
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

export function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

/** The error a refused request's reply means, from its status, headers and body text. */
export function refusal(
  reply: Pick<Reply, 'status' | 'headers'>,
  text: string,
  label: string,
  context?: HintContext,
): S3Error | ProtocolError {
  let document: XmlElement | undefined;
  try {
    document = text.trim() === '' ? undefined : parseXml(text);
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
  }
  return errorFrom(reply, document, label, context);
}

/** The error an S3 error document (or none, for a reply without body) stands for. */
function errorFrom(
  reply: Pick<Reply, 'status' | 'headers'>,
  document: XmlElement | undefined,
  label: string,
  context?: HintContext,
): S3Error | ProtocolError {
  const { status, headers } = reply;
  const code = (document && textOf(document, 'Code')) || STATUS_CODES[status];
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
 * The result document of a request that can fail after its 200 (CopyObject,
 * CompleteMultipartUpload: S3 API Reference); an <Error> root is thrown.
 */
export function resultOf(
  reply: Pick<Reply, 'status' | 'headers' | 'text'>,
  label: string,
  context?: HintContext,
): XmlElement {
  const result = parseXml(reply.text);
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
  if (REGION_CODES.has(code)) {
    return expected === undefined || expected === region
      ? 'check region and endpoint'
      : `the bucket is in ${expected}; set region = "${expected}"`;
  }
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
    case 'Forbidden':
      // A 403 without an error document, as every HEAD refusal is (HEAD replies have no body, RFC 9110 section
      // 9.3.2): a wrong secret, a skewed clock and a missing permission all look the same.
      return "the reply gives no reason: check that secret_key belongs to access_key, this machine's clock, and that the credentials may do this";
    default:
      return undefined;
  }
}

export function putResult(headers: ReplyHeaders): PutResult {
  return { etag: unquote(header(headers, 'etag') ?? ''), versionId: header(headers, 'x-amz-version-id') };
}

export function objectInfo(key: string, headers: ReplyHeaders): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const name in headers) {
    if (name.startsWith('x-amz-meta-')) metadata[name.slice(11)] = header(headers, name)!;
  }
  const modified = header(headers, 'last-modified');
  return {
    key,
    size: Number(header(headers, 'content-length') ?? 0),
    etag: unquote(header(headers, 'etag') ?? ''),
    contentType: header(headers, 'content-type'),
    lastModified: modified === undefined ? undefined : new Date(modified),
    metadata,
  };
}

/** A GET's reply: the object's facts, and its body to read once. */
export class Download implements GetResult {
  readonly key: string;
  readonly size: number;
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

  constructor(key: string, reply: Reply, fail: (error: unknown) => Error) {
    const info = objectInfo(key, reply.headers);
    this.key = key;
    this.etag = info.etag;
    this.contentType = info.contentType;
    this.lastModified = info.lastModified;
    this.metadata = info.metadata;
    this.contentRange = header(reply.headers, 'content-range');
    // The object's size, also for a range request (from Content-Range).
    const total = this.contentRange === undefined ? undefined : Number(/\/(\d+)$/.exec(this.contentRange)?.[1]);
    this.size = total ?? info.size;
    this.#body = reply.body;
    this.#fail = fail;
  }

  /**
   * The body as a stream whose errors are NetworkError or AbortError, like
   * every other failure. Made on first use: text(), bytes() and json() read
   * the reply directly.
   */
  get body(): Readable {
    this.#stream ??= Readable.from(typedChunks(this.#body as AsyncIterable<Buffer>, this.#fail), { objectMode: false });
    return this.#stream;
  }

  text(): Promise<string> {
    return this.#body.text().catch((error: unknown) => Promise.reject(this.#fail(error)));
  }

  async bytes(): Promise<Uint8Array> {
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
 * Yields `source`'s chunks; turns its error into `fail(error)`. Stopping early ends the source too (for await's
 * return).
 */
async function* typedChunks(source: AsyncIterable<Buffer>, fail: (error: unknown) => Error): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (error) {
    throw fail(error);
  }
}
