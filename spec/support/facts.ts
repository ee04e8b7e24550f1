/**
 * Where the two servers the suite runs on disagree, in one place: each fact is
 * measured by spec/compatibility.spec.ts, which fails when a server stops
 * behaving as written here, and checks the README's Compatibility table
 * against it. The other server-backed specs read these facts where an
 * expectation depends on the server, instead of testing one server's dialect.
 */

/** What one S3 implementation does where implementations differ. */
export interface ServerFacts {
  /** The README column: the implementation and the version the suite runs. */
  readonly column: string;
  /** Accepts `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (aws-chunked) uploads; false means 501 NotImplemented. */
  readonly awsChunked: boolean;
  /** `If-None-Match: *` on PutObject: refused when the key exists (honoured), or 501 NotImplemented on every PUT. */
  readonly ifNoneMatchOnPut: 'honoured' | 'not implemented';
  /** `If-None-Match: *` on CompleteMultipartUpload over an existing key: 412 (honoured), or the object is replaced. */
  readonly ifNoneMatchOnComplete: 'honoured' | 'ignored';
  /** A wrong `x-amz-checksum-crc32` on PutObject: refused (verified) or stored without a word (ignored). */
  readonly checksumHeaders: 'verified' | 'ignored';
  /** DeleteObjects without `Content-MD5`: refused (required), or carried out (not required). */
  readonly deleteObjectsMd5: 'required' | 'not required';
  /** The longest key PutObject accepts, in UTF-8 bytes; one more gets 400 with `keyTooLongCode`. */
  readonly maxKeyBytes: number;
  readonly keyTooLongCode: string;
  /** The longest key a multipart upload of up to `maxParts` parts takes, in UTF-8 bytes; a longer one gets 500. */
  readonly maxMultipartKeyBytes: number;
  /** The highest part number UploadPart accepts, one more gets 400 InvalidArgument; undefined: 10,001 is accepted. */
  readonly maxParts: number | undefined;
  /**
   * A reply whose XML names a key with a control character XML 1.0 cannot carry (U+0001): written as a character
   * reference, or 500 InternalError instead. Seen in ListObjectsV2 without `encoding-type=url` and in
   * CreateMultipartUpload, whose reply names the key.
   */
  readonly controlCharactersInXml: boolean;
  /** GetBucketLocation's LocationConstraint for a bucket made without one. */
  readonly bucketLocation: string;
  /** The elements of a NoSuchKey error body, in order. */
  readonly errorElements: readonly string[];
  /** Whether NoSuchKey's `<Message>` has text. */
  readonly errorMessages: boolean;
  /**
   * A copy of a multipart object: CopyObject's reply and HEAD give the copy the ETag the server stored; a listing
   * gives the same, or the MD5 of its bytes (the copy is stored as one object, named by the source's ETag).
   */
  readonly copyEtagListed: 'as HEAD' | 'the MD5';
  /** The type of an object uploaded in parts without one, CompleteMultipartUpload sent as `application/xml`. */
  readonly multipartDefaultType: 'binary/octet-stream' | 'application/xml';
  /** PutBucketPolicy works (so anonymous reads can be granted), or 501 NotImplemented. */
  readonly bucketPolicies: boolean;
  /** Browser-form uploads (POST Object), or refused with this status. */
  readonly postObject: true | number;
  /** An anonymous GET: its status, and whether the body is an S3 XML error. */
  readonly anonymous: { readonly status: number; readonly xml: boolean };
  /** Refuses a request signed for another region (AuthorizationHeaderMalformed), or accepts any region. */
  readonly enforcesRegion: boolean;
  /** The error code for an access key the server does not know. */
  readonly unknownAccessKeyCode: string;
  /** The error code for a body whose SHA-256 is not the signed `x-amz-content-sha256`. */
  readonly payloadMismatchCode: string;
  /** How an `_` in a metadata name comes back: as sent, or as `-`. */
  readonly metadataUnderscore: '_' | '-';
  /** The longest metadata value the server stores, in bytes; a longer one gets 500. Undefined: the header limit only. */
  readonly maxMetadataValueBytes: number | undefined;
}

/** Ceph's RADOS Gateway 16.2 (Debian 12), as spec/support/rgw.ts starts it. */
export const CEPH_FACTS: ServerFacts = {
  column: 'Ceph RGW 16.2',
  awsChunked: true,
  ifNoneMatchOnPut: 'honoured',
  ifNoneMatchOnComplete: 'ignored',
  checksumHeaders: 'ignored',
  deleteObjectsMd5: 'not required',
  maxKeyBytes: 1024,
  keyTooLongCode: 'InvalidObjectName',
  maxMultipartKeyBytes: 1024,
  maxParts: undefined,
  controlCharactersInXml: true,
  bucketLocation: 'us-east-1',
  errorElements: ['Code', 'Message', 'BucketName', 'RequestId', 'HostId'],
  errorMessages: false,
  copyEtagListed: 'as HEAD',
  multipartDefaultType: 'binary/octet-stream',
  bucketPolicies: true,
  postObject: true,
  anonymous: { status: 403, xml: true },
  enforcesRegion: false,
  unknownAccessKeyCode: 'InvalidAccessKeyId',
  payloadMismatchCode: 'XAmzContentSHA256Mismatch',
  metadataUnderscore: '-',
  maxMetadataValueBytes: undefined,
};

/** OpenStack Swift 2.30's s3api middleware (Debian 12), as spec/support/swift.ts starts it. */
export const SWIFT_FACTS: ServerFacts = {
  column: 'Swift 2.30 s3api',
  awsChunked: false,
  ifNoneMatchOnPut: 'not implemented',
  ifNoneMatchOnComplete: 'honoured',
  checksumHeaders: 'ignored',
  deleteObjectsMd5: 'required',
  maxKeyBytes: 1024,
  keyTooLongCode: 'KeyTooLongError',
  // Parts are Swift objects named `<key>/<upload id>/<part number>`, 50 bytes and the number's digits longer than the
  // key, within Swift's 1024 (s3api docs, "Multipart upload"); part numbers stop at s3api's max_upload_part_num.
  maxMultipartKeyBytes: 970,
  maxParts: 1000,
  controlCharactersInXml: false,
  bucketLocation: '',
  errorElements: ['Code', 'Message', 'RequestId', 'Key'],
  errorMessages: true,
  copyEtagListed: 'the MD5',
  multipartDefaultType: 'application/xml',
  bucketPolicies: false,
  postObject: 412,
  anonymous: { status: 400, xml: false },
  enforcesRegion: true,
  unknownAccessKeyCode: 'SignatureDoesNotMatch',
  payloadMismatchCode: 'BadDigest',
  metadataUnderscore: '_',
  // Swift's constraints (swift.conf [swift-constraints] max_meta_value_length, 256 by default).
  maxMetadataValueBytes: 256,
};
