/**
 * The S3 client: operations over undici, signed by SigV4Signer, addressed by
 * Endpoint. Every request goes through one retry loop (#send) that signs it
 * with the server-corrected clock, retries what may be retried with full
 * jitter, and turns refusals into S3Error with a hint.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import { StorageConfig, storageConfig, type StorageOptions } from './config.js';
import { encodeComponent, encodeKey } from './encoding.js';
import { checkKey, Endpoint, type ObjectPresignOptions } from './endpoint.js';
import { AbortError, InvalidArgumentError, NetworkError, S3Error, S3v4Error } from './errors.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, fixedChunks, MAX_PART_SIZE, MIN_PART_SIZE, parseUploads, partSizeFor, uploadMultipart, type PartRequest } from './multipart.js';
import { hashPayload, UNSIGNED_PAYLOAD, type ChunkSigner } from './signer.js';
import { childrenNamed, escape, parseXml, textOf, XmlError, type XmlElement } from './xml.js';

/** A body s3v4 can upload. */
export type Body = string | Uint8Array | ArrayBuffer | Blob | Readable | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | FileBody;

/** A file to upload, read as a stream (and read again when a request must be retried). */
export class FileBody {
  readonly path: string;
  readonly size: number;
  constructor(path: string) {
    this.path = path;
    this.size = statSync(path).size;
  }
}

/** A file as an upload body: `client.put(key, fromFile('release.tgz'))`. */
export function fromFile(path: string): FileBody {
  return new FileBody(path);
}

export type Checksum = 'md5' | 'crc32' | 'sha256';

export interface ClientOptions {
  /** An undici dispatcher to send through (a proxy agent, a mock, an Agent with a custom lookup). The client does not close it. */
  dispatcher?: Dispatcher;
  /** Sockets the client's own pool opens per origin at most, default 64; requests beyond wait for one. Set it on your own `dispatcher` instead when you pass one. */
  connections?: number;
  /** Attempts per request, retries included; default 3. */
  maxAttempts?: number;
  /** Milliseconds: to connect (default 10 s), to the reply's headers (default 60 s), between body chunks (default 60 s). */
  timeouts?: { connect?: number; headers?: number; body?: number };
  /** Off by default: flexible checksums break R2, COS and older MinIO. Sends Content-MD5 or x-amz-checksum-* with each buffered body. */
  checksum?: Checksum;
  /** Objects above this many bytes, and streams of unknown length, go through multipart; default 8 MiB. */
  multipartThreshold?: number;
  /** Part size, default 8 MiB, grown to stay under 10,000 parts. */
  partSize?: number;
  /** Parts in flight, default 4. */
  concurrency?: number;
  /** The local clock, milliseconds since 1970; Date.now by default. Tests pass a wrong one to meet RequestTimeTooSkewed. */
  clock?: () => number;
}

export interface PutOptions {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  /** User metadata, sent as x-amz-meta-* headers. */
  metadata?: Record<string, string>;
  /** `'*'`: create only, fail with PreconditionFailed when the key exists. */
  ifNoneMatch?: '*';
  /** The length of a stream body, when known: it is then sent in one request up to the multipart threshold. */
  contentLength?: number;
  signal?: AbortSignal;
  /** Called as bytes are sent, with the total when known. */
  onProgress?: (progress: { loaded: number; total: number | undefined }) => void;
}

export interface PutResult {
  /** Without quotes. */
  etag: string;
  versionId: string | undefined;
}

export interface GetOptions {
  /** `bytes=0-99`, or [start, end] inclusive. */
  range?: string | readonly [number, number];
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: Date;
  signal?: AbortSignal;
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

export interface GetResult extends ObjectInfo {
  /** The body as a stream; read it once, with this or with text(), bytes() or json(). */
  body: Readable;
  /** `bytes 0-99/1234` for a range request. */
  contentRange: string | undefined;
  text(): Promise<string>;
  bytes(): Promise<Uint8Array>;
  json(): Promise<unknown>;
}

export interface CopyOptions {
  /** Replaces the metadata (and content type) instead of copying the source's. */
  metadata?: Record<string, string>;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  startAfter?: string;
  /** Keys per page, 1 to 1000 (the default). */
  pageSize?: number;
  signal?: AbortSignal;
}

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes, when a delimiter is given. */
  prefixes: string[];
}

export interface DeleteManyResult {
  deleted: string[];
  errors: Array<{ key: string; code: string; message: string }>;
}

