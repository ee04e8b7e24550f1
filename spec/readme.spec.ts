/**
 * The README's signer example runs as written (with lib/ in place of the
 * built package) and prints exactly the output the README shows under it;
 * the names it gives as exports are exported, and the methods it names exist.
 */
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
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

test('README: the CredentialsError shown is the one a keyless configuration gets where no source is set up', async () => {
  const expected = blockAfter('<!-- output: no-credentials -->', 'text');
  // An IMDS that takes connections and never answers, as on a machine that is not an EC2 instance behind a firewall.
  const silent = createServer(() => undefined);
  await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  const { port } = silent.address() as AddressInfo;
  const config = s3v4.parseConfig(
    '[object_store]\nbackend = "s3"\n[object_store.s3]\nbucket = "my-agentverse-packages"\nregion = "us-east-1"\n',
    'config.toml',
    { HOME: '/home/me', AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${port}` },
  );
  const client = new s3v4.S3Client(config);
  const error = await client.credentials().catch((failure: unknown) => failure);
  await client.close();
  silent.close();
  assert.instance(error, s3v4.CredentialsError);
  // The README shows the address IMDS has on EC2, where this spec has its silent stand-in.
  assert.fixture((error as Error).message.replace(`http://127.0.0.1:${port}`, 'http://169.254.169.254'), expected);
});

/** The README's text from the heading `heading` to the next heading of its level or above. */
function section(heading: string): string {
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no ${heading}`);
  const level = /^#+/.exec(heading)![0].length;
  const next = readme.slice(at + heading.length + 2).search(new RegExp(`^#{1,${level}} `, 'm'));
  return readme.slice(at, next < 0 ? undefined : at + heading.length + 2 + next);
}

test('README: every name it gives as an export is exported, and every method it names exists', () => {
  const exported = new Set(Object.keys(s3v4));
  const exports = new Set<string>();
  for (const [, names] of readme.matchAll(/^import \{([^}]*)\} from 's3v4';$/gm)) {
    for (const name of names!.split(',')) exports.add(name.trim());
  }
  // In the spec-steps section: the list of exports, and any function named bare (methods are written `signer.name()`).
  const steps = section('### Encoding and the spec steps');
  const list = /exported one by one[^:]*:([^.]*)\./.exec(steps);
  assert.ok(list, 'README no longer lists the exported SigV4 tasks');
  for (const [, name] of list[1]!.matchAll(/`([A-Za-z_$][\w$]*)`/g)) exports.add(name!);
  for (const [, name] of steps.matchAll(/`([a-z_$][\w$]*)(?:\([^`]*\))?`/g)) exports.add(name!);
  for (const name of exports) assert.ok(exported.has(name), `README gives ${name} as an export; lib/index.ts has none`);

  const methods = (type: { prototype: object }) => new Set(Object.getOwnPropertyNames(type.prototype));
  const owners = { signer: methods(s3v4.SigV4Signer), client: methods(s3v4.S3Client) };
  for (const [, owner, name] of readme.matchAll(/\b(signer|client)\.([A-Za-z_$][\w$]*)\(/g)) {
    assert.ok(owners[owner as keyof typeof owners].has(name!), `README names ${owner}.${name}(), which does not exist`);
  }
  const table = section('## The client')
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  assert.ok(table.length > 5, 'README has no table of client methods');
  for (const row of table) {
    for (const [, name] of row.split(' | ')[0]!.matchAll(/`([A-Za-z_$][\w$]*)\(/g)) {
      assert.ok(owners.client.has(name!), `README's client table names ${name}(), which S3Client does not have`);
    }
  }
});

test.run();
