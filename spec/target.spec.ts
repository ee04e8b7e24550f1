/**
 * Specs of the parsed request target: Endpoint resolves it once per request
 * (origin, host header, encoded path, query) and the signer signs it as it
 * is, never parsing a URL string again. A target must give the same
 * canonical request and URL as the URL string it stands for, for every
 * addressing rule and any key.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RequestTarget } from '../lib/canonical.js';
import { parseConfig } from '../lib/config.js';
import { formatQuery } from '../lib/encoding.js';
import { Endpoint } from '../lib/endpoint.js';
import { prng, storageToml } from './helpers.js';

const DATE = new Date('2026-01-02T03:04:05Z');

function endpointFor(...lines: string[]): Endpoint {
  return new Endpoint(
    parseConfig(storageToml('access_key = "AKID"', 'secret_key = "secret"', ...lines), 'target.toml', {}),
  );
}

const ENDPOINTS = {
  virtual: endpointFor('bucket = "photos"', 'region = "eu-west-1"'),
  pathStyle: endpointFor(
    'bucket = "photos"',
    'region = "us-east-1"',
    'endpoint = "http://127.0.0.1:9000/base/"',
    'force_path_style = true',
  ),
  ipv6: endpointFor('bucket = "photos"', 'region = "us-east-1"', 'endpoint = "http://[::1]:7480"'),
  dotted: endpointFor('bucket = "my.photos"', 'region = "eu-west-1"'),
  defaultPort: endpointFor('bucket = "photos"', 'region = "us-east-1"', 'endpoint = "https://S3.Example.COM:443"'),
};

test('targets hold origin, host header, path and query, per addressing rule', () => {
  const cases: Array<[Endpoint, string, string, string]> = [
    [ENDPOINTS.virtual, 'https://photos.s3.eu-west-1.amazonaws.com', 'photos.s3.eu-west-1.amazonaws.com', '/'],
    [ENDPOINTS.pathStyle, 'http://127.0.0.1:9000', '127.0.0.1:9000', '/base/photos'],
    [ENDPOINTS.ipv6, 'http://[::1]:7480', '[::1]:7480', '/photos'],
    [ENDPOINTS.dotted, 'https://s3.eu-west-1.amazonaws.com', 's3.eu-west-1.amazonaws.com', '/my.photos'],
    [ENDPOINTS.defaultPort, 'https://photos.s3.example.com', 'photos.s3.example.com', '/'],
  ];
  for (const [endpoint, origin, host, bucketPath] of cases) {
    const bucket = endpoint.bucketTarget('list-type=2');
    assert.equal(
      [bucket.origin, bucket.host, bucket.path, bucket.query],
      [origin, host, bucketPath, 'list-type=2'],
      origin,
    );
    assert.is(bucket.pathAndQuery, `${bucketPath}?list-type=2`);
    const object = endpoint.objectTarget('a b/../c+d');
    const prefix = bucketPath.endsWith('/') ? bucketPath : `${bucketPath}/`;
    assert.equal(
      [object.origin, object.host, object.path, object.query],
      [origin, host, `${prefix}a%20b/../c%2Bd`, ''],
    );
    assert.is(object.pathAndQuery, object.path);
    assert.is(endpoint.objectUrl('a b/../c+d'), origin + object.path);
    assert.is(endpoint.bucketUrl(), origin + bucketPath);
  }
});

test('signing a target equals signing its URL string', () => {
  const target = ENDPOINTS.pathStyle.objectTarget('k', formatQuery([['uploadId', 'a/b+c']]));
  assert.instance(target, RequestTarget);
  assert.is(target.query, 'uploadId=a%2Fb%2Bc');
  const signer = ENDPOINTS.pathStyle.signer;
  const fromString = signer.explainSign(
    { method: 'GET', url: `${target.origin}${target.pathAndQuery}` },
    { date: DATE },
  );
  const fromTarget = signer.explainSign({ method: 'GET', url: target }, { date: DATE });
  assert.equal(fromTarget, fromString);
});

test('a URL string to another origin after one split never keeps the previous host', () => {
  const { signer } = ENDPOINTS.virtual;
  const hosts = [
    'https://a.example/x',
    'https://a.example.evil/x',
    'https://a.example:8443/x',
    'https://A.EXAMPLE/x',
    'http://a.example/x',
  ];
  const expected = ['a.example', 'a.example.evil', 'a.example:8443', 'a.example', 'a.example'];
  hosts.forEach((url, i) => {
    const creq = signer.explainSign({ method: 'GET', url }, { date: DATE }).canonicalRequest;
    assert.ok(creq.includes(`\nhost:${expected[i]}\n`), `${url}: ${creq}`);
  });
});

test('property: for any key and query, signing the target equals signing its URL string', () => {
  const random = prng(12);
  const alphabet = [
    'a',
    'Z',
    '0',
    ' ',
    '/',
    '//',
    '.',
    '..',
    '+',
    '%',
    '?',
    '#',
    '&',
    '=',
    'é',
    '日',
    '😀',
    '~',
    '*',
    "'",
    '\t',
  ];
  const pick = () => alphabet[Math.floor(random() * alphabet.length)]!;
  for (let i = 0; i < 600; i++) {
    const key = Array.from({ length: 1 + Math.floor(random() * 12) }, pick).join('');
    const query = formatQuery([
      ['prefix', Array.from({ length: Math.floor(random() * 6) }, pick).join('')],
      ['uploads'],
    ]);
    for (const endpoint of Object.values(ENDPOINTS)) {
      const target = endpoint.objectTarget(key, query);
      const url = `${target.origin}${target.pathAndQuery}`;
      const { signer } = endpoint;
      assert.equal(
        signer.explainSign({ method: 'PUT', url: target }, { date: DATE }),
        signer.explainSign({ method: 'PUT', url }, { date: DATE }),
        key,
      );
      const presigned = signer.presign({ method: 'GET', url: target }, { date: DATE, expiresIn: 60 });
      assert.is(presigned, signer.presign({ method: 'GET', url }, { date: DATE, expiresIn: 60 }), key);
    }
  }
});

test.run();
