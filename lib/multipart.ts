/**
 * Multipart uploads (S3 API Reference: CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload): when a body takes this
 * path, how large its parts are, and the upload itself. A body is cut into
 * parts of one uniform size (R2 requires it), a few sent at a time. A file or
 * a Blob is not buffered: each part is read from its own range of the source
 * when it is sent (and again on a retry). A stream is read into part buffers,
 * so memory stays about partSize x (concurrency + 1) whatever the object's
 * size. Any failure or abort aborts the upload, so no orphaned parts are left
 * behind, unless the caller keeps it to resume: a resumed upload keeps each
 * earlier part whose size and MD5 match the bytes it would send.
 */
import { constants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { positiveInteger } from './arguments.js';
import {
  type Payload,
  type ReplayablePayload,
  type SizedPayload,
  bytesPayload,
  fixedChunks,
  source,
} from './bodies.js';
import { completeRequest, uploadId as uploadIdOf } from './documents.js';
import { formatQuery } from './encoding.js';
import { InvalidArgumentError, ProtocolError } from './errors.js';
import { replyDate, resultOf } from './replies.js';
import { textOf } from './xml.js';

/** S3's bounds (S3 User Guide, "Amazon S3 multipart upload limits"). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's 5 GiB, or less where a Buffer cannot hold that much (Node 20 on 64 bits: 4 GiB, buffer.constants.MAX_LENGTH). */
export const MAX_PART_SIZE = Math.min(5 * 1024 * 1024 * 1024, constants.MAX_LENGTH);
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;
/**
 * The type of an object uploaded without one: S3's default (AWS SDK for .NET reference, ContentType), what Ceph and
 * Swift give a PutObject without a type. Sent with CreateMultipartUpload because Swift's s3api otherwise gives the
 * object CompleteMultipartUpload's `application/xml` (README, Compatibility).
 */
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

export interface PartOptions {
  /** Objects above this many bytes, and streams of unknown length, go through multipart; defaults to partSize. */
  multipartThreshold?: number | undefined;
  /** Part size, default 8 MiB, grown to stay under 10,000 parts. */
  partSize?: number | undefined;
  /** Parts in flight, default 4. */
  concurrency?: number | undefined;
}

/** A client's checked multipart settings. */
export interface PartPlan {
  readonly threshold: number;
  readonly partSize: number;
  readonly concurrency: number;
}

/** Checks the multipart options; the threshold defaults to the part size, so a body of one part goes in one request. */
export function partPlan(options: PartOptions): PartPlan {
  const partSize = positiveInteger(options.partSize ?? DEFAULT_PART_SIZE, 'partSize');
  if (partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new InvalidArgumentError(
      'partSize',
      `must be from ${MIN_PART_SIZE} (5 MiB) to ${MAX_PART_SIZE} bytes (S3's 5 GiB and Node's Buffer limit), got ${partSize}`,
    );
  }
  return {
    threshold: positiveInteger(options.multipartThreshold ?? partSize, 'multipartThreshold'),
    partSize,
    concurrency: positiveInteger(options.concurrency ?? DEFAULT_CONCURRENCY, 'concurrency'),
  };
}

/** Whether a body of this length (undefined: unknown) goes through multipart rather than one PUT. */
export function usesMultipart(plan: PartPlan, length: number | undefined): boolean {
  return length === undefined || length > plan.threshold;
}

/**
 * The part size for an object: the default, grown in whole MiB to stay within 10,000 parts when the length is known.
 */
export function partSizeFor(length: number | undefined, requested = DEFAULT_PART_SIZE): number {
  if (length === undefined) return requested;
  const MiB = 1024 * 1024;
  return Math.max(requested, Math.ceil(length / MAX_PARTS / MiB) * MiB);
}

/** One request of an upload, sent by the client with its signing, retries and error handling. */
export interface PartRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  /** Encoded with formatQuery. */
  query: string;
  body?: SizedPayload;
  headers?: Record<string, string>;
  /**
   * Sent without the caller's AbortSignal, so an abort cannot cut it off: CreateMultipartUpload, whose upload id must
   * be read to abort the upload it made, and AbortMultipartUpload, sent after the abort.
   */
  detached?: boolean;
}

