/**
 * The S3 client: the operations on one configured bucket, and nothing else.
 * Each resolves its request target with Endpoint, turns its body into a
 * payload (bodies.ts), hands the request to Transport (signing, retries,
 * typed errors) and reads the reply with replies.ts and documents.ts. Bodies
 * above the multipart threshold go through multipart.ts.
 */
import {
  type Body,
  type Payload,
  type SizedPayload,
  bytesPayload,
  inMemory,
  sized,
  source,
  toPayload,
} from './bodies.js';
import { type LinkedAbort, linkedAbort } from './signals.js';
import { type Checksum, checkChecksum, checksumHeaders } from './checksum.js';
import { StorageConfig, type StorageOptions, storageConfig } from './config.js';
import {
  type DeleteManyResult,
  DELETE,
  LIST,
  LOCATION,
  type ListPage,
  PARTS,
  parseParts,
  type UploadInProgress,
  listQuery,
  nextPage,
  UPLOADS,
  deleteRequest,
  deleteResult,
  listPage,
  location,
  parseUploads,
  resultEtag,
} from './documents.js';
import { type QueryPair, formatQuery } from './encoding.js';
import type { Agent } from 'undici';
import { credentialCache } from './chain.js';
import { type CredentialInfo, type Lease, presignLifetime } from './credentials.js';
import { type DownloadOptions, type DownloadResult, downloadFile } from './download.js';
import { Endpoint, type ObjectPresignOptions, checkKey, presignExpiry } from './endpoint.js';
import { AbortError, CredentialsError, InvalidArgumentError, S3Error } from './errors.js';
import { credentialAgent } from './fetch.js';
import {
  MAX_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  type PartOptions,
  type PartPlan,
  type PartRequest,
  type Unfinished,
  partPlan,
  operationOf,
  partSizeFor,
  uploadMultipart,
  usesMultipart,
} from './multipart.js';
import {
  Download,
  type GetResult,
  type ObjectInfo,
  type PutResult,
  header,
  noSuchBucket,
  objectInfo,
  putResult,
  replyDate,
  resultOf,
  unquote,
  shownKey,
} from './replies.js';
import {
  type CopyOptions,
  type GetOptions,
  type PutOptions,
  copyHeaders,
  getHeaders,
  objectHeaders,
  writeConditions,
} from './requests.js';
import type { PostPolicyInput, PresignedPost, RequestTarget } from './signer.js';
import { type HttpMethod, Transport, type TransportOptions, untilAborted } from './transport.js';
import { xmlCanCarry } from './xml.js';

export type { Body } from './bodies.js';
export { FileBody, fromFile } from './bodies.js';
export type { Checksum } from './checksum.js';
export type { CredentialInfo, Credentials } from './credentials.js';
export type { DeleteManyResult, ListedObject, ListPage } from './documents.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export type { PartOptions } from './multipart.js';
export type { GetResult, ObjectInfo, PutResult } from './replies.js';
export type { TransportOptions } from './transport.js';
export type { CopyOptions, GetOptions, PutOptions } from './requests.js';

export interface ClientOptions extends TransportOptions, PartOptions {
  /**
   * Off by default: flexible checksums break R2, COS and older MinIO. Sends Content-MD5 or x-amz-checksum-* with each
   * body that is not a one-shot stream (parts included).
   */
  checksum?: Checksum;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  startAfter?: string;
  /** Keys per page, 1 to 1000 (the default). */
  pageSize?: number;
  signal?: AbortSignal;
}

interface Signal {
  signal?: AbortSignal | undefined;
}

/** One object's write, as put() hands it to the path it takes. */
interface Write {
  key: string;
  headers: Record<string, string>;
  conditions: Record<string, string>;
  /** Undefined without onProgress: a body in memory then goes to undici as one buffer, one write. */
  progress: ((bytes: number) => void) | undefined;
  signal: AbortSignal | undefined;
  /** Continue an unfinished upload of the key, and keep this one if it fails (PutOptions.resume). */
  resume: boolean;
}

