/**
 * The INI dialect of the AWS shared files (`~/.aws/config` and
 * `~/.aws/credentials`), read as botocore reads them: Python's configparser
 * in strict mode, then its nested sub-sections ("AWS SDKs and Tools Reference
 * Guide", "Shared config and credentials files"; botocore `raw_config_parse`).
 *
 * - `[name]` starts a section, its name as written (`[ default ]` is not
 *   `[default]`); text after the closing `]` is ignored.
 * - `key = value` or `key: value`; keys are lower-cased, both sides trimmed.
 * - A line starting with `#` or `;` (after any indentation) is a comment. A `#`
 *   later in a line is part of the value, as configparser keeps it.
 * - A key with an empty value followed by lines indented deeper is a
 *   sub-section (`s3 =` then `  endpoint_url = ...`).
 * - A section or key that appears twice, a key before any section and a line
 *   that is none of these are errors, as in configparser's strict mode.
 *
 * Messages name the file and line, never the line's text: it may hold a key.
 */
import { S3v4Error } from './errors.js';

/** A section's keys: a value, or a sub-section's keys. */
export type IniSection = ReadonlyMap<string, string | ReadonlyMap<string, string>>;
/** The sections of a file, by name exactly as written between the brackets. */
export type IniFile = ReadonlyMap<string, IniSection>;

/** A shared file that is not the INI it should be. */
export class IniError extends S3v4Error {
  readonly file: string;
  /** From 1; 0 when the file could not be read at all. */
  readonly line: number;
  /** What is wrong, without the file and line. */
  readonly problem: string;

  constructor(file: string, line: number, problem: string) {
    super('ERR_S3V4_SHARED_FILE', `${line === 0 ? file : `${file} line ${line}`}: ${problem}`);
    this.file = file;
    this.line = line;
    this.problem = problem;
  }
}

const SECTION = /^\[(.+)\]/;
const OPTION = /^(.*?)\s*[=:]\s*(.*)$/;

/** The indentation of a line: its leading spaces and tabs. */
function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/**
 * A line indented below `key`: a sub-section's `name = value` when the key's value is empty (botocore splits these at
 * the first `=` only), else one more line of its value, as configparser joins them.
 */
function continueKey(
  section: Map<string, string | Map<string, string>>,
  key: string,
  line: string,
  malformed: () => IniError,
): void {
  const value = section.get(key)!;
  if (typeof value === 'string' && value !== '') {
    section.set(key, `${value}\n${line}`);
    return;
  }
  const at = line.indexOf('=');
  if (at <= 0) throw malformed();
  const keys = typeof value === 'string' ? new Map<string, string>() : value;
  keys.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  section.set(key, keys);
}

/** Parses the text of a shared file; `file` names it in errors. */
export function parseIni(text: string, file: string): IniFile {
  const sections = new Map<string, Map<string, string | Map<string, string>>>();
  const sectionLines = new Map<string, number>();
  let section: Map<string, string | Map<string, string>> | undefined;
  /** The last key, while lines indented deeper continue it. */
  let open: { key: string; indent: number } | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (const [index, raw] of lines.entries()) {
    const number = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const indent = indentOf(raw);
    if (open !== undefined && section !== undefined && indent > open.indent) {
      continueKey(section, open.key, line, () => new IniError(file, number, 'expected key = value in a sub-section'));
      continue;
    }
    open = undefined;
    const header = SECTION.exec(line);
    if (header !== null) {
      // Not trimmed: configparser keeps `[ default ]` as " default ", which botocore then ignores.
      const name = header[1]!;
      const first = sectionLines.get(name);
      if (first !== undefined) throw new IniError(file, number, `section [${name}] appears twice (also line ${first})`);
      section = new Map();
      sections.set(name, section);
      sectionLines.set(name, number);
      continue;
    }
    const pair = OPTION.exec(line);
    if (pair === null || pair[1] === '')
      throw new IniError(file, number, 'is neither a [section] header nor a key = value line');
    if (section === undefined) throw new IniError(file, number, 'a key comes before any [section] header');
    const key = pair[1]!.toLowerCase();
    if (section.has(key)) throw new IniError(file, number, `the key ${key} appears twice in its section`);
    section.set(key, pair[2]!);
    open = { key, indent };
  }
  return sections;
}