type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

/** A request body as the retry loop sees it. */
interface Payload {
  length: number | undefined;
  /** The whole body, when in memory: hashed, and replayed on retry. */
  bytes?: Uint8Array;
  /** Opens the body as a stream; called again on retry only when `replayable` (#send never retries the others). */
  open?: () => AsyncIterable<Uint8Array>;
  replayable: boolean;
}

interface RequestSpec {
  method: HttpMethod;
  /** An object request; without it, a bucket request. */
  key?: string;
  /** Encoded query string, without `?`. */
  query?: string;
  headers?: Record<string, string>;
  payload?: Payload;
  signal?: AbortSignal | undefined;
  /** Statuses that are answers rather than errors; 2xx by default. */
  accept?: (status: number) => boolean;
  /** Reads an accepted reply's body into `text` within the attempt, so a reset or stall while reading it is retried like one before it. */
  text?: boolean;
  /** A short description for messages, such as `GET key`. */
  label: string;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The body, when the request asked for its text; '' otherwise. */
  text: string;
}

/** Statuses and codes worth another attempt (S3 API Reference, "Error responses"; AWS SDKs' retry strategy). */
const RETRY_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const RETRY_CODES: ReadonlySet<string> = new Set(['SlowDown', 'InternalError', 'RequestTimeout', 'ServiceUnavailable', 'Throttling', 'ThrottlingException']);
const RETRY_NETWORK: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Chunk size of signed streaming uploads. */
const STREAM_CHUNK = 64 * 1024;
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 5000;
/** Sockets per origin of the client's own pool (the AWS SDK for JavaScript allows 50). */
const DEFAULT_CONNECTIONS = 64;
/** LocationConstraint values that are not region names (S3 API Reference, GetBucketLocation). */
const LEGACY_LOCATIONS: Readonly<Record<string, string>> = { '': 'us-east-1', EU: 'eu-west-1' };
/** DeleteObjects takes at most 1000 keys (S3 API Reference, DeleteObjects). */
const DELETE_BATCH = 1000;

/** An S3 client for one configured bucket. */
export class S3Client {
  readonly config: StorageConfig;
  readonly endpoint: Endpoint;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #maxAttempts: number;
  readonly #headersTimeout: number;
  readonly #bodyTimeout: number;
  readonly #checksum: Checksum | undefined;
  readonly #threshold: number;
  readonly #partSize: number;
  readonly #concurrency: number;
  readonly #https: boolean;
  readonly #clock: () => number;
  #closing: Promise<void> | undefined;
  /** Milliseconds to add to the local clock, learnt from a RequestTimeTooSkewed reply's Date. */
  #clockOffset = 0;

  /** `config` comes from loadConfig or parseConfig, or is plain options checked by storageConfig. */
  constructor(config: StorageConfig | StorageOptions, options: ClientOptions = {}) {
    this.config = config instanceof StorageConfig ? config : storageConfig(config);
    this.endpoint = new Endpoint(this.config);
    this.#maxAttempts = positiveInteger(options.maxAttempts ?? 3, 'maxAttempts');
    const timeouts = options.timeouts ?? {};
    this.#headersTimeout = positiveInteger(timeouts.headers ?? 60_000, 'timeouts.headers');
    this.#bodyTimeout = positiveInteger(timeouts.body ?? 60_000, 'timeouts.body');
    const connect = positiveInteger(timeouts.connect ?? 10_000, 'timeouts.connect');
    if (options.checksum !== undefined && !['md5', 'crc32', 'sha256'].includes(options.checksum)) {
      throw new InvalidArgumentError('checksum', `must be md5, crc32 or sha256, got ${String(options.checksum)}`);
    }
    this.#checksum = options.checksum;
    this.#partSize = positiveInteger(options.partSize ?? DEFAULT_PART_SIZE, 'partSize');
    if (this.#partSize < MIN_PART_SIZE || this.#partSize > MAX_PART_SIZE) {
      throw new InvalidArgumentError('partSize', `must be from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} (5 GiB) bytes, got ${this.#partSize}`);
    }
    this.#threshold = positiveInteger(options.multipartThreshold ?? this.#partSize, 'multipartThreshold');
    this.#concurrency = positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency');
    this.#https = this.config.endpoint.startsWith('https:');
    this.#clock = options.clock ?? Date.now;
    const connections = positiveInteger(options.connections ?? DEFAULT_CONNECTIONS, 'connections');
    if (options.dispatcher !== undefined && options.connections !== undefined) {
      throw new InvalidArgumentError('connections', 'applies to the client\'s own pool only; with a dispatcher, set connections on the dispatcher');
    }
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Agent({ connect: { timeout: connect }, keepAliveTimeout: 4000, connections });
  }