/** A multipart upload in progress: close() stops it and waits for its abort. */
interface Upload {
  stop: LinkedAbort;
  done: Promise<unknown>;
}

/**
 * Counts the bytes sent into `onProgress` events; a retried part's count is taken back first (transport.ts). Nothing
 * without onProgress: a counter makes a body a stream of pieces, which cost a 1 KiB PUT 188 µs of CPU instead of
 * 151 (README, Speed: Small objects).
 */
function progressOf(
  onProgress: PutOptions['onProgress'],
  total: number | undefined,
): ((bytes: number) => void) | undefined {
  if (onProgress === undefined) return undefined;
  let loaded = 0;
  return (bytes) => {
    loaded += bytes;
    onProgress({ loaded, total });
  };
}

/**
 * The part size of a resumed upload: its first part's, so that its parts line up with the body's, when that is a
 * size a multipart upload may have and keeps within 10,000 parts; undefined otherwise (or with nothing to resume).
 */
function resumedPartSize(unfinished: Unfinished | undefined, length: number | undefined): number | undefined {
  const size = unfinished?.parts.get(1)?.size;
  if (size === undefined || size < MIN_PART_SIZE || size > MAX_PART_SIZE) return undefined;
  return length === undefined || Math.ceil(length / size) <= MAX_PARTS ? size : undefined;
}

/** DeleteObjects takes at most 1000 keys (S3 API Reference, DeleteObjects). */
const DELETE_BATCH = 1000;
const notFoundIsAnAnswer = (status: number) => status < 300 || status === 404;
const bucketAnswers = (status: number) => notFoundIsAnAnswer(status) || status === 403;

/** An S3 client for one configured bucket. */
export class S3Client {
  readonly config: StorageConfig;
  readonly endpoint: Endpoint;
  readonly #transport: Transport;
  readonly #checksum: Checksum | undefined;
  readonly #parts: PartPlan;
  readonly #uploads = new Set<Upload>();
  /** The sockets of credential requests (STS, container, IMDS), when the credentials come from the chain. */
  readonly #credentialAgent: Agent | undefined;
  /** Whether the server answered If-None-Match on PutObject with 501, as Swift's s3api does: learnt once per client. */
  #conditionalPutRefused = false;

