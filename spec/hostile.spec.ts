/**
 * Hostile input: property and fuzz tests (fast-check, at least 10,000 runs
 * each) that every reader of outside input either succeeds or throws its own
 * error type, never anything else and never unboundedly: the XML reader
 * (random, truncated, deeply nested and huge documents, entity tricks), the
 * key encoder, the configuration loader on random TOML, and the signer's
 * query parser and header canonicaliser.
 *
 * And its hostile-server twin (issue 11, items 12 to 14): every client
 * operation against a loopback fake that answers one of its requests with a
 * malformed reply, from a generated operation × malformation table and from
 * fast-check (fewer runs: each is a round trip). Each must end in
 * ProtocolError or S3Error, or in the result a well-behaved server's reply
 * means; never in success with wrong data, and never holding a huge body.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NOT_REPORTED } from '../lib/documents.js';
import {
  type ClientOptions,
  ConfigError,
  encodeKey,
  InvalidArgumentError,
  type ListPage,
  parseConfig,
  ProtocolError,
  S3Client,
  S3Error,
  type S3v4Error,
  SigV4Signer,
  StorageConfig,
} from '../lib/index.js';
import { download } from '../lib/transfers.js';
import { escapeXml, MAX_XML_DEPTH, MAX_XML_LENGTH, parseXml, XmlError, type XmlElement } from '../lib/xml.js';
import { errorXml } from './support/faults.js';

const test = suite('hostile input');
/** The issue's floor; S3V4_FUZZ_RUNS raises it for a longer hunt. */
const RUNS = Math.max(10_000, Number(process.env.S3V4_FUZZ_RUNS ?? 0));
/** Fixed, so a failure reproduces; fast-check prints the seed and path of any counterexample. */
const SEED = 20261126;
function check<T extends unknown[]>(property: fc.IProperty<T>): void {
  fc.assert(property, { numRuns: RUNS, seed: SEED });
}

