/**
 * Specs of lib/endpoint.ts: the URLs each of the documentation's examples
 * (fixtures/configs/) gives awkward keys, pinned as literal strings and the
 * presigned ones re-derived independently (node:crypto from the canonical
 * request written out here, and @smithy/signature-v4); the addressing rules;
 * the download-link table; key checks; and property tests tying the URL path
 * to the key bytes and to the canonical URI the signer signs. The clock is
 * never read: every presign passes a date.
 */
import { createHash, createHmac } from 'node:crypto';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig, parseConfig, type StorageConfig } from '../lib/config.js';
import { DEFAULT_PRESIGN_EXPIRY, Endpoint, MAX_KEY_BYTES, checkKey } from '../lib/endpoint.js';
import * as index from '../lib/index.js';
import { prng, throwsArgument } from './helpers.js';

const CONFIGS = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'fixtures', 'configs');
const DATE = new Date('2026-01-02T03:04:05Z');
const AMZ_DATE = '20260102T030405Z';
const DAY = '20260102';
// reference.toml is refused (its credentials are placeholders); aws.toml is the same AWS endpoint.
const FIXTURES = ['aws', 'cos', 'minio', 'r2-account'] as const;
const AWKWARD_KEYS = ['a b.txt', 'c++/x+y', 'naïve/日本/😀.bin', 'a//b', '../x', 'dir/'] as const;

function fixture(name: string): Endpoint {
  return new Endpoint(loadConfig(join(CONFIGS, `${name}.toml`), {}));
}

/** An endpoint for [object_store.s3] lines given here, with MinIO's credentials unless they say otherwise. */
function endpointFor(...lines: string[]): Endpoint {
  const credentials = lines.some((line) => line.startsWith('access_key'))
    ? []
    : ['access_key = "minioadmin"', 'secret_key = "minioadmin123"'];
  const text = ['[object_store]', 'backend = "s3"', '[object_store.s3]', ...credentials, ...lines].join('\n');
  return new Endpoint(parseConfig(text, 'inline.toml', {}));
}

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** A SigV4 signature from a canonical request, from scratch with node:crypto. */
function independentSignature(canonicalRequest: string, config: StorageConfig): string {
  const { secretAccessKey } = config.credentials()!;
  const scope = `${DAY}/${config.region}/s3/aws4_request`;
  const key = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, DAY), config.region), 's3'), 'aws4_request');
  return createHmac('sha256', key)
    .update(`AWS4-HMAC-SHA256\n${AMZ_DATE}\n${scope}\n${sha256(canonicalRequest)}`)
    .digest('hex');
}

/**
 * The presigned GET URL of an object URL, built here from the SigV4 rules:
 * the X-Amz-* parameters in sorted order, the host header alone signed and
 * UNSIGNED-PAYLOAD (S3 API Reference, "Authenticating Requests: Using Query Parameters").
 */
function independentPresign(
  objectUrl: string,
  config: StorageConfig,
  expires: number,
): { url: string; canonicalRequest: string } {
  const match = /^(https?:\/\/)([^/]+)(\/.*)$/.exec(objectUrl)!;
  const [, , host, path] = match as unknown as [string, string, string, string];
  const credential = encodeURIComponent(`${config.accessKeyId}/${DAY}/${config.region}/s3/aws4_request`);
  const query = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${credential}&X-Amz-Date=${AMZ_DATE}&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host`;
  // The Host header drops the scheme's default port (RFC 9110 section 7.2).
  const hostHeader = host.replace(/:(?:443|80)$/, '');
  const canonicalRequest = ['GET', path, query, `host:${hostHeader}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  return {
    url: `${objectUrl}?${query}&X-Amz-Signature=${independentSignature(canonicalRequest, config)}`,
    canonicalRequest,
  };
}

