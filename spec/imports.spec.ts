/**
 * What `import('s3v4')` loads, in a fresh process on the built package: one
 * bundled module of its own; undici's pool and request API by their own
 * paths, not undici's index (which loads every API undici has); not the
 * command line, the doctor or the TOML parser, until they are called.
 * lib/undici.ts falls back to undici's index when a path is missing.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadParts } from '../lib/undici.js';
import { builtCli } from './helpers.js';

/** Records every ESM module resolved, on stderr; CommonJS ones are in require.cache. */
const RECORD = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
import { writeSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  writeSync(2, 'ESM ' + resolved.url + '\\\\n');
  return resolved;
}\`));`,
)}`;

/** The modules a fresh process has loaded after `code` (an ES module body that may use `index`, the package). */
function loadedBy(code: string): { esm: string[]; cjs: string[] } {
  const index = join(dirname(builtCli()), 'index.js');
  const body = `import { createRequire } from 'node:module';
const index = await import(${JSON.stringify(index)});
${code}
process.stdout.write(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const run = spawnSync(process.execPath, ['--import', RECORD, '--input-type=module', '-e', body], {
    encoding: 'utf8',
    // The built package's own coverage is not lib/'s: set empty, as child_process passes the parent's on otherwise.
    env: { ...process.env, NODE_V8_COVERAGE: '' },
  });
  assert.is(run.status, 0, run.stderr);
  const esm = run.stderr
    .split('\n')
    .filter((line) => line.startsWith('ESM '))
    .map((line) => line.slice(4));
  return { esm, cjs: JSON.parse(run.stdout) as string[] };
}

const named = (paths: string[], ending: string) => paths.some((path) => path.endsWith(ending));

test("import('s3v4') loads undici's parts, not its index, nor the command line, the doctor or smol-toml", () => {
  const { esm, cjs } = loadedBy('');
  // One module of the package's own: the build bundles dist/index.js (spec/support/build.ts).
  assert.equal(
    esm.filter((path) => path.includes('/dist/')).map((path) => path.slice(path.lastIndexOf('/dist/'))),
    ['/dist/index.js'],
  );
  assert.ok(named(cjs, '/undici/lib/dispatcher/agent.js'), 'the pool');
  assert.ok(named(cjs, '/undici/lib/api/api-request.js'), 'the request API');
  assert.not.ok(named(cjs, '/undici/index.js'), "undici's index");
  for (const module of ['/dist/cli.js', '/dist/commands.js', '/dist/doctor.js', '/dist/transfers.js'])
    assert.not.ok(named(esm, module), module);
  assert.not.ok(
    [...esm, ...cjs].some((path) => path.includes('/smol-toml/')),
    'smol-toml',
  );
});

test('the bundle keeps every exported class and function under its own name (errors are named after their class)', () => {
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const index = await import(${JSON.stringify(join(dirname(builtCli()), 'index.js'))});
const renamed = Object.entries(index).filter(([name, value]) => typeof value === 'function' && value.name !== name);
const error = new index.InvalidArgumentError('key', 'x');
process.stdout.write(JSON.stringify({ renamed: renamed.map(([name, value]) => name + ' is ' + value.name), error: error.name, count: Object.keys(index).length }));`,
    ],
    { encoding: 'utf8', env: { ...process.env, NODE_V8_COVERAGE: '' } },
  );
  assert.is(run.status, 0, run.stderr);
  const { renamed, error, count } = JSON.parse(run.stdout) as { renamed: string[]; error: string; count: number };
  assert.equal(renamed, []);
  assert.is(error, 'InvalidArgumentError');
  assert.ok(count > 20, `${count} exports`);
});

test('smol-toml loads when a configuration is parsed, and a request goes through the parts alone', () => {
  const { cjs } = loadedBy(`
const config = index.parseConfig('[object_store]\\nbackend = "s3"\\n[object_store.s3]\\nbucket = "b-1"\\nregion = "us-east-1"\\nendpoint = "http://127.0.0.1:9"\\naccess_key = "AKID"\\nsecret_key = "s"\\n');
const client = new index.S3Client(config, { maxAttempts: 1 });
const error = await client.head('k').catch((e) => e);
if (error.code !== 'ERR_S3V4_NETWORK') throw error;
await client.close();`);
  assert.ok(
    cjs.some((path) => path.includes('/smol-toml/')),
    'smol-toml after parseConfig',
  );
  assert.not.ok(named(cjs, '/undici/index.js'), "undici's index, after a request");
});

test("lib/undici.ts: undici's index stands in when a part's path is missing", () => {
  const require = createRequire(import.meta.url);
  const undici = require('undici') as typeof import('undici');
  const parts = loadParts((id) => {
    if (id !== 'undici') throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    return undici;
  });
  assert.is(parts.Agent, undici.Agent);
  assert.is(parts.request, undici.Dispatcher.prototype.request);
  assert.is(parts.BodyTimeoutError, undici.errors.BodyTimeoutError);
  const byPath = loadParts(require);
  assert.is(byPath.request, require('undici/lib/api/api-request.js'));
});

test.run();
