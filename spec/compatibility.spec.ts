/**
 * Where the suite's two servers differ, measured: every fact of
 * spec/support/facts.ts is asked of each server with requests signed by hand
 * (so a fact stays true whatever the client does), and the README's
 * Compatibility table must show exactly what was measured in the Ceph and
 * Swift columns. A server that changes, or a README cell that drifts, fails
 * here.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import * as assert from 'uvu/assert';
import { S3Client, SigV4Signer } from '../lib/index.js';
import { parseXml, type XmlElement } from '../lib/xml.js';
import type { ServerFacts } from './support/facts.js';
import { type Exchange, type S3Server, signedExchange, storageFor } from './support/servers.js';
import { onEachServer } from './helpers.js';

const BUCKET = 'compatibility';
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's Compatibility table: its column names, and each row's cells by column. */
function readmeTable(): { columns: string[]; rows: Map<string, Map<string, string>> } {
  const section = /^## Compatibility\n([\s\S]*?)(?=^## )/m.exec(README)?.[1] ?? '';
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  const cells = (line: string) =>
    line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
  const columns = cells(lines[0] ?? '|');
  const rows = new Map<string, Map<string, string>>();
  for (const line of lines.slice(2)) {
    const row = cells(line);
    rows.set(row[0]!, new Map(columns.map((column, i) => [column, row[i] ?? ''])));
  }
  return { columns, rows };
}

/** The measured cells of one server's column, by row: how the README must word each fact. */
export function measuredCells(facts: ServerFacts): Record<string, string> {
  return {
    'Signed streaming (aws-chunked)': facts.awsChunked ? 'accepted' : '501 NotImplemented',
    '`If-None-Match: *` on PutObject':
      facts.ifNoneMatchOnPut === 'honoured' ? 'honoured (412)' : '501 NotImplemented, on every PUT',
    '`If-None-Match: *` on CompleteMultipartUpload':
      facts.ifNoneMatchOnComplete === 'honoured' ? 'honoured (412)' : 'ignored: the object is replaced',
    'Flexible checksums (`x-amz-checksum-*`)':
      facts.checksumHeaders === 'verified' ? 'verified' : 'ignored: a wrong CRC32 is stored',
    '`Content-MD5` on DeleteObjects':
      facts.deleteObjectsMd5 === 'required' ? 'required and checked' : 'neither required nor checked',
    'Maximum key length':
      facts.maxMultipartKeyBytes === facts.maxKeyBytes
        ? `${facts.maxKeyBytes} bytes`
        : `${facts.maxKeyBytes} bytes; ${facts.maxMultipartKeyBytes} multipart (500 beyond)`,
    'ListObjectsV2 `encoding-type=url`': 'supported',
    'A key with a control character in an XML reply': facts.controlCharactersInXml
      ? 'a character reference'
      : '500 InternalError',
    'Parts per multipart upload':
      facts.maxParts === undefined ? 'not enforced: part 10001 is accepted' : `${facts.maxParts}`,
    'Presigned URLs': 'accepted',
    'GetBucketLocation answer': facts.bucketLocation === '' ? 'empty' : `\`${facts.bucketLocation}\``,
    'Error body': `${facts.errorElements.join(', ')}${facts.errorMessages ? '' : ' (Message empty)'}`,
    'ETag of a copy of a multipart object':
      facts.copyEtagListed === 'as HEAD' ? 'the same in every reply' : "the source's; listings give the MD5",
    'Type of an object uploaded in parts without one':
      facts.multipartDefaultType === 'binary/octet-stream'
        ? '`binary/octet-stream`'
        : "CompleteMultipartUpload's Content-Type",
    'Bucket policies': facts.bucketPolicies ? 'supported' : '501 NotImplemented',
    'Browser-form uploads (POST Object)': facts.postObject === true ? 'supported' : `refused (${facts.postObject})`,
    'Anonymous request': `${facts.anonymous.status}${facts.anonymous.xml ? ' with an S3 error' : ', an HTML page'}`,
    'Region in the signature': facts.enforcesRegion ? 'checked: AuthorizationHeaderMalformed' : 'any region accepted',
    'Unknown access key': facts.unknownAccessKeyCode,
    'Payload hash mismatch': facts.payloadMismatchCode,
    'Metadata name with `_`': facts.metadataUnderscore === '_' ? 'kept' : 'returned with `-`',
    'Metadata value length':
      facts.maxMetadataValueBytes === undefined ? 'header limit' : `${facts.maxMetadataValueBytes} bytes (500 beyond)`,
  };
}

