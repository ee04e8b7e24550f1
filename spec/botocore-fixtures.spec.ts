/**
 * S3 signing cases recorded from botocore 1.29 (fixtures/botocore-s3-cases.json,
 * written by fixtures/record-botocore.py; see its header for what is left out
 * and why). Each case is signed again here and must match botocore's
 * canonical request, string to sign and signature exactly.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SigV4Signer, encodeComponent, encodeKey, type SignRequest } from '../lib/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface BotocoreCase {
  id: string;
  category: string;
  mode: 'header' | 'presign';
  method: string;
  scheme: 'http' | 'https';
  host: string;
  addressing: 'virtual' | 'path';
  bucket: string;
  key: string | null;
  encodedKey: string | null;
  path: string;
  /** The query pairs as given (null value: bare key), or null when queryString is written by hand. */
  query: Array<[string, string | null]> | null;
  queryString: string;
  headers: Array<[string, string]>;
  payloadHash?: string;
  body?: string;
  bodyBase64?: string;
  region: string;
  service: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string | null;
  expiresIn: number | null;
  date: string;
  expected: {
    canonicalRequest: string;
    stringToSign: string;
    signature: string;
    headers?: Record<string, string>;
    url?: string;
  };
}

interface Fixtures {
  header: { botocore: string; count: number; excluded: string[] };
  cases: BotocoreCase[];
}

const fixtures: Fixtures = JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'botocore-s3-cases.json'), 'utf8'));
const { cases } = fixtures;

/** The URL path an s3v4 caller builds: encodeKey for the key, the bucket first in path-style addressing. */
function pathFor(c: BotocoreCase): string {
  const key = c.key === null ? null : encodeKey(c.key);
  if (c.addressing === 'virtual') return `/${key ?? ''}`;
  return `/${c.bucket}${key === null ? '' : `/${key}`}`;
}

/** The query an s3v4 caller writes: UriEncode'd keys and values, bare keys left bare. */
function queryFor(pairs: ReadonlyArray<readonly [string, string | null]>): string {
  return pairs
    .map(([k, v]) => (v === null ? encodeComponent(k) : `${encodeComponent(k)}=${encodeComponent(v)}`))
    .join('&');
}

/** [name, value] pairs as s3v4 headers: a repeated name becomes an array, in order. */
function headersFor(pairs: ReadonlyArray<readonly [string, string]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const previous = out[name];
    out[name] = previous === undefined ? value : ([] as string[]).concat(previous, value);
  }
  return out;
}

/** Splits a URL at its query, without WHATWG URL (which would rewrite `..` and `//` in the path). */
function splitAtQuery(url: string): { base: string; pairs: string[] } {
  const q = url.indexOf('?');
  if (q < 0) return { base: url, pairs: [] };
  return {
    base: url.slice(0, q),
    pairs: url
      .slice(q + 1)
      .split('&')
      .sort(),
  };
}

test('botocore fixtures: at least 500 cases, unique ids, both modes', () => {
  assert.ok(cases.length >= 500, `only ${cases.length} cases`);
  assert.is(fixtures.header.count, cases.length);
  assert.is(new Set(cases.map((c) => c.id)).size, cases.length);
  assert.ok(cases.filter((c) => c.mode === 'header').length >= 200);
  assert.ok(cases.filter((c) => c.mode === 'presign').length >= 200);
});

for (const c of cases) {
  test(`botocore ${c.id}`, () => {
    // The encoders agree with Python's urllib.parse.quote.
    if (c.key !== null) assert.is(encodeKey(c.key), c.encodedKey, 'encodeKey(key)');
    const path = pathFor(c);
    assert.is(path, c.path, 'path');
    if (c.query !== null) assert.is(queryFor(c.query), c.queryString, 'query string');

    const url = `${c.scheme}://${c.host}${path}${c.queryString === '' ? '' : `?${c.queryString}`}`;
    const signer = new SigV4Signer({
      accessKeyId: c.accessKeyId,
      secretAccessKey: c.secretAccessKey,
      sessionToken: c.sessionToken ?? undefined,
      region: c.region,
      service: c.service,
    });
    const date = new Date(c.date);
    const request: SignRequest = {
      method: c.method,
      url,
      headers: headersFor(c.headers),
      payloadHash: c.payloadHash,
      body: c.bodyBase64 !== undefined ? new Uint8Array(Buffer.from(c.bodyBase64, 'base64')) : c.body,
    };

    if (c.mode === 'header') {
      const result = signer.explainSign(request, { date });
      assert.fixture(result.canonicalRequest, c.expected.canonicalRequest);
      assert.fixture(result.stringToSign, c.expected.stringToSign);
      assert.is(result.signature, c.expected.signature);
      assert.equal({ ...result.headers }, c.expected.headers);
    } else {
      const result = signer.explainPresign(request, { date, expiresIn: c.expiresIn! });
      assert.fixture(result.canonicalRequest, c.expected.canonicalRequest);
      assert.fixture(result.stringToSign, c.expected.stringToSign);
      assert.is(result.signature, c.expected.signature);
      const ours = splitAtQuery(result.url);
      const theirs = splitAtQuery(c.expected.url!);
      assert.is(ours.base, theirs.base, 'URL before the query');
      assert.equal(ours.pairs, theirs.pairs, 'query parameters');
    }
  });
}

test.run();
