/**
 * client.download() against each server: generated objects (sizes around the
 * range size, empty ones, odd keys) downloaded with generated range sizes and
 * concurrencies must arrive byte for byte, through a temporary file that is
 * never left behind; an object replaced between two ranges is refused
 * (If-Match); a missing key creates nothing; an abort leaves the target as it
 * was; overwrite false and special files are refused.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import * as assert from 'uvu/assert';
import { AbortError, InvalidArgumentError, S3Client, S3Error, S3v4Error } from '../lib/index.js';
import { startFaultProxy } from './support/faults.js';
import { signedRequest, storageFor, type S3Server } from './support/servers.js';
import { onEachServer, prng } from './helpers.js';

const KiB = 1024;
const BUCKET = 'downloads';

/** Keys a user may have: spaces, unicode, percent signs, deep paths. */
const ODD_KEYS = [
  'plain',
  'with space/and+plus',
  'ünï/cødé 名前',
  '100%/%2F?x=y#z',
  'a/b/c/d/e/f/g.bin',
  "it's (1).tar.gz",
];

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** `work`'s rejection; fails the test when it resolves. */
async function rejection(work: Promise<unknown>, what: string): Promise<unknown> {
  return work.then(
    () => assert.unreachable(`${what} succeeded`),
    (error: unknown) => error,
  );
}

