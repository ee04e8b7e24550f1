/**
 * Specs of lib/bodies.ts without a server: each body kind becomes the
 * payload kind that says whether it can be read again and how long it is,
 * the one chunker cuts any source into exact pieces, and a file that cannot
 * be read is refused naming the argument. client.spec.ts uploads every kind
 * to Ceph.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Payload,
  type ReplayablePayload,
  type StreamPayload,
  inMemory,
  fixedChunks,
  fromFile,
  sized,
  source,
  toPayload,
} from '../lib/bodies.js';
import { BodyLengthError, SourceError } from '../lib/errors.js';
import { collect, prng, throwsArgument } from './helpers.js';

test('each body kind becomes its payload kind, with its length when known', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-bodies-'));
  try {
    const file = join(dir, 'f.bin');
    writeFileSync(file, 'file bytes');
    const cases = [
      ['text', toPayload('héllo', undefined), 'bytes', 6, 'héllo'],
      ['bytes', toPayload(new Uint8Array([1, 2, 3]), undefined), 'bytes', 3, '\x01\x02\x03'],
      ['ArrayBuffer', toPayload(new Uint8Array([4, 5]).buffer, undefined), 'bytes', 2, '\x04\x05'],
      ['file', toPayload(fromFile(file), undefined), 'replayable', 10, 'file bytes'],
      ['Blob', toPayload(new Blob(['blob']), undefined), 'replayable', 4, 'blob'],
      ['Readable', toPayload(Readable.from([Buffer.from('st'), Buffer.from('ream')]), 6), 'stream', 6, 'stream'],
      ['web stream', toPayload(new Blob(['web']).stream(), undefined), 'stream', undefined, 'web'],
    ] as const;
    for (const [name, payload, kind, length, content] of cases) {
      assert.is(payload.kind, kind, name);
      assert.is(payload.length, length, name);
      assert.is(sized(payload), length === undefined ? undefined : payload, name);
      assert.is((await collect(source(payload))).toString('latin1'), Buffer.from(content).toString('latin1'), name);
    }
    // A replayable body opens anew: read twice, the same bytes.
    const blob = toPayload(new Blob(['again']), undefined);
    assert.is((await collect(source(blob))).toString(), 'again');
    assert.is((await collect(source(blob))).toString(), 'again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad bodies, lengths and files are refused naming the argument', () => {
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 53])
    throwsArgument(() => toPayload(Readable.from([]), bad), 'contentLength');
  for (const bad of [null, 42, {}, [1, 2]]) throwsArgument(() => toPayload(bad as never, undefined), 'body');
  const missing = throwsArgument(() => fromFile('/nonexistent/s3v4/file.bin'), 'path');
  assert.match(missing.message, 'ENOENT');
  // A FIFO, a device or a directory has no length to send and cannot be read again: each is refused.
  const dir = mkdtempSync(join(tmpdir(), 's3v4-bodies-'));
  try {
    const fifo = join(dir, 'fifo');
    assert.is(spawnSync('mkfifo', [fifo]).status, 0);
    for (const path of [fifo, '/dev/null', dir]) {
      assert.match(throwsArgument(() => fromFile(path), 'path').message, `${path} is not a regular file`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a source's own failures are SourceError naming it: a file deleted after fromFile(), a stream that fails", async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-bodies-'));
  try {
    const file = join(dir, 'gone.bin');
    writeFileSync(file, 'soon gone');
    const payload = toPayload(fromFile(file), undefined);
    rmSync(file);
    const broken = async function* () {
      yield Buffer.from('first');
      throw new Error('the disk is on fire');
    };
    for (const [what, body, expected] of [
      ['a deleted file', payload, `fromFile(${file}): could not be read (ENOENT); nothing was stored`],
      ['a failing stream', toPayload(broken(), undefined), 'the body stream: could not be read (the disk is on fire)'],
      ['a failing stream of known length', toPayload(broken(), 10), 'the body stream: could not be read'],
    ] as const) {
      const error = await collect(source(body)).catch((caught: unknown) => caught);
      assert.instance(error, SourceError, what);
      assert.is((error as SourceError).code, 'ERR_S3V4_SOURCE');
      assert.match((error as Error).message, expected, what);
      assert.ok((error as Error).cause instanceof Error, what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('slices of a file or Blob read exactly their bytes; a transient read of a file reuses one buffer', async () => {
  const random = prng(1202);
  const dir = mkdtempSync(join(tmpdir(), 's3v4-slices-'));
  try {
    for (let run = 0; run < 60; run++) {
      const size = [0, 1, 256 * 1024, 256 * 1024 + 1, Math.floor(random() * 900_000)][run % 5]!;
      const bytes = randomBytes(size);
      const file = join(dir, `f${run}`);
      writeFileSync(file, bytes);
      for (const payload of [toPayload(fromFile(file), undefined), toPayload(new Blob([bytes]), undefined)]) {
        const whole = payload as ReplayablePayload;
        const start = Math.floor(random() * (size + 1));
        const end = start + Math.floor(random() * (size - start + 1));
        const slice = whole.slice(start, end);
        const label = `${whole.what}: ${start}-${end} of ${size}`;
        assert.is(slice.length, end - start, label);
        for (const transient of [false, true]) {
          const seen = new Set<ArrayBufferLike>();
          const parts: Buffer[] = [];
          for await (const chunk of source(slice, transient)) {
            seen.add(chunk.buffer);
            parts.push(Buffer.from(chunk));
          }
          assert.ok(Buffer.concat(parts).equals(bytes.subarray(start, end)), `${label}, transient ${transient}`);
          if (whole.what.startsWith('fromFile') && parts.length > 1) assert.is(seen.size === 1, transient, label);
        }
        // A slice of a slice is the same range of the source.
        const inner = slice.slice(0, Math.floor(slice.length / 2));
        assert.ok((await collect(source(inner))).equals(bytes.subarray(start, start + inner.length)), label);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fixedChunks cuts any source into pieces of exactly the size, the last shorter', async () => {
  const random = prng(21);
  for (let round = 0; round < 200; round++) {
    const size = 1 + Math.floor(random() * 50);
    const total = Math.floor(random() * 400);
    const bytes = Uint8Array.from({ length: total }, (_, i) => (i * 7) % 256);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < total; ) {
      const n = Math.min(total - at, Math.floor(random() * 80));
      pieces.push(bytes.subarray(at, at + n));
      at += n;
    }
    const out: Uint8Array[] = [];
    for await (const chunk of fixedChunks(pieces, size, () => new Uint8Array(size))) out.push(Uint8Array.from(chunk));
    assert.equal(Buffer.concat(out), Buffer.from(bytes), `round ${round}`);
    for (const chunk of out.slice(0, -1)) assert.is(chunk.length, size);
    assert.ok(out.length === 0 || (out.at(-1)!.length > 0 && out.at(-1)!.length <= size));
    assert.is(out.length, Math.ceil(total / size));
  }
});

test('inMemory() reads a stream of declared length into bytes, empty included, and refuses one that lies', async () => {
  for (const chunks of [[], [new Uint8Array(0)], [Buffer.from('ab'), Buffer.from('c')]]) {
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const payload = await inMemory(toPayload(Readable.from(chunks), length) as StreamPayload & { length: number });
    assert.equal([payload.kind, Buffer.from(payload.bytes).toString()], ['bytes', Buffer.concat(chunks).toString()]);
  }
  const full = toPayload(Readable.from([Buffer.from('x')]), 0) as StreamPayload & { length: number };
  const refused = await inMemory(full).then(
    () => assert.unreachable('a stream declared empty that holds a byte was accepted'),
    (error: unknown) => error,
  );
  assert.instance(refused, BodyLengthError);
  assert.equal([(refused as BodyLengthError).expected, (refused as BodyLengthError).actual], [0, 1]);
});

test('source() yields a body whole when it holds its length, and throws BodyLengthError when it holds more or less', async () => {
  const random = prng(11);
  const dir = mkdtempSync(join(tmpdir(), 's3v4-bodies-'));
  try {
    for (let run = 0; run < 200; run++) {
      const actual = Math.floor(random() * 300);
      // Half the runs tell the truth; the rest lie by a few bytes either way (never below 0).
      const declared = random() < 0.5 ? actual : Math.max(0, actual + Math.floor(random() * 9) - 4);
      const bytes = randomBytes(actual);
      const chunked = Array.from({ length: Math.ceil(actual / 37) }, (_, i) => bytes.subarray(i * 37, i * 37 + 37));
      const file = join(dir, `f${run}`);
      writeFileSync(file, bytes);
      const payloads: Array<[string, Payload]> = [
        ['stream', toPayload(Readable.from(chunked), declared)],
        ['async iterable', toPayload(asyncChunks(chunked), declared)],
        // A file or Blob that changed size after its length was taken: the payload keeps the old length.
        ['file', { ...(toPayload(fromFile(file), undefined) as ReplayablePayload), length: declared }],
        ['blob', { ...(toPayload(new Blob([bytes]), undefined) as ReplayablePayload), length: declared }],
      ];
      for (const [kind, payload] of payloads) {
        const read: Uint8Array[] = [];
        const outcome = await (async () => {
          for await (const chunk of source(payload)) read.push(chunk);
        })().then(
          () => undefined,
          (error: unknown) => error,
        );
        const label = `${kind}: ${actual} bytes declared as ${declared}`;
        if (declared === actual) {
          assert.is(outcome, undefined, label);
          assert.ok(Buffer.concat(read).equals(bytes), label);
        } else {
          assert.instance(outcome, BodyLengthError, label);
          const error = outcome as BodyLengthError;
          assert.is(error.code, 'ERR_S3V4_BODY_LENGTH');
          assert.is(error.expected, declared, label);
          // Never a byte beyond the declared length handed on.
          assert.ok(Buffer.concat(read).length <= declared, label);
          if (actual < declared) assert.is(error.actual, actual, label);
          else assert.ok(error.actual > declared, label);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function* asyncChunks(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

test.run();
