/**
 * Specs of lib/documents.ts without a server: the XML request bodies, and
 * replies read into values, or refused with ProtocolError when they lack
 * what the protocol promises. client.spec.ts meets the same documents from
 * Ceph and through the fault proxy.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  completeRequest,
  deleteRequest,
  deleteResult,
  listPage,
  NOT_REPORTED,
  location,
  parseUploads,
  uploadId,
} from '../lib/documents.js';
import { ProtocolError } from '../lib/errors.js';
import { childrenNamed, parseXml, textOf } from '../lib/xml.js';

function protocolError(fn: () => unknown, text: string): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, ProtocolError);
    assert.is((error as ProtocolError).code, 'ERR_S3V4_PROTOCOL');
    assert.match((error as ProtocolError).message, text);
    return;
  }
  assert.unreachable('expected a ProtocolError');
}

test('DeleteObjects: escaped keys, Content-MD5 of the body, verbose; deleted only the keys the reply names', () => {
  const { bytes, headers } = deleteRequest(['a&b', '<x>']);
  const xml = new TextDecoder().decode(bytes);
  assert.is(
    xml,
    '<Delete><Quiet>false</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>&lt;x&gt;</Key></Object></Delete>',
  );
  assert.is(headers['content-md5'], createHash('md5').update(bytes).digest('base64'));
  assert.equal(
    childrenNamed(parseXml(xml), 'Object').map((o) => textOf(o, 'Key')),
    ['a&b', '<x>'],
  );
  const reply =
    '<DeleteResult><Deleted><Key>a&amp;b</Key></Deleted><Error><Key>&lt;x&gt;</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>';
  assert.equal(deleteResult(reply, ['a&b', '<x>']), {
    deleted: ['a&b'],
    errors: [{ key: '<x>', code: 'AccessDenied', message: 'no' }],
  });
  // Issue 11, item 12: a key the reply does not name is not deleted, and a key it names that was not sent is ignored.
  assert.equal(deleteResult('<DeleteResult><Deleted><Key>other</Key></Deleted></DeleteResult>', ['a', 'b']), {
    deleted: [],
    errors: [
      { key: 'a', code: NOT_REPORTED, message: 'POST ?delete: the reply does not say the key was deleted' },
      { key: 'b', code: NOT_REPORTED, message: 'POST ?delete: the reply does not say the key was deleted' },
    ],
  });
});

test('ListObjectsV2: url-decoded keys and prefixes; the next token; a malformed escape or a missing token is refused', () => {
  const page = listPage(
    '<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>' +
      '<Contents><Key>a+b%2Bc%20d</Key><Size>5</Size><ETag>"e1"</ETag><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>' +
      '<CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes></ListBucketResult>',
  );
  assert.equal(page.next, 't2');
  assert.equal(page.page.prefixes, ['dir/']);
  assert.equal(page.page.objects, [
    { key: 'a b+c d', size: 5, etag: 'e1', lastModified: new Date('2026-01-02T03:04:05Z') },
  ]);
  const entry = (key: string) =>
    `<Contents><Key>${key}</Key><Size>0</Size><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>`;
  assert.is(listPage(`<ListBucketResult>${entry('a%20b')}</ListBucketResult>`).page.objects[0]!.key, 'a%20b');
  protocolError(
    () => listPage(`<ListBucketResult><EncodingType>url</EncodingType>${entry('bad%E0%')}</ListBucketResult>`),
    'malformed escape in "bad%E0%"',
  );
  protocolError(
    () => listPage('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'),
    'no NextContinuationToken',
  );
});

test('listed objects: a missing or unreadable key, size or date is refused, never listed as "", 0 or 1970 (issue 11, item 12)', () => {
  const listing = (fields: string) => `<ListBucketResult><Contents>${fields}</Contents></ListBucketResult>`;
  const key = '<Key>k</Key>';
  const size = '<Size>5</Size>';
  const date = '<LastModified>2026-01-02T03:04:05.000Z</LastModified>';
  assert.is(listPage(listing(key + size + date)).page.objects[0]!.size, 5);
  protocolError(() => listPage(listing(size + date)), 'a <Contents> without its <Key>');
  protocolError(() => listPage(listing(`<Key></Key>${size}${date}`)), 'a <Contents> without its <Key>');
  protocolError(() => listPage(listing(key + date)), 'a <Contents> without its <Size>');
  for (const bad of ['-1', '1.5', 'five', ' 5', '1e3', '99999999999999999999'])
    protocolError(() => listPage(listing(`${key}<Size>${bad}</Size>${date}`)), `<Size> "${bad}" cannot be read`);
  protocolError(() => listPage(listing(key + size)), 'a <Contents> without its <LastModified>');
  protocolError(
    () => listPage(listing(`${key}${size}<LastModified>yesterday</LastModified>`)),
    '<LastModified> "yesterday" cannot be read',
  );
  protocolError(
    () => listPage('<ListBucketResult><CommonPrefixes></CommonPrefixes></ListBucketResult>'),
    'a <CommonPrefixes> without its <Prefix>',
  );
});

test('every reply document has its root checked: HTML, another root or broken XML is a ProtocolError (issue 11, item 12)', () => {
  const readers: Array<[string, (text: string) => unknown]> = [
    ['POST ?delete', (text) => deleteResult(text, ['k'])],
    ['GET ?list-type=2', listPage],
    ['GET ?location', location],
    ['CreateMultipartUpload', uploadId],
    ['GET ?uploads', parseUploads],
  ];
  const html = '<html><body><h1>200 OK</h1></body></html>';
  for (const [label, read] of readers) {
    protocolError(() => read(html), `${label}: HTTP 200 with a <html> document where <`);
    protocolError(() => read('<!DOCTYPE html><html></html>'), `${label}: HTTP 200 with a body that is not the XML`);
    protocolError(() => read('<Wrong/>'), `${label}: HTTP 200 with a <Wrong> document`);
    protocolError(() => read(''), `${label}: HTTP 200 with a body that is not the XML`);
    protocolError(() => read('<DeleteResult><ListBucketResult>'), `${label}: HTTP 200 with a body that is not the XML`);
  }
});

test('multipart documents: UploadId, the Complete body, and the uploads listing', () => {
  assert.is(uploadId('<InitiateMultipartUploadResult><UploadId>x/y</UploadId></InitiateMultipartUploadResult>'), 'x/y');
  protocolError(() => uploadId('<InitiateMultipartUploadResult/>'), 'no UploadId');
  protocolError(
    () => uploadId('<InitiateMultipartUploadResult><UploadId></UploadId></InitiateMultipartUploadResult>'),
    'no UploadId',
  );
  const complete = new TextDecoder().decode(completeRequest(['"e1"', '"e&2"']));
  assert.is(
    complete,
    '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag></Part>' +
      '<Part><PartNumber>2</PartNumber><ETag>&quot;e&amp;2&quot;</ETag></Part></CompleteMultipartUpload>',
  );
  const uploads = parseUploads(
    '<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker><NextUploadIdMarker>u</NextUploadIdMarker>' +
      '<Upload><Key>k</Key><UploadId>u</UploadId><Initiated>2026-01-02T03:04:05.000Z</Initiated></Upload></ListMultipartUploadsResult>',
  );
  assert.equal(uploads, {
    uploads: [{ key: 'k', uploadId: 'u', initiated: new Date('2026-01-02T03:04:05Z') }],
    next: { keyMarker: 'k', uploadIdMarker: 'u' },
  });
});

test('GetBucketLocation: empty is us-east-1, EU is eu-west-1, others as written', () => {
  assert.is(location('<LocationConstraint/>'), 'us-east-1');
  assert.is(location('<LocationConstraint>EU</LocationConstraint>'), 'eu-west-1');
  assert.is(location('<LocationConstraint> ap-guangzhou </LocationConstraint>'), 'ap-guangzhou');
});

test.run();
