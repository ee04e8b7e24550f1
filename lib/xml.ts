/**
 * The small part of XML that S3 replies and requests use: elements, text,
 * the five predefined entities and numeric character references, an XML
 * declaration, comments and CDATA. No namespaces beyond ignoring the
 * `xmlns` attribute, no DTDs. Replies are parsed into a tree and read by
 * element name; request bodies are written with escapeXml().
 */
import { S3v4Error } from './errors.js';

export interface XmlElement {
  name: string;
  /** Child elements in document order. */
  children: XmlElement[];
  /** The element's own text (its direct text nodes joined), entities decoded. */
  text: string;
}

/** A reply that is not the XML it should be. */
export class XmlError extends S3v4Error {
  constructor(problem: string) {
    super('ERR_S3V4_XML', `malformed XML reply: ${problem}`);
  }
}

/**
 * Bounds on what the reader accepts. S3's largest replies (a ListObjectsV2 or
 * DeleteObjects page of 1000 keys of up to 1024 bytes) are near 2 MB and 4
 * levels deep; anything far beyond is refused rather than held.
 */
export const MAX_XML_LENGTH = 16 * 1024 * 1024;
export const MAX_XML_DEPTH = 64;

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[entity] ?? whole;
  });
}

/**
 * What each escaped character becomes: the five predefined entities, and
 * TAB, LF and CR as character references, since a parser turns a raw CR or
 * CR LF into LF and may fold whitespace (XML 1.0 sections 2.11 and 3.3.3).
 */
const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/** Escapes text for an XML element's content or attribute value; every character comes back as it was. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"'\t\n\r]/g, (ch) => ESCAPES[ch]!);
}

/** Characters XML 1.0 cannot carry at all, escaped or not (section 2.2, Char): other C0 controls, U+FFFE, U+FFFF. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it looks for.
const NOT_XML = /[\0-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;

/** Whether an XML document can carry `text`: an S3 key that it cannot must be sent another way. */
export function xmlCanCarry(text: string): boolean {
  return !NOT_XML.test(text);
}

/** Parses a document into its root element. */
export function parseXml(xml: string): XmlElement {
  if (xml.length > MAX_XML_LENGTH) throw new XmlError(`${xml.length} characters, above the ${MAX_XML_LENGTH} accepted`);
  const root: XmlElement = { name: '', children: [], text: '' };
  const stack: XmlElement[] = [root];
  let at = 0;
  while (at < xml.length) {
    const open = xml.indexOf('<', at);
    const textEnd = open < 0 ? xml.length : open;
    if (textEnd > at) stack[stack.length - 1]!.text += decodeEntities(xml.slice(at, textEnd));
    if (open < 0) break;
    if (xml.startsWith('<?', open)) {
      at = skipPast(xml, open, '?>');
    } else if (xml.startsWith('<!--', open)) {
      at = skipPast(xml, open, '-->');
    } else if (xml.startsWith('<![CDATA[', open)) {
      const end = skipPast(xml, open, ']]>');
      stack[stack.length - 1]!.text += xml.slice(open + 9, end - 3);
      at = end;
    } else if (xml.startsWith('<!', open)) {
      throw new XmlError('document type declarations are not accepted');
    } else if (xml[open + 1] === '/') {
      const end = skipPast(xml, open, '>');
      const name = xml.slice(open + 2, end - 1).trim();
      const element = stack.pop();
      if (element === undefined || element === root || element.name !== name)
        throw new XmlError(`unexpected </${name}>`);
      at = end;
    } else {
      const end = skipPast(xml, open, '>');
      const selfClosing = xml[end - 2] === '/';
      const tag = xml.slice(open + 1, selfClosing ? end - 2 : end - 1);
      const name = /^[^\s/>]+/.exec(tag)?.[0];
      if (name === undefined) throw new XmlError(`empty tag at offset ${open}`);
      const element: XmlElement = { name, children: [], text: '' };
      stack[stack.length - 1]!.children.push(element);
      if (!selfClosing) stack.push(element);
      if (stack.length > MAX_XML_DEPTH + 1) throw new XmlError(`elements nested deeper than ${MAX_XML_DEPTH}`);
      at = end;
    }
  }
  if (stack.length !== 1) throw new XmlError(`<${stack[stack.length - 1]!.name}> is not closed`);
  const [document] = root.children;
  if (document === undefined || root.children.length !== 1)
    throw new XmlError('a document has exactly one root element');
  return document;
}

function skipPast(xml: string, from: number, terminator: string): number {
  const end = xml.indexOf(terminator, from);
  if (end < 0) throw new XmlError(`unterminated markup at offset ${from}`);
  return end + terminator.length;
}

/** The first child named `name`. */
export function child(element: XmlElement, name: string): XmlElement | undefined {
  return element.children.find((c) => c.name === name);
}

/** Every child named `name`. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((c) => c.name === name);
}

/** The text of the first child named `name`, or undefined. */
export function textOf(element: XmlElement, name: string): string | undefined {
  return child(element, name)?.text;
}