/** Runs `fn`; passes if it returns or throws an instance of `allowed`, fails on any other throw. */
function onlyThrows(allowed: abstract new (...args: never[]) => Error, fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (error) {
    if (error instanceof allowed) return true;
    throw new Error(`threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
  }
}

// ---------------------------------------------------------------------------
// XML

const isXmlError = (error: unknown) => error instanceof XmlError;

/** Text of any code points, lone surrogates included. */
const anyText = fc.string({ unit: 'binary', maxLength: 40 });
const tagName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/);

interface Tree {
  name: string;
  text: string;
  children: Tree[];
}

/** Trees up to `depth` levels below the root, at most 3 children each. */
function treeOf(depth: number): fc.Arbitrary<Tree> {
  return fc.record({
    name: tagName,
    text: anyText,
    children: depth === 0 ? fc.constant([]) : fc.array(treeOf(depth - 1), { maxLength: 3 }),
  });
}
const tree = treeOf(3);

/** Writes a tree as S3 would: text first, then children; escaped. */
function serialize(node: Tree): string {
  return `<${node.name}>${escapeXml(node.text)}${node.children.map(serialize).join('')}</${node.name}>`;
}

function same(parsed: XmlElement, node: Tree): boolean {
  return (
    parsed.name === node.name &&
    parsed.text === node.text &&
    parsed.children.length === node.children.length &&
    parsed.children.every((child, i) => same(child, node.children[i]!))
  );
}

test('XML: random strings are parsed or refused with XmlError', () => {
  check(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => onlyThrows(XmlError, () => parseXml(text))),
  );
  // Markup-heavy noise reaches the tag, comment, CDATA and entity paths far more often than random text.
  const piece = fc.constantFrom(
    '<',
    '>',
    '/',
    '</',
    '<a>',
    '</a>',
    '<b/>',
    '<?xml?>',
    '<!--',
    '-->',
    '<![CDATA[',
    ']]>',
    '<!DOCTYPE',
    '&',
    '&amp;',
    '&#',
    '&#x',
    ';',
    'x',
    ' ',
    '"',
  );
  check(
    fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => onlyThrows(XmlError, () => parseXml(pieces.join('')))),
  );
});

test('XML: escaped trees round-trip; every truncation parses or is refused', () => {
  check(
    fc.property(tree, fc.nat(), (node, cut) => {
      const xml = serialize(node);
      assert.ok(same(parseXml(xml), node), xml);
      return onlyThrows(XmlError, () => parseXml(xml.slice(0, cut % (xml.length + 1))));
    }),
  );
});

test('XML: entities are decoded once, never expanded, and only the five plus numeric references', () => {
  check(
    fc.property(
      fc.array(
        fc.oneof(
          anyText,
          fc.constantFrom(
            '&amp;',
            '&lt;',
            '&gt;',
            '&quot;',
            '&apos;',
            '&#65;',
            '&#x42;',
            '&lol;',
            '&#xD800;',
            '&#99999999;',
            '&amp;lt;',
            '&',
          ),
        ),
        { maxLength: 20 },
      ),
      (parts) => {
        const raw = parts.join('').replace(/</g, '&lt;');
        try {
          const text = parseXml(`<a>${raw}</a>`).text;
          // No expansion: a reference is never longer decoded than written.
          assert.ok(text.length <= raw.length, raw);
          // Decoding once: what was &amp;lt; is now &lt;, not <.
          if (raw.includes('&amp;lt;')) assert.ok(text.includes('&lt;'));
        } catch (error) {
          if (!(error instanceof XmlError)) throw error;
        }
      },
    ),
  );
  assert.is(parseXml('<a>&lol;&#x41;&#66;&amp;amp;&#1114112;</a>').text, '&lol;AB&amp;&#1114112;');
  // Entity-expansion attacks need a DTD, which is refused outright.
  const laughs =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>';
  assert.throws(
    () => parseXml(laughs),
    (error: unknown) => error instanceof XmlError && /document type declarations are not accepted/.test(error.message),
  );
  assert.throws(() => parseXml('<!ENTITY x SYSTEM "file:///etc/passwd"><a/>'), isXmlError);
});

test('XML: nesting and size are bounded', () => {
  const nested = (depth: number) => '<a>'.repeat(depth) + '</a>'.repeat(depth);
  assert.is(parseXml(nested(MAX_XML_DEPTH)).name, 'a');
  assert.throws(
    () => parseXml(nested(MAX_XML_DEPTH + 1)),
    (error: unknown) => error instanceof XmlError && /nested deeper than 64/.test(error.message),
  );
  // A million levels: refused at the bound, without recursion (the reader is a loop), so no stack overflow.
  assert.throws(() => parseXml(nested(1_000_000)), isXmlError);
  const huge = `<a>${'x'.repeat(MAX_XML_LENGTH)}</a>`;
  assert.throws(
    () => parseXml(huge),
    (error: unknown) => error instanceof XmlError && /above the 16777216 accepted/.test(error.message),
  );
  // Wide but legal: 1000 siblings, as in a full ListObjectsV2 page.
  assert.is(parseXml(`<r>${'<Contents><Key>k</Key></Contents>'.repeat(1000)}</r>`).children.length, 1000);
});

// ---------------------------------------------------------------------------
// Keys

test('encodeKey round-trips every string with a UTF-8 form, and refuses the rest with InvalidArgumentError', () => {
  check(
    fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }), (key) => {
      const lone = /\p{Cs}/u.test(key);
      try {
        const encoded = encodeKey(key);
        assert.not.ok(lone, 'a lone surrogate was encoded');
        assert.match(encoded, /^(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$/);
        assert.is(decodeURIComponent(encoded), key);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError) || !lone) throw error;
      }
    }),
  );
});

// ---------------------------------------------------------------------------
// Configuration

const settingValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.constant({ nested: 1 }),
);
const settingName = fc.oneof(
  fc.constantFrom(
    'endpoint',
    'access_key',
    'secret_key',
    'bucket',
    'region',
    'force_path_style',
    'presigned_expiry_secs',
    'public_url_base',
    'session_token',
  ),
  fc.string({ maxLength: 12 }),
);

test('the config loader throws nothing but ConfigError on random TOML', () => {
  const env = {};
  check(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) =>
      onlyThrows(ConfigError, () => parseConfig(text, 'random.toml', env)),
    ),
  );
  // Well-formed TOML of the right shape with random keys and values: the validation paths, not the syntax errors.
  check(
    fc.property(
      fc.dictionary(settingName, settingValue, { maxKeys: 10 }),
      fc.oneof(fc.constant('s3'), fc.string({ maxLength: 5 })),
      (settings, backend) => {
        const text = stringify({ object_store: { backend, s3: settings } });
        try {
          assert.instance(parseConfig(text, 'random.toml', env), StorageConfig);
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          // Every problem names where it is.
          assert.ok(error.problems.length > 0 && error.problems.every((p) => p.key !== '' && p.problem !== ''));
        }
      },
    ),
  );
});

// ---------------------------------------------------------------------------
// Signer inputs

test("the signer's query parser and header canonicaliser never crash", () => {
  const signer = new SigV4Signer({
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    region: 'us-east-1',
  });
  const date = Date.UTC(2026, 10, 26);
  const query = fc.string({ unit: 'binary', maxLength: 80 });
  const headers = fc.dictionary(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 30 }),
    { maxKeys: 4 },
  );
  check(
    fc.property(query, headers, (q, h) => {
      const url = `https://bucket.s3.amazonaws.com/key?${q}`;
      return (
        onlyThrows(InvalidArgumentError, () => signer.sign({ method: 'GET', url, headers: h }, { date })) &&
        onlyThrows(InvalidArgumentError, () =>
          signer.presign({ method: 'GET', url, headers: h }, { date, expiresIn: 60 }),
        )
      );
    }),
  );
});

// ---------------------------------------------------------------------------
// The hostile server: every client operation against a loopback fake whose replies are malformed

/** The request kinds of the client's operations, as the fake tells them apart. */
type Kind =
  | 'put'
  | 'initiate'
  | 'part'
  | 'complete'
  | 'abort'
  | 'get'
  | 'head'
  | 'headBucket'
  | 'copy'
  | 'delete'
  | 'deleteMany'
  | 'list'
  | 'location'
  | 'uploads';

/** A reply of the fake: `endless` streams that many bytes (or until the client hangs up) instead of `body`. */
interface Canned {
  status: number;
  headers: Record<string, string>;
  body: string;
  endless?: number;
  /** No Content-Length: the body goes chunked. */
  chunked?: boolean;
}

