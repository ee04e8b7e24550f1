/**
 * Transport: one attempt of a request over undici (signed at the moment it
 * is sent, its body framed as its payload kind needs), its timeouts, the
 * turning of transport errors into NetworkError and AbortError, and the one
 * loop that asks the retry policy (retry.ts) whether to send it again. The
 * clock offset the policy learns from RequestTimeTooSkewed lives here, for
 * every later request and presign.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { positiveInteger } from './arguments.js';
import { FILE_CHUNK, type Payload, type SizedPayload, inMemory, source } from './bodies.js';
import { digestOf } from './checksum.js';
import { AbortError, InvalidArgumentError, NetworkError, ProtocolError, S3Error, S3v4Error } from './errors.js';
import {
  type HintContext,
  MAX_ERROR_BYTES,
  MAX_RESULT_BYTES,
  type Reply,
  header,
  readBounded,
  refusal,
} from './replies.js';
import { type AttemptFailure, retryDecision } from './retry.js';
import type { CredentialCache } from './credentials.js';
import { type RequestTarget, UNSIGNED_PAYLOAD, hashPayload } from './signer.js';
import { Agent, dispatch } from './undici.js';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

export interface TransportOptions {
  /**
   * An undici dispatcher to send through (a proxy agent, a mock, an Agent with a custom lookup). The client does not
   * close it.
   */
  dispatcher?: Dispatcher | undefined;
  /**
   * Sockets the client's own pool opens per origin at most, default 64; requests beyond wait for one. Set it on your
   * own `dispatcher` instead when you pass one.
   */
  connections?: number | undefined;
  /** Attempts per request, retries included; default 3. */
  maxAttempts?: number | undefined;
  /**
   * Milliseconds: to connect (default 10 s), to the reply's headers (default 60 s), between body chunks (default 60
   * s).
   */
  timeouts?: { connect?: number; headers?: number; body?: number } | undefined;
  /**
   * The local clock, milliseconds since 1970; Date.now by default. Tests pass a wrong one to meet
   * RequestTimeTooSkewed.
   */
  clock?: (() => number) | undefined;
}

/** One request to a target, as the client hands it over. */
export interface RequestSpec {
  method: HttpMethod;
  headers?: Record<string, string> | undefined;
  payload?: SizedPayload | undefined;
  signal?: AbortSignal | undefined;
  /** Statuses that are answers rather than errors; 2xx by default. */
  accept?: ((status: number) => boolean) | undefined;
  /**
   * Reads an accepted reply's body into `text` within the attempt, so a reset or stall while reading it is retried
   * like one before it.
   */
  text?: boolean | undefined;
  /** A short description for messages, such as `GET key`. */
  label: string;
  /**
   * Called with each piece of the body as it is handed to the socket (at most PROGRESS_STEP bytes of a body in
   * memory). A failed attempt takes back what it reported, with a negative count, so a retry is not counted twice.
   */
  onSent?: ((bytes: number) => void) | undefined;
}

/** Sockets per origin of the client's own pool (the AWS SDK for JavaScript allows 50). */
const DEFAULT_CONNECTIONS = 64;
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** What a NetworkError says happened, while sending (before the reply) and while reading the reply's body. */
const FAILURE_TEXT = {
  ERR_S3V4_TIMEOUT: { sending: 'timed out', reading: 'the body timed out' },
  ERR_S3V4_NETWORK: { sending: 'no reply', reading: 'the body broke off' },
} as const;

/** How long close() waits for uploads to abort, and then for the pool to close, before it tears them down. */
const CLOSE_GRACE_MS = 1000;

/** How often a body in memory reports progress: every 256 KiB, so a bar moves at least every MiB. */
const PROGRESS_STEP = 256 * 1024;

/**
 * OpenSSL's codes when an https:// request meets a server that answers in plain HTTP: its reply's first bytes
 * ("HTTP/1.1 400") do not parse as a TLS record.
 */
const PLAIN_HTTP_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
]);

/** What a network failure's code means, when the code alone does not say it. */
export function failureCause(code: string, message: string): string {
  if (PLAIN_HTTP_CODES.has(code))
    return `${code}: the server speaks plain HTTP on this port, not TLS; use http:// in endpoint, or the server's https port`;
  return code || message;
}

/** How one attempt ended: with the reply to return, or with the error to throw unless the policy retries. */
type Attempted = { reply: Reply } | { failure: AttemptFailure; error: Error };

