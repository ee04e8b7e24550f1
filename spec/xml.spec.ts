/**
 * Unit specs of lib/xml.ts, the small XML reader for S3 replies and the
 * escaper for request bodies: elements and text, the five predefined entities
 * and character references, CDATA, comments, declarations and processing
 * instructions; malformed documents and DTDs are refused with XmlError.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { S3v4Error } from '../lib/errors.js';
import { child, childrenNamed, escapeXml, parseXml, textOf, XmlError, type XmlElement } from '../lib/xml.js';
import { prng } from './helpers.js';

function refused(xml: string, problem: string | RegExp): XmlError {
  let caught: unknown;
  try {
    parseXml(xml);
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof XmlError))
    assert.unreachable(`expected XmlError for ${JSON.stringify(xml)}, got ${String(caught)}`);
  const error = caught as XmlError;
  assert.instance(error, S3v4Error);
  assert.is(error.code, 'ERR_S3V4_XML');
  assert.is(error.name, 'XmlError');
  assert.ok(error.message.startsWith('malformed XML reply: '), error.message);
  assert.match(error.message, problem);
  return error;
}

/** The tree as plain data, for deep comparisons. */
function shape(element: XmlElement): unknown {
  return {
    [element.name]: element.children.length === 0 ? element.text : [element.text, ...element.children.map(shape)],
  };
}

