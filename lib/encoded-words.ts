/**
 * RFC 2047 encoded-words, for user metadata values. An HTTP field value
 * carries ASCII (RFC 9110 section 5.5), and S3 reads and writes non-ASCII
 * metadata as encoded-words: such values "are character decoded as per RFC
 * 2047 before storing and encoded as per RFC 2047 to make them mail-safe
 * before returning" (S3 User Guide, "Working with object metadata",
 * user-defined metadata). Ceph, R2 and most others store the words as they
 * are sent; either way decodeWords gives back the value that was encoded.
 */

/** Bytes per word: 60 base64 characters, so `=?UTF-8?B?...?=` is 72, under RFC 2047's 75 (section 2). */
const WORD_BYTES = 45;
/** charset (with an RFC 2231 `*language`), encoding, encoded text (RFC 2047 section 2). */
const ENCODED_WORD = /=\?([^?\s*]+)(?:\*[^?\s]*)?\?([BbQq])\?([^?\s]*)\?=/g;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Q encoding: `=XX` for a byte, `_` for a space, other printable ASCII but `=` and `?` as itself (section 4.2). */
const Q_TEXT = /^(?:=[0-9A-Fa-f]{2}|[!-<>@-~])*$/;
/** What no metadata value may hold (RFC 9110 section 5.5); a word that decodes to one stays encoded. */
const CONTROL = /\p{Cc}/u;
const BLANK = /^[ \t]+$/;

/** `value` as B-encoded UTF-8 words of whole characters, separated by spaces; '' stays ''. Well-formed text only. */
export function encodeWords(value: string): string {
  const words: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const character of value) {
    const size = Buffer.byteLength(character);
    if (bytes + size > WORD_BYTES) {
      words.push(encodedWord(chunk));
      chunk = '';
      bytes = 0;
    }
    chunk += character;
    bytes += size;
  }
  if (chunk !== '') words.push(encodedWord(chunk));
  return words.join(' ');
}

function encodedWord(text: string): string {
  return `=?UTF-8?B?${Buffer.from(text, 'utf8').toString('base64')}?=`;
}

/**
 * `value` with its encoded-words decoded, and the blanks between two adjacent
 * words dropped (section 6.2). A word that is malformed, in a charset
 * TextDecoder does not know, or that decodes to a control character is kept as
 * it is.
 */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  let decoded = '';
  let end = 0;
  let afterWord = false;
  for (const match of value.matchAll(ENCODED_WORD)) {
    const between = value.slice(end, match.index);
    const text = wordText(match[1]!, match[2]!, match[3]!);
    if (!(afterWord && text !== undefined && BLANK.test(between))) decoded += between;
    decoded += text ?? match[0];
    afterWord = text !== undefined;
    end = match.index + match[0].length;
  }
  return decoded + value.slice(end);
}

/** The text of one word, or undefined when it cannot be decoded. */
function wordText(charset: string, encoding: string, encoded: string): string | undefined {
  const bytes = encoding === 'B' || encoding === 'b' ? base64Bytes(encoded) : qBytes(encoded);
  if (bytes === undefined) return undefined;
  let text: string;
  try {
    // ignoreBOM keeps a leading U+FEFF that was part of the value.
    text = new TextDecoder(charset, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (error) {
    // RangeError: a charset TextDecoder does not know; TypeError: bytes that are not in that charset.
    if (error instanceof RangeError || error instanceof TypeError) return undefined;
    throw error;
  }
  return CONTROL.test(text) ? undefined : text;
}

function base64Bytes(encoded: string): Uint8Array | undefined {
  return BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
}

function qBytes(encoded: string): Uint8Array | undefined {
  if (!Q_TEXT.test(encoded)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded.charCodeAt(i);
    if (c === 0x3d) {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(c === 0x5f ? 0x20 : c);
    }
  }
  return Uint8Array.from(bytes);
}