onEachServer('client.download', 'spec/download.spec.ts', 240, (test, on) => {
  let server: S3Server;
  let client: S3Client;
  let dir: string;

  test.before(async () => {
    server = await on.shared();
    const created = await signedRequest(server, 'PUT', `/${BUCKET}`);
    assert.is(created.status, 200, created.text);
    client = new S3Client(storageFor(server, BUCKET));
    dir = mkdtempSync(join(tmpdir(), 's3v4-download-'));
  });

  test.after(async () => {
    await client?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The entries of the download directory that are temporary files. */
  const leftovers = () =>
    readdirSync(dir, { recursive: true })
      .map(String)
      .filter((name) => name.includes('s3v4-partial'));

  test('generated objects, range sizes and concurrencies arrive byte for byte, with progress to the last byte', async () => {
    const random = prng(1201);
    const rangeSizes = [1, 1000, 64 * KiB, 100 * KiB];
    const cases = 40;
    for (let i = 0; i < cases; i++) {
      const partSize = rangeSizes[Math.floor(random() * rangeSizes.length)]!;
      // Sizes around the range size's multiples, and now and then empty or one byte.
      const around = [0, 1, partSize - 1, partSize, partSize + 1, 3 * partSize + 7, Math.floor(random() * 300 * KiB)];
      // The first two cases are always the empty object (S3 answers a range of it with 416) and one byte.
      const picked = i < 2 ? i : around[Math.floor(random() * around.length)]!;
      const size = Math.min(picked, partSize === 1 ? 300 : 400 * KiB);
      const concurrency = 1 + Math.floor(random() * 6);
      const key = `${ODD_KEYS[i % ODD_KEYS.length]}-${i}`;
      const bytes = randomBytes(size);
      const put = await client.put(key, bytes);
      const path = join(dir, 'generated', `${i} ${key.replace(/\//g, '_')}`);
      const progress: number[] = [];
      // The size a listing would give, now and then wrong (the object replaced since): only ever a hint.
      const hint = [undefined, size, 0, size + partSize, Math.max(0, size - 1)][Math.floor(random() * 5)];
      const result = await client.download(key, path, {
        partSize,
        concurrency,
        size: hint,
        onProgress: ({ loaded, total }) => {
          progress.push(loaded);
          assert.is(total, size);
        },
      });
      const what = `case ${i}: ${size} bytes (size ${hint}), ranges of ${partSize}, ${concurrency} in flight`;
      assert.equal(result, { path, size, etag: put.etag }, what);
      assert.is(sha256(readFileSync(path)), sha256(bytes), what);
      assert.is(progress.at(-1) ?? 0, size, what);
      assert.ok(
        progress.every((loaded, j) => j === 0 || loaded > progress[j - 1]!),
        what,
      );
      await client.delete(key);
    }
    assert.equal(leftovers(), []);
  });

  test('an object replaced between two ranges is refused, and nothing is written', async () => {
    const key = 'changing';
    await client.put(key, randomBytes(256 * KiB));
    // The second range's request waits until the object has been replaced: a dispatcher that holds it back.
    let replaced: Promise<unknown> | undefined;
    const dispatcher = new Agent().compose((dispatch) => (options, handler) => {
      const range = (options.headers as Record<string, string>).range;
      if (range === undefined || range.startsWith('bytes=0-')) return dispatch(options, handler);
      replaced ??= client.put(key, randomBytes(256 * KiB));
      void replaced.then(() => dispatch(options, handler));
      return true;
    });
    const held = new S3Client(storageFor(server, BUCKET), { dispatcher });
    const path = join(dir, 'changing.bin');
    const error = await rejection(
      held.download(key, path, { partSize: 64 * KiB, concurrency: 2 }),
      'a download of a replaced object',
    );
    await held.close();
    await dispatcher.close();
    assert.ok(replaced !== undefined);
    assert.instance(error, S3v4Error);
    assert.is((error as S3v4Error).code, 'ERR_S3V4_CHANGED', String(error));
    assert.match((error as Error).message, 'the object changed while it was downloaded');
    assert.is(lstatSync(path, { throwIfNoEntry: false }), undefined);
    assert.equal(leftovers(), []);
  });

  test('a missing key creates nothing; an abort leaves the old file; overwrite false and special files are refused', async () => {
    const missing = join(dir, 'not', 'made', 'missing.bin');
    const error = await rejection(client.download('no/such/key', missing), 'a missing key');
    assert.instance(error, S3Error);
    assert.is((error as S3Error).code, 'NoSuchKey');
    assert.is(lstatSync(join(dir, 'not'), { throwIfNoEntry: false }), undefined, 'a directory was made');

    const key = 'big';
    const bytes = randomBytes(2 * 1024 * KiB);
    await client.put(key, bytes);
    const path = join(dir, 'kept.bin');
    writeFileSync(path, 'old contents');
    const controller = new AbortController();
    const aborted = await rejection(
      client.download(key, path, {
        partSize: 64 * KiB,
        signal: controller.signal,
        onProgress: ({ loaded }) => {
          if (loaded > 256 * KiB) controller.abort();
        },
      }),
      'an aborted download',
    );
    assert.instance(aborted, AbortError, String(aborted));
    assert.is(readFileSync(path, 'utf8'), 'old contents');

    const refused = await rejection(client.download(key, path, { overwrite: false }), 'overwrite false');
    assert.is((refused as S3v4Error).code, 'ERR_S3V4_EXISTS');
    assert.is(readFileSync(path, 'utf8'), 'old contents');
    const link = join(dir, 'link.bin');
    symlinkSync(path, link);
    mkdirSync(join(dir, 'a-directory'));
    for (const special of [link, join(dir, 'a-directory')]) {
      const notAFile = await rejection(client.download(key, special), special);
      assert.is((notAFile as S3v4Error).code, 'ERR_S3V4_NOT_A_FILE', special);
    }
    assert.is(readFileSync(path, 'utf8'), 'old contents');
    // Paths that name no file, or cannot be written, are refused by the argument before any request.
    for (const bad of ['', `${dir}/`, join(path, 'under-a-file.bin')]) {
      const error = await rejection(client.download(key, bad), JSON.stringify(bad));
      assert.instance(error, InvalidArgumentError, `${bad}: ${String(error)}`);
      assert.is((error as InvalidArgumentError).argument, 'path');
    }
    // Replaced by default, as fs.writeFile would, keeping its permissions as cp(1) does (set-user-ID dropped).
    chmodSync(path, 0o4750);
    await client.download(key, path);
    assert.is(sha256(readFileSync(path)), sha256(bytes));
    assert.is(lstatSync(path).mode & 0o7777, 0o750);
    // A new file gets the default mode, whatever a replaced one had.
    const fresh = join(dir, 'fresh.bin');
    await client.download(key, fresh);
    assert.is(lstatSync(fresh).mode & 0o7777, 0o666 & ~process.umask());
    rmSync(fresh);
    assert.equal(leftovers(), []);
    await client.delete(key);
  });

  test('a name of 255 bytes, a concurrency of a million, an empty object with progress; an exit removes the partial', async () => {
    await client.put('small', 'small body');
    const long = join(dir, `${'ü'.repeat(127)}n`);
    const concurrent = await client.download('small', long, { concurrency: 1_000_000, partSize: 4 });
    assert.equal([concurrent.size, readFileSync(long, 'utf8')], [10, 'small body']);
    await client.put('empty', '');
    const progress: Array<{ loaded: number; total: number | undefined }> = [];
    await client.download('empty', join(dir, 'empty.bin'), { onProgress: (p) => progress.push(p) });
    assert.equal(progress, [{ loaded: 0, total: 0 }]);
    assert.is(readFileSync(join(dir, 'empty.bin')).length, 0);
    // A process that exits in the middle of a download (the command line's second Ctrl-C) leaves no partial file.
    await client.put('exiting', randomBytes(1024 * KiB));
    const target = join(dir, 'exiting', 'object.bin');
    const script = `import { S3Client } from ${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)};
const client = new S3Client(${JSON.stringify(storageFor(server, BUCKET))});
await client.download('exiting', ${JSON.stringify(target)}, { partSize: 64 * 1024, concurrency: 1, onProgress: ({ loaded }) => { if (loaded > 100000) process.exit(130); } });`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, NODE_V8_COVERAGE: '' },
    });
    assert.is(child.status, 130, child.stderr);
    assert.equal(readdirSync(join(dir, 'exiting')), [], 'the partial file was left');
    assert.equal(leftovers(), []);
    await client.deleteMany(['small', 'empty', 'exiting']);
  });

  test("with a listing's size, an object that fits one range is one plain GET, the empty one too; a bad size is refused", async () => {
    const proxy = await startFaultProxy(server.port);
    const through = new S3Client(storageFor(server, BUCKET, { endpoint: proxy.endpoint }));
    try {
      await client.put('fits', 'twelve bytes');
      await client.put('none', '');
      const asked = async (key: string, size: number | undefined) => {
        proxy.reset();
        const path = join(dir, `hinted-${key}`);
        const result = await through.download(key, path, { partSize: 12, size });
        assert.is(readFileSync(path).length, result.size);
        rmSync(path);
        return proxy.seen.map((seen) => `${seen.method} ${seen.headers.range ?? 'whole'}`);
      };
      assert.equal(await asked('fits', 12), ['GET whole']);
      assert.equal(await asked('none', 0), ['GET whole']);
      // Without it, a range first; the empty object answers that with 416, and a plain GET follows.
      assert.equal(await asked('fits', undefined), ['GET bytes=0-11']);
      assert.equal(await asked('none', undefined), ['GET bytes=0-11', 'GET whole']);
      for (const size of [-1, 1.5, Number.NaN])
        assert.instance(
          await rejection(through.download('fits', join(dir, 'bad-size'), { size }), `size ${size}`),
          InvalidArgumentError,
        );
      assert.equal(leftovers(), []);
      await client.deleteMany(['fits', 'none']);
    } finally {
      await through.close();
      await proxy.close();
    }
  });
});