/** Sends requests for one endpoint: signs, retries, types the errors. */
export class Transport {
  /** The credentials each attempt is signed with, refreshed before they expire. */
  readonly credentials: CredentialCache;
  readonly #hints: HintContext;
  readonly #https: boolean;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #maxAttempts: number;
  readonly #headersTimeout: number;
  /** Milliseconds a reply's body may go without a chunk: undici's bodyTimeout, and a Download's unread limit. */
  readonly bodyTimeout: number;
  readonly #clock: () => number;
  #closing: Promise<void> | undefined;
  #closed = false;
  /** Milliseconds to add to the local clock, learnt from a RequestTimeTooSkewed reply's Date. */
  #clockOffset = 0;

  constructor(credentials: CredentialCache, hints: HintContext, https: boolean, options: TransportOptions) {
    this.credentials = credentials;
    this.#hints = hints;
    this.#https = https;
    this.#maxAttempts = positiveInteger(options.maxAttempts ?? 3, 'maxAttempts');
    const timeouts = options.timeouts ?? {};
    this.#headersTimeout = positiveInteger(timeouts.headers ?? 60_000, 'timeouts.headers');
    this.bodyTimeout = positiveInteger(timeouts.body ?? 60_000, 'timeouts.body');
    const connect = positiveInteger(timeouts.connect ?? 10_000, 'timeouts.connect');
    this.#clock = options.clock ?? Date.now;
    const connections = positiveInteger(options.connections ?? DEFAULT_CONNECTIONS, 'connections');
    if (options.dispatcher !== undefined && options.connections !== undefined) {
      throw new InvalidArgumentError(
        'connections',
        "applies to the client's own pool only; with a dispatcher, set connections on the dispatcher",
      );
    }
    this.#ownsDispatcher = options.dispatcher === undefined;
    this.#dispatcher =
      options.dispatcher ?? new Agent({ connect: { timeout: connect }, keepAliveTimeout: 4000, connections });
  }

  /** The time to sign with: the local clock corrected by what the server taught. */
  now(): number {
    return this.#clock() + this.#clockOffset;
  }