  /** Releases every socket and timer of the client's own dispatcher; calling it again is harmless. */
  close(): Promise<void> {
    this.#closing ??= this.#ownsDispatcher ? this.#dispatcher.close() : Promise.resolve();
    return this.#closing;
  }

  // -------------------------------------------------------------------------
  // Objects

  /** Uploads an object; a body above the multipart threshold, or a stream of unknown length, goes through multipart. */
  async put(key: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    checkKey(key);
    const payload = toPayload(body, options.contentLength);
    const headers = objectHeaders(options);
    const total = payload.length;
    let loaded = 0;
    const progress = (bytes: number) => {
      loaded += bytes;
      options.onProgress?.({ loaded, total });
    };
    if (payload.length !== undefined && payload.length <= this.#threshold) {
      if (payload.bytes !== undefined) Object.assign(headers, this.#checksumHeaders(payload.bytes));
      const reply = await this.#send({ method: 'PUT', key, headers, payload, signal: options.signal, label: `PUT ${key}` });
      await reply.body.dump();
      progress(payload.length);
      return putResult(reply.headers);
    }
    const partSize = partSizeFor(payload.length, this.#partSize);
    const source = payload.bytes !== undefined ? [payload.bytes] : payload.open!();
    const etag = await this.#guard(options.signal, `PUT ${key}`, () =>
      uploadMultipart(
        {
          send: (request) => this.#sendPart(key, request, options.signal),
          partHeaders: (part) => this.#checksumHeaders(part),
        },
        source,
        { partSize, concurrency: this.#concurrency, headers, signal: options.signal, onPart: progress },
      ),
    );
    // Ceph 16 completes uploads with an empty <ETag>; the object's own is one HEAD away.
    return { etag: etag === '' ? (await this.head(key, options)).etag : unquote(etag), versionId: undefined };
  }

  /** Downloads an object; its body is a stream that is not buffered. */
  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    checkKey(key);
    const headers: Record<string, string> = {};
    if (options.range !== undefined) headers['range'] = typeof options.range === 'string' ? options.range : `bytes=${options.range[0]}-${options.range[1]}`;
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    if (options.ifNoneMatch !== undefined) headers['if-none-match'] = options.ifNoneMatch;
    if (options.ifModifiedSince !== undefined) headers['if-modified-since'] = options.ifModifiedSince.toUTCString();
    const label = `GET ${key}`;
    const reply = await this.#send({ method: 'GET', key, headers, signal: options.signal, label });
    return new Download(key, reply, (error) => this.#failure(error, label, options.signal, true));
  }

  /** The object's size, ETag, content type, last-modified date and metadata. */
  async head(key: string, options: { signal?: AbortSignal } = {}): Promise<ObjectInfo> {
    checkKey(key);
    const reply = await this.#send({ method: 'HEAD', key, signal: options.signal, label: `HEAD ${key}` });
    await reply.body.dump();
    return objectInfo(key, reply.headers);
  }

  /** Whether the object exists. */
  async exists(key: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    checkKey(key);
    const reply = await this.#send({ method: 'HEAD', key, signal: options.signal, accept: (s) => s < 300 || s === 404, label: `HEAD ${key}` });
    await reply.body.dump();
    return reply.status !== 404;
  }

  /** Deletes an object; deleting a key that does not exist succeeds, as in S3. */
  async delete(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    checkKey(key);
    const reply = await this.#send({ method: 'DELETE', key, signal: options.signal, label: `DELETE ${key}` });
    await reply.body.dump();
  }

  /** Deletes many objects, 1000 per request; per-key failures are returned, not thrown. */
  async deleteMany(keys: readonly string[], options: { signal?: AbortSignal } = {}): Promise<DeleteManyResult> {
    keys.forEach((key) => checkKey(key));
    const result: DeleteManyResult = { deleted: [], errors: [] };
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const xml = `<Delete><Quiet>true</Quiet>${batch.map((key) => `<Object><Key>${escape(key)}</Key></Object>`).join('')}</Delete>`;
      const bytes = new TextEncoder().encode(xml);
      // DeleteObjects requires Content-MD5 (or a flexible checksum, which R2, COS and old MinIO refuse).
      const headers = { 'content-md5': createHash('md5').update(bytes).digest('base64'), 'content-type': 'application/xml' };
      const reply = await this.#send({ method: 'POST', query: 'delete=', headers, payload: bufferPayload(bytes), signal: options.signal, text: true, label: 'POST ?delete' });
      const failed = new Set<string>();
      for (const error of childrenNamed(parseXml(reply.text), 'Error')) {
        const key = textOf(error, 'Key') ?? '';
        failed.add(key);
        result.errors.push({ key, code: textOf(error, 'Code') ?? '', message: textOf(error, 'Message') ?? '' });
      }
      for (const key of batch) if (!failed.has(key)) result.deleted.push(key);
    }
    return result;
  }

  /** Copies an object within the bucket (up to 5 GiB, S3's CopyObject limit); metadata is kept unless replaced. */
  async copy(from: string, to: string, options: CopyOptions = {}): Promise<PutResult> {
    checkKey(from);
    checkKey(to);
    const headers: Record<string, string> = { 'x-amz-copy-source': `/${this.config.bucket}/${encodeKey(from)}` };
    if (options.metadata !== undefined || options.contentType !== undefined) {
      headers['x-amz-metadata-directive'] = 'REPLACE';
      Object.assign(headers, objectHeaders({ ...(options.contentType === undefined ? {} : { contentType: options.contentType }), metadata: options.metadata ?? {} }));
    }
    const reply = await this.#send({ method: 'PUT', key: to, headers, signal: options.signal, text: true, label: `COPY ${from} to ${to}` });
    // CopyObject can fail after a 200: the error is then in the body (S3 API Reference, CopyObject).
    const result = parseXml(reply.text);
    if (result.name === 'Error') throw this.#errorFrom(reply, result, `COPY ${from} to ${to}`);
    return { etag: unquote(textOf(result, 'ETag') ?? ''), versionId: header(reply.headers, 'x-amz-version-id') };
  }

  /** Lists the bucket page by page (ListObjectsV2); keys arrive decoded. */
  async *list(options: ListOptions = {}): AsyncGenerator<ListPage> {
    const pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new InvalidArgumentError('pageSize', `must be a whole number from 1 to 1000, got ${String(pageSize)}`);
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const query: Array<[string, string]> = [['list-type', '2'], ['encoding-type', 'url'], ['max-keys', String(pageSize)]];
      if (options.prefix !== undefined) query.push(['prefix', options.prefix]);
      if (options.delimiter !== undefined) query.push(['delimiter', options.delimiter]);
      if (options.startAfter !== undefined && token === undefined) query.push(['start-after', options.startAfter]);
      if (token !== undefined) query.push(['continuation-token', token]);
      const reply = await this.#send({ method: 'GET', query: formatQuery(query), signal: options.signal, text: true, label: 'GET ?list-type=2' });
      const result = parseXml(reply.text);
      const decode = textOf(result, 'EncodingType') === 'url' ? decodeListed : (text: string) => text;
      yield {
        objects: childrenNamed(result, 'Contents').map((entry) => ({
          key: decode(textOf(entry, 'Key') ?? ''),
          size: Number(textOf(entry, 'Size') ?? 0),
          etag: unquote(textOf(entry, 'ETag') ?? ''),
          lastModified: new Date(textOf(entry, 'LastModified') ?? 0),
        })),
        prefixes: childrenNamed(result, 'CommonPrefixes').map((entry) => decode(textOf(entry, 'Prefix') ?? '')),
      };
      if (textOf(result, 'IsTruncated') !== 'true') return;
      const next = textOf(result, 'NextContinuationToken');
      // A truncated page without a new token would list the same page forever.
      if (next === undefined || next === '') throw new S3Error({ code: 'InvalidListing', status: reply.status, message: 'a truncated page carries no NextContinuationToken', request: 'GET ?list-type=2' });
      if (seen.has(next)) throw new S3Error({ code: 'InvalidListing', status: reply.status, message: 'the server repeated a continuation token', request: 'GET ?list-type=2' });
      seen.add(next);
      token = next;
    }
  }

