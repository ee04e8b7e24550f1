/**
 * Signed streaming uploads, `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (S3 API
 * Reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks"): the framing headers, the
 * encoded length, and the chunk signatures that continue the request's own.
 * Pure; a ChunkSigner keeps only the previous signature of its chain.
 */
import { hash } from 'node:crypto';
import { checkContentLength } from './arguments.js';
import { type HeadersInput, type HeaderValue, headerValueText } from './canonical.js';
import { InvalidArgumentError } from './errors.js';
import { ALGORITHM, SigningKey } from './signing-key.js';

export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
/** SHA-256 of the empty string: the payload hash of a request without body, and of every chunk's "previous" part. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/**
 * Smallest chunk AWS accepts in a signed streaming upload, except the last ones (S3 API Reference, sigv4-streaming).
 */
export const MIN_CHUNK_SIZE = 8192;
/** The chunk size of signed streaming uploads when none is given: 64 KiB, as the AWS SDKs use. */
export const DEFAULT_CHUNK_SIZE = 65_536;

/**
 * Encoded length of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body: every chunk is
 * `hex(size);chunk-signature=<64 hex>\r\n<data>\r\n`, ending with an empty chunk.
 */
export function streamingContentLength(contentLength: number, chunkSize: number): number {
  const frame = (size: number) => size.toString(16).length + ';chunk-signature='.length + 64 + 4 + size;
  const full = Math.floor(contentLength / chunkSize);
  const tail = contentLength % chunkSize;
  return full * frame(chunkSize) + (tail > 0 ? frame(tail) : 0) + frame(0);
}

/** The headers of a signed streaming upload: the caller's, and the framing that replaces theirs. */
export interface StreamingFraming {
  /** The caller's headers without the framing ones. */
  headers: Record<string, HeaderValue>;
  /** `content-encoding` (aws-chunked first), `content-length` of the encoded body, `x-amz-decoded-content-length`. */
  framing: Record<string, string>;
}

/** Checks the lengths and builds the framing headers of a signed streaming upload. */
export function streamingFraming(
  input: HeadersInput | undefined,
  contentLength: number,
  chunkSize: number,
): StreamingFraming {
  checkContentLength(contentLength);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE) {
    throw new InvalidArgumentError(
      'chunkSize',
      `must be a whole number of bytes, at least ${MIN_CHUNK_SIZE}, got ${String(chunkSize)}`,
    );
  }
  const framing: Record<string, string> = {
    // aws-chunked goes first when the object has its own encoding (S3 API Reference, sigv4-streaming).
    'content-encoding': 'aws-chunked',
    'content-length': String(streamingContentLength(contentLength, chunkSize)),
    'x-amz-decoded-content-length': String(contentLength),
  };
  const headers: Record<string, HeaderValue> = {};
  for (const name in input) {
    const value = input[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-encoding') framing['content-encoding'] += `,${headerValueText(value, name)}`;
    else if (!Object.hasOwn(framing, lower)) headers[name] = value;
  }
  return { headers, framing };
}

/**
 * Continues a streaming signature chunk by chunk: each chunk's string to sign
 * holds the previous signature, starting from the seed (the request's own).
 */
export class ChunkSigner {
  readonly chunkSize: number;
  readonly #key: SigningKey;
  readonly #prefix: string;
  #previous: string;
  #finished = false;

  constructor(
    signingKey: SigningKey | Uint8Array,
    amzDate: string,
    scope: string,
    seedSignature: string,
    chunkSize: number,
  ) {
    this.#key = signingKey instanceof SigningKey ? signingKey : new SigningKey(signingKey);
    this.#prefix = `${ALGORITHM}-PAYLOAD\n${amzDate}\n${scope}\n`;
    this.#previous = seedSignature;
    this.chunkSize = chunkSize;
  }

  /** Whether the empty final chunk has been signed. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The signature of the next chunk. */
  signChunk(data: Uint8Array): string {
    if (this.#finished)
      throw new InvalidArgumentError('data', 'comes after the empty final chunk, which ends the upload');
    const sig = this.#key.sign(`${this.#prefix}${this.#previous}\n${EMPTY_SHA256}\n${hash('sha256', data)}`);
    this.#previous = sig;
    if (data.length === 0) this.#finished = true;
    return sig;
  }

  /** The framing line sent before a chunk's data: `hex(size);chunk-signature=<sig>\r\n`. */
  chunkHeader(data: Uint8Array): string {
    return `${data.length.toString(16)};chunk-signature=${this.signChunk(data)}\r\n`;
  }
}
