/**
 * The model-based test's parts (spec/model.spec.ts): a model of one bucket
 * (key -> bytes, ETag, content type, metadata), adversarial generators for
 * keys, header values and bodies, and one fast-check command per client
 * operation. Each command runs against the real server, compares what the
 * client returns with what the model says S3 must answer, reads the object
 * back, and then updates the model. Commands carry their literal keys, so a
 * shrunk failure prints as the sequence of calls that reproduces it.
 *
 * The model is written to the correct behaviour (issue 11), not to today's:
 * a put either stores exactly what was sent, or fails with a typed error and
 * leaves the old object (or none) and no upload in progress.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  type Body,
  BodyLengthError,
  type GetOptions,
  InvalidArgumentError,
  type PutOptions,
  type S3Client,
  S3Error,
  fromFile,
} from '../../lib/index.js';
import { prng } from '../helpers.js';
import type { ServerFacts } from './facts.js';
import { type S3Server, uploadsIn } from './servers.js';

/** The client's part size and multipart threshold: S3's 5 MiB minimum, so multipart happens without huge bodies. */
export const PART = 5 * 1024 * 1024;

export interface Stored {
  bytes: Buffer;
  /** As HEAD, GET and the write's reply give it. */
  etag: string;
  /** As a listing gives it, when that differs (Swift's copies of multipart objects, support/facts.ts). */
  listedEtag?: string;
  /** Undefined when none was given: S3's default, binary/octet-stream. */
  contentType: string | undefined;
  /** Names lowercased, as S3 returns them. */
  metadata: Record<string, string>;
}

export interface Model {
  objects: Map<string, Stored>;
}

export interface Real {
  server: S3Server;
  facts: ServerFacts;
  client: S3Client;
  bucket: string;
  /** Where file bodies are written. */
  dir: string;
  /** Commands run, across every run of the test. */
  count: { commands: number; files: number };
  /** Reads the bucket with botocore, independently of s3v4; undefined when botocore is missing. */
  audit: ((bucket: string) => Promise<AuditedObject[]>) | undefined;
}

export interface AuditedObject {
  key: string;
  size: number;
  etag: string;
  sha256: string;
  length: number;
}

/** A failed comparison: the message names the command, what the model expected and what came back. */
export class ModelMismatch extends Error {
  override name = 'ModelMismatch';
}

function expect(condition: boolean, what: string, details: () => unknown = () => ''): asserts condition {
  if (!condition) throw new ModelMismatch(`${what}${formatDetails(details())}`);
}

function formatDetails(details: unknown): string {
  return details === '' ? '' : `: ${typeof details === 'string' ? details : inspect(details, { depth: 4 })}`;
}

const show = (value: unknown) => JSON.stringify(value);
const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('hex');
export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
export const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// ---------------------------------------------------------------------------
// Generators

/** Pieces keys are made of: what XML, URLs, HTTP and Unicode normalization each treat specially. */
const KEY_PIECES = [
  '\r',
  '\n',
  '\t',
  '\r\n',
  '&',
  '<',
  '>',
  '"',
  "'",
  '&amp;',
  ']]>',
  '\u{1f600}',
  'e\u0301',
  '\u00e9',
  ' ',
  '//',
  '..',
  '/',
  '%',
  '%2F',
  '+',
  '?',
  '#',
  '=',
  '\\',
  '\u00a0',
  '\u2028',
  '\u007f',
];
/** Characters XML 1.0 cannot carry (section 2.2): such keys must be deleted and listed another way. */
const NOT_XML_PIECES = ['\u0001', '\u001f', '\ufffe'];
const word = fc.stringMatching(/^[a-z0-9]{1,4}$/);
const keyPiece = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...KEY_PIECES) },
  { weight: 4, arbitrary: word },
  { weight: 1, arbitrary: fc.constantFrom(...NOT_XML_PIECES) },
);
const shortKey = fc.array(keyPiece, { minLength: 1, maxLength: 6 }).map((pieces) => pieces.join(''));
/** A key of exactly 1024 UTF-8 bytes, S3's limit, ending in a 4-byte character. */
const longKey = shortKey.map((key) => {
  const tail = `${key}\u{1f600}`;
  return `${'x'.repeat(Math.max(0, 1024 - Buffer.byteLength(tail)))}${tail}`;
});
const keyArb = fc
  .oneof({ weight: 12, arbitrary: shortKey }, { weight: 1, arbitrary: longKey })
  .filter((key) => Buffer.byteLength(key) <= 1024);
/** The keys of one run: few, so commands collide on them. */
const keyPool = fc.uniqueArray(keyArb, { minLength: 2, maxLength: 8 });

