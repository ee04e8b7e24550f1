/**
 * Unit specs of lib/signer.ts through its public API. They pin the exact
 * canonical requests, headers, URLs and signatures the signer produces, so a
 * rewrite for speed that changes any observable byte fails here. The clock is
 * never read: every call passes `date`.
 */
import { createHash, createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ALGORITHM,
  ChunkSigner,
  EMPTY_SHA256,
  MAX_PRESIGN_EXPIRY,
  MIN_CHUNK_SIZE,
  STREAMING_PAYLOAD,
  SigV4Signer,
  SigningKey,
  UNSIGNED_PAYLOAD,
  canonicalRequest,
  deriveSigningKey,
  encodeComponent,
  encodeKey,
  hashPayload,
  signature,
  streamingContentLength,
  stringToSign,
  type SignRequest,
  type SignerOptions,
} from '../lib/index.js';
import { prng, throwsArgument as throwsArgumentShowing } from './helpers.js';

const AK = 'AKIDEXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const REGION = 'us-east-1';
const DATE = new Date('2024-05-06T07:08:09Z');
const AMZ_DATE = '20240506T070809Z';
const DAY = '20240506';
const SCOPE = `${DAY}/${REGION}/s3/aws4_request`;
const HOST = 'examplebucket.s3.amazonaws.com';
const TOKEN = 'FQoGZXIvYXdzEXAMPLE+token/with=base64==';

function makeSigner(options: Partial<SignerOptions> = {}): SigV4Signer {
  return new SigV4Signer({ accessKeyId: AK, secretAccessKey: SECRET, region: REGION, ...options });
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

/** The SigV4 signature of a canonical request, computed here from scratch with node:crypto only. */
function independentSignature(creq: string, amzDate: string, scope: string, secret = SECRET): string {
  const [day, region, service] = scope.split('/') as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
  const sts = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256(creq)}`;
  return createHmac('sha256', key).update(sts).digest('hex');
}

/** Runs `fn`, which must throw an InvalidArgumentError about `argument` without showing the secret key. */
const throwsArgument = (fn: () => unknown, argument: string) => throwsArgumentShowing(fn, argument, [SECRET]);

/** Splits a canonical request into its parts. */
function parts(creq: string) {
  const lines = creq.split('\n');
  const blank = lines.indexOf('', 3);
  return {
    method: lines[0]!,
    uri: lines[1]!,
    query: lines[2]!,
    headers: lines.slice(3, blank),
    signed: lines[blank + 1]!,
    payloadHash: lines[blank + 2]!,
    count: lines.length,
  };
}

function signedHeadersOf(authorization: string): string {
  return /SignedHeaders=([^,]*),/.exec(authorization)![1]!;
}

function signatureOf(authorization: string): string {
  return /Signature=([0-9a-f]*)$/.exec(authorization)![1]!;
}

function queryOf(url: string): Array<[string, string]> {
  const q = url.slice(url.indexOf('?') + 1);
  return q.split('&').map((p) => {
    const eq = p.indexOf('=');
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
}

function creqOf(request: SignRequest, signer = makeSigner()) {
  return parts(signer.explainSign(request, { date: DATE }).canonicalRequest);
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})$/;

// ---------------------------------------------------------------------------
// Spec steps

test('constants', () => {
  assert.is(ALGORITHM, 'AWS4-HMAC-SHA256');
  assert.is(UNSIGNED_PAYLOAD, 'UNSIGNED-PAYLOAD');
  assert.is(STREAMING_PAYLOAD, 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  assert.is(EMPTY_SHA256, sha256(''));
  assert.is(MAX_PRESIGN_EXPIRY, 604800);
  assert.is(MIN_CHUNK_SIZE, 8192);
});

test('deriveSigningKey matches the AWS documentation example', () => {
  const key = deriveSigningKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam');
  assert.ok(Buffer.isBuffer(key));
  assert.is(key.length, 32);
  assert.is(key.toString('hex'), 'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
  // each part of the scope matters
  const other = [
    deriveSigningKey(`${SECRET}x`, '20120215', 'us-east-1', 'iam'),
    deriveSigningKey(SECRET, '20120216', 'us-east-1', 'iam'),
    deriveSigningKey(SECRET, '20120215', 'us-east-2', 'iam'),
    deriveSigningKey(SECRET, '20120215', 'us-east-1', 's3'),
  ].map((k) => k.toString('hex'));
  assert.is(new Set([...other, key.toString('hex')]).size, 5);
});

test('canonicalRequest, stringToSign and signature are the SigV4 tasks 1, 2 and 4', () => {
  const creq = canonicalRequest('GET', '/a', 'x=1', 'host:h\n', 'host', EMPTY_SHA256);
  assert.is(creq, `GET\n/a\nx=1\nhost:h\n\nhost\n${EMPTY_SHA256}`);
  const sts = stringToSign(AMZ_DATE, SCOPE, creq);
  assert.is(sts, `AWS4-HMAC-SHA256\n${AMZ_DATE}\n${SCOPE}\n${sha256(creq)}`);
  const key = deriveSigningKey(SECRET, DAY, REGION, 's3');
  const sig = signature(key, sts);
  assert.match(sig, /^[0-9a-f]{64}$/);
  assert.is(sig, createHmac('sha256', key).update(sts).digest('hex'));
  assert.is(sig, independentSignature(creq, AMZ_DATE, SCOPE));
});

test('hashPayload is hex SHA-256 of strings (UTF-8) and bytes', () => {
  assert.is(hashPayload(''), EMPTY_SHA256);
  assert.is(hashPayload('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.is(
    hashPayload(new Uint8Array([0x61, 0x62, 0x63])),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.is(hashPayload('é'), sha256(Buffer.from([0xc3, 0xa9])));
  assert.is(hashPayload(new Uint8Array(0)), EMPTY_SHA256);
});

test('streamingContentLength counts every chunk frame and the empty final chunk', () => {
  const frame = (size: number) => size.toString(16).length + ';chunk-signature='.length + 64 + 2 + size + 2;
  assert.is(streamingContentLength(0, 8192), 86);
  assert.is(streamingContentLength(0, 65536), frame(0));
  // S3 documentation example: 66560 bytes in 64 KiB chunks.
  assert.is(streamingContentLength(66560, 65536), 66824);
  assert.is(streamingContentLength(1, 8192), frame(1) + frame(0));
  assert.is(streamingContentLength(8192, 8192), frame(8192) + frame(0));
  assert.is(streamingContentLength(8193, 8192), frame(8192) + frame(1) + frame(0));
  assert.is(streamingContentLength(5 * 1024 * 1024 + 17, 65536), 80 * frame(65536) + frame(17) + frame(0));
});

// ---------------------------------------------------------------------------
// Constructor

test('constructor keeps the public options and defaults service and mode to s3', () => {
  const signer = makeSigner();
  assert.is(signer.accessKeyId, AK);
  assert.is(signer.region, REGION);
  assert.is(signer.service, 's3');
  assert.is(signer.mode, 's3');
  const generic = makeSigner({ service: 'execute-api', mode: 'generic', region: 'eu-west-3' });
  assert.is(generic.service, 'execute-api');
  assert.is(generic.mode, 'generic');
  assert.is(generic.region, 'eu-west-3');
});

test('constructor rejects a missing, empty or malformed accessKeyId', () => {
  throwsArgument(() => makeSigner({ accessKeyId: '' }), 'accessKeyId');
  throwsArgument(() => makeSigner({ accessKeyId: undefined as unknown as string }), 'accessKeyId');
  throwsArgument(() => makeSigner({ accessKeyId: 42 as unknown as string }), 'accessKeyId');
  throwsArgument(() => makeSigner({ accessKeyId: 'AK ID' }), 'accessKeyId');
  throwsArgument(() => makeSigner({ accessKeyId: 'AKé' }), 'accessKeyId');
  throwsArgument(() => makeSigner({ accessKeyId: 'AK\n' }), 'accessKeyId');
});

test('constructor rejects a missing or empty secretAccessKey', () => {
  throwsArgument(() => makeSigner({ secretAccessKey: '' }), 'secretAccessKey');
  throwsArgument(() => makeSigner({ secretAccessKey: undefined as unknown as string }), 'secretAccessKey');
  throwsArgument(() => makeSigner({ secretAccessKey: 1234 as unknown as string }), 'secretAccessKey');
});

test('constructor rejects a sessionToken that is empty or not printable ASCII without spaces', () => {
  for (const bad of ['', 'tok en', 'tok\nen', 'tok\ten', 'tokén']) {
    const e = throwsArgument(() => makeSigner({ sessionToken: bad }), 'sessionToken');
    if (bad.length > 2) assert.not.ok(e.message.includes(bad), 'the session token leaked into the message');
  }
  throwsArgument(() => makeSigner({ sessionToken: 5 as unknown as string }), 'sessionToken');
  // undefined means no token
  assert.not.ok(
    'x-amz-security-token' in
      makeSigner({ sessionToken: undefined }).sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE }),
  );
});

test('constructor rejects a region or service with "/", spaces or nothing', () => {
  for (const bad of ['us/east-1', 'us east-1', '', 'ü']) throwsArgument(() => makeSigner({ region: bad }), 'region');
  throwsArgument(() => makeSigner({ region: undefined as unknown as string }), 'region');
  for (const bad of ['s3/x', 's 3', '']) throwsArgument(() => makeSigner({ service: bad }), 'service');
});

test('constructor rejects an unknown mode and a non-object', () => {
  const e = throwsArgument(() => makeSigner({ mode: 'S3' as 's3' }), 'mode');
  assert.match(e.message, /"s3" or "generic", got S3/);
  throwsArgument(() => new SigV4Signer(null as unknown as SignerOptions), 'options');
  throwsArgument(() => new SigV4Signer('AK:SECRET' as unknown as SignerOptions), 'options');
  throwsArgument(() => new SigV4Signer(undefined as unknown as SignerOptions), 'options');
});

test('the secret key and session token never show in errors, util.inspect or JSON.stringify', () => {
  const errors: unknown[] = [];
  const collect = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      errors.push(error);
    }
  };
  const signer = makeSigner({ sessionToken: TOKEN });
  // fill every cache first
  signer.sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
  signer.presign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE, expiresIn: 60 });
  signer.signStreaming({ method: 'PUT', url: `https://${HOST}/k` }, { date: DATE, contentLength: 1 });
  signer.presignPost({ bucket: 'b', key: 'k', expiresIn: 60 }, { date: DATE });

  collect(() => makeSigner({ accessKeyId: '' }));
  collect(() => makeSigner({ sessionToken: '' }));
  collect(() => makeSigner({ accessKeyId: 'bad key', sessionToken: TOKEN }));
  collect(() => makeSigner({ secretAccessKey: '' }));
  collect(() => makeSigner({ sessionToken: `bad ${TOKEN}` }));
  collect(() => makeSigner({ region: 'a/b' }));
  collect(() => makeSigner({ mode: 'x' as 's3' }));
  collect(() => signer.sign({ method: 'GET /', url: `https://${HOST}/` }, { date: DATE }));
  collect(() => signer.sign({ method: 'GET', url: 'nope' }, { date: DATE }));
  collect(() => signer.sign({ method: 'GET', url: `https://${HOST}/`, headers: { 'x a': '1' } }, { date: DATE }));
  collect(() => signer.sign({ method: 'GET', url: `https://${HOST}/`, payloadHash: 'a b' }, { date: DATE }));
  collect(() => signer.sign({ method: 'GET', url: `https://${HOST}/` }, { date: NaN }));
  collect(() => signer.presign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE, expiresIn: 0 }));
  collect(() => signer.signStreaming({ method: 'PUT', url: `https://${HOST}/` }, { date: DATE, contentLength: -1 }));
  collect(() => signer.presignPost({ bucket: '', key: 'k', expiresIn: 60 }, { date: DATE }));
  assert.is(errors.length, 15);

  const secretKeyHex = deriveSigningKey(SECRET, DAY, REGION, 's3').toString('hex');
  const texts = [
    ...errors.flatMap((e) => [
      String(e),
      (e as Error).stack ?? '',
      inspect(e, { showHidden: true, depth: Infinity }),
      JSON.stringify(e),
    ]),
    inspect(signer),
    inspect(signer, { showHidden: true, depth: Infinity, getters: true }),
    JSON.stringify(signer),
    String(signer),
    Object.keys(signer).join(','),
  ];
  for (const text of texts) {
    assert.not.ok(text.includes(SECRET), `secret leaked: ${text}`);
    assert.not.ok(text.includes(secretKeyHex), `signing key leaked: ${text}`);
  }
  for (const text of texts.slice(0, -5))
    assert.not.ok(text.includes(TOKEN), `session token leaked in an error: ${text}`);
  assert.equal(JSON.parse(JSON.stringify(signer)), { accessKeyId: AK, region: REGION, service: 's3', mode: 's3' });
});

