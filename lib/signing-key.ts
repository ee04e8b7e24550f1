/**
 * SigV4 task 3, the signing key, and the HMAC that every signature and chunk
 * signature runs on (AWS General Reference, "Create a signed AWS API
 * request", task 3; RFC 2104).
 *
 * State: one module-level cache of prepared signing keys, one per (secret,
 * date, region, service), at most 64, because a signing key lives a day and
 * every signer of the same credentials shares it.
 */
import { createHmac, hash } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';

/** The SigV4 algorithm name, first line of every string to sign and the form field of a POST policy. */
export const ALGORITHM = 'AWS4-HMAC-SHA256';

/** Task 3: the signing key, HMAC chain over date, region, service and `aws4_request`. */
export function deriveSigningKey(secretAccessKey: string, dateStamp: string, region: string, service: string): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(dateStamp).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** SHA-256's block size, B in RFC 2104. */
const BLOCK = 64;
const UTF8 = new TextEncoder();

/**
 * A signing key ready for HMAC-SHA256 (RFC 2104): its two padded key blocks
 * are prepared once, so each MAC is two one-shot SHA-256 calls over reused
 * buffers. A createHmac object per signature costs about twice as much, and
 * that HMAC is most of what signing a request costs.
 */
export class SigningKey {
  /** K xor ipad, followed by the message. */
  #inner: Buffer;
  /** The part of #inner after the key block. */
  #message: Uint8Array;
  /** The key block and the last message. */
  #innerView: Uint8Array;
  /** K xor opad, followed by the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + 32);

  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length === 0 || key.length > BLOCK) {
      throw new InvalidArgumentError('signingKey', 'must be 1 to 64 bytes, such as deriveSigningKey() returns');
    }
    this.#inner = Buffer.alloc(BLOCK + 256);
    this.#message = this.#inner.subarray(BLOCK);
    this.#innerView = this.#inner.subarray(0, BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      const k = key[i] ?? 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  /** Lower-case hex HMAC-SHA256 of the UTF-8 form of `message`. */
  sign(message: string): string {
    let encoded = UTF8.encodeInto(message, this.#message);
    if (encoded.read !== message.length) {
      // A UTF-16 code unit takes at most 3 UTF-8 bytes.
      const grown = Buffer.alloc(BLOCK + message.length * 3);
      this.#inner.copy(grown, 0, 0, BLOCK);
      this.#inner = grown;
      this.#message = grown.subarray(BLOCK);
      this.#innerView = grown.subarray(0, BLOCK);
      encoded = UTF8.encodeInto(message, this.#message);
    }
    // Strings to sign of one signer share a length, so the view is usually reused.
    if (this.#innerView.length !== BLOCK + encoded.written) {
      this.#innerView = this.#inner.subarray(0, BLOCK + encoded.written);
    }
    // A 'binary' (latin1) digest is one char per byte; a Buffer digest costs an allocation more.
    this.#outer.write(hash('sha256', this.#innerView, 'binary'), BLOCK, 'latin1');
    return hash('sha256', this.#outer, 'hex');
  }
}

const KEY_CACHE_LIMIT = 64;
const keyCache = new Map<string, SigningKey>();

/** The prepared signing key of (secret, date, region, service), derived once a day. */
export function cachedSigningKey(
  secretAccessKey: string,
  dateStamp: string,
  region: string,
  service: string,
): SigningKey {
  const id = `${dateStamp}\n${region}\n${service}\n${secretAccessKey}`;
  let key = keyCache.get(id);
  if (key === undefined) {
    key = new SigningKey(deriveSigningKey(secretAccessKey, dateStamp, region, service));
    // A key lives one day; dropping all on overflow is simpler than LRU and rarely happens.
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}