/** The same presigned URL's signature from @smithy/signature-v4, the AWS SDK's signer. */
async function smithySignature(objectUrl: string, config: StorageConfig, expires: number): Promise<string> {
  const url = /^(https?:)\/\/([^/:]+|\[[^\]]+\])(?::(\d+))?(\/.*)$/.exec(objectUrl)!;
  const [, protocol, hostname, port, path] = url as unknown as [string, string, string, string | undefined, string];
  const signer = new SignatureV4({
    credentials: config.credentials() as { accessKeyId: string; secretAccessKey: string },
    region: config.region,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
    applyChecksum: false,
  });
  const host = port === undefined ? hostname : `${hostname}:${port}`;
  const hashOnly = new Set(['x-amz-content-sha256']);
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol,
      hostname,
      ...(port === undefined ? {} : { port: Number(port) }),
      path,
      query: {},
      headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    { signingDate: DATE, expiresIn: expires, unhoistableHeaders: hashOnly, unsignableHeaders: hashOnly },
  );
  return presigned.query!['X-Amz-Signature'] as string;
}

interface KeyUrls {
  /** objectUrl(key): where requests go, and the plain link. */
  object: string;
  /** downloadUrl(key): plain, presigned or CDN, as the configuration says. */
  download: string;
  /** presign(key): a GET URL with the default expiry. */
  presigned: string;
}

interface FixtureUrls {
  addressing: Endpoint['addressing'];
  bucketUrl: string;
  keys: Readonly<Record<(typeof AWKWARD_KEYS)[number], KeyUrls>>;
}