  /**
   * The bucket's region (GetBucketLocation). An empty LocationConstraint means
   * us-east-1 and `EU` means eu-west-1 (S3 API Reference, GetBucketLocation).
   */
  async location(options: { signal?: AbortSignal } = {}): Promise<string> {
    const reply = await this.#send({ method: 'GET', query: 'location=', signal: options.signal, text: true, label: 'GET ?location' });
    const constraint = parseXml(reply.text).text.trim();
    return LEGACY_LOCATIONS[constraint] ?? constraint;
  }

  /** Aborts multipart uploads started before `olderThan`; returns the ones aborted. */
  async abortStaleUploads(olderThan: Date, options: { signal?: AbortSignal } = {}): Promise<Array<{ key: string; uploadId: string }>> {
    const aborted: Array<{ key: string; uploadId: string }> = [];
    let markers: { keyMarker: string; uploadIdMarker: string } | undefined;
    do {
      const query: Array<[string, string]> = [['uploads', '']];
      if (markers !== undefined) query.push(['key-marker', markers.keyMarker], ['upload-id-marker', markers.uploadIdMarker]);
      const reply = await this.#send({ method: 'GET', query: formatQuery(query), signal: options.signal, text: true, label: 'GET ?uploads' });
      const page = parseUploads(reply.text);
      for (const upload of page.uploads) {
        if (upload.initiated >= olderThan) continue;
        const abort = await this.#send({ method: 'DELETE', key: upload.key, query: `uploadId=${encodeComponent(upload.uploadId)}`, signal: options.signal, accept: (s) => s < 300 || s === 404, label: `DELETE ${upload.key} ?uploadId` });
        await abort.body.dump();
        aborted.push({ key: upload.key, uploadId: upload.uploadId });
      }
      markers = page.next;
    } while (markers !== undefined);
    return aborted;
  }

