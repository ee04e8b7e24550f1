/**
 * AWS Signature Version 4 (AWS General Reference, "Create a signed AWS API
 * request"; S3 API Reference, "Signature Calculations for the Authorization
 * Header" and "Query Parameters"): the four tasks, then signing with the
 * Authorization header and presigning with query parameters. Task 1's parts
 * are in canonical.ts, task 3's key and HMAC in signing-key.ts, signed
 * streaming in chunked.ts and POST forms in post-policy.ts.
 *
 * Pure and synchronous: no I/O, and no clock unless the caller omits `date`.
 * A signer keeps four caches, each of values derived from its inputs: the
 * current second's X-Amz-Date, the current day's scope, credential and
 * signing key, the canonical form of the header names it has seen (at most
 * 256), and the origin and host of the last URL string it split (a target
 * Endpoint resolved is signed as it is). Signing keys are shared across
 * signers in signing-key.ts's cache.
 */
import { hash } from 'node:crypto';
import {
  type HeadersInput,
  PRINTABLE,
  RequestTarget,
  type CanonicalHeaders,
  FixedHeaders,
  canonicalHeaders,
  canonicalQueryPairs,
  checkExpiry,
  checkMethod,
  checkText,
  comparePairs,
  joinPairs,
  payloadHashHeader,
  splitUrl,
} from './canonical.js';
import { ChunkSigner, DEFAULT_CHUNK_SIZE, EMPTY_SHA256, STREAMING_PAYLOAD, streamingFraming } from './chunked.js';
import { canonicalPath, encodeComponent, encodeKey, normalizePath } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { type PostPolicyInput, type PresignedPost, signPostPolicy } from './post-policy.js';
import { ALGORITHM, SigningKey, cachedSigningKey } from './signing-key.js';

export type { HeadersInput, HeaderValue } from './canonical.js';
export { MAX_PRESIGN_EXPIRY, RequestTarget } from './canonical.js';
export { ChunkSigner, EMPTY_SHA256, MIN_CHUNK_SIZE, STREAMING_PAYLOAD, streamingContentLength } from './chunked.js';
export type { PostCondition, PostPolicyDocument, PostPolicyInput, PresignedPost } from './post-policy.js';
export { ALGORITHM, SigningKey, deriveSigningKey } from './signing-key.js';

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/**
 * `s3`: the path is signed as sent (encoded once, never normalised) and
 * `x-amz-content-sha256` is sent with every request.
 * `generic`: other AWS services' rules, which the aws-sig-v4 test suites use:
 * the path is normalised and then encoded again (double encoding).
 */
export type SigningMode = 's3' | 'generic';

export interface SignerOptions {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  region: string;
  /** Defaults to `s3`. */
  service?: string;
  /** Defaults to `s3`. */
  mode?: SigningMode;
  /** Send and sign `x-amz-content-sha256`. Defaults to true in `s3` mode, false in `generic` mode. */
  contentSha256Header?: boolean;
  /**
   * Sign the session token (default). Some non-S3 services want it added
   * after signing instead (botocore suite, post-sts-token/readme.txt).
   */
  signSessionToken?: boolean;
}

export interface SignRequest {
  method: string;
  /**
   * Absolute URL whose path is already encoded (see encodeKey); it is never
   * normalised in `s3` mode. Or a target already split, as Endpoint resolves it.
   */
  url: string | RequestTarget;
  headers?: HeadersInput | undefined;
  /** The body, hashed here when `payloadHash` is not given. */
  body?: string | Uint8Array | undefined;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  payloadHash?: string | undefined;
}

export interface SignOptions {
  /** The signing time; defaults to now. Tests pass a fixed one. */
  date?: Date | number | undefined;
}

export interface PresignOptions extends SignOptions {
  /** Seconds the URL stays valid: 1 to 604800. */
  expiresIn: number;
}

