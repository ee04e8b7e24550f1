/**
 * Unit specs of lib/mtime.ts: a modification time as sync stores it (rclone's `mtime` metadata) and reads it back,
 * rclone's nanoseconds included, with Last-Modified when the metadata is missing or unreadable.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MTIME, mtimeValue, sameMtime, storedMtime } from '../lib/mtime.js';

test('stored as decimal seconds to the millisecond, and read back as the same millisecond', () => {
  for (const ms of [
    -315_619_199_500,
    0,
    1,
    999,
    1_700_000_000_123,
    1_700_000_000_123.457,
    Date.UTC(2038, 0, 19, 3, 14, 8),
  ]) {
    const value = mtimeValue(ms);
    assert.match(value, /^-?\d+\.\d{3}$/);
    const read = storedMtime({ metadata: { [MTIME]: value }, lastModified: undefined })!;
    assert.ok(sameMtime(read, ms), `${ms} -> ${value} -> ${read}`);
  }
  assert.is(mtimeValue(1_700_000_000_123), '1700000000.123');
});

test("rclone's nanoseconds are read; without readable metadata Last-Modified stands, else nothing", () => {
  const modified = new Date('2026-01-02T03:04:05Z');
  assert.ok(
    sameMtime(storedMtime({ metadata: { mtime: '1700000000.123456789' }, lastModified: modified })!, 1_700_000_000_123),
  );
  assert.is(storedMtime({ metadata: { mtime: '1700000000' }, lastModified: modified }), 1_700_000_000_000);
  // Before 1970, as an old archive's files are.
  assert.is(
    storedMtime({ metadata: { mtime: mtimeValue(-315_619_199_500) }, lastModified: modified }),
    -315_619_199_500,
  );
  for (const bad of ['', 'soon', '--5', '1e9', '0x10', ' 1'])
    assert.is(storedMtime({ metadata: { mtime: bad }, lastModified: modified }), modified.getTime(), bad);
  assert.is(storedMtime({ metadata: {}, lastModified: undefined }), undefined);
  assert.is(storedMtime({ metadata: {}, lastModified: new Date(Number.NaN) }), undefined);
  assert.not.ok(sameMtime(1000, 1001));
  assert.ok(sameMtime(1000.2, 999.9));
});

test.run();
