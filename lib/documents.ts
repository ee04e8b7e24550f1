/**
 * The XML documents of the S3 API that s3v4 reads and writes (S3 API
 * Reference: ListObjectsV2, DeleteObjects, CopyObject, GetBucketLocation,
 * CreateMultipartUpload, CompleteMultipartUpload, ListMultipartUploads, ListParts):
 * request bodies escaped with xml.ts's escapeXml(), replies read into plain
 * values with replies.ts's document(), which checks each root. A reply that
 * lacks what the protocol promises is a ProtocolError.
 */
import { createHash } from 'node:crypto';
import { isByteCount } from './arguments.js';
import type { QueryPair } from './encoding.js';
import { ProtocolError } from './errors.js';
import { document, unquote } from './replies.js';
import { childrenNamed, escapeXml, textOf, type XmlElement } from './xml.js';

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

/** The label of DeleteObjects requests in messages. */
export const DELETE = 'POST ?delete';

/**
 * A DeleteObjects request body and the headers it needs: Content-MD5 (or a flexible checksum, which R2, COS and old
 * MinIO refuse). Not quiet: the reply names each key deleted, so a key it does not name is never taken for deleted.
 */
export function deleteRequest(keys: readonly string[]): { bytes: Uint8Array; headers: Record<string, string> } {
  const objects = keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join('');
  const bytes = UTF8.encode(`<Delete><Quiet>false</Quiet>${objects}</Delete>`);
  const headers = {
    'content-md5': createHash('md5').update(bytes).digest('base64'),
    'content-type': 'application/xml',
  };
  return { bytes, headers };
}

/** The code of a key the DeleteObjects reply neither reports deleted nor failed: the protocol's, not S3's. */
export const NOT_REPORTED = 'ERR_S3V4_PROTOCOL';

/**
 * A DeleteObjects reply: each key of `batch` is deleted when a <Deleted> names it, failed when an <Error> does, and
 * failed with NOT_REPORTED when neither does (S3 API Reference, DeleteObjects: a verbose reply names every key).
 */
export function deleteResult(text: string, batch: readonly string[]): DeleteManyResult {
  const reply = document(text, ['DeleteResult'], DELETE);
  const deleted = new Set(childrenNamed(reply, 'Deleted').map((entry) => textOf(entry, 'Key')));
  const failed = new Map<string, { code: string; message: string }>();
  for (const error of childrenNamed(reply, 'Error')) {
    const key = textOf(error, 'Key');
    if (key !== undefined)
      failed.set(key, { code: textOf(error, 'Code') ?? '', message: textOf(error, 'Message') ?? '' });
  }
  const result: DeleteManyResult = { deleted: [], errors: [] };
  for (const key of batch) {
    const error = failed.get(key);
    if (error !== undefined) result.errors.push({ key, ...error });
    else if (deleted.has(key)) result.deleted.push(key);
    else
      result.errors.push({ key, code: NOT_REPORTED, message: `${DELETE}: the reply does not say the key was deleted` });
  }
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

/** The text of `element`'s child `name`, which the protocol promises: a missing or empty one is a ProtocolError. */
function required(element: XmlElement, name: string, label: string): string {
  const text = textOf(element, name);
  if (text === undefined || text === '') {
    throw new ProtocolError(`${label}: a <${element.name}> without its <${name}>`, { status: 200, request: label });
  }
  return text;
}

/** A field read into a value that is not valid: a size that is not a byte count, a date that is not one. */
function unreadable(element: XmlElement, name: string, label: string): ProtocolError {
  const text = JSON.stringify(textOf(element, name));
  return new ProtocolError(`${label}: a <${element.name}> whose <${name}> ${text} cannot be read`, {
    status: 200,
    request: label,
  });
}

/** One listed object; a key, size or date that is missing or unreadable is refused, never listed as '', 0 or 1970. */
function listedObject(entry: XmlElement, decode: (text: string) => string): ListedObject {
  const written = required(entry, 'Size', LIST);
  const size = Number(written);
  if (!/^\d+$/.test(written) || !isByteCount(size)) throw unreadable(entry, 'Size', LIST);
  const lastModified = new Date(required(entry, 'LastModified', LIST));
  if (Number.isNaN(lastModified.getTime())) throw unreadable(entry, 'LastModified', LIST);
  return {
    key: decode(required(entry, 'Key', LIST)),
    size,
    etag: unquote(textOf(entry, 'ETag') ?? ''),
    lastModified,
  };
}

/** One ListObjectsV2 page, and the continuation token of the next when it is truncated. */
export function listPage(text: string): { page: ListPage; next: string | undefined } {
  const result = document(text, ['ListBucketResult'], LIST);
  const decode = textOf(result, 'EncodingType') === 'url' ? decodeListed : (encoded: string) => encoded;
  const page: ListPage = {
    objects: childrenNamed(result, 'Contents').map((entry) => listedObject(entry, decode)),
    prefixes: childrenNamed(result, 'CommonPrefixes').map((entry) => decode(required(entry, 'Prefix', LIST))),
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

/** The label of GetBucketLocation requests in messages. */
export const LOCATION = 'GET ?location';

/** The region of a GetBucketLocation reply: empty means us-east-1 and `EU` means eu-west-1. */
export function location(text: string): string {
  const constraint = document(text, ['LocationConstraint'], LOCATION).text.trim();
  return LEGACY_LOCATIONS[constraint] ?? constraint;
}

/** The ETag of a CopyObjectResult or CompleteMultipartUploadResult, unquoted; '' when it has none. */
export function resultEtag(result: XmlElement): string {
  return unquote(textOf(result, 'ETag') ?? '');
}

/** The UploadId of a CreateMultipartUpload reply. */
export function uploadId(text: string): string {
  const label = 'CreateMultipartUpload';
  const id = textOf(document(text, ['InitiateMultipartUploadResult'], label), 'UploadId');
  if (id === undefined || id === '') {
    throw new ProtocolError('CreateMultipartUpload reply has no UploadId', { status: 200, request: label });
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
  const result = document(xml, ['ListMultipartUploadsResult'], UPLOADS);
  const uploads = childrenNamed(result, 'Upload').map((upload) => ({
    key: required(upload, 'Key', UPLOADS),
    uploadId: required(upload, 'UploadId', UPLOADS),
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

/** The label of ListParts requests in messages. */
export const PARTS = 'GET ?uploadId';

/** A part of an upload in progress, from ListParts: its ETag without quotes. */
export interface UploadedPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** One page of ListParts, and the marker of the next (S3 API Reference, ListParts). */
export function parseParts(xml: string): { parts: UploadedPart[]; next?: string } {
  const result = document(xml, ['ListPartsResult'], PARTS);
  const parts = childrenNamed(result, 'Part').map((part) => {
    const number = required(part, 'PartNumber', PARTS);
    if (!/^[1-9]\d{0,4}$/.test(number)) throw unreadable(part, 'PartNumber', PARTS);
    const size = required(part, 'Size', PARTS);
    if (!/^\d+$/.test(size) || !isByteCount(Number(size))) throw unreadable(part, 'Size', PARTS);
    return { partNumber: Number(number), size: Number(size), etag: unquote(required(part, 'ETag', PARTS)) };
  });
  if (textOf(result, 'IsTruncated') !== 'true') return { parts };
  const next = textOf(result, 'NextPartNumberMarker') ?? '';
  if (next === '')
    throw new ProtocolError(`${PARTS}: a truncated page carries no NextPartNumberMarker`, {
      status: 200,
      request: PARTS,
    });
  return { parts, next };
}
