/**
 * Resumable uploads (PutOptions.resume) against each server, generated: a file uploaded in parts is stopped at a
 * random point, then changed or not in a random way (a byte flipped, cut short, grown, rewritten whole), then
 * resumed. Whatever happened, the object must be the file as it is at the resume, byte for byte; the resume must
 * keep exactly the parts the server held whose bytes still match the file, as a model of the parts computes; and
 * no upload may be left open once the resume has succeeded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { S3Client, fromFile } from '../lib/index.js';
import { onEachServer, prng, settled } from './helpers.js';
import { signedRequest, storageFor, uploadsIn, type S3Server } from './support/servers.js';

const MiB = 1024 * 1024;
const BUCKET = 'resume';
/** S3's smallest part: a few parts without large files. */
const PART = 5 * MiB;

let server: S3Server;
let workDir: string;
let client: S3Client;

/** The parts the server holds of the key's one unfinished upload, number → ETag; undefined without an upload. */
async function heldParts(key: string): Promise<Map<number, string> | undefined> {
  const upload = (await uploadsIn(server, BUCKET)).find((u) => u.key === key);
  if (upload === undefined) return undefined;
  const held = new Map<number, string>();
  const path = key.split('/').map(encodeURIComponent).join('/');
  const query = `uploadId=${encodeURIComponent(upload.uploadId)}`;
  const listed = await signedRequest(server, 'GET', `/${BUCKET}/${path}?${query}`);
  assert.is(listed.status, 200, listed.text);
  for (const [, number, etag] of listed.text.matchAll(
    /<Part>.*?<PartNumber>(\d+)<\/PartNumber>.*?<ETag>[^<0-9a-f]*([0-9a-f]{32})/gs,
  ))
    held.set(Number(number), etag!);
  return held;
}

const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');

onEachServer('resumable uploads', 'spec/resume.spec.ts', 300, (test, on) => {
  test.before(async () => {
    server = await on.shared();
    assert.is((await signedRequest(server, 'PUT', `/${BUCKET}`)).status, 200);
    workDir = mkdtempSync(join(tmpdir(), 's3v4-resume-'));
    client = new S3Client(storageFor(server, BUCKET), { partSize: PART, concurrency: 2 });
  });

  test.after(async () => {
    await client?.close();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  test('generated: stopped at a random point, changed or not, resumed: the object is the file, matching parts kept', async () => {
    const next = prng(28);
    const changes = ['none', 'flip', 'shorter', 'longer', 'rewritten'] as const;
    for (let round = 0; round < 10; round++) {
      const key = `generated/${round}-ü ?&.bin`;
      const path = join(workDir, `file-${round}`);
      let body = randomBytes(PART * (2 + Math.floor(next() * 4)) + Math.floor(next() * PART));
      writeFileSync(path, body);
      // Stopped once a random share of the file has been sent: the upload is kept for the resume.
      const stop = new AbortController();
      const share = 0.2 + next() * 0.6;
      const stopped = await client
        .put(key, fromFile(path), {
          resume: true,
          signal: stop.signal,
          onProgress: ({ loaded }) => {
            if (loaded >= share * body.length) stop.abort(new Error('stopped by the test'));
          },
        })
        .then(
          () => false,
          () => true,
        );
      assert.ok(stopped, `round ${round}: the upload was not stopped`);
      // Stopped early, it may hold no part yet: kept all the same.
      const held = await settled(() => heldParts(key));
      assert.ok(held !== undefined, `round ${round}: the stopped upload was not kept`);

      const change = changes[Math.floor(next() * changes.length)]!;
      const at = Math.floor(next() * body.length);
      if (change === 'flip') body[at] = body[at]! ^ 0x01;
      if (change === 'shorter') body = body.subarray(0, Math.max(at, PART + 1));
      if (change === 'longer') body = Buffer.concat([body, randomBytes(1 + Math.floor(next() * PART))]);
      if (change === 'rewritten') body = randomBytes(body.length);
      writeFileSync(path, body);

      // The model: a held part is kept when the file's bytes at its place, cut as before, have its MD5; an upload
      // holding a part beyond the file's last is not continued at all (Ceph refuses to complete it: see client.ts).
      const last = Math.ceil(body.length / PART);
      let expected = 0;
      for (const [number, etag] of held) {
        const start = (number - 1) * PART;
        if (start < body.length && md5(body.subarray(start, Math.min(start + PART, body.length))) === etag) expected++;
      }
      if ([...held.keys()].some((number) => number > last)) expected = 0;
      const result = await client.put(key, fromFile(path), { resume: true });
      assert.is(result.resumed?.parts, expected, `round ${round} (${change}): parts kept`);
      const stored = Buffer.from(await (await client.get(key)).bytes());
      assert.ok(stored.equals(body), `round ${round} (${change}): the object is not the file`);
      assert.equal(
        (await uploadsIn(server, BUCKET)).filter((u) => u.key === key),
        [],
        `round ${round}: an upload was left`,
      );
    }
  });

  test('without an upload to continue, resume uploads afresh; without resume, a stopped upload is aborted', async () => {
    const path = join(workDir, 'fresh');
    const body = randomBytes(2 * PART + 10);
    writeFileSync(path, body);
    assert.equal((await client.put('fresh.bin', fromFile(path), { resume: true })).resumed, { parts: 0, bytes: 0 });
    const stop = new AbortController();
    await client
      .put('aborted.bin', fromFile(path), {
        signal: stop.signal,
        onProgress: ({ loaded }) => {
          if (loaded > PART) stop.abort(new Error('stopped'));
        },
      })
      .catch(() => undefined);
    assert.equal(
      (await uploadsIn(server, BUCKET)).filter((u) => u.key === 'aborted.bin'),
      [],
    );
    // A body below the multipart threshold goes in one request: nothing to resume, nothing said; and what earlier
    // tries left of the key (a file now small) is aborted once it succeeds.
    const left = new AbortController();
    await client
      .put('small.bin', fromFile(path), {
        resume: true,
        signal: left.signal,
        onProgress: ({ loaded }) => {
          if (loaded > PART) left.abort(new Error('stopped'));
        },
      })
      .catch(() => undefined);
    assert.is((await uploadsIn(server, BUCKET)).filter((u) => u.key === 'small.bin').length, 1);
    assert.is((await client.put('small.bin', 'small', { resume: true })).resumed, undefined);
    assert.equal(
      (await uploadsIn(server, BUCKET)).filter((u) => u.key === 'small.bin'),
      [],
    );
    // Two unfinished uploads of one key: the newest is continued, and the older one aborted once the put succeeds.
    for (const _ of [0, 1])
      assert.is((await signedRequest(server, 'POST', `/${BUCKET}/twice.bin?uploads=`)).status, 200);
    assert.is((await uploadsIn(server, BUCKET)).filter((u) => u.key === 'twice.bin').length, 2);
    await client.put('twice.bin', fromFile(path), { resume: true });
    assert.equal(
      (await uploadsIn(server, BUCKET)).filter((u) => u.key === 'twice.bin'),
      [],
    );
    assert.ok(Buffer.from(await (await client.get('twice.bin')).bytes()).equals(body));
  });
});
