/**
 * Hostile input: property and fuzz tests (fast-check, at least 10,000 runs
 * each) that every reader of outside input either succeeds or throws its own
 * error type, never anything else and never unboundedly: the XML reader
 * (random, truncated, deeply nested and huge documents, entity tricks), the
 * key encoder, the configuration loader on random TOML, and the signer's
 * query parser and header canonicaliser.
 */
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, encodeKey, InvalidArgumentError, parseConfig, SigV4Signer, StorageConfig } from '../lib/index.js';
import { escapeXml, MAX_XML_DEPTH, MAX_XML_LENGTH, parseXml, XmlError, type XmlElement } from '../lib/xml.js';

const test = suite('hostile input');
/** The floor; S3V4_FUZZ_RUNS raises it for a longer hunt. */
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

test.run();