  /**
   * Waits for `pending` (uploads sending their abort) and then closes the own dispatcher, each at most CLOSE_GRACE_MS:
   * undici's close() waits for every body to be read, and a body left unread is never read. Calling it again is
   * harmless; requests sent afterwards fail.
   */
  close(pending: readonly Promise<unknown>[] = []): Promise<void> {
    this.#closing ??= (async () => {
      await within(Promise.allSettled(pending), CLOSE_GRACE_MS);
      this.#closed = true;
      if (this.#ownsDispatcher && !(await within(this.#dispatcher.close(), CLOSE_GRACE_MS))) {
        await this.#dispatcher.destroy();
      }
    })();
    return this.#closing;
  }

  /**
   * Sends a request: signs each attempt, retries what the policy retries, throws S3Error, ProtocolError, NetworkError
   * or AbortError.
   */
  async send(target: RequestTarget, spec: RequestSpec): Promise<Reply> {
    if (this.#closed) throw new NetworkError('ERR_S3V4_NETWORK', `${spec.label}: the client is closed`, undefined);
    let skewRetried = false;
    // Over plain http a one-shot stream is read into memory first, to be signed whole (see #attempt); it can then be
    // sent again. Over https it is streamed, and read by its first attempt: it is never sent again. A file or Blob of
    // one read's size is read once too, rather than once to hash it and once to send it: a tree of small files takes
    // half the file-system calls (FILE_CHUNK, 256 KiB).
    const { payload } = spec;
    const small = payload?.kind === 'replayable' && payload.length <= FILE_CHUNK;
    if (!this.#https && (payload?.kind === 'stream' || small)) spec = { ...spec, payload: await inMemory(payload) };
    const canReplay = spec.payload?.kind !== 'stream';
    for (let attempt = 1; ; attempt++) {
      const attempted = await this.#try(target, spec);
      if ('reply' in attempted) return attempted.reply;
      const decision = retryDecision({
        attempt,
        maxAttempts: this.#maxAttempts,
        replayable: canReplay,
        skewRetried,
        failure: attempted.failure,
        now: this.#clock(),
        jitter: Math.random(),
      });
      if (decision.clockOffsetMs !== undefined) this.#clockOffset = decision.clockOffsetMs;
      if (!decision.retry) throw attempted.error;
      if (decision.skew === true) skewRetried = true;
      else await this.#backoff(decision.delayMs, spec.signal);
    }
  }

  /**
   * What a request without a (whole) reply throws: AbortError when the caller
   * aborted, else NetworkError keeping the cause. `reading`: the reply came,
   * and its body then stalled or broke off.
   */
  failure(error: unknown, label: string, signal: AbortSignal | undefined, reading = false): Error {
    if (isAbort(error, signal)) return new AbortError(`${label}: aborted`, signal?.reason ?? error);
    if (error instanceof S3v4Error) return error;
    const code = (error as { code?: string }).code ?? '';
    const kind = TIMEOUT_CODES.has(code) ? 'ERR_S3V4_TIMEOUT' : 'ERR_S3V4_NETWORK';
    const what = FAILURE_TEXT[kind][reading ? 'reading' : 'sending'];
    const message = `${label}: ${what} from ${this.#hints.endpoint} (${failureCause(code, (error as Error).message)})`;
    return new NetworkError(kind, message, error);
  }

  /** Runs `task`, turning an abort of `signal` into AbortError. */
  async guard<T>(signal: AbortSignal | undefined, label: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      // failure() makes the AbortError; anything else (S3Error, an AbortError already made) goes up as it is.
      throw !(error instanceof AbortError) && isAbort(error, signal) ? this.failure(error, label, signal) : error;
    }
  }

  /** One attempt and how it ended: a transport error, a refusal read into its error, or the reply. */
  async #try(target: RequestTarget, spec: RequestSpec): Promise<Attempted> {
    let reply: Reply;
    let sent = 0;
    const onSent =
      spec.onSent &&
      ((bytes: number) => {
        sent += bytes;
        spec.onSent?.(bytes);
      });
    try {
      reply = await this.#attempt(target, spec, onSent);
      if (spec.accept?.(reply.status) ?? (reply.status >= 200 && reply.status < 300)) {
        if (spec.text === true) reply.text = await readBounded(reply, MAX_RESULT_BYTES, spec.label);
        return { reply };
      }
    } catch (error) {
      if (sent !== 0) spec.onSent?.(-sent);
      const typed = this.failure(error, spec.label, spec.signal);
      // An abort, the body's own error (a BodyLengthError), a reply body past its bound (a ProtocolError): sending it
      // again cannot help.
      if (!(typed instanceof NetworkError)) throw typed;
      return { failure: { kind: 'network', code: networkCode(error) }, error: typed };
    }
    if (sent !== 0) spec.onSent?.(-sent);
    let error: S3Error | ProtocolError;
    try {
      error = refusal(reply, await readBounded(reply, MAX_ERROR_BYTES, spec.label), spec.label, this.#hints);
    } catch (cause) {
      // An error body too large to be S3's is a ProtocolError; one that broke off leaves the status to speak.
      error = cause instanceof ProtocolError ? cause : refusal(reply, '', spec.label, this.#hints);
    }
    const code = error instanceof S3Error ? error.code : undefined;
    return { failure: { kind: 'reply', status: reply.status, code, date: header(reply.headers, 'date') }, error };
  }

  async #attempt(target: RequestTarget, spec: RequestSpec, onSent: RequestSpec['onSent']): Promise<Reply> {
    const { method, payload } = spec;
    // Fresh credentials come at once; only a first fetch or an overdue refresh is waited for, and no longer than the
    // caller's signal allows (a credential_process may hang).
    const pending = this.credentials.signer();
    const signer = pending instanceof Promise ? await untilAborted(pending, spec.signal) : pending;
    const date = this.now();
    const headers: Record<string, string> = { ...spec.headers };
    let body: Uint8Array | Readable | null = null;
    // Request objects are written out rather than spread: a spread costs more than the rest of this function.
    if (payload === undefined) {
      Object.assign(headers, signer.sign({ method, url: target, headers }, { date }));
    } else if (payload.kind === 'bytes') {
      headers['content-length'] = String(payload.length);
      const payloadHash = payloadHashOf(payload);
      Object.assign(headers, signer.sign({ method, url: target, headers, payloadHash }, { date }));
      // One buffer is one write; pieces only when someone watches the progress.
      body = onSent === undefined ? payload.bytes : Readable.from(counted(pieces(payload.bytes), onSent));
    } else if (this.#https) {
      // Over TLS a stream may go unsigned (S3 API Reference, "Signature Calculations for the Authorization Header").
      headers['content-length'] = String(payload.length);
      const unsigned = { method, url: target, headers, payloadHash: UNSIGNED_PAYLOAD };
      Object.assign(headers, signer.sign(unsigned, { date }));
      body = Readable.from(counted(source(payload), onSent));
    } else {
      // Over plain http every byte is signed with the payload's SHA-256: a file or Blob is read twice, to hash it and
      // to send it (send() made a one-shot stream bytes). Not aws-chunked (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): Swift's
      // s3api and Cloudflare R2 answer it with 501 NotImplemented (../shared/notes/swift-s3api.md).
      headers['content-length'] = String(payload.length);
      const payloadHash = await sourceHashOf(payload);
      Object.assign(headers, signer.sign({ method, url: target, headers, payloadHash }, { date }));
      body = Readable.from(counted(source(payload), onSent));
    }
    const response = await dispatch(this.#dispatcher, {
      origin: target.origin,
      path: target.pathAndQuery,
      method,
      headers,
      body,
      signal: spec.signal ?? null,
      // undici closes the connection after every HEAD, in case a server sends a body with it
      // (lib/dispatcher/client-h1.js, nodejs/undici#258): a TCP handshake per HEAD, and a sync that asks one per file
      // paid 1,000 of them. S3 servers send none (RFC 9110 §9.3.2), and reset: false keeps the connection
      // (nodejs/undici#1858): 8 connections for 3,000 HEADs here, against one per HEAD.
      ...(method === 'HEAD' ? { reset: false } : {}),
      headersTimeout: this.#headersTimeout,
      bodyTimeout: this.bodyTimeout,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body, text: '' };
  }

  /** Waits out a backoff delay; an abort of `signal` ends the wait with AbortError. */
  async #backoff(delayMs: number, signal: AbortSignal | undefined): Promise<void> {
    // timers/promises rejects at once on a signal already aborted, and removes its listener when the time is up:
    // a long-lived signal shared by many calls gathers no listeners.
    await sleep(delayMs, undefined, signal === undefined ? {} : { signal }).catch(() => {
      throw new AbortError('aborted while waiting to retry', signal?.reason);
    });
  }
}