const EXPECTED: Readonly<Record<(typeof FIXTURES)[number], FixtureUrls>> = {
  aws: {
    addressing: 'virtual-hosted',
    bucketUrl: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/',
    keys: {
      'a b.txt': {
        object: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a%20b.txt',
        download: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a%20b.txt',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=711042f328996ae0f3cf8fecaa6c75245ed915bbf8a47044276594af569c36e7',
      },
      'c++/x+y': {
        object: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/c%2B%2B/x%2By',
        download: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/c%2B%2B/x%2By',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/c%2B%2B/x%2By?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=b69e4d13433c06f92b3fa2b02b5014b3bf16af6e6a8312c986eb60ab0ea5ff0f',
      },
      'naïve/日本/😀.bin': {
        object:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        download:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ab5507b15b0a264083ab89274dda60d87c6bc170275f0974ff5b7a1caad862c6',
      },
      'a//b': {
        object: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a//b',
        download: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a//b',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/a//b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=35a97e51b5a6b90f083c61b41de08a4442a53f682409ade0e22f8de381addfc4',
      },
      '../x': {
        object: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/../x',
        download: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/../x',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/../x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=2f2f4bc48018b8e83fbafddfaf50eee3171fe1ebd40da7c8d77ba0b887e03fb5',
      },
      'dir/': {
        object: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/dir/',
        download: 'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/dir/',
        presigned:
          'https://my-agentverse-packages.s3.us-east-1.amazonaws.com/dir/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=628771d0e24fe97780c2ecb752b4fd543f1d64ad33086a231dfe1de0b7f6db50',
      },
    },
  },
  cos: {
    addressing: 'virtual-hosted',
    bucketUrl: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/',
    keys: {
      'a b.txt': {
        object: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a%20b.txt',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=518ad024ea2ab1359128f207467a8d02738d9277888431320c49c4a22d98bb6f',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=518ad024ea2ab1359128f207467a8d02738d9277888431320c49c4a22d98bb6f',
      },
      'c++/x+y': {
        object: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/c%2B%2B/x%2By',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/c%2B%2B/x%2By?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ace13df51215bd902669ab7fce5a63aec006ef6ad03c2ab14836df28aa5b7bdf',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/c%2B%2B/x%2By?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ace13df51215bd902669ab7fce5a63aec006ef6ad03c2ab14836df28aa5b7bdf',
      },
      'naïve/日本/😀.bin': {
        object:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=3bef341183aa0d01292c67e6c30096b025334d6de617c6f21ee04de065d6c62f',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=3bef341183aa0d01292c67e6c30096b025334d6de617c6f21ee04de065d6c62f',
      },
      'a//b': {
        object: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a//b',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a//b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=b02cb6f73f3bdbc0463a762e0436b2313be6501fa0dd5c65112c47a01e620184',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/a//b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=b02cb6f73f3bdbc0463a762e0436b2313be6501fa0dd5c65112c47a01e620184',
      },
      '../x': {
        object: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/../x',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/../x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=a7331806dbcab3fd57f35fe2a62b3a17bff20a2fb892f65ae94c5edb6d5000b4',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/../x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=a7331806dbcab3fd57f35fe2a62b3a17bff20a2fb892f65ae94c5edb6d5000b4',
      },
      'dir/': {
        object: 'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/dir/',
        download:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/dir/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=1d83d3facd1451a6ee247c6d24d54562511dc52021af53d8680c0c747e1f2147',
        presigned:
          'https://agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com/dir/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=1d83d3facd1451a6ee247c6d24d54562511dc52021af53d8680c0c747e1f2147',
      },
    },
  },
  minio: {
    addressing: 'path-style',
    bucketUrl: 'http://localhost:9000/agentverse',
    keys: {
      'a b.txt': {
        object: 'http://localhost:9000/agentverse/a%20b.txt',
        download: 'http://localhost:9000/agentverse/a%20b.txt',
        presigned:
          'http://localhost:9000/agentverse/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=c146ecbe10ba88d2078d5556d854733f45898a19434df862a1dac068d689a571',
      },
      'c++/x+y': {
        object: 'http://localhost:9000/agentverse/c%2B%2B/x%2By',
        download: 'http://localhost:9000/agentverse/c%2B%2B/x%2By',
        presigned:
          'http://localhost:9000/agentverse/c%2B%2B/x%2By?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=8e857f1b99d22b9b99a79a14cb9d3b63d8fa5e275c47e1ca6c2f3bd1312834a9',
      },
      'naïve/日本/😀.bin': {
        object: 'http://localhost:9000/agentverse/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        download: 'http://localhost:9000/agentverse/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        presigned:
          'http://localhost:9000/agentverse/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ca3250ddbc4ee92fed9dfc12d33353eb977044f528365dbce7ebc12386b1fa61',
      },
      'a//b': {
        object: 'http://localhost:9000/agentverse/a//b',
        download: 'http://localhost:9000/agentverse/a//b',
        presigned:
          'http://localhost:9000/agentverse/a//b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=f96e2f0092186bd9d84f537291b0609e6e6e34debbe8dc4ea2515d7578ee03f8',
      },
      '../x': {
        object: 'http://localhost:9000/agentverse/../x',
        download: 'http://localhost:9000/agentverse/../x',
        presigned:
          'http://localhost:9000/agentverse/../x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=fe9737bae838f74e3f2ef2af7bee4aeaa716ddcaa1ab6cfeaa014e42dc81cbdd',
      },
      'dir/': {
        object: 'http://localhost:9000/agentverse/dir/',
        download: 'http://localhost:9000/agentverse/dir/',
        presigned:
          'http://localhost:9000/agentverse/dir/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ba81a5829aeaa62228d4c8cb6c3d5c8d96a02a4fa3a642fb48b599fb9a292fb8',
      },
    },
  },
  'r2-account': {
    addressing: 'path-style',
    bucketUrl: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages',
    keys: {
      'a b.txt': {
        object: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/a%20b.txt',
        download: 'https://packages.example.com/a%20b.txt',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/a%20b.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=38ea5d4193d4e37f38c15e420762aad631155a43e1a8f655255436a236c23fff',
      },
      'c++/x+y': {
        object: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/c%2B%2B/x%2By',
        download: 'https://packages.example.com/c%2B%2B/x%2By',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/c%2B%2B/x%2By?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=c18d5f03b2ff5482dc5f0c2fbccbc5da747fa77418c3095bfb31a343fab83990',
      },
      'naïve/日本/😀.bin': {
        object:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        download: 'https://packages.example.com/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=86e1af375415e37bc08fd9f5efb136e3eb4f9ffbf330f3287ecdfabe5721a9ce',
      },
      'a//b': {
        object: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/a//b',
        download: 'https://packages.example.com/a//b',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/a//b?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=c278a81066fa5151ead862470dd7fdd250f8769c42b662ec5dd2b4081aae534b',
      },
      '../x': {
        object: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/../x',
        download: 'https://packages.example.com/../x',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/../x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=e2128ae376be2bf52711e32430e5268e33704601bcb9ceac38599d02f108a88f',
      },
      'dir/': {
        object: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/dir/',
        download: 'https://packages.example.com/dir/',
        presigned:
          'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com/agentverse-packages/dir/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=89eff6af77d7ced8dc4f20829981a6448be97159e9a8844742b6de645c13dd5c',
      },
    },
  },
};