test('an S3 reply: declaration, xmlns attribute, nested elements, entities in text', () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <EncodingType>url</EncodingType>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key>a%20b</Key>
    <ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag>
    <Size>1</Size>
  </Contents>
  <Contents><Key>c</Key><ETag>"x"</ETag><Size>22</Size></Contents>
  <CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>
</ListBucketResult>`;
  const root = parseXml(xml);
  assert.is(root.name, 'ListBucketResult');
  assert.is(textOf(root, 'Name'), 'bucket');
  assert.is(textOf(root, 'Missing'), undefined);
  assert.is(child(root, 'Missing'), undefined);
  const contents = childrenNamed(root, 'Contents');
  assert.equal(
    contents.map((c) => [textOf(c, 'Key'), textOf(c, 'ETag'), textOf(c, 'Size')]),
    [
      ['a%20b', '"9dd4e461268c8034f5c8564e155c67a6"', '1'],
      ['c', '"x"', '22'],
    ],
  );
  assert.is(child(root, 'Contents'), contents[0]);
  assert.equal(childrenNamed(root, 'Nothing'), []);
  assert.is(textOf(child(root, 'CommonPrefixes')!, 'Prefix'), 'dir/');
  assert.equal(
    root.children.map((c) => c.name),
    ['Name', 'EncodingType', 'IsTruncated', 'Contents', 'Contents', 'CommonPrefixes'],
  );
});

test("an element's text is its own text nodes joined; whitespace is kept", () => {
  assert.equal(shape(parseXml('<a>x<b>inner</b>y<c/>z</a>')), { a: ['xyz', { b: 'inner' }, { c: '' }] });
  assert.is(parseXml('<Key>  two  spaces \n</Key>').text, '  two  spaces \n');
  assert.is(parseXml('<Key></Key>').text, '');
});

test('self-closing elements, attributes, and closing tags with spaces', () => {
  assert.equal(shape(parseXml('<a><b/><c /><d e="1" f=\'2\'/><g h="x">t</g ></a>')), {
    a: ['', { b: '' }, { c: '' }, { d: '' }, { g: 't' }],
  });
  assert.equal(shape(parseXml('<Empty/>')), { Empty: '' });
  assert.equal(shape(parseXml('<a\n  xmlns="urn:x"\n>v</a>')), { a: 'v' });
});

test('the five predefined entities and decimal and hex character references are decoded', () => {
  assert.is(parseXml('<k>&amp;&lt;&gt;&quot;&apos;</k>').text, '&<>"\'');
  assert.is(parseXml('<k>&#65;&#x42;&#x63;&#169;&#x1F600;&#x10FFFF;</k>').text, 'ABc©😀\u{10FFFF}');
  assert.is(parseXml('<k>a&amp;amp;b</k>').text, 'a&amp;b', 'decoded once, not twice');
  assert.is(parseXml('<k>Tom &amp; Jerry &lt;3</k>').text, 'Tom & Jerry <3');
});

test('unknown entities, out-of-range references and bare ampersands are kept as written', () => {
  assert.is(parseXml('<k>&nbsp;&AMP;&#x110000;&#99999999;</k>').text, '&nbsp;&AMP;&#x110000;&#99999999;');
  assert.is(parseXml('<k>a & b &; &#; &#x;</k>').text, 'a & b &; &#; &#x;');
});

test('CDATA is taken literally, entities and markup included', () => {
  assert.is(parseXml('<k><![CDATA[a &amp; <b>c</b> ]] >]]></k>').text, 'a &amp; <b>c</b> ]] >');
  assert.is(parseXml('<k>x<![CDATA[<y>]]>&lt;z</k>').text, 'x<y><z');
  assert.is(parseXml('<k><![CDATA[]]></k>').text, '');
});

test('comments and processing instructions are skipped wherever they are', () => {
  const root = parseXml(
    '<?xml version="1.0"?><!-- before --><a><!-- <b>not an element</b> -->x<?pi data?>y<!---->z</a><!-- after -->\n',
  );
  assert.equal(shape(root), { a: 'xyz' });
  assert.equal(shape(parseXml('<a><!-- a comment with -- and > inside --><b/></a>')), { a: ['', { b: '' }] });
});

test('document type declarations are refused (no entity expansion, no external entities)', () => {
  refused(
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>',
    'document type declarations are not accepted',
  );
  refused('<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', 'document type declarations');
  refused('<a><!ELEMENT a ANY></a>', 'document type declarations');
});

test('malformed documents are refused with what was wrong', () => {
  refused('<a></b>', 'unexpected </b>');
  refused('<a><b></a></b>', 'unexpected </a>');
  refused('</a>', 'unexpected </a>');
  refused('<a/></a>', 'unexpected </a>');
  refused('<a><b></b>', '<a> is not closed');
  refused('<a><b>', '<b> is not closed');
  refused('<a', 'unterminated markup at offset 0');
  refused('<a>text</a', 'unterminated markup at offset 7');
  refused('<a><!-- never closed </a>', 'unterminated markup at offset 3');
  refused('<a><![CDATA[ never closed </a>', 'unterminated markup');
  refused('<?xml version="1.0"', 'unterminated markup');
  refused('<a><></a>', 'empty tag at offset 3');
  refused('<a>< b/></a>', 'empty tag at offset 3');
  refused('<a/><b/>', 'exactly one root element');
  refused('', 'exactly one root element');
  refused('   \n', 'exactly one root element');
  refused('plain text, not XML', 'exactly one root element');
  refused('<?xml version="1.0"?><!-- only a comment -->', 'exactly one root element');
});

test('escape writes the five special characters as entities, TAB, LF and CR as references, and leaves the rest alone', () => {
  assert.is(escapeXml(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f');
  assert.is(escapeXml('plain ü 😀 /path+key%20'), 'plain ü 😀 /path+key%20');
  // A parser normalises a raw CR or CR LF to LF and may fold a raw TAB (XML 1.0 sections 2.11 and 3.3.3): references survive.
  assert.is(escapeXml('a\tb\nc\rd\r\ne'), 'a&#9;b&#10;c&#13;d&#13;&#10;e');
  assert.is(escapeXml('&amp;'), '&amp;amp;');
  assert.is(escapeXml(''), '');
});

test('escape then parse gives back any text (property, 500 random strings)', () => {
  const random = prng(7);
  const alphabet = [
    '&',
    '<',
    '>',
    '"',
    "'",
    ';',
    '#',
    'x',
    'a',
    ' ',
    '\n',
    'ü',
    '😀',
    ']]>',
    '<!--',
    '&amp;',
    '&#65;',
    '/',
    '?',
  ];
  for (let i = 0; i < 500; i++) {
    let text = '';
    const length = Math.floor(random() * 20);
    for (let j = 0; j < length; j++) text += alphabet[Math.floor(random() * alphabet.length)];
    const root = parseXml(`<Delete><Object><Key>${escapeXml(text)}</Key></Object></Delete>`);
    assert.is(textOf(child(root, 'Object')!, 'Key'), text, JSON.stringify(text));
  }
});

test('a large reply (5000 elements) parses in linear time', () => {
  const xml = `<ListBucketResult>${Array.from({ length: 5000 }, (_, i) => `<Contents><Key>key-${i}&amp;</Key><Size>${i}</Size></Contents>`).join('')}</ListBucketResult>`;
  const started = performance.now();
  const root = parseXml(xml);
  const elapsed = performance.now() - started;
  const contents = childrenNamed(root, 'Contents');
  assert.is(contents.length, 5000);
  assert.is(textOf(contents[4999]!, 'Key'), 'key-4999&');
  assert.ok(elapsed < 500, `${elapsed.toFixed(0)} ms`);
});

test.run();