// ---------------------------------------------------------------------------
// sign(): output headers and payload hash

test('sign(): a plain GET, checked against a hand-written canonical request', () => {
  const signer = makeSigner();
  const result = signer.explainSign({ method: 'GET', url: `https://${HOST}/test.txt` }, { date: DATE });
  const expected = [
    'GET',
    '/test.txt',
    '',
    `host:${HOST}`,
    `x-amz-content-sha256:${EMPTY_SHA256}`,
    `x-amz-date:${AMZ_DATE}`,
    '',
    'host;x-amz-content-sha256;x-amz-date',
    EMPTY_SHA256,
  ].join('\n');
  assert.fixture(result.canonicalRequest, expected);
  assert.fixture(result.stringToSign, `AWS4-HMAC-SHA256\n${AMZ_DATE}\n${SCOPE}\n${sha256(expected)}`);
  const sig = independentSignature(expected, AMZ_DATE, SCOPE);
  assert.is(result.signature, sig);
  assert.equal(result.headers, {
    authorization: `AWS4-HMAC-SHA256 Credential=${AK}/${SCOPE}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${sig}`,
    'x-amz-date': AMZ_DATE,
    'x-amz-content-sha256': EMPTY_SHA256,
  });
  assert.equal(signer.sign({ method: 'GET', url: `https://${HOST}/test.txt` }, { date: DATE }), result.headers);
});

test('sign(): the Authorization header has the SigV4 format', () => {
  const auth = makeSigner({ region: 'eu-central-1' }).sign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'Content-Type': 'text/plain' } },
    { date: DATE },
  ).authorization;
  const m = AUTHORIZATION.exec(auth);
  assert.ok(m, auth);
  assert.is(m![1], AK);
  assert.is(m![2], DAY);
  assert.is(m![3], 'eu-central-1');
  assert.is(m![4], 's3');
  assert.is(m![5], 'content-type;host;x-amz-content-sha256;x-amz-date');
});

test('sign(): x-amz-content-sha256 is the empty-body hash without a body', () => {
  const h = makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
  assert.is(h['x-amz-content-sha256'], EMPTY_SHA256);
  const c = creqOf({ method: 'GET', url: `https://${HOST}/`, body: undefined });
  assert.is(c.payloadHash, EMPTY_SHA256);
});

test('sign(): a string body is hashed as UTF-8', () => {
  const body = 'Welcome to Amazon S3. é';
  const r = makeSigner().explainSign({ method: 'PUT', url: `https://${HOST}/k`, body }, { date: DATE });
  assert.is(r.headers['x-amz-content-sha256'], sha256(Buffer.from(body, 'utf8')));
  assert.is(parts(r.canonicalRequest).payloadHash, sha256(Buffer.from(body, 'utf8')));
  assert.ok(r.canonicalRequest.includes(`\nx-amz-content-sha256:${sha256(Buffer.from(body, 'utf8'))}\n`));
});

test('sign(): a Uint8Array or Buffer body is hashed as bytes, same as the equal string', () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 255]);
  const h = makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: bytes }, { date: DATE });
  assert.is(h['x-amz-content-sha256'], sha256(bytes));
  const a = makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: Buffer.from('hello') }, { date: DATE });
  const b = makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: 'hello' }, { date: DATE });
  assert.equal(a, b);
  const empty = makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: '' }, { date: DATE });
  assert.is(empty['x-amz-content-sha256'], EMPTY_SHA256);
});

test('sign(): a body of another type is rejected naming body', () => {
  throwsArgument(
    () =>
      makeSigner().sign(
        { method: 'PUT', url: `https://${HOST}/k`, body: new ArrayBuffer(2) as unknown as Uint8Array },
        { date: DATE },
      ),
    'body',
  );
  throwsArgument(
    () => makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: 12 as unknown as string }, { date: DATE }),
    'body',
  );
  throwsArgument(
    () =>
      makeSigner().sign({ method: 'PUT', url: `https://${HOST}/k`, body: null as unknown as string }, { date: DATE }),
    'body',
  );
});

test('sign(): a given payloadHash is used as is, even with a body', () => {
  const hash = 'a'.repeat(64);
  const r = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, payloadHash: hash, body: 'ignored' },
    { date: DATE },
  );
  assert.is(r.headers['x-amz-content-sha256'], hash);
  assert.is(parts(r.canonicalRequest).payloadHash, hash);
  const u = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, payloadHash: UNSIGNED_PAYLOAD },
    { date: DATE },
  );
  assert.is(u.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  assert.is(parts(u.canonicalRequest).payloadHash, 'UNSIGNED-PAYLOAD');
  assert.ok(u.canonicalRequest.includes('\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n'));
});

test('sign(): the x-amz-content-sha256 header is the payload hash when no payloadHash is given', () => {
  const r = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'X-Amz-Content-Sha256': ' UNSIGNED-PAYLOAD ' }, body: 'x' },
    { date: DATE },
  );
  assert.is(r.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
  const p = parts(r.canonicalRequest);
  assert.is(p.payloadHash, 'UNSIGNED-PAYLOAD');
  assert.equal(
    p.headers.filter((l) => l.startsWith('x-amz-content-sha256:')),
    ['x-amz-content-sha256:UNSIGNED-PAYLOAD'],
  );
});

test('sign(): an undefined x-amz-content-sha256 header is no header', () => {
  const r = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'x-amz-content-sha256': undefined }, body: 'abc' },
    { date: DATE },
  );
  assert.is(r.headers['x-amz-content-sha256'], sha256('abc'));
  const g = makeSigner({ mode: 'generic' }).explainSign(
    { method: 'PUT', url: 'https://h/k', headers: { 'X-Amz-Content-Sha256': undefined }, payloadHash: 'abc' },
    { date: DATE },
  );
  assert.is(parts(g.canonicalRequest).payloadHash, 'abc');
  assert.is(parts(g.canonicalRequest).signed, 'host;x-amz-date');
});

test('sign(): generic mode signs a caller x-amz-content-sha256 header as given', () => {
  const g = makeSigner({ mode: 'generic' }).explainSign(
    { method: 'PUT', url: 'https://h/k', headers: { 'X-Amz-Content-Sha256': UNSIGNED_PAYLOAD } },
    { date: DATE },
  );
  assert.is(parts(g.canonicalRequest).payloadHash, UNSIGNED_PAYLOAD);
  assert.ok(parts(g.canonicalRequest).headers.includes('x-amz-content-sha256:UNSIGNED-PAYLOAD'));
  assert.not.ok('x-amz-content-sha256' in g.headers);
});

test('sign(): payloadHash and the x-amz-content-sha256 header must agree', () => {
  const hash = sha256('data');
  const ok = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'x-amz-content-sha256': hash }, payloadHash: hash },
    { date: DATE },
  );
  assert.is(parts(ok.canonicalRequest).payloadHash, hash);
  assert.is(parts(ok.canonicalRequest).headers.filter((l) => l.startsWith('x-amz-content-sha256')).length, 1);
  const e = throwsArgument(
    () =>
      makeSigner().sign(
        {
          method: 'PUT',
          url: `https://${HOST}/k`,
          headers: { 'X-Amz-Content-SHA256': UNSIGNED_PAYLOAD },
          payloadHash: hash,
        },
        { date: DATE },
      ),
    'payloadHash',
  );
  assert.match(e.message, /x-amz-content-sha256/);
});

test('sign(): a payloadHash that is empty or not printable ASCII is rejected', () => {
  for (const bad of ['', 'has space', 'é', 'a\nb']) {
    throwsArgument(
      () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/`, payloadHash: bad }, { date: DATE }),
      'payloadHash',
    );
  }
  throwsArgument(
    () =>
      makeSigner().sign(
        { method: 'GET', url: `https://${HOST}/`, payloadHash: 5 as unknown as string },
        { date: DATE },
      ),
    'payloadHash',
  );
  throwsArgument(
    () =>
      makeSigner().sign(
        { method: 'GET', url: `https://${HOST}/`, headers: { 'x-amz-content-sha256': '' } },
        { date: DATE },
      ),
    'payloadHash',
  );
});