/**
 * A transport error's code for the retry policy: Node's or undici's own, and for undici's HTTPParserError (whose code
 * is llhttp's HPE_*, or none) the name undici registers it under (lib/core/errors.js).
 */
function networkCode(error: unknown): string {
  const { code, name } = error as { code?: string; name?: string };
  return name === 'HTTPParserError' ? 'UND_ERR_HTTP_PARSER' : (code ?? '');
}

/** `promise`, or the abort of `signal` if that comes first (the promise itself goes on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Whether `promise` settled within `ms`; its rejection counts as settled. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  const { name, code } = error as { name?: string; code?: string };
  return signal?.aborted === true || name === 'AbortError' || code === 'UND_ERR_ABORTED';
}

const payloadHashes = new WeakMap<Payload, string>();

/** The payload's SHA-256, computed once however often the request is retried. */
function payloadHashOf(payload: Payload & { kind: 'bytes' }): string {
  let hash = payloadHashes.get(payload);
  if (hash === undefined) {
    hash = hashPayload(payload.bytes);
    payloadHashes.set(payload, hash);
  }
  return hash;
}

const sourceHashes = new WeakMap<Payload, Promise<string>>();

/** A replayable payload's SHA-256, read once from its source (checked against its length) however often it is sent. */
function sourceHashOf(payload: Payload): Promise<string> {
  let hash = sourceHashes.get(payload);
  if (hash === undefined) {
    hash = digestOf('sha256', source(payload, true)).then((digest) => digest.toString('hex'));
    sourceHashes.set(payload, hash);
  }
  return hash;
}

/** `bytes` as views of PROGRESS_STEP bytes. */
function* pieces(bytes: Uint8Array): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += PROGRESS_STEP)
    yield bytes.subarray(offset, offset + PROGRESS_STEP);
}

/** Yields `chunks`, telling `onSent` each one's length as it is taken. */
async function* counted(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  onSent: ((bytes: number) => void) | undefined,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    yield chunk;
    onSent?.(chunk.length);
  }
}
