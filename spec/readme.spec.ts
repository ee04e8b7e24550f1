/**
 * The README's signer example runs as written (with lib/ in place of the
 * built package) and prints exactly the output the README shows under it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as s3v4 from '../lib/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

/** The fenced block that follows `marker` in the README. */
function blockAfter(marker: string, language: string): string {
  const at = readme.indexOf(marker);
  assert.ok(at >= 0, `README has no ${marker}`);
  const open = readme.indexOf(`\`\`\`${language}\n`, at);
  const close = readme.indexOf('\n```', open + 4 + language.length);
  assert.ok(open >= 0 && close > open, `no ${language} block after ${marker}`);
  return readme.slice(open + 4 + language.length, close);
}

test('README: the signer example prints what the README says it prints', () => {
  const example = blockAfter('<!-- example: signer -->', 'js');
  const expected = blockAfter('<!-- output: signer -->', 'text');
  // The example's one import becomes a binding of this module's lib/, so
  // coverage sees one copy of lib/ rather than a second instance.
  const importLine = /^import \{([^}]*)\} from 's3v4';$/m;
  assert.match(example, importLine, 'the example imports the package');
  const body = example.replace(importLine, 'const {$1} = s3v4;');
  const printed: string[] = [];
  const print = (...args: unknown[]) => printed.push(args.join(' '));
  const run = new Function('s3v4', 'console', body) as (lib: typeof s3v4, console: { log: typeof print }) => void;
  run(s3v4, { log: print });
  assert.fixture(printed.join('\n'), expected);
});

test('README: the configuration error shown is the one such a file gets', () => {
  const expected = blockAfter('<!-- output: config-error -->', 'text');
  const text = [
    '[object_store]',
    'backend = "s3"',
    '[object_store.s3]',
    'access_key = "AKIAIOSFODNN7EXAMPLE"',
    'secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
    'bucket = "my-agentverse-packages"',
    'region = "us-east-1"',
    'force_path_styles = true',
    'presigned_expiry_secs = 1.5',
  ].join('\n');
  assert.throws(
    () => s3v4.parseConfig(text, 'config.toml', {}),
    (error: Error) => error.message === expected,
  );
});

test.run();