const BUCKET = 'hostile';
const MiB = 1024 * 1024;
const LAST_MODIFIED = 'Fri, 02 Jan 2026 03:04:05 GMT';
/** The Date of a write's reply, which the write's result carries (PutResult.date). */
const WRITTEN = 'Fri, 02 Jan 2026 03:04:06 GMT';
const OBJECT_HEADERS = {
  'content-type': 'text/plain',
  'content-length': '11',
  etag: '"e-obj"',
  'last-modified': LAST_MODIFIED,
};
const xmlReply = (body: string, headers: Record<string, string> = {}): Canned => ({
  status: 200,
  headers: { 'content-type': 'application/xml', ...headers },
  body,
});
const LISTING =
  '<ListBucketResult><Name>hostile</Name><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>' +
  '<Contents><Key>a%20b</Key><Size>5</Size><ETag>"e1"</ETag><LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents></ListBucketResult>';
const UPLOADS_PAGE =
  '<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>' +
  '<Upload><Key>old</Key><UploadId>u-old</UploadId><Initiated>2001-01-01T00:00:00.000Z</Initiated></Upload></ListMultipartUploadsResult>';

/** What a well-behaved S3 answers to each kind; DeleteObjects names every key it was sent as deleted. */
const GOOD: Record<Kind, (requestBody: string) => Canned> = {
  put: () => ({ status: 200, headers: { etag: '"e-put"', date: WRITTEN }, body: '' }),
  initiate: () =>
    xmlReply(
      '<InitiateMultipartUploadResult><Bucket>hostile</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>',
    ),
  part: () => ({ status: 200, headers: { etag: '"e-part"' }, body: '' }),
  complete: () =>
    xmlReply('<CompleteMultipartUploadResult><ETag>&quot;e-mp&quot;</ETag></CompleteMultipartUploadResult>', {
      date: WRITTEN,
    }),
  abort: () => ({ status: 204, headers: {}, body: '' }),
  get: () => ({ status: 200, headers: { ...OBJECT_HEADERS }, body: 'hello world' }),
  head: () => ({ status: 200, headers: { ...OBJECT_HEADERS }, body: '' }),
  headBucket: () => ({ status: 200, headers: {}, body: '' }),
  copy: () =>
    xmlReply(
      '<CopyObjectResult><ETag>"e-copy"</ETag><LastModified>2026-01-02T03:04:05.000Z</LastModified></CopyObjectResult>',
      { date: WRITTEN },
    ),
  delete: () => ({ status: 204, headers: {}, body: '' }),
  deleteMany: (sent) =>
    xmlReply(
      `<DeleteResult>${[...sent.matchAll(/<Key>(.*?)<\/Key>/g)].map((m) => `<Deleted><Key>${m[1]}</Key></Deleted>`).join('')}</DeleteResult>`,
    ),
  list: () => xmlReply(LISTING),
  location: () => xmlReply('<LocationConstraint>eu-central-1</LocationConstraint>'),
  uploads: () => xmlReply(UPLOADS_PAGE),
};

function kindOf(method: string, url: string, copySource: boolean): Kind {
  const { pathname, searchParams: q } = new URL(url, 'http://fake');
  if (method === 'HEAD') return pathname.replace(/\/$/, '') === `/${BUCKET}` ? 'headBucket' : 'head';
  if (method === 'GET')
    return q.has('location') ? 'location' : q.has('list-type') ? 'list' : q.has('uploads') ? 'uploads' : 'get';
  if (method === 'PUT') return q.has('partNumber') ? 'part' : copySource ? 'copy' : 'put';
  if (method === 'POST') return q.has('uploads') ? 'initiate' : q.has('uploadId') ? 'complete' : 'deleteMany';
  return q.has('uploadId') ? 'abort' : 'delete';
}

/** The loopback fake: GOOD replies, except for the kinds a case overrides. */
interface Fake {
  endpoint: string;
  overrides: Partial<Record<Kind, (good: Canned) => Canned>>;
  /** Kinds asked for since the last case began. */
  seen: Kind[];
  /** Bytes of endless bodies written, all told. */
  endlessSent: number;
  close(): Promise<void>;
}

async function startFake(): Promise<Fake> {
  const filler = Buffer.alloc(64 * 1024, 'a');
  const fake: Fake = { endpoint: '', overrides: {}, seen: [], endlessSent: 0, close: async () => undefined };
  const pump = (res: ServerResponse, total: number) => {
    let sent = 0;
    const more = () => {
      while (sent < total && !res.destroyed) {
        sent += filler.length;
        fake.endlessSent += filler.length;
        if (!res.write(filler)) return void res.once('drain', more);
      }
      if (!res.destroyed) res.end();
    };
    res.write('<ListBucketResult>');
    more();
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = req.method ?? 'GET';
      const kind = kindOf(method, req.url ?? '/', req.headers['x-amz-copy-source'] !== undefined);
      fake.seen.push(kind);
      const good = GOOD[kind](Buffer.concat(chunks).toString());
      const canned = fake.overrides[kind]?.(good) ?? good;
      const headers: Record<string, string> = { date: new Date().toUTCString(), ...canned.headers };
      if (canned.endless !== undefined) {
        res.writeHead(canned.status, headers);
        return pump(res, canned.endless);
      }
      if (method !== 'HEAD' && canned.chunked !== true)
        headers['content-length'] ??= String(Buffer.byteLength(canned.body));
      res.writeHead(canned.status, headers);
      res.end(method === 'HEAD' ? undefined : canned.body);
    });
    // A client that hangs up mid-body is what bounded reading does: not the fake's error.
    res.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

