/**
 * Unit specs of lib/multipart.ts with an in-memory transport: part sizes,
 * cutting a source into uniform parts, the bound on parts in flight, the
 * CompleteMultipartUpload body, and the abort on every failure (after the
 * parts in flight have settled). The same code meets the real server in
 * client.spec.ts.
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Payload, fromFile, source, toPayload } from '../lib/bodies.js';
import { BodyLengthError, InvalidArgumentError, SourceError, ProtocolError, S3Error } from '../lib/errors.js';
import { parseParts, parseUploads } from '../lib/documents.js';
import {
  DEFAULT_PART_SIZE,
  MAX_PARTS,
  MIN_PART_SIZE,
  partSizeFor,
  uploadMultipart,
  type PartRequest,
  type UploadTransport,
} from '../lib/multipart.js';
import { parseXml, childrenNamed, textOf } from '../lib/xml.js';
import { collect } from './helpers.js';

const MiB = 1024 * 1024;

interface Sent {
  request: PartRequest;
  /** The body's bytes as they were when sent: the uploader reuses a part's buffer once its request is done. */
  bytes: Uint8Array | undefined;
  /** Requests in flight when this one was sent, itself included. */
  inFlight: number;
}

/** A transport that answers like S3, records requests, and lets a test fail or delay any of them. */
function fakeTransport(
  behaviour: { part?: (n: number) => Promise<void> | void; complete?: string; create?: string } = {},
) {
  const sent: Sent[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const transport: UploadTransport = {
    async send(request) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const bytes = request.body === undefined ? undefined : await collect(source(request.body));
      sent.push({ request, bytes, inFlight });
      try {
        if (request.method === 'POST' && request.query === 'uploads') {
          return {
            headers: {},
            text:
              behaviour.create ??
              '<InitiateMultipartUploadResult><UploadId>id/with+odd=chars</UploadId></InitiateMultipartUploadResult>',
          };
        }
        if (request.method === 'PUT') {
          const n = Number(/partNumber=(\d+)/.exec(request.query)![1]);
          await behaviour.part?.(n);
          return { headers: { etag: `"etag-${n}"` }, text: '' };
        }
        if (request.method === 'POST')
          return {
            headers: {},
            text:
              behaviour.complete ??
              '<CompleteMultipartUploadResult><ETag>"final-3"</ETag></CompleteMultipartUploadResult>',
          };
        return { headers: {}, text: '' };
      } finally {
        inFlight--;
      }
    },
    partHeaders: async (part) => ({ 'x-part-length': String(part.length) }),
  };
  return { transport, sent, maxInFlight: () => maxInFlight };
}