test('index re-exports the endpoint API', () => {
  assert.is(index.Endpoint, Endpoint);
  assert.is(index.checkKey, checkKey);
  assert.is(index.MAX_KEY_BYTES, 1024);
  assert.is(index.DEFAULT_PRESIGN_EXPIRY, 3600);
});

for (const name of FIXTURES) {
  test(`${name}.toml: addressing, bucket URL and the exact URLs of awkward keys`, () => {
    const endpoint = fixture(name);
    const expected = EXPECTED[name];
    assert.is(endpoint.addressing, expected.addressing);
    assert.is(endpoint.bucketUrl(), expected.bucketUrl);
    for (const key of AWKWARD_KEYS) {
      const urls = expected.keys[key];
      assert.is(endpoint.objectUrl(key), urls.object, `objectUrl(${key})`);
      assert.is(endpoint.downloadUrl(key, { date: DATE }), urls.download, `downloadUrl(${key})`);
      assert.is(endpoint.presign(key, { date: DATE }), urls.presigned, `presign(${key})`);
      assert.ok(
        urls.object.startsWith(expected.bucketUrl.replace(/\/?$/, '/')),
        'the object URL extends the bucket URL',
      );
    }
  });

  test(`${name}.toml: the presigned URLs are what node:crypto and @smithy/signature-v4 compute independently`, async () => {
    const endpoint = fixture(name);
    const { config } = endpoint;
    for (const key of AWKWARD_KEYS) {
      const urls = EXPECTED[name].keys[key];
      const mine = independentPresign(urls.object, config, DEFAULT_PRESIGN_EXPIRY);
      assert.is(urls.presigned, mine.url, key);
      const signature = new URL(urls.presigned).searchParams.get('X-Amz-Signature');
      assert.is(signature, await smithySignature(urls.object, config, DEFAULT_PRESIGN_EXPIRY), key);
      // The signer saw the canonical request written out above, byte for byte.
      assert.is(
        endpoint.signer.explainPresign(
          { method: 'GET', url: urls.object },
          { date: DATE, expiresIn: DEFAULT_PRESIGN_EXPIRY },
        ).canonicalRequest,
        mine.canonicalRequest,
      );
    }
  });
}

test('the canonical request of one presigned URL per provider, written out in full', () => {
  const cases: Array<[string, string, string]> = [
    [
      'aws',
      'a b.txt',
      [
        'GET',
        '/a%20b.txt',
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host',
        'host:my-agentverse-packages.s3.us-east-1.amazonaws.com',
        '',
        'host',
        'UNSIGNED-PAYLOAD',
      ].join('\n'),
    ],
    [
      'cos',
      'naïve/日本/😀.bin',
      [
        'GET',
        '/na%C3%AFve/%E6%97%A5%E6%9C%AC/%F0%9F%98%80.bin',
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDxxxxxxxxxxxxxxxx%2F20260102%2Fap-guangzhou%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host',
        'host:agentverse-packages-1234567890.cos.ap-guangzhou.myqcloud.com',
        '',
        'host',
        'UNSIGNED-PAYLOAD',
      ].join('\n'),
    ],
    [
      'minio',
      '../x',
      [
        'GET',
        '/agentverse/../x',
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=minioadmin%2F20260102%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host',
        'host:localhost:9000',
        '',
        'host',
        'UNSIGNED-PAYLOAD',
      ].join('\n'),
    ],
    [
      'r2-account',
      'c++/x+y',
      [
        'GET',
        '/agentverse-packages/c%2B%2B/x%2By',
        'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=your-r2-access-key-id%2F20260102%2Fauto%2Fs3%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host',
        'host:8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com',
        '',
        'host',
        'UNSIGNED-PAYLOAD',
      ].join('\n'),
    ],
  ];
  for (const [name, key, canonicalRequest] of cases) {
    const endpoint = fixture(name);
    const presigned = endpoint.presign(key, { date: DATE });
    assert.is(
      new URL(presigned).searchParams.get('X-Amz-Signature'),
      independentSignature(canonicalRequest, endpoint.config),
      `${name}: ${key}`,
    );
  }
});