test('sign(): a session token is sent as x-amz-security-token and signed', () => {
  const r = makeSigner({ sessionToken: TOKEN }).explainSign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
  assert.is(r.headers['x-amz-security-token'], TOKEN);
  assert.is(signedHeadersOf(r.headers.authorization), 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token');
  assert.ok(parts(r.canonicalRequest).headers.includes(`x-amz-security-token:${TOKEN}`));
  assert.equal(Object.keys(r.headers).sort(), [
    'authorization',
    'x-amz-content-sha256',
    'x-amz-date',
    'x-amz-security-token',
  ]);
  // a caller header of the same name is replaced by the signer's token
  const c = creqOf(
    { method: 'GET', url: `https://${HOST}/`, headers: { 'X-Amz-Security-Token': 'other' } },
    makeSigner({ sessionToken: TOKEN }),
  );
  assert.equal(
    c.headers.filter((l) => l.startsWith('x-amz-security-token')),
    [`x-amz-security-token:${TOKEN}`],
  );
});

test('sign(): signSessionToken=false sends the token without signing it', () => {
  const r = makeSigner({ sessionToken: TOKEN, signSessionToken: false }).explainSign(
    { method: 'GET', url: `https://${HOST}/` },
    { date: DATE },
  );
  assert.is(r.headers['x-amz-security-token'], TOKEN);
  assert.is(signedHeadersOf(r.headers.authorization), 'host;x-amz-content-sha256;x-amz-date');
  assert.not.ok(r.canonicalRequest.includes(TOKEN));
  const plain = makeSigner().explainSign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
  assert.is(r.signature, plain.signature);
});

test('sign(): without a token there is no x-amz-security-token', () => {
  const h = makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
  assert.equal(Object.keys(h), ['authorization', 'x-amz-date', 'x-amz-content-sha256']);
});

test('sign(): contentSha256Header=false neither sends nor signs x-amz-content-sha256', () => {
  const r = makeSigner({ contentSha256Header: false }).explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, body: 'abc' },
    { date: DATE },
  );
  assert.equal(Object.keys(r.headers), ['authorization', 'x-amz-date']);
  const p = parts(r.canonicalRequest);
  assert.is(p.signed, 'host;x-amz-date');
  assert.is(p.payloadHash, sha256('abc'));
  // generic mode defaults to false, and can be switched on
  assert.not.ok(
    'x-amz-content-sha256' in
      makeSigner({ mode: 'generic' }).sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE }),
  );
  assert.is(
    makeSigner({ mode: 'generic', contentSha256Header: true }).sign(
      { method: 'GET', url: `https://${HOST}/` },
      { date: DATE },
    )['x-amz-content-sha256'],
    EMPTY_SHA256,
  );
});

// ---------------------------------------------------------------------------
// S3 path rules

test('S3 mode signs the path exactly as given: no dot-segment removal, no slash collapsing', () => {
  const path = '/a//b/../c/./d/';
  const r = makeSigner().explainSign({ method: 'GET', url: `https://${HOST}${path}` }, { date: DATE });
  assert.is(r.canonicalRequest.split('\n')[1], path);
  for (const p of ['//', '/./', '/../', '/a/..', '/.', '/a/b/', `/${encodeKey('../x y/./z')}`]) {
    assert.is(creqOf({ method: 'GET', url: `https://${HOST}${p}` }).uri, p, p);
  }
});

test('S3 mode: the path is the canonical form of what is sent; WHATWG URL is not used', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/a b` }).uri, '/a%20b');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/%7euser/%c3%a9` }).uri, '/~user/%C3%A9');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/a+b!` }).uri, '/a%2Bb%21');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/100%` }).uri, '/100%25');
  assert.is(
    creqOf({ method: 'GET', url: `https://${HOST}/${encodeKey('日本/😀 é')}` }).uri,
    '/%E6%97%A5%E6%9C%AC/%F0%9F%98%80%20%C3%A9',
  );
  // a lone surrogate in the URL becomes U+FFFD, as WHATWG URL sends it
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/\ud800` }).uri, '/%EF%BF%BD');
  // WHATWG URL would give /c/d/
  assert.is(new URL(`https://${HOST}/a/../c/./d/`).pathname, '/c/d/');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/a/../c/./d/` }).uri, '/a/../c/./d/');
});

test('a URL without a path signs "/"', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}` }).uri, '/');
  const q = creqOf({ method: 'GET', url: `https://${HOST}?list-type=2` });
  assert.is(q.uri, '/');
  assert.is(q.query, 'list-type=2');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}#frag` }).uri, '/');
});

test('generic mode normalises the path and encodes it again (double encoding)', () => {
  const signer = makeSigner({ mode: 'generic', service: 'execute-api' });
  assert.is(creqOf({ method: 'GET', url: 'https://h//a/./b/../c d/' }, signer).uri, '/a/c%20d/');
  assert.is(creqOf({ method: 'GET', url: 'https://h/x%20y' }, signer).uri, '/x%2520y');
  assert.is(creqOf({ method: 'GET', url: 'https://h/a/b/..' }, signer).uri, '/a');
  assert.is(creqOf({ method: 'GET', url: 'https://h' }, signer).uri, '/');
  throwsArgument(() => signer.sign({ method: 'GET', url: 'https://h/\ud800' }, { date: DATE }), 'url');
});

// ---------------------------------------------------------------------------
// Query

test('query: pairs sorted by key, then by value; repeated keys kept', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?b=2&a=1` }).query, 'a=1&b=2');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?a=2&a=1` }).query, 'a=1&a=2');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?a=1&b=0&a=1` }).query, 'a=1&a=1&b=0');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?a&a=` }).query, 'a=&a=');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?k=b&k=a%20&k=A` }).query, 'k=A&k=a%20&k=b');
  // sorted by key first, not by "key=value": "a" comes before "a-b" although "a-b=" < "a=z"
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?a-b=1&a=z` }).query, 'a=z&a-b=1');
  // byte order of the encoded keys: upper case before lower case, "%" before "-"
  assert.is(
    creqOf({ method: 'GET', url: `https://${HOST}/?a-b=1&a%2Bb=2&a%20b=3&a=4&A=5` }).query,
    'A=5&a=4&a%20b=3&a%2Bb=2&a-b=1',
  );
});

test('query: a bare key is key=; an empty value is key=; empty pairs are dropped', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/k?uploads` }).query, 'uploads=');
  assert.is(
    creqOf({ method: 'GET', url: `https://${HOST}/k?uploadId=abc&partNumber=2&acl` }).query,
    'acl=&partNumber=2&uploadId=abc',
  );
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?a=` }).query, 'a=');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?&&a=1&&` }).query, 'a=1');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?` }).query, '');
});

test('query: pairs are decoded and encoded again', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=a+b` }).query, 'q=a%2Bb');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=a%20b` }).query, 'q=a%20b');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=a b` }).query, 'q=a%20b');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=%c3%a9%2f` }).query, 'q=%C3%A9%2F');
  assert.is(
    creqOf({ method: 'GET', url: `https://${HOST}/?prefix=photos/2024/&delimiter=/` }).query,
    'delimiter=%2F&prefix=photos%2F2024%2F',
  );
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=%7E%41` }).query, 'q=~A');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=a=b=c` }).query, 'q=a%3Db%3Dc');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=50%` }).query, 'q=50%25');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/?q=é!*` }).query, 'q=%C3%A9%21%2A');
  assert.is(
    creqOf({ method: 'GET', url: `https://${HOST}/?${encodeComponent('k/é')}=${encodeComponent('v+1 2')}` }).query,
    'k%2F%C3%A9=v%2B1%202',
  );
});

test('query: the fragment is ignored', () => {
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/k?a=1#frag` }).query, 'a=1');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/k#frag?a=1` }).query, '');
  assert.is(creqOf({ method: 'GET', url: `https://${HOST}/k#frag?a=1` }).uri, '/k');
  const same = (url: string) => makeSigner().sign({ method: 'GET', url }, { date: DATE }).authorization;
  assert.is(same(`https://${HOST}/k?a=1#x`), same(`https://${HOST}/k?a=1`));
});

// ---------------------------------------------------------------------------
// Headers

test('headers: names lower-cased and sorted, signed list matches', () => {
  const c = creqOf({
    method: 'PUT',
    url: `https://${HOST}/k`,
    headers: { 'X-Amz-Meta-B': '1', 'x-amz-meta-a': '2', 'Content-Type': 'text/plain', Range: 'bytes=0-9' },
  });
  assert.equal(
    c.headers,
    [
      'content-type:text/plain',
      `host:${HOST}`,
      `x-amz-content-sha256:${EMPTY_SHA256}`,
      `x-amz-date:${AMZ_DATE}`,
      'x-amz-meta-a:2',
      'x-amz-meta-b:1',
      'range:bytes=0-9',
    ].sort(),
  );
  assert.is(c.signed, 'content-type;host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-meta-b');
});

test('headers: values trimmed, inner runs of spaces and tabs collapsed to one space', () => {
  const c = creqOf({
    method: 'GET',
    url: `https://${HOST}/`,
    headers: {
      'x-a': '  a   b\t\tc  ',
      'x-b': '\tx',
      'x-c': 'y \t ',
      'x-d': 'clean value',
      'x-e': '',
      'x-f': '   ',
      'x-g': 'a\tb',
    },
  });
  assert.ok(c.headers.includes('x-a:a b c'));
  assert.ok(c.headers.includes('x-b:x'));
  assert.ok(c.headers.includes('x-c:y'));
  assert.ok(c.headers.includes('x-d:clean value'));
  assert.ok(c.headers.includes('x-e:'));
  assert.ok(c.headers.includes('x-f:'));
  assert.ok(c.headers.includes('x-g:a b'));
  // quotes and other characters are kept as is
  assert.ok(
    creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { 'x-q': '"a   b"' } }).headers.includes('x-q:"a b"'),
  );
});

test('headers: repeated names (any case, or an array) are joined with "," in the given order', () => {
  const c = creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { 'X-A': '1', 'x-a': ' 2 ' } });
  assert.ok(c.headers.includes('x-a:1,2'));
  assert.is(c.signed.split(';').filter((n) => n === 'x-a').length, 1);
  const arr = creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { 'x-b': ['b', '  a  ', 'c   d'] } });
  assert.ok(arr.headers.includes('x-b:b,a,c d'));
  const mixed = creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { 'X-C': ['1', '2'], 'x-c': '3' } });
  assert.ok(mixed.headers.includes('x-c:1,2,3'));
});