/** A value HTTP carries as it is: visible ASCII, inner spaces, nothing at either end to trim. */
const PLAIN = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const isPlain = (value: string) => PLAIN.test(value);
const plainValue = fc.stringMatching(/^[!-~](?:[ -~]{0,10}[!-~])?$/);
/** Plain ASCII that a careless decoder would take for RFC 2047 words, or a list, or a quoted string. */
const trickyPlain = fc.constantFrom('=?UTF-8?B?Y2Fmw6k=?=', '=?utf-8?q?caf=C3=A9?=', 'a  b', 'x, y', 'k=v; q=1', '"q"');
const nonAscii = fc.constantFrom('caf\u00e9', 'na\u00efve', '\u20ac', '\u{1f600}', '\u00ff', 'e\u0301', '\u00a0x');
const controls = fc.constantFrom('a\u0001b', 'tab\there', 'del\u007f', 'cr\rx', 'lf\nx', ' lead', 'trail ', '\tt');

/**
 * What a run may leave out (S3V4_MODEL_OMIT, comma-separated), to look past a known defect for the next:
 * `header-bytes` (values that are not plain ASCII), `lies` (declared lengths that lie), `create-only` (ifNoneMatch).
 */
export type Omitted = ReadonlySet<string>;

function headerArbs(omit: Omitted) {
  const value = omit.has('header-bytes')
    ? fc.oneof({ weight: 3, arbitrary: plainValue }, { weight: 1, arbitrary: trickyPlain })
    : fc.oneof(
        { weight: 6, arbitrary: plainValue },
        { weight: 2, arbitrary: trickyPlain },
        { weight: 2, arbitrary: nonAscii },
        { weight: 1, arbitrary: controls },
      );
  const dispositions = ['attachment; filename="a.txt"', 'inline'];
  if (!omit.has('header-bytes')) dispositions.push('attachment; filename="caf\u00e9.txt"');
  return {
    metadata: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), value, { maxKeys: 3 }),
    contentType: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('text/plain', 'application/json; charset=utf-8', 'image/png') },
      { weight: 2, arbitrary: value },
    ),
    disposition: fc.oneof(fc.constantFrom(...dispositions), value),
  };
}

type BodyKind = 'bytes' | 'buffer' | 'arraybuffer' | 'string' | 'blob' | 'file' | 'readable' | 'iterable' | 'webstream';
const STREAMS: readonly BodyKind[] = ['readable', 'iterable', 'webstream'];

interface BodySpec {
  kind: BodyKind;
  size: number;
  seed: number;
  /** For a stream: the declared contentLength minus the real size (0: true; undefined: not declared). */
  lie: number | undefined;
}

const sizeArb = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(PART - 1, PART, PART + 1, 2 * PART + 1) },
);
function bodyArb(omit: Omitted): fc.Arbitrary<BodySpec> {
  const lies = fc.constantFrom(-1, 1, PART, -PART, 'half' as const);
  return fc
    .record({
      kind: fc.constantFrom<BodyKind>(
        'bytes',
        'buffer',
        'arraybuffer',
        'string',
        'blob',
        'file',
        'readable',
        'iterable',
        'webstream',
      ),
      size: sizeArb,
      seed: fc.nat(1000),
      declared: fc.oneof(
        { weight: 4, arbitrary: fc.constant<'true' | 'none'>('true') },
        { weight: 3, arbitrary: fc.constant<'true' | 'none'>('none') },
        { weight: omit.has('lies') ? 0 : 2, arbitrary: lies },
      ),
    })
    .map(({ kind, size, seed, declared }) => {
      if (!STREAMS.includes(kind)) return { kind, size, seed, lie: undefined };
      if (declared === 'none') return { kind, size, seed, lie: undefined };
      if (declared === 'true') return { kind, size, seed, lie: 0 };
      // A declared length is never negative: a lie below zero becomes "declared 0".
      const lie = declared === 'half' ? -Math.ceil(size / 2) || 1 : declared;
      return { kind, size, seed, lie: size + lie < 0 ? -size || 1 : lie };
    });
}

/** Deterministic content: a 64 KiB block from the seed, each copy stamped with its index so parts differ. */
function content(seed: number, size: number): Buffer {
  const random = prng(seed * 7919 + size);
  const block = Buffer.alloc(Math.min(size, 65536));
  for (let i = 0; i < block.length; i++) block[i] = Math.floor(random() * 256);
  const bytes = Buffer.alloc(size);
  for (let at = 0, index = 0; at < size; at += block.length, index++) {
    block.copy(bytes, at);
    if (block.length >= 4 && at + 4 <= size) bytes.writeUInt32BE(index, at);
  }
  return bytes;
}

