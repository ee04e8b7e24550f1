/**
 * Unit specs of lib/encoding.ts: UriEncode for keys and query components, the
 * canonical form of an already-encoded path or query component, and the
 * generic (non-S3) path normalisation. Each case states an exact output, so a
 * faster rewrite that changes a single byte fails here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalPath, canonicalQueryComponent, encodeComponent, encodeKey, normalizePath } from '../lib/encoding.js';
import * as index from '../lib/index.js';
import { prng, throwsArgument } from './helpers.js';

const UNRESERVED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';

/** The UriEncode of the S3 API Reference, written the slow, obvious way: byte by byte over UTF-8. */
function referenceEncode(text: string, keepSlash: boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    if (UNRESERVED.includes(ch) || (keepSlash && ch === '/')) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The canonical form of an encoded string, the slow way: decode every `%XY` (any hex case) to a byte, keep other bytes, encode all bytes again. */
function referenceRecode(text: string, keepSlash: boolean): string {
  const input = Buffer.from(text, 'utf8');
  const bytes: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const hex = input.subarray(i + 1, i + 3).toString('latin1');
    if (input[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(input[i]!);
    }
  }
  let out = '';
  for (const byte of bytes) {
    const ch = String.fromCharCode(byte);
    if (UNRESERVED.includes(ch) || (keepSlash && ch === '/')) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const KEY_POOL = [
  ...'abcXYZ019-._~',
  '/',
  '/',
  '.',
  '..',
  '%',
  '%2F',
  '%41',
  '+',
  ' ',
  '!',
  "'",
  '(',
  ')',
  '*',
  '&',
  '=',
  '?',
  '#',
  '@',
  ':',
  ';',
  ',',
  '$',
  '[',
  ']',
  '"',
  '<',
  '>',
  '\\',
  '^',
  '`',
  '{',
  '|',
  '}',
  '\t',
  '\n',
  '\x00',
  '\x7f',
  'é',
  'ß',
  'ÿ',
  '\u00a0',
  '€',
  '中',
  '文',
  '鍵',
  'ｶ',
  '😀',
  '🪣',
  '𝄞',
  'e\u0301',
  '\u0301',
  '\u0308',
  'a\u030a',
];

function randomKey(random: () => number): string {
  const length = Math.floor(random() * 24);
  let key = '';
  for (let i = 0; i < length; i++) key += KEY_POOL[Math.floor(random() * KEY_POOL.length)]!;
  return key;
}

/** Only unreserved characters, `/` and `%XY` with upper-case hex. */
const ENCODED_PATH = /^(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$/;
const ENCODED_COMPONENT = /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/;

// ---------------------------------------------------------------------------
// encodeComponent / encodeKey

test('index re-exports the same encodeKey and encodeComponent', () => {
  assert.is(index.encodeKey, encodeKey);
  assert.is(index.encodeComponent, encodeComponent);
});

test('RFC 3986 unreserved characters are kept by both encoders', () => {
  assert.is(encodeComponent(UNRESERVED), UNRESERVED);
  assert.is(encodeKey(UNRESERVED), UNRESERVED);
  assert.is(encodeComponent(''), '');
  assert.is(encodeKey(''), '');
});

test('every other ASCII character is %XY with upper-case hex; "/" kept only by encodeKey', () => {
  for (let code = 0; code < 128; code++) {
    const ch = String.fromCharCode(code);
    const escaped = `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
    const unreserved = UNRESERVED.includes(ch);
    assert.is(encodeComponent(ch), unreserved ? ch : escaped, `encodeComponent(0x${code.toString(16)})`);
    assert.is(encodeKey(ch), unreserved || ch === '/' ? ch : escaped, `encodeKey(0x${code.toString(16)})`);
  }
});

test('slash: kept by encodeKey, %2F by encodeComponent', () => {
  assert.is(encodeKey('photos/2024/a.jpg'), 'photos/2024/a.jpg');
  assert.is(encodeComponent('photos/2024/a.jpg'), 'photos%2F2024%2Fa.jpg');
  assert.is(encodeKey('/'), '/');
  assert.is(encodeComponent('/'), '%2F');
});

test('space is %20 and plus is %2B, never + or a literal +', () => {
  assert.is(encodeComponent('a b+c'), 'a%20b%2Bc');
  assert.is(encodeKey('my file+1.txt'), 'my%20file%2B1.txt');
  assert.is(encodeKey('a b/c+d'), 'a%20b/c%2Bd');
});

test("the sub-delimiters !'()* that encodeURIComponent leaves alone are encoded", () => {
  assert.is(encodeComponent("!'()*"), '%21%27%28%29%2A');
  assert.is(encodeKey("a!b'c(d)e*f/g!"), 'a%21b%27c%28d%29e%2Af/g%21');
  // and the other reserved characters
  assert.is(encodeComponent('&=?#@:;,$[]'), '%26%3D%3F%23%40%3A%3B%2C%24%5B%5D');
  assert.is(encodeComponent('%'), '%25');
  assert.is(encodeKey('100%/%41'), '100%25/%2541');
});

test('non-ASCII characters are the upper-case %XY of their UTF-8 bytes', () => {
  assert.is(encodeKey('é'), '%C3%A9');
  assert.is(encodeKey('ß/ÿ'), '%C3%9F/%C3%BF');
  assert.is(encodeKey('\u00a0'), '%C2%A0');
  assert.is(encodeKey('€'), '%E2%82%AC');
  assert.is(encodeKey('中文/鍵'), '%E4%B8%AD%E6%96%87/%E9%8D%B5');
  assert.is(encodeComponent('ｶ'), '%EF%BD%B6');
});

test('astral characters (emoji) are four UTF-8 bytes, not two escaped surrogates', () => {
  assert.is(encodeKey('😀'), '%F0%9F%98%80');
  assert.is(encodeComponent('🪣/𝄞'), '%F0%9F%AA%A3%2F%F0%9D%84%9E');
  assert.is(encodeKey('a😀b'), 'a%F0%9F%98%80b');
});

test('keys are not Unicode-normalised: NFD stays two code points', () => {
  const nfd = 'caf' + 'e\u0301';
  const nfc = 'caf\u00e9';
  assert.is(encodeKey(nfd), 'cafe%CC%81');
  assert.is(encodeKey(nfc), 'caf%C3%A9');
  assert.is(encodeComponent('\u0301'), '%CC%81');
  assert.is(encodeKey('\u212b'), '%E2%84%AB'); // ANGSTROM SIGN stays itself, not U+00C5
});

test('a lone surrogate is an InvalidArgumentError naming the argument', () => {
  for (const bad of ['\ud800', '\udc00', 'a\ud83d', '\ude00b', 'x/\ud800/y']) {
    const e1 = throwsArgument(() => encodeKey(bad), 'key');
    assert.match(e1.message, /surrogate/);
    throwsArgument(() => encodeComponent(bad), 'value');
    throwsArgument(() => encodeKey(bad, 'prefix'), 'prefix');
    throwsArgument(() => encodeComponent(bad, 'query["a"]'), 'query["a"]');
  }
  // a well-formed pair is fine
  assert.is(encodeComponent('\ud83d\ude00'), '%F0%9F%98%80');
});

test('encodeKey rejects a non-string key, naming the argument and the type', () => {
  const e = throwsArgument(() => encodeKey(42 as unknown as string), 'key');
  assert.match(e.message, /must be a string, got number/);
  throwsArgument(() => encodeKey(undefined as unknown as string), 'key');
  const e2 = throwsArgument(() => encodeKey(null as unknown as string, 'objectKey'), 'objectKey');
  assert.match(e2.message, /got object/);
  throwsArgument(() => encodeKey(Buffer.from('a') as unknown as string), 'key');
});

test('encodeKey never normalises: dot segments, empty segments and trailing slashes survive byte for byte', () => {
  for (const key of [
    'a//b',
    './x',
    '../x',
    'a/./b',
    'a/../b',
    'dir/',
    '//',
    '/leading',
    '.',
    '..',
    '...',
    'a/b/../../..',
    '.hidden/',
    'a/.',
    'a/..',
  ]) {
    assert.is(encodeKey(key), key, key);
    assert.is(canonicalPath(`/${encodeKey(key)}`), `/${key}`, `canonicalPath of ${key}`);
  }
  assert.is(encodeKey('a b//./c/../'), 'a%20b//./c/../');
});

test('property: encodeKey over 5000 random keys decodes back, stays canonical and matches a byte-wise reference', () => {
  const random = prng(0x53335634);
  for (let i = 0; i < 5000; i++) {
    const key = randomKey(random);
    const encoded = encodeKey(key);
    assert.ok(ENCODED_PATH.test(encoded), `not canonical: ${JSON.stringify(key)} -> ${encoded}`);
    assert.is(decodeURIComponent(encoded), key, `round trip of ${JSON.stringify(key)}`);
    assert.is(encoded, referenceEncode(key, true), `reference of ${JSON.stringify(key)}`);
    assert.is(canonicalPath(encoded), encoded, `canonicalPath of ${JSON.stringify(key)}`);
    assert.is(canonicalPath(`/${encoded}`), `/${encoded}`);

    const component = encodeComponent(key);
    assert.ok(ENCODED_COMPONENT.test(component), `component not canonical: ${JSON.stringify(key)} -> ${component}`);
    assert.is(decodeURIComponent(component), key);
    assert.is(component, referenceEncode(key, false));
    assert.is(canonicalQueryComponent(component), component);
    assert.is(component.replace(/%2F/g, '/'), encoded);
  }
});

// ---------------------------------------------------------------------------
// canonicalPath

test('canonicalPath returns an already-canonical path unchanged', () => {
  for (const path of ['/', '', '/a/b.txt', '/a%20b/%C3%A9', '/%25', '/%2B', '/~user/', '//a//']) {
    assert.is(canonicalPath(path), path, path);
  }
});

test('canonicalPath recodes lower-case escapes to upper case', () => {
  assert.is(canonicalPath('/a%2bb'), '/a%2Bb');
  assert.is(canonicalPath('/%c3%a9'), '/%C3%A9');
  assert.is(canonicalPath('/%e2%82%Ac'), '/%E2%82%AC');
  assert.is(canonicalPath('/x%3a'), '/x%3A');
});

test('canonicalPath decodes escapes of unreserved characters', () => {
  assert.is(canonicalPath('/%7E'), '/~');
  assert.is(canonicalPath('/%7e'), '/~');
  assert.is(canonicalPath('/%41%42%43%61%7A%30%39'), '/ABCaz09');
  assert.is(canonicalPath('/%2D%2E%5F'), '/-._');
  assert.is(canonicalPath('/%5A%5a%4F%6f%7A%7a'), '/ZZOozz');
});

test('canonicalPath encodes raw characters that should have been encoded', () => {
  assert.is(canonicalPath('/a b'), '/a%20b');
  assert.is(canonicalPath('/a+b'), '/a%2Bb');
  assert.is(canonicalPath("/a!'()*"), '/a%21%27%28%29%2A');
  assert.is(canonicalPath('/é/😀'), '/%C3%A9/%F0%9F%98%80');
  assert.is(canonicalPath('/a=b&c'), '/a%3Db%26c');
  assert.is(canonicalPath('/e\u0301'), '/e%CC%81');
});

test('canonicalPath decodes %2F to "/" (an S3 server decodes the key, then encodes it keeping "/")', () => {
  // Documented in lib/encoding.ts: escapes of unreserved characters or of "/" are recoded;
  // S3 keeps "/" unencoded in the canonical URI of an object key.
  assert.is(canonicalPath('/a%2Fb'), '/a/b');
  assert.is(canonicalPath('/a%2fb'), '/a/b');
  assert.is(canonicalPath('/%2F%2F'), '///');
});

test('canonicalPath treats a stray % as a literal %25', () => {
  assert.is(canonicalPath('/100%'), '/100%25');
  assert.is(canonicalPath('/%'), '/%25');
  assert.is(canonicalPath('/a%4'), '/a%254');
  assert.is(canonicalPath('/a%zz'), '/a%25zz');
  assert.is(canonicalPath('/a%G1'), '/a%25G1');
  assert.is(canonicalPath('/%%41'), '/%25A');
  assert.is(canonicalPath('/%4%41'), '/%254A');
  assert.is(canonicalPath('/%é'), '/%25%C3%A9');
  // a decoded %25 is not decoded a second time
  assert.is(canonicalPath('/%2541'), '/%2541');
  assert.is(canonicalPath('/%252f'), '/%252f');
  assert.is(canonicalPath('/%25%32%46'), '/%252F');
});

test('canonicalPath: escapes of reserved bytes stay escaped (upper case)', () => {
  assert.is(canonicalPath('/%20%2B%25%3F%23'), '/%20%2B%25%3F%23');
  assert.is(canonicalPath('/%20%2b'), '/%20%2B');
  assert.is(canonicalPath('/%00%ff'), '/%00%FF');
  assert.is(canonicalPath('/%80'), '/%80'); // not UTF-8 on its own, kept as a byte
});

test('property: canonicalPath agrees with a slow reference and is idempotent on 4000 random encoded-ish paths', () => {
  const random = prng(20240506);
  const pool = [
    ...KEY_POOL,
    '%',
    '%2',
    '%2f',
    '%2F',
    '%7e',
    '%7E',
    '%41',
    '%4a',
    '%C3%A9',
    '%c3%a9',
    '%25',
    '%zz',
    '%G0',
    'f',
    'F',
    '0',
  ];
  for (let i = 0; i < 4000; i++) {
    let path = '/';
    const length = Math.floor(random() * 16);
    for (let j = 0; j < length; j++) path += pool[Math.floor(random() * pool.length)]!;
    const canonical = canonicalPath(path);
    assert.is(canonical, referenceRecode(path, true), `canonicalPath(${JSON.stringify(path)})`);
    assert.ok(ENCODED_PATH.test(canonical), canonical);
    assert.is(canonicalPath(canonical), canonical, `idempotent on ${JSON.stringify(path)}`);

    const component = path.slice(1);
    const q = canonicalQueryComponent(component);
    assert.is(q, referenceRecode(component, false), `canonicalQueryComponent(${JSON.stringify(component)})`);
    assert.ok(ENCODED_COMPONENT.test(q), q);
    assert.is(canonicalQueryComponent(q), q);
  }
});

// ---------------------------------------------------------------------------
// canonicalQueryComponent

test('canonicalQueryComponent keeps canonical text and %2F, encodes a raw "/"', () => {
  for (const text of ['', 'abc', 'a%20b', 'a%2Fb', '%2B', 'X-Amz-Date', '%25']) {
    assert.is(canonicalQueryComponent(text), text, text);
  }
  assert.is(canonicalQueryComponent('a/b'), 'a%2Fb');
  assert.is(canonicalQueryComponent('a%2fb'), 'a%2Fb');
});

test('canonicalQueryComponent: + is a literal plus (%2B), space %20, unreserved escapes decoded, stray % is %25', () => {
  assert.is(canonicalQueryComponent('a+b'), 'a%2Bb');
  assert.is(canonicalQueryComponent('a b'), 'a%20b');
  assert.is(canonicalQueryComponent('%7e%41'), '~A');
  assert.is(canonicalQueryComponent('%e2%82%ac'), '%E2%82%AC');
  assert.is(canonicalQueryComponent('50%'), '50%25');
  assert.is(canonicalQueryComponent('%x'), '%25x');
  assert.is(canonicalQueryComponent('é=!'), '%C3%A9%3D%21');
  assert.is(canonicalQueryComponent('😀'), '%F0%9F%98%80');
});

// ---------------------------------------------------------------------------
// normalizePath (generic services only)

test('normalizePath removes dot segments and collapses empty segments, keeping a trailing slash', () => {
  const cases: Array<[string, string]> = [
    ['//a/./b/../c/', '/a/c/'],
    ['/', '/'],
    ['', '/'],
    ['//', '/'],
    ['/a/b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/a//b///c', '/a/b/c'],
    ['/./', '/'],
    ['/.', '/'],
    ['/..', '/'],
    ['/../..', '/'],
    ['/../a', '/a'],
    ['/a/..', '/'],
    ['/a/../', '/'],
    ['/a/b/../..', '/'],
    ['/a/./b/./', '/a/b/'],
    ['/a/.../b', '/a/.../b'],
    ['/..a/b..', '/..a/b..'],
    ['/.a/', '/.a/'],
    ['a/b', '/a/b'],
    ['/example space/', '/example space/'],
    ['/a%2Fb/../c', '/c'],
  ];
  for (const [input, output] of cases) assert.is(normalizePath(input), output, input);
});

test('normalizePath: a final "." or ".." segment leaves no trailing slash (as botocore remove_dot_segments)', () => {
  // RFC 3986 5.2.4 would give "/a/" and "/a/b/"; botocore's remove_dot_segments gives these.
  assert.is(normalizePath('/a/b/..'), '/a');
  assert.is(normalizePath('/a/b/.'), '/a/b');
});

test.run();