test('headers: user-agent, x-amzn-trace-id and hop-by-hop headers are never signed', () => {
  const unsigned = [
    'User-Agent',
    'x-amzn-trace-id',
    'Authorization',
    'Expect',
    'Connection',
    'Keep-Alive',
    'Proxy-Authorization',
    'Proxy-Connection',
    'TE',
    'Trailer',
    'Transfer-Encoding',
    'Upgrade',
  ];
  const headers: Record<string, string> = {};
  for (const name of unsigned) headers[name] = 'v';
  const r = makeSigner().explainSign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { ...headers, 'Content-Length': '3', 'Content-MD5': 'x' } },
    { date: DATE },
  );
  assert.is(
    signedHeadersOf(r.headers.authorization),
    'content-length;content-md5;host;x-amz-content-sha256;x-amz-date',
  );
  const lines = parts(r.canonicalRequest).headers;
  for (const name of unsigned)
    assert.not.ok(
      lines.some((l) => l.startsWith(`${name.toLowerCase()}:`)),
      name,
    );
  const plain = makeSigner().sign(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'Content-Length': '3', 'Content-MD5': 'x' } },
    { date: DATE },
  );
  assert.is(r.headers.authorization, plain.authorization);
});

test('headers: numbers are accepted, undefined values skipped', () => {
  const c = creqOf({
    method: 'PUT',
    url: `https://${HOST}/k`,
    headers: { 'Content-Length': 1024, 'x-zero': 0, 'x-skip': undefined },
  });
  assert.ok(c.headers.includes('content-length:1024'));
  assert.ok(c.headers.includes('x-zero:0'));
  assert.not.ok(c.signed.includes('x-skip'));
  const without = creqOf({
    method: 'PUT',
    url: `https://${HOST}/k`,
    headers: { 'Content-Length': '1024', 'x-zero': '0' },
  });
  assert.equal(c, without);
});

test('headers: a name that is not an RFC 9110 token is rejected naming it', () => {
  for (const name of ['x a', 'é', 'x:y', '', 'x\n', '(x)', 'a/b']) {
    throwsArgument(
      () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/`, headers: { [name]: 'v' } }, { date: DATE }),
      `headers["${name}"]`,
    );
  }
  // every token character is allowed
  const c = creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { "!#$%&'*+-.^_`|~Ab9": 'v' } });
  assert.ok(c.headers.includes("!#$%&'*+-.^_`|~ab9:v"));
});

test('headers: a value with CR, LF or NUL is rejected naming the header', () => {
  for (const value of ['a\r\nb', 'a\nb', 'a\rb', 'a\0b', 'a\r\n x']) {
    const e = throwsArgument(
      () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/`, headers: { 'X-Bad': value } }, { date: DATE }),
      'headers["X-Bad"]',
    );
    assert.match(e.message, /CR, LF or NUL/);
  }
  throwsArgument(
    () =>
      makeSigner().sign(
        { method: 'GET', url: `https://${HOST}/`, headers: { 'x-bad': ['ok', 'no\n'] } },
        { date: DATE },
      ),
    'headers["x-bad"]',
  );
});

test('headers: a value that is not a string, number or array is rejected naming the header', () => {
  for (const value of [true, {}, null, () => 1]) {
    throwsArgument(
      () =>
        makeSigner().sign(
          { method: 'GET', url: `https://${HOST}/`, headers: { 'x-v': value as unknown as string } },
          { date: DATE },
        ),
      'headers["x-v"]',
    );
  }
});

test('headers: host comes from the URL, lower-cased, default port dropped', () => {
  const host = (url: string) => creqOf({ method: 'GET', url }).headers.find((l) => l.startsWith('host:'));
  assert.is(host('https://ExampleBucket.S3.Amazonaws.com/k'), 'host:examplebucket.s3.amazonaws.com');
  assert.is(host('https://h.example:443/k'), 'host:h.example');
  assert.is(host('http://h.example:80/k'), 'host:h.example');
  assert.is(host('HTTPS://H.example:443/k'), 'host:h.example');
  assert.is(host('https://h.example:8443/k'), 'host:h.example:8443');
  assert.is(host('https://h.example:4430/k'), 'host:h.example:4430');
  assert.is(host('http://h.example:443/k'), 'host:h.example:443');
  assert.is(host('https://h.example:80/k'), 'host:h.example:80');
  assert.is(host('http://127.0.0.1:9000/k'), 'host:127.0.0.1:9000');
  assert.is(host('https://[::1]:443/k'), 'host:[::1]');
  assert.is(host('http://[::1]:9000/k'), 'host:[::1]:9000');
  assert.is(host('ftp://h.example:21/k'), 'host:h.example:21');
  // a caller's host and x-amz-date headers are replaced
  const c = creqOf({
    method: 'GET',
    url: 'https://h.example/k',
    headers: { Host: 'evil.example', 'X-Amz-Date': '20000101T000000Z' },
  });
  assert.ok(c.headers.includes('host:h.example'));
  assert.ok(c.headers.includes(`x-amz-date:${AMZ_DATE}`));
  assert.is(c.headers.length, 3);
});

// ---------------------------------------------------------------------------
// Method and URL errors

test('the method must be an HTTP token; it is signed as given', () => {
  for (const bad of ['GET /', '', ' GET', 'GET\n', 'GÉT', 'GET:']) {
    throwsArgument(() => makeSigner().sign({ method: bad, url: `https://${HOST}/` }, { date: DATE }), 'method');
    throwsArgument(
      () => makeSigner().presign({ method: bad, url: `https://${HOST}/` }, { date: DATE, expiresIn: 60 }),
      'method',
    );
    throwsArgument(
      () => makeSigner().signStreaming({ method: bad, url: `https://${HOST}/` }, { date: DATE, contentLength: 0 }),
      'method',
    );
  }
  for (const bad of [undefined, null, 42, ['GET']]) {
    throwsArgument(
      () => makeSigner().sign({ method: bad as unknown as string, url: `https://${HOST}/` }, { date: DATE }),
      'method',
    );
  }
  assert.is(creqOf({ method: 'PATCH', url: `https://${HOST}/` }).method, 'PATCH');
  assert.is(creqOf({ method: 'get', url: `https://${HOST}/` }).method, 'get');
});

test('the URL must be absolute, with a host and no user info', () => {
  const bad = [
    'bucket/key',
    '/key',
    '//host/key',
    'https://',
    'https:///key',
    'https://?a=1',
    'https://#x',
    '://host/',
    'https:/host/key',
    'https://user:pw@host/key',
    'https://user@host/',
    '',
  ];
  for (const url of bad) {
    throwsArgument(() => makeSigner().sign({ method: 'GET', url }, { date: DATE }), 'url');
    throwsArgument(() => makeSigner().presign({ method: 'GET', url }, { date: DATE, expiresIn: 60 }), 'url');
  }
  throwsArgument(
    () => makeSigner().sign({ method: 'GET', url: undefined as unknown as string }, { date: DATE }),
    'url',
  );
  throwsArgument(
    () => makeSigner().sign({ method: 'GET', url: new URL('https://h/') as unknown as string }, { date: DATE }),
    'url',
  );
  assert.match(
    throwsArgument(() => makeSigner().sign({ method: 'GET', url: 'https://u:p@h/' }, { date: DATE }), 'url').message,
    /user info/,
  );
  // an "@" after the authority is part of the path
  assert.is(creqOf({ method: 'GET', url: 'https://h/a@b' }).uri, '/a%40b');
});

test('a relative URL is rejected even when its query holds "://"', () => {
  // "/key?redirect=https://evil.example/x" is not absolute; today it is signed for host evil.example.
  throwsArgument(
    () => makeSigner().sign({ method: 'GET', url: '/key?redirect=https://evil.example/x' }, { date: DATE }),
    'url',
  );
  throwsArgument(() => makeSigner().sign({ method: 'GET', url: 'key#https://evil.example/' }, { date: DATE }), 'url');
});

// ---------------------------------------------------------------------------
// presign()

test('presign(): the URL carries the X-Amz-* parameters, signature last', () => {
  const url = makeSigner().presign(
    { method: 'GET', url: `https://${HOST}/test.txt` },
    { date: DATE, expiresIn: 86400 },
  );
  assert.ok(url.startsWith(`https://${HOST}/test.txt?`), url);
  const q = queryOf(url);
  assert.equal(
    q.map(([k]) => k),
    ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'],
  );
  const v = Object.fromEntries(q);
  assert.is(v['X-Amz-Algorithm'], 'AWS4-HMAC-SHA256');
  assert.is(v['X-Amz-Credential'], `${AK}%2F${DAY}%2F${REGION}%2Fs3%2Faws4_request`);
  assert.is(v['X-Amz-Date'], AMZ_DATE);
  assert.is(v['X-Amz-Expires'], '86400');
  assert.is(v['X-Amz-SignedHeaders'], 'host');
  assert.match(v['X-Amz-Signature']!, /^[0-9a-f]{64}$/);
});

test('presign(): a hand-written canonical request with UNSIGNED-PAYLOAD', () => {
  const r = makeSigner().explainPresign(
    { method: 'GET', url: `https://${HOST}/test.txt` },
    { date: DATE, expiresIn: 86400 },
  );
  const query = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AK}%2F${DAY}%2F${REGION}%2Fs3%2Faws4_request&X-Amz-Date=${AMZ_DATE}&X-Amz-Expires=86400&X-Amz-SignedHeaders=host`;
  const expected = ['GET', '/test.txt', query, `host:${HOST}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  assert.fixture(r.canonicalRequest, expected);
  const sig = independentSignature(expected, AMZ_DATE, SCOPE);
  assert.is(r.signature, sig);
  assert.is(r.url, `https://${HOST}/test.txt?${query}&X-Amz-Signature=${sig}`);
  assert.is(
    makeSigner().presign({ method: 'GET', url: `https://${HOST}/test.txt` }, { date: DATE, expiresIn: 86400 }),
    r.url,
  );
});

test('presign(): UNSIGNED-PAYLOAD even with a body; a given payloadHash is used', () => {
  const withBody = makeSigner().explainPresign(
    { method: 'PUT', url: `https://${HOST}/k`, body: 'data' },
    { date: DATE, expiresIn: 60 },
  );
  assert.is(parts(withBody.canonicalRequest).payloadHash, 'UNSIGNED-PAYLOAD');
  const given = makeSigner().explainPresign(
    { method: 'PUT', url: `https://${HOST}/k`, payloadHash: sha256('data') },
    { date: DATE, expiresIn: 60 },
  );
  assert.is(parts(given.canonicalRequest).payloadHash, sha256('data'));
  // generic mode hashes the body like header signing
  const generic = makeSigner({ mode: 'generic' }).explainPresign(
    { method: 'PUT', url: 'https://h/k', body: 'data' },
    { date: DATE, expiresIn: 60 },
  );
  assert.is(parts(generic.canonicalRequest).payloadHash, sha256('data'));
  const genericEmpty = makeSigner({ mode: 'generic' }).explainPresign(
    { method: 'GET', url: 'https://h/k' },
    { date: DATE, expiresIn: 60 },
  );
  assert.is(parts(genericEmpty.canonicalRequest).payloadHash, EMPTY_SHA256);
});

test('presign(): expiresIn from 1 to 604800 seconds, whole numbers only', () => {
  for (const ok of [1, 60, 604800]) {
    const url = makeSigner().presign({ method: 'GET', url: `https://${HOST}/k` }, { date: DATE, expiresIn: ok });
    assert.ok(url.includes(`&X-Amz-Expires=${ok}&`), url);
  }
  for (const bad of [0, -1, 604801, 1.5, NaN, Infinity, '60', undefined, null]) {
    const e = throwsArgument(
      () => makeSigner().presign({ method: 'GET', url: `https://${HOST}/k` }, { date: DATE, expiresIn: bad as number }),
      'expiresIn',
    );
    assert.match(e.message, /604800/);
  }
  throwsArgument(
    () =>
      makeSigner().presign({ method: 'GET', url: `https://${HOST}/k` }, undefined as unknown as { expiresIn: number }),
    'expiresIn',
  );
});

test('presign(): a session token is X-Amz-Security-Token, encoded and signed', () => {
  const r = makeSigner({ sessionToken: TOKEN }).explainPresign(
    { method: 'GET', url: `https://${HOST}/k` },
    { date: DATE, expiresIn: 60 },
  );
  const v = Object.fromEntries(queryOf(r.url));
  assert.is(v['X-Amz-Security-Token'], encodeComponent(TOKEN));
  assert.is(decodeURIComponent(v['X-Amz-Security-Token']!), TOKEN);
  assert.ok(parts(r.canonicalRequest).query.includes(`&X-Amz-Security-Token=${encodeComponent(TOKEN)}&`));
  assert.ok(r.url.endsWith(`&X-Amz-Signature=${r.signature}`));
  assert.is(r.signature, independentSignature(r.canonicalRequest, AMZ_DATE, SCOPE));
});

test('presign(): signSessionToken=false appends the token after the signature, unsigned', () => {
  const r = makeSigner({ sessionToken: TOKEN, signSessionToken: false }).explainPresign(
    { method: 'GET', url: `https://${HOST}/k` },
    { date: DATE, expiresIn: 60 },
  );
  assert.not.ok(r.canonicalRequest.includes('Security-Token'));
  assert.ok(r.url.endsWith(`&X-Amz-Signature=${r.signature}&X-Amz-Security-Token=${encodeComponent(TOKEN)}`), r.url);
  const plain = makeSigner().explainPresign({ method: 'GET', url: `https://${HOST}/k` }, { date: DATE, expiresIn: 60 });
  assert.is(r.signature, plain.signature);
});

test('presign(): user query parameters are kept, canonicalised and sorted in with the X-Amz-* ones', () => {
  const r = makeSigner().explainPresign(
    { method: 'GET', url: `https://${HOST}/k?versionId=3&response-content-type=text%2fplain&A=1&X-Amz-A=z&uploads` },
    { date: DATE, expiresIn: 60 },
  );
  const keys = queryOf(r.url).map(([k]) => k);
  assert.equal(keys, [
    'A',
    'X-Amz-A',
    'X-Amz-Algorithm',
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-Expires',
    'X-Amz-SignedHeaders',
    'response-content-type',
    'uploads',
    'versionId',
    'X-Amz-Signature',
  ]);
  assert.ok(r.url.includes('&response-content-type=text%2Fplain&uploads=&versionId=3&X-Amz-Signature='), r.url);
  assert.is(parts(r.canonicalRequest).query, r.url.slice(r.url.indexOf('?') + 1, r.url.indexOf('&X-Amz-Signature=')));
  // the fragment is dropped from the URL
  const f = makeSigner().presign({ method: 'GET', url: `https://${HOST}/k?a=1#top` }, { date: DATE, expiresIn: 60 });
  assert.not.ok(f.includes('#'));
});

test('presign(): extra headers are signed and listed in X-Amz-SignedHeaders', () => {
  const r = makeSigner().explainPresign(
    {
      method: 'PUT',
      url: `https://${HOST}/k`,
      headers: { 'Content-Type': 'image/png', 'x-amz-meta-a': ' b ', 'User-Agent': 'x' },
    },
    { date: DATE, expiresIn: 60 },
  );
  const v = Object.fromEntries(queryOf(r.url));
  assert.is(v['X-Amz-SignedHeaders'], 'content-type%3Bhost%3Bx-amz-meta-a');
  const p = parts(r.canonicalRequest);
  assert.equal(p.headers, ['content-type:image/png', `host:${HOST}`, 'x-amz-meta-a:b']);
  assert.is(p.signed, 'content-type;host;x-amz-meta-a');
  // x-amz-date and x-amz-content-sha256 are not signed as headers in a presign
  assert.not.ok(p.signed.includes('x-amz-date'));
});

test('presign(): the URL keeps the path exactly as given (not normalised, not re-encoded)', () => {
  const path = '/a//b/../c/./d/';
  const r = makeSigner().explainPresign(
    { method: 'GET', url: `https://${HOST}${path}` },
    { date: DATE, expiresIn: 60 },
  );
  assert.ok(r.url.startsWith(`https://${HOST}${path}?X-Amz-Algorithm=`), r.url);
  assert.is(parts(r.canonicalRequest).uri, path);
  const lower = makeSigner().explainPresign(
    { method: 'GET', url: `https://${HOST}/%c3%a9` },
    { date: DATE, expiresIn: 60 },
  );
  assert.ok(lower.url.startsWith(`https://${HOST}/%c3%a9?`));
  assert.is(parts(lower.canonicalRequest).uri, '/%C3%A9');
  // the origin is kept as given too; the signed host is lower-cased without the default port
  const o = makeSigner().explainPresign(
    { method: 'GET', url: 'https://H.Example:443/k' },
    { date: DATE, expiresIn: 60 },
  );
  assert.ok(o.url.startsWith('https://H.Example:443/k?'));
  assert.equal(parts(o.canonicalRequest).headers, ['host:h.example']);
  const noPath = makeSigner().presign({ method: 'GET', url: 'https://h.example' }, { date: DATE, expiresIn: 60 });
  assert.ok(noPath.startsWith('https://h.example/?X-Amz-Algorithm='));
});

// ---------------------------------------------------------------------------
// Dates and caches

test('date: a Date and its number of milliseconds give identical results; milliseconds are dropped', () => {
  const req = { method: 'GET', url: `https://${HOST}/k` };
  const a = makeSigner().explainSign(req, { date: DATE });
  const b = makeSigner().explainSign(req, { date: DATE.getTime() });
  const c = makeSigner().explainSign(req, { date: DATE.getTime() + 999 });
  assert.equal(a, b);
  assert.equal(a, c);
  assert.is(a.headers['x-amz-date'], AMZ_DATE);
  const p1 = makeSigner().presign(req, { date: DATE, expiresIn: 60 });
  const p2 = makeSigner().presign(req, { date: DATE.getTime(), expiresIn: 60 });
  assert.is(p1, p2);
});

test('date: the amz date is UTC, whatever the input', () => {
  const h = makeSigner().sign(
    { method: 'GET', url: `https://${HOST}/` },
    { date: new Date('2024-12-31T23:59:59.999-01:00') },
  );
  assert.is(h['x-amz-date'], '20250101T005959Z');
  assert.match(h.authorization, /Credential=AKIDEXAMPLE\/20250101\/us-east-1\/s3\/aws4_request/);
  assert.is(
    makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: 0 })['x-amz-date'],
    '19700101T000000Z',
  );
});