  // -------------------------------------------------------------------------
  // Links

  /** A presigned URL for the object (GET by default), signed with the server-corrected clock. */
  presign(key: string, options: ObjectPresignOptions = {}): string {
    return this.endpoint.presign(key, { ...options, date: options.date ?? this.#now() });
  }

  /** The download link the configuration gives the key (see Endpoint.downloadUrl). */
  downloadUrl(key: string): string {
    return this.endpoint.downloadUrl(key, { date: this.#now() });
  }

  // -------------------------------------------------------------------------
  // The one request loop

  /** Sends a request: signs each attempt, retries what may be retried, throws S3Error, NetworkError or AbortError. */
  async #send(spec: RequestSpec): Promise<Reply> {
    let skewRetried = false;
    const replayable = spec.payload === undefined || spec.payload.replayable;
    for (let attempt = 1; ; attempt++) {
      let reply: Reply;
      let accepted: boolean;
      try {
        reply = await this.#attempt(spec);
        accepted = spec.accept?.(reply.status) ?? (reply.status >= 200 && reply.status < 300);
        if (accepted && spec.text === true) reply.text = await reply.body.text();
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (isAbort(error, spec.signal) || !RETRY_NETWORK.has(code) || !replayable || attempt >= this.#maxAttempts) throw this.#failure(error, spec.label, spec.signal);
        await this.#backoff(attempt, spec.signal);
        continue;
      }
      if (accepted) return reply;
      const error = await this.#errorReply(reply, spec.label);
      // The offset is learnt in any case, for later requests and presigns; this request is sent again only if its body can be.
      if (error.code === 'RequestTimeTooSkewed' && !skewRetried && this.#learnClock(reply) && replayable) {
        skewRetried = true;
        continue;
      }
      if (!(RETRY_STATUS.has(error.status) || RETRY_CODES.has(error.code)) || !replayable || attempt >= this.#maxAttempts) throw error;
      await this.#backoff(attempt, spec.signal);
    }
  }

  /**
   * What a request without a (whole) reply throws: AbortError when the caller
   * aborted, else NetworkError keeping the cause. `reading`: the reply came,
   * and its body then stalled or broke off.
   */
  #failure(error: unknown, label: string, signal: AbortSignal | undefined, reading = false): Error {
    if (isAbort(error, signal)) return new AbortError(`${label}: aborted`, signal?.reason ?? error);
    if (error instanceof S3v4Error) return error;
    const code = (error as { code?: string }).code ?? '';
    const kind = TIMEOUT_CODES.has(code) ? 'ERR_S3V4_TIMEOUT' : 'ERR_S3V4_NETWORK';
    const what = kind === 'ERR_S3V4_TIMEOUT' ? (reading ? 'the body timed out' : 'timed out') : reading ? 'the body broke off' : 'no reply';
    return new NetworkError(kind, `${label}: ${what} from ${this.config.endpoint} (${code || (error as Error).message})`, error);
  }

  async #attempt(spec: RequestSpec): Promise<Reply> {
    const url = spec.key === undefined ? this.endpoint.bucketUrl() : this.endpoint.objectUrl(spec.key);
    const full = spec.query === undefined ? url : `${url}?${spec.query}`;
    const date = this.#now();
    const headers: Record<string, string> = { ...spec.headers };
    const payload = spec.payload;
    let body: Uint8Array | Readable | undefined;
    if (payload === undefined) {
      Object.assign(headers, this.endpoint.signer.sign({ method: spec.method, url: full, headers }, { date }));
    } else if (payload.bytes !== undefined) {
      headers['content-length'] = String(payload.bytes.length);
      Object.assign(headers, this.endpoint.signer.sign({ method: spec.method, url: full, headers, payloadHash: payloadHashOf(payload) }, { date }));
      body = payload.bytes;
    } else if (this.#https) {
      // Over TLS a stream may go unsigned (S3 API Reference, "Signature Calculations for the Authorization Header").
      headers['content-length'] = String(payload.length);
      Object.assign(headers, this.endpoint.signer.sign({ method: spec.method, url: full, headers, payloadHash: UNSIGNED_PAYLOAD }, { date }));
      body = Readable.from(payload.open!());
    } else {
      // Over plain http every byte is signed: STREAMING-AWS4-HMAC-SHA256-PAYLOAD, chunk by chunk, never buffering the stream.
      const streaming = this.endpoint.signer.signStreaming({ method: spec.method, url: full, headers }, { date, contentLength: payload.length!, chunkSize: STREAM_CHUNK });
      Object.assign(headers, streaming.headers);
      body = Readable.from(signedChunks(payload.open!(), streaming.chunks));
    }
    const { origin, path } = splitOrigin(full);
    const response = await this.#dispatcher.request({
      origin,
      path,
      method: spec.method,
      headers,
      body: body ?? null,
      signal: spec.signal ?? null,
      headersTimeout: this.#headersTimeout,
      bodyTimeout: this.#bodyTimeout,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body, text: '' };
  }

  /** Sends one request of a multipart upload for `key`. */
  async #sendPart(key: string, request: PartRequest, signal: AbortSignal | undefined): Promise<{ headers: Reply['headers']; text: string }> {
    const reply = await this.#send({
      method: request.method,
      key,
      query: request.query,
      ...(request.headers === undefined ? {} : { headers: request.headers }),
      ...(request.body === undefined ? {} : { payload: bufferPayload(request.body) }),
      signal: request.cleanup === true ? undefined : signal,
      text: true,
      label: `${request.method} ${key} ?${request.query.split('=')[0]}`,
    });
    return { headers: reply.headers, text: reply.text };
  }

