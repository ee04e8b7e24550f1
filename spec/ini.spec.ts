/**
 * The shared files' INI reader (lib/ini.ts): the layouts the AWS docs show,
 * the strict-mode refusals, and fuzzing. Any text either parses or throws
 * IniError naming the file and a line, never its contents; and any profile
 * map written out the way the docs write them reads back the same.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IniError, parseIni } from '../lib/ini.js';

const FILE = '/home/user/.aws/config';
/** Fixed, so a failure reproduces; fast-check prints the seed and the shrunk value. */
const SEED = 1301;

const plain = (text: string) => {
  const parsed = parseIni(text, FILE);
  return Object.fromEntries(
    [...parsed].map(([name, keys]) => [
      name,
      Object.fromEntries([...keys].map(([k, v]) => [k, typeof v === 'string' ? v : Object.fromEntries(v)])),
    ]),
  );
};

function throwsIni(text: string, line: number, problem: RegExp): IniError {
  try {
    parseIni(text, FILE);
  } catch (error) {
    assert.instance(error, IniError);
    const ini = error as IniError;
    assert.is(ini.code, 'ERR_S3V4_SHARED_FILE');
    assert.is(ini.line, line);
    assert.is(ini.file, FILE);
    assert.match(ini.message, problem);
    return ini;
  }
  throw new Error(`expected an IniError at line ${line}`);
}

test('the layouts of the AWS docs: profiles, comments, CRLF, a nested s3 section, ":" as well as "="', () => {
  const text = [
    '# a comment',
    '[default]',
    'region = us-west-2',
    '  ; an indented comment',
    '[profile dev]   ; text after the header is ignored',
    'role_arn=arn:aws:iam::123456789012:role/dev',
    'source_profile : default',
    'credential_process = /opt/bin/creds --profile "a b" # kept: only whole-line comments',
    's3 =',
    '  endpoint_url = http://127.0.0.1:9000',
    '  Addressing_Style = path',
    'Region = eu-west-1',
    '',
  ].join('\r\n');
  assert.equal(plain(text), {
    default: { region: 'us-west-2' },
    'profile dev': {
      role_arn: 'arn:aws:iam::123456789012:role/dev',
      source_profile: 'default',
      credential_process: '/opt/bin/creds --profile "a b" # kept: only whole-line comments',
      s3: { endpoint_url: 'http://127.0.0.1:9000', Addressing_Style: 'path' },
      region: 'eu-west-1',
    },
  });
});

test('an empty value is a value; an indented line after a value continues it, as configparser joins them', () => {
  assert.equal(plain('[a]\nx =\ny = 1\n  more\n'), { a: { x: '', y: '1\nmore' } });
  assert.equal(plain('\uFEFF[a]\nk = v'), { a: { k: 'v' } });
  assert.equal(plain(''), {});
});

test('strict mode: twice the same section or key, a key before a section, a line of neither kind', () => {
  throwsIni('[a]\nk = 1\n[a]\n', 3, /section \[a\] appears twice \(also line 1\)/);
  throwsIni('[a]\nk = 1\nK = 2\n', 3, /the key k appears twice/);
  throwsIni('k = 1\n[a]\n', 1, /before any \[section\]/);
  throwsIni('[a]\naws_secret_access_key\n', 2, /neither a \[section\] header nor a key = value line/);
  throwsIni('[a]\ns3 =\n  no equals sign here\n', 3, /expected key = value in a sub-section/);
  throwsIni('[a]\n= value\n', 2, /neither/);
});

test('an error names the file and line, never the text of the line (it may hold a secret)', () => {
  const error = throwsIni('[a]\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n', 2, /line 2/);
  assert.not.ok(error.message.includes('wJalrXUtnFEMI'));
});

test('fuzz: any text parses or throws IniError, and never shows a line of it', () => {
  const secret = 'S3CRETvalue';
  const line = fc.oneof(
    fc.constantFrom('[a]', '[profile b]', '[', ']', '[]', 'k = v', 'k=', '=', ':', '  x = y', '\t#c', ';c', ''),
    fc.string({ maxLength: 12 }),
    fc.constant(`${secret}`),
    fc.constant(`  ${secret}`),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), fc.constantFrom('\n', '\r\n', '\r'), (lines, eol) => {
      try {
        parseIni(lines.join(eol), FILE);
      } catch (error) {
        if (!(error instanceof IniError)) throw error;
        if (error.message.includes(secret)) throw new Error(`a line leaked: ${error.message}`);
        if (error.line < 1 || error.line > lines.length) throw new Error(`line ${error.line} of ${lines.length}`);
      }
    }),
    { seed: SEED, numRuns: 10_000 },
  );
});

const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
const value = fc.stringMatching(/^[!-~]([ -~]{0,14}[!-~])?$/);

test('fuzz: profiles written as the docs write them read back the same, nested sections included', () => {
  const section = fc.dictionary(
    name.filter((key) => key !== 's3'),
    value,
    { maxKeys: 5 },
  );
  const nested = fc.option(fc.dictionary(name, value, { minKeys: 1, maxKeys: 3 }), { nil: undefined });
  fc.assert(
    fc.property(fc.dictionary(name, fc.tuple(section, nested), { maxKeys: 5 }), (profiles) => {
      const lines: string[] = [];
      const expected: Record<string, Record<string, unknown>> = {};
      for (const [profile, [keys, s3]] of Object.entries(profiles)) {
        const header = `profile ${profile}`;
        lines.push(`[${header}]`, ...Object.entries(keys).map(([k, v]) => `${k} = ${v}`));
        expected[header] = { ...keys };
        if (s3 !== undefined) {
          lines.push('s3 =', ...Object.entries(s3).map(([k, v]) => `    ${k} = ${v}`));
          expected[header]!.s3 = { ...s3 };
        }
        lines.push('');
      }
      assert.equal(plain(lines.join('\n')), expected);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

test.run();
