/**
 * linkedAbort (lib/signals.ts): a controller the caller's signal also aborts, unlinked when the work is done, in
 * place of AbortSignal.any, whose signals a long-lived source keeps alive in Node 20.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linkedAbort } from '../lib/signals.js';

test('linkedAbort: the caller aborting aborts it, with the reason; stop() aborts it alone', () => {
  const outer = new AbortController();
  const link = linkedAbort(outer.signal);
  assert.is(link.signal.aborted, false);
  outer.abort('caller');
  assert.is(link.signal.aborted, true);
  assert.is(link.signal.reason, 'caller');
  const other = linkedAbort(new AbortController().signal);
  other.stop('mine');
  assert.is(other.signal.reason, 'mine');
  // No caller's signal: stop() is the only way.
  const alone = linkedAbort(undefined);
  alone.stop();
  assert.is(alone.signal.aborted, true);
  alone.release();
});

test('linkedAbort: a caller already aborted aborts it at once; release() unlinks it', () => {
  const done = new AbortController();
  done.abort('before');
  assert.is(linkedAbort(done.signal).signal.reason, 'before');
  const outer = new AbortController();
  const link = linkedAbort(outer.signal);
  link.release();
  outer.abort();
  assert.is(link.signal.aborted, false, 'released, it no longer follows the caller');
});

test('linkedAbort: 20,000 links released leave no listener on the caller', () => {
  const outer = new AbortController();
  let listeners = 0;
  const add = outer.signal.addEventListener.bind(outer.signal);
  const remove = outer.signal.removeEventListener.bind(outer.signal);
  outer.signal.addEventListener = (...args: Parameters<typeof add>) => {
    listeners++;
    add(...args);
  };
  outer.signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    listeners--;
    remove(...args);
  };
  for (let i = 0; i < 20_000; i++) linkedAbort(outer.signal).release();
  assert.is(listeners, 0);
});

test.run();
