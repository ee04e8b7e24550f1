/**
 * Specs of lib/retry.ts, the retry policy, without a server: which failures
 * are sent again, after what delay (full jitter, capped), never a body that
 * cannot be read again, never past the attempt budget, and what a
 * RequestTimeTooSkewed reply teaches about the server's clock. The loop that
 * applies the policy meets the real server in client.spec.ts and
 * faults.spec.ts.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type AttemptOutcome, BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay, retryDecision } from '../lib/retry.js';

const NOW = Date.parse('2026-01-02T03:04:05Z');

function outcome(failure: AttemptOutcome['failure'], overrides: Partial<AttemptOutcome> = {}): AttemptOutcome {
  return {
    attempt: 1,
    maxAttempts: 3,
    replayable: true,
    skewRetried: false,
    failure,
    now: NOW,
    jitter: 0.5,
    ...overrides,
  };
}

const reply = (status: number, code?: string, date?: string) => ({ kind: 'reply', status, code, date }) as const;
const network = (code: string) => ({ kind: 'network', code }) as const;

test('network failures that may not have reached the server are retried with backoff', () => {
  for (const code of [
    'ECONNRESET',
    'ECONNREFUSED',
    'EPIPE',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'UND_ERR_SOCKET',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_HTTP_PARSER',
  ]) {
    const decision = retryDecision(outcome(network(code)));
    assert.is(decision.retry, true, code);
    assert.is(decision.delayMs, 0.5 * BACKOFF_BASE_MS * 2, code);
    assert.is(decision.clockOffsetMs, undefined, code);
  }
  // A DNS name that does not exist, a TLS refusal, an argument the signer refused: sending again changes nothing.
  for (const code of ['ENOTFOUND', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_S3V4_INVALID_ARGUMENT', '']) {
    assert.is(retryDecision(outcome(network(code))).retry, false, code);
  }
});

test('statuses and S3 codes worth another attempt are retried; other refusals are not', () => {
  for (const status of [429, 500, 502, 503, 504])
    assert.is(retryDecision(outcome(reply(status))).retry, true, String(status));
  for (const code of [
    'SlowDown',
    'InternalError',
    'RequestTimeout',
    'ServiceUnavailable',
    'Throttling',
    'ThrottlingException',
  ]) {
    assert.is(retryDecision(outcome(reply(400, code))).retry, true, code);
  }
  for (const [status, code] of [
    [400, 'InvalidArgument'],
    [403, 'AccessDenied'],
    [403, 'SignatureDoesNotMatch'],
    [404, 'NoSuchKey'],
    [412, 'PreconditionFailed'],
    [418, undefined],
  ] as const) {
    assert.is(retryDecision(outcome(reply(status, code))).retry, false, `${status} ${code}`);
  }
});

test('a body that cannot be sent again, or the last attempt, is never retried', () => {
  assert.is(retryDecision(outcome(reply(503), { replayable: false })).retry, false);
  assert.is(retryDecision(outcome(network('ECONNRESET'), { replayable: false })).retry, false);
  assert.is(retryDecision(outcome(reply(503), { attempt: 3 })).retry, false);
  assert.is(retryDecision(outcome(network('ECONNRESET'), { attempt: 3 })).retry, false);
  assert.is(retryDecision(outcome(reply(503), { attempt: 2 })).retry, true);
  assert.is(retryDecision(outcome(reply(503), { attempt: 1, maxAttempts: 1 })).retry, false);
});

test('backoff is full jitter below min(cap, base x 2^attempt)', () => {
  assert.is(backoffDelay(1, 0), 0);
  assert.is(backoffDelay(1, 0.999), 0.999 * 200);
  assert.is(backoffDelay(3, 0.5), 400);
  assert.is(backoffDelay(20, 0.5), BACKOFF_CAP_MS / 2);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, jitter) => {
        const delay = retryDecision(outcome(reply(503), { attempt, maxAttempts: attempt + 1, jitter })).delayMs;
        return (
          delay >= 0 &&
          delay < Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt) + 1e-9 &&
          delay === backoffDelay(attempt, jitter)
        );
      },
    ),
    { seed: 10, numRuns: 2000 },
  );
});

test('RequestTimeTooSkewed teaches the server clock and is retried once, at once, even past the budget', () => {
  const serverDate = new Date(NOW + 20 * 60_000).toUTCString();
  const skewed = reply(403, 'RequestTimeTooSkewed', serverDate);
  const first = retryDecision(outcome(skewed));
  assert.equal(first, { retry: true, delayMs: 0, clockOffsetMs: 20 * 60_000, skew: true });
  assert.equal(retryDecision(outcome(skewed, { attempt: 1, maxAttempts: 1 })), first);
  // Once retried, a second skew is thrown, and teaches nothing more.
  assert.equal(retryDecision(outcome(skewed, { attempt: 2, skewRetried: true })), { retry: false, delayMs: 0 });
  // A one-shot body is not sent again, but later requests still learn the offset.
  assert.equal(retryDecision(outcome(skewed, { replayable: false })), {
    retry: false,
    delayMs: 0,
    clockOffsetMs: 20 * 60_000,
  });
  // Without a usable Date there is nothing to learn: a plain 403.
  assert.equal(retryDecision(outcome(reply(403, 'RequestTimeTooSkewed', 'not a date'))), { retry: false, delayMs: 0 });
  assert.equal(retryDecision(outcome(reply(403, 'RequestTimeTooSkewed'))), { retry: false, delayMs: 0 });
  // A Date on another refusal teaches nothing.
  assert.is(retryDecision(outcome(reply(403, 'AccessDenied', serverDate))).clockOffsetMs, undefined);
});

test('the policy is a function of its input alone', () => {
  const failures = fc.oneof(
    fc.constantFrom('ECONNRESET', 'ENOTFOUND', 'EPIPE').map(network),
    fc.record({
      kind: fc.constant('reply' as const),
      status: fc.constantFrom(200, 403, 404, 500, 503),
      code: fc.constantFrom(undefined, 'SlowDown', 'RequestTimeTooSkewed', 'NoSuchKey'),
      date: fc.constantFrom(undefined, 'junk', new Date(NOW - 3_600_000).toUTCString()),
    }),
  );
  fc.assert(
    fc.property(
      failures,
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.boolean(),
      fc.boolean(),
      (failure, attempt, maxAttempts, replayable, skewRetried) => {
        const input = outcome(failure, { attempt, maxAttempts, replayable, skewRetried });
        const decision = retryDecision(input);
        assert.equal(retryDecision(input), decision);
        // Never a retry for a body that cannot be read again.
        if (!replayable) assert.is(decision.retry, false);
        // Past the budget only the one skew retry is allowed.
        if (attempt >= maxAttempts && decision.retry) assert.is(decision.skew, true);
      },
    ),
    { seed: 11, numRuns: 3000 },
  );
});

test.run();
