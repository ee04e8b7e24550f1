/**
 * MD5 digests of a local file's bytes, to tell whether an object already holds them: the ETag S3 gives an object
 * written by PutObject is the MD5 of its bytes, and one written by a multipart upload is the MD5 of its parts' MD5s
 * with `-` and the number of parts after it; a part's own ETag is its MD5. Neither holds for an object encrypted
 * with SSE-KMS or SSE-C (S3 API Reference, Object: "ETag").
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { MD5_ETAG, partSizeFor } from './multipart.js';

const MiB = 1024 * 1024;

/**
 * Part sizes other tools upload with, tried when an ETag's part count does not fit this client's own: rclone's 5 MiB,
 * the AWS CLI's 8 MiB, s3cmd's 15 MiB and 16 MiB, as common elsewhere.
 */
const PART_SIZES = [5 * MiB, 8 * MiB, 15 * MiB, 16 * MiB];

/** The MD5 of `length` bytes of the file from `start`, raw. */
export async function rangeMd5(path: string, start: number, length: number): Promise<Buffer> {
  const hash = createHash('md5');
  if (length > 0) {
    for await (const chunk of createReadStream(path, { start, end: start + length - 1 })) hash.update(chunk as Buffer);
  }
  return hash.digest();
}

/** The ETag a multipart upload of the file in parts of `partSize` gets: MD5 of the parts' MD5s, `-`, their count. */
async function multipartEtag(path: string, size: number, partSize: number): Promise<string> {
  const whole = createHash('md5');
  let parts = 0;
  for (let start = 0; start < size; start += partSize) {
    whole.update(await rangeMd5(path, start, Math.min(partSize, size - start)));
    parts++;
  }
  return `${whole.digest('hex')}-${parts}`;
}

/**
 * Whether the file of `size` bytes holds what an object of that ETag holds: a plain ETag is compared with the file's
 * MD5; a multipart one with the file cut as the upload cut it, at this client's part size or one of PART_SIZES that
 * gives the same number of parts. Any other ETag (an encrypted object's) cannot tell, and answers false.
 */
export async function holdsEtag(path: string, size: number, etag: string): Promise<boolean> {
  const tag = etag.toLowerCase();
  if (MD5_ETAG.test(tag)) return (await rangeMd5(path, 0, size)).toString('hex') === tag;
  const multipart = /^[0-9a-f]{32}-(\d+)$/.exec(tag);
  if (multipart === null) return false;
  const parts = Number(multipart[1]);
  const sizes = new Set([partSizeFor(size), ...PART_SIZES].filter((part) => Math.ceil(size / part) === parts));
  for (const partSize of sizes) if ((await multipartEtag(path, size, partSize)) === tag) return true;
  return false;
}