/** A source as a one-shot stream of unknown length, as a Readable of unknown length reaches the uploader. */
function streamOf(chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Payload {
  return {
    kind: 'stream',
    length: undefined,
    stream: (async function* () {
      yield* chunks;
    })(),
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

function* chunks(total: number, sizes: number[]): Generator<Uint8Array> {
  let sent = 0;
  for (let i = 0; sent < total; i++) {
    const n = Math.min(sizes[i % sizes.length]!, total - sent);
    const chunk = new Uint8Array(n);
    for (let j = 0; j < n; j++) chunk[j] = (sent + j) % 251;
    sent += n;
    yield chunk;
  }
}

async function rejection(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (error) {
    return error;
  }
  return assert.unreachable('expected a rejection');
}

test('partSizeFor: the requested size, grown in whole MiB to stay within 10,000 parts', () => {
  assert.is(partSizeFor(undefined), DEFAULT_PART_SIZE);
  assert.is(partSizeFor(undefined, 16 * MiB), 16 * MiB);
  assert.is(partSizeFor(0), DEFAULT_PART_SIZE);
  assert.is(partSizeFor(10_000 * 8 * MiB), 8 * MiB);
  assert.is(partSizeFor(10_000 * 8 * MiB + 1), 9 * MiB);
  assert.is(partSizeFor(5 * 1024 * 1024 * MiB), 525 * MiB);
  assert.ok(Math.ceil((5 * 1024 * 1024 * MiB) / partSizeFor(5 * 1024 * 1024 * MiB)) <= MAX_PARTS);
  assert.is(partSizeFor(MiB, MIN_PART_SIZE), MIN_PART_SIZE);
});

test('a source is cut into parts of exactly partSize, the last shorter, whatever its chunks', async () => {
  for (const sizes of [[1], [7, 3], [1000], [4096], [12_345, 1]]) {
    const { transport, sent } = fakeTransport();
    const { etag } = await uploadMultipart(transport, streamOf(chunks(10_000, sizes)), {
      partSize: 4096,
      concurrency: 3,
      headers: { 'content-type': 'x/y' },
    });
    assert.is(etag, '"final-3"');
    const parts = sent.filter((s) => s.request.method === 'PUT');
    assert.equal(
      parts.map((s) => s.bytes!.length),
      [4096, 4096, 1808],
      String(sizes),
    );
    assert.equal(
      parts.map((s) => s.request.headers),
      [{ 'x-part-length': '4096' }, { 'x-part-length': '4096' }, { 'x-part-length': '1808' }],
    );
    const joined = Buffer.concat(parts.map((s) => s.bytes!));
    assert.ok(
      joined.every((byte, i) => byte === i % 251),
      'bytes in order',
    );
    // Create is detached from the caller's signal: an abort must not cut it off before its upload id is known.
    assert.equal(sent[0]!.request, {
      method: 'POST',
      query: 'uploads',
      headers: { 'content-type': 'x/y' },
      detached: true,
    });
    assert.equal(
      parts.map((s) => s.request.query),
      [1, 2, 3].map((n) => `partNumber=${n}&uploadId=id%2Fwith%2Bodd%3Dchars`),
    );
  }
});

test('a file or Blob is sent as ranges of itself, each read only when its part is sent, and again on a retry', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-ranges-'));
  try {
    const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const path = join(dir, 'ranges.bin');
    writeFileSync(path, bytes);
    for (const body of [fromFile(path), new Blob([bytes])]) {
      const payload = toPayload(body, undefined);
      const { transport, sent } = fakeTransport({ part: () => tick().then(() => undefined) });
      await uploadMultipart(transport, payload, { partSize: 4096, concurrency: 2, headers: {} });
      // In part order: two go at once, and either may be read first.
      const number = (s: Sent) => Number(/partNumber=(\d+)/.exec(s.request.query)![1]);
      const parts = sent.filter((s) => s.request.method === 'PUT').sort((a, b) => number(a) - number(b));
      assert.equal(
        parts.map((s) => [s.request.body?.kind, s.request.body?.length, s.request.headers]),
        [4096, 4096, 1808].map((length) => ['replayable', length, { 'x-part-length': String(length) }]),
      );
      assert.equal(Buffer.concat(parts.map((s) => s.bytes!)), bytes);
      // A retry opens the range again and gets the same bytes.
      assert.equal(await collect(source(parts[1]!.request.body!)), bytes.subarray(4096, 8192));
    }
    // A file that changes length under the upload is refused, naming the part's range, and the upload is aborted.
    const payload = toPayload(fromFile(path), undefined);
    writeFileSync(path, bytes.subarray(0, 6000));
    const shrunk = fakeTransport();
    const short = await rejection(
      uploadMultipart(shrunk.transport, payload, { partSize: 4096, concurrency: 1, headers: {} }),
    );
    assert.instance(short, BodyLengthError);
    assert.match(
      (short as Error).message,
      `fromFile(${path}) bytes 4096-8191: the body was to hold 4096 bytes but held only 1904`,
    );
    assert.is(shrunk.sent.at(-1)!.request.method, 'DELETE');
    writeFileSync(path, Buffer.concat([bytes, Buffer.from('more')]));
    const grown = fakeTransport();
    const long = await rejection(
      uploadMultipart(grown.transport, payload, { partSize: 4096, concurrency: 1, headers: {} }),
    );
    assert.instance(long, BodyLengthError);
    assert.match((long as Error).message, 'bytes 8192-9999: the body was to hold 1808 bytes but held more than 1808');
    assert.is(grown.sent.at(-1)!.request.method, 'DELETE');
    // A file replaced (renamed over) or rewritten in place, same size, after part 1 was sent: part 2 would come from
    // another version, so it is refused with SourceError and the upload aborted, never stitched.
    for (const [change, apply] of [
      [
        'replaced',
        () => {
          writeFileSync(`${path}.new`, Buffer.alloc(bytes.length, 1));
          renameSync(`${path}.new`, path);
        },
      ],
      [
        'rewritten',
        () => {
          writeFileSync(path, Buffer.alloc(bytes.length, 2));
          // Within the coarse clock tick of the measurement a rewrite keeps its mtime: set apart, as in writes.spec.ts.
          utimesSync(path, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
        },
      ],
    ] as const) {
      writeFileSync(path, bytes);
      const measured = toPayload(fromFile(path), undefined);
      const changing = fakeTransport({ part: (n) => void (n === 1 && apply()) });
      const refused = await rejection(
        uploadMultipart(changing.transport, measured, { partSize: 4096, concurrency: 1, headers: {} }),
      );
      assert.instance(refused, SourceError, `${change}: ${String(refused)}`);
      assert.match(
        (refused as Error).message,
        `bytes 4096-8191: the file was ${change === 'replaced' ? 'replaced' : 'modified'} since fromFile() measured it`,
      );
      assert.is(changing.sent.at(-1)!.request.method, 'DELETE', change);
      assert.not.ok(
        changing.sent.some((sent) => sent.request.method === 'POST' && sent.request.body !== undefined),
        change,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('part buffers are reused: no more than concurrency + 1 are ever allocated', async () => {
  const { transport } = fakeTransport({ part: async () => void (await tick()) });
  const buffers = new Set<ArrayBufferLike>();
  const recording: UploadTransport = {
    ...transport,
    send: (request) => {
      if (request.body?.kind === 'bytes' && request.body.length > 0) buffers.add(request.body.bytes.buffer);
      return transport.send(request);
    },
  };
  await uploadMultipart(recording, streamOf(chunks(40 * 4096, [1000])), {
    partSize: 4096,
    concurrency: 3,
    headers: {},
  });
  assert.ok(buffers.size <= 4, `${buffers.size} part buffers for 40 parts`);
  assert.ok(buffers.size >= 2);
});

test('an exact multiple of partSize makes no empty last part; a synchronous iterable works too', async () => {
  const { transport, sent } = fakeTransport();
  await uploadMultipart(transport, streamOf([new Uint8Array(100), new Uint8Array(100)]), {
    partSize: 100,
    concurrency: 4,
    headers: {},
  });
  assert.equal(
    sent.filter((s) => s.request.method === 'PUT').map((s) => s.bytes!.length),
    [100, 100],
  );
});

test('CompleteMultipartUpload lists every part in order with its ETag escaped', async () => {
  const { transport, sent } = fakeTransport({
    part: async (n) => {
      // Later parts finish first: the list is still in part order.
      await new Promise((resolve) => setTimeout(resolve, (4 - n) * 5));
    },
  });
  await uploadMultipart(transport, streamOf(chunks(35, [35])), {
    partSize: 10,
    concurrency: 4,
    headers: { 'content-type': 'text/plain' },
    conditions: { 'if-none-match': '*' },
  });
  // The object's headers go with CreateMultipartUpload, its conditions with CompleteMultipartUpload.
  assert.equal(sent[0]!.request.headers, { 'content-type': 'text/plain' });
  const complete = sent.at(-1)!.request;
  assert.is(complete.method, 'POST');
  assert.is(complete.query, 'uploadId=id%2Fwith%2Bodd%3Dchars');
  assert.equal(complete.headers, { 'if-none-match': '*', 'content-type': 'application/xml' });
  const body = new TextDecoder().decode(sent.at(-1)!.bytes);
  assert.match(
    body,
    /^<CompleteMultipartUpload><Part><PartNumber>1<\/PartNumber><ETag>&quot;etag-1&quot;<\/ETag><\/Part>/,
  );
  const parts = childrenNamed(parseXml(body), 'Part').map((p) => [textOf(p, 'PartNumber'), textOf(p, 'ETag')]);
  assert.equal(parts, [
    ['1', '"etag-1"'],
    ['2', '"etag-2"'],
    ['3', '"etag-3"'],
    ['4', '"etag-4"'],
  ]);
});

test('no more than `concurrency` parts are in flight', async () => {
  for (const concurrency of [1, 2, 5]) {
    const { transport, sent, maxInFlight } = fakeTransport({ part: () => tick().then(() => undefined) });
    await uploadMultipart(transport, streamOf(chunks(100, [3])), { partSize: 10, concurrency, headers: {} });
    assert.is(sent.filter((s) => s.request.method === 'PUT').length, 10);
    assert.is(maxInFlight(), concurrency, `concurrency ${concurrency}`);
  }
});

test('an empty source uploads one empty part', async () => {
  const { transport, sent } = fakeTransport();
  await uploadMultipart(transport, streamOf([]), { partSize: 10, concurrency: 2, headers: {} });
  const parts = sent.filter((s) => s.request.method === 'PUT');
  assert.is(parts.length, 1);
  assert.is(parts[0]!.bytes!.length, 0);
  assert.match(new TextDecoder().decode(sent.at(-1)!.bytes), '<ETag>&quot;etag-1&quot;</ETag>');
});

test('a failing part aborts the upload once the parts in flight have settled, and sends no further part', async () => {
  let slowDone = false;
  const { transport, sent } = fakeTransport({
    part: async (n) => {
      if (n === 1) {
        await new Promise((resolve) => setTimeout(resolve, 30));
        slowDone = true;
      }
      if (n === 2) throw new Error('part 2 failed');
    },
  });
  let abortSentAfterSlowPart: boolean | undefined;
  const send = transport.send.bind(transport);
  transport.send = (request) => {
    if (request.method === 'DELETE') abortSentAfterSlowPart = slowDone;
    return send(request);
  };
  const error = await rejection(
    uploadMultipart(transport, streamOf(chunks(100, [10])), { partSize: 10, concurrency: 2, headers: {} }),
  );
  assert.is((error as Error).message, 'part 2 failed');
  assert.is(abortSentAfterSlowPart, true, 'the abort waited for part 1');
  const abort = sent.at(-1)!.request;
  assert.equal(abort, { method: 'DELETE', query: 'uploadId=id%2Fwith%2Bodd%3Dchars', detached: true });
  assert.ok(sent.filter((s) => s.request.method === 'PUT').length <= 4, 'reading stopped soon after the failure');
  assert.not.ok(
    sent.some((s) => s.request.method === 'POST' && s.request.query.startsWith('uploadId=')),
    'never completed',
  );
});

test('a source that throws, an abort signal, and a failing abort: the first error is thrown', async () => {
  const { transport, sent } = fakeTransport();
  async function* broken() {
    yield new Uint8Array(10);
    throw new Error('disk read failed');
  }
  assert.is(
    (
      (await rejection(
        uploadMultipart(transport, streamOf(broken()), { partSize: 10, concurrency: 2, headers: {} }),
      )) as Error
    ).message,
    'the body stream: could not be read (disk read failed); nothing was stored',
  );
  assert.is(sent.at(-1)!.request.method, 'DELETE');

  const controller = new AbortController();
  const aborting = fakeTransport({
    part: (n) => {
      if (n === 2) controller.abort(new Error('stop'));
    },
  });
  const aborted = await rejection(
    uploadMultipart(aborting.transport, streamOf(chunks(100, [10])), {
      partSize: 10,
      concurrency: 1,
      headers: {},
      signal: controller.signal,
    }),
  );
  assert.is((aborted as Error).message, 'stop');
  assert.is(aborting.sent.at(-1)!.request.method, 'DELETE');
  assert.is(aborting.sent.filter((s) => s.request.method === 'PUT').length, 2);

  // Aborted after the last part: the upload is not completed.
  const late = new AbortController();
  const lateTransport = fakeTransport({ part: () => late.abort(new Error('late')) });
  assert.is(
    (
      (await rejection(
        uploadMultipart(lateTransport.transport, streamOf([new Uint8Array(5)]), {
          partSize: 10,
          concurrency: 2,
          headers: {},
          signal: late.signal,
        }),
      )) as Error
    ).message,
    'late',
  );
  assert.equal(
    lateTransport.sent.map((s) => s.request.method),
    ['POST', 'PUT', 'DELETE'],
  );

  const failingAbort = fakeTransport({
    part: () => {
      throw new Error('part failed');
    },
  });
  const send = failingAbort.transport.send.bind(failingAbort.transport);
  failingAbort.transport.send = (request) =>
    request.method === 'DELETE' ? Promise.reject(new Error('abort failed too')) : send(request);
  assert.is(
    (
      (await rejection(
        uploadMultipart(failingAbort.transport, streamOf([new Uint8Array(5)]), {
          partSize: 10,
          concurrency: 2,
          headers: {},
        }),
      )) as Error
    ).message,
    'part failed',
  );
});

test('replies that break the protocol: no UploadId, no ETag, an error inside the 200 of CompleteMultipartUpload', async () => {
  const noId = fakeTransport({
    create: '<InitiateMultipartUploadResult><Bucket>b</Bucket></InitiateMultipartUploadResult>',
  });
  assert.match(
    (
      (await rejection(
        uploadMultipart(noId.transport, streamOf([new Uint8Array(1)]), { partSize: 10, concurrency: 1, headers: {} }),
      )) as Error
    ).message,
    'no UploadId',
  );
  assert.is(noId.sent.length, 1, 'nothing to abort');

  const noEtag = fakeTransport();
  const send = noEtag.transport.send.bind(noEtag.transport);
  noEtag.transport.send = async (request) => (request.method === 'PUT' ? { headers: {}, text: '' } : send(request));
  assert.is(
    (
      (await rejection(
        uploadMultipart(noEtag.transport, streamOf([new Uint8Array(1)]), { partSize: 10, concurrency: 1, headers: {} }),
      )) as Error
    ).message,
    'UploadPart 1 reply has no ETag',
  );
  assert.is(noEtag.sent.at(-1)!.request.method, 'DELETE');

  const failed = fakeTransport({
    complete:
      '<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message><RequestId>r1</RequestId><HostId>h1</HostId></Error>',
  });
  const error = await rejection(
    uploadMultipart(failed.transport, streamOf([new Uint8Array(1)]), { partSize: 10, concurrency: 1, headers: {} }),
  );
  assert.instance(error, S3Error);
  const s3 = error as S3Error;
  assert.equal(
    [s3.code, s3.status, s3.requestId, s3.hostId, s3.request],
    ['InternalError', 200, 'r1', 'h1', 'CompleteMultipartUpload'],
  );
  assert.is(s3.message, 'CompleteMultipartUpload: 200 InternalError: We encountered an internal error.');
  assert.is(failed.sent.at(-1)!.request.method, 'DELETE');

  const bare = fakeTransport({ complete: '<Error></Error>' });
  // An <Error> without a Code is no S3 refusal: a ProtocolError (issue 10's error model), and the upload is aborted.
  const bareError = (await rejection(
    uploadMultipart(bare.transport, streamOf([new Uint8Array(1)]), { partSize: 10, concurrency: 1, headers: {} }),
  )) as ProtocolError;
  assert.instance(bareError, ProtocolError);
  assert.equal(
    [bareError.code, bareError.message],
    ['ERR_S3V4_PROTOCOL', 'CompleteMultipartUpload: HTTP 200 without an S3 error code'],
  );
  assert.is(bare.sent.at(-1)!.request.method, 'DELETE');

  const noEtagInResult = fakeTransport({ complete: '<CompleteMultipartUploadResult></CompleteMultipartUploadResult>' });
  const completed = await uploadMultipart(noEtagInResult.transport, streamOf([new Uint8Array(1)]), {
    partSize: 10,
    concurrency: 1,
    headers: {},
  });
  assert.is(completed.etag, '');
});

test('more than 10,000 parts is refused, and the upload aborted', async () => {
  const { transport, sent } = fakeTransport();
  const error = await rejection(
    uploadMultipart(transport, streamOf([new Uint8Array(MAX_PARTS + 1)]), {
      partSize: 1,
      concurrency: 64,
      headers: {},
    }),
  );
  assert.instance(error, InvalidArgumentError);
  assert.is((error as InvalidArgumentError).argument, 'partSize');
  assert.match((error as Error).message, 'more than 10000 parts of 1 bytes; raise partSize');
  assert.is(sent.at(-1)!.request.method, 'DELETE');
  assert.is(sent.filter((s) => s.request.method === 'PUT').length, MAX_PARTS);
});

test('parseUploads: uploads with their dates, and the markers of the next page', () => {
  const last =
    parseUploads(`<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
    <IsTruncated>false</IsTruncated>
    <Upload><Key>a &amp; b</Key><UploadId>2~x</UploadId><Initiated>2026-11-25T23:20:49.984Z</Initiated></Upload>
    <Upload><Key>c</Key><UploadId>2~y</UploadId><Initiated>2001-01-01T00:00:00Z</Initiated></Upload>
  </ListMultipartUploadsResult>`);
  assert.equal(last, {
    uploads: [
      { key: 'a & b', uploadId: '2~x', initiated: new Date('2026-11-25T23:20:49.984Z') },
      { key: 'c', uploadId: '2~y', initiated: new Date('2001-01-01T00:00:00Z') },
    ],
  });
  const truncated = parseUploads(
    '<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>c</NextKeyMarker><NextUploadIdMarker>2~y</NextUploadIdMarker></ListMultipartUploadsResult>',
  );
  assert.equal(truncated, { uploads: [], next: { keyMarker: 'c', uploadIdMarker: '2~y' } });
  // Issue 11, item 6: a truncated page without a marker would loop, so it is refused; a missing date is unreadable
  // (NaN), not 1970, so the upload is never taken for stale.
  assert.throws(
    () => parseUploads('<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>'),
    (error: unknown) => error instanceof ProtocolError && /no NextKeyMarker/.test(error.message),
  );
  const undated = parseUploads(
    '<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>',
  );
  assert.equal(
    undated.uploads.map((u) => [u.key, u.uploadId, u.initiated.getTime()]),
    [['k', 'u', Number.NaN]],
  );
  // Issue 11, item 12: an upload without its key or id is refused, never aborted as '' (and no other root passes).
  for (const reply of [
    '<ListMultipartUploadsResult><Upload></Upload></ListMultipartUploadsResult>',
    '<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId></UploadId></Upload></ListMultipartUploadsResult>',
    '<ListBucketResult></ListBucketResult>',
  ]) {
    assert.throws(
      () => parseUploads(reply),
      (error: unknown) => error instanceof ProtocolError && /^GET \?uploads: /.test(error.message),
      reply,
    );
  }
});

test('a resume keeps each earlier part whose size and MD5 match, sends the others, and keeps the upload on failure', async () => {
  const bytes = Uint8Array.from(chunks(35, [35]).next().value!);
  const md5 = (from: number, to: number) => createHash('md5').update(bytes.subarray(from, to)).digest('hex');
  const { transport, sent } = fakeTransport();
  const kept: number[] = [];
  transport.keptPart = (count) => kept.push(count);
  const completed = await uploadMultipart(transport, toPayload(bytes, undefined), {
    partSize: 10,
    concurrency: 2,
    headers: {},
    resume: {
      uploadId: 'earlier',
      parts: new Map([
        [1, { size: 10, etag: md5(0, 10) }],
        // Other bytes: sent again.
        [2, { size: 10, etag: md5(0, 10) }],
        // An ETag that is not an MD5 (SSE-KMS) cannot tell: sent again.
        [3, { size: 10, etag: 'not-an-md5' }],
        [4, { size: 5, etag: md5(30, 35) }],
      ]),
    },
  });
  assert.equal(completed.kept, { parts: 2, bytes: 15 });
  assert.equal(kept, [10, 5]);
  // No CreateMultipartUpload: the earlier upload's id throughout.
  assert.equal(
    sent.map((s) => [s.request.method, s.request.query.replace(/^partNumber=(\d+)&uploadId=earlier$/, 'part $1')]),
    [
      ['PUT', 'part 2'],
      ['PUT', 'part 3'],
      ['POST', 'uploadId=earlier'],
    ],
  );
  const complete = parseXml(new TextDecoder().decode(sent.at(-1)!.bytes));
  assert.equal(
    childrenNamed(complete, 'Part').map((part) => textOf(part, 'ETag')),
    [md5(0, 10), '"etag-2"', '"etag-3"', md5(30, 35)],
  );

  // With keep, a failure leaves the upload for the next resume: no AbortMultipartUpload.
  const failing = fakeTransport({
    part: () => {
      throw new Error('network down');
    },
  });
  await rejection(
    uploadMultipart(failing.transport, toPayload(bytes, undefined), {
      partSize: 10,
      concurrency: 1,
      headers: {},
      keep: true,
    }),
  );
  assert.not.ok(failing.sent.some((s) => s.request.method === 'DELETE'));
});

test('parseParts: the parts of an upload with sizes and unquoted ETags, and the marker of the next page', () => {
  const page = parseParts(
    `<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
    <Part><PartNumber>1</PartNumber><Size>5242880</Size><ETag>&quot;0123456789abcdef0123456789abcdef&quot;</ETag></Part>
    <Part><PartNumber>2</PartNumber><Size>7</Size><ETag>"x"</ETag></Part></ListPartsResult>`,
  );
  assert.equal(page, {
    parts: [
      { partNumber: 1, size: 5242880, etag: '0123456789abcdef0123456789abcdef' },
      { partNumber: 2, size: 7, etag: 'x' },
    ],
    next: '2',
  });
  for (const part of [
    '<PartNumber>0</PartNumber><Size>1</Size><ETag>e</ETag>',
    '<PartNumber>1</PartNumber><Size>-1</Size><ETag>e</ETag>',
    '<PartNumber>1</PartNumber><Size>1</Size>',
  ]) {
    assert.throws(
      () => parseParts(`<ListPartsResult><Part>${part}</Part></ListPartsResult>`),
      (error: unknown) => error instanceof ProtocolError && /^GET \?uploadId: /.test(error.message),
      part,
    );
  }
  assert.throws(
    () => parseParts('<ListPartsResult><IsTruncated>true</IsTruncated></ListPartsResult>'),
    (error: unknown) => error instanceof ProtocolError && /no NextPartNumberMarker/.test(error.message),
  );
});

test.run();