test('date: an invalid date is rejected naming date', () => {
  for (const bad of [new Date('nope'), NaN, Infinity, -Infinity, '2024-05-06', {}, null]) {
    throwsArgument(
      () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: bad as number }),
      'date',
    );
  }
  // outside the years 0000 to 9999
  throwsArgument(
    () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: new Date('+010000-01-01T00:00:00Z') }),
    'date',
  );
  throwsArgument(
    () => makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: new Date('-000001-01-01T00:00:00Z') }),
    'date',
  );
  throwsArgument(
    () => makeSigner().presign({ method: 'GET', url: `https://${HOST}/` }, { date: NaN, expiresIn: 60 }),
    'date',
  );
  throwsArgument(() => makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: 60 }, { date: NaN }), 'date');
  throwsArgument(
    () => makeSigner().signStreaming({ method: 'PUT', url: `https://${HOST}/` }, { date: NaN, contentLength: 1 }),
    'date',
  );
  // the edges of the range are fine
  assert.is(
    makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: new Date('9999-12-31T23:59:59Z') })[
      'x-amz-date'
    ],
    '99991231T235959Z',
  );
  assert.is(
    makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: new Date('0000-01-01T00:00:00Z') })[
      'x-amz-date'
    ],
    '00000101T000000Z',
  );
});

test('date: a finite number outside the Date range is an InvalidArgumentError, not a RangeError', () => {
  // Number.isFinite(1e20) holds, but new Date(1e20) is an Invalid Date whose toISOString() throws.
  throwsArgument(() => makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: 1e20 }), 'date');
  throwsArgument(() => makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: -1e20 }), 'date');
});

test('date: the clock is not read when a date is given, and is read when it is not', () => {
  const realNow = Date.now;
  try {
    Date.now = () => {
      throw new Error('the clock was read');
    };
    makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE });
    makeSigner().presign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE, expiresIn: 60 });
    makeSigner().signStreaming({ method: 'PUT', url: `https://${HOST}/` }, { date: DATE, contentLength: 0 });
    makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: 60 }, { date: DATE });
    // a stub clock, never the real one
    Date.now = () => DATE.getTime();
    assert.equal(
      makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }),
      makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE }),
    );
    assert.equal(
      makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, {}),
      makeSigner().sign({ method: 'GET', url: `https://${HOST}/` }, { date: DATE }),
    );
    assert.equal(
      makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: 60 }),
      makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: 60 }, { date: DATE }),
    );
  } finally {
    Date.now = realNow;
  }
});

test('date: signatures one second apart differ', () => {
  const signer = makeSigner();
  const req = { method: 'GET', url: `https://${HOST}/k` };
  const a = signer.explainSign(req, { date: DATE });
  const b = signer.explainSign(req, { date: DATE.getTime() + 1000 });
  const c = signer.explainSign(req, { date: DATE });
  assert.is(b.headers['x-amz-date'], '20240506T070810Z');
  assert.is.not(a.signature, b.signature);
  assert.is(a.signature, c.signature);
  assert.is(b.signature, independentSignature(b.canonicalRequest, '20240506T070810Z', SCOPE));
});

