/**
 * Integrity headers of upload bodies, off unless asked for: flexible
 * checksums break R2, COS and older MinIO (S3 User Guide, "Checking object
 * integrity"; Cloudflare R2 docs, "S3 API compatibility").
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';

export type Checksum = 'md5' | 'crc32' | 'sha256';

/** Checks a checksum option. */
export function checkChecksum(checksum: Checksum | undefined): Checksum | undefined {
  if (checksum !== undefined && !['md5', 'crc32', 'sha256'].includes(checksum)) {
    throw new InvalidArgumentError('checksum', `must be md5, crc32 or sha256, got ${String(checksum)}`);
  }
  return checksum;
}

/** `Content-MD5` or `x-amz-checksum-*` of a body, read through once; none (and nothing read) without a checksum. */
export async function checksumHeaders(
  checksum: Checksum | undefined,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Record<string, string>> {
  if (checksum === undefined) return {};
  if (checksum === 'crc32') {
    // zlib is loaded by those who ask for CRC32, not by every import (issue 14).
    const { crc32 } = await import('node:zlib');
    let crc = 0;
    for await (const chunk of chunks) crc = crc32(chunk, crc);
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(crc);
    return { 'x-amz-checksum-crc32': bytes.toString('base64') };
  }
  const digest = (await digestOf(checksum, chunks)).toString('base64');
  return checksum === 'md5' ? { 'content-md5': digest } : { 'x-amz-checksum-sha256': digest };
}

/** The `algorithm` digest of a body read through once: a checksum header's, or the payload hash a signature covers. */
export async function digestOf(
  algorithm: 'md5' | 'sha256',
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<Buffer> {
  const hash = createHash(algorithm);
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest();
}
