/**
 * The XML documents of the S3 API that s3v4 reads and writes (S3 API
 * Reference: ListObjectsV2, DeleteObjects, CopyObject, GetBucketLocation,
 * CreateMultipartUpload, CompleteMultipartUpload, ListMultipartUploads):
 * request bodies escaped with xml.ts's escapeXml(), replies read into plain
 * values. A reply that lacks what the protocol promises is a ProtocolError.
 */
import { createHash } from 'node:crypto';
import type { QueryPair } from './encoding.js';
import { ProtocolError } from './errors.js';
import { unquote } from './replies.js';
import { childrenNamed, escapeXml, parseXml, textOf, type XmlElement } from './xml.js';

export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes, when a delimiter is given. */
  prefixes: string[];
}

/** What a listing asks for (ListOptions of the client, without its page size and signal). */
export interface ListQueryOptions {
  prefix?: string | undefined;
  delimiter?: string | undefined;
  startAfter?: string | undefined;
}

export interface DeleteManyResult {
  deleted: string[];
  errors: Array<{ key: string; code: string; message: string }>;
}

/**
 * Remembers where the next page of a listing starts; a place seen before means the pages would loop forever, so it
 * is refused. `what` names the place in the message: `a continuation token`, `its markers`.
 */
export function nextPage(seen: Set<string>, place: string, label: string, what: string): string {
  if (seen.has(place))
    throw new ProtocolError(`${label}: the server repeated ${what}`, { status: 200, request: label });
  seen.add(place);
  return place;
}

/** The label of ListMultipartUploads requests in messages. */
export const UPLOADS = 'GET ?uploads';

/** An upload in progress, from ListMultipartUploads; `initiated` is an Invalid Date when the reply's cannot be read. */
export interface UploadInProgress {
  key: string;
  uploadId: string;
  initiated: Date;
}

const UTF8 = new TextEncoder();

/**
 * A DeleteObjects request body and the headers it needs: Content-MD5 (or a flexible checksum, which R2, COS and old
 * MinIO refuse).
 */
export function deleteRequest(keys: readonly string[]): { bytes: Uint8Array; headers: Record<string, string> } {
  const objects = keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join('');
  const bytes = UTF8.encode(`<Delete><Quiet>true</Quiet>${objects}</Delete>`);
  const headers = {
    'content-md5': createHash('md5').update(bytes).digest('base64'),
    'content-type': 'application/xml',
  };
  return { bytes, headers };
}

/** A quiet DeleteObjects reply: the keys of `batch` without an <Error> were deleted. */
export function deleteResult(text: string, batch: readonly string[]): DeleteManyResult {
  const result: DeleteManyResult = { deleted: [], errors: [] };
  const failed = new Set<string>();
  for (const error of childrenNamed(parseXml(text), 'Error')) {
    const key = textOf(error, 'Key') ?? '';
    failed.add(key);
    result.errors.push({ key, code: textOf(error, 'Code') ?? '', message: textOf(error, 'Message') ?? '' });
  }
  for (const key of batch) if (!failed.has(key)) result.deleted.push(key);
  return result;
}

/** The label of ListObjectsV2 requests in messages. */
export const LIST = 'GET ?list-type=2';

/** Keys of an `encoding-type=url` listing: form-encoded, `+` for a space (botocore decodes them with unquote_plus). */
function decodeListed(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    const message = `${LIST}: the url-encoded listing holds a malformed escape in ${JSON.stringify(text)}`;
    throw new ProtocolError(message, { status: 200, request: LIST });
  }
}

/** The query of a ListObjectsV2 page: the first with start-after, the next ones with their continuation token. */
export function listQuery(options: ListQueryOptions, pageSize: number, token: string | undefined): QueryPair[] {
  const query: QueryPair[] = [
    ['list-type', '2'],
    ['encoding-type', 'url'],
    ['max-keys', String(pageSize)],
  ];
  if (options.prefix !== undefined) query.push(['prefix', options.prefix]);
  if (options.delimiter !== undefined) query.push(['delimiter', options.delimiter]);
  if (options.startAfter !== undefined && token === undefined) query.push(['start-after', options.startAfter]);
  if (token !== undefined) query.push(['continuation-token', token]);
  return query;
}