interface Operation {
  name: string;
  /** The kinds of request it sends, each a target for malformed replies. */
  targets: Kind[];
  run(client: S3Client): Promise<unknown>;
  /** Its result when every reply is GOOD. */
  expected: unknown;
}

/** What get() reads from the GOOD reply. */
const GOT = { size: 11, etag: 'e-obj', lastModified: new Date(LAST_MODIFIED), text: 'hello world' };

const collect = async (pages: AsyncIterable<ListPage>) => {
  const all: ListPage[] = [];
  for await (const page of pages) all.push(page);
  return all;
};

const OPERATIONS: Operation[] = [
  {
    name: 'put',
    targets: ['put'],
    run: (client) => client.put('k', 'hello'),
    expected: { etag: 'e-put', versionId: undefined, date: new Date(WRITTEN) },
  },
  {
    name: 'put multipart',
    targets: ['initiate', 'part', 'complete'],
    // A stream of unknown length takes the multipart path whatever its size.
    run: (client) => client.put('k', Readable.from([Buffer.from('hello')])),
    expected: { etag: 'e-mp', versionId: undefined, date: new Date(WRITTEN) },
  },
  {
    name: 'get',
    targets: ['get'],
    run: async (client) => {
      const got = await client.get('k');
      return { size: got.size, etag: got.etag, lastModified: got.lastModified, text: await got.text() };
    },
    expected: GOT,
  },
  {
    name: 'head',
    targets: ['head'],
    run: (client) => client.head('k'),
    expected: {
      key: 'k',
      size: 11,
      etag: 'e-obj',
      contentType: 'text/plain',
      lastModified: new Date(LAST_MODIFIED),
      metadata: {},
    },
  },
  { name: 'exists', targets: ['head'], run: (client) => client.exists('k'), expected: true },
  {
    name: 'copy',
    targets: ['copy'],
    run: (client) => client.copy('a', 'k'),
    expected: { etag: 'e-copy', versionId: undefined, date: new Date(WRITTEN) },
  },
  { name: 'delete', targets: ['delete'], run: (client) => client.delete('k'), expected: undefined },
  {
    name: 'deleteMany',
    targets: ['deleteMany'],
    run: (client) => client.deleteMany(['a', 'b & c']),
    expected: { deleted: ['a', 'b & c'], errors: [] },
  },
  {
    name: 'list',
    targets: ['list'],
    run: (client) => collect(client.list()),
    expected: [
      { objects: [{ key: 'a b', size: 5, etag: 'e1', lastModified: new Date('2026-01-02T03:04:05Z') }], prefixes: [] },
    ],
  },
  { name: 'location', targets: ['location'], run: (client) => client.location(), expected: 'eu-central-1' },
  {
    name: 'abortStaleUploads',
    targets: ['uploads', 'abort'],
    run: (client) => client.abortStaleUploads(new Date('2020-01-01T00:00:00Z')),
    expected: [{ key: 'old', uploadId: 'u-old' }],
  },
];

/** Kinds whose reply document the client reads: a body that is not that document means nothing. */
const DOCUMENTS: ReadonlySet<Kind> = new Set([
  'initiate',
  'complete',
  'copy',
  'deleteMany',
  'list',
  'location',
  'uploads',
]);
/** Kinds whose body is read whole (bounded): a document's, and UploadPart's. */
const READ_WHOLE: ReadonlySet<Kind> = new Set([...DOCUMENTS, 'part']);

/** How a case must end: in ProtocolError or S3Error (and `check` of it), or in a result deep-equal to `result`. */
type Outcome = { typed: true; check?: (error: S3v4Error) => string | undefined } | { typed: false; result?: unknown };
const TYPED: Outcome = { typed: true };
const CORRECT: Outcome = { typed: false };

interface Malformation {
  name: string;
  /** The kinds it applies to. */
  applies(kind: Kind): boolean;
  reply(good: Canned): Canned;
  /** How `operation` must end when its `kind` request gets this. */
  outcome(kind: Kind, operation: string): Outcome;
}

/** exists() reads no header of its HEAD's 200: a flawed one does not change its answer. */
const readsHeaders = (kind: Kind, operation: string) => kind === 'get' || (kind === 'head' && operation !== 'exists');

/** A reply without Content-Length: the body goes chunked. */
function chunked(good: Canned): Canned {
  const { 'content-length': _, ...headers } = good.headers;
  return { ...good, headers, chunked: true };
}

const ENDLESS = 64 * MiB;
const HUGE = 400 * MiB;
const withBody = (kind: Kind) => kind !== 'head' && kind !== 'headBucket' && kind !== 'get';
const bodyOnly =
  (body: string, type = 'application/xml') =>
  (good: Canned): Canned => ({
    ...good,
    headers: { ...good.headers, 'content-type': type },
    body,
  });
const meaningless = (kind: Kind) => (DOCUMENTS.has(kind) ? TYPED : CORRECT);