/** Uneven chunks, as streams deliver them. */
function chunksOf(bytes: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const length = 1 + ((seed + i * 7919) % 300_000);
    chunks.push(bytes.subarray(at, at + length));
    at += length;
  }
  return chunks;
}

interface MadeBody {
  body: Body;
  /** The bytes the body yields. */
  bytes: Buffer;
  contentLength: number | undefined;
}

function makeBody(spec: BodySpec, real: Real): MadeBody {
  const raw = content(spec.seed, spec.size);
  const contentLength = spec.lie === undefined ? undefined : spec.size + spec.lie;
  switch (spec.kind) {
    case 'bytes':
      return { body: new Uint8Array(raw), bytes: raw, contentLength };
    case 'buffer':
      return { body: raw, bytes: raw, contentLength };
    case 'arraybuffer':
      return { body: new Uint8Array(raw).buffer, bytes: raw, contentLength };
    case 'string': {
      // Printable ASCII of that size, and two multi-byte characters in a small one.
      const text = `${Buffer.from(raw.map((byte) => 32 + (byte % 95))).toString('latin1')}${spec.size < 1000 ? '\u00e9\u{1f600}' : ''}`;
      return { body: text, bytes: Buffer.from(text, 'utf8'), contentLength };
    }
    case 'blob':
      return { body: new Blob([raw]), bytes: raw, contentLength };
    case 'file': {
      const path = join(real.dir, `body-${real.count.files++}`);
      writeFileSync(path, raw);
      return { body: fromFile(path), bytes: raw, contentLength };
    }
    case 'readable':
      return { body: Readable.from(chunksOf(raw, spec.seed)), bytes: raw, contentLength };
    case 'iterable': {
      const chunks = chunksOf(raw, spec.seed);
      const body = (async function* () {
        yield* chunks;
      })();
      return { body, bytes: raw, contentLength };
    }
    case 'webstream': {
      const chunks = chunksOf(raw, spec.seed);
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const chunk = chunks.shift();
          if (chunk === undefined) controller.close();
          else controller.enqueue(new Uint8Array(chunk));
        },
      });
      return { body, bytes: raw, contentLength };
    }
  }
}

function describeBody(spec: BodySpec): string {
  const declared =
    spec.lie === undefined ? '' : spec.lie === 0 ? ', declared' : `, declared ${spec.size + spec.lie} (a lie)`;
  return `${spec.kind} of ${spec.size} B (seed ${spec.seed}${declared})`;
}

/** The ETag S3 gives the bytes: their MD5, or for multipart the MD5 of the parts' MD5s and the part count. */
function etagOf(bytes: Buffer, multipart: boolean): string {
  if (!multipart) return md5(bytes);
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length || parts.length === 0; at += PART) {
    parts.push(Buffer.from(md5(bytes.subarray(at, at + PART)), 'hex'));
  }
  return `${md5(Buffer.concat(parts))}-${parts.length}`;
}

// ---------------------------------------------------------------------------
// Checks shared by the commands

/** Whether `error` refuses one of the named fields before sending (InvalidArgumentError naming it). */
function refusesField(error: unknown, fields: readonly string[]): boolean {
  return error instanceof InvalidArgumentError && fields.some((field) => error.argument.includes(field));
}

function s3Code(error: unknown, code: string, status: number): boolean {
  return error instanceof S3Error && error.code === code && error.status === status;
}

/** Options whose values HTTP cannot carry as they are: each may be refused, naming the field, or must round-trip. */
function unplainFields(options: {
  contentType?: string | undefined;
  contentDisposition?: string | undefined;
  metadata?: Record<string, string> | undefined;
}): string[] {
  const fields: string[] = [];
  if (options.contentType !== undefined && !isPlain(options.contentType)) fields.push('contentType');
  if (options.contentDisposition !== undefined && !isPlain(options.contentDisposition))
    fields.push('contentDisposition');
  for (const [name, value] of Object.entries(options.metadata ?? {})) if (!isPlain(value)) fields.push(name);
  return fields;
}

/** The object on the server is the model's: HEAD gives its size, ETag, content type and metadata. */
async function checkObject(real: Real, key: string, stored: Stored | undefined, after: string): Promise<void> {
  const exists = await real.client.exists(key);
  expect(exists === (stored !== undefined), `after ${after}: exists(${show(key)}) is ${exists}`);
  if (stored === undefined) return;
  const info = await real.client.head(key);
  expect(info.size === stored.bytes.length, `after ${after}: HEAD size`, () => [info.size, stored.bytes.length]);
  expect(info.etag === stored.etag, `after ${after}: HEAD ETag`, () => [info.etag, stored.etag]);
  checkFacts(info, stored, `after ${after}: HEAD`);
}