// ---------------------------------------------------------------------------
// Addressing

test('force_path_style = true: https://{host}/{bucket}/{key}; false: https://{bucket}.{host}/{key}', () => {
  const path = endpointFor('bucket = "agentverse"', 'region = "eu-west-1"', 'force_path_style = true');
  assert.is(path.addressing, 'path-style');
  assert.is(path.objectUrl('a b'), 'https://s3.eu-west-1.amazonaws.com/agentverse/a%20b');
  assert.is(path.bucketUrl(), 'https://s3.eu-west-1.amazonaws.com/agentverse');
  const virtual = endpointFor('bucket = "agentverse"', 'region = "eu-west-1"', 'force_path_style = false');
  assert.is(virtual.addressing, 'virtual-hosted');
  assert.is(virtual.objectUrl('a b'), 'https://agentverse.s3.eu-west-1.amazonaws.com/a%20b');
  assert.is(virtual.bucketUrl(), 'https://agentverse.s3.eu-west-1.amazonaws.com/');
});

test('IP address and localhost endpoints are always path-style, with force_path_style = false too', () => {
  const cases: Array<[string, string]> = [
    ['http://127.0.0.1:7480', 'http://127.0.0.1:7480/agentverse/k%2Bey'],
    ['http://[::1]:9000', 'http://[::1]:9000/agentverse/k%2Bey'],
    ['http://localhost:9000', 'http://localhost:9000/agentverse/k%2Bey'],
    ['https://10.1.2.3', 'https://10.1.2.3/agentverse/k%2Bey'],
  ];
  for (const [endpointUrl, objectUrl] of cases) {
    for (const forcePathStyle of [false, true]) {
      const endpoint = endpointFor(
        'bucket = "agentverse"',
        `endpoint = "${endpointUrl}"`,
        `force_path_style = ${forcePathStyle}`,
      );
      assert.is(
        endpoint.addressing,
        forcePathStyle ? 'path-style' : 'path-style: IP address or localhost',
        endpointUrl,
      );
      assert.is(endpoint.objectUrl('k+ey'), objectUrl);
      assert.is(endpoint.bucketUrl(), objectUrl.slice(0, -'/k%2Bey'.length));
    }
  }
});

test('a bucket with dots is path-style over https (the wildcard certificate would not match), virtual-hosted over http', () => {
  const https = endpointFor('bucket = "packages.example.com"', 'region = "us-east-1"');
  assert.is(https.addressing, 'path-style: dotted bucket over https');
  assert.is(https.objectUrl('x'), 'https://s3.us-east-1.amazonaws.com/packages.example.com/x');
  assert.is(https.bucketUrl(), 'https://s3.us-east-1.amazonaws.com/packages.example.com');
  const http = endpointFor('bucket = "packages.example.com"', 'endpoint = "http://minio.example.net:9000"');
  assert.is(http.addressing, 'virtual-hosted');
  assert.is(http.objectUrl('x'), 'http://packages.example.com.minio.example.net:9000/x');
  assert.is(http.bucketUrl(), 'http://packages.example.com.minio.example.net:9000/');
});

test('a base path in the endpoint is kept in both styles, with or without its trailing slash', () => {
  for (const endpointUrl of ['http://gw.example.net/s3', 'http://gw.example.net/s3/']) {
    const path = endpointFor('bucket = "agentverse"', `endpoint = "${endpointUrl}"`, 'force_path_style = true');
    assert.is(path.objectUrl('a/b c'), 'http://gw.example.net/s3/agentverse/a/b%20c');
    assert.is(path.bucketUrl(), 'http://gw.example.net/s3/agentverse');
    const virtual = endpointFor('bucket = "agentverse"', `endpoint = "${endpointUrl}"`, 'force_path_style = false');
    assert.is(virtual.objectUrl('a/b c'), 'http://agentverse.gw.example.net/s3/a/b%20c');
    assert.is(virtual.bucketUrl(), 'http://agentverse.gw.example.net/s3/');
  }
});