  /** Runs `task`, turning an abort of `signal` into AbortError. */
  async #guard<T>(signal: AbortSignal | undefined, label: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      // #failure makes the AbortError; anything else (S3Error, an AbortError already made) goes up as it is.
      throw !(error instanceof AbortError) && isAbort(error, signal) ? this.#failure(error, label, signal) : error;
    }
  }

  /** Full jitter backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
  async #backoff(attempt: number, signal: AbortSignal | undefined): Promise<void> {
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
    // timers/promises rejects at once on a signal already aborted, and removes its listener when the time is up:
    // a long-lived signal shared by many calls gathers no listeners.
    await sleep(delay, undefined, signal === undefined ? {} : { signal }).catch(() => {
      throw new AbortError('aborted while waiting to retry', signal?.reason);
    });
  }

  /** The time to sign with: the local clock corrected by what the server taught. */
  #now(): number {
    return this.#clock() + this.#clockOffset;
  }

  /** Takes the clock offset from a reply's Date header; false when it has none. */
  #learnClock(reply: Reply): boolean {
    const serverTime = Date.parse(header(reply.headers, 'date') ?? '');
    if (Number.isNaN(serverTime)) return false;
    this.#clockOffset = serverTime - this.#clock();
    return true;
  }

  async #errorReply(reply: Reply, label: string): Promise<S3Error> {
    const text = await reply.body.text().catch(() => '');
    let document;
    try {
      document = text.trim() === '' ? undefined : parseXml(text);
    } catch (error) {
      if (!(error instanceof XmlError)) throw error;
    }
    return this.#errorFrom(reply, document, label);
  }

  #errorFrom(reply: Reply, document: XmlElement | undefined, label: string): S3Error {
    // HEAD replies have no body: the status names the error.
    const code = (document && textOf(document, 'Code')) || STATUS_CODES[reply.status] || `Http${reply.status}`;
    // Ceph often sends an empty <Message/>: the status text stands in.
    const message = (document && textOf(document, 'Message')) || STATUS_TEXT[reply.status] || `HTTP ${reply.status}`;
    return new S3Error({
      code,
      status: reply.status,
      message,
      requestId: (document && textOf(document, 'RequestId')) || header(reply.headers, 'x-amz-request-id'),
      hostId: (document && textOf(document, 'HostId')) || header(reply.headers, 'x-amz-id-2'),
      hint: this.#hint(code, reply, document),
      request: label,
    });
  }

  /** What usually fixes an error, from the provider's reply and the configuration. */
  #hint(code: string, reply: Reply, document: XmlElement | undefined): string | undefined {
    const { bucket, region, endpoint } = this.config;
    const expected = (document && (textOf(document, 'Region') || textOf(document, 'ExpectedRegion'))) || header(reply.headers, 'x-amz-bucket-region');
    switch (code) {
      case 'AuthorizationHeaderMalformed':
      case 'PermanentRedirect':
      case 'IllegalLocationConstraintException':
        return expected === undefined || expected === region ? 'check region and endpoint' : `the bucket is in ${expected}; set region = "${expected}"`;
      case 'PathStyleDomainForbidden':
        return 'this bucket only accepts virtual-hosted requests; set force_path_style = false';
      case 'SignatureDoesNotMatch':
        return 'check that secret_key belongs to access_key, and that no proxy rewrites the request';
      case 'InvalidAccessKeyId':
        return `access_key is not known to ${endpoint}; check the key and the endpoint`;
      case 'NoSuchBucket':
        return `bucket "${bucket}" does not exist at ${endpoint}; check bucket, endpoint and region`;
      case 'AccessDenied':
        return `the credentials may not do this; the minimum policy is s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::${bucket}/*`;
      case 'RequestTimeTooSkewed':
        return "this machine's clock is too far from the server's; synchronise it (NTP)";
      default:
        return undefined;
    }
  }

  #checksumHeaders(bytes: Uint8Array): Record<string, string> {
    switch (this.#checksum) {
      case 'md5':
        return { 'content-md5': createHash('md5').update(bytes).digest('base64') };
      case 'crc32': {
        const crc = Buffer.alloc(4);
        crc.writeUInt32BE(crc32(bytes));
        return { 'x-amz-checksum-crc32': crc.toString('base64') };
      }
      case 'sha256':
        return { 'x-amz-checksum-sha256': createHash('sha256').update(bytes).digest('base64') };
      default:
        return {};
    }
  }
}

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

