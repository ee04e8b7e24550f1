/**
 * The official SigV4 vectors, run from ../shared/sigv4-vectors (or
 * $S3V4_SIGV4_VECTORS); they are reference data and are not copied here.
 * Under CI=true a missing folder fails the run; elsewhere the suite says
 * loudly that they were not run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EMPTY_SHA256,
  SigV4Signer,
  encodeKey,
  hashPayload,
  type HeadersInput,
  type SignerOptions,
} from '../lib/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const vectorsDir = resolve(process.env.S3V4_SIGV4_VECTORS ?? join(repoRoot, '..', 'shared', 'sigv4-vectors'));

interface RawRequest {
  method: string;
  host: string;
  path: string;
  query: string;
  headers: Record<string, string | string[]>;
  body: string;
}

/** Parses a suite `request.txt`/`.req`: request line, `Name:value` lines with obs-fold continuations, blank line, body. */
function parseRequest(text: string): RawRequest {
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? '' : text.slice(blank + 2);
  const [requestLine, ...lines] = head.split('\n');
  const match = /^(\S+) (.*) HTTP\/1\.1$/.exec(requestLine!);
  assert.ok(match, `request line: ${requestLine}`);
  const target = match![2]!;
  const q = target.indexOf('?');
  const fields: Array<[string, string]> = [];
  for (const line of lines) {
    if (line === '') continue;
    if (/^[ \t]/.test(line)) {
      // obs-fold (RFC 7230 section 3.2.4): the continuation joins the value with a space.
      fields[fields.length - 1]![1] += ` ${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    fields.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  const headers: Record<string, string | string[]> = {};
  let host = '';
  for (const [name, value] of fields) {
    if (name.toLowerCase() === 'host') host = value;
    if (['host', 'x-amz-date'].includes(name.toLowerCase())) continue;
    const prev = headers[name];
    headers[name] = prev === undefined ? value : ([] as string[]).concat(prev, value);
  }
  return {
    method: match![1]!,
    host,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? '' : target.slice(q + 1),
    headers,
    body,
  };
}

function read(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Query pairs of a request target, sorted, for comparing URLs whose parameter order differs. */
function sortedQuery(target: string): string[] {
  const q = target.indexOf('?');
  return target
    .slice(q + 1)
    .split('&')
    .sort();
}

const present = existsSync(vectorsDir);

if (!present) {
  if (process.env.CI === 'true') {
    test('official SigV4 vectors are present', () => {
      assert.unreachable(
        `the official SigV4 vectors are missing at ${vectorsDir}; set S3V4_SIGV4_VECTORS or put shared/ beside the repo`,
      );
    });
  } else {
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!! THE OFFICIAL AWS SIGV4 VECTORS WERE NOT RUN: ${vectorsDir} does not exist.\n!! Set S3V4_SIGV4_VECTORS to the sigv4-vectors folder to run them.\n${line}\n`,
    );
  }
} else {
  const awsCAuth = join(vectorsDir, 'aws-c-auth', 'v4');
  const cases = readdirSync(awsCAuth).sort();

  test('aws-c-auth: all 38 v4 cases are present', () => {
    assert.is(cases.length, 38);
  });

  for (const name of cases) {
    const dir = join(awsCAuth, name);
    const context = JSON.parse(read(join(dir, 'context.json')));
    const raw = parseRequest(read(join(dir, 'request.txt')));
    // normalize=true cases are generic-service vectors; normalize=false ones follow S3's path rules.
    const mode = context.normalize ? 'generic' : 's3';
    const options: SignerOptions = {
      accessKeyId: context.credentials.access_key_id,
      secretAccessKey: context.credentials.secret_access_key,
      sessionToken: context.credentials.token,
      region: context.region,
      service: context.service,
      mode,
      contentSha256Header: context.sign_body,
      signSessionToken: !context.omit_session_token,
    };
    // Generic mode encodes the path itself (double encoding); S3 mode takes an encoded path.
    const path = mode === 'generic' ? raw.path : encodeKey(raw.path);
    const url = `https://${raw.host}${path}${raw.query ? `?${raw.query}` : ''}`;
    const request = {
      method: raw.method,
      url,
      headers: raw.headers as HeadersInput,
      body: context.sign_body ? raw.body : undefined,
    };
    const date = new Date(context.timestamp);

    test(`aws-c-auth ${name}: header signing`, () => {
      const signer = new SigV4Signer(options);
      const result = signer.explainSign(request, { date });
      assert.fixture(result.canonicalRequest, read(join(dir, 'header-canonical-request.txt')));
      assert.fixture(result.stringToSign, read(join(dir, 'header-string-to-sign.txt')));
      assert.is(result.signature, read(join(dir, 'header-signature.txt')));
      const signedLines = read(join(dir, 'header-signed-request.txt')).split('\n');
      assert.ok(signedLines.includes(`Authorization:${result.headers.authorization}`), 'Authorization line');
      assert.ok(signedLines.includes(`X-Amz-Date:${result.headers['x-amz-date']}`), 'X-Amz-Date line');
      if (context.credentials.token)
        assert.ok(signedLines.includes(`X-Amz-Security-Token:${context.credentials.token}`));
    });

    test(`aws-c-auth ${name}: query signing`, () => {
      const signer = new SigV4Signer(options);
      // These suites sign the payload in query mode too; S3 presigns use UNSIGNED-PAYLOAD.
      const payloadHash = mode === 's3' ? hashPayload(request.body ?? '') : undefined;
      const result = signer.explainPresign(
        { ...request, payloadHash },
        { date, expiresIn: context.expiration_in_seconds },
      );
      assert.fixture(result.canonicalRequest, read(join(dir, 'query-canonical-request.txt')));
      assert.fixture(result.stringToSign, read(join(dir, 'query-string-to-sign.txt')));
      assert.is(result.signature, read(join(dir, 'query-signature.txt')));
      const target = /^\S+ (.*) HTTP\/1\.1$/.exec(read(join(dir, 'query-signed-request.txt')).split('\n')[0]!)![1]!;
      const ours = result.url.slice(`https://${raw.host}`.length);
      assert.equal(decodeURIComponent(ours.slice(0, ours.indexOf('?'))), target.slice(0, target.indexOf('?')));
      assert.equal(
        sortedQuery(ours),
        sortedQuery(target)
          .map((p) =>
            p.replace(/^([^=]*)=(.*)$/, (_, k, v) => `${encodeKey(decodeURIComponent(k)).replace(/\//g, '%2F')}=${v}`),
          )
          .sort(),
      );
    });
  }

  const botocore = join(vectorsDir, 'botocore');
  const boto: string[] = [];
  for (const entry of readdirSync(botocore).sort()) {
    const dir = join(botocore, entry);
    if (existsSync(join(dir, `${entry}.req`))) boto.push(entry);
    else if (entry === 'normalize-path' || entry === 'post-sts-token') {
      for (const sub of readdirSync(dir).sort())
        if (existsSync(join(dir, sub, `${sub}.req`))) boto.push(`${entry}/${sub}`);
    }
  }

  test('botocore: all 34 cases are present', () => {
    assert.is(boto.length, 34);
  });

  const stsToken = existsSync(join(botocore, 'post-sts-token', 'readme.txt'))
    ? read(join(botocore, 'post-sts-token', 'readme.txt'))
        .trim()
        .split('\n')
        .pop()!
    : '';

  for (const name of boto) {
    const base = join(botocore, name, name.split('/').pop()!);
    test(`botocore ${name}`, () => {
      const raw = parseRequest(read(`${base}.req`));
      const creq = read(`${base}.creq`);
      // The token is not in the .req: it is in the .sreq, or in post-sts-token/readme.txt.
      const sreqToken = /^X-Amz-Security-Token:(.*)$/m.exec(read(`${base}.sreq`))?.[1];
      const sessionToken = sreqToken ?? (name.startsWith('post-sts-token/') ? stsToken : undefined);
      // post-sts-header-after: the token is added after signing (readme.txt).
      const signSessionToken = !name.endsWith('post-sts-header-after');
      const signer = new SigV4Signer({
        accessKeyId: 'AKIDEXAMPLE',
        secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        sessionToken,
        signSessionToken,
        region: 'us-east-1',
        service: 'service',
        mode: 'generic',
      });
      const url = `https://${raw.host}${raw.path}${raw.query ? `?${raw.query}` : ''}`;
      const result = signer.explainSign(
        { method: raw.method, url, headers: raw.headers, body: raw.body === '' ? undefined : raw.body },
        { date: new Date('2015-08-30T12:36:00Z') },
      );
      assert.fixture(result.canonicalRequest, creq);
      assert.fixture(result.stringToSign, read(`${base}.sts`));
      assert.is(result.headers.authorization, read(`${base}.authz`));
    });
  }

  const docs = JSON.parse(read(join(vectorsDir, 's3-doc-examples.json')));
  const common = docs.common;
  const docSigner = () =>
    new SigV4Signer({
      accessKeyId: common.access_key_id,
      secretAccessKey: common.secret_access_key,
      region: common.region,
      service: common.service,
    });
  const docDate = new Date('2013-05-24T00:00:00Z');

  test('S3 documentation: all six examples are present', () => {
    assert.equal(docs.examples.map((e: { id: string }) => e.id).sort(), [
      'chunked-put-object',
      'get-bucket-lifecycle',
      'get-object-range',
      'list-objects',
      'presigned-get-object',
      'put-object',
    ]);
  });

  interface DocRequest {
    method: string;
    host: string;
    path: string;
    query: Array<[string, string]>;
    headers: Array<[string, string]>;
  }
  const docUrl = (r: DocRequest) =>
    `https://${r.host}${encodeKey(r.path)}${r.query.length ? `?${r.query.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&')}` : ''}`;
  const docHeaders = (r: DocRequest, skip: string[]) =>
    Object.fromEntries(r.headers.filter(([n]) => !['host', 'x-amz-date', ...skip].includes(n.toLowerCase())));

  for (const example of docs.examples) {
    const { request, expected } = example;
    test(`S3 documentation ${example.id}`, () => {
      const signer = docSigner();
      if (example.auth === 'authorization-header') {
        const result = signer.explainSign(
          { method: request.method, url: docUrl(request), headers: docHeaders(request, []) },
          { date: docDate },
        );
        assert.fixture(result.canonicalRequest, expected.canonical_request);
        assert.fixture(result.stringToSign, expected.string_to_sign);
        assert.is(result.signature, expected.signature);
        // The pages print no space after the commas; SDKs (and s3v4) send ", ". Servers accept both.
        assert.is(result.headers.authorization.replace(/, /g, ','), expected.authorization);
        assert.is(result.headers['x-amz-content-sha256'], expected.hashed_payload);
      } else if (example.auth === 'query-string') {
        const result = signer.explainPresign(
          { method: request.method, url: docUrl(request) },
          { date: docDate, expiresIn: request.expires_seconds },
        );
        assert.fixture(result.canonicalRequest, expected.canonical_request);
        assert.fixture(result.stringToSign, expected.string_to_sign);
        assert.is(result.url, expected.presigned_url);
      } else {
        const framing = ['content-encoding', 'content-length', 'x-amz-decoded-content-length', 'x-amz-content-sha256'];
        const streaming = signer.signStreaming(
          { method: request.method, url: docUrl(request), headers: docHeaders(request, framing) },
          { date: docDate, contentLength: request.payload.decoded_length, chunkSize: 65536 },
        );
        const sentHeaders = Object.fromEntries(request.headers.map(([n, v]: [string, string]) => [n.toLowerCase(), v]));
        for (const name of framing) assert.is(streaming.headers[name as 'content-length'], sentHeaders[name], name);
        assert.is(streaming.headers.authorization.replace(/, /g, ','), expected.authorization);
        for (const chunk of expected.chunks) {
          const data = Buffer.alloc(chunk.size, 0x61);
          assert.is(streaming.chunks.chunkHeader(data), chunk.chunk_header);
        }
        assert.ok(streaming.chunks.finished);
        assert.is(EMPTY_SHA256, expected.chunks.at(-1).data_sha256);
      }
    });
  }
}

test.run();