const MALFORMATIONS: Malformation[] = [
  // Bodies of a 200 that are not the document asked for.
  {
    name: 'an HTML page',
    applies: withBody,
    reply: bodyOnly('<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>', 'text/html'),
    outcome: meaningless,
  },
  {
    name: 'well-formed HTML',
    applies: withBody,
    reply: bodyOnly('<html><head><title>OK</title></head><body><p>OK</p></body></html>', 'text/html'),
    outcome: meaningless,
  },
  {
    name: 'another root',
    applies: withBody,
    reply: bodyOnly('<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>'),
    outcome: meaningless,
  },
  {
    name: 'an <Error> in a 200',
    applies: withBody,
    reply: bodyOnly(errorXml('InternalError')),
    outcome: meaningless,
  },
  {
    name: 'an empty body',
    applies: (kind) => DOCUMENTS.has(kind),
    reply: bodyOnly(''),
    outcome: () => TYPED,
  },
  {
    name: 'truncated XML',
    applies: (kind) => DOCUMENTS.has(kind),
    reply: (good) => ({ ...good, body: good.body.slice(0, Math.floor(good.body.length / 2)) }),
    outcome: () => TYPED,
  },
  {
    name: 'a 64 MiB body, chunked',
    applies: withBody,
    reply: (good) => ({ ...good, endless: ENDLESS }),
    outcome: (kind) => (READ_WHOLE.has(kind) ? TYPED : CORRECT),
  },
  {
    name: 'a declared 400 MiB body',
    applies: withBody,
    reply: (good) => ({ ...good, headers: { ...good.headers, 'content-length': String(HUGE) }, endless: HUGE }),
    outcome: (kind) => (READ_WHOLE.has(kind) ? TYPED : CORRECT),
  },
  // Refusals that are not S3's.
  {
    name: '500 with an HTML page',
    applies: () => true,
    reply: () => ({
      status: 500,
      headers: { 'content-type': 'text/html' },
      body: '<html><body>Bad gateway</body></html>',
    }),
    outcome: () => ({
      typed: true,
      check: (error) =>
        error instanceof ProtocolError && error.status === 500 ? undefined : 'not a ProtocolError 500',
    }),
  },
  {
    name: '503 with an endless body',
    applies: () => true,
    reply: () => ({ status: 503, headers: { 'content-type': 'text/html' }, body: '', endless: HUGE }),
    outcome: () => TYPED,
  },
  {
    name: '403 with a code under another root',
    applies: () => true,
    reply: () => ({ status: 403, headers: {}, body: '<ListBucketResult><Code>NoSuchKey</Code></ListBucketResult>' }),
    outcome: () => ({ typed: true, check: (error) => (error.code === 'Forbidden' ? undefined : `code ${error.code}`) }),
  },
  {
    name: '400 with a truncated <Error>',
    applies: () => true,
    reply: () => ({ status: 400, headers: {}, body: errorXml('SlowDown').slice(0, 60) }),
    outcome: () => ({
      typed: true,
      check: (error) => (error.code === 'BadRequest' ? undefined : `code ${error.code}`),
    }),
  },
  // Headers.
  {
    name: 'no ETag',
    applies: (kind) => kind === 'put' || kind === 'part',
    reply: (good) => ({ ...good, headers: {} }),
    outcome: () => TYPED,
  },
  {
    name: 'a Last-Modified that is not a date',
    applies: (kind) => kind === 'get' || kind === 'head',
    reply: (good) => ({ ...good, headers: { ...good.headers, 'last-modified': 'yesterday' } }),
    outcome: (kind, operation) => (readsHeaders(kind, operation) ? TYPED : CORRECT),
  },
  {
    name: 'no Content-Length (chunked)',
    applies: (kind) => kind === 'get' || kind === 'head',
    reply: chunked,
    outcome: (kind, operation) => {
      // A chunked GET is legal HTTP: the object's size is then unknown, never 0.
      if (kind === 'get') return { typed: false, result: { ...GOT, size: undefined } };
      return readsHeaders(kind, operation) ? TYPED : CORRECT;
    },
  },
  {
    name: 'a 206 with an unknown total',
    applies: (kind) => kind === 'get',
    reply: (good) => ({ ...good, status: 206, headers: { ...good.headers, 'content-range': 'bytes 0-10/*' } }),
    outcome: () => ({ typed: false, result: { ...GOT, size: undefined } }),
  },
  {
    name: 'a garbled Content-Range',
    applies: (kind) => kind === 'get',
    reply: (good) => ({ ...good, status: 206, headers: { ...good.headers, 'content-range': 'bytes 0-10' } }),
    outcome: () => TYPED,
  },
  {
    name: 'a HEAD 301 naming the region in x-amz-bucket-region',
    applies: (kind) => kind === 'head',
    reply: () => ({ status: 301, headers: { 'x-amz-bucket-region': 'eu-west-1' }, body: '' }),
    outcome: () => ({
      typed: true,
      check: (error) => (/set region = "eu-west-1"/.test(error.message) ? undefined : 'no region hint'),
    }),
  },
];