  /** `config` comes from loadConfig or parseConfig, or is plain options checked by storageConfig. */
  constructor(config: StorageConfig | StorageOptions, options: ClientOptions = {}) {
    this.config = config instanceof StorageConfig ? config : storageConfig(config);
    this.endpoint = new Endpoint(this.config);
    const https = this.config.endpointParts.protocol === 'https:';
    const plan = this.config.credentialPlan();
    this.#credentialAgent = plan.kind === 'chain' ? credentialAgent() : undefined;
    const context = { dispatcher: this.#credentialAgent!, now: () => this.#transport.now() };
    const credentials = credentialCache(plan, this.config.region, context);
    this.#transport = new Transport(credentials, this.config, https, options);
    this.#checksum = checkChecksum(options.checksum);
    this.#parts = partPlan(options);
  }

  /**
   * Aborts the multipart uploads in progress on the server, then releases every socket and timer of the client's own
   * dispatcher, within about a second whatever state a download's body is in; calling it again is harmless.
   */
  close(): Promise<void> {
    const uploads = [...this.#uploads];
    for (const upload of uploads) upload.stop.stop(new AbortError('the client was closed', undefined));
    // A credential_process still running belongs to the client too.
    this.#transport.credentials.close();
    const closed = this.#transport.close(uploads.map((upload) => upload.done));
    return this.#credentialAgent === undefined
      ? closed
      : Promise.all([closed, this.#credentialAgent.destroy()]).then(() => undefined);
  }

  /**
   * Where the credentials in use come from, their access key, expiry and role: never the secret or token. Fetches them
   * first when they come from the chain and are not fetched yet (or due for a refresh); throws CredentialsError when no
   * source gives any.
   */
  async credentials({ signal }: Signal = {}): Promise<CredentialInfo> {
    const label = 'credentials';
    return this.#transport.guard(
      signal,
      label,
      async () => (await untilAborted(this.#transport.credentials.lease(), signal)).info,
    );
  }

  // -------------------------------------------------------------------------
  // Objects

  /** Uploads an object; a body above the multipart threshold, or a stream of unknown length, goes through multipart. */
  async put(key: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    const target = this.endpoint.objectTarget(key);
    const payload = toPayload(body, options.contentLength);
    const write: Write = {
      key,
      headers: objectHeaders(options),
      conditions: writeConditions(options),
      progress: progressOf(options.onProgress, payload.length),
      signal: options.signal,
      resume: options.resume === true,
    };
    const known = sized(payload);
    const written =
      known === undefined || usesMultipart(this.#parts, known.length)
        ? this.#putMultipart(payload, write)
        : write.conditions['if-none-match'] !== undefined
          ? this.#putCreateOnly(target, known, write)
          : this.#putObject(target, known, write);
    if (!write.resume) return written;
    const result = await written;
    // What the resume did not continue is left from earlier tries (an older upload beside the one continued, or any
    // when the body now goes in one request): aborted, so no unfinished upload of the key outlives a success.
    for await (const upload of this.#uploadsInProgress(key, write.signal))
      if (upload.key === key) await this.#abortUpload(key, upload.uploadId, write.signal);
    return result;
  }

  /** PutObject: one request with the whole body. */
  async #putObject(target: RequestTarget, payload: SizedPayload, write: Write): Promise<PutResult> {
    const label = `PUT ${shownKey(write.key)}`;
    const headers = { ...write.headers, ...write.conditions };
    // A one-shot stream is read once, to send it: its checksum cannot be known first. Without a checksum, no await.
    if (this.#checksum !== undefined && payload.kind !== 'stream') {
      Object.assign(headers, await checksumHeaders(this.#checksum, source(payload, true)));
    }
    const reply = await this.#transport.send(target, {
      method: 'PUT',
      headers,
      payload,
      signal: write.signal,
      label,
      onSent: write.progress,
    });
    await reply.body.dump();
    return putResult(reply.headers, label);
  }

  /**
   * A create-only put below the multipart threshold: PutObject with If-None-Match. Swift's s3api refuses any
   * conditional PUT with 501 NotImplemented but checks If-None-Match on CompleteMultipartUpload, so after that answer
   * the body goes as a multipart upload instead, then and for the rest of the client's life. A stream is read into
   * memory first (it is below the threshold), so the refusal never costs its bytes.
   */
  async #putCreateOnly(target: RequestTarget, known: SizedPayload, write: Write): Promise<PutResult> {
    const payload = known.kind === 'stream' ? await inMemory(known) : known;
    if (!this.#conditionalPutRefused) {
      try {
        return await this.#putObject(target, payload, write);
      } catch (error) {
        if (!(error instanceof S3Error && error.status === 501 && error.code === 'NotImplemented')) throw error;
        this.#conditionalPutRefused = true;
      }
    }
    return this.#putMultipart(payload, write);
  }

  /** Downloads an object; its body is a stream that is not buffered. */
  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const { signal } = options;
    const label = `GET ${shownKey(key)}`;
    const spec = { method: 'GET', headers: getHeaders(options), signal, label } as const;
    const reply = await this.#transport.send(this.endpoint.objectTarget(key), spec);
    const fail = (error: unknown) => this.#transport.failure(error, label, signal, true);
    return new Download(key, label, reply, fail, this.#transport.bodyTimeout);
  }

  /**
   * Downloads an object into a file: ranged GETs a few at a time, written at their offsets into a temporary file
   * beside `path`, renamed into place once complete. An object replaced meanwhile is refused (download.ts).
   */
  download(key: string, path: string, options: DownloadOptions = {}): Promise<DownloadResult> {
    return downloadFile((range) => this.get(key, range), key, path, options);
  }

  /** The object's size, ETag, content type, last-modified date and metadata. */
  async head(key: string, { signal }: Signal = {}): Promise<ObjectInfo> {
    const reply = await this.#transport
      .send(this.endpoint.objectTarget(key), { method: 'HEAD', signal, label: `HEAD ${shownKey(key)}` })
      .catch(async (error: unknown) => {
        if (error instanceof S3Error && error.status === 404) await this.#bucketExists(signal);
        throw error;
      });
    await reply.body.dump();
    return objectInfo(key, reply.headers);
  }

  /** Whether the object exists; a missing bucket is no answer but S3Error NoSuchBucket. */
  async exists(key: string, { signal }: Signal = {}): Promise<boolean> {
    const spec = { method: 'HEAD', signal, accept: notFoundIsAnAnswer, label: `HEAD ${shownKey(key)}` } as const;
    const reply = await this.#transport.send(this.endpoint.objectTarget(key), spec);
    await reply.body.dump();
    if (reply.status !== 404) return true;
    await this.#bucketExists(signal);
    return false;
  }

  /**
   * Throws NoSuchBucket when the bucket is missing. A HEAD's 404 has no body to tell NoSuchKey from NoSuchBucket (S3
   * API Reference, HeadObject): one HeadBucket does. A 403 there (a policy without s3:ListBucket) cannot tell, so the
   * object's 404 stands.
   */
  async #bucketExists(signal: AbortSignal | undefined): Promise<void> {
    const label = 'HEAD bucket';
    const bucket = await this.#transport.send(this.#bucket([]), {
      method: 'HEAD',
      signal,
      accept: bucketAnswers,
      label,
    });
    await bucket.body.dump();
    if (bucket.status === 404) throw noSuchBucket(bucket, label, this.config);
  }

  /** Deletes an object; deleting a key that does not exist succeeds, as in S3. */
  async delete(key: string, { signal }: Signal = {}): Promise<void> {
    const reply = await this.#transport.send(this.endpoint.objectTarget(key), {
      method: 'DELETE',
      signal,
      label: `DELETE ${shownKey(key)}`,
    });
    await reply.body.dump();
  }