test('a default port is dropped from URLs and the signed host; another port is kept in both', () => {
  const defaultPort = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "https://s3.example.net:443"',
    'force_path_style = true',
  );
  assert.is(defaultPort.objectUrl('k'), 'https://s3.example.net/agentverse/k');
  const otherPort = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "https://s3.example.net:8443"',
    'force_path_style = false',
  );
  assert.is(otherPort.objectUrl('k'), 'https://agentverse.s3.example.net:8443/k');
  const creq = otherPort.signer.explainSign(
    { method: 'GET', url: otherPort.objectUrl('k') },
    { date: DATE },
  ).canonicalRequest;
  assert.ok(creq.includes('\nhost:agentverse.s3.example.net:8443\n'), creq);
});

// ---------------------------------------------------------------------------
// Download links

test('public_url_base: one slash between base and key, a base path kept, with or without trailing slash', () => {
  const cases: Array<[string, string]> = [
    ['https://cdn.example.com', 'https://cdn.example.com/dir/a%20b.txt'],
    ['https://cdn.example.com/', 'https://cdn.example.com/dir/a%20b.txt'],
    ['https://cdn.example.com/packages', 'https://cdn.example.com/packages/dir/a%20b.txt'],
    ['https://cdn.example.com/packages/', 'https://cdn.example.com/packages/dir/a%20b.txt'],
    ['https://cdn.example.com/v1/packages/', 'https://cdn.example.com/v1/packages/dir/a%20b.txt'],
  ];
  for (const [base, link] of cases) {
    const endpoint = endpointFor(
      'bucket = "agentverse"',
      'endpoint = "http://localhost:9000"',
      `public_url_base = "${base}"`,
    );
    assert.is(endpoint.downloadUrl('dir/a b.txt'), link, base);
    // The key is not normalised in a link either: a leading "/" and "//" are the key's own.
    assert.is(endpoint.downloadUrl('/x//y'), link.replace('dir/a%20b.txt', '/x//y'));
  }
});

test('presigned_expiry_secs > 0 with public_url_base: the CDN link wins; presign(key) defaults to presigned_expiry_secs', () => {
  const endpoint = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "https://acc.r2.cloudflarestorage.com"',
    'presigned_expiry_secs = 900',
    'public_url_base = "https://packages.example.com"',
  );
  assert.is(endpoint.downloadUrl('a b.txt', { date: DATE }), 'https://packages.example.com/a%20b.txt');
  const url = endpoint.presign('a b.txt', { date: DATE });
  assert.is(
    url,
    independentPresign('https://agentverse.acc.r2.cloudflarestorage.com/a%20b.txt', endpoint.config, 900).url,
  );
  assert.is(new URL(url).searchParams.get('X-Amz-Expires'), '900');
  assert.is(
    new URL(endpoint.presign('a b.txt', { date: DATE, expiresIn: 60 })).searchParams.get('X-Amz-Expires'),
    '60',
  );
});

test('presigned_expiry_secs > 0 without public_url_base: the download link is presigned for that long', () => {
  const endpoint = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "http://localhost:9000"',
    'presigned_expiry_secs = 604800',
  );
  const link = endpoint.downloadUrl('x y', { date: DATE });
  assert.is(link, independentPresign('http://localhost:9000/agentverse/x%20y', endpoint.config, 604800).url);
  assert.is(link, endpoint.presign('x y', { date: DATE }));
});

test('presigned_expiry_secs = 0: plain download links, and presign(key) defaults to 3600', () => {
  const endpoint = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "http://localhost:9000"',
    'presigned_expiry_secs = 0',
  );
  assert.is(endpoint.downloadUrl('x y', { date: DATE }), 'http://localhost:9000/agentverse/x%20y');
  assert.is(
    endpoint.presign('x y', { date: DATE }),
    independentPresign('http://localhost:9000/agentverse/x%20y', endpoint.config, 3600).url,
  );
});