/** A GET's reply: the object's facts, and its body to read once. */
class Download implements GetResult {
  readonly key: string;
  readonly size: number;
  readonly etag: string;
  readonly contentType: string | undefined;
  readonly lastModified: Date | undefined;
  readonly metadata: Record<string, string>;
  readonly contentRange: string | undefined;
  readonly #body: Reply['body'];
  #stream: Readable | undefined;
  /** Turns an error met while reading the body into NetworkError or AbortError: the request has returned, but the body can still stall or break. */
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
    const buffer: ArrayBuffer = await this.#body.arrayBuffer().catch((error: unknown) => Promise.reject(this.#fail(error)));
    return new Uint8Array(buffer);
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown;
  }
}

/** Yields `source`'s chunks; turns its error into `fail(error)`. Stopping early ends the source too (for await's return). */
async function* typedChunks(source: AsyncIterable<Buffer>, fail: (error: unknown) => Error): AsyncGenerator<Buffer> {
  try {
    yield* source;
  } catch (error) {
    throw fail(error);
  }
}

/** Error codes for replies without a body (HEAD), by status. */
const STATUS_CODES: Readonly<Record<number, string>> = { 304: 'NotModified', 400: 'BadRequest', 403: 'Forbidden', 404: 'NotFound', 412: 'PreconditionFailed', 416: 'InvalidRange' };

