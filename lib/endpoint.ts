/**
 * Addressing: the URL a request for a key goes to, and the download link a
 * key gets, from a StorageConfig. Keys are encoded once with encodeKey and
 * never normalised, so `a//b` and `../x` reach the server as written.
 */
import { hostNeedsPathStyle, type StorageConfig } from './config.js';
import { encodeKey } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { SigV4Signer, type HeadersInput } from './signer.js';

/** The longest object key S3 accepts, in UTF-8 bytes (S3 User Guide, "Naming Amazon S3 objects"). */
export const MAX_KEY_BYTES = 1024;

/** Expiry of an explicit presign when neither the call nor presigned_expiry_secs gives one: an hour. */
export const DEFAULT_PRESIGN_EXPIRY = 3600;

/** Why requests use path-style (`https://host/bucket/key`) or virtual-hosted (`https://bucket.host/key`) URLs. */
export type Addressing =
  | 'virtual-hosted'
  /** force_path_style = true. */
  | 'path-style'
  /** The endpoint host is an IP address or localhost, where no virtual host can exist. */
  | 'path-style: IP address or localhost'
  /** A bucket name with dots does not match the endpoint's TLS wildcard certificate (*.host). */
  | 'path-style: dotted bucket over https';

export interface ObjectPresignOptions {
  /** Defaults to GET. */
  method?: string | undefined;
  /** Seconds, 1 to 604800; defaults to presigned_expiry_secs, or an hour when that is 0. */
  expiresIn?: number | undefined;
  /** Headers the URL's user must send (content-type for a PUT, say); they are signed. */
  headers?: HeadersInput | undefined;
  /** The signing time; defaults to now. */
  date?: Date | number | undefined;
}

/** Checks an object key: a string of 1 to 1024 UTF-8 bytes. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidArgumentError('key', `must be a string, got ${typeof key}`);
  // Buffer.byteLength would count a lone surrogate as the 3 bytes of U+FFFD; it has no UTF-8 form at all.
  if (/\p{Cs}/u.test(key)) throw new InvalidArgumentError('key', 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0) throw new InvalidArgumentError('key', 'must not be empty');
  if (bytes > MAX_KEY_BYTES) throw new InvalidArgumentError('key', `is ${bytes} bytes in UTF-8; S3 keys are at most ${MAX_KEY_BYTES}`);
  return key;
}

/** Where requests for a configuration's bucket go, and the links its objects get. */
export class Endpoint {
  readonly config: StorageConfig;
  readonly addressing: Addressing;
  /** Signs requests and presigned URLs with the configuration's credentials and region. */
  readonly signer: SigV4Signer;
  /** The bucket's URL with a trailing `/`: an encoded key appended makes the object's URL. */
  readonly #bucketPrefix: string;

  constructor(config: StorageConfig) {
    this.config = config;
    this.signer = new SigV4Signer({ ...config.credentials(), region: config.region, service: 's3' });
    const endpoint = new URL(config.endpoint);
    // config.endpoint is origin + base path without a trailing slash.
    const basePath = config.endpoint.slice(endpoint.origin.length);
    this.addressing = addressingFor(config, endpoint);
    this.#bucketPrefix = this.addressing === 'virtual-hosted'
      ? `${endpoint.protocol}//${config.bucket}.${endpoint.host}${basePath}/`
      : `${config.endpoint}/${config.bucket}/`;
  }

  /** The bucket's URL, for bucket-level requests (ListObjectsV2, DeleteObjects, ...). */
  bucketUrl(): string {
    // Path-style bucket requests go to /bucket (S3 API Reference, "Virtual hosting of buckets").
    return this.addressing === 'virtual-hosted' ? this.#bucketPrefix : this.#bucketPrefix.slice(0, -1);
  }

  /** The object's URL: where its requests go, and its plain link when the bucket allows public reads. */
  objectUrl(key: string): string {
    return this.#bucketPrefix + encodeKey(checkKey(key));
  }

  /** A presigned URL for the object. */
  presign(key: string, options: ObjectPresignOptions = {}): string {
    const expiresIn = options.expiresIn ?? (this.config.presignedExpirySecs > 0 ? this.config.presignedExpirySecs : DEFAULT_PRESIGN_EXPIRY);
    return this.signer.presign({ method: options.method ?? 'GET', url: this.objectUrl(key), headers: options.headers }, { expiresIn, date: options.date });
  }

  /**
   * The download link the configuration gives a key ("Pre-signed vs Public
   * URLs"): `{public_url_base}/{key}` when public_url_base is set; else a
   * presigned GET valid for presigned_expiry_secs when that is above 0; else
   * the plain object URL.
   */
  downloadUrl(key: string, options: { date?: Date | number | undefined } = {}): string {
    const { publicUrlBase, presignedExpirySecs } = this.config;
    if (publicUrlBase !== undefined) return `${publicUrlBase}/${encodeKey(checkKey(key))}`;
    if (presignedExpirySecs > 0) return this.presign(key, { expiresIn: presignedExpirySecs, date: options.date });
    return this.objectUrl(key);
  }
}

function addressingFor(config: StorageConfig, endpoint: URL): Addressing {
  if (config.forcePathStyle) return 'path-style';
  if (hostNeedsPathStyle(endpoint.hostname)) return 'path-style: IP address or localhost';
  if (endpoint.protocol === 'https:' && config.bucket.includes('.')) return 'path-style: dotted bucket over https';
  return 'virtual-hosted';
}
