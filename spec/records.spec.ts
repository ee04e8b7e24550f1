/**
 * Unit specs of lib/records.ts: what a sync's record of a file tells, generated (each of its five conditions broken
 * alone, at random), and the store's files: what it writes reads back, names of every kind included, and
 * what it did not write (torn, foreign, of another directory) reads as no record. The sync that uses them is tested
 * against the servers in cli.spec.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cacheHome, recordStore, type SyncRecord, seconds, verdict } from '../lib/records.js';
import { prng } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 's3v4-records-'));
const pair = { bucketUrl: 'http://127.0.0.1:9/b', prefix: 'site/', directory: '/srv/site' };
const next = prng(7);
const pick = <T>(choices: readonly T[]): T => choices[Math.floor(next() * choices.length)]!;

/** A record, and stats and a listed object it holds for. */
function holding() {
  const seen = 1_700_000_000 + Math.floor(next() * 1e6);
  const record: SyncRecord = {
    size: Math.floor(next() * 1e9),
    mtimeMs: 1_600_000_000_000 + next() * 1e11,
    etag: `${Math.floor(next() * 1e15).toString(16)}-3`,
    seen,
  };
  const stats = { size: record.size, mtimeMs: record.mtimeMs };
  // Last modified in the recorded second or before it, to the millisecond.
  const lastModified = new Date((seen - Math.floor(next() * 3)) * 1000 + Math.floor(next() * 1000));
  return { record, stats, object: { key: 'k', size: record.size, etag: record.etag, lastModified } };
}

test('a record tells while the file and the object are as recorded; any one change makes it say which', () => {
  const expected = {
    'file size': 'unknown',
    'file time': 'unknown',
    'object size': 'changed',
    etag: 'changed',
    'later write': 'unknown',
  } as const;
  for (let i = 0; i < 2000; i++) {
    const { record, stats, object } = holding();
    assert.is(verdict(record, stats, object), 'alike', JSON.stringify({ record, stats, object }));
    const broken = pick(Object.keys(expected) as Array<keyof typeof expected>);
    if (broken === 'file size') stats.size += pick([-1, 1, 4096]);
    if (broken === 'file time') stats.mtimeMs += pick([-1, 1, 1000, -3_600_000]);
    if (broken === 'object size') object.size += pick([-1, 1]);
    if (broken === 'etag') object.etag = `${object.etag}0`;
    // A write in the next second, even of the same bytes: its Last-Modified is later than the record's Date.
    if (broken === 'later write') object.lastModified = new Date((record.seen + 1) * 1000 + Math.floor(next() * 5000));
    assert.is(
      verdict(record, stats, object),
      expected[broken],
      `${broken}: ${JSON.stringify({ record, stats, object })}`,
    );
  }
});

test('a file changed since its record says nothing of the object, whatever the object did', () => {
  for (let i = 0; i < 200; i++) {
    const { record, stats, object } = holding();
    stats.mtimeMs += 1000;
    object.etag = pick([object.etag, 'other']);
    object.lastModified = new Date((record.seen + pick([0, 5])) * 1000);
    assert.is(verdict(record, stats, object), 'unknown');
  }
});

test('times to the millisecond: a file system that keeps less than the record still holds', () => {
  const { record, stats, object } = holding();
  stats.mtimeMs = Math.round(record.mtimeMs);
  assert.is(verdict(record, stats, object), 'alike');
  assert.is(seconds(new Date('2026-12-02T06:30:12.999Z')), Date.UTC(2026, 11, 2, 6, 30, 12) / 1000);
  assert.ok(Number.isNaN(seconds(undefined)));
});

test('what the store writes reads back, for names of every kind, and nothing else reads', async () => {
  const store = recordStore(work, pair);
  const odd = ['a', 'a b', 'ünï', '日本', '"quoted"', 'back\\slash', 'new\nline', 'emoji😀', '-', '.x', '%41'];
  for (let round = 0; round < 20; round++) {
    const records = new Map<string, SyncRecord>();
    for (let i = Math.floor(next() * 30); i > 0; i--) {
      const { record } = holding();
      records.set(`${pick(odd)}${i}`, record);
    }
    const path = pick(['', 'd/', 'ünï/日本/', 'a b/c/']);
    await store.write(path, records);
    assert.equal(await store.read(path), records);
  }
  // None: the file goes, and reads as none.
  await store.write('gone/', new Map([['x', holding().record]]));
  const before = readdirSync(store.place).length;
  await store.write('gone/', new Map());
  assert.is(readdirSync(store.place).length, before - 1);
  assert.equal(await store.read('gone/'), new Map());
  await store.write('gone/', new Map());
  // Nothing but the records themselves is left in the store: no temporary files.
  assert.ok(readdirSync(store.place).every((name) => name.endsWith('.json')));
  // The user's alone: they name the user's files.
  assert.is(statSync(store.place).mode & 0o777, 0o700);
  for (const name of readdirSync(store.place)) assert.is(statSync(join(store.place, name)).mode & 0o777, 0o600);
  assert.equal(await store.read('never/'), new Map());
});

test('a record file torn, foreign, or for another directory reads as no record; bad entries alone are dropped', async () => {
  const store = recordStore(work, pair);
  const good = holding().record;
  await store.write('t/', new Map([['keep', good]]));
  const [file] = readdirSync(store.place)
    .map((name) => join(store.place, name))
    .filter((path) => readFileSync(path, 'utf8').includes('"t/"'));
  const text = readFileSync(file!, 'utf8');
  for (let cut = 0; cut < text.length - 1; cut += 7) {
    writeFileSync(file!, text.slice(0, cut));
    assert.equal(await store.read('t/'), new Map(), `cut at ${cut}`);
  }
  const document = JSON.parse(text) as { format: string; directory: string; files: unknown[] };
  for (const other of [
    { ...document, format: 's3v4 sync records 2' },
    { ...document, directory: 'u/' },
    { ...document, files: 'x' },
    null,
    [],
  ]) {
    writeFileSync(file!, JSON.stringify(other));
    assert.equal(await store.read('t/'), new Map(), JSON.stringify(other));
  }
  const entries = [
    ['bad size', '1', 2, 'e', 3],
    ['bad name', 2, 3, 'e'],
    'no',
    ['nan', 1, null, 'e', 3],
    document.files[0],
  ];
  writeFileSync(file!, JSON.stringify({ ...document, files: entries }));
  assert.equal(await store.read('t/'), new Map([['keep', good]]));
});

test('one place per pair; the cache is $XDG_CACHE_HOME when absolute, else ~/.cache', () => {
  const places = new Set(
    [
      pair,
      { ...pair, prefix: 'site2/' },
      { ...pair, directory: '/srv/site2' },
      { ...pair, bucketUrl: 'http://h/b2' },
    ].map((p) => recordStore(work, p).place),
  );
  assert.is(places.size, 4);
  assert.is(recordStore(work, { ...pair }).place, recordStore(work, pair).place);
  assert.is(cacheHome({ XDG_CACHE_HOME: '/var/cache/me' }), '/var/cache/me');
  assert.is(cacheHome({ XDG_CACHE_HOME: 'relative' }), join(homedir(), '.cache'));
  assert.is(cacheHome({}), join(homedir(), '.cache'));
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
