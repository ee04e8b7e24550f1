/**
 * lib/digests.ts against each server: whether a local file holds what an object holds, told by the ETag the server
 * itself gave the object, in one request and in parts of several sizes (this client's, rclone's, the AWS CLI's), and
 * a file one byte off in each.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { holdsEtag } from '../lib/digests.js';
import { S3Client, fromFile } from '../lib/index.js';
import { onEachServer } from './helpers.js';
import { signedRequest, storageFor, type S3Server } from './support/servers.js';

const MiB = 1024 * 1024;
const BUCKET = 'digests';

let server: S3Server;
let workDir: string;

onEachServer('file digests against ETags', 'spec/digests.spec.ts', 120, (test, on) => {
  test.before(async () => {
    server = await on.shared();
    assert.is((await signedRequest(server, 'PUT', `/${BUCKET}`)).status, 200);
    workDir = mkdtempSync(join(tmpdir(), 's3v4-digests-'));
  });

  test.after(() => {
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
  });

  test("a file holds the object's bytes by its ETag, in one request or in parts; one byte off does not", async () => {
    const body = randomBytes(17 * MiB + 3);
    const path = join(workDir, 'file');
    const other = join(workDir, 'other');
    writeFileSync(path, body);
    const changed = Buffer.from(body);
    changed[changed.length - 1] = changed.at(-1)! ^ 1;
    writeFileSync(other, changed);
    for (const partSize of [5 * MiB, 8 * MiB, 16 * MiB, 32 * MiB]) {
      const client = new S3Client(storageFor(server, BUCKET), { partSize });
      try {
        const { etag } = await client.put(`object-${partSize}`, fromFile(path));
        assert.is(etag.includes('-'), partSize < body.length, etag);
        assert.ok(await holdsEtag(path, body.length, etag), `${partSize}: ${etag}`);
        assert.not.ok(await holdsEtag(other, body.length, etag), `${partSize}: a changed file held ${etag}`);
      } finally {
        await client.close();
      }
    }
    const small = join(workDir, 'small');
    writeFileSync(small, 'small');
    assert.not.ok(await holdsEtag(small, 5, 'an-etag-of-SSE-KMS'));
  });
});