function checkFacts(
  info: { contentType: string | undefined; metadata: Record<string, string> },
  stored: Stored,
  what: string,
): void {
  // An object written without a type has S3's default, however it was uploaded (lib/multipart.ts).
  const type = stored.contentType ?? 'binary/octet-stream';
  expect(info.contentType === type, `${what} content type`, () => [info.contentType, type]);
  expect(sameRecord(info.metadata, stored.metadata), `${what} metadata`, () => ({
    got: info.metadata,
    expected: stored.metadata,
  }));
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const entries = (record: Record<string, string>) => JSON.stringify(Object.entries(record).sort());
  return entries(a) === entries(b);
}

/** No multipart upload is left in progress: every put has finished, and a failed one must abort its upload. */
async function checkNoUploads(real: Real, after: string): Promise<void> {
  const uploads = await uploadsIn(real.server, real.bucket);
  expect(uploads.length === 0, `after ${after}: uploads left in progress`, () => uploads);
}

const lowerNames = (metadata: Record<string, string>) =>
  Object.fromEntries(Object.entries(metadata).map(([name, value]) => [name.toLowerCase(), value]));

// ---------------------------------------------------------------------------
// Commands

type ModelCommand = fc.AsyncCommand<Model, Real, false>;

abstract class Step implements ModelCommand {
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    real.count.commands++;
    await this.step(model, real);
  }
  abstract step(model: Model, real: Real): Promise<void>;
  abstract toString(): string;
}

interface PutSpec {
  key: string;
  body: BodySpec;
  contentType: string | undefined;
  contentDisposition: string | undefined;
  metadata: Record<string, string> | undefined;
  createOnly: boolean;
}

/** Characters XML 1.0 cannot carry, even as references (XML 1.0 section 2.2, Char): C0 but TAB, LF, CR; U+FFFE, U+FFFF. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for.
const XML_INCOMPATIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

class Put extends Step {
  constructor(readonly spec: PutSpec) {
    super();
  }

  async step(model: Model, real: Real): Promise<void> {
    const { key, contentType, contentDisposition, metadata, createOnly } = this.spec;
    const made = makeBody(this.spec.body, real);
    const options: PutOptions = {};
    if (made.contentLength !== undefined) options.contentLength = made.contentLength;
    if (contentType !== undefined) options.contentType = contentType;
    if (contentDisposition !== undefined) options.contentDisposition = contentDisposition;
    if (metadata !== undefined) options.metadata = metadata;
    if (createOnly) options.ifNoneMatch = '*';
    const before = model.objects.get(key);
    const lies = made.contentLength !== undefined && made.contentLength !== made.bytes.length;
    const refusable = unplainFields(this.spec);
    let error: unknown;
    let etag: string | undefined;
    try {
      etag = (await real.client.put(key, made.body, options)).etag;
    } catch (caught) {
      error = caught;
    }
    const what = this.toString();
    const length = made.contentLength ?? made.bytes.length;
    // A create-only put goes multipart where PutObject's If-None-Match is not implemented (S3Client.put, Swift).
    const conditionalMultipart = createOnly && real.facts.ifNoneMatchOnPut === 'not implemented';
    const multipart =
      (made.contentLength === undefined && STREAMS.includes(this.spec.body.kind)) || conditionalMultipart
        ? true
        : length > PART;
    if (error === undefined) {
      expect(!lies, `${what} succeeded, but the stream yielded ${made.bytes.length} bytes, not the declared`);
      expect(!(createOnly && before !== undefined), `${what} replaced an existing object despite ifNoneMatch "*"`);
      const stored: Stored = {
        bytes: made.bytes,
        etag: etagOf(made.bytes, multipart),
        contentType,
        metadata: lowerNames(metadata ?? {}),
      };
      expect(etag === stored.etag, `${what}: the returned ETag`, () => [etag, stored.etag]);
      model.objects.set(key, stored);
    } else {
      const accepted =
        refusesField(error, refusable) ||
        (createOnly && before !== undefined && s3Code(error, 'PreconditionFailed', 412)) ||
        // A body that lies about its length fails as BodyLengthError on either path, leaving the object as it was.
        (lies && error instanceof BodyLengthError) ||
        // No server can name such a key in CreateMultipartUpload's reply (Swift answers 500, support/facts.ts): the
        // client refuses it before sending.
        (multipart && XML_INCOMPATIBLE.test(key) && refusesField(error, ['key'])) ||
        // Swift names parts after the key, so a long key gets 500 (support/facts.ts, maxMultipartKeyBytes).
        (multipart && Buffer.byteLength(key) > real.facts.maxMultipartKeyBytes && s3Code(error, 'InternalError', 500));
      expect(accepted, `${what} failed`, () => error);
    }
    await checkObject(real, key, model.objects.get(key), what);
    await checkNoUploads(real, what);
  }

  toString(): string {
    const { key, body, contentType, contentDisposition, metadata, createOnly } = this.spec;
    const options: string[] = [];
    if (contentType !== undefined) options.push(`contentType: ${show(contentType)}`);
    if (contentDisposition !== undefined) options.push(`contentDisposition: ${show(contentDisposition)}`);
    if (metadata !== undefined) options.push(`metadata: ${show(metadata)}`);
    if (createOnly) options.push(`ifNoneMatch: "*"`);
    return `put(${show(key)}, ${describeBody(body)}${options.length === 0 ? '' : `, { ${options.join(', ')} }`})`;
  }
}

/** A byte position: from the start, or from the object's end (resolved against the model's size when run). */
interface Position {
  from: 'start' | 'end';
  offset: number;
}

