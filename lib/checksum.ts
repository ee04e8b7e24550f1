/**
 * Integrity headers for buffered bodies, off unless asked for: flexible
 * checksums break R2, COS and older MinIO (S3 User Guide, "Checking object
 * integrity"; Cloudflare R2 docs, "S3 API compatibility").
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { InvalidArgumentError } from './errors.js';

export type Checksum = 'md5' | 'crc32' | 'sha256';

/** Checks a checksum option. */
export function checkChecksum(checksum: Checksum | undefined): Checksum | undefined {
  if (checksum !== undefined && !['md5', 'crc32', 'sha256'].includes(checksum)) {
    throw new InvalidArgumentError('checksum', `must be md5, crc32 or sha256, got ${String(checksum)}`);
  }
  return checksum;
}

/** `Content-MD5` or `x-amz-checksum-*` of a buffered body; none without a checksum. */
export function checksumHeaders(checksum: Checksum | undefined, bytes: Uint8Array): Record<string, string> {
  switch (checksum) {
    case 'md5':
      return { 'content-md5': createHash('md5').update(bytes).digest('base64') };
    case 'crc32': {
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(bytes));
      return { 'x-amz-checksum-crc32': crc.toString('base64') };
    }
    case 'sha256':
      return { 'x-amz-checksum-sha256': createHash('sha256').update(bytes).digest('base64') };
    default:
      return {};
  }
}