test('presign(): PUT with signed headers, and a date as milliseconds', () => {
  const endpoint = fixture('minio');
  const url = endpoint.presign('up load.bin', {
    method: 'PUT',
    expiresIn: 600,
    headers: { 'Content-Type': 'application/octet-stream' },
    date: DATE.getTime(),
  });
  const parameters = new URL(url).searchParams;
  assert.is(parameters.get('X-Amz-SignedHeaders'), 'content-type;host');
  assert.is(parameters.get('X-Amz-Expires'), '600');
  const query = url.slice(url.indexOf('?') + 1, url.indexOf('&X-Amz-Signature='));
  const canonicalRequest = [
    'PUT',
    '/agentverse/up%20load.bin',
    query,
    'content-type:application/octet-stream',
    'host:localhost:9000',
    '',
    'content-type;host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  assert.is(parameters.get('X-Amz-Signature'), independentSignature(canonicalRequest, endpoint.config));
  throwsArgument(() => endpoint.presign('k', { expiresIn: 0, date: DATE }), 'expiresIn');
  throwsArgument(() => endpoint.presign('k', { expiresIn: 604801, date: DATE }), 'expiresIn');
});

test('a session token is carried in presigned URLs as X-Amz-Security-Token', () => {
  const endpoint = endpointFor(
    'access_key = "ASIAEXAMPLE"',
    'secret_key = "s3cr3t"',
    'session_token = "tok/en+=="',
    'bucket = "agentverse"',
    'region = "us-east-1"',
  );
  const url = endpoint.presign('k', { date: DATE });
  assert.is(new URL(url).searchParams.get('X-Amz-Security-Token'), 'tok/en+==');
  assert.ok(url.includes('&X-Amz-Security-Token=tok%2Fen%2B%3D%3D&'), url);
});

// ---------------------------------------------------------------------------
// Keys

test('keys that are empty, too long, not strings or not well-formed UTF-16 are refused, naming key', () => {
  const endpoints = [fixture('aws'), fixture('r2-account'), fixture('cos')];
  const bad: unknown[] = [
    '',
    'a'.repeat(1025),
    '日'.repeat(342),
    `${'😀'.repeat(256)}a`,
    42,
    undefined,
    null,
    ['a'],
    '\ud800',
    'a\udc00b',
    'x/\ud83d',
  ];
  for (const endpoint of endpoints) {
    for (const key of bad) {
      throwsArgument(() => endpoint.objectUrl(key as string), 'key');
      throwsArgument(() => endpoint.downloadUrl(key as string, { date: DATE }), 'key');
      throwsArgument(() => endpoint.presign(key as string, { date: DATE }), 'key');
      throwsArgument(() => checkKey(key), 'key');
    }
  }
  assert.is(throwsArgument(() => checkKey(''), 'key').message, 'key: must not be empty');
  assert.is(
    throwsArgument(() => checkKey('a'.repeat(1025)), 'key').message,
    'key: is 1025 bytes in UTF-8; S3 keys are at most 1024',
  );
  assert.is(
    throwsArgument(() => checkKey('日'.repeat(342)), 'key').message,
    'key: is 1026 bytes in UTF-8; S3 keys are at most 1024',
  );
  assert.is(throwsArgument(() => checkKey(42), 'key').message, 'key: must be a string, got number');
  assert.is(
    throwsArgument(() => checkKey(`${'a'.repeat(1023)}\ud800`), 'key').message,
    'key: contains a lone UTF-16 surrogate, which has no UTF-8 encoding',
  );
  assert.is(
    throwsArgument(() => fixture('aws').objectUrl('\ud800'), 'key').message,
    'key: contains a lone UTF-16 surrogate, which has no UTF-8 encoding',
  );
});

test('a key of exactly 1024 UTF-8 bytes works, multibyte or not', () => {
  const endpoint = fixture('aws');
  const keys = [`${'日'.repeat(341)}a`, '😀'.repeat(256), 'a'.repeat(MAX_KEY_BYTES), 'é'.repeat(512)];
  for (const key of keys) {
    assert.is(Buffer.byteLength(key, 'utf8'), 1024);
    assert.is(checkKey(key), key);
    const url = endpoint.objectUrl(key);
    assert.is(
      decodePath(url.slice('https://my-agentverse-packages.s3.us-east-1.amazonaws.com/'.length)).toString('utf8'),
      key,
    );
    assert.ok(endpoint.presign(key, { date: DATE }).startsWith(`${url}?X-Amz-Algorithm=`));
  }
});

// ---------------------------------------------------------------------------
// Properties

/** Percent-decodes a URL path into bytes; anything but an unreserved character, "/" or %XY fails. */
function decodePath(path: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    if (ch === '%') {
      const hex = path.slice(i + 1, i + 3);
      assert.match(hex, /^[0-9A-F]{2}$/, `a %XY escape with upper-case hex in ${path}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      assert.match(ch, /^[A-Za-z0-9\-._~/]$/, `only unreserved characters and "/" are left as they are in ${path}`);
      bytes.push(ch.charCodeAt(0));
    }
  }
  return Buffer.from(bytes);
}

const KEY_POOL = [
  ...'abcXYZ0189-_~',
  '/',
  '/',
  '.',
  '..',
  '%',
  '%2F',
  '%41',
  '+',
  ' ',
  '  ',
  '&',
  '=',
  '?',
  '#',
  ':',
  '@',
  '!',
  '*',
  "'",
  '(',
  ')',
  ';',
  ',',
  '$',
  '[',
  ']',
  '\\',
  '"',
  'é',
  'ß',
  'ÿ',
  '\u00a0',
  'Æ',
  '¿',
  '中',
  '文',
  '日本',
  '鍵',
  'ｶ',
  '😀',
  '🪣',
  '𝄞',
  '👩‍💻',
  'e\u0301',
  '\u0301',
  '\u0308',
  'a\u030a',
  'n\u0303',
];

function randomKey(random: () => number): string {
  let key = '';
  const length = 1 + Math.floor(random() * 30);
  for (let i = 0; i < length; i++) key += KEY_POOL[Math.floor(random() * KEY_POOL.length)]!;
  return key;
}

/** One endpoint of every addressing kind and base-path shape. */
function propertyEndpoints(): Endpoint[] {
  return [
    ...FIXTURES.map(fixture),
    endpointFor('bucket = "agentverse"', 'endpoint = "http://gw.example.net/s3"', 'force_path_style = true'),
    endpointFor('bucket = "agentverse"', 'endpoint = "http://gw.example.net/s3"', 'force_path_style = false'),
    endpointFor('bucket = "dotted.bucket"', 'region = "eu-west-1"'),
    endpointFor('bucket = "agentverse"', 'endpoint = "http://[::1]:9000"'),
  ];
}

test('property: the object URL path after the bucket prefix decodes, as UTF-8 bytes, to the key byte for byte', () => {
  const random = prng(3);
  const endpoints = propertyEndpoints();
  for (let i = 0; i < 3000; i++) {
    const key = randomKey(random);
    const endpoint = endpoints[i % endpoints.length]!;
    const prefix = endpoint.bucketUrl().replace(/\/?$/, '/');
    const url = endpoint.objectUrl(key);
    assert.ok(url.startsWith(prefix), url);
    const decoded = decodePath(url.slice(prefix.length));
    assert.ok(
      decoded.equals(Buffer.from(key, 'utf8')),
      `${JSON.stringify(key)} came back as ${JSON.stringify(decoded.toString('utf8'))}`,
    );
  }
});

test('property: the canonical URI the signer sees is the URL path string exactly', () => {
  const random = prng(4);
  const endpoints = propertyEndpoints();
  for (let i = 0; i < 3000; i++) {
    const key = randomKey(random);
    const endpoint = endpoints[i % endpoints.length]!;
    const url = endpoint.objectUrl(key);
    const path = url.slice(url.indexOf('/', url.indexOf('://') + 3));
    const canonicalUri = endpoint.signer
      .explainSign({ method: 'GET', url }, { date: DATE })
      .canonicalRequest.split('\n')[1];
    assert.is(canonicalUri, path, JSON.stringify(key));
    const presigned = endpoint.presign(key, { date: DATE });
    assert.is(presigned.slice(0, presigned.indexOf('?')), url);
  }
});

test('property: download links of a CDN base are the base, one "/", and the object path after the bucket', () => {
  const random = prng(5);
  const cdn = endpointFor(
    'bucket = "agentverse"',
    'endpoint = "http://localhost:9000"',
    'public_url_base = "https://cdn.example.com/p/"',
  );
  for (let i = 0; i < 1000; i++) {
    const key = randomKey(random);
    assert.is(
      cdn.downloadUrl(key),
      `https://cdn.example.com/p/${cdn.objectUrl(key).slice('http://localhost:9000/agentverse/'.length)}`,
    );
  }
});

test.run();