type RangeSpec =
  | { kind: 'whole' }
  | { kind: 'tuple'; start: Position; length: number }
  | { kind: 'suffix'; bytes: number };

const positionArb: fc.Arbitrary<Position> = fc.oneof(
  fc.record({ from: fc.constant<'start'>('start'), offset: fc.constantFrom(0, 1, 7, PART - 1, PART, PART + 1) }),
  fc.record({ from: fc.constant<'end'>('end'), offset: fc.constantFrom(-2, -1, 0, 1, 100) }),
);
const rangeArb: fc.Arbitrary<RangeSpec> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<RangeSpec>({ kind: 'whole' }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant<'tuple'>('tuple'),
      start: positionArb,
      length: fc.constantFrom(1, 2, 100, PART, 10 * PART),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant<'suffix'>('suffix'), bytes: fc.constantFrom(1, 5, 299, PART, 10 * PART) }),
  },
);

/** What a GET with a range must give (RFC 9110 section 14), or undefined for 416 Range Not Satisfiable. */
function expectedRange(
  bytes: Buffer,
  range: GetOptions['range'],
): { body: Buffer; contentRange: string | undefined } | undefined {
  const size = bytes.length;
  if (range === undefined) return { body: bytes, contentRange: undefined };
  let first: number;
  let last: number;
  if (Array.isArray(range)) {
    [first, last] = range as [number, number];
    if (first >= size) return undefined;
    last = Math.min(last, size - 1);
  } else {
    // A suffix range of an empty representation is unsatisfiable (RFC 9110 section 14.1.3).
    if (size === 0) return undefined;
    first = Math.max(0, size - (range as { suffix: number }).suffix);
    last = size - 1;
  }
  return { body: bytes.subarray(first, last + 1), contentRange: `bytes ${first}-${last}/${size}` };
}

class Get extends Step {
  constructor(
    readonly key: string,
    readonly range: RangeSpec,
    readonly read: 'bytes' | 'stream',
  ) {
    super();
  }

  /** The range option for an object of `size` bytes; a start before 0 is 0. */
  option(size: number): GetOptions['range'] {
    if (this.range.kind === 'whole') return undefined;
    if (this.range.kind === 'suffix') return { suffix: this.range.bytes };
    const { start, length } = this.range;
    const first = Math.max(0, start.from === 'start' ? start.offset : size + start.offset);
    return [first, first + length - 1];
  }

  async step(model: Model, real: Real): Promise<void> {
    const stored = model.objects.get(this.key);
    const range = this.option(stored?.bytes.length ?? 0);
    const what = `${this.toString()} as ${show(range)}`;
    const options: GetOptions = range === undefined ? {} : { range };
    const outcome = await real.client.get(this.key, options).then(
      async (result) => ({ result, body: Buffer.from(await readBody(result, this.read)) }),
      (error: unknown) => ({ error }),
    );
    if (stored === undefined) {
      expect('error' in outcome && s3Code(outcome.error, 'NoSuchKey', 404), `${what} of a missing key`, () => outcome);
      return;
    }
    const expected = expectedRange(stored.bytes, range);
    if (expected === undefined) {
      // RFC 9110 section 14.2 lets a server ignore Range; for an empty object that is the whole, empty body.
      const ignored = 'body' in outcome && outcome.body.length === 0 && stored.bytes.length === 0;
      const refused = 'error' in outcome && s3Code(outcome.error, 'InvalidRange', 416);
      expect(refused || ignored, `${what}: expected 416 InvalidRange`, () => outcome);
      return;
    }
    if ('error' in outcome) throw new ModelMismatch(`${what} failed${formatDetails(outcome.error)}`);
    const { result, body } = outcome;
    expect(body.equals(expected.body), `${what}: the body`, () => ({
      got: { length: body.length, sha256: sha256(body) },
      expected: { length: expected.body.length, sha256: sha256(expected.body) },
    }));
    expect(result.size === stored.bytes.length, `${what}: size`, () => [result.size, stored.bytes.length]);
    expect(result.contentRange === expected.contentRange, `${what}: Content-Range`, () => [
      result.contentRange,
      expected.contentRange,
    ]);
    expect(result.etag === stored.etag, `${what}: ETag`, () => [result.etag, stored.etag]);
    checkFacts(result, stored, what);
  }

