/**
 * Upload bodies: what `put()` takes, and the payload each becomes. A payload
 * is one of three kinds, so no code has to guess whether a body can be read
 * again or how long it is: bytes in memory, a source that can be opened again
 * (a file or a Blob, of known length), or a one-shot stream whose length is
 * known only when the caller declares it. Also the one chunker that cuts a
 * source into fixed-size pieces, a multipart upload's parts.
 */
import { type Stats, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { checkContentLength } from './arguments.js';
import { BodyLengthError, InvalidArgumentError, S3v4Error, SourceError } from './errors.js';
import { close, fstat, open, read } from './files.js';

/** A body s3v4 can upload. */
export type Body =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | Readable
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>
  | FileBody;

/** What identifies a file's contents as measured: an upload refuses a file that no longer matches (SourceError). */
export interface FileVersion {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

/** A file to upload, read as a stream (and read again when a request must be retried). */
export class FileBody {
  readonly path: string;
  readonly size: number;
  /** The file as fromFile() measured it; each read checks it still is (see readFile). */
  readonly version: FileVersion;
  constructor(path: string) {
    this.path = path;
    let stats: Stats;
    try {
      stats = statSync(path);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw new InvalidArgumentError('path', `${path} cannot be read (${code ?? message})`);
    }
    // A FIFO or a device has no size to send and cannot be read again for a retry: it is a stream.
    if (!stats.isFile()) {
      throw new InvalidArgumentError('path', `${path} is not a regular file; pass a pipe or a device as a stream`);
    }
    this.size = stats.size;
    this.version = { dev: stats.dev, ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs };
  }
}

/** A file as an upload body: `client.put(key, fromFile('release.tgz'))`. */
export function fromFile(path: string): FileBody {
  return new FileBody(path);
}

/** A body in memory: hashed and signed, sent again as it is on retry. */
export interface BytesPayload {
  readonly kind: 'bytes';
  readonly bytes: Uint8Array;
  readonly length: number;
}

/** A body that can be read again from the start: a file or a Blob. */
export interface ReplayablePayload {
  readonly kind: 'replayable';
  readonly length: number;
  /** What the body is, for BodyLengthError: `fromFile(path)` or `Blob`. */
  readonly what: string;
  /**
   * The bytes from the start. `transient`: the reader is done with each chunk before it asks for the next (a hash),
   * so a file is read into one buffer, reused, instead of a new one per chunk.
   */
  open(transient?: boolean): AsyncIterable<Uint8Array>;
  /** Bytes `start` to `end` (exclusive) as a payload of their own, read from that range of the source: one part. */
  slice(start: number, end: number): ReplayablePayload;
}

/** A stream that can be read once; its length is known only when the caller declared it. */
export interface StreamPayload {
  readonly kind: 'stream';
  readonly length: number | undefined;
  readonly stream: AsyncIterable<Uint8Array>;
}

export type Payload = BytesPayload | ReplayablePayload | StreamPayload;

/** A payload that one request can carry: its length is known. */
export type SizedPayload = BytesPayload | ReplayablePayload | (StreamPayload & { readonly length: number });

export function bytesPayload(bytes: Uint8Array): BytesPayload {
  return { kind: 'bytes', bytes, length: bytes.length };
}

/**
 * A one-shot stream of declared length, or a small file or Blob, read into memory and checked against its length
 * (source()): bytes, which can be signed whole and sent again. Over http the transport signs a stream so, rather than
 * with aws-chunked framing, and a small file so rather than reading it twice.
 */
export async function inMemory(
  payload: ReplayablePayload | (StreamPayload & { readonly length: number }),
): Promise<BytesPayload> {
  const bytes = new Uint8Array(payload.length);
  let filled = 0;
  for await (const chunk of source(payload)) {
    bytes.set(chunk, filled);
    filled += chunk.length;
  }
  return bytesPayload(bytes);
}

/** The payload, when its length is known. */
export function sized(payload: Payload): SizedPayload | undefined {
  return payload.length === undefined ? undefined : (payload as SizedPayload);
}

/**
 * The payload's bytes from the start (opened again for a replayable body; `transient` as in open()), checked against
 * its length: a file that shrinks while it is read, or a stream that lies about its contentLength, throws
 * BodyLengthError instead of being stored short or cut. An error of the source itself (a file that cannot be read, a
 * stream that fails) becomes SourceError, never a network failure.
 */
export function source(payload: Payload, transient = false): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  switch (payload.kind) {
    case 'bytes':
      return [payload.bytes];
    case 'replayable':
      return checked(payload.open(transient), payload.length, payload.what, payload.what, transient);
    case 'stream':
      return checked(payload.stream, payload.length, 'contentLength', 'the body stream');
  }
}

/**
 * Yields `chunks`, throwing BodyLengthError before the first byte beyond `length`, or at an end short of it
 * (`lengthName` names the length). Only the source's own errors become SourceError: the iterator is driven by hand,
 * so an error thrown into this generator by its reader is not taken for the source's.
 *
 * Unless `transient` (a hash, which sends nothing), the last chunk is held back until the source has ended and every
 * check has passed: a file's last version check, a file that grew, a stream longer than its contentLength. Sent at
 * once, it would complete the body the server was promised, and the server would store an object this call then
 * reports as failed ("nothing was stored").
 */
async function* checked(
  chunks: AsyncIterable<Uint8Array>,
  length: number | undefined,
  lengthName: string,
  sourceName: string,
  transient = false,
): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  let done = false;
  let read = 0;
  let held: Uint8Array | undefined;
  try {
    for (;;) {
      let step: IteratorResult<Uint8Array>;
      try {
        step = await iterator.next();
      } catch (error) {
        done = true;
        if (error instanceof S3v4Error) throw error;
        const { code, message } = error as NodeJS.ErrnoException;
        throw new SourceError(sourceName, `could not be read (${code ?? message})`, error);
      }
      if (step.done === true) break;
      read += step.value.length;
      if (length !== undefined && read > length) throw new BodyLengthError(lengthName, length, read);
      if (transient) yield step.value;
      else {
        if (held !== undefined) yield held;
        held = step.value;
      }
    }
    done = true;
    if (length !== undefined && read < length) throw new BodyLengthError(lengthName, length, read);
    if (held !== undefined) yield held;
  } finally {
    // A reader that stops early (an aborted request) closes the source: a file's handle, a stream.
    if (!done) await iterator.return?.();
  }
}