/** Documents with a marker missing, a date or size unreadable, an escape malformed: [kind, name, body, outcome]. */
const DOCUMENT_FLAWS: Array<[Kind, string, string, Outcome]> = [
  ['list', 'a truncated page without its token', LISTING.replace('<IsTruncated>false', '<IsTruncated>true'), TYPED],
  [
    'list',
    'a page that repeats its token',
    LISTING.replace(
      '<IsTruncated>false</IsTruncated>',
      '<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>',
    ),
    TYPED,
  ],
  ['list', 'a malformed % escape', LISTING.replace('a%20b', 'a%E0%'), TYPED],
  ['list', 'an unreadable date', LISTING.replace('2026-01-02T03:04:05.000Z', 'last tuesday'), TYPED],
  ['list', 'a missing size', LISTING.replace('<Size>5</Size>', ''), TYPED],
  ['list', 'a size that is not a count', LISTING.replace('<Size>5</Size>', '<Size>-5</Size>'), TYPED],
  ['list', 'a missing key', LISTING.replace('<Key>a%20b</Key>', ''), TYPED],
  [
    'uploads',
    'a truncated page without its marker',
    UPLOADS_PAGE.replace('<IsTruncated>false', '<IsTruncated>true'),
    TYPED,
  ],
  [
    'uploads',
    'a page that repeats its markers',
    UPLOADS_PAGE.replace(
      '<IsTruncated>false</IsTruncated>',
      '<IsTruncated>true</IsTruncated><NextKeyMarker>old</NextKeyMarker><NextUploadIdMarker>u-old</NextUploadIdMarker>',
    ),
    TYPED,
  ],
  // An upload that cannot be dated is never aborted (issue 11, item 6).
  [
    'uploads',
    'an unreadable date',
    UPLOADS_PAGE.replace('2001-01-01T00:00:00.000Z', 'long ago'),
    { typed: false, result: [] },
  ],
  ['uploads', 'a missing upload id', UPLOADS_PAGE.replace('<UploadId>u-old</UploadId>', ''), TYPED],
  ['initiate', 'no UploadId', '<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>', TYPED],
  [
    'deleteMany',
    'a key not named',
    '<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>',
    {
      typed: false,
      result: {
        deleted: ['a'],
        errors: [
          { key: 'b & c', code: NOT_REPORTED, message: 'POST ?delete: the reply does not say the key was deleted' },
        ],
      },
    },
  ],
  ['location', 'an empty constraint (us-east-1)', '<LocationConstraint/>', { typed: false, result: 'us-east-1' }],
  // Ceph 16 completes with an empty <ETag>: the object's own comes from a HEAD.
  [
    'complete',
    'no ETag',
    '<CompleteMultipartUploadResult/>',
    { typed: false, result: { etag: 'e-obj', versionId: undefined, date: new Date(WRITTEN) } },
  ],
];

interface Case {
  name: string;
  operation: Operation;
  overrides: Fake['overrides'];
  outcome: Outcome;
}

/** Every operation × every malformation of each request it sends. */
function cases(): Case[] {
  const all: Case[] = [];
  for (const operation of OPERATIONS) {
    for (const target of operation.targets) {
      for (const flaw of MALFORMATIONS) {
        if (!flaw.applies(target)) continue;
        // An UploadPart or Complete that fails is followed by an abort: it is part of the case, not a target.
        all.push({
          name: `${operation.name}: ${target} gets ${flaw.name}`,
          operation,
          overrides: { [target]: flaw.reply },
          outcome: flaw.outcome(target, operation.name),
        });
      }
      for (const [kind, name, body, outcome] of DOCUMENT_FLAWS) {
        if (kind !== target) continue;
        all.push({
          name: `${operation.name}: ${target} gets ${name}`,
          operation,
          overrides: { [target]: bodyOnly(body) },
          outcome,
        });
      }
    }
  }
  return all;
}

/** What was wrong with how `run` ended, or undefined when it ended as `outcome` says. */
async function judge(run: () => Promise<unknown>, outcome: Outcome, expected: unknown): Promise<string | undefined> {
  let result: unknown;
  try {
    result = await run();
  } catch (error) {
    if (!(error instanceof ProtocolError || error instanceof S3Error))
      return `threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`;
    if (!outcome.typed) return `threw ${error.constructor.name}: ${error.message}`;
    return outcome.check?.(error);
  }
  if (outcome.typed) return `succeeded with ${inspect(result, { depth: 4 })}`;
  const want = 'result' in outcome ? outcome.result : expected;
  try {
    assert.equal(result, want);
    return undefined;
  } catch {
    return `succeeded with ${inspect(result, { depth: 4 })}, not ${inspect(want, { depth: 4 })}`;
  }
}

let fake: Fake;
let hostile: S3Client;