  /**
   * Deletes many objects, 1000 per DeleteObjects request; a key that XML cannot carry (a C0 control other than TAB,
   * LF and CR, U+FFFE, U+FFFF) by one DeleteObject. Per-key failures are returned, not thrown.
   */
  async deleteMany(keys: readonly string[], options: Signal = {}): Promise<DeleteManyResult> {
    for (const key of keys) checkKey(key);
    const result: DeleteManyResult = { deleted: [], errors: [] };
    const carried = keys.filter(xmlCanCarry);
    for (let start = 0; start < carried.length; start += DELETE_BATCH) {
      const batch = carried.slice(start, start + DELETE_BATCH);
      const { bytes, headers } = deleteRequest(batch);
      const reply = await this.#transport.send(this.#bucket([['delete', '']]), {
        method: 'POST',
        headers,
        payload: bytesPayload(bytes),
        signal: options.signal,
        text: true,
        label: DELETE,
      });
      const done = deleteResult(reply.text, batch);
      result.deleted.push(...done.deleted);
      result.errors.push(...done.errors);
    }
    for (const key of keys) {
      if (xmlCanCarry(key)) continue;
      try {
        await this.delete(key, options);
        result.deleted.push(key);
      } catch (error) {
        if (!(error instanceof S3Error)) throw error;
        result.errors.push({ key, code: error.code, message: error.message });
      }
    }
    return result;
  }

  /** Copies an object within the bucket (up to 5 GiB, S3's CopyObject limit); metadata is kept unless replaced. */
  async copy(from: string, to: string, options: CopyOptions = {}): Promise<PutResult> {
    checkKey(from);
    const headers = copyHeaders(this.config.bucket, from, options);
    const label = `COPY ${shownKey(from)} to ${shownKey(to)}`;
    const target = this.endpoint.objectTarget(to);
    const reply = await this.#transport.send(target, {
      method: 'PUT',
      headers,
      signal: options.signal,
      text: true,
      label,
    });
    // CopyObject can fail after a 200: the error is then in the body (S3 API Reference, CopyObject).
    const result = resultOf(reply, 'CopyObjectResult', label, this.config);
    return {
      etag: resultEtag(result),
      versionId: header(reply.headers, 'x-amz-version-id'),
      date: replyDate(reply.headers),
    };
  }

  /** Lists the bucket page by page (ListObjectsV2); keys arrive decoded. */
  async *list(options: ListOptions = {}): AsyncGenerator<ListPage> {
    const pageSize = options.pageSize ?? 1000;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) {
      throw new InvalidArgumentError('pageSize', `must be a whole number from 1 to 1000, got ${String(pageSize)}`);
    }
    const label = LIST;
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
      const query = listQuery(options, pageSize, token);
      const reply = await this.#transport.send(this.#bucket(query), {
        method: 'GET',
        signal: options.signal,
        text: true,
        label,
      });
      const { page, next } = listPage(reply.text);
      yield page;
      if (next === undefined) return;
      token = nextPage(seen, next, label, 'a continuation token');
    }
  }

  /**
   * The bucket's region (GetBucketLocation). An empty LocationConstraint means
   * us-east-1 and `EU` means eu-west-1 (S3 API Reference, GetBucketLocation).
   */
  async location(options: Signal = {}): Promise<string> {
    const target = this.#bucket([['location', '']]);
    const reply = await this.#transport.send(target, {
      method: 'GET',
      signal: options.signal,
      text: true,
      label: LOCATION,
    });
    return location(reply.text);
  }

  /** Aborts multipart uploads started before `olderThan`; returns the ones aborted. */
  async abortStaleUploads(olderThan: Date, options: Signal = {}): Promise<Array<{ key: string; uploadId: string }>> {
    const { signal } = options;
    const aborted: Array<{ key: string; uploadId: string }> = [];
    for await (const { key, uploadId, initiated } of this.#uploadsInProgress('', signal)) {
      // Not `initiated >= olderThan`: an Invalid Date compares false both ways and must be kept, not aborted.
      if (!(initiated.getTime() < olderThan.getTime())) continue;
      await this.#abortUpload(key, uploadId, signal);
      aborted.push({ key, uploadId });
    }
    return aborted;
  }

  // -------------------------------------------------------------------------
  // Links

  /**
   * A presigned URL for the object (GET by default), signed with the server-corrected clock. With temporary credentials
   * the URL lives no longer than they do: its expiry is cut to theirs. Credentials from the chain must have been
   * fetched: by a request, or by `await client.credentials()`.
   */
  presign(key: string, options: ObjectPresignOptions = {}): string {
    const date = options.date ?? this.#transport.now();
    const lease = this.#presignLease();
    const expiresIn = presignLifetime(lease, new Date(date).getTime(), presignExpiry(this.config, options.expiresIn));
    return this.endpoint.presign(key, { ...options, expiresIn, date }, lease.signer);
  }

  /** The credentials a presign uses: presigning is synchronous, so they must be usable already. */
  #presignLease(): Lease {
    const lease = this.#transport.credentials.usable();
    if (lease !== undefined) return lease;
    throw new CredentialsError(
      'the credentials come from the chain and are not fetched yet, or expired: await client.credentials() before presigning',
    );
  }

  /**
   * A presigned POST form for browser uploads into this bucket (S3 API Reference, "Browser-Based Uploads Using POST"),
   * signed with the server-corrected clock: send `fields` and then the file as multipart/form-data to `url`.
   */
  presignPost(
    input: Omit<PostPolicyInput, 'bucket'>,
    options: { date?: Date | number } = {},
  ): PresignedPost & { url: string } {
    const date = options.date ?? this.#transport.now();
    const lease = this.#presignLease();
    const form = { ...input, bucket: this.config.bucket };
    if (lease.info.expiration !== undefined)
      form.expiresIn = presignLifetime(lease, new Date(date).getTime(), form.expiresIn);
    const post = lease.signer.presignPost(form, { date });
    return { url: this.endpoint.bucketUrl(), fields: post.fields, policy: post.policy };
  }

  /** The download link the configuration gives the key (see Endpoint.downloadUrl). */
  downloadUrl(key: string): string {
    return this.endpoint.downloadUrl(key, { date: this.#transport.now() }, (k, o) => this.presign(k, o));
  }

  // -------------------------------------------------------------------------

  /** The target of a bucket request with these query parameters. */
  #bucket(query: readonly QueryPair[]): RequestTarget {
    return this.endpoint.bucketTarget(formatQuery(query));
  }

  /**
   * Uploads a body through multipart; close() aborts it on the server. A create-only put asks first whether the key
   * exists, since Ceph 16 ignores If-None-Match on CompleteMultipartUpload (which AWS checks).
   */
  async #putMultipart(payload: Payload, write: Write): Promise<PutResult> {
    const { key, signal } = write;
    const label = `PUT ${shownKey(key)}`;
    // CreateMultipartUpload's reply names the key: Swift's s3api answers 500 for a key XML 1.0 cannot carry, and keeps
    // the upload it made, whose id no one learns (README, Compatibility). Such a key goes in one PutObject or not at all.
    if (!xmlCanCarry(key)) {
      const why = 'holds a character XML 1.0 cannot carry (a C0 control, U+FFFE or U+FFFF), so no multipart upload';
      throw new InvalidArgumentError('key', `${why}: put at most the multipart threshold in one request, or rename it`);
    }
    if (write.conditions['if-none-match'] !== undefined && (await this.exists(key, { signal }))) {
      const message = 'the key exists (asked before the multipart upload, as ifNoneMatch "*" requires)';
      throw new S3Error({ code: 'PreconditionFailed', status: 412, message, request: label });
    }
    const ownPartSize = partSizeFor(payload.length, this.#parts.partSize);
    // A stream of unknown length cannot be lined up with an earlier upload's parts: it starts afresh.
    const earlier = write.resume && payload.length !== undefined ? await this.#unfinished(key, signal) : undefined;
    const partSize = resumedPartSize(earlier, payload.length) ?? ownPartSize;
    const unfinished = await this.#fits(key, earlier, payload.length, partSize, signal);
    const stop = linkedAbort(signal);
    const stopped = stop.signal;
    const transport = {
      send: (request: PartRequest) => this.#sendPart(key, request, stopped, write.progress),
      partHeaders: (part: SizedPayload) => checksumHeaders(this.#checksum, source(part, true)),
      keptPart: write.progress,
    };
    const uploadOptions = {
      partSize: unfinished === undefined ? ownPartSize : partSize,
      concurrency: this.#parts.concurrency,
      headers: write.headers,
      conditions: write.conditions,
      signal: stopped,
      resume: unfinished,
      // A stream of unknown length can never be continued: kept, it would only hold storage.
      keep: write.resume && payload.length !== undefined,
    };
    const done = this.#transport.guard(stopped, label, () => uploadMultipart(transport, payload, uploadOptions));
    const upload = { stop, done: done.catch(() => undefined) };
    this.#uploads.add(upload);
    const { etag, kept, date } = await done.finally(() => {
      this.#uploads.delete(upload);
      stop.release();
    });
    // Ceph 16 completes uploads with an empty <ETag>; the object's own is one HEAD away.
    const result = {
      etag: etag === '' ? (await this.head(key, { signal })).etag : unquote(etag),
      versionId: undefined,
      date,
    };
    return write.resume ? { ...result, resumed: kept } : result;
  }

  /**
   * The newest unfinished upload of exactly `key` (ListMultipartUploads by prefix) and its parts (ListParts), for a
   * resume; undefined when there is none.
   */
  async #unfinished(key: string, signal: AbortSignal | undefined): Promise<Unfinished | undefined> {
    let newest: UploadInProgress | undefined;
    for await (const upload of this.#uploadsInProgress(key, signal)) {
      if (upload.key !== key) continue;
      // An Invalid Date compares false: such an upload is taken only when no other is known.
      if (newest === undefined || upload.initiated.getTime() > newest.initiated.getTime()) newest = upload;
    }
    if (newest === undefined) return undefined;
    const parts = new Map<number, { size: number; etag: string }>();
    const seen = new Set<string>();
    let marker: string | undefined;
    do {
      const query = formatQuery([
        ['uploadId', newest.uploadId],
        ...(marker === undefined ? [] : [['part-number-marker', marker] as QueryPair]),
      ]);
      const reply = await this.#transport.send(this.endpoint.objectTarget(key, query), {
        method: 'GET',
        signal,
        text: true,
        label: PARTS,
      });
      const page = parseParts(reply.text);
      for (const part of page.parts) parts.set(part.partNumber, part);
      marker = page.next === undefined ? undefined : nextPage(seen, page.next, PARTS, 'its part number marker');
    } while (marker !== undefined);
    return { uploadId: newest.uploadId, parts };
  }

  /**
   * The earlier upload, if a body of `length` in parts of `partSize` can continue it; otherwise it is aborted, and
   * the body starts afresh. It cannot when it holds a part beyond the body's last: Ceph 16 answers the completion
   * with 400 InvalidPart whenever the upload holds a part the request leaves out (measured here), though AWS
   * completes with the parts listed (S3 API Reference, CompleteMultipartUpload).
   */
  async #fits(
    key: string,
    earlier: Unfinished | undefined,
    length: number | undefined,
    partSize: number,
    signal: AbortSignal | undefined,
  ): Promise<Unfinished | undefined> {
    if (earlier === undefined || length === undefined) return undefined;
    const last = Math.max(1, Math.ceil(length / partSize));
    if ([...earlier.parts.keys()].every((number) => number <= last)) return earlier;
    await this.#abortUpload(key, earlier.uploadId, signal);
    return undefined;
  }

  /** AbortMultipartUpload; one already gone (404 NoSuchUpload) is as good. */
  async #abortUpload(key: string, uploadId: string, signal: AbortSignal | undefined): Promise<void> {
    const target = this.endpoint.objectTarget(key, formatQuery([['uploadId', uploadId]]));
    const label = `DELETE ${shownKey(key)} ?uploadId`;
    const reply = await this.#transport.send(target, { method: 'DELETE', signal, accept: notFoundIsAnAnswer, label });
    await reply.body.dump();
  }

  /** The multipart uploads in progress under `prefix`, page by page (ListMultipartUploads). */
  async *#uploadsInProgress(prefix: string, signal: AbortSignal | undefined): AsyncGenerator<UploadInProgress> {
    const seen = new Set<string>();
    let markers: { keyMarker: string; uploadIdMarker: string } | undefined;
    do {
      const query: QueryPair[] = [['uploads', '']];
      if (prefix !== '') query.push(['prefix', prefix]);
      if (markers !== undefined)
        query.push(['key-marker', markers.keyMarker], ['upload-id-marker', markers.uploadIdMarker]);
      const reply = await this.#transport.send(this.#bucket(query), {
        method: 'GET',
        signal,
        text: true,
        label: UPLOADS,
      });
      const page = parseUploads(reply.text);
      yield* page.uploads;
      markers = page.next;
      if (markers !== undefined)
        nextPage(seen, `${markers.keyMarker}\n${markers.uploadIdMarker}`, UPLOADS, 'its markers');
    } while (markers !== undefined);
  }

  /** Sends one request of a multipart upload for `key`; a part's bytes count as progress as they are sent. */
  async #sendPart(key: string, request: PartRequest, signal: AbortSignal, progress: Write['progress']) {
    const target = this.endpoint.objectTarget(key, request.query);
    const reply = await this.#transport.send(target, {
      method: request.method satisfies HttpMethod,
      headers: request.headers,
      payload: request.body,
      signal: request.detached === true ? undefined : signal,
      text: true,
      label: `${operationOf(request)} ${shownKey(key)}`,
      onSent: request.method === 'PUT' ? progress : undefined,
    });
    return { headers: reply.headers, text: reply.text };
  }
}