const elements = (document: XmlElement) => document.children.map((child) => child.name);

/** The XML error document of a reply, which must be one. */
function errorDocument(reply: Pick<Exchange, 'text'>): XmlElement {
  const root = parseXml(reply.text);
  assert.is(root.name, 'Error', reply.text);
  return root;
}

const codeOf = (reply: Pick<Exchange, 'text'>) =>
  errorDocument(reply).children.find((child) => child.name === 'Code')?.text;

/** A multipart upload to `key` of one part, numbered `partNumber`, completed with `headers`: the failed reply, or Complete's. */
async function multipart(
  server: S3Server,
  key: string,
  body: string,
  headers: Record<string, string> = {},
  partNumber = 1,
): Promise<Exchange> {
  const path = `/${BUCKET}/${encodeURIComponent(key)}`;
  const created = await signedExchange(server, 'POST', `${path}?uploads=`);
  if (created.status !== 200) return created;
  const id = encodeURIComponent(/<UploadId>(.*?)<\/UploadId>/.exec(created.text)![1]!);
  const part = await signedExchange(server, 'PUT', `${path}?partNumber=${partNumber}&uploadId=${id}`, { body });
  if (part.status !== 200) return part;
  const complete = `<CompleteMultipartUpload><Part><PartNumber>${partNumber}</PartNumber><ETag>${part.headers.etag}</ETag></Part></CompleteMultipartUpload>`;
  const completed = await signedExchange(server, 'POST', `${path}?uploadId=${id}`, { headers, body: complete });
  if (completed.status !== 200) await signedExchange(server, 'DELETE', `${path}?uploadId=${id}`);
  return completed;
}

const put = (server: S3Server, key: string, body: string, headers: Record<string, string> = {}) =>
  signedExchange(server, 'PUT', `/${BUCKET}/${encodeURIComponent(key)}`, { headers, body });
const get = (server: S3Server, key: string) => signedExchange(server, 'GET', `/${BUCKET}/${encodeURIComponent(key)}`);

