/**
 * Multipart uploads (S3 API Reference: CreateMultipartUpload, UploadPart,
 * CompleteMultipartUpload, AbortMultipartUpload): a source of unknown or
 * large size is cut into parts of one uniform size (R2 requires it), a few
 * sent at a time, so memory stays about partSize x (concurrency + 1)
 * whatever the object's size. Any failure or abort aborts the upload, so
 * no orphaned parts are left behind.
 */
import { S3Error } from './errors.js';
import { escape, childrenNamed, parseXml, textOf } from './xml.js';

/** S3's bounds (S3 User Guide, "Amazon S3 multipart upload limits"). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 4;

/** The part size for an object: the default, grown in whole MiB to stay within 10,000 parts when the length is known. */
export function partSizeFor(length: number | undefined, requested = DEFAULT_PART_SIZE): number {
  if (length === undefined) return requested;
  const MiB = 1024 * 1024;
  return Math.max(requested, Math.ceil(length / MAX_PARTS / MiB) * MiB);
}

/** One request of an upload, sent by the client with its signing, retries and error handling. */
export interface PartRequest {
  method: 'POST' | 'PUT' | 'DELETE';
  query: string;
  body?: Uint8Array;
  headers?: Record<string, string>;
  /** A clean-up request: sent even after the caller's AbortSignal fired. */
  cleanup?: boolean;
}

/** What the upload needs from the client. */
export interface UploadTransport {
  /** Sends one request for the object's key and returns the reply's headers and text. */
  send(request: PartRequest): Promise<{ headers: Record<string, string | string[] | undefined>; text: string }>;
  /** Headers each part carries (a checksum, say). */
  partHeaders(part: Uint8Array): Record<string, string>;
}

export interface MultipartOptions {
  partSize: number;
  concurrency: number;
  /** Headers of the object (content type, metadata, ...), sent when the upload is created. */
  headers: Record<string, string>;
  signal?: AbortSignal | undefined;
  onPart?: ((bytes: number) => void) | undefined;
}

/**
 * Reads `source` into chunks of exactly `size` bytes (the last may be
 * shorter), each in a buffer from `take`: multipart parts, and the chunks of
 * a signed streaming upload.
 */
export async function* fixedChunks(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, size: number, take: () => Uint8Array): AsyncGenerator<Uint8Array> {
  let part = take();
  let filled = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      const count = Math.min(size - filled, chunk.length - offset);
      part.set(chunk.subarray(offset, offset + count), filled);
      filled += count;
      offset += count;
      if (filled === size) {
        yield part;
        part = take();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

/** Uploads `source` as a multipart upload and returns the object's ETag. */
export async function uploadMultipart(transport: UploadTransport, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: MultipartOptions): Promise<string> {
  const created = await transport.send({ method: 'POST', query: 'uploads', headers: options.headers });
  const uploadId = textOf(parseXml(created.text), 'UploadId');
  if (uploadId === undefined || uploadId === '') throw new Error('CreateMultipartUpload reply has no UploadId');
  const id = encodeURIComponent(uploadId);
  const inFlight = new Set<Promise<void>>();
  // Part buffers are reused once their part is sent: at most concurrency + 1 exist, so
  // memory stays flat instead of waiting on the garbage collector for every part of the object.
  const free: Uint8Array[] = [];
  const take = () => free.pop() ?? new Uint8Array(options.partSize);
  try {
    const etags: string[] = [];
    let failure: unknown;
    let number = 0;
    for await (const part of fixedChunks(source, options.partSize, take)) {
      options.signal?.throwIfAborted();
      if (failure !== undefined) break;
      const partNumber = ++number;
      if (partNumber > MAX_PARTS) throw new RangeError(`the object needs more than ${MAX_PARTS} parts of ${options.partSize} bytes; raise partSize`);
      const sent = transport
        .send({ method: 'PUT', query: `partNumber=${partNumber}&uploadId=${id}`, body: part, headers: transport.partHeaders(part) })
        .then((reply) => {
          const etag = reply.headers['etag'];
          if (typeof etag !== 'string') throw new Error(`UploadPart ${partNumber} reply has no ETag`);
          etags[partNumber - 1] = etag;
          options.onPart?.(part.length);
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => {
          inFlight.delete(sent);
          free.push(new Uint8Array(part.buffer, 0, options.partSize));
        });
      inFlight.add(sent);
      // Memory bound: the part being read plus `concurrency` parts in flight.
      if (inFlight.size >= options.concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    options.signal?.throwIfAborted();
    if (number === 0) {
      // An empty source still makes an object: one empty part (S3 accepts a last part of any size).
      const reply = await transport.send({ method: 'PUT', query: `partNumber=1&uploadId=${id}`, body: new Uint8Array(0), headers: transport.partHeaders(new Uint8Array(0)) });
      etags.push(String(reply.headers['etag']));
    }
    const body = `<CompleteMultipartUpload>${etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escape(etag)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const completed = await transport.send({ method: 'POST', query: `uploadId=${id}`, body: new TextEncoder().encode(body), headers: { 'content-type': 'application/xml' } });
    // CompleteMultipartUpload can fail after a 200: the error is in the body (S3 API Reference).
    const reply = parseXml(completed.text);
    if (reply.name === 'Error') {
      throw new S3Error({
        code: textOf(reply, 'Code') || 'InternalError',
        status: 200,
        message: textOf(reply, 'Message') || 'the upload was not completed',
        requestId: textOf(reply, 'RequestId'),
        hostId: textOf(reply, 'HostId'),
        request: 'CompleteMultipartUpload',
      });
    }
    return textOf(reply, 'ETag') ?? '';
  } catch (error) {
    // Parts still in flight could land after the abort and be kept (S3 API Reference,
    // AbortMultipartUpload): let them settle first, then abort.
    await Promise.allSettled(inFlight);
    await transport.send({ method: 'DELETE', query: `uploadId=${id}`, cleanup: true }).catch(() => undefined);
    throw error;
  }
}

/** An upload in progress, from ListMultipartUploads. */
export interface UploadInProgress {
  key: string;
  uploadId: string;
  initiated: Date;
}

/** One page of ListMultipartUploads, and the markers of the next. */
export function parseUploads(xml: string): { uploads: UploadInProgress[]; next?: { keyMarker: string; uploadIdMarker: string } } {
  const result = parseXml(xml);
  const uploads = childrenNamed(result, 'Upload').map((upload) => ({
    key: textOf(upload, 'Key') ?? '',
    uploadId: textOf(upload, 'UploadId') ?? '',
    initiated: new Date(textOf(upload, 'Initiated') ?? 0),
  }));
  if (textOf(result, 'IsTruncated') !== 'true') return { uploads };
  return { uploads, next: { keyMarker: textOf(result, 'NextKeyMarker') ?? '', uploadIdMarker: textOf(result, 'NextUploadIdMarker') ?? '' } };
}