/** The peak RSS growth while `work` runs, sampled every 10 ms. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, process.memoryUsage().rss) - before;
}

test.before(async () => {
  fake = await startFake();
  hostile = new S3Client(
    {
      endpoint: fake.endpoint,
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      region: 'us-east-1',
      bucket: BUCKET,
      forcePathStyle: true,
    },
    // One attempt: a 503 is not retried, so each case is one exchange per request.
    { maxAttempts: 1, timeouts: { connect: 5000, headers: 10_000, body: 10_000 } },
  );
});

test.after(async () => {
  await hostile.close();
  await fake.close();
});

test('hostile server: every operation with GOOD replies gives its expected result', async () => {
  for (const operation of OPERATIONS) {
    fake.overrides = {};
    assert.equal(await operation.run(hostile), operation.expected, operation.name);
  }
});

test('hostile server: every operation × malformation ends in a typed error or the correct result, in bounded memory', async () => {
  const all = cases();
  const failures: string[] = [];
  const growth = await peakGrowth(async () => {
    for (const one of all) {
      fake.overrides = one.overrides;
      const wrong = await judge(() => one.operation.run(hostile), one.outcome, one.operation.expected);
      if (wrong !== undefined) failures.push(`${one.name}: ${wrong}`);
    }
  });
  fake.overrides = {};
  assert.equal(failures, [], failures.join('\n'));
  // Each operation × target × flaw made: the table is what is tested, not a handful.
  assert.ok(all.length > 120, `${all.length} cases`);
  // Sixteen 400 MiB and 64 MiB bodies were offered: each was cut off at its bound, never held whole.
  assert.ok(growth < 256 * MiB, `RSS grew by ${Math.round(growth / MiB)} MiB`);
});

test('hostile server: truncations and random bodies of every reply document are typed errors (fast-check)', async () => {
  for (const operation of OPERATIONS) {
    for (const target of operation.targets.filter((kind) => DOCUMENTS.has(kind))) {
      const good = GOOD[target]('<Key>a</Key><Key>b &amp; c</Key>').body;
      const body = fc.oneof(
        fc.nat({ max: good.length - 1 }).map((cut) => good.slice(0, cut)),
        fc.string({ unit: 'binary', maxLength: 120 }),
        fc.string({ unit: 'binary', maxLength: 40 }).map((junk) => `<${good.slice(1, 20)}${junk}`),
      );
      await fc.assert(
        fc.asyncProperty(body, async (text) => {
          fake.overrides = { [target]: bodyOnly(text) };
          const wrong = await judge(() => operation.run(hostile), TYPED, operation.expected);
          assert.is(wrong, undefined, `${operation.name}: ${target} gets ${JSON.stringify(text)}`);
        }),
        { numRuns: 60, seed: SEED },
      );
    }
  }
  fake.overrides = {};
});

test('hostile server: a 400 MiB listing or error body is cut off at its bound, with bounded RSS (issue 11, item 13)', async () => {
  for (const [name, override] of [
    ['a 200 listing', (good: Canned): Canned => ({ ...good, endless: HUGE })],
    ['a 503 error body', (): Canned => ({ status: 503, headers: {}, body: '', endless: HUGE })],
  ] as const) {
    fake.overrides = { list: override };
    fake.endlessSent = 0;
    let caught: unknown;
    const growth = await peakGrowth(async () => {
      caught = await collect(hostile.list()).catch((error: unknown) => error);
    });
    assert.instance(caught, ProtocolError, name);
    assert.match((caught as ProtocolError).message, /with a body above the \d+ bytes accepted/);
    // The old reader held the whole 400 MiB (peak RSS 1.36 GiB): the bound is 16 MiB, the rest buffers.
    assert.ok(growth < 160 * MiB, `${name}: RSS grew by ${Math.round(growth / MiB)} MiB`);
    // The client hung up at the bound: the fake wrote far less than it offered (socket buffers are a few MiB).
    assert.ok(fake.endlessSent < 100 * MiB, `${name}: ${Math.round(fake.endlessSent / MiB)} MiB sent`);
  }
  fake.overrides = {};
});

test('hostile server: s3v4 get of a chunked reply writes the object and reports its bytes (issue 11, item 14)', async () => {
  fake.overrides = { get: chunked };
  const dir = mkdtempSync(join(tmpdir(), 's3v4-hostile-'));
  try {
    const file = join(dir, 'k');
    const transfer = {
      client: hostile,
      signal: new AbortController().signal,
      force: false,
      jobs: 1,
      line() {},
      warn() {},
    };
    assert.is((await download(transfer, 'k', file)).size, 11);
    assert.is(readFileSync(file, 'utf8'), 'hello world');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    fake.overrides = {};
  }
});

test('hostile server: exists() tells a missing key from a missing bucket with one HeadBucket (issue 11, item 14)', async () => {
  const missing = (): Canned => ({ status: 404, headers: {}, body: '' });
  fake.overrides = { head: missing };
  fake.seen = [];
  assert.is(await hostile.exists('k'), false);
  assert.equal(fake.seen, ['head', 'headBucket']);
  fake.overrides = { head: missing, headBucket: missing };
  const error = await hostile.exists('k').catch((caught: unknown) => caught);
  assert.instance(error, S3Error);
  assert.is((error as S3Error).code, 'NoSuchBucket');
  assert.match((error as S3Error).hint ?? '', `bucket "${BUCKET}" does not exist`);
  // A policy without s3:ListBucket cannot HEAD the bucket: the object's 404 stands.
  fake.overrides = { head: missing, headBucket: () => ({ status: 403, headers: {}, body: '' }) };
  assert.is(await hostile.exists('k'), false);
  fake.overrides = {};
});

/** A client of a loopback fake at `endpoint`: path-style, with credentials the fake never checks. */
function fakeClient(endpoint: string, options: ClientOptions): S3Client {
  const storage = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret', region: 'us-east-1', bucket: BUCKET };
  return new S3Client({ endpoint, ...storage, forcePathStyle: true }, options);
}