test('date: each day has its own scope and key; going back to a day gives the first signature again', () => {
  const signer = makeSigner();
  const req = { method: 'GET', url: `https://${HOST}/k` };
  const day1 = signer.explainSign(req, { date: DATE });
  const day2 = signer.explainSign(req, { date: DATE.getTime() + 86_400_000 });
  const again = signer.explainSign(req, { date: DATE });
  assert.match(day1.headers.authorization, /Credential=AKIDEXAMPLE\/20240506\//);
  assert.match(day2.headers.authorization, /Credential=AKIDEXAMPLE\/20240507\//);
  assert.ok(day2.stringToSign.includes('\n20240507/us-east-1/s3/aws4_request\n'));
  assert.is(
    day2.signature,
    independentSignature(day2.canonicalRequest, '20240507T070809Z', '20240507/us-east-1/s3/aws4_request'),
  );
  assert.equal(again, day1);
  // midnight is the boundary
  const before = signer.sign(req, { date: new Date('2024-05-06T23:59:59Z') });
  const after = signer.sign(req, { date: new Date('2024-05-07T00:00:00Z') });
  assert.match(before.authorization, /\/20240506\//);
  assert.match(after.authorization, /\/20240507\//);
});

test('signing-key cache: still right after more than 64 days, secrets, regions and services', () => {
  const req = { method: 'GET', url: `https://${HOST}/k` };
  const signer = makeSigner();
  const first = signer.explainSign(req, { date: DATE });
  for (let d = 1; d <= 70; d++) {
    const date = DATE.getTime() + d * 86_400_000;
    const r = signer.explainSign(req, { date });
    const amz = r.headers['x-amz-date'];
    assert.is(
      r.signature,
      independentSignature(r.canonicalRequest, amz, `${amz.slice(0, 8)}/${REGION}/s3/aws4_request`),
      `day ${d}`,
    );
  }
  assert.equal(signer.explainSign(req, { date: DATE }), first);
  // the cache is keyed by secret, region and service as well as the day
  const other = new SigV4Signer({ accessKeyId: AK, secretAccessKey: `${SECRET}X`, region: REGION });
  const o = other.explainSign(req, { date: DATE });
  assert.is(o.canonicalRequest, first.canonicalRequest);
  assert.is.not(o.signature, first.signature);
  assert.is(o.signature, independentSignature(o.canonicalRequest, AMZ_DATE, SCOPE, `${SECRET}X`));
  const west = makeSigner({ region: 'us-west-2' }).explainSign(req, { date: DATE });
  assert.is(west.signature, independentSignature(west.canonicalRequest, AMZ_DATE, `${DAY}/us-west-2/s3/aws4_request`));
  const svc = makeSigner({ service: 's3-object-lambda' }).explainSign(req, { date: DATE });
  assert.is(
    svc.signature,
    independentSignature(svc.canonicalRequest, AMZ_DATE, `${DAY}/us-east-1/s3-object-lambda/aws4_request`),
  );
  assert.is(signer.explainSign(req, { date: DATE }).signature, first.signature);
});

test('two signers used in turn do not share per-signer state', () => {
  const a = makeSigner();
  const b = makeSigner({ region: 'eu-west-1', accessKeyId: 'AKIDOTHER' });
  const req = { method: 'GET', url: `https://${HOST}/k` };
  const a1 = a.sign(req, { date: DATE });
  const b1 = b.sign(req, { date: DATE });
  const a2 = a.sign(req, { date: DATE });
  const b2 = b.sign(req, { date: DATE.getTime() + 500 });
  assert.equal(a1, a2);
  assert.equal(b1, b2);
  assert.match(b1.authorization, /Credential=AKIDOTHER\/20240506\/eu-west-1\/s3\/aws4_request/);
  assert.is.not(signatureOf(a1.authorization), signatureOf(b1.authorization));
});

// ---------------------------------------------------------------------------
// signStreaming()

test('signStreaming(): framing headers, all signed', () => {
  const { headers } = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'Content-Type': 'text/plain' } },
    { date: DATE, contentLength: 66560 },
  );
  assert.is(headers['content-encoding'], 'aws-chunked');
  assert.is(headers['content-length'], String(streamingContentLength(66560, 65536)));
  assert.is(headers['content-length'], '66824');
  assert.is(headers['x-amz-decoded-content-length'], '66560');
  assert.is(headers['x-amz-content-sha256'], STREAMING_PAYLOAD);
  assert.is(headers['x-amz-date'], AMZ_DATE);
  assert.is(
    signedHeadersOf(headers.authorization),
    'content-encoding;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length',
  );
  assert.equal(Object.keys(headers).sort(), [
    'authorization',
    'content-encoding',
    'content-length',
    'x-amz-content-sha256',
    'x-amz-date',
    'x-amz-decoded-content-length',
  ]);
});

test('signStreaming(): the seed signature is the header signature of the streaming request', () => {
  const s = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k` },
    { date: DATE, contentLength: 10, chunkSize: 8192 },
  );
  const expected = [
    'PUT',
    '/k',
    '',
    'content-encoding:aws-chunked',
    `content-length:${streamingContentLength(10, 8192)}`,
    `host:${HOST}`,
    `x-amz-content-sha256:${STREAMING_PAYLOAD}`,
    `x-amz-date:${AMZ_DATE}`,
    'x-amz-decoded-content-length:10',
    '',
    'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length',
    STREAMING_PAYLOAD,
  ].join('\n');
  const seed = independentSignature(expected, AMZ_DATE, SCOPE);
  assert.is(signatureOf(s.headers.authorization), seed);
  // first chunk: string to sign holds the seed
  const data = Buffer.from('0123456789');
  const key = deriveSigningKey(SECRET, DAY, REGION, 's3');
  const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${AMZ_DATE}\n${SCOPE}\n${seed}\n${EMPTY_SHA256}\n${sha256(data)}`;
  const sig1 = createHmac('sha256', key).update(sts).digest('hex');
  assert.is(s.chunks.chunkHeader(data), `a;chunk-signature=${sig1}\r\n`);
  const sts2 = `AWS4-HMAC-SHA256-PAYLOAD\n${AMZ_DATE}\n${SCOPE}\n${sig1}\n${EMPTY_SHA256}\n${EMPTY_SHA256}`;
  assert.is(s.chunks.signChunk(new Uint8Array(0)), createHmac('sha256', key).update(sts2).digest('hex'));
  assert.ok(s.chunks.finished);
});

test('signStreaming(): a caller content-encoding comes after aws-chunked; caller framing headers are replaced', () => {
  const { headers } = makeSigner().signStreaming(
    {
      method: 'PUT',
      url: `https://${HOST}/k`,
      headers: { 'Content-Encoding': 'gzip', 'Content-Length': '5', 'X-Amz-Decoded-Content-Length': '7' },
    },
    { date: DATE, contentLength: 100 },
  );
  assert.is(headers['content-encoding'], 'aws-chunked,gzip');
  assert.is(headers['content-length'], String(streamingContentLength(100, 65536)));
  assert.is(headers['x-amz-decoded-content-length'], '100');
  const same = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'content-encoding': 'gzip' } },
    { date: DATE, contentLength: 100 },
  );
  assert.is(same.headers.authorization, headers.authorization);
  const plain = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k` },
    { date: DATE, contentLength: 100 },
  );
  assert.is.not(plain.headers.authorization, headers.authorization);
  const trimmed = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'Content-Encoding': '  gzip ' } },
    { date: DATE, contentLength: 100 },
  );
  assert.is(trimmed.headers['content-encoding'], 'aws-chunked,gzip');
});

test('signStreaming(): an undefined content-encoding is skipped like any undefined header', () => {
  const { headers } = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'Content-Encoding': undefined } },
    { date: DATE, contentLength: 10 },
  );
  assert.is(headers['content-encoding'], 'aws-chunked');
  const plain = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k` },
    { date: DATE, contentLength: 10 },
  );
  assert.is(headers.authorization, plain.headers.authorization);
});

test('signStreaming(): session token and headers pass through to the signed request', () => {
  const { headers } = makeSigner({ sessionToken: TOKEN }).signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { 'x-amz-meta-a': 'b', 'User-Agent': 'ua' } },
    { date: DATE, contentLength: 1 },
  );
  assert.is(headers['x-amz-security-token'], TOKEN);
  assert.is(
    signedHeadersOf(headers.authorization),
    'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-meta-a;x-amz-security-token',
  );
});

test('signStreaming(): chunk signatures chain', () => {
  const start = () =>
    makeSigner().signStreaming(
      { method: 'PUT', url: `https://${HOST}/k` },
      { date: DATE, contentLength: 8192 * 2 + 5, chunkSize: 8192 },
    );
  const a = Buffer.alloc(8192, 0x61);
  const b = Buffer.alloc(8192, 0x61);
  const tail = Buffer.from('tail!');
  const s1 = start().chunks;
  assert.not.ok(s1.finished);
  assert.is(s1.chunkSize, 8192);
  const sigs = [s1.signChunk(a), s1.signChunk(b), s1.signChunk(tail), s1.signChunk(new Uint8Array(0))];
  for (const sig of sigs) assert.match(sig, /^[0-9a-f]{64}$/);
  assert.is(new Set(sigs).size, 4, 'the same data signs differently at another place in the chain');
  assert.ok(s1.finished);
  // the same sequence gives the same signatures
  const s2 = start().chunks;
  assert.equal([s2.signChunk(a), s2.signChunk(b), s2.signChunk(tail), s2.signChunk(new Uint8Array(0))], sigs);
  // a different first chunk changes every later signature
  const s3 = start().chunks;
  const changed = [s3.signChunk(Buffer.alloc(8192, 0x62)), s3.signChunk(b), s3.signChunk(tail)];
  for (let i = 0; i < 3; i++) assert.is.not(changed[i], sigs[i]);
  // a ChunkSigner built from the same parts continues the same chain
  const seed = signatureOf(start().headers.authorization);
  const manual = new ChunkSigner(deriveSigningKey(SECRET, DAY, REGION, 's3'), AMZ_DATE, SCOPE, seed, 8192);
  assert.is(manual.signChunk(a), sigs[0]);
  assert.is(manual.signChunk(b), sigs[1]);
});