/** Headers to add to the request. */
export interface SignedHeaders {
  authorization: string;
  'x-amz-date': string;
  'x-amz-content-sha256'?: string;
  'x-amz-security-token'?: string;
}

/** Headers to add to a signed streaming upload. */
export interface StreamingSignedHeaders extends SignedHeaders {
  'x-amz-content-sha256': string;
  'content-encoding': string;
  'content-length': string;
  'x-amz-decoded-content-length': string;
}

/** The intermediate values of a signature, for tests and for debugging `SignatureDoesNotMatch`. */
export interface SignatureSteps {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

export interface HeaderSignature extends SignatureSteps {
  headers: SignedHeaders;
}

export interface QuerySignature extends SignatureSteps {
  url: string;
}

export interface StreamingOptions extends SignOptions {
  /** Length of the object's bytes (before chunk framing). */
  contentLength: number;
  /**
   * Size of every chunk but the last two (the short tail and the empty final chunk); at least 8192. Defaults to
   * 65536.
   */
  chunkSize?: number;
}

export interface StreamingSignature {
  headers: StreamingSignedHeaders;
  /** Signs the chunks in order; the last one must be empty. */
  chunks: ChunkSigner;
}

// ---------------------------------------------------------------------------
// The tasks, as the signer runs them.

/** Task 1: the canonical request. */
export function canonicalRequest(
  method: string,
  canonicalUri: string,
  canonicalQuery: string,
  canonicalHeadersText: string,
  signedHeaders: string,
  payloadHash: string,
): string {
  return `${method}\n${canonicalUri}\n${canonicalQuery}\n${canonicalHeadersText}\n${signedHeaders}\n${payloadHash}`;
}

/** Task 2: the string to sign. */
export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return `${stringToSignStart(amzDate, scope)}${hash('sha256', canonicalRequestText)}`;
}