/** One ListObjectsV2 page, and the continuation token of the next when it is truncated. */
export function listPage(text: string): { page: ListPage; next: string | undefined } {
  const result = parseXml(text);
  const decode = textOf(result, 'EncodingType') === 'url' ? decodeListed : (encoded: string) => encoded;
  const page: ListPage = {
    objects: childrenNamed(result, 'Contents').map((entry) => ({
      key: decode(textOf(entry, 'Key') ?? ''),
      size: Number(textOf(entry, 'Size') ?? 0),
      etag: unquote(textOf(entry, 'ETag') ?? ''),
      lastModified: new Date(textOf(entry, 'LastModified') ?? 0),
    })),
    prefixes: childrenNamed(result, 'CommonPrefixes').map((entry) => decode(textOf(entry, 'Prefix') ?? '')),
  };
  if (textOf(result, 'IsTruncated') !== 'true') return { page, next: undefined };
  const next = textOf(result, 'NextContinuationToken');
  // A truncated page without a new token would list the same page forever.
  if (next === undefined || next === '') {
    throw new ProtocolError(`${LIST}: a truncated page carries no NextContinuationToken`, {
      status: 200,
      request: LIST,
    });
  }
  return { page, next };
}

/** LocationConstraint values that are not region names (S3 API Reference, GetBucketLocation). */
const LEGACY_LOCATIONS: Readonly<Record<string, string>> = { '': 'us-east-1', EU: 'eu-west-1' };

/** The region of a GetBucketLocation reply: empty means us-east-1 and `EU` means eu-west-1. */
export function location(text: string): string {
  const constraint = parseXml(text).text.trim();
  return LEGACY_LOCATIONS[constraint] ?? constraint;
}

/** The ETag of a CopyObjectResult or CompleteMultipartUploadResult, unquoted; '' when it has none. */
export function resultEtag(result: XmlElement): string {
  return unquote(textOf(result, 'ETag') ?? '');
}

/** The UploadId of a CreateMultipartUpload reply. */
export function uploadId(text: string): string {
  const id = textOf(parseXml(text), 'UploadId');
  if (id === undefined || id === '') {
    throw new ProtocolError('CreateMultipartUpload reply has no UploadId', {
      status: 200,
      request: 'CreateMultipartUpload',
    });
  }
  return id;
}

/** A CompleteMultipartUpload request body: the parts in order with their ETags as UploadPart returned them. */
export function completeRequest(etags: readonly string[]): Uint8Array {
  const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`);
  return UTF8.encode(`<CompleteMultipartUpload>${parts.join('')}</CompleteMultipartUpload>`);
}

/** One page of ListMultipartUploads, and the markers of the next. */
export function parseUploads(xml: string): {
  uploads: UploadInProgress[];
  next?: { keyMarker: string; uploadIdMarker: string };
} {
  const result = parseXml(xml);
  const uploads = childrenNamed(result, 'Upload').map((upload) => ({
    key: textOf(upload, 'Key') ?? '',
    uploadId: textOf(upload, 'UploadId') ?? '',
    // A missing or unreadable date is an Invalid Date, never 1970: such an upload is not taken for stale.
    initiated: new Date(textOf(upload, 'Initiated') ?? Number.NaN),
  }));
  if (textOf(result, 'IsTruncated') !== 'true') return { uploads };
  const keyMarker = textOf(result, 'NextKeyMarker') ?? '';
  // A truncated page without a marker would be asked for again and again.
  if (keyMarker === '') {
    throw new ProtocolError(`${UPLOADS}: a truncated page carries no NextKeyMarker`, { status: 200, request: UPLOADS });
  }
  return {
    uploads,
    next: { keyMarker, uploadIdMarker: textOf(result, 'NextUploadIdMarker') ?? '' },
  };
}
