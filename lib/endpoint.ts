/**
 * Addressing: where a request for the bucket or one of its keys goes, as a
 * RequestTarget resolved once (origin, host, encoded path, query), and the
 * download link a key gets, from a StorageConfig. Keys are encoded once with
 * encodeKey and never normalised, so `a//b` and `../x` reach the server as
 * written. Nothing downstream parses or rebuilds a URL string.
 */
import type { StorageConfig } from './config.js';
import { encodeKey } from './encoding.js';
import { CredentialsError, InvalidArgumentError } from './errors.js';
import { hostNeedsPathStyle } from './providers.js';
import { checkHeaderValues } from './requests.js';
import { type HeadersInput, RequestTarget, SigV4Signer } from './signer.js';

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

/** Each addressing rule as a sentence part: `path-style (IP address or localhost)`. */
const ADDRESSING_TEXT: Readonly<Record<Addressing, string>> = {
  'virtual-hosted': 'virtual-hosted',
  'path-style': 'path-style',
  'path-style: IP address or localhost': 'path-style (IP address or localhost)',
  'path-style: dotted bucket over https': 'path-style (dotted bucket over https)',
};

/** An addressing rule as doctor and messages write it. */
export function describeAddressing(addressing: Addressing): string {
  return ADDRESSING_TEXT[addressing];
}

/**
 * Which download link a configuration gives ("Pre-signed vs Public URLs"): the CDN's, a presigned one, or the plain
 * object URL.
 */
export type LinkKind = 'cdn' | 'presigned' | 'plain';

/** The download-link kind of a configuration: public_url_base wins, then presigned_expiry_secs above 0, else plain. */
export function linkKind(config: StorageConfig): LinkKind {
  if (config.publicUrlBase !== undefined) return 'cdn';
  return config.presignedExpirySecs > 0 ? 'presigned' : 'plain';
}

/** The expiry of an explicit presign: the call's, else presigned_expiry_secs, else an hour when that is 0. */
export function presignExpiry(config: StorageConfig, expiresIn?: number): number {
  return expiresIn ?? (config.presignedExpirySecs > 0 ? config.presignedExpirySecs : DEFAULT_PRESIGN_EXPIRY);
}

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
  // isWellFormed (Node 20) takes a tenth of the time of a /\p{Cs}/u test, and this runs for every request.
  if (!key.isWellFormed()) {
    throw new InvalidArgumentError('key', 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0) throw new InvalidArgumentError('key', 'must not be empty');
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError('key', `is ${bytes} bytes in UTF-8; S3 keys are at most ${MAX_KEY_BYTES}`);
  }
  return key;
}

/** Where requests for a configuration's bucket go, and the links its objects get. */
export class Endpoint {
  readonly config: StorageConfig;
  readonly addressing: Addressing;
  #signer: SigV4Signer | undefined;
  /** The host name requests go to, without port: `bucket.s3.amazonaws.com`, or the endpoint's own in path-style. */
  readonly hostname: string;
  /** `scheme://authority` of every request. */
  readonly #origin: string;
  /** The `host` header: the origin's authority. */
  readonly #host: string;
  /** The path of the bucket with a trailing `/`: an encoded key appended makes the object's path. */
  readonly #prefixPath: string;

  constructor(config: StorageConfig) {
    this.config = config;
    const { protocol, host, hostname, basePath } = config.endpointParts;
    this.addressing = addressingFor(config, protocol, hostname);
    const virtual = this.addressing === 'virtual-hosted';
    this.hostname = virtual ? `${config.bucket}.${hostname}` : hostname;
    this.#host = virtual ? `${config.bucket}.${host}` : host;
    this.#origin = `${protocol}//${this.#host}`;
    this.#prefixPath = virtual ? `${basePath}/` : `${basePath}/${config.bucket}/`;
  }

  /**
   * Signs requests and presigned URLs with the configuration's own keys and region. Keys from the credential chain are
   * fetched and refreshed by S3Client, which signs with them: without keys of its own, this throws CredentialsError.
   */
  get signer(): SigV4Signer {
    if (this.#signer !== undefined) return this.#signer;
    const credentials = this.config.credentials();
    if (credentials === undefined) {
      throw new CredentialsError(
        'the configuration has no keys of its own: they come from the credential chain, which S3Client asks; presign with client.presign()',
      );
    }
    this.#signer = new SigV4Signer({ ...credentials, region: this.config.region, service: 's3' });
    return this.#signer;
  }

  /**
   * The target of a bucket request (ListObjectsV2, DeleteObjects, ...); `query` is encoded already (see formatQuery).
   */
  bucketTarget(query = ''): RequestTarget {
    return new RequestTarget(this.#origin, this.#host, this.#bucketPath(), query);
  }

  /** The target of a request for the object `key`; `query` is encoded already (see formatQuery). */
  objectTarget(key: string, query = ''): RequestTarget {
    return new RequestTarget(this.#origin, this.#host, this.#objectPath(key), query);
  }

  /** The bucket's URL, for bucket-level requests. */
  bucketUrl(): string {
    return this.#origin + this.#bucketPath();
  }

  /** The object's URL: where its requests go, and its plain link when the bucket allows public reads. */
  objectUrl(key: string): string {
    return this.#origin + this.#objectPath(key);
  }

  /** A presigned URL for the object, signed by `signer` (the configuration's keys by default). */
  presign(key: string, options: ObjectPresignOptions = {}, signer: SigV4Signer = this.signer): string {
    const expiresIn = presignExpiry(this.config, options.expiresIn);
    // Whoever uses the URL sends these headers: as for the client's own, ASCII only.
    checkHeaderValues(options.headers);
    const request = { method: options.method ?? 'GET', url: this.objectTarget(key), headers: options.headers };
    return signer.presign(request, { expiresIn, date: options.date });
  }

  /**
   * The download link the configuration gives a key ("Pre-signed vs Public
   * URLs"): `{public_url_base}/{key}` when public_url_base is set; else a
   * presigned GET valid for presigned_expiry_secs when that is above 0; else
   * the plain object URL.
   */
  downloadUrl(
    key: string,
    options: { date?: Date | number | undefined } = {},
    presign: (key: string, options: ObjectPresignOptions) => string = (k, o) => this.presign(k, o),
  ): string {
    switch (linkKind(this.config)) {
      case 'cdn':
        return `${this.config.publicUrlBase}/${encodeKey(checkKey(key))}`;
      case 'presigned':
        return presign(key, { expiresIn: this.config.presignedExpirySecs, date: options.date });
      case 'plain':
        return this.objectUrl(key);
    }
  }

  /** Path-style bucket requests go to /bucket (S3 API Reference, "Virtual hosting of buckets"). */
  #bucketPath(): string {
    return this.addressing === 'virtual-hosted' ? this.#prefixPath : this.#prefixPath.slice(0, -1);
  }

  #objectPath(key: string): string {
    return this.#prefixPath + encodeKey(checkKey(key));
  }
}

function addressingFor(config: StorageConfig, protocol: string, hostname: string): Addressing {
  if (config.forcePathStyle) return 'path-style';
  if (hostNeedsPathStyle(hostname)) return 'path-style: IP address or localhost';
  if (protocol === 'https:' && config.bucket.includes('.')) return 'path-style: dotted bucket over https';
  return 'virtual-hosted';
}