onEachServer('compatibility facts', 'spec/compatibility.spec.ts', 180, (test, on) => {
  const { facts } = on;
  let server: S3Server;

  test.before(async () => {
    server = await on.shared();
    assert.is((await signedExchange(server, 'PUT', `/${BUCKET}`)).status, 200);
  });

  test('the README shows what was measured, in its column', () => {
    const { columns, rows } = readmeTable();
    assert.ok(columns.includes(facts.column), `README's Compatibility table has no column ${facts.column}`);
    for (const [row, cell] of Object.entries(measuredCells(facts))) {
      assert.ok(rows.has(row), `README's Compatibility table has no row ${row}`);
      const shown = rows.get(row)!.get(facts.column)!;
      assert.ok(
        shown === cell || shown.startsWith(`${cell}.`),
        `${row}, ${facts.column}: README "${shown}", measured "${cell}"`,
      );
    }
  });

  test('signed streaming (aws-chunked)', async () => {
    const signer = new SigV4Signer({
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      region: server.region,
    });
    const url = `${server.endpoint}/${BUCKET}/streamed`;
    const data = new Uint8Array(10_000).fill(7);
    const { headers, chunks } = signer.signStreaming({ method: 'PUT', url }, { contentLength: data.length });
    const empty = new Uint8Array(0);
    const crlf = Buffer.from('\r\n');
    const framed = Buffer.concat([
      Buffer.from(chunks.chunkHeader(data)),
      data,
      crlf,
      Buffer.from(chunks.chunkHeader(empty)),
      crlf,
    ]);
    const reply = await request(url, { method: 'PUT', headers: { ...headers }, body: framed });
    const text = await reply.body.text();
    if (facts.awsChunked) {
      assert.is(reply.statusCode, 200, text);
      assert.is((await get(server, 'streamed')).text, Buffer.from(data).toString());
    } else {
      assert.is(reply.statusCode, 501, text);
      assert.match(text, '<Code>NotImplemented</Code>');
      assert.is((await get(server, 'streamed')).status, 404);
    }
  });

  test('If-None-Match: * on PutObject and on CompleteMultipartUpload', async () => {
    assert.is((await put(server, 'exists', 'first')).status, 200);
    const onPut = await put(server, 'exists', 'second', { 'if-none-match': '*' });
    const onNewKey = await put(server, 'new-key', 'first', { 'if-none-match': '*' });
    if (facts.ifNoneMatchOnPut === 'honoured') {
      assert.equal([onPut.status, codeOf(onPut), onNewKey.status], [412, 'PreconditionFailed', 200]);
    } else {
      assert.equal([onPut.status, codeOf(onPut), onNewKey.status], [501, 'NotImplemented', 501], onPut.text);
    }
    const onComplete = await multipart(server, 'exists', 'third', { 'if-none-match': '*' });
    const now = (await get(server, 'exists')).text;
    if (facts.ifNoneMatchOnComplete === 'honoured') assert.equal([onComplete.status, now], [412, 'first']);
    else assert.equal([onComplete.status, now], [200, 'third']);
  });

  test('x-amz-checksum-crc32 with a wrong value', async () => {
    const reply = await put(server, 'checksummed', 'hello', { 'x-amz-checksum-crc32': 'AAAAAA==' });
    if (facts.checksumHeaders === 'verified') assert.is(reply.status, 400, reply.text);
    else assert.equal([reply.status, (await get(server, 'checksummed')).text], [200, 'hello']);
  });

  test('Content-MD5 on DeleteObjects: missing, then wrong', async () => {
    assert.is((await put(server, 'deleted', 'x')).status, 200);
    const body = '<Delete><Object><Key>deleted</Key></Object></Delete>';
    const missing = await signedExchange(server, 'POST', `/${BUCKET}?delete=`, { body });
    const wrong = await signedExchange(server, 'POST', `/${BUCKET}?delete=`, {
      body,
      headers: { 'content-md5': '1B2M2Y8AsgTpgAmY7PhCfg==' },
    });
    if (facts.deleteObjectsMd5 === 'required') {
      assert.equal([missing.status, wrong.status, codeOf(wrong)], [400, 400, 'BadDigest'], missing.text);
      assert.is((await get(server, 'deleted')).status, 200);
    } else {
      assert.equal([missing.status, wrong.status], [200, 200]);
      assert.is((await get(server, 'deleted')).status, 404);
    }
  });

  test('the longest key, by PutObject and by multipart upload, and the highest part number', async () => {
    const k = (bytes: number) => 'k'.repeat(bytes);
    assert.is((await put(server, k(facts.maxKeyBytes), 'x')).status, 200);
    const tooLong = await put(server, k(facts.maxKeyBytes + 1), 'x');
    assert.equal([tooLong.status, codeOf(tooLong)], [400, facts.keyTooLongCode]);
    const m = (bytes: number) => 'm'.repeat(bytes);
    const last = facts.maxParts ?? 10_000;
    assert.is((await multipart(server, m(facts.maxMultipartKeyBytes), 'x', {}, last)).status, 200);
    if (facts.maxMultipartKeyBytes < facts.maxKeyBytes) {
      const beyond = await multipart(server, m(facts.maxMultipartKeyBytes + 1), 'x', {}, last);
      assert.equal([beyond.status, codeOf(beyond)], [500, 'InternalError']);
    }
    const tooMany = await multipart(server, 'parts', 'x', {}, last + 1);
    if (facts.maxParts === undefined) assert.is(tooMany.status, 200, tooMany.text);
    else assert.equal([tooMany.status, codeOf(tooMany)], [400, 'InvalidArgument'], tooMany.text);
  });

  test('a key with a control character: ListObjectsV2 with and without encoding-type=url, CreateMultipartUpload', async () => {
    assert.is((await put(server, 'ctl/a\u0001b', 'x')).status, 200);
    const encoded = await signedExchange(server, 'GET', `/${BUCKET}?list-type=2&encoding-type=url&prefix=ctl%2F`);
    assert.is(encoded.status, 200);
    // Ceph encodes the / too (ctl%2Fa%01b), Swift does not: both decode to the key.
    assert.match(encoded.text, /<Key>ctl(%2F|\/)a%01b<\/Key>/);
    const plain = await signedExchange(server, 'GET', `/${BUCKET}?list-type=2&prefix=ctl%2F`);
    const created = await signedExchange(server, 'POST', `/${BUCKET}/ctl%2Fm%01?uploads=`);
    const status = facts.controlCharactersInXml ? 200 : 500;
    assert.equal([plain.status, created.status], [status, status], plain.text + created.text);
    if (status === 200) {
      assert.match(plain.text, '<Key>ctl/a&#x01;b</Key>');
      const id = /<UploadId>(.*?)<\/UploadId>/.exec(created.text)![1]!;
      assert.is(
        (await signedExchange(server, 'DELETE', `/${BUCKET}/ctl%2Fm%01?uploadId=${encodeURIComponent(id)}`)).status,
        204,
      );
    }
    // Swift's 500 comes after it made the upload, whose id the reply would have named: it stays, listed only with
    // encoding-type=url. The client refuses such a key for multipart uploads (S3Client.put).
    const uploads = await signedExchange(server, 'GET', `/${BUCKET}?uploads=&encoding-type=url`);
    const left = /<UploadId>(.*?)<\/UploadId>/.exec(uploads.text)?.[1];
    assert.is(left !== undefined, !facts.controlCharactersInXml, uploads.text);
    if (left !== undefined) await signedExchange(server, 'DELETE', `/${BUCKET}/ctl%2Fm%01?uploadId=${left}`);
  });

  test('presigned URLs, GetBucketLocation, and the shape of an error', async () => {
    const client = new S3Client(storageFor(server, BUCKET, { forcePathStyle: true }));
    try {
      assert.is((await put(server, 'linked', 'by link')).status, 200);
      const linked = await request(client.presign('linked'));
      assert.equal([linked.statusCode, await linked.body.text()], [200, 'by link']);
      const location = await signedExchange(server, 'GET', `/${BUCKET}?location=`);
      assert.is(parseXml(location.text).text, facts.bucketLocation);
      const missing = errorDocument(await get(server, 'missing'));
      assert.equal(elements(missing), facts.errorElements);
      const message = missing.children.find((child) => child.name === 'Message')!.text;
      assert.is(message !== '', facts.errorMessages, message);
    } finally {
      await client.close();
    }
  });

  test('the ETag of a copy of a multipart object: in the reply, HEAD and a listing', async () => {
    assert.is((await multipart(server, 'copied-from', 'multipart bytes')).status, 200);
    const copied = await signedExchange(server, 'PUT', `/${BUCKET}/copied-to`, {
      headers: { 'x-amz-copy-source': `/${BUCKET}/copied-from` },
    });
    assert.is(copied.status, 200, copied.text);
    const unquoted = (etag: unknown) => String(etag).replaceAll('&quot;', '').replaceAll('"', '');
    const replied = unquoted(/<ETag>(.*?)<\/ETag>/.exec(copied.text)?.[1]);
    const head = unquoted((await signedExchange(server, 'HEAD', `/${BUCKET}/copied-to`)).headers.etag);
    const listing = await signedExchange(server, 'GET', `/${BUCKET}?list-type=2&prefix=copied-to`);
    const listed = unquoted(/<ETag>(.*?)<\/ETag>/.exec(listing.text)?.[1]);
    const md5 = createHash('md5').update('multipart bytes').digest('hex');
    if (facts.copyEtagListed === 'as HEAD') assert.equal([replied, listed], [head, head]);
    else assert.equal([replied, head.endsWith('-1'), listed], [head, true, md5]);
  });

  test('the type of an object uploaded in parts without one', async () => {
    assert.is((await multipart(server, 'untyped', 'x', { 'content-type': 'application/xml' })).status, 200);
    const head = await signedExchange(server, 'HEAD', `/${BUCKET}/untyped`);
    assert.is(head.headers['content-type'], facts.multipartDefaultType);
  });

  test('bucket policies, browser-form uploads and anonymous requests', async () => {
    const policy = { Version: '2012-10-17', Statement: [] };
    const set = await signedExchange(server, 'PUT', `/${BUCKET}?policy=`, { body: JSON.stringify(policy) });
    assert.is(set.status, facts.bucketPolicies ? 204 : 501, set.text);
    const client = new S3Client(storageFor(server, BUCKET, { forcePathStyle: true }));
    try {
      const post = client.presignPost({ key: 'posted', expiresIn: 60 });
      const form = new FormData();
      for (const [name, value] of Object.entries(post.fields)) form.append(name, value);
      form.append('file', new Blob(['by form']));
      const posted = await fetch(post.url, { method: 'POST', body: form });
      await posted.arrayBuffer();
      if (facts.postObject === true) assert.ok(posted.status === 204 || posted.status === 200, String(posted.status));
      else assert.is(posted.status, facts.postObject);
    } finally {
      await client.close();
    }
    const anonymous = await request(`${server.endpoint}/${BUCKET}/linked`);
    const text = await anonymous.body.text();
    assert.is(anonymous.statusCode, facts.anonymous.status);
    assert.is(text.includes('<Error>'), facts.anonymous.xml, text);
  });

  test('a request signed for another region', async () => {
    const elsewhere = await get({ ...server, region: 'eu-west-1' }, 'linked');
    if (facts.enforcesRegion)
      assert.equal([elsewhere.status, codeOf(elsewhere)], [400, 'AuthorizationHeaderMalformed']);
    else assert.is(elsewhere.status, 200, elsewhere.text);
  });

  test('an unknown access key, and a body that is not the signed one', async () => {
    const stranger = { ...server, accessKeyId: 'UNKNOWNKEY0123456789' };
    assert.is(codeOf(await get(stranger, 'linked')), facts.unknownAccessKeyCode);
    const signer = new SigV4Signer({
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      region: server.region,
    });
    const url = `${server.endpoint}/${BUCKET}/tampered`;
    const headers = signer.sign({ method: 'PUT', url, body: 'signed' });
    const reply = await request(url, { method: 'PUT', headers: { ...headers }, body: 'sent!!' });
    const text = await reply.body.text();
    assert.equal([reply.statusCode, codeOf({ text })], [400, facts.payloadMismatchCode], text);
  });

  test('metadata: a name with _, and a long value', async () => {
    assert.is((await put(server, 'meta', 'x', { 'x-amz-meta-under_score': 'v' })).status, 200);
    const head = await signedExchange(server, 'HEAD', `/${BUCKET}/meta`);
    const name = facts.metadataUnderscore === '_' ? 'x-amz-meta-under_score' : 'x-amz-meta-under-score';
    assert.is(head.headers[name], 'v', JSON.stringify(head.headers));
    const limit = facts.maxMetadataValueBytes ?? 2048;
    assert.is((await put(server, 'meta', 'x', { 'x-amz-meta-long': 'v'.repeat(limit) })).status, 200);
    const longer = await put(server, 'meta', 'x', { 'x-amz-meta-long': 'v'.repeat(limit + 1) });
    assert.is(longer.status, facts.maxMetadataValueBytes === undefined ? 200 : 500, longer.text);
  });
});