test('signStreaming(): no chunk after the empty final chunk', () => {
  const { chunks } = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k` },
    { date: DATE, contentLength: 0 },
  );
  const header = chunks.chunkHeader(new Uint8Array(0));
  assert.match(header, /^0;chunk-signature=[0-9a-f]{64}\r\n$/);
  assert.ok(chunks.finished);
  throwsArgument(() => chunks.signChunk(new Uint8Array(0)), 'data');
  throwsArgument(() => chunks.signChunk(Buffer.from('x')), 'data');
  throwsArgument(() => chunks.chunkHeader(Buffer.from('x')), 'data');
});

test('signStreaming(): contentLength and chunkSize are checked', () => {
  const go = (contentLength: unknown, chunkSize?: unknown) =>
    makeSigner().signStreaming(
      { method: 'PUT', url: `https://${HOST}/k` },
      {
        date: DATE,
        contentLength: contentLength as number,
        ...(chunkSize === undefined ? {} : { chunkSize: chunkSize as number }),
      },
    );
  for (const bad of [-1, 1.5, NaN, Infinity, '10', undefined, 2 ** 53]) throwsArgument(() => go(bad), 'contentLength');
  for (const bad of [8191, 0, -8192, 8192.5, NaN, '8192']) throwsArgument(() => go(10, bad), 'chunkSize');
  assert.is(go(0, 8192).chunks.chunkSize, 8192);
  assert.is(go(0).chunks.chunkSize, 65536);
  assert.is(go(0, 1 << 20).headers['content-length'], '86');
});

test('signStreaming(): the framed body built from chunkHeader() has exactly the content-length', () => {
  const random = prng(0xc0ffee);
  for (const [contentLength, chunkSize] of [
    [0, 8192],
    [1, 8192],
    [8191, 8192],
    [8192, 8192],
    [8193, 8192],
    [3 * 8192, 8192],
    [100_003, 8192],
    [150_000, undefined],
    [65536, undefined],
    [70_000, 10_000],
  ] as Array<[number, number | undefined]>) {
    const payload = Buffer.alloc(contentLength);
    for (let i = 0; i < contentLength; i++) payload[i] = Math.floor(random() * 256);
    const { headers, chunks } = makeSigner().signStreaming(
      { method: 'PUT', url: `https://${HOST}/k` },
      { date: DATE, contentLength, ...(chunkSize === undefined ? {} : { chunkSize }) },
    );
    const size = chunks.chunkSize;
    const parts: Buffer[] = [];
    for (let offset = 0; offset < contentLength; offset += size) {
      const data = payload.subarray(offset, offset + size);
      parts.push(Buffer.from(chunks.chunkHeader(data), 'latin1'), data, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(chunks.chunkHeader(new Uint8Array(0)), 'latin1'), Buffer.from('\r\n'));
    const body = Buffer.concat(parts);
    assert.is(String(body.length), headers['content-length'], `contentLength ${contentLength}, chunkSize ${size}`);
    assert.is(headers['x-amz-decoded-content-length'], String(contentLength));
    assert.ok(chunks.finished);
    // the body parses back to the payload
    let at = 0;
    const decoded: Buffer[] = [];
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      const m = /^([0-9a-f]+);chunk-signature=([0-9a-f]{64})$/.exec(body.subarray(at, eol).toString('latin1'));
      assert.ok(m);
      const n = parseInt(m![1]!, 16);
      decoded.push(body.subarray(eol + 2, eol + 2 + n));
      at = eol + 2 + n + 2;
      if (n === 0) break;
    }
    assert.is(at, body.length);
    assert.ok(Buffer.concat(decoded).equals(payload));
  }
});

// ---------------------------------------------------------------------------
// presignPost()

function decodePolicy(fields: Record<string, string>) {
  return JSON.parse(Buffer.from(fields.policy!, 'base64').toString('utf8'));
}

test('presignPost(): fields, policy and signature', () => {
  const post = makeSigner().presignPost(
    { bucket: 'examplebucket', key: 'user/eric/photo.jpg', expiresIn: 3600 },
    { date: new Date('2024-05-06T07:08:09.750Z') },
  );
  const credential = `${AK}/${SCOPE}`;
  assert.equal(Object.keys(post.fields), [
    'key',
    'x-amz-algorithm',
    'x-amz-credential',
    'x-amz-date',
    'policy',
    'x-amz-signature',
  ]);
  assert.is(post.fields.key, 'user/eric/photo.jpg');
  assert.is(post.fields['x-amz-algorithm'], 'AWS4-HMAC-SHA256');
  assert.is(post.fields['x-amz-credential'], credential);
  assert.is(post.fields['x-amz-date'], AMZ_DATE);
  assert.equal(post.policy, {
    expiration: '2024-05-06T08:08:09Z',
    conditions: [
      { bucket: 'examplebucket' },
      { key: 'user/eric/photo.jpg' },
      { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
      { 'x-amz-credential': credential },
      { 'x-amz-date': AMZ_DATE },
    ],
  });
  assert.is(post.fields.policy, Buffer.from(JSON.stringify(post.policy), 'utf8').toString('base64'));
  assert.equal(decodePolicy(post.fields), post.policy);
  const key = deriveSigningKey(SECRET, DAY, REGION, 's3');
  assert.is(post.fields['x-amz-signature'], createHmac('sha256', key).update(post.fields.policy!).digest('hex'));
});

test('presignPost(): expiration is date + expiresIn in ISO 8601 without milliseconds', () => {
  const exp = (expiresIn: number, date: Date | number = DATE) =>
    makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn }, { date }).policy.expiration;
  assert.is(exp(1), '2024-05-06T07:08:10Z');
  assert.is(exp(604800), '2024-05-13T07:08:09Z');
  assert.is(exp(60, new Date('2024-12-31T23:59:30.999Z')), '2025-01-01T00:00:30Z');
  for (const bad of [0, 604801, 1.5, NaN, '60']) {
    throwsArgument(
      () => makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: bad as number }, { date: DATE }),
      'expiresIn',
    );
  }
});

test('presignPost(): a key ending in ${filename} becomes a starts-with condition', () => {
  const post = makeSigner().presignPost({ bucket: 'b', key: 'uploads/${filename}', expiresIn: 60 }, { date: DATE });
  assert.is(post.fields.key, 'uploads/${filename}');
  assert.equal(post.policy.conditions[1], ['starts-with', '$key', 'uploads/']);
  assert.equal(decodePolicy(post.fields).conditions[1], ['starts-with', '$key', 'uploads/']);
  const bare = makeSigner().presignPost({ bucket: 'b', key: '${filename}', expiresIn: 60 }, { date: DATE });
  assert.equal(bare.policy.conditions[1], ['starts-with', '$key', '']);
  // only at the end
  const middle = makeSigner().presignPost({ bucket: 'b', key: 'a/${filename}/b', expiresIn: 60 }, { date: DATE });
  assert.equal(middle.policy.conditions[1], { key: 'a/${filename}/b' });
});

test('presignPost(): a session token adds an x-amz-security-token field and condition', () => {
  const post = makeSigner({ sessionToken: TOKEN }).presignPost(
    { bucket: 'b', key: 'k', expiresIn: 60 },
    { date: DATE },
  );
  assert.is(post.fields['x-amz-security-token'], TOKEN);
  assert.equal(Object.keys(post.fields), [
    'key',
    'x-amz-algorithm',
    'x-amz-credential',
    'x-amz-date',
    'x-amz-security-token',
    'policy',
    'x-amz-signature',
  ]);
  assert.equal(post.policy.conditions.at(-1), { 'x-amz-security-token': TOKEN });
  const key = deriveSigningKey(SECRET, DAY, REGION, 's3');
  assert.is(post.fields['x-amz-signature'], createHmac('sha256', key).update(post.fields.policy!).digest('hex'));
});

test('presignPost(): user fields become conditions unless a condition already names them', () => {
  const post = makeSigner().presignPost(
    {
      bucket: 'b',
      key: 'k',
      expiresIn: 60,
      fields: { acl: 'public-read', 'Content-Type': 'image/png', success_action_status: '201', 'x-amz-meta-tag': 'v' },
      conditions: [
        ['starts-with', '$content-type', 'image/'],
        ['content-length-range', 0, 1048576],
        { 'X-Amz-Meta-Tag': 'v' },
      ],
    },
    { date: DATE },
  );
  assert.equal(post.policy.conditions, [
    ['starts-with', '$content-type', 'image/'],
    ['content-length-range', 0, 1048576],
    { 'X-Amz-Meta-Tag': 'v' },
    { acl: 'public-read' },
    { success_action_status: '201' },
    { bucket: 'b' },
    { key: 'k' },
    { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
    { 'x-amz-credential': `${AK}/${SCOPE}` },
    { 'x-amz-date': AMZ_DATE },
  ]);
  assert.equal(Object.keys(post.fields), [
    'acl',
    'Content-Type',
    'success_action_status',
    'x-amz-meta-tag',
    'key',
    'x-amz-algorithm',
    'x-amz-credential',
    'x-amz-date',
    'policy',
    'x-amz-signature',
  ]);
  assert.is(post.fields['Content-Type'], 'image/png');
  assert.equal(decodePolicy(post.fields), post.policy);
  // the caller's conditions array is not modified
  const conditions = [{ acl: 'private' }];
  makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: 60, conditions }, { date: DATE });
  assert.equal(conditions, [{ acl: 'private' }]);
});

test('presignPost(): input checks name the argument', () => {
  throwsArgument(() => makeSigner().presignPost(null as never, { date: DATE }), 'input');
  throwsArgument(() => makeSigner().presignPost('b/k' as never, { date: DATE }), 'input');
  throwsArgument(() => makeSigner().presignPost({ bucket: '', key: 'k', expiresIn: 60 }, { date: DATE }), 'bucket');
  throwsArgument(() => makeSigner().presignPost({ bucket: 'b\n', key: 'k', expiresIn: 60 }, { date: DATE }), 'bucket');
  throwsArgument(() => makeSigner().presignPost({ bucket: 'b', key: '', expiresIn: 60 }, { date: DATE }), 'key');
  throwsArgument(() => makeSigner().presignPost({ bucket: 'b', key: 'a\r\nb', expiresIn: 60 }, { date: DATE }), 'key');
  throwsArgument(
    () => makeSigner().presignPost({ bucket: 'b', key: 5 as unknown as string, expiresIn: 60 }, { date: DATE }),
    'key',
  );
  throwsArgument(
    () =>
      makeSigner().presignPost({ bucket: 'b', key: 'k', expiresIn: undefined as unknown as number }, { date: DATE }),
    'expiresIn',
  );
});

test('presignPost(): non-ASCII keys survive the base64 policy as UTF-8', () => {
  const post = makeSigner().presignPost({ bucket: 'b', key: 'photos/é 😀.jpg', expiresIn: 60 }, { date: DATE });
  assert.equal(decodePolicy(post.fields).conditions[1], { key: 'photos/é 😀.jpg' });
});