/** How the ranged fake answers one ranged GET of its object: what it sends instead of the range asked. */
type RangeFlaw = (
  start: number,
  end: number,
  later: boolean,
) => { status: number; headers: Record<string, string>; body: Buffer; reset?: boolean };

/** A loopback server holding one object, answering each GET as `flaw` says; the download's evidence of refusing it. */
async function rangedFake(object: Buffer, flaw: RangeFlaw): Promise<{ endpoint: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const asked = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    const start = Number(asked?.[1] ?? 0);
    const end = Math.min(Number(asked?.[2] ?? object.length - 1), object.length - 1);
    const reply = flaw(start, end, start > 0);
    res.writeHead(reply.status, { 'content-length': String(reply.body.length), ...reply.headers });
    if (reply.reset === true) {
      res.write(reply.body.subarray(0, reply.body.length >> 1));
      setTimeout(() => res.destroy(), 20);
    } else res.end(reply.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('hostile server: download refuses a replaced version, a wrong range, a short range and a reset, writing nothing', async () => {
  const object = Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (i * 7) % 256));
  const ranged = (start: number, end: number, etag = '"e1"') => ({
    status: 206,
    headers: { etag, 'content-range': `bytes ${start}-${end}/${object.length}` },
    body: object.subarray(start, end + 1),
  });
  const cases: Array<[string, RangeFlaw, string | undefined]> = [
    ['a well-behaved server', (start, end) => ranged(start, end), undefined],
    ['a server that ignores Range', () => ({ status: 200, headers: { etag: '"e1"' }, body: object }), undefined],
    [
      'a later range of another version',
      (start, end, later) => ranged(start, end, later ? '"e2"' : '"e1"'),
      'ERR_S3V4_CHANGED',
    ],
    [
      'a later range other than asked',
      (start, end, later) => (later ? ranged(0, end - start) : ranged(start, end)),
      'ERR_S3V4_TRUNCATED',
    ],
    [
      'a later range shorter than its Content-Range',
      (start, end, later) => ({ ...ranged(start, end), body: object.subarray(start, later ? end - 10 : end + 1) }),
      'ERR_S3V4_TRUNCATED',
    ],
    ['a reset in a later range', (start, end, later) => ({ ...ranged(start, end), reset: later }), 'ERR_S3V4_NETWORK'],
  ];
  const dir = mkdtempSync(join(tmpdir(), 's3v4-ranged-'));
  try {
    for (const [name, flaw, code] of cases) {
      const server = await rangedFake(object, flaw);
      const client = fakeClient(server.endpoint, { maxAttempts: 1 });
      const path = join(dir, 'object.bin');
      try {
        const outcome = await client
          .download('k', path, { partSize: 64 * 1024, concurrency: 3 })
          .catch((error: unknown) => error);
        if (code === undefined) {
          assert.equal(outcome, { path, size: object.length, etag: 'e1' }, name);
          assert.ok(readFileSync(path).equals(object), name);
          rmSync(path);
        } else {
          assert.is((outcome as S3v4Error).code, code, `${name}: ${inspect(outcome)}`);
          assert.match((outcome as Error).message, /GET k: /, name);
        }
        assert.equal(readdirSync(dir), [], `${name} left a file`);
      } finally {
        await client.close();
        await server.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A raw TCP server that answers a HEAD with stray bytes after its headers (RFC 9110 §9.3.2 says a HEAD reply has no
 * content), either at once or held back until the connection's next request arrives, just before that request's
 * own reply: the case undici's close-after-HEAD guards against, and that the client's keep-alive HEADs face.
 */
async function strayBodyFake(when: 'at once' | 'before the next reply') {
  let connections = 0;
  const server = createTcpServer((socket: Socket) => {
    connections++;
    let buffered = '';
    let held = '';
    socket.on('error', () => undefined);
    socket.on('data', (data) => {
      buffered += data.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
        const method = buffered.slice(0, buffered.indexOf(' '));
        buffered = buffered.slice(end + 4);
        const keep = 'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n';
        socket.write(held);
        held = '';
        if (method === 'HEAD') {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "e1"\r\n${keep}\r\n`);
          if (when === 'at once') socket.write('HELLO');
          else held = 'HELLO';
        } else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\nETag: "e2"\r\n${keep}\r\ndata`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test('hostile server: bytes after a HEAD reply cost that connection, never the HEAD or the next reply', async () => {
  for (const when of ['at once', 'before the next reply'] as const) {
    const server = await strayBodyFake(when);
    const client = fakeClient(server.endpoint, { connections: 1 });
    try {
      for (let round = 0; round < 4; round++) {
        const info = await client.head('k');
        assert.is(info.size, 5, when);
        assert.is(info.etag, 'e1', when);
        const reply = await client.get('k');
        assert.is(reply.etag, 'e2', when);
        assert.is(Buffer.from(await reply.bytes()).toString(), 'data', when);
      }
      // The connection a HEAD spoiled is not used again: a new one for the next request, each round.
      assert.ok(server.connections() >= 4, `${when}: ${server.connections()} connections`);
    } finally {
      await client.close();
      await server.close();
    }
  }
});

test.run();