  toString(): string {
    const range = this.range.kind === 'whole' ? '' : `, ${show(this.range)}`;
    return `get(${show(this.key)}${range}, read as ${this.read})`;
  }
}

async function readBody(result: { bytes(): Promise<Uint8Array>; body: Readable }, read: 'bytes' | 'stream') {
  if (read === 'bytes') return result.bytes();
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

class Head extends Step {
  constructor(readonly key: string) {
    super();
  }
  async step(model: Model, real: Real): Promise<void> {
    const stored = model.objects.get(this.key);
    if (stored !== undefined) return checkObject(real, this.key, stored, this.toString());
    const error = await real.client.head(this.key).then(
      (info) => info,
      (caught: unknown) => caught,
    );
    expect(error instanceof S3Error && error.status === 404, `${this} of a missing key`, () => error);
  }
  toString(): string {
    return `head(${show(this.key)})`;
  }
}

class Exists extends Step {
  constructor(readonly key: string) {
    super();
  }
  async step(model: Model, real: Real): Promise<void> {
    const exists = await real.client.exists(this.key);
    expect(exists === model.objects.has(this.key), `${this} is ${exists}`);
  }
  toString(): string {
    return `exists(${show(this.key)})`;
  }
}

class Copy extends Step {
  constructor(
    readonly from: string,
    readonly to: string,
    readonly replace: { metadata: Record<string, string>; contentType: string | undefined } | undefined,
  ) {
    super();
  }

  async step(model: Model, real: Real): Promise<void> {
    const source = model.objects.get(this.from);
    const options =
      this.replace === undefined
        ? {}
        : {
            metadata: this.replace.metadata,
            ...(this.replace.contentType === undefined ? {} : { contentType: this.replace.contentType }),
          };
    const outcome = await real.client.copy(this.from, this.to, options).then(
      (result) => ({ etag: result.etag }),
      (error: unknown) => ({ error }),
    );
    const what = this.toString();
    // Values HTTP cannot carry are refused before any request, whether the source exists or not.
    const refused = 'error' in outcome && refusesField(outcome.error, unplainFields(this.replace ?? {}));
    if (source === undefined) {
      const missing = 'error' in outcome && s3Code(outcome.error, 'NoSuchKey', 404);
      expect(missing || refused, `${what} of a missing key`, () => outcome);
    } else if ('error' in outcome) {
      // S3 refuses to copy an object onto itself without replacing its metadata (S3 API Reference, CopyObject).
      const ontoItself = this.from === this.to && this.replace === undefined;
      const accepted = (ontoItself && s3Code(outcome.error, 'InvalidRequest', 400)) || refused;
      expect(accepted, `${what} failed`, () => outcome.error);
    } else {
      // S3 gives a copy the source's ETag, or the MD5 of its bytes when the source was multipart.
      const etags = [source.etag, md5(source.bytes)];
      expect(etags.includes(outcome.etag), `${what}: the returned ETag`, () => [outcome.etag, etags]);
      model.objects.set(this.to, {
        bytes: source.bytes,
        etag: outcome.etag,
        // Swift's reply and HEAD give a copy of a multipart object the source's ETag, its listing the MD5.
        ...(real.facts.copyEtagListed === 'the MD5' ? { listedEtag: md5(source.bytes) } : {}),
        contentType: this.replace === undefined ? source.contentType : this.replace.contentType,
        metadata: this.replace === undefined ? source.metadata : lowerNames(this.replace.metadata),
      });
    }
    await checkObject(real, this.to, model.objects.get(this.to), what);
  }

  toString(): string {
    const options = this.replace === undefined ? '' : `, ${show(this.replace)}`;
    return `copy(${show(this.from)}, ${show(this.to)}${options})`;
  }
}

class Delete extends Step {
  constructor(readonly key: string) {
    super();
  }
  async step(model: Model, real: Real): Promise<void> {
    await real.client.delete(this.key);
    model.objects.delete(this.key);
    await checkObject(real, this.key, undefined, this.toString());
  }
  toString(): string {
    return `delete(${show(this.key)})`;
  }
}

class DeleteMany extends Step {
  constructor(
    readonly keys: string[],
    readonly pool: readonly string[],
  ) {
    super();
  }
  async step(model: Model, real: Real): Promise<void> {
    const result = await real.client.deleteMany(this.keys);
    const what = this.toString();
    // S3 reports a key that did not exist as deleted (S3 API Reference, DeleteObjects).
    expect(result.errors.length === 0, `${what}: errors`, () => result.errors);
    expect(
      show([...result.deleted].sort(byteOrder)) === show([...this.keys].sort(byteOrder)),
      `${what}: the keys reported deleted`,
      () => result.deleted,
    );
    for (const key of this.keys) model.objects.delete(key);
    // Every key of the run, so a key deleted in another's place shows too.
    for (const key of this.pool) await checkObject(real, key, model.objects.get(key), what);
  }
  toString(): string {
    return `deleteMany(${show(this.keys)})`;
  }
}

interface ListSpec {
  prefix: string | undefined;
  delimiter: string | undefined;
  startAfter: string | undefined;
  pageSize: number;
}

/** What ListObjectsV2 must list: keys after startAfter under the prefix in UTF-8 byte order, grouped at the delimiter. */
function expectedListing(keys: Iterable<string>, spec: ListSpec): { keys: string[]; prefixes: string[] } {
  const prefix = spec.prefix ?? '';
  const listed: string[] = [];
  const prefixes = new Set<string>();
  const sorted = [...keys].sort(byteOrder);
  for (const key of sorted) {
    if (!key.startsWith(prefix)) continue;
    if (spec.startAfter !== undefined && byteOrder(key, spec.startAfter) <= 0) continue;
    const cut = spec.delimiter === undefined ? -1 : key.indexOf(spec.delimiter, prefix.length);
    if (cut < 0) listed.push(key);
    else prefixes.add(key.slice(0, cut + spec.delimiter!.length));
  }
  // A common prefix at or before startAfter is not listed again: it is how a listing resumes after a page that
  // ended with it (S3 API Reference, ListObjects: the last CommonPrefixes can be the next Marker).
  const after = (common: string) => spec.startAfter === undefined || byteOrder(common, spec.startAfter) > 0;
  return { keys: listed, prefixes: [...prefixes].filter(after).sort(byteOrder) };
}

class List extends Step {
  constructor(readonly spec: ListSpec) {
    super();
  }
  async step(model: Model, real: Real): Promise<void> {
    const { prefix, delimiter, startAfter, pageSize } = this.spec;
    const options = {
      pageSize,
      ...(prefix === undefined ? {} : { prefix }),
      ...(delimiter === undefined ? {} : { delimiter }),
      ...(startAfter === undefined ? {} : { startAfter }),
    };
    const keys: string[] = [];
    const prefixes: string[] = [];
    const what = this.toString();
    for await (const page of real.client.list(options)) {
      const entries = page.objects.length + page.prefixes.length;
      expect(entries <= pageSize, `${what}: a page of ${entries} entries`);
      for (const object of page.objects) {
        const stored = model.objects.get(object.key);
        expect(stored !== undefined, `${what}: listed ${show(object.key)}, which the model does not hold`);
        expect(object.size === stored.bytes.length, `${what}: size of ${show(object.key)}`, () => object.size);
        const listed = stored.listedEtag ?? stored.etag;
        expect(object.etag === listed, `${what}: ETag of ${show(object.key)}`, () => [object.etag, listed]);
        keys.push(object.key);
      }
      prefixes.push(...page.prefixes);
    }
    const expected = expectedListing(model.objects.keys(), this.spec);
    expect(show(keys) === show(expected.keys), `${what}: the keys`, () => ({ got: keys, expected: expected.keys }));
    expect(show(prefixes) === show(expected.prefixes), `${what}: the common prefixes`, () => ({
      got: prefixes,
      expected: expected.prefixes,
    }));
  }
  toString(): string {
    return `list(${show(this.spec)})`;
  }
}

/** Reads the bucket with botocore and compares every object (key order, size, ETag, content hash) with the model. */
export async function auditBucket(model: Model, real: Real, after: string): Promise<void> {
  if (real.audit === undefined) return;
  const listed = await real.audit(real.bucket);
  const expected = [...model.objects.keys()].sort(byteOrder);
  expect(show(listed.map((object) => object.key)) === show(expected), `botocore's listing ${after}`, () => ({
    got: listed.map((object) => object.key),
    expected,
  }));
  for (const object of listed) {
    const stored = model.objects.get(object.key)!;
    const facts = { size: object.size, length: object.length, etag: object.etag, sha256: object.sha256 };
    const wanted = {
      size: stored.bytes.length,
      length: stored.bytes.length,
      etag: stored.listedEtag ?? stored.etag,
      sha256: sha256(stored.bytes),
    };
    expect(show(facts) === show(wanted), `botocore's ${show(object.key)} ${after}`, () => ({ facts, wanted }));
  }
}

class Audit extends Step {
  async step(model: Model, real: Real): Promise<void> {
    await auditBucket(model, real, 'after the commands before it');
  }
  toString(): string {
    return 'audit with botocore';
  }
}

/** A string's first `cut` code points, so no surrogate pair is split. */
const codePoints = (text: string, cut: number) => [...text].slice(0, cut).join('');

/** The commands of one run, over its keys. */
function commandsOver(pool: readonly string[], omit: Omitted): fc.Arbitrary<ModelCommand>[] {
  const headers = headerArbs(omit);
  const key = fc.constantFrom(...pool);
  /** A prefix of one of the keys, or a piece keys are made of: so prefixes, delimiters and startAfter meet keys. */
  const prefix = fc.oneof(
    fc.tuple(key, fc.nat(8)).map(([whole, cut]) => codePoints(whole, cut)),
    fc.constantFrom('/', 'x', '\n', '\u00e9'),
  );
  const put = fc
    .record({
      key,
      body: bodyArb(omit),
      contentType: fc.option(headers.contentType, { freq: 3 }),
      contentDisposition: fc.option(headers.disposition, { freq: 6 }),
      metadata: fc.option(headers.metadata, { freq: 2 }),
      createOnly: omit.has('create-only') ? fc.constant(false) : fc.boolean(),
    })
    .map((spec) => ({
      ...spec,
      contentType: spec.contentType ?? undefined,
      contentDisposition: spec.contentDisposition ?? undefined,
      metadata: spec.metadata ?? undefined,
    }));
  const replace = fc.option(
    fc.record({
      metadata: headers.metadata,
      contentType: fc.option(headers.contentType).map((type) => type ?? undefined),
    }),
    { freq: 2 },
  );
  const get = fc
    .tuple(key, rangeArb, fc.constantFrom<'bytes' | 'stream'>('bytes', 'stream'))
    .map((args) => new Get(...args));
  const list = fc
    .record({
      prefix: fc.option(prefix, { freq: 2 }),
      delimiter: fc.option(fc.constantFrom('/', '\n', '&', '\u00e9', '\u{1f600}', '..'), { freq: 2 }),
      startAfter: fc.option(fc.oneof(key, prefix), { freq: 3 }),
      pageSize: fc.constantFrom(1, 2, 3, 1000),
    })
    .map(
      (spec) =>
        new List({
          prefix: spec.prefix ?? undefined,
          delimiter: spec.delimiter ?? undefined,
          startAfter: spec.startAfter ?? undefined,
          pageSize: spec.pageSize,
        }),
    );
  // fc.commands draws each of these alike, so weights are given by oneof: about one botocore audit in 25 commands.
  return [
    put.map((spec) => new Put(spec)),
    put.map((spec) => new Put(spec)),
    put.map((spec) => new Put(spec)),
    get,
    get,
    list,
    list,
    fc.tuple(key, key, replace).map(([from, to, options]) => new Copy(from, to, options ?? undefined)),
    fc.oneof(
      key.map((k) => new Delete(k)),
      key.map((k) => new Head(k)),
    ),
    fc
      .uniqueArray(fc.oneof(key, fc.constant('never-put')), { minLength: 1, maxLength: 5 })
      .map((keys) => new DeleteMany(keys, pool)),
    fc.oneof(
      { weight: 3, arbitrary: key.map((k) => new Exists(k)) },
      { weight: 1, arbitrary: fc.constant(new Audit()) },
    ),
  ];
}

/** One run's commands: its keys are drawn first, and every command picks among them. */
export function scenario(maxCommands: number, omit: Omitted): fc.Arbitrary<Iterable<ModelCommand>> {
  // The keys do not shrink: shrinking them would draw new commands, which pass; the commands shrink over the same keys.
  return fc.noShrink(keyPool).chain((pool) => fc.commands(commandsOver(pool, omit), { maxCommands, size: 'max' }));
}