/** A body as a payload; `contentLength` declares a stream's length. */
export function toPayload(body: Body, contentLength: number | undefined): Payload {
  if (contentLength !== undefined) checkContentLength(contentLength);
  if (typeof body === 'string') return bytesPayload(Buffer.from(body, 'utf8'));
  if (body instanceof Uint8Array) return bytesPayload(body);
  if (body instanceof ArrayBuffer) return bytesPayload(new Uint8Array(body));
  if (body instanceof FileBody) return fileRange(body.path, body.version, 0, body.size);
  if (body instanceof Blob) return blobRange(body, 0, body.size);
  if (body instanceof ReadableStream) {
    return { kind: 'stream', length: contentLength, stream: Readable.fromWeb(body as WebReadableStream<Uint8Array>) };
  }
  if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) {
    return { kind: 'stream', length: contentLength, stream: body };
  }
  throw new InvalidArgumentError(
    'body',
    'must be a string, Uint8Array, ArrayBuffer, Blob, Readable, ReadableStream, async iterable or fromFile(path)',
  );
}

/** How a range of a source is named in messages: the whole source, or its bytes `start` to `end - 1`. */
function rangeName(what: string, start: number, end: number, size: number): string {
  return start === 0 && end === size ? what : `${what} bytes ${start}-${end - 1}`;
}

/**
 * Bytes `start` to `end` of a file as fromFile() measured it (`version`), read from disk at each open. The range that
 * ends the file reads on to its end, so a file grown since it was measured fails with BodyLengthError instead of being
 * stored cut.
 */
function fileRange(path: string, version: FileVersion, start: number, end: number): ReplayablePayload {
  const what = rangeName(`fromFile(${path})`, start, end, version.size);
  return {
    kind: 'replayable',
    length: end - start,
    what,
    open: (transient) =>
      readFile(path, version, what, start, end === version.size ? undefined : end, transient === true),
    slice: (from, to) => fileRange(path, version, start + from, start + to),
  };
}

/** Bytes read from a file per chunk: 256 KiB, a few reads per part and far fewer than a 64 KiB stream's. */
export const FILE_CHUNK = 256 * 1024;

/**
 * The bytes of a file from `start` to `end` (undefined: to its end, however far that has moved), read at their
 * positions. A transient reader gets views of one buffer; any other a new buffer per chunk, since the socket may
 * still hold the last. The file must still be the version measured, before and after the range is read: parts are
 * read one by one, so a file replaced (renamed over) or rewritten in place meanwhile would otherwise be stored as
 * pieces of two versions. A change of size is left to the length check (BodyLengthError).
 */
async function* readFile(
  path: string,
  version: FileVersion,
  what: string,
  start: number,
  end: number | undefined,
  transient: boolean,
) {
  const file = await open(path, 'r');
  try {
    await checkVersion(file, version, what);
    const shared = transient ? Buffer.allocUnsafe(FILE_CHUNK) : undefined;
    for (let position = start; end === undefined || position < end; ) {
      const want = end === undefined ? FILE_CHUNK : Math.min(FILE_CHUNK, end - position);
      const buffer = shared ?? Buffer.allocUnsafe(want);
      const { bytesRead } = await read(file, buffer, 0, want, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
    await checkVersion(file, version, what);
  } finally {
    await close(file);
  }
}

/** Throws SourceError unless the open file is the one measured, unchanged (a size change is BodyLengthError's). */
async function checkVersion(file: number, version: FileVersion, what: string): Promise<void> {
  const now = await fstat(file);
  if (now.dev !== version.dev || now.ino !== version.ino) {
    throw new SourceError(what, 'the file was replaced since fromFile() measured it');
  }
  if (now.size === version.size && now.mtimeMs !== version.mtimeMs) {
    throw new SourceError(what, 'the file was modified since fromFile() measured it');
  }
}

/** Bytes `start` to `end` of a Blob, streamed from Blob.slice(). */
function blobRange(blob: Blob, start: number, end: number): ReplayablePayload {
  const part = start === 0 && end === blob.size ? blob : blob.slice(start, end);
  return {
    kind: 'replayable',
    length: end - start,
    what: rangeName('Blob', start, end, blob.size),
    open: () => Readable.fromWeb(part.stream() as WebReadableStream<Uint8Array>),
    slice: (from, to) => blobRange(blob, start + from, start + to),
  };
}

/**
 * Reads `source` into chunks of exactly `size` bytes (the last may be
 * shorter), each in a buffer from `take`: a multipart upload's parts.
 */
export async function* fixedChunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
  take: () => Uint8Array,
): AsyncGenerator<Uint8Array> {
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
