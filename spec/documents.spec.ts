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

test('DeleteObjects: escaped keys, Content-MD5 of the body, and the keys without <Error> deleted', () => {
  const { bytes, headers } = deleteRequest(['a&b', '<x>']);
  const xml = new TextDecoder().decode(bytes);
  assert.is(
    xml,
    '<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>&lt;x&gt;</Key></Object></Delete>',
  );
  assert.is(headers['content-md5'], createHash('md5').update(bytes).digest('base64'));
  assert.equal(
    childrenNamed(parseXml(xml), 'Object').map((o) => textOf(o, 'Key')),
    ['a&b', '<x>'],
  );
  const reply =
    '<DeleteResult><Error><Key>&lt;x&gt;</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>';
  assert.equal(deleteResult(reply, ['a&b', '<x>']), {
    deleted: ['a&b'],
    errors: [{ key: '<x>', code: 'AccessDenied', message: 'no' }],
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
  assert.is(
    listPage('<ListBucketResult><Contents><Key>a%20b</Key></Contents></ListBucketResult>').page.objects[0]!.key,
    'a%20b',
  );
  protocolError(
    () =>
      listPage(
        '<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>bad%E0%</Key></Contents></ListBucketResult>',
      ),
    'malformed escape in "bad%E0%"',
  );
  protocolError(
    () => listPage('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>'),
    'no NextContinuationToken',
  );
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