/** The S3 operation a PartRequest is, for messages. */
export type MultipartOperation =
  | 'CreateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload';

/** The operation of a request of the upload: each has its own method, and POST a body only to complete. */
export function operationOf(request: PartRequest): MultipartOperation {
  if (request.method === 'PUT') return 'UploadPart';
  if (request.method === 'DELETE') return 'AbortMultipartUpload';
  return request.body === undefined ? 'CreateMultipartUpload' : 'CompleteMultipartUpload';
}

/** What the upload needs from the client. */
export interface UploadTransport {
  /** Sends one request for the object's key and returns the reply's headers and text. */
  send(request: PartRequest): Promise<{ headers: Record<string, string | string[] | undefined>; text: string }>;
  /** Headers each part carries (a checksum, say). */
  partHeaders(part: SizedPayload): Promise<Record<string, string>>;
  /** A part of an earlier upload kept by a resume, of `bytes` bytes: counted as progress, as if sent. */
  keptPart?: ((bytes: number) => void) | undefined;
}

/** An earlier upload of the object, to continue: its id, and the parts it holds by number. */
export interface Unfinished {
  uploadId: string;
  parts: ReadonlyMap<number, { size: number; etag: string }>;
}

/** What a multipart upload wrote: the object's ETag, and what it kept of an earlier upload. */
export interface Completed {
  etag: string;
  kept: { parts: number; bytes: number };
  /** CompleteMultipartUpload's reply Date (PutResult.date). */
  date: Date | undefined;
}

export interface MultipartOptions {
  partSize: number;
  concurrency: number;
  /** Headers of the object (content type, metadata, ...), sent when the upload is created. */
  headers: Record<string, string>;
  /**
   * Conditions of the write (`If-None-Match: *`), sent with CompleteMultipartUpload: S3 checks them there, when the
   * object would be written (S3 API Reference, CompleteMultipartUpload).
   */
  conditions?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Continues this upload instead of creating one: each of its parts whose size and MD5 match the body's bytes is
   * kept, any other sent again. With a resume in mind, a failure or an abort then keeps the upload too.
   */
  resume?: Unfinished | undefined;
  /** Keeps the upload on the server when it fails or is aborted, for a later resume, instead of aborting it. */
  keep?: boolean | undefined;
}

/** A part to send, and what to do once its request is done. */
interface Part {
  readonly body: SizedPayload;
  /** Called once the part's request has settled: a buffered part gives its buffer back. */
  readonly done: () => void;
}

/** The parts of a file or Blob: ranges of it, read only when each is sent. */
function* rangesOf(payload: ReplayablePayload, partSize: number): Generator<Part> {
  for (let start = 0; start < payload.length; start += partSize) {
    yield { body: payload.slice(start, Math.min(start + partSize, payload.length)), done: () => undefined };
  }
}

/**
 * The parts of a stream (or bytes), read into buffers that are reused once their part is sent: at most concurrency +
 * 1 exist, so memory stays flat instead of waiting on the garbage collector for every part of the object.
 */
async function* bufferedParts(payload: Payload, partSize: number): AsyncGenerator<Part> {
  const free: Uint8Array[] = [];
  const take = () => free.pop() ?? new Uint8Array(partSize);
  for await (const bytes of fixedChunks(source(payload), partSize, take)) {
    yield { body: bytesPayload(bytes), done: () => free.push(new Uint8Array(bytes.buffer, 0, partSize)) };
  }
}

/** An ETag that is an MD5, in hex: a part's, or an object's written in one request (S3 API Reference, Object: "ETag"). */
export const MD5_ETAG = /^[0-9a-f]{32}$/i;

/**
 * Whether an earlier upload's part holds the bytes of `part`: the same size, and an ETag that is their MD5, as a part
 * uploaded without SSE-KMS or SSE-C has (S3 API Reference, ListParts: "ETag"). Any other ETag cannot tell: not kept.
 */
