/**
 * The retry policy: a pure function that, given how an attempt ended, says
 * whether to send the request again and after how long, and what the reply
 * taught about the server's clock. The one loop that applies it is
 * Transport.send (transport.ts).
 *
 * Retried: network resets and timeouts, replies that do not parse, 429, 500, 502, 503, 504, and S3's
 * SlowDown, InternalError, RequestTimeout and throttling codes (S3 API
 * Reference, "Error responses"; the AWS SDKs' standard retry strategy), with
 * full-jitter exponential backoff (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"). RequestTimeTooSkewed is retried once at once with the
 * server's clock. A body that cannot be sent again is never retried.
 */

const RETRY_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const RETRY_CODES: ReadonlySet<string> = new Set([
  'SlowDown',
  'InternalError',
  'RequestTimeout',
  'ServiceUnavailable',
  'Throttling',
  'ThrottlingException',
]);
/**
 * Transport error codes (Node's and undici's) of a request that may not have reached the server, or whose reply was
 * lost.
 */
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
  // A reply undici's parser refused: that connection's bytes are lost, and the next attempt takes a new one. Most
  // often stray bytes after a HEAD reply, read as the next reply on the connection (HEADs keep it: transport.ts).
  'UND_ERR_HTTP_PARSER',
]);

export const BACKOFF_BASE_MS = 100;
export const BACKOFF_CAP_MS = 5000;

/** How an attempt ended: no reply (a transport error's code), or a reply that was not accepted. */
export type AttemptFailure =
  | { readonly kind: 'network'; readonly code: string }
  | {
      readonly kind: 'reply';
      readonly status: number;
      /** S3's error code, when the reply had one. */
      readonly code: string | undefined;
      /** The reply's Date header, when it had one. */
      readonly date: string | undefined;
    };

export interface AttemptOutcome {
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Whether the request's body can be sent again. */
  readonly replayable: boolean;
  /** Whether this request was already sent again for RequestTimeTooSkewed. */
  readonly skewRetried: boolean;
  readonly failure: AttemptFailure;
  /** The local clock at the reply, milliseconds since 1970. */
  readonly now: number;
  /** A number in [0, 1): the jitter, Math.random() in production. */
  readonly jitter: number;
}

export interface RetryDecision {
  readonly retry: boolean;
  /** Milliseconds to wait before the next attempt. */
  readonly delayMs: number;
  /** Set when the reply taught the server's clock: milliseconds to add to the local one from now on. */
  readonly clockOffsetMs?: number;
  /** The retry is the one allowed for RequestTimeTooSkewed. */
  readonly skew?: true;
}

const STOP: RetryDecision = { retry: false, delayMs: 0 };

/** Full jitter: a delay drawn from [0, min(cap, base × 2^attempt)). */
export function backoffDelay(attempt: number, jitter: number): number {
  return jitter * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

/** Whether and when to send the request again. */
export function retryDecision(outcome: AttemptOutcome): RetryDecision {
  const { failure } = outcome;
  if (failure.kind === 'network') return backoff(RETRY_NETWORK.has(failure.code), outcome);
  const worthIt = RETRY_STATUS.has(failure.status) || (failure.code !== undefined && RETRY_CODES.has(failure.code));
  // The first skew teaches the offset, for this request and for later ones and presigns; the request is
  // sent again at once if its body can be.
  const serverTime = Date.parse(failure.date ?? '');
  if (failure.code === 'RequestTimeTooSkewed' && !outcome.skewRetried && !Number.isNaN(serverTime)) {
    const clockOffsetMs = serverTime - outcome.now;
    if (outcome.replayable) return { retry: true, delayMs: 0, clockOffsetMs, skew: true };
    return { ...backoff(worthIt, outcome), clockOffsetMs };
  }
  return backoff(worthIt, outcome);
}

/** A backoff retry when the failure is worth one, the body can be sent again and attempts are left. */
function backoff(worthIt: boolean, outcome: AttemptOutcome): RetryDecision {
  if (!worthIt || !outcome.replayable || outcome.attempt >= outcome.maxAttempts) return STOP;
  return { retry: true, delayMs: backoffDelay(outcome.attempt, outcome.jitter) };
}