// ---------------------------------------------------------------------------
// Header names that happen to be Object.prototype properties

test('headers: a header named like an Object.prototype property is signed like any other', () => {
  // `lower in fixed` would see "constructor" on the prototype of a plain object.
  const c = creqOf({ method: 'GET', url: `https://${HOST}/`, headers: { constructor: 'v', 'x-a': 'w' } });
  assert.ok(c.headers.includes('constructor:v'), c.headers.join('|'));
  assert.ok(c.signed.split(';').includes('constructor'));
  const s = makeSigner().signStreaming(
    { method: 'PUT', url: `https://${HOST}/k`, headers: { constructor: 'v' } },
    { date: DATE, contentLength: 1 },
  );
  assert.ok(signedHeadersOf(s.headers.authorization).split(';').includes('constructor'));
});

// ---------------------------------------------------------------------------
// Cross-check against @smithy/signature-v4 (the AWS SDK v3 signer, S3 settings)

const KEY_POOL = [
  ...'abcXYZ09-._~',
  '/',
  '//',
  '.',
  '..',
  '%',
  '+',
  ' ',
  '!',
  '*',
  "'",
  '(',
  ')',
  '&',
  '=',
  '?',
  '#',
  '@',
  ':',
  ',',
  ';',
  '$',
  'é',
  '€',
  '中',
  '😀',
  'e\u0301',
  '\u00a0',
];
const VALUE_CHARS = [...'abcXYZ09-._~ \t!"#$%&\'()*+,/:;<=>?@[\\]^`{|}'];

function pick<T>(random: () => number, pool: readonly T[]): T {
  return pool[Math.floor(random() * pool.length)]!;
}

function randomText(random: () => number, pool: readonly string[], max: number): string {
  let out = '';
  const n = Math.floor(random() * max);
  for (let i = 0; i < n; i++) out += pick(random, pool);
  return out;
}

test('property: sign() and presign() agree with @smithy/signature-v4 on 300 random S3 requests', async () => {
  const random = prng(7);
  const credentials = { accessKeyId: AK, secretAccessKey: SECRET, sessionToken: TOKEN };
  for (let i = 0; i < 300; i++) {
    const withToken = random() < 0.3;
    const smithy = new SignatureV4({
      credentials: withToken ? credentials : { accessKeyId: AK, secretAccessKey: SECRET },
      region: REGION,
      service: 's3',
      sha256: Hash.bind(null, 'sha256'),
      uriEscapePath: false,
      applyChecksum: true,
    });
    const ours = makeSigner(withToken ? { sessionToken: TOKEN } : {});
    const key = randomText(random, KEY_POOL, 20);
    const path = `/${encodeKey(key)}`;
    const query: Record<string, string | string[]> = {};
    const urlPairs: string[] = [];
    const nq = Math.floor(random() * 4);
    for (let j = 0; j < nq; j++) {
      const k = randomText(random, KEY_POOL, 6) || 'k';
      const v = randomText(random, KEY_POOL, 6);
      const prev = query[k];
      query[k] = prev === undefined ? v : ([] as string[]).concat(prev, v);
      urlPairs.push(`${encodeComponent(k)}=${encodeComponent(v)}`);
    }
    const headers: Record<string, string> = {};
    const nh = Math.floor(random() * 4);
    for (let j = 0; j < nh; j++)
      headers[`x-amz-meta-${pick(random, ['a', 'b', 'c', 'd', 'e'])}${j}`] = randomText(random, VALUE_CHARS, 12);
    if (random() < 0.5) headers['content-type'] = 'application/octet-stream';
    const body = random() < 0.5 ? randomText(random, KEY_POOL, 30) : undefined;
    const date = new Date(Date.UTC(2020, 0, 1) + Math.floor(random() * 5 * 365 * 86400) * 1000);
    const url = `https://${HOST}${path}${urlPairs.length ? `?${urlPairs.join('&')}` : ''}`;
    const label = JSON.stringify({ key, query, headers, body });

    const request = {
      method: 'PUT',
      protocol: 'https:',
      hostname: HOST,
      path,
      query,
      headers: { host: HOST, ...headers },
      ...(body === undefined ? {} : { body }),
    };
    const theirs = await smithy.sign(request, { signingDate: date });
    const mine = ours.sign({ method: 'PUT', url, headers, body }, { date });
    assert.is(mine.authorization, theirs.headers.authorization, label);
    assert.is(mine['x-amz-content-sha256'], theirs.headers['x-amz-content-sha256']);

    const expiresIn = 1 + Math.floor(random() * MAX_PRESIGN_EXPIRY);
    const hashOnly = new Set(['x-amz-content-sha256']);
    const presigned = await smithy.presign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: HOST,
        path,
        query,
        headers: { host: HOST, ...headers, 'x-amz-content-sha256': UNSIGNED_PAYLOAD },
      },
      {
        signingDate: date,
        expiresIn,
        unhoistableHeaders: new Set([...hashOnly, ...Object.keys(headers)]),
        unsignableHeaders: hashOnly,
      },
    );
    const myUrl = ours.presign({ method: 'GET', url, headers }, { date, expiresIn });
    assert.is(Object.fromEntries(queryOf(myUrl))['X-Amz-Signature'], presigned.query!['X-Amz-Signature'], label);
  }
});

// ---------------------------------------------------------------------------
// SigningKey (prepared-pad HMAC) and the per-signer caches

test('SigningKey is HMAC-SHA256: equal to createHmac for keys of 1 to 64 bytes and messages of every shape', () => {
  const random = prng(7);
  const messages = [
    '',
    'a',
    `AWS4-HMAC-SHA256\n20240506T070809Z\n20240506/us-east-1/s3/aws4_request\n${EMPTY_SHA256}`,
    'x'.repeat(255),
    'x'.repeat(256),
    'x'.repeat(10_000),
    'caf\u00e9 \u6771\u4eac \u{1F600} e\u0301',
    '\u{1F600}'.repeat(200),
  ];
  for (const length of [1, 20, 32, 63, 64]) {
    const raw = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    const key = new SigningKey(raw);
    // The same key many times, long and short messages in turn: its buffers grow and are reused.
    for (const message of [...messages, ...messages.reverse()]) {
      assert.is(
        key.sign(message),
        createHmac('sha256', raw).update(message, 'utf8').digest('hex'),
        `key ${length} B, message ${message.length} chars`,
      );
    }
  }
});

test('SigningKey refuses an empty key, a key longer than a SHA-256 block, and a non-byte key', () => {
  throwsArgument(() => new SigningKey(new Uint8Array(0)), 'signingKey');
  throwsArgument(() => new SigningKey(new Uint8Array(65)), 'signingKey');
  throwsArgument(() => new SigningKey('secret' as unknown as Uint8Array), 'signingKey');
});

test('signature() accepts a SigningKey or the raw key bytes alike', () => {
  const raw = deriveSigningKey(SECRET, DAY, REGION, 's3');
  assert.is(signature(new SigningKey(raw), 'text'), signature(raw, 'text'));
  assert.is(signature(raw, 'text'), createHmac('sha256', raw).update('text').digest('hex'));
});

test('one signer, many hosts: a host that extends the previous one is parsed again, not reused', () => {
  const signer = makeSigner();
  const hostOf = (url: string) =>
    parts(signer.explainSign({ method: 'GET', url }, { date: DATE }).canonicalRequest).headers[0];
  assert.is(hostOf('https://a.example.com/k'), 'host:a.example.com');
  assert.is(hostOf('https://a.example.com.evil.test/k'), 'host:a.example.com.evil.test');
  assert.is(hostOf('https://a.example.com:8443/k'), 'host:a.example.com:8443');
  assert.is(hostOf('https://a.example.com?x=1'), 'host:a.example.com');
  assert.is(hostOf('https://a.example.com'), 'host:a.example.com');
  assert.is(hostOf('http://a.example.com/k'), 'host:a.example.com');
  assert.is(hostOf('https://a.example.com/k'), 'host:a.example.com');
});

test('an empty port is no port: https://host:/k signs host:host', () => {
  const creq = parts(
    makeSigner().explainSign({ method: 'GET', url: `https://${HOST}:/k` }, { date: DATE }).canonicalRequest,
  );
  assert.is(creq.headers[0], `host:${HOST}`);
});

test('one signer remembers header names, and still signs right past its memory limit', () => {
  const signer = makeSigner();
  const fresh = () => makeSigner();
  // 600 distinct names in turn (beyond the 256 remembered), then the first ones again, in other cases.
  for (let i = 0; i < 600; i++) {
    const headers = { [`X-Amz-Meta-N${i}`]: String(i), 'User-Agent': 'ua' };
    const request = { method: 'GET', url: `https://${HOST}/k`, headers };
    assert.is(signer.sign(request, { date: DATE }).authorization, fresh().sign(request, { date: DATE }).authorization);
  }
  const again = {
    method: 'GET',
    url: `https://${HOST}/k`,
    headers: { 'x-amz-meta-n0': 'a', 'X-AMZ-META-N0': 'b', 'user-agent': 'ua' },
  };
  const signed = signer.explainSign(again, { date: DATE });
  assert.equal(
    parts(signed.canonicalRequest).headers.filter((h) => h.startsWith('x-amz-meta')),
    ['x-amz-meta-n0:a,b'],
  );
  assert.is(signed.signature, fresh().explainSign(again, { date: DATE }).signature);
  // A bad name is refused every time, not only the first.
  for (let i = 0; i < 2; i++)
    throwsArgument(
      () => signer.sign({ method: 'GET', url: `https://${HOST}/k`, headers: { 'bad name': 'x' } }, { date: DATE }),
      'headers["bad name"]',
    );
});

test('presign(): a URL that already carries X-Amz-* signing parameters is refused naming url', () => {
  for (const query of [
    'X-Amz-Signature=abc',
    'x-amz-date=20240101T000000Z',
    'a=1&X-Amz-Credential=x',
    'X-Amz-Security-Token=t',
  ]) {
    const error = throwsArgument(
      () => makeSigner().presign({ method: 'GET', url: `https://${HOST}/k?${query}` }, { date: DATE, expiresIn: 60 }),
      'url',
    );
    assert.match(error.message, /X-Amz-\* signing parameters/i);
  }
  // Other x-amz-* parameters (SSE-C on a presigned GET, say) are the caller's to sign.
  const url = makeSigner().presign(
    { method: 'GET', url: `https://${HOST}/k?x-amz-checksum-mode=ENABLED` },
    { date: DATE, expiresIn: 60 },
  );
  assert.ok(url.includes('x-amz-checksum-mode=ENABLED'));
});

test.run();