async function holds(part: SizedPayload, earlier: { size: number; etag: string } | undefined): Promise<boolean> {
  if (earlier === undefined || earlier.size !== part.length || !MD5_ETAG.test(earlier.etag)) return false;
  const hash = createHash('md5');
  for await (const chunk of source(part, true)) hash.update(chunk);
  return hash.digest('hex') === earlier.etag.toLowerCase();
}

/** Creates the upload (CreateMultipartUpload), unless it continues an earlier one; resolves to its id. */
async function uploadIdFor(transport: UploadTransport, options: MultipartOptions): Promise<string> {
  if (options.resume !== undefined) return options.resume.uploadId;
  // An abort that cut CreateMultipartUpload off after the server made the upload would leave it open unseen: the
  // request runs to its reply, and the abort is honoured once the id is known (inside uploadMultipart's try).
  const created = await transport.send({
    method: 'POST',
    query: formatQuery([['uploads']]),
    headers: { 'content-type': DEFAULT_CONTENT_TYPE, ...options.headers },
    detached: true,
  });
  return uploadIdOf(created.text);
}

/** Uploads `payload` as a multipart upload: the object's ETag as the server wrote it, and what a resume kept. */
export async function uploadMultipart(
  transport: UploadTransport,
  payload: Payload,
  options: MultipartOptions,
): Promise<Completed> {
  const id = await uploadIdFor(transport, options);
  const upload = formatQuery([['uploadId', id]]);
  const sendPart = async (partNumber: number, body: SizedPayload): Promise<string> => {
    const query = formatQuery([
      ['partNumber', String(partNumber)],
      ['uploadId', id],
    ]);
    const reply = await transport.send({ method: 'PUT', query, body, headers: await transport.partHeaders(body) });
    const etag = reply.headers.etag;
    if (typeof etag !== 'string') {
      throw new ProtocolError(`UploadPart ${partNumber} reply has no ETag`, { status: 200, request: 'UploadPart' });
    }
    return etag;
  };
  const inFlight = new Set<Promise<void>>();
  try {
    options.signal?.throwIfAborted();
    const etags: string[] = [];
    const kept = { parts: 0, bytes: 0 };
    let failure: unknown;
    let number = 0;
    const parts =
      payload.kind === 'replayable' ? rangesOf(payload, options.partSize) : bufferedParts(payload, options.partSize);
    for await (const part of parts) {
      options.signal?.throwIfAborted();
      if (failure !== undefined) break;
      const partNumber = ++number;
      if (partNumber > MAX_PARTS) {
        throw new InvalidArgumentError(
          'partSize',
          `the object needs more than ${MAX_PARTS} parts of ${options.partSize} bytes; raise partSize`,
        );
      }
      const earlier = options.resume?.parts.get(partNumber);
      if (earlier !== undefined && (await holds(part.body, earlier))) {
        etags[partNumber - 1] = earlier.etag;
        kept.parts++;
        kept.bytes += part.body.length;
        transport.keptPart?.(part.body.length);
        part.done();
        continue;
      }
      const sent = sendPart(partNumber, part.body)
        .then((etag) => {
          etags[partNumber - 1] = etag;
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          inFlight.delete(sent);
          part.done();
        });
      inFlight.add(sent);
      // Memory bound: the part being read plus `concurrency` parts in flight.
      if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    options.signal?.throwIfAborted();
    // An empty source still makes an object: one empty part (S3 accepts a last part of any size).
    if (number === 0) etags.push(await sendPart(1, bytesPayload(new Uint8Array(0))));
    const body = bytesPayload(completeRequest(etags));
    const headers = { ...options.conditions, 'content-type': 'application/xml' };
    const completed = await transport.send({ method: 'POST', query: upload, body, headers });
    const result = resultOf({ status: 200, ...completed }, 'CompleteMultipartUploadResult', 'CompleteMultipartUpload');
    return { etag: textOf(result, 'ETag') ?? '', kept, date: replyDate(completed.headers) };
  } catch (error) {
    // Parts still in flight could land after the abort and be kept (S3 API Reference,
    // AbortMultipartUpload): let them settle first, then abort.
    await Promise.allSettled(inFlight);
    if (options.keep !== true)
      await transport.send({ method: 'DELETE', query: upload, detached: true }).catch(() => undefined);
    throw error;
  }
}