/** The string to sign up to the canonical request's hash: the same for every request of a signing second. */
function stringToSignStart(amzDate: string, scope: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n`;
}

/** Task 4: the signature, lower-case hex. */
export function signature(signingKey: SigningKey | Uint8Array, stringToSignText: string): string {
  if (signingKey instanceof SigningKey) return signingKey.sign(stringToSignText);
  return new SigningKey(signingKey).sign(stringToSignText);
}

/** Hex SHA-256 of a body. */
export function hashPayload(body: string | Uint8Array): string {
  return hash('sha256', body);
}

const HOST_ONLY = new FixedHeaders(['host']);
/** The query parameters a presign adds (S3 API Reference, "Query Parameters"), lower-cased. */
const PRESIGN_PARAMS: ReadonlySet<string> = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-security-token',
  'x-amz-signedheaders',
  'x-amz-signature',
]);
const SCOPE_PART = /^[\x21-\x2e\x30-\x7e]+$/;

/** One signing second: its X-Amz-Date and day scope. */
interface Moment {
  second: number;
  amzDate: string;
  day: DayScope;
  /** See stringToSignStart. */
  stringToSignStart: string;
}

/** Per-day values of a signer: scope, credential and signing key. */
interface DayScope {
  dateStamp: string;
  scope: string;
  credential: string;
  encodedCredential: string;
  /** The Authorization header up to the signed headers list. */
  authorizationPrefix: string;
  key: SigningKey;
}

/**
 * Signs requests with AWS Signature Version 4.
 *
 * ```ts
 * const signer = new SigV4Signer({ accessKeyId, secretAccessKey, region: 'us-east-1' });
 * const headers = signer.sign({ method: 'GET', url: 'https://bucket.s3.amazonaws.com/' + encodeKey(key) });
 * ```
 */
export class SigV4Signer {
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
  readonly mode: SigningMode;
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;
  readonly #contentSha256Header: boolean;
  readonly #signSessionToken: boolean;
  /** The headers the signer sets and signs itself. */
  readonly #fixed: FixedHeaders;
  #lastMoment: Moment | undefined;
  /** The last URL string's target, whose origin and host the next one to the same origin reuses. */
  #lastSplit: RequestTarget | undefined;
  /** Header names seen, see canonicalHeaders. */
  readonly #knownNames = new Map<string, string>();
  #lastDay: DayScope | undefined;

  constructor(options: SignerOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'must be an object with accessKeyId, secretAccessKey and region');
    }
    this.accessKeyId = checkText(
      options.accessKeyId,
      'accessKeyId',
      PRINTABLE,
      'must be printable ASCII without spaces',
    );
    if (typeof options.secretAccessKey !== 'string' || options.secretAccessKey === '') {
      throw new InvalidArgumentError('secretAccessKey', 'must be a non-empty string');
    }
    this.#secretAccessKey = options.secretAccessKey;
    if (options.sessionToken !== undefined) {
      this.#sessionToken = checkText(
        options.sessionToken,
        'sessionToken',
        PRINTABLE,
        'must be printable ASCII without spaces',
      );
    }
    const scopeRule = 'must be printable ASCII without spaces or "/", such as';
    this.region = checkText(options.region, 'region', SCOPE_PART, `${scopeRule} us-east-1`);
    this.service = checkText(options.service ?? 's3', 'service', SCOPE_PART, `${scopeRule} s3`);
    const mode = options.mode ?? 's3';
    if (mode !== 's3' && mode !== 'generic') {
      throw new InvalidArgumentError('mode', `must be "s3" or "generic", got ${String(mode)}`);
    }
    this.mode = mode;
    this.#contentSha256Header = options.contentSha256Header ?? mode === 's3';
    this.#signSessionToken = options.signSessionToken ?? true;
    const fixedNames = ['host'];
    if (this.#contentSha256Header) fixedNames.push('x-amz-content-sha256');
    fixedNames.push('x-amz-date');
    if (this.#sessionToken !== undefined && this.#signSessionToken) fixedNames.push('x-amz-security-token');
    this.#fixed = new FixedHeaders(fixedNames);
  }

  /** Signs with the `Authorization` header; returns the headers to add. */
  sign(request: SignRequest, options?: SignOptions): SignedHeaders {
    return this.explainSign(request, options).headers;
  }

  /** Presigns with `X-Amz-*` query parameters; returns the URL to use. */
  presign(request: SignRequest, options: PresignOptions): string {
    return this.explainPresign(request, options).url;
  }

  /** `sign()` with its canonical request and string to sign. */
  explainSign(request: SignRequest, options?: SignOptions): HeaderSignature {
    const method = checkMethod(request.method);
    const target = this.#target(request.url);
    const moment = this.#moment(options?.date);
    const { amzDate } = moment;
    const payloadHash = this.#payloadHash(request, request.body === undefined ? EMPTY_SHA256 : undefined);
    const added: SignedHeaders = { authorization: '', 'x-amz-date': amzDate };
    // Values in the order of #fixed: host, [x-amz-content-sha256], x-amz-date, [x-amz-security-token].
    const fixedValues = [target.host];
    if (this.#contentSha256Header) {
      added['x-amz-content-sha256'] = payloadHash;
      fixedValues.push(payloadHash);
    }
    fixedValues.push(amzDate);
    if (this.#sessionToken !== undefined) {
      added['x-amz-security-token'] = this.#sessionToken;
      if (this.#signSessionToken) fixedValues.push(this.#sessionToken);
    }
    const headers = canonicalHeaders(request.headers, this.#fixed, fixedValues, this.#knownNames);
    const query = target.query === '' ? '' : joinPairs(canonicalQueryPairs(target.query));
    const steps = this.#steps(method, target, query, headers, payloadHash, moment);
    added.authorization = `${moment.day.authorizationPrefix}${headers.signed}, Signature=${steps.signature}`;
    // Written out: a spread of steps costs about as much as the signature itself.
    const { canonicalRequest: creq, stringToSign: sts, signature: sig } = steps;
    return { canonicalRequest: creq, stringToSign: sts, signature: sig, headers: added };
  }

  /** `presign()` with its canonical request and string to sign. */
  explainPresign(request: SignRequest, options: PresignOptions): QuerySignature {
    const method = checkMethod(request.method);
    const expiresIn = checkExpiry(options?.expiresIn, 'expiresIn');
    const target = this.#target(request.url);
    const moment = this.#moment(options.date);
    const { amzDate, day } = moment;
    // S3 presigned URLs never sign the body (S3 API Reference, "Query Parameters").
    const payloadHash = this.#payloadHash(request, this.mode === 's3' ? UNSIGNED_PAYLOAD : undefined);
    const headers = canonicalHeaders(request.headers, HOST_ONLY, [target.host], this.#knownNames);
    const token = this.#sessionToken;
    const amzParams: Array<[string, string]> = [
      ['X-Amz-Algorithm', ALGORITHM],
      ['X-Amz-Credential', day.encodedCredential],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(expiresIn)],
    ];
    if (token !== undefined && this.#signSessionToken) amzParams.push(['X-Amz-Security-Token', encodeComponent(token)]);
    amzParams.push(['X-Amz-SignedHeaders', headers.signed === 'host' ? 'host' : encodeComponent(headers.signed)]);
    const userParams = canonicalQueryPairs(target.query);
    for (const [name] of userParams) {
      if (PRESIGN_PARAMS.has(name.toLowerCase())) {
        throw new InvalidArgumentError(
          'url',
          `already carries ${name}; presign a URL without X-Amz-* signing parameters`,
        );
      }
    }
    const query = joinPairs(userParams.length === 0 ? amzParams : userParams.concat(amzParams).sort(comparePairs));
    const steps = this.#steps(method, target, query, headers, payloadHash, moment);
    let url = `${target.origin}${target.path}?${query}&X-Amz-Signature=${steps.signature}`;
    if (token !== undefined && !this.#signSessionToken) url += `&X-Amz-Security-Token=${encodeComponent(token)}`;
    const { canonicalRequest: creq, stringToSign: sts, signature: sig } = steps;
    return { canonicalRequest: creq, stringToSign: sts, signature: sig, url };
  }

  /**
   * Signs the headers of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload and
   * returns the chunk signer that continues the chain, so a stream is sent
   * without being buffered. Send `chunks.chunkHeader(data)`, the data and
   * `\r\n` for each chunk of `chunkSize` bytes (the last may be shorter), then
   * an empty final chunk.
   */
  signStreaming(request: Omit<SignRequest, 'body' | 'payloadHash'>, options: StreamingOptions): StreamingSignature {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const { headers, framing } = streamingFraming(request.headers, options.contentLength, chunkSize);
    const signed = this.explainSign(
      { method: request.method, url: request.url, headers: { ...headers, ...framing }, payloadHash: STREAMING_PAYLOAD },
      options,
    );
    const amzDate = signed.headers['x-amz-date'];
    const day = this.#day(amzDate.slice(0, 8));
    return {
      headers: { ...signed.headers, 'x-amz-content-sha256': STREAMING_PAYLOAD, ...framing } as StreamingSignedHeaders,
      chunks: new ChunkSigner(day.key, amzDate, day.scope, signed.signature, chunkSize),
    };
  }

  /** A presigned POST form for browser uploads (see post-policy.ts). */
  presignPost(input: PostPolicyInput, options?: SignOptions): PresignedPost {
    return signPostPolicy(input, () => {
      const { second, amzDate, day } = this.#moment(options?.date);
      return { second, amzDate, credential: day.credential, sessionToken: this.#sessionToken, key: day.key };
    });
  }

  /** Tasks 1, 2 and 4 over a request's canonical parts. */
  #steps(
    method: string,
    target: RequestTarget,
    query: string,
    headers: CanonicalHeaders,
    payloadHash: string,
    moment: Moment,
  ): SignatureSteps {
    const creq = canonicalRequest(
      method,
      this.#canonicalUri(target.path),
      query,
      headers.canonical,
      headers.signed,
      payloadHash,
    );
    // Task 2, stringToSign() with its start made once per second.
    const sts = moment.stringToSignStart + hash('sha256', creq);
    return { canonicalRequest: creq, stringToSign: sts, signature: signature(moment.day.key, sts) };
  }

  #moment(input: Date | number | undefined): Moment {
    const ms = input === undefined ? Date.now() : input instanceof Date ? input.getTime() : input;
    if (typeof ms !== 'number' || !Number.isFinite(ms)) {
      throw new InvalidArgumentError('date', 'must be a valid Date or a number of milliseconds');
    }
    const second = Math.floor(ms / 1000);
    const last = this.#lastMoment;
    if (last !== undefined && second === last.second) return last;
    // ECMAScript Date covers 8.64e15 ms either side of 1970; SigV4 dates have four-digit years.
    const iso = Math.abs(ms) <= 8.64e15 ? new Date(second * 1000).toISOString() : '';
    if (iso.length !== 24) throw new InvalidArgumentError('date', 'must fall in the years 0000 to 9999');
    const dateStamp = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10);
    const amzDate = `${dateStamp}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
    const day = this.#day(dateStamp);
    this.#lastMoment = { second, amzDate, day, stringToSignStart: stringToSignStart(amzDate, day.scope) };
    return this.#lastMoment;
  }

  #day(dateStamp: string): DayScope {
    const last = this.#lastDay;
    if (last !== undefined && last.dateStamp === dateStamp) return last;
    const scope = `${dateStamp}/${this.region}/${this.service}/aws4_request`;
    const credential = `${this.accessKeyId}/${scope}`;
    this.#lastDay = {
      dateStamp,
      scope,
      credential,
      encodedCredential: encodeComponent(credential, 'accessKeyId'),
      authorizationPrefix: `${ALGORITHM} Credential=${credential}, SignedHeaders=`,
      key: cachedSigningKey(this.#secretAccessKey, dateStamp, this.region, this.service),
    };
    return this.#lastDay;
  }

  /** A request's target: as Endpoint resolved it, or split from its URL string (which splitUrl checks). */
  #target(url: string | RequestTarget): RequestTarget {
    if (url instanceof RequestTarget) return url;
    this.#lastSplit = splitUrl(url, this.#lastSplit);
    return this.#lastSplit;
  }

  #canonicalUri(path: string): string {
    return this.mode === 's3' ? canonicalPath(path) : encodeKey(normalizePath(path), 'url');
  }

  /** The caller's payloadHash, else its x-amz-content-sha256 header, else `fallback`, else the body's hash. */
  #payloadHash(request: SignRequest, fallback: string | undefined): string {
    const given = request.payloadHash;
    const header = payloadHashHeader(request.headers);
    if (given !== undefined && header !== undefined && given !== header) {
      throw new InvalidArgumentError('payloadHash', 'differs from the x-amz-content-sha256 header; pass one of them');
    }
    const chosen = given ?? header;
    if (chosen !== undefined) {
      // The two constants (most GETs and empty bodies) need no pattern test.
      if (chosen === UNSIGNED_PAYLOAD || chosen === EMPTY_SHA256) return chosen;
      if (typeof chosen !== 'string' || !PRINTABLE.test(chosen)) {
        throw new InvalidArgumentError('payloadHash', 'must be a hex SHA-256 or UNSIGNED-PAYLOAD');
      }
      return chosen;
    }
    if (request.body !== undefined) {
      if (typeof request.body !== 'string' && !(request.body instanceof Uint8Array)) {
        throw new InvalidArgumentError(
          'body',
          'must be a string or Uint8Array; hash other bodies yourself and pass payloadHash',
        );
      }
      return fallback === UNSIGNED_PAYLOAD ? fallback : hashPayload(request.body);
    }
    return fallback ?? EMPTY_SHA256;
  }
}