function positiveInteger(value: number, argument: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(argument, `must be a whole number above 0, got ${String(value)}`);
  return value;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (error as { name?: string }).name === 'AbortError' || (error as { code?: string }).code === 'UND_ERR_ABORTED';
}

function header(headers: Reply['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, '');
}

function putResult(headers: Reply['headers']): PutResult {
  return { etag: unquote(header(headers, 'etag') ?? ''), versionId: header(headers, 'x-amz-version-id') };
}

function objectInfo(key: string, headers: Reply['headers']): ObjectInfo {
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

/** Headers of an object's PUT (or a REPLACE copy). */
function objectHeaders(options: Pick<PutOptions, 'contentType' | 'cacheControl' | 'contentDisposition' | 'metadata' | 'ifNoneMatch'>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  if (options.cacheControl !== undefined) headers['cache-control'] = options.cacheControl;
  if (options.contentDisposition !== undefined) headers['content-disposition'] = options.contentDisposition;
  if (options.ifNoneMatch !== undefined) {
    if (options.ifNoneMatch !== '*') throw new InvalidArgumentError('ifNoneMatch', `must be "*" (create only), got ${String(options.ifNoneMatch)}`);
    headers['if-none-match'] = '*';
  }
  for (const [name, value] of Object.entries(options.metadata ?? {})) {
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new InvalidArgumentError(`metadata["${name}"]`, 'is not a valid header name');
    headers[`x-amz-meta-${name.toLowerCase()}`] = value;
  }
  return headers;
}

function bufferPayload(bytes: Uint8Array): Payload {
  return { length: bytes.length, bytes, replayable: true };
}

const payloadHashes = new WeakMap<Payload, string>();

/** The payload's SHA-256, computed once however often the request is retried. */
function payloadHashOf(payload: Payload): string {
  let hash = payloadHashes.get(payload);
  if (hash === undefined) {
    hash = hashPayload(payload.bytes!);
    payloadHashes.set(payload, hash);
  }
  return hash;
}

/** A body as the retry loop's payload. */
function toPayload(body: Body, contentLength: number | undefined): Payload {
  if (contentLength !== undefined && (!Number.isSafeInteger(contentLength) || contentLength < 0)) {
    throw new InvalidArgumentError('contentLength', `must be a whole number of bytes, 0 or more, got ${String(contentLength)}`);
  }
  if (typeof body === 'string') return bufferPayload(Buffer.from(body, 'utf8'));
  if (body instanceof Uint8Array) return bufferPayload(body);
  if (body instanceof ArrayBuffer) return bufferPayload(new Uint8Array(body));
  if (body instanceof FileBody) return { length: body.size, open: () => createReadStream(body.path), replayable: true };
  if (body instanceof Blob) return { length: body.size, open: () => Readable.fromWeb(body.stream() as import('node:stream/web').ReadableStream<Uint8Array>), replayable: true };
  if (body instanceof ReadableStream) {
    const stream = Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
    return { length: contentLength, open: () => stream, replayable: false };
  }
  if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) return { length: contentLength, open: () => body, replayable: false };
  throw new InvalidArgumentError('body', 'must be a string, Uint8Array, ArrayBuffer, Blob, Readable, ReadableStream, async iterable or fromFile(path)');
}

/** Frames a stream as `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` chunks of STREAM_CHUNK bytes, ending with the empty chunk. */
async function* signedChunks(source: AsyncIterable<Uint8Array>, chunks: ChunkSigner): AsyncGenerator<Uint8Array | string> {
  // A fresh buffer per chunk: the socket may still hold the previous one.
  for await (const chunk of fixedChunks(source, STREAM_CHUNK, () => new Uint8Array(STREAM_CHUNK))) {
    yield chunks.chunkHeader(chunk);
    yield chunk;
    yield '\r\n';
  }
  yield chunks.chunkHeader(new Uint8Array(0)) + '\r\n';
}

/** `?a=1&b` from pairs, UriEncode'd. */
function formatQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${encodeComponent(k)}=${encodeComponent(v)}`).join('&');
}

/** Keys of an `encoding-type=url` listing: form-encoded, `+` for a space (botocore decodes them with unquote_plus). */
function decodeListed(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

/** Origin and path of a URL built by Endpoint, split by hand so the path is sent exactly as built. */
function splitOrigin(url: string): { origin: string; path: string } {
  const slash = url.indexOf('/', url.indexOf('://') + 3);
  return { origin: url.slice(0, slash), path: url.slice(slash) };
}
