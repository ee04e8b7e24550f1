/**
 * The `s3v4` command, run as a child process (the package's bin, dist/cli.js,
 * compiled from lib/ by the package's own build before the specs) against each
 * server of the matrix on 127.0.0.1: every command, its --json output parsed, exit
 * statuses, the path-traversal refusals, Ctrl-C, the progress bar under a
 * pseudo-terminal (script -qc), and the doctor on good and broken configs.
 * No run may print the secret key, on stdout or stderr.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import * as assert from 'uvu/assert';
import { unresolvedFix } from '../lib/doctor.js';
import { Endpoint, storageConfig } from '../lib/index.js';
import type { SyncResult } from '../lib/sync.js';
import { builtCli, onEachServer, prng, settled, storageToml } from './helpers.js';
import { botocoreReadsBack } from './support/botocore.js';
import { startFaultProxy } from './support/faults.js';
import { freePort, signedRequest, uploadsIn, type S3Server } from './support/servers.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
/** node's arguments to run the command: the bin as the package ships it, built in before(). */
let NODE_ARGS: string[] = [];
/** Whether the commands write V8 coverage for c8 (see `local`). */
let withCoverage = true;
const BUCKET = 'cli';
/** Readable by anyone (a bucket policy), for plain and CDN links. */
const PUBLIC_BUCKET = 'cli-public';
const MiB = 1024 * 1024;

let server: S3Server;
let dir: string;
let agent: Agent;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of every run: nothing from this machine's AWS_* or S3V4_CONFIG. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('AWS_') && name !== 'S3V4_CONFIG') env[name] = value;
  // Set empty, not deleted: child_process passes the parent's NODE_V8_COVERAGE on to a child whose environment lacks it.
  if (!withCoverage) env.NODE_V8_COVERAGE = '';
  // Sync's records (lib/records.ts) in the spec's own directory, not the user's cache.
  env.XDG_CACHE_HOME = join(dir, 'cache');
  return { ...env, ...extra };
}

/** Checks a finished run never showed the secret. */
function noSecret(run: Run): Run {
  assert.not.ok(
    run.stdout.includes(server.secretAccessKey) || run.stderr.includes(server.secretAccessKey),
    'the secret key appeared in the output',
  );
  return run;
}

/** Runs `s3v4 ...args` to completion. */
function s3v4(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; config?: string | null } = {},
): Run {
  const config = options.config === undefined ? join(dir, 'config.toml') : options.config;
  const result = spawnSync(
    process.execPath,
    [...NODE_ARGS, ...args, ...(config === null ? [] : ['--config', config])],
    {
      cwd: options.cwd ?? dir,
      env: cleanEnv(options.env),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return noSecret({ status: result.status, stdout: result.stdout, stderr: result.stderr });
}

/**
 * Starts `s3v4 ...args` without blocking this process, for runs that meet a
 * server living in it (the fault proxy) or that are interrupted.
 */
function start(
  args: string[],
  config = join(dir, 'config.toml'),
  env: Record<string, string> = {},
): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [...NODE_ARGS, ...args, '--config', config], {
    cwd: dir,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data));
  child.stderr.on('data', (data: Buffer) => (stderr += data));
  const done = new Promise<Run>((resolve) =>
    child.once('close', (status) => resolve(noSecret({ status, stdout, stderr }))),
  );
  return { child, done };
}

/** A successful run's stdout; fails the test with stderr otherwise. */
function ok(args: string[], options: Parameters<typeof s3v4>[1] = {}): string {
  const run = s3v4(args, options);
  assert.is(run.status, 0, `s3v4 ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

function json<T = Record<string, unknown>>(args: string[], options: Parameters<typeof s3v4>[1] = {}): T {
  return JSON.parse(ok([...args, '--json'], options)) as T;
}

function configText(settings: Record<string, string | number | boolean>): string {
  return storageToml(
    ...Object.entries(settings).map(
      ([key, value]) => `${key} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
    ),
  );
}

/** Writes a config for the local server; `changes` override its keys. Returns its path. */
function writeConfig(name: string, changes: Record<string, string | number | boolean> = {}): string {
  const path = join(dir, name);
  const settings = {
    endpoint: server.endpoint,
    access_key: server.accessKeyId,
    secret_key: server.secretAccessKey,
    bucket: BUCKET,
    region: server.region,
    force_path_style: true,
    presigned_expiry_secs: 3600,
  };
  writeFileSync(path, configText({ ...settings, ...changes }));
  return path;
}

/** A signed request made without s3v4's client, to set up buckets and look behind the command's back. */
const raw = (method: string, path: string, body = '') => signedRequest(server, method, path, body, agent);

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

/**
 * Runs a bash pipeline in which `s3v4` is this tree's command with the spec's config, through real pipes; `statuses`
 * are the pipeline's exit statuses (PIPESTATUS), stage by stage.
 */
function shell(
  script: string,
  config = join(dir, 'config.toml'),
): { statuses: number[]; stdout: string; stderr: string } {
  const command = `${[process.execPath, ...NODE_ARGS].map((a) => `'${a}'`).join(' ')}`;
  const run = spawnSync(
    'bash',
    ['-c', `s3v4() { ${command} "$@" --config '${config}'; }\n${script}\necho "PIPESTATUS \${PIPESTATUS[*]}" >&2`],
    { cwd: dir, env: cleanEnv(), encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * MiB },
  );
  noSecret({ status: run.status, stdout: run.stdout, stderr: run.stderr });
  const [, statuses = ''] = /PIPESTATUS ([\d ]+)\n$/.exec(run.stderr) ?? [];
  assert.ok(statuses !== '', `no PIPESTATUS in ${JSON.stringify(run.stderr)}`);
  return {
    statuses: statuses.split(' ').map(Number),
    stdout: run.stdout,
    stderr: run.stderr.replace(/PIPESTATUS [\d ]+\n$/, ''),
  };
}

/**
 * Runs `s3v4 ...args` under a pseudo-terminal (script copies what it writes to its stdout), `columns` wide if
 * given; fails the test unless it succeeds. Its output, and how long it took.
 */
function inTerminal(args: string[], columns?: number): { output: string; elapsed: number } {
  const command = [process.execPath, ...NODE_ARGS, ...args, '--config', join(dir, 'config.toml')]
    .map((a) => `'${a}'`)
    .join(' ');
  const started = performance.now();
  const tty = spawnSync(
    'script',
    ['-qec', columns === undefined ? command : `stty cols ${columns} rows 24 && ${command}`, '/dev/null'],
    {
      cwd: dir,
      env: cleanEnv(columns === undefined ? {} : { COLUMNS: String(columns) }),
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const elapsed = performance.now() - started;
  assert.is(tty.status, 0, tty.stdout + tty.stderr);
  return { output: tty.stdout, elapsed };
}

/** Keys under a prefix, listed by the command itself. */
function keys(prefix: string): string[] {
  return ok(['ls', prefix, '--recursive']).split('\n').filter(Boolean);
}

onEachServer('the s3v4 command line', 'spec/cli.spec.ts', 600, (test, on) => {
  /**
   * A test of what the command does with local files, pipes, terminals and arguments, the same whatever the server:
   * run on Ceph only. Coverage is also taken there only: on Swift the commands run without it, a third faster.
   */
  const first = on.id === 'ceph';
  const local = first ? test : () => undefined;

  test.before(async () => {
    withCoverage = first;
    NODE_ARGS = [builtCli()];
    dir = mkdtempSync(join(tmpdir(), 's3v4-cli-spec-'));
    server = await on.shared();
    // No keep-alive: the synchronous tests block the event loop for longer than Ceph keeps an idle connection
    // (beast's 65 s), so a pooled socket would be found closed by the next request on a busy machine.
    agent = new Agent({ pipelining: 0 });
    for (const bucket of [BUCKET, PUBLIC_BUCKET]) assert.is((await raw('PUT', `/${bucket}`)).status, 200);
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: '*', Action: ['s3:GetObject'], Resource: [`arn:aws:s3:::${PUBLIC_BUCKET}/*`] },
      ],
    };
    if (on.facts.bucketPolicies)
      assert.is((await raw('PUT', `/${PUBLIC_BUCKET}?policy`, JSON.stringify(policy))).status, 204);
    writeConfig('config.toml');
  });

  test.after(async () => {
    await agent?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------
  // Usage

  local('--help, --version, and usage errors exit 2 naming what to fix', () => {
    const help = ok(['--help'], { config: null });
    for (const command of ['put', 'get', 'ls', 'rm', 'stat', 'cp', 'url', 'presign', 'doctor'])
      assert.match(help, new RegExp(`^  ${command}\\b`, 'm'));
    assert.match(ok(['put', '--help'], { config: null }), /^usage: s3v4 put FILE\.\.\. KEY\|PREFIX\//);
    assert.match(ok(['help', 'presign'], { config: null }), /--method, --expires/);
    assert.is(ok(['--version'], { config: null }).trim(), PACKAGE.version);
    assert.equal(json(['--version'], { config: null }), { version: PACKAGE.version });

    const some = file('usage.txt', 'x');
    const cases: Array<[string[], RegExp]> = [
      [[], /^usage: s3v4 COMMAND/],
      [['pt', 'a'], /unknown command "pt"; the commands are put, get/],
      [
        ['ls', '--bogus'],
        /^s3v4: unknown option --bogus; ls takes --recursive, --long, --human, --config, --json, --help;/,
      ],
      [['sync', 'a', 's3:b', '--chekcsum'], /^s3v4: unknown option --chekcsum \(--checksum\?\); sync takes /],
      [['--dleete'], /^s3v4: unknown option --dleete \(--delete\?\); the options are /],
      [['rm', 'x', '-Z'], /^s3v4: unknown option -Z; rm takes .*; a FILE or KEY that starts with - goes after --$/m],
      [
        ['--config', 'x.toml', 'ls', '--bogsu'],
        // The value of --config is no command's name.
        /^s3v4: unknown option --bogsu; ls takes --recursive/,
      ],
      [['ls', '--force'], /--force does not apply to ls/],
      [
        ['put', some, 'b/', '--jobs', '-1'],
        /^s3v4: --jobs needs a value, and "-1" after it starts with a dash: write --jobs=-1/,
      ],
      [['put', some, 'b/', '--jobs=-1'], /--jobs takes a whole number from 1 to 64, got "-1"/],
      [['stat'], /stat takes 1 argument, got 0/],
      [['cp', 'a'], /cp takes 2 arguments, got 1/],
      [['put', 'only-one'], /put takes at least 2 arguments, got 1/],
      [['put', 'missing.txt', 'k'], /missing\.txt: no such file or directory/],
      [['rm'], /rm needs KEY\.\.\., --prefix P --yes or --all --yes/],
      [['rm', '--prefix', 'x/'], /rm --prefix "x\/" deletes every object under it; add --yes to confirm/],
      [['rm', 'a', '--prefix', 'x/', '--yes'], /rm takes keys or --prefix, not both/],
      [['presign', 'k', '--expires', '0'], /--expires must be a whole number of seconds from 1 to 604800, got "0"/],
      [['presign', 'k', '--expires', '1h'], /--expires must be a whole number/],
      [['presign', 'k', '--method', 'POST'], /--method must be GET, PUT, HEAD or DELETE, got "POST"/],
    ];
    for (const [args, message] of cases) {
      const run = s3v4(args, args.length === 0 ? { config: null } : {});
      assert.is(run.status, 2, `s3v4 ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.is(run.stdout, '');
    }
  });

  test('config: --config, else S3V4_CONFIG, else ./config.toml; a bad one exits 2 with every problem', () => {
    const empty = mkdtempSync(join(dir, 'cwd-'));
    const none = s3v4(['ls'], { cwd: empty, config: null });
    assert.is(none.status, 2);
    assert.match(none.stderr, /no configuration: pass --config FILE, set S3V4_CONFIG, or create \.\/config\.toml/);

    writeFileSync(join(empty, 'config.toml'), readFileSync(join(dir, 'config.toml')));
    file('fromcwd.txt', 'cwd');
    ok(['put', join(dir, 'fromcwd.txt'), 'config/cwd.txt'], { cwd: empty, config: null });
    const viaEnv = writeConfig('env.toml', { bucket: PUBLIC_BUCKET });
    ok(['put', join(dir, 'fromcwd.txt'), 'config/env.txt'], { cwd: empty, config: null, env: { S3V4_CONFIG: viaEnv } });
    assert.equal(keys('config/'), ['config/cwd.txt']);
    // --config wins over S3V4_CONFIG.
    assert.equal(ok(['ls', 'config/', '--recursive'], { env: { S3V4_CONFIG: viaEnv } }).trim(), 'config/cwd.txt');
    assert.equal(
      ok(['ls', 'config/', '--recursive'], { cwd: empty, config: null, env: { S3V4_CONFIG: viaEnv } }).trim(),
      'config/env.txt',
    );

    // The library's environment variables fill empty keys.
    const fromEnv = join(dir, 'keys-from-env.toml');
    writeFileSync(
      fromEnv,
      configText({ endpoint: server.endpoint, bucket: BUCKET, region: server.region, force_path_style: true }),
    );
    assert.equal(
      ok(['ls', 'config/', '--recursive'], {
        config: fromEnv,
        env: { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey },
      }).trim(),
      'config/cwd.txt',
    );

    const broken = join(dir, 'broken.toml');
    writeFileSync(
      broken,
      configText({
        endpoint: server.endpoint,
        access_key: server.accessKeyId,
        secret_key: server.secretAccessKey,
        bucket: 'x',
        region: server.region,
        presigned_expiry_secs: -1,
        force_path_stile: true,
      }),
    );
    const bad = s3v4(['ls'], { config: broken });
    assert.is(bad.status, 2);
    assert.match(bad.stderr, /broken\.toml: the storage configuration has \d+ problems/);
    assert.match(bad.stderr, /presigned_expiry_secs/);
    assert.match(bad.stderr, /force_path_stile/);
    const missing = s3v4(['ls'], { config: join(dir, 'nope.toml') });
    assert.is(missing.status, 2);
    assert.match(missing.stderr, /nope\.toml: [\s\S]*does not exist/);
    const parsed = JSON.parse(s3v4(['ls', '--json'], { config: broken }).stdout) as {
      error: { code: string; message: string };
    };
    assert.is(parsed.error.code, 'ERR_S3V4_CONFIG');
  });

  // -------------------------------------------------------------------------
  // Objects

  test('put, stat, ls, cp, get and rm round-trip files, with --json', () => {
    const body = randomBytes(3000);
    const one = file('up/one.bin', body);
    const page = file('up/page.html', '<p>hi</p>');
    assert.match(ok(['put', one, 'ops/one.bin']), /one\.bin -> ops\/one\.bin \(2\.9 KiB\)/);
    const uploaded = json<{ uploaded: Array<{ file: string; key: string; size: number; etag: string }> }>([
      'put',
      one,
      page,
      'ops/many/',
    ]);
    assert.equal(
      uploaded.uploaded.map(({ key, size }) => [key, size]),
      [
        ['ops/many/one.bin', 3000],
        ['ops/many/page.html', 9],
      ],
    );
    assert.match(uploaded.uploaded[0]!.etag, /^[0-9a-f]{32}$/);

    const info = json(['stat', 'ops/many/page.html']);
    assert.is(info.size, 9);
    assert.is(info.contentType, 'text/html; charset=utf-8');
    assert.is(info.key, 'ops/many/page.html');
    assert.match(ok(['stat', 'ops/one.bin']), /^size: +3000 \(2\.9 KiB\)$/m);
    ok(['put', one, 'ops/typed', '--content-type', 'application/x-custom']);
    assert.is(json(['stat', 'ops/typed']).contentType, 'application/x-custom');

    assert.equal(ok(['ls', 'ops/']).split('\n').filter(Boolean), ['ops/many/', 'ops/one.bin', 'ops/typed']);
    assert.equal(keys('ops/'), ['ops/many/one.bin', 'ops/many/page.html', 'ops/one.bin', 'ops/typed']);
    const long = ok(['ls', 'ops/', '--long']).split('\n').filter(Boolean);
    assert.match(long[0]!, /^ {19} {2} +DIR {2}ops\/many\/$/);
    assert.match(long[1]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +3000 {2}ops\/one\.bin$/);
    const lines = ok(['ls', 'ops/', '--json'])
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines[0], { prefix: 'ops/many/' });
    assert.is(lines[1]!.key, 'ops/one.bin');
    assert.is(lines[1]!.size, 3000);
    assert.ok(!Number.isNaN(Date.parse(lines[1]!.lastModified as string)));

    assert.equal(json(['cp', 'ops/one.bin', 'ops/copy.bin']).to, 'ops/copy.bin');
    // Keys with control characters are shown escaped, as ls(1) does; JSON carries them as they are.
    const control = file('ctl.txt', 'x');
    for (const key of ['ctl/esc\u001b[31mred', 'ctl/line1\nline2']) ok(['put', control, key]);
    assert.is(ok(['ls', 'ctl/']), 'ctl/esc\\u001b[31mred\nctl/line1\\u000aline2\n');
    assert.equal(
      ok(['ls', 'ctl/', '--json'])
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { key: string }).key),
      ['ctl/esc\u001b[31mred', 'ctl/line1\nline2'],
    );
    ok(['rm', '--prefix', 'ctl', '--yes']);
    // A DST ending in / is a folder: the copy keeps the source's name, as put does.
    assert.equal(json(['cp', 'ops/one.bin', 'ops/folder/']).to, 'ops/folder/one.bin');
    assert.is(json(['stat', 'ops/folder/one.bin']).size, 3000);
    // A folder's name is no object, and stat says what it is; a name nothing is under gets S3's 404 alone.
    for (const name of ['ops/folder', 'ops/folder/']) {
      const folderStat = s3v4(['stat', name]);
      assert.is(folderStat.status, 1, folderStat.stderr);
      assert.match(
        folderStat.stderr,
        /: 404 \w+: [^(]+ \(no object is named "ops\/folder\/?", but objects are under "ops\/folder\/": s3v4 ls ops\/folder\/, or s3v4 du ops\/folder\/\)/,
      );
    }
    assert.not.match(s3v4(['stat', 'ops/nothing-here']).stderr, /objects are under/);
    ok(['rm', 'ops/folder/one.bin']);
    // Two files that would meet at one key: refused before anything is uploaded.
    const twins = [file('twin-a/same.txt', 'A'), file('twin-b/same.txt', 'B')];
    const collision = s3v4(['put', ...twins, 'twins/']);
    assert.is(collision.status, 2, collision.stderr);
    assert.match(
      collision.stderr,
      /twin-a\/same\.txt and .*twin-b\/same\.txt would both be uploaded to twins\/same\.txt/,
    );
    assert.is(s3v4(['stat', 'twins/same.txt']).status, 1, 'one of the twins was uploaded');
    const out = join(dir, 'down', 'copy.bin');
    assert.equal(json(['get', 'ops/copy.bin', out]), { downloaded: [{ key: 'ops/copy.bin', file: out, size: 3000 }] });
    assert.ok(readFileSync(out).equals(body));
    // Into a directory: the key's last segment names the file.
    ok(['get', 'ops/many/page.html', `${join(dir, 'down')}/`]);
    assert.is(readFileSync(join(dir, 'down', 'page.html'), 'utf8'), '<p>hi</p>');

    // An existing file stays unless --force; nothing temporary is left beside it.
    writeFileSync(out, 'mine');
    const refused = s3v4(['get', 'ops/one.bin', out]);
    assert.is(refused.status, 1);
    assert.match(refused.stderr, /copy\.bin exists; pass --force to overwrite it/);
    assert.is(readFileSync(out, 'utf8'), 'mine');
    ok(['get', 'ops/one.bin', out, '--force']);
    assert.ok(readFileSync(out).equals(body));
    assert.equal(readdirSync(join(dir, 'down')).sort(), ['copy.bin', 'page.html']);

    const missing = s3v4(['get', 'ops/none', join(dir, 'down', 'none')]);
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /GET ops\/none: 404 NoSuchKey/);
    assert.not.ok(existsSync(join(dir, 'down', 'none')));
    assert.is(s3v4(['stat', 'ops/none']).status, 1);

    assert.is(ok(['rm', 'ops/copy.bin']).trim(), 'deleted 1 object');
    assert.equal(json(['rm', 'ops/one.bin', 'ops/typed']), {
      deleted: ['ops/one.bin', 'ops/typed'],
      missing: [],
      errors: [],
    });
    assert.equal(json(['rm', '--prefix', 'ops/', '--yes']).deleted, ['ops/many/one.bin', 'ops/many/page.html']);
    assert.equal(keys('ops/'), []);
  });

  test('put of a file, a 0-byte file, a file in parts and a pipe: botocore reads back what was sent', async () => {
    const bucket = 'cli-botocore';
    assert.is((await raw('PUT', `/${bucket}`)).status, 200);
    const config = writeConfig('botocore.toml', { bucket });
    const bodies = new Map([
      ['file.bin', randomBytes(100_000)],
      ['empty.bin', Buffer.alloc(0)],
      ['parts.bin', randomBytes(9 * MiB)],
    ]);
    for (const [key, body] of bodies) ok(['put', file(`botocore/${key}`, body), key], { config });
    const piped = randomBytes(3 * MiB);
    const put = shell(`cat '${file('botocore/piped', piped)}' | s3v4 put - piped.bin`, config);
    assert.equal(put.statuses, [0, 0], put.stderr);
    bodies.set('piped.bin', piped);
    await botocoreReadsBack(server, bucket, bodies);
  });

  test('put --recursive and get --recursive mirror a directory tree', () => {
    const tree = join(dir, 'tree');
    const files: Record<string, string> = {
      'index.html': '<h1>x</h1>',
      'css/site.css': 'p{}',
      'a/b/c/deep.txt': 'deep',
      'space name.txt': 'sp',
    };
    for (const [path, content] of Object.entries(files)) file(join('tree', path), content);
    symlinkSync('/etc/hostname', join(tree, 'link'));
    // A download's temporary file left by a crash is not uploaded either.
    file(join('tree', 'a', '.page.html.0badc0de.s3v4-partial'), 'half');
    const directory = s3v4(['put', tree, 'site/']);
    assert.is(directory.status, 2);
    assert.match(directory.stderr, /tree is a directory; pass --recursive/);
    const several = s3v4(['put', join(tree, 'index.html'), join(tree, 'css/site.css'), 'site']);
    assert.is(several.status, 2);
    assert.match(several.stderr, /with several files the last argument is a prefix and must end in \/, got "site"/);

    const put = s3v4(['put', tree, 'site', '--recursive']);
    assert.is(put.status, 0, put.stderr);
    assert.match(put.stderr, /skipped .*link: not a regular file/);
    assert.match(put.stderr, /skipped .*\.page\.html\.0badc0de\.s3v4-partial: an unfinished download/);
    assert.equal(
      keys('site/'),
      Object.keys(files)
        .map((path) => `site/${path}`)
        .sort(),
    );

    const mirror = join(dir, 'mirror');
    const got = json<{ downloaded: Array<{ key: string }>; failed: unknown[] }>([
      'get',
      'site/',
      mirror,
      '--recursive',
    ]);
    assert.is(got.downloaded.length, 4);
    assert.equal(got.failed, []);
    for (const [path, content] of Object.entries(files)) assert.is(readFileSync(join(mirror, path), 'utf8'), content);
    // A prefix without its slash gives the same tree.
    const again = join(dir, 'mirror2');
    ok(['get', 'site', again, '-r']);
    assert.is(readFileSync(join(again, 'a/b/c/deep.txt'), 'utf8'), 'deep');
    // Into files that are there: each is kept, and named with the flag that would replace it.
    const kept = s3v4(['get', 'site', again, '-r']);
    assert.is(kept.status, 1, kept.stderr);
    assert.match(kept.stderr, /deep\.txt exists; pass --force to overwrite it/);
    ok(['rm', '--prefix', 'site/', '--yes']);
  });

  test('put and get --recursive move a generated tree of odd names and sizes --jobs at a time, in walk order', () => {
    const next = prng(15);
    const pick = <T>(choices: readonly T[]): T => choices[Math.floor(next() * choices.length)]!;
    // Names a user's tree has: spaces, unicode, URL and shell metacharacters, dots, long ones.
    const parts = [
      'a b',
      'ünï',
      '日本',
      '+plus',
      '100%',
      'hash#',
      'q?',
      "it's",
      '.dot',
      '-dash',
      'x'.repeat(60),
      'emoji😀',
    ];
    const tree = join(dir, 'gen-tree');
    const files = new Map<string, Buffer>();
    for (let i = 0; files.size < 90; i++) {
      const depth = Math.floor(next() * 4);
      const path = [...Array.from({ length: depth }, () => pick(parts)), `${pick(parts)}-${i}`].join('/');
      if ([...files.keys()].some((known) => known.startsWith(`${path}/`) || path.startsWith(`${known}/`))) continue;
      // Mostly small, some empty, a few of several hundred KiB.
      const size = pick([0, 1, 17, 4096, 65_536, 300_000, Math.floor(next() * 10_000)]);
      files.set(path, Buffer.from(randomBytes(size)));
      file(join('gen-tree', path), files.get(path)!);
    }
    for (const jobs of ['1', '7']) {
      const prefix = `gen-${jobs}/`;
      const put = json<{ uploaded: Array<{ key: string; size: number }> }>(['put', tree, prefix, '-r', '--jobs', jobs]);
      // Reported in the order of the walk (each directory sorted by name), whatever order the uploads finished in.
      const walked = [...files.keys()].map((path) => `${prefix}${path}`);
      assert.equal(
        put.uploaded.map((u) => u.key),
        [...walked].sort((a, b) => {
          const [x, y] = [a.split('/'), b.split('/')];
          for (let i = 0; i < Math.min(x.length, y.length); i++) {
            if (x[i] === y[i]) continue;
            // A directory and a file of one directory are ordered by their names, as readdir's entries are sorted.
            return x[i]! < y[i]! ? -1 : 1;
          }
          return x.length - y.length;
        }),
      );
      assert.equal(keys(prefix).sort(), [...walked].sort());
      const mirror = join(dir, `gen-mirror-${jobs}`);
      const got = json<{ downloaded: Array<{ key: string }>; failed: unknown[] }>([
        'get',
        prefix,
        mirror,
        '-r',
        '-j',
        jobs,
      ]);
      // In the listing's order (S3's, by UTF-8 bytes: these names sort the same as JavaScript strings).
      assert.equal(
        got.downloaded.map((d) => d.key),
        [...walked].sort(),
      );
      assert.equal(got.failed, []);
      for (const [path, body] of files) assert.ok(readFileSync(join(mirror, path)).equals(body), path);
      ok(['rm', '--prefix', prefix, '--yes']);
    }
    for (const bad of ['0', '65', 'many', '2.5', '-1']) {
      const run = s3v4(['put', tree, 'gen-bad/', '-r', `--jobs=${bad}`]);
      assert.is(run.status, 2, run.stderr);
      assert.match(run.stderr, /--jobs takes a whole number from 1 to 64/);
    }
    assert.equal(keys('gen-bad/'), []);
  });

  test('a recursive put that meets a bad file warns, sends the others and fails, with --json saying which', async () => {
    const tree = join(dir, 'stop-tree');
    for (let i = 0; i < 30; i++) file(join('stop-tree', `f${String(i).padStart(2, '0')}.txt`), `file ${i}`);
    // A key of more than S3's 1024 bytes: refused by the client when its turn comes.
    const long = ['d'.repeat(250), 'e'.repeat(250), 'f'.repeat(250), 'g'.repeat(250)].join('/');
    const bad = file(join('stop-tree', 'f10', long, 'too-long.txt'), 'x');
    const run = s3v4(['put', tree, 'stop/', '-r', '--jobs', '4', '--json']);
    // 1, as get --recursive gives for a key it refuses: the command did not do all it was asked.
    assert.is(run.status, 1, run.stderr);
    assert.match(run.stderr, /too-long\.txt: its key is \d+ bytes in UTF-8; S3 keys are at most 1024/);
    assert.match(run.stderr, /^s3v4: 30 files uploaded, 1 failed$/m);
    const put = JSON.parse(run.stdout) as {
      uploaded: Array<{ key: string }>;
      failed: Array<{ file: string; message: string }>;
    };
    assert.is(put.uploaded.length, 30);
    assert.equal(
      put.failed.map((failure) => failure.file),
      [bad],
    );
    const stored = keys('stop/');
    assert.equal(stored, put.uploaded.map((upload) => upload.key).sort());
    for (const key of stored) assert.is(ok(['get', key, '-']), `file ${Number(key.slice(6, 8))}`);
    assert.equal(await uploadsIn(server, BUCKET), []);
    ok(['rm', '--prefix', 'stop/', '--yes']);
  });

  test('cat, du, mv, ls --long --human and rm --recursive: the daily commands', () => {
    const body = randomBytes(5000);
    ok(['put', file('daily/a.bin', body), 'daily/a.bin']);
    ok(['put', file('daily/b.txt', 'bee'), 'daily/sub/b.txt']);
    assert.ok(Buffer.from(s3v4(['cat', 'daily/a.bin'], {}).stdout, 'latin1').length > 0);
    assert.is(ok(['cat', 'daily/sub/b.txt']), 'bee');
    assert.equal(json(['du', 'daily']), { prefix: 'daily/', objects: 2, bytes: 5003 });
    assert.is(ok(['du', 'daily/', '--human']).trim(), '2 objects  4.9 KiB  daily/');
    assert.match(ok(['ls', 'daily/', '-r', '--long', '--human']), /^\S+ \S+ +4\.9 KiB {2}daily\/a\.bin$/m);
    // --human asks for the sizes it shows.
    assert.equal(ok(['ls', 'daily/', '-r', '-H']), ok(['ls', 'daily/', '-r', '--long', '--human']));
    // mv: the copy first, then the source goes.
    assert.equal(json(['mv', 'daily/a.bin', 'daily/moved/']).to, 'daily/moved/a.bin');
    assert.equal(keys('daily/'), ['daily/moved/a.bin', 'daily/sub/b.txt']);
    assert.is(ok(['cat', 'daily/moved/a.bin']).length > 0, true);
    // A missing source: the copy fails, and nothing is deleted or made.
    const missing = s3v4(['mv', 'daily/none.bin', 'daily/sub/b.txt']);
    assert.is(missing.status, 1, missing.stderr);
    assert.is(ok(['cat', 'daily/sub/b.txt']), 'bee');
    // Onto itself, a move would delete what it copied: refused.
    const itself = s3v4(['mv', 'daily/sub/b.txt', 'daily/sub/']);
    assert.is(itself.status, 2);
    assert.match(itself.stderr, /"daily\/sub\/b\.txt" is both SRC and DST/);
    assert.is(ok(['cat', 'daily/sub/b.txt']), 'bee');
    // rm --recursive is rm --prefix: it asks for --yes, and never takes the whole bucket.
    assert.match(s3v4(['rm', 'daily', '--recursive']).stderr, /add --yes to confirm/);
    assert.match(s3v4(['rm', '', '--recursive', '--yes']).stderr, /names the whole bucket/);
    // An object's key where a folder was meant: nothing under it, so it is kept, and the command says so.
    const object = s3v4(['rm', 'daily/sub/b.txt', '--recursive', '--yes']);
    assert.is(object.status, 0, object.stderr);
    assert.match(
      object.stderr,
      /"daily\/sub\/b\.txt" is an object, not a folder, and was kept; rm "daily\/sub\/b\.txt" deletes it/,
    );
    assert.is(ok(['cat', 'daily/sub/b.txt']), 'bee');
    ok(['rm', 'daily', '--recursive', '--yes']);
    assert.equal(keys('daily/'), []);
    assert.equal(json(['du', 'daily/']), { prefix: 'daily/', objects: 0, bytes: 0 });
  });

  // -------------------------------------------------------------------------
  // sync

  /** What sync --json reports: the library's SyncResult, as JSON carries it. */
  type Synced = SyncResult;

  /** Every regular file under `root` by its path below it, `/` between parts: its bytes and mtime in ms. */
  function treeOf(root: string): Map<string, { body: Buffer; mtime: number }> {
    const found = new Map<string, { body: Buffer; mtime: number }>();
    const walk = (at: string, path: string) => {
      for (const entry of readdirSync(at, { withFileTypes: true })) {
        const full = join(at, entry.name);
        if (entry.isDirectory()) walk(full, `${path}${entry.name}/`);
        else if (entry.isFile())
          found.set(path + entry.name, { body: readFileSync(full), mtime: Math.round(lstatSync(full).mtimeMs) });
      }
    };
    if (existsSync(root)) walk(root, '');
    return found;
  }

  test('mv whose delete is refused says the copy is whole and the source is still there', async () => {
    ok(['put', file('mv-src.txt', 'move me'), 'mvfail/src.txt']);
    const proxy = await startFaultProxy(server.port);
    try {
      proxy.inject({ kind: 'reply', status: 403, code: 'AccessDenied' }, { match: (method) => method === 'DELETE' });
      const run = await start(
        ['mv', 'mvfail/src.txt', 'mvfail/dst.txt'],
        writeConfig('mv-proxy.toml', { endpoint: proxy.endpoint }),
      ).done;
      assert.is(run.status, 1, run.stderr);
      assert.match(
        run.stderr,
        /"mvfail\/dst\.txt" is a complete copy, but "mvfail\/src\.txt" was not deleted\n.*AccessDenied/s,
      );
    } finally {
      await proxy.close();
    }
    assert.equal(keys('mvfail/'), ['mvfail/dst.txt', 'mvfail/src.txt']);
    assert.is(ok(['cat', 'mvfail/dst.txt']), 'move me');
    ok(['rm', '--prefix', 'mvfail/', '--yes']);
  });

  test('sync, model-based: random changes to a tree of odd names, synced up and down with --delete, match a model', () => {
    const next = prng(21);
    const pick = <T>(choices: readonly T[]): T => choices[Math.floor(next() * choices.length)]!;
    const parts = ['a b', 'ünï', '日本', '+plus', '100%', 'hash#', 'q?', "it's", '.dot', '-dash', 'emoji😀', 'x'];
    const src = join(dir, 'sync-src');
    const mirror = join(dir, 'sync-mirror');
    mkdirSync(src, { recursive: true });
    // Beside DST and sharing its name's start: --delete must never reach them.
    ok(['put', file('sync-sibling', 'keep'), 'syncs2/keep']);
    ok(['put', file('sync-sibling', 'keep'), 'syncsx']);
    ok(['put', file('sync-sibling', 'keep'), 'syncs']);
    /** The model: the files SRC holds, by path. */
    const model = new Map<string, Buffer>();
    let clock = Date.UTC(2024, 0, 1);
    /** Files touched in a --checksum round, and not written since: the next round by time sends them. */
    const touched = new Set<string>();
    /** Writes a file of the model, with an mtime of its own: a second apart from any other write. */
    const write = (path: string, body: Buffer) => {
      const full = join(src, path);
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, body);
      clock += 1000;
      utimesSync(full, new Date(clock), new Date(clock));
      model.set(path, body);
      touched.delete(path);
    };
    const body = () => randomBytes(pick([0, 1, 100, 4096, 70_000, Math.floor(next() * 9000)]));
    // Four rounds on the first server, three on the other (the CI's ten minutes): --checksum is the third.
    for (let round = 0; round < (first ? 4 : 3); round++) {
      const checksum = round === 2;
      /** The paths this round must upload: new, rewritten or touched. */
      const changed = new Set<string>(checksum ? [] : touched);
      if (!checksum) touched.clear();
      const removed = new Set<string>();
      for (let step = 0; step < (round === 0 ? 40 : 8); step++) {
        const known = [...model.keys()];
        const action =
          round === 0 || known.length === 0 ? 'add' : pick(['add', 'rewrite', 'resize', 'touch', 'delete']);
        if (action === 'add') {
          const path = [
            ...Array.from({ length: Math.floor(next() * 3) }, () => pick(parts)),
            `${pick(parts)}-${round}-${step}`,
          ].join('/');
          if (known.some((k) => k.startsWith(`${path}/`) || path.startsWith(`${k}/`) || k === path)) continue;
          write(path, body());
          changed.add(path);
          removed.delete(path);
        } else {
          const path = pick(known);
          const old = model.get(path)!;
          if (action === 'delete') {
            rmSync(join(src, path));
            model.delete(path);
            changed.delete(path);
            touched.delete(path);
            removed.add(path);
          } else if (action === 'rewrite' && old.length > 0) {
            // Same size, other bytes.
            write(path, randomBytes(old.length));
            changed.add(path);
          } else if (action === 'resize') {
            write(path, Buffer.concat([old, Buffer.from('+')]));
            changed.add(path);
          } else if (action === 'touch') {
            // The bytes stay: --checksum sends nothing, the default sends it again for the time.
            write(path, old);
            if (checksum) touched.add(path);
            else changed.add(path);
          }
        }
      }
      const flags = checksum ? ['--checksum'] : [];
      const up = json<Synced>(['sync', src, 's3:syncs', '--delete', ...flags]);
      assert.equal(up.uploaded.map((u) => u.key.slice('syncs/'.length)).sort(), [...changed].sort(), `round ${round}`);
      assert.equal(up.deleted.map((k) => k.slice('syncs/'.length)).sort(), [...removed].sort(), `round ${round}`);
      assert.equal(up.failed, []);
      assert.is(up.unchanged, model.size - up.uploaded.length);
      assert.equal(keys('syncs/').sort(), [...model.keys()].map((p) => `syncs/${p}`).sort());
      // Down into a mirror, which then holds SRC's bytes and times.
      const down = json<Synced>(['sync', 's3:syncs/', mirror, '--delete', ...flags]);
      assert.equal(down.failed, []);
      assert.equal(down.deleted.length, removed.size, `round ${round}`);
      const copy = treeOf(mirror);
      assert.equal([...copy.keys()].sort(), [...model.keys()].sort());
      const original = treeOf(src);
      for (const [path, { body: bytes, mtime }] of copy) {
        assert.ok(bytes.equals(model.get(path)!), `${path} differs`);
        if (!checksum) assert.is(mtime, original.get(path)!.mtime, `${path}: mtime not kept`);
      }
      // A second sync of either side finds nothing to do, and says so.
      assert.match(ok(['sync', src, 's3:syncs', '--delete', ...flags]), /^nothing to do: \d+ files? unchanged$/m);
      assert.match(ok(['sync', 's3:syncs', mirror, '--delete', ...flags]), /^nothing to do: \d+ files? unchanged$/m);
    }
    assert.is(ok(['cat', 'syncs2/keep']), 'keep');
    assert.is(ok(['cat', 'syncsx']), 'keep');
    assert.is(ok(['cat', 'syncs']), 'keep');
    ok(['rm', '--prefix', 'syncs/', '--yes']);
    ok(['rm', 'syncs2/keep', 'syncsx', 'syncs']);
  });

  test('sync records: an unchanged tree costs listings only, and what changes behind them is still found', async () => {
    const src = join(dir, 'records-src');
    const mirror = join(dir, 'records-mirror');
    const names = ['a.txt', 'empty', 'ünï/b c.bin', 'ünï/日本/d%e', 'big.bin'];
    const bodies = new Map<string, Buffer>(names.map((name) => [name, randomBytes(name === 'empty' ? 0 : 700)]));
    // Over the multipart threshold: its ETag and Date come from CompleteMultipartUpload.
    bodies.set('big.bin', randomBytes(9 * MiB));
    for (const [name, body] of bodies) file(`records-src/${name}`, body);
    const proxy = await startFaultProxy(server.port);
    const config = writeConfig('records-proxy.toml', { endpoint: proxy.endpoint });
    /** Runs sync through the proxy: its summary, and the HEADs it sent. */
    const sync = async (args: string[], env: Record<string, string> = {}) => {
      proxy.reset();
      const run = await start(['sync', ...args, '--json'], config, env).done;
      assert.is(run.status, 0, run.stderr);
      return {
        result: JSON.parse(run.stdout) as Synced,
        heads: proxy.seen.filter((r) => r.method === 'HEAD').length,
        run,
      };
    };
    /** Waits for the server's clock to pass the second it is in: a write then is later than any record so far. */
    const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000) + 50));
    try {
      assert.is((await sync([src, 's3:records'])).result.uploaded.length, names.length);
      // The records of the upload (its replies' Dates) and, where a server's listing shows a later time than its Date,
      // of the HEADs of the first unchanged sync: from then on no object is asked for.
      await sync([src, 's3:records']);
      const unchanged = await sync([src, 's3:records']);
      assert.is(unchanged.result.unchanged, names.length);
      assert.is(unchanged.heads, 0, 'an unchanged sync read an object with HEAD');
      assert.ok(
        proxy.seen.every((r) => r.method === 'GET' && r.url.includes('delimiter=')),
        'only listings',
      );
      assert.is((await sync(['s3:records', mirror])).result.downloaded.length, names.length);
      await sync(['s3:records', mirror]);
      assert.is((await sync(['s3:records', mirror])).heads, 0, 'an unchanged sync down read an object with HEAD');
      // Behind the records' back: a.txt stored again, the same bytes (the same ETag) with another time; the other
      // writer's mtime. Only its Last-Modified tells: sync up sends the file again, for its time, and sync down takes
      // the object's.
      const other = join(dir, 'records-other');
      const old = new Date(Date.UTC(2020, 0, 1));
      /** Stores a.txt as another writer would, `body` with that writer's time: sync down fetches it, and it alone. */
      const storedBehind = async (body: Buffer) => {
        writeFileSync(other, body);
        utimesSync(other, old, old);
        ok(['put', other, 'records/a.txt']);
        const down = await sync(['s3:records', mirror]);
        assert.equal(
          down.result.downloaded.map((d) => d.key),
          ['records/a.txt'],
        );
      };
      await nextSecond();
      await storedBehind(bodies.get('a.txt')!);
      assert.is(lstatSync(join(mirror, 'a.txt')).mtimeMs, old.getTime());
      // A rewrite at one size that keeps the time, stored mtime and all: the mirror's a.txt is still as its record says,
      // and the ETag it matched is gone, so its bytes differ and sync down fetches them (by time alone it would not).
      const rewritten = randomBytes(700);
      await storedBehind(rewritten);
      bodies.set('a.txt', rewritten);
      // A file touched, another rewritten at its size: sent again, as without records.
      const touched = join(src, 'ünï/b c.bin');
      utimesSync(touched, new Date(), new Date(Date.now() + 5000));
      writeFileSync(join(src, 'ünï/日本/d%e'), randomBytes(700));
      const up = await sync([src, 's3:records']);
      assert.equal(up.result.uploaded.map((u) => u.key).sort(), [
        'records/a.txt',
        'records/ünï/b c.bin',
        'records/ünï/日本/d%e',
      ]);
      // Records that do not read are no records: the sync asks the server, and finds what is alike.
      const place = join(dir, 'cache', 's3v4', 'sync');
      for (const pair of readdirSync(place))
        for (const record of readdirSync(join(place, pair))) writeFileSync(join(place, pair, record), '{"format":');
      const unreadable = await sync([src, 's3:records']);
      assert.is(unreadable.result.unchanged, names.length);
      assert.is(unreadable.heads, names.length, 'every object was asked for');
      assert.is((await sync([src, 's3:records'])).heads, 0, 'the records were written again');
      // A cache that cannot be written costs the speed, never the sync: one warning, exit 0.
      const blocked = await sync([src, 's3:records-elsewhere'], { XDG_CACHE_HOME: other });
      assert.is(blocked.result.uploaded.length, names.length);
      assert.match(
        blocked.run.stderr,
        /could not keep sync records in .*\(ENOTDIR\); the next sync asks the server again for the files they would have kept/,
      );
      // A dry run writes none.
      const before = readdirSync(place).length;
      await sync([src, 's3:records-dry', '--dry-run']);
      assert.is(readdirSync(place).length, before);
    } finally {
      await proxy.close();
    }
    for (const [name, body] of bodies) assert.ok(readFileSync(join(mirror, name)).equals(body), name);
    ok(['rm', '--prefix', 'records/', '--yes']);
    ok(['rm', '--prefix', 'records-elsewhere/', '--yes']);
  });

  local('a refused option with --json still prints the error as JSON', () => {
    const run = s3v4(['ls', '--bogus', '--json']);
    assert.is(run.status, 2);
    assert.equal(JSON.parse(run.stdout), {
      error: { code: 'ERR_S3V4_USAGE', message: run.stderr.trim().replace(/^s3v4: /, '') },
    });
  });

  test('sync down of a name that is an object and a folder at once takes the folder, every time, and says so', () => {
    for (const key of ['both/conf', 'both/conf/x', 'both/y']) ok(['put', file('both-src', key), key]);
    for (let run = 0; run < 3; run++) {
      const dest = join(dir, `both-${run}`);
      const synced = s3v4(['sync', 's3:both', dest, '--json']);
      assert.is(synced.status, 1, synced.stderr);
      assert.match(synced.stderr, /skipped "both\/conf": "both\/conf\/" is a folder too/);
      assert.equal((JSON.parse(synced.stdout) as Synced).downloaded.map((d) => d.key).sort(), [
        'both/conf/x',
        'both/y',
      ]);
      assert.is(readFileSync(join(dest, 'conf', 'x'), 'utf8'), 'both/conf/x');
    }
    ok(['rm', '--prefix', 'both/', '--yes']);
  });

  local('a file whose name is not UTF-8 is skipped with a warning, and --delete still deletes', () => {
    const src = join(dir, 'latin1');
    mkdirSync(src, { recursive: true });
    writeFileSync(Buffer.from(`${src}/r\xe9sum\xe9.txt`, 'latin1'), 'cv');
    file('latin1/ok.txt', 'ok');
    ok(['put', file('latin1-gone', 'gone'), 'latin1/gone.txt']);
    const synced = s3v4(['sync', src, 's3:latin1', '--delete', '--json']);
    assert.is(synced.status, 0, synced.stderr);
    assert.match(
      synced.stderr,
      /skipped .*latin1\/r\uFFFDsum\uFFFD\.txt: its name is not UTF-8, which no key can hold/,
    );
    assert.equal(keys('latin1/'), ['latin1/ok.txt']);
    const put = s3v4(['put', src, 'latin1b/', '--recursive']);
    assert.is(put.status, 0, put.stderr);
    assert.match(put.stderr, /its name is not UTF-8/);
    assert.equal(keys('latin1b/'), ['latin1b/ok.txt']);
    ok(['rm', '--prefix', 'latin1', '--yes']);
    ok(['rm', '--prefix', 'latin1b', '--yes']);
  });

  local('sync --dry-run, --include, --exclude and --size-only; what it refuses, and what it skips', () => {
    const src = join(dir, 'sync-filter');
    file('sync-filter/keep.txt', 'keep');
    file('sync-filter/skip.log', 'log');
    file('sync-filter/node_modules/m.js', 'mod');
    file('sync-filter/docs/a.md', 'doc');
    symlinkSync('/etc/hostname', join(src, 'link'));
    // A dry run says what it would send, and sends nothing.
    const dry = json<Synced>(['sync', src, 's3:filtered', '--dry-run']);
    assert.is(dry.dryRun, true);
    assert.equal(dry.uploaded.map((u) => u.key).sort(), [
      'filtered/docs/a.md',
      'filtered/keep.txt',
      'filtered/node_modules/m.js',
      'filtered/skip.log',
    ]);
    assert.equal(keys('filtered/'), []);
    const sent = s3v4(['sync', src, 's3:filtered', '--exclude', '*.log', '--exclude', 'node_modules/', '--json']);
    assert.is(sent.status, 0, sent.stderr);
    assert.match(sent.stderr, /skipped \S+link: not a regular file/);
    assert.equal(keys('filtered/'), ['filtered/docs/a.md', 'filtered/keep.txt']);
    // --include takes only what matches; what a filter leaves out is not deleted either.
    ok(['put', file('sync-extra', 'x'), 'filtered/extra.log']);
    const only = json<Synced>(['sync', src, 's3:filtered', '--include', 'docs/**', '--include', '*.log', '--delete']);
    assert.equal(
      only.uploaded.map((u) => u.key),
      ['filtered/skip.log'],
    );
    assert.equal(only.deleted, ['filtered/extra.log']);
    assert.equal(keys('filtered/'), ['filtered/docs/a.md', 'filtered/keep.txt', 'filtered/skip.log']);
    // --size-only: a file rewritten at its size is not sent again.
    writeFileSync(join(src, 'keep.txt'), 'KEEP');
    assert.match(ok(['sync', src, 's3:filtered', '--size-only', '--exclude', 'node_modules/']), /^nothing to do/m);
    assert.is(ok(['cat', 'filtered/keep.txt']), 'keep');
    // A dry run down creates nothing, DEST included.
    const nowhere = join(dir, 'sync-nowhere');
    // s3:/filtered is filtered/, as s3:/ is the top level.
    const planned = json<Synced>(['sync', 's3:/filtered', nowhere, '-n']);
    assert.is(planned.downloaded.length, 3);
    assert.not.ok(existsSync(nowhere));
    const refusals: Array<[string[], RegExp]> = [
      [[src, join(dir, 'x')], /sync takes one local directory and one s3:PREFIX/],
      [['s3:a', 's3:b'], /sync takes one local directory and one s3:PREFIX/],
      [[src, 's3:', '--delete'], /"s3:" names the whole bucket; write s3:\/ to sync --delete at its top level/],
      [[src, 's3:x', '--checksum', '--size-only'], /pass one of them/],
      [[join(dir, 'sync-none'), 's3:x'], /sync-none: no such directory/],
      [[join(src, 'keep.txt'), 's3:x'], /keep\.txt is not a directory/],
      [[src, 's3:x', '--include', '[a'], /--include "\[a": the "\[" at 1 is never closed/],
      [[src, 's3:site//x'], /s3:site\/\/x has an empty, "\." or "\.\." part/],
      [['s3:a/../b', src], /s3:a\/\.\.\/b has an empty, "\." or "\.\." part/],
      [[src, 's3:./b'], /has an empty, "\." or "\.\." part/],
      [['s3:x', join(src, 'keep.txt', 'below')], /keep\.txt\/below cannot be used \(ENOTDIR\)/],
    ];
    for (const [args, message] of refusals) {
      const run = s3v4(['sync', ...args]);
      assert.is(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
    // A mistyped prefix holds nothing: --delete would empty DEST, so the sync is refused and DEST stays.
    const empty = s3v4(['sync', 's3:filtered-typo', src, '--delete']);
    assert.is(empty.status, 1, empty.stderr);
    assert.match(empty.stderr, /nothing is under "filtered-typo\/", so --delete would empty/);
    assert.ok(existsSync(join(src, 'keep.txt')));
    // Into a DEST that did not exist: refused, or without --delete said, and DEST is not left behind; nor by get -r.
    const missing = join(dir, 'typo-dest', 'below');
    assert.is(s3v4(['sync', 's3:filtered-typo', missing, '--delete']).status, 1);
    const quiet = s3v4(['sync', 's3:filtered-typo', missing]);
    assert.is(quiet.status, 0, quiet.stderr);
    assert.match(quiet.stderr, /^s3v4: nothing is under "filtered-typo\/"$/m);
    const got = s3v4(['get', 'filtered-typo/', missing, '--recursive']);
    assert.match(got.stderr, /no objects under "filtered-typo\/"/);
    assert.not.ok(existsSync(join(dir, 'typo-dest')), 'DEST was left behind');
    mkdirSync(join(dir, 'put-empty'));
    assert.match(s3v4(['put', join(dir, 'put-empty'), 'x/', '--recursive']).stderr, /no files under .*put-empty/);
    // So is an empty directory syncing up with --delete (an unmounted disk): the folder stays.
    mkdirSync(join(dir, 'sync-empty'));
    const emptied = s3v4(['sync', join(dir, 'sync-empty'), 's3:filtered', '--delete']);
    assert.is(emptied.status, 1, emptied.stderr);
    assert.match(emptied.stderr, /sync-empty is empty, so --delete would empty "filtered\/"/);
    assert.ok(keys('filtered/').length > 0);
    // put stores a file's mtime and get sets it back, so a sync after either finds the file unchanged.
    const dated = file('sync-dated/a.txt', 'dated');
    utimesSync(dated, new Date(Date.UTC(2001, 1, 3, 4, 5, 6, 789)), new Date(Date.UTC(2001, 1, 3, 4, 5, 6, 789)));
    ok(['put', dated, 'dated/a.txt']);
    ok(['get', 'dated/a.txt', join(dir, 'sync-dated-back.txt')]);
    assert.is(lstatSync(join(dir, 'sync-dated-back.txt')).mtimeMs, Date.UTC(2001, 1, 3, 4, 5, 6, 789));
    assert.match(ok(['sync', join(dir, 'sync-dated'), 's3:dated']), /^nothing to do: 1 file unchanged$/m);
    ok(['rm', 'dated/a.txt']);
    // A symbolic link where a downloaded folder goes is not followed: that folder fails, and its target is untouched.
    const into = join(dir, 'sync-into');
    const outsideDir = join(dir, 'sync-outside');
    mkdirSync(into);
    mkdirSync(outsideDir);
    symlinkSync(outsideDir, join(into, 'docs'));
    const linked = s3v4(['sync', 's3:filtered', into, '--delete', '--json']);
    assert.is(linked.status, 1, linked.stderr);
    assert.match(linked.stderr, /sync-into\/docs is not a directory/);
    assert.equal(readdirSync(outsideDir), []);
    assert.equal((JSON.parse(linked.stdout) as Synced).deleted, [], 'a sync with a failure deletes nothing');
    ok(['rm', '--prefix', 'filtered/', '--yes']);
  });

  local('an interrupted sync leaves no upload open and no partial file', async () => {
    file('sync-big/big.bin', randomBytes(48 * MiB));
    file('sync-big/small.txt', 'small');
    // Through the fault proxy, which holds back the parts of the upload and the body of the download: the interrupt
    // lands in the middle of the transfer however fast or busy the machine is.
    const proxy = await startFaultProxy(server.port);
    try {
      const config = writeConfig('sync-interrupted.toml', { endpoint: proxy.endpoint });
      const waitFor = async (what: () => Promise<boolean> | boolean) => {
        const deadline = Date.now() + 30_000;
        while (!(await what()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      };
      proxy.inject(
        { kind: 'stall' },
        { times: 1000, match: (method, url) => method === 'PUT' && /partNumber=/.test(url) },
      );
      const up = start(['sync', join(dir, 'sync-big'), 's3:syncbig'], config);
      await waitFor(async () => (await uploadsIn(server, BUCKET)).length > 0);
      up.child.kill('SIGINT');
      const run = await up.done;
      assert.is(run.status, 130, run.stderr);
      assert.equal(await uploadsIn(server, BUCKET), []);
      assert.not.ok(keys('syncbig/').includes('syncbig/big.bin'));

      proxy.reset();
      ok(['sync', join(dir, 'sync-big'), 's3:syncbig']);
      proxy.inject(
        { kind: 'stall-body' },
        { times: 1000, match: (method, url) => method === 'GET' && url.includes('big.bin') },
      );
      const dest = join(dir, 'sync-big-down');
      const down = start(['sync', 's3:syncbig', dest], config);
      await waitFor(() => existsSync(dest) && readdirSync(dest).some((n) => n.endsWith('.s3v4-partial')));
      down.child.kill('SIGINT');
      assert.is((await down.done).status, 130);
      assert.equal(
        readdirSync(dest).filter((name) => name.endsWith('.s3v4-partial') || name === 'big.bin'),
        [],
      );
    } finally {
      await proxy.close();
    }
    ok(['rm', '--prefix', 'syncbig/', '--yes']);
  });

  local('get never writes outside its directory: "..", absolute keys and symbolic links are refused', () => {
    const payload = file('evil.txt', 'evil');
    const hostile = ['trap/../../escaped.txt', 'trap//abs.txt', 'trap/ok/../../../up.txt'];
    for (const key of [...hostile, 'trap/fine.txt', 'trap/sub/fine.txt']) ok(['put', payload, key]);
    const dest = join(dir, 'jail', 'inner');
    mkdirSync(dest, { recursive: true });
    const run = s3v4(['get', 'trap/', dest, '--recursive', '--json']);
    assert.is(run.status, 1);
    const result = JSON.parse(run.stdout) as {
      downloaded: Array<{ key: string }>;
      failed: Array<{ key: string; message: string }>;
    };
    assert.equal(result.downloaded.map((d) => d.key).sort(), ['trap/fine.txt', 'trap/sub/fine.txt']);
    assert.equal(result.failed.map((f) => f.key).sort(), [...hostile].sort());
    assert.match(result.failed.find((f) => f.key === 'trap//abs.txt')!.message, /it is an absolute path/);
    assert.match(result.failed.find((f) => f.key === 'trap/../../escaped.txt')!.message, /it has a "\.\." segment/);
    for (const path of ['jail/escaped.txt', 'escaped.txt', 'abs.txt', 'up.txt', 'jail/up.txt'])
      assert.not.ok(existsSync(join(dir, path)), path);

    // One key into a directory: refused too, unless DEST names the file.
    const single = s3v4(['get', 'trap/../../escaped.txt', `${dest}/`]);
    assert.is(single.status, 1);
    assert.match(single.stderr, /refused "trap\/\.\.\/\.\.\/escaped\.txt": it has a "\.\." segment.*name a DEST file/);
    ok(['get', 'trap/../../escaped.txt', join(dest, 'named.txt')]);
    assert.is(readFileSync(join(dest, 'named.txt'), 'utf8'), 'evil');

    // A symbolic link inside DEST that leads out of it.
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    const linked = join(dir, 'linked');
    mkdirSync(linked);
    symlinkSync(outside, join(linked, 'sub'));
    const viaLink = s3v4(['get', 'trap/', linked, '--recursive']);
    assert.is(viaLink.status, 1);
    assert.match(viaLink.stderr, /refused "trap\/sub\/fine\.txt": it would write outside/);
    assert.equal(readdirSync(outside), []);

    // sync down takes the same keys: none lands outside DEST, and --delete empties nothing beside it.
    const synced = join(dir, 'jail', 'synced');
    file('jail/keep.txt', 'beside DEST');
    const sync = s3v4(['sync', 's3:trap', synced, '--delete', '--json']);
    assert.is(sync.status, 1, sync.stderr);
    const report = JSON.parse(sync.stdout) as { downloaded: Array<{ key: string }>; deleted: string[] };
    assert.equal(report.downloaded.map((d) => d.key).sort(), ['trap/fine.txt', 'trap/sub/fine.txt']);
    assert.equal(report.deleted, []);
    assert.match(sync.stderr, /refused "trap\/\/": it names the destination directory itself/);
    assert.match(sync.stderr, /refused "trap\/\.\.\/": it has a "\.\." segment/);
    assert.is(readFileSync(join(dir, 'jail/keep.txt'), 'utf8'), 'beside DEST');
    for (const path of ['jail/escaped.txt', 'escaped.txt', 'abs.txt', 'up.txt', 'jail/up.txt'])
      assert.not.ok(existsSync(join(dir, path)), path);
    ok(['rm', '--prefix', 'trap/', '--yes']);
  });

  local('get replaces only regular files: a FIFO and symbolic links stay, --force or not', () => {
    file('special/body.txt', 'from the bucket');
    ok(['put', join(dir, 'special/body.txt'), 'special/body.txt']);
    // A directory where no file can be made (sysfs refuses new files, even to root): the error and exit 1, never a
    // crash from the first reply's body left unread (undici's RequestAbortedError, with no one listening).
    const unwritable = s3v4(['get', 'special/body.txt', '/sys/s3v4-cannot-write.txt']);
    assert.is(unwritable.status, 1, unwritable.stderr);
    assert.match(unwritable.stderr, /^s3v4: EACCES: permission denied, open '\/sys\/\.s3v4-cannot-write\.txt\./);
    assert.not.match(unwritable.stderr, /Unhandled/);
    const fifo = join(dir, 'special', 'fifo');
    assert.is(spawnSync('mkfifo', [fifo]).status, 0);
    const target = file('special/target.txt', 'the link target');
    const link = join(dir, 'special', 'link.txt');
    symlinkSync(target, link);
    // The /dev/stdout of the report: a symbolic link to a device.
    const stdoutLink = join(dir, 'special', 'stdout');
    symlinkSync('/dev/stdout', stdoutLink);
    const cases: Array<[string, RegExp, () => boolean]> = [
      [fifo, /special\/fifo is a FIFO, not a regular file/, () => lstatSync(fifo).isFIFO()],
      [link, /special\/link\.txt is a symbolic link, not a regular file/, () => lstatSync(link).isSymbolicLink()],
      [
        stdoutLink,
        /special\/stdout is a symbolic link, not a regular file/,
        () => lstatSync(stdoutLink).isSymbolicLink(),
      ],
    ];
    for (const [dest, message, unchanged] of cases) {
      for (const force of [[], ['--force']]) {
        const run = s3v4(['get', 'special/body.txt', dest, ...force]);
        assert.is(run.status, 1, `${dest} ${force}: ${run.stderr}`);
        assert.match(run.stderr, message);
        assert.match(run.stderr, /download replaces only regular files; for standard output name DEST "-"/);
        assert.ok(unchanged(), `${dest} was replaced`);
      }
    }
    assert.is(readFileSync(target, 'utf8'), 'the link target');
    assert.equal(readdirSync(join(dir, 'special')).sort(), ['body.txt', 'fifo', 'link.txt', 'stdout', 'target.txt']);
    // A regular file is still replaced with --force.
    ok(['get', 'special/body.txt', target, '--force']);
    assert.is(readFileSync(target, 'utf8'), 'from the bucket');
    ok(['rm', 'special/body.txt']);
  });

  test('put - streams stdin and get - streams to stdout, through real pipes: empty and multi-MiB', () => {
    const big = file('stdin.bin', randomBytes(20 * MiB + 12345));
    const empty = file('stdin-empty.bin', '');
    const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
    for (const [path, size] of [
      [big, 20 * MiB + 12345],
      [empty, 0],
    ] as const) {
      const put = shell(`cat '${path}' | s3v4 put - pipes/${size} --json`);
      assert.equal(put.statuses, [0, 0], put.stderr);
      const uploaded = JSON.parse(put.stdout) as { uploaded: Array<{ file: string; key: string; size: number }> };
      assert.equal(
        uploaded.uploaded.map(({ file, key, size }) => ({ file, key, size })),
        [{ file: '-', key: `pipes/${size}`, size }],
      );
      assert.is(json(['stat', `pipes/${size}`]).size, size);
      const got = shell(`s3v4 get pipes/${size} - | sha256sum`);
      assert.equal(got.statuses, [0, 0], got.stderr);
      assert.is(got.stdout.split(' ')[0], sha(path));
      assert.is(got.stderr, '');
    }
    // Streamed, never held whole: 256 MiB through each way raises the peak RSS far less than 256 MiB.
    const command = [process.execPath, ...NODE_ARGS].map((a) => `'${a}'`).join(' ');
    const config = `--config '${join(dir, 'config.toml')}'`;
    const peak = (run: { stderr: string }) => Number(/^maxrss (\d+)$/m.exec(run.stderr)?.[1]) / 1024;
    const up = shell(`head -c 256M /dev/zero | /usr/bin/time -f 'maxrss %M' ${command} put - pipes/zeros ${config}`);
    assert.equal(up.statuses, [0, 0], up.stderr);
    const down = shell(`/usr/bin/time -f 'maxrss %M' ${command} get pipes/zeros - ${config} | wc -c`);
    assert.equal(down.statuses, [0, 0], down.stderr);
    assert.is(down.stdout.trim(), String(256 * MiB));
    for (const run of [up, down]) assert.ok(peak(run) < 200, `peak RSS ${peak(run)} MiB`);
    ok(['rm', 'pipes/zeros']);
    // Unknown length: the stream went through multipart (its ETag is "<md5>-<parts>").
    assert.match(json(['stat', `pipes/${20 * MiB + 12345}`]).etag as string, /-3$/);
    const prefix = s3v4(['put', '-', 'pipes/']);
    assert.is(prefix.status, 2);
    assert.match(prefix.stderr, /put - reads standard input and needs a KEY, not a prefix ending in \//);
    const mixed = s3v4(['put', '-', big, 'pipes/']);
    assert.is(mixed.status, 2);
    assert.match(mixed.stderr, /put - reads standard input: it must be the only FILE/);
    const tree = s3v4(['get', 'pipes/', '-', '--recursive']);
    assert.is(tree.status, 2);
    assert.match(tree.stderr, /get --recursive writes files; DEST "-" \(standard output\) takes one object/);
    ok(['rm', `pipes/${20 * MiB + 12345}`, 'pipes/0']);
  });

  local(
    'a closed stdout ends the command quietly with status 141: ls --recursive | head -1, get - | head -c',
    async () => {
      // Keys long enough that one page of the listing is far more than a pipe holds: head exits before ls is done.
      const long = (i: number) => `epipe/${String(i).padStart(4, '0')}-${'x'.repeat(900)}`;
      // A fresh pool: the spec's own may hold a connection the server has since closed for idleness.
      const fresh = new Agent();
      for (let i = 0; i < 150; i++)
        assert.is((await signedRequest(server, 'PUT', `/${BUCKET}/${long(i)}`, '', fresh)).status, 200);
      await fresh.close();
      const ls = shell('s3v4 ls --recursive epipe | head -1');
      assert.equal(ls.statuses, [141, 0], ls.stderr);
      assert.is(ls.stderr, '');
      assert.is(ls.stdout, `${long(0)}\n`);
      file('epipe.bin', randomBytes(20 * MiB));
      ok(['put', join(dir, 'epipe.bin'), 'epipe.bin']);
      const get = shell('s3v4 get epipe.bin - | head -c 10 | wc -c');
      assert.equal(get.statuses, [141, 0, 0], get.stderr);
      assert.is(get.stderr, '');
      assert.is(get.stdout.trim(), '10');
      ok(['rm', 'epipe.bin']);
      assert.is(ok(['rm', '--prefix', 'epipe/', '--yes']).trim(), 'deleted 150 objects');
    },
  );

  test('rm refuses an empty --prefix without --all; a PREFIX is a folder; rm KEY... names keys that did not exist', async () => {
    const one = file('folders.txt', 'f');
    for (const key of ['f/site/a.txt', 'f/site/b/c.txt', 'f/site2/d.txt', 'f/sitemap.xml']) ok(['put', one, key]);
    for (const args of [
      ['rm', '--prefix', '', '--yes'],
      ['rm', '--prefix', '/', '--yes'],
    ]) {
      const run = s3v4(args);
      assert.is(run.status, 2, run.stderr);
      assert.match(run.stderr, /an empty --prefix names the whole bucket; to delete every object pass --all --yes/);
    }
    const unconfirmed = s3v4(['rm', '--all']);
    assert.is(unconfirmed.status, 2);
    assert.match(unconfirmed.stderr, /rm --all deletes every object in the bucket; add --yes to confirm/);
    const both = s3v4(['rm', '--all', '--prefix', 'f/site', '--yes']);
    assert.is(both.status, 2);
    assert.match(both.stderr, /--all deletes the whole bucket; it takes no --prefix/);
    assert.equal(keys('f/'), ['f/site/a.txt', 'f/site/b/c.txt', 'f/site2/d.txt', 'f/sitemap.xml']);

    // "f/site" means f/site/, never f/site2/ or f/sitemap.xml.
    assert.equal(keys('f/site'), ['f/site/a.txt', 'f/site/b/c.txt']);
    const mirror = join(dir, 'folder-mirror');
    const got = json<{ downloaded: Array<{ key: string; file: string }> }>(['get', 'f/site', mirror, '--recursive']);
    assert.equal(
      got.downloaded.map((d) => d.key),
      ['f/site/a.txt', 'f/site/b/c.txt'],
    );
    assert.equal(readdirSync(mirror).sort(), ['a.txt', 'b']);
    assert.equal(json(['rm', '--prefix', 'f/site', '--yes']).deleted, ['f/site/a.txt', 'f/site/b/c.txt']);
    assert.equal(keys('f/'), ['f/site2/d.txt', 'f/sitemap.xml']);

    const missing = s3v4(['rm', 'f/site2/d.txt', 'f/site2/none', 'nothing-here', '--json']);
    assert.is(missing.status, 1, missing.stderr);
    assert.equal(JSON.parse(missing.stdout), {
      deleted: ['f/site2/d.txt'],
      missing: ['f/site2/none', 'nothing-here'],
      errors: [],
    });
    assert.match(missing.stderr, /^s3v4: "f\/site2\/none" did not exist$/m);
    assert.match(missing.stderr, /^s3v4: "nothing-here" did not exist$/m);
    const single = s3v4(['rm', 'f/site2/none']);
    assert.is(single.status, 1);
    assert.is(single.stdout, 'deleted 0 objects; 1 did not exist\n');
    assert.equal(keys('f/'), ['f/sitemap.xml']);
    ok(['rm', 'f/sitemap.xml']);

    // --all --yes, on a bucket of its own.
    assert.is((await raw('PUT', '/cli-all')).status, 200);
    const all = writeConfig('all.toml', { bucket: 'cli-all' });
    ok(['put', one, 'x/1'], { config: all });
    ok(['put', one, 'y'], { config: all });
    assert.equal(json(['rm', '--all', '--yes'], { config: all }).deleted, ['x/1', 'y']);
    assert.is(ok(['ls', '--recursive'], { config: all }), '');
  });

  // -------------------------------------------------------------------------
  // Links

  test("url gives the config's link; presign gives working GET and PUT links", async () => {
    file('link.txt', 'linked');
    ok(['put', join(dir, 'link.txt'), 'links/a b.txt']);
    ok(['put', join(dir, 'link.txt'), 'links/a b.txt'], {
      config: writeConfig('public.toml', { bucket: PUBLIC_BUCKET, presigned_expiry_secs: 0 }),
    });

    const presigned = json<{ url: string; kind: string }>(['url', 'links/a b.txt']);
    assert.is(presigned.kind, 'presigned');
    assert.match(presigned.url, /X-Amz-Expires=3600&/);
    const plain = json<{ url: string; kind: string }>(['url', 'links/a b.txt'], { config: join(dir, 'public.toml') });
    assert.equal(plain, {
      key: 'links/a b.txt',
      url: `${server.endpoint}/${PUBLIC_BUCKET}/links/a%20b.txt`,
      kind: 'plain',
    });
    const cdn = writeConfig('cdn.toml', { public_url_base: `${server.endpoint}/${PUBLIC_BUCKET}/` });
    assert.is(
      ok(['url', 'links/a b.txt'], { config: cdn }).trim(),
      `${server.endpoint}/${PUBLIC_BUCKET}/links/a%20b.txt`,
    );
    // The plain link works where the bucket can be made public: bucket policies (support/facts.ts).
    for (const link of on.facts.bucketPolicies ? [presigned.url, plain.url] : [presigned.url]) {
      const reply = await request(link, { dispatcher: agent });
      assert.is(await reply.body.text(), 'linked');
    }

    const get = ok(['presign', 'links/a b.txt', '--expires', '60']).trim();
    assert.match(get, /X-Amz-Expires=60&/);
    assert.is(await (await request(get, { dispatcher: agent })).body.text(), 'linked');
    const put = json<{ url: string; method: string; expiresIn: number }>([
      'presign',
      'links/uploaded.txt',
      '--method',
      'put',
    ]);
    assert.is(put.method, 'PUT');
    assert.is(put.expiresIn, 3600);
    const stored = await request(put.url, { method: 'PUT', body: 'via presigned PUT', dispatcher: agent });
    assert.is(stored.statusCode, 200, await stored.body.text());
    assert.is(ok(['stat', 'links/uploaded.txt']).match(/^size: +(\d+)/m)?.[1], '17');
    // The link is for this key and method only.
    const tampered = await request(get.replace('a%20b.txt', 'uploaded.txt'), { dispatcher: agent });
    assert.is(tampered.statusCode, 403);
    await tampered.body.dump();
    ok(['rm', '--prefix', 'links/', '--yes']);
  });

  // -------------------------------------------------------------------------
  // Terminal, Ctrl-C

  local("a progress bar on a terminal's stderr, none when piped", () => {
    const big = file('progress.bin', randomBytes(20 * MiB));
    const piped = s3v4(['put', big, 'progress.bin']);
    assert.is(piped.status, 0);
    assert.is(piped.stderr, '');
    const { output } = inTerminal(['get', 'progress.bin', join(dir, 'progress-copy.bin')]);
    const frames = output.split('\r\x1b[K').slice(1);
    assert.ok(frames.length >= 1, JSON.stringify(output.slice(0, 300)));
    assert.match(
      frames.at(-1)!,
      /^progress\.bin {2}\[#{20}\] 100% 20\.0 MiB\/20\.0 MiB [\d.]+ [KMG]?i?B\/s ETA 0s\r?\n/,
    );
    assert.ok(readFileSync(join(dir, 'progress-copy.bin')).equals(readFileSync(big)));
    ok(['rm', 'progress.bin']);
  });

  local('a recursive transfer on a terminal has one line for the whole: files, bytes, rate and ETA', () => {
    for (let i = 0; i < 40; i++) file(join('bulk-tty', `d${i % 4}`, `f${i}.bin`), randomBytes(2048));
    const run = (args: string[]) => inTerminal(args).output;
    for (const output of [
      run(['put', join(dir, 'bulk-tty'), 'bulk-tty/', '-r', '-j', '4']),
      run(['get', 'bulk-tty/', join(dir, 'bulk-tty-copy'), '-r', '-j', '4']),
    ]) {
      const frames = output
        .split('\r\x1b[K')
        .map((frame) => frame.split(/\r?\n/)[0]!)
        .filter((frame) => / files {2}/.test(frame));
      assert.ok(frames.length >= 1, JSON.stringify(output.slice(0, 300)));
      for (const frame of frames)
        assert.match(frame, /^\d+\/\d+\+? files {2}[\d.]+ [KMG]?i?B\/[\d.]+ [KMG]?i?B\+? {2}[\d.]+ [KMG]?i?B\/s/);
      assert.match(frames.at(-1)!, /^40\/40 files {2}80\.0 KiB\/80\.0 KiB {2}[\d.]+ [KMG]?i?B\/s ETA 0s$/);
      // Each file's own line is written above the progress line, never into it.
      assert.is(output.match(/-> /g)?.length, 40);
    }
    ok(['rm', '--prefix', 'bulk-tty/', '--yes']);
  });

  local('in a 40-column terminal the bar never wraps, redraws at most every 100 ms and ends at 100%', () => {
    const big = file('narrow.bin', randomBytes(20 * MiB));
    /** Runs the command under a 40-column pseudo-terminal; the frames it drew, and how long it took. */
    const narrow = (args: string[]) => {
      const { output, elapsed } = inTerminal(args, 40);
      // Each frame starts with carriage return and erase-line; the last one ends at the newline after it.
      const frames = output
        .split('\r\x1b[K')
        .slice(1)
        .map((frame) => frame.split(/\r?\n/)[0]!);
      assert.ok(frames.length >= 1, JSON.stringify(output.slice(0, 300)));
      for (const frame of frames) assert.ok([...frame].length < 40, `${[...frame].length} columns: ${frame}`);
      // At most one frame per 100 ms of the run, plus the first and the last.
      assert.ok(frames.length <= elapsed / 100 + 2, `${frames.length} frames in ${Math.round(elapsed)} ms`);
      return frames;
    };
    const put = narrow(['put', big, 'progress/a-rather-long-key-name-for-a-narrow-terminal.bin']);
    assert.match(put.at(-1)!, /^…[\w.-]+ {2}\[#+\] 100%/);
    const get = narrow([
      'get',
      'progress/a-rather-long-key-name-for-a-narrow-terminal.bin',
      join(dir, 'narrow-copy.bin'),
    ]);
    assert.match(get.at(-1)!, /\[#+\] 100%/);
    assert.ok(readFileSync(join(dir, 'narrow-copy.bin')).equals(readFileSync(big)));
    ok(['rm', 'progress/a-rather-long-key-name-for-a-narrow-terminal.bin']);
  });

  test('Ctrl-C, SIGTERM and SIGHUP abort a multipart upload and remove a partial download', async () => {
    const big = file('interrupt.bin', randomBytes(160 * MiB));
    const interrupted = async (args: string[], ready: () => Promise<boolean>, signal: NodeJS.Signals = 'SIGINT') => {
      const { child, done } = start(args);
      const deadline = Date.now() + 30_000;
      while (!(await ready()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      child.kill(signal);
      return done;
    };

    const uploading = async () => (await uploadsIn(server, BUCKET)).length > 0;
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const up = await interrupted(['put', big, 'interrupt.bin'], uploading, signal);
      assert.is(up.status, 130, `${signal}: ${up.stderr}`);
      assert.match(up.stderr, /interrupted: nothing was left half-done/);
      assert.equal(await uploadsIn(server, BUCKET), [], `${signal} left the upload open`);
      assert.is((await raw('HEAD', `/${BUCKET}/interrupt.bin`)).status, 404);
    }

    ok(['put', big, 'interrupt.bin']);
    const dest = join(dir, 'partial');
    mkdirSync(dest);
    const partialExists = async () => readdirSync(dest).some((name) => name.endsWith('.s3v4-partial'));
    for (const signal of ['SIGINT', 'SIGHUP'] as const) {
      const down = await interrupted(['get', 'interrupt.bin', join(dest, 'interrupt.bin')], partialExists, signal);
      assert.is(down.status, 130, `${signal}: ${down.stderr}`);
      assert.equal(readdirSync(dest), [], `${signal} left a partial download`);
    }
    ok(['rm', 'interrupt.bin']);
  });

  local(
    'put --resume: killed at about 60%, it goes on from the parts it verified; a changed part is sent again',
    async () => {
      const parts = 12;
      const body = randomBytes(parts * 8 * MiB);
      const path = file('resume.bin', body);
      const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
      /** The parts the server holds of the key's unfinished upload. */
      const partsOf = async (key: string) => {
        const upload = (await uploadsIn(server, BUCKET)).find((u) => u.key === key);
        if (upload === undefined) return 0;
        const listed = await raw('GET', `/${BUCKET}/${key}?uploadId=${encodeURIComponent(upload.uploadId)}`);
        return (listed.text.match(/<Part>/g) ?? []).length;
      };
      /** Starts the upload and kills it (SIGKILL: no clean-up of any kind) once the server holds 60% of its parts. */
      const killedAt60 = async (key: string) => {
        const { child, done } = start(['put', path, key, '--resume']);
        const deadline = Date.now() + 60_000;
        while ((await partsOf(key)) < parts * 0.6 && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 5));
        child.kill('SIGKILL');
        assert.is((await done).status, null, 'the upload ended before it was killed');
        return settled(() => partsOf(key));
      };
      /** The object's bytes, as the command downloads them. */
      const stored = (key: string) => {
        ok(['get', key, join(dir, 'resume-back.bin'), '--force']);
        return sha(readFileSync(join(dir, 'resume-back.bin')));
      };
      type Resumed = { uploaded: Array<{ size: number; resumed: { parts: number; bytes: number } }> };

      const held = await killedAt60('resume/a.bin');
      assert.ok(held >= parts * 0.6 && held < parts, `the server held ${held} parts`);
      const resumed = json<Resumed>(['put', path, 'resume/a.bin', '--resume']).uploaded[0]!;
      // Every part the server held was verified and kept; the rest was sent.
      assert.equal(resumed.resumed, { parts: held, bytes: held * 8 * MiB });
      assert.is(stored('resume/a.bin'), sha(body));
      assert.equal(await uploadsIn(server, BUCKET), []);

      // The file changes between the kill and the resume, at its size: the first part no longer matches and is sent
      // again, and the object is the file as it is now.
      const kept = await killedAt60('resume/b.bin');
      body[100] = body[100]! ^ 0xff;
      writeFileSync(path, body);
      const changed = json<Resumed>(['put', path, 'resume/b.bin', '--resume']).uploaded[0]!;
      assert.is(changed.resumed.parts, kept - 1);
      assert.is(stored('resume/b.bin'), sha(body));

      // Ctrl-C with --resume keeps the upload and says how to go on.
      const { child, done } = start(['put', path, 'resume/c.bin', '--resume']);
      const deadline = Date.now() + 60_000;
      while ((await partsOf('resume/c.bin')) < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 5));
      child.kill('SIGINT');
      const interrupted = await done;
      assert.is(interrupted.status, 130, interrupted.stderr);
      assert.match(
        interrupted.stderr,
        /interrupted: any multipart upload it had begun is kept on the server: the same put --resume continues it/,
      );
      assert.ok((await partsOf('resume/c.bin')) >= 2);
      assert.ok(json<Resumed>(['put', path, 'resume/c.bin', '--resume']).uploaded[0]!.resumed.parts >= 2);
      assert.equal(await uploadsIn(server, BUCKET), []);
      ok(['rm', '--prefix', 'resume/', '--yes']);
    },
  );

  // -------------------------------------------------------------------------
  // doctor

  interface DoctorReport {
    ok: boolean;
    checks: Array<{ name: string; ok: boolean; skipped?: boolean; detail: string; fix?: string }>;
  }

  /** The doctor's --json report; with `text`, also its output for people (a second run), which must exit the same. */
  function doctor(config: string, text = false): { status: number | null; report: DoctorReport; text: string } {
    const run = s3v4(['doctor', '--json'], { config });
    const human = text ? s3v4(['doctor'], { config }) : undefined;
    if (human !== undefined) assert.is(human.status, run.status);
    return {
      status: run.status,
      report: JSON.parse(run.stdout) as DoctorReport,
      text: human === undefined ? '' : human.stdout + human.stderr,
    };
  }

  const failed = (report: DoctorReport) => report.checks.filter((check) => !check.ok && check.skipped !== true);
  const skipped = (report: DoctorReport) => report.checks.filter((check) => check.skipped === true).map((c) => c.name);

  test('doctor passes a good config, one line per check, and leaves nothing behind', () => {
    const good = doctor(join(dir, 'config.toml'), true);
    assert.is(good.status, 0, good.text);
    assert.ok(good.report.ok);
    assert.equal(
      good.report.checks.map((c) => [c.name, c.ok]),
      [
        ['config', true],
        ['endpoint', true],
        ['clock', true],
        ['credentials', true],
        ['bucket', true],
        ['addressing', true],
        ['link', true],
        ['policy', true],
      ],
    );
    assert.match(good.text, /^ok {4}bucket {7}bucket cli exists, in region us-east-1$/m);
    assert.match(good.text, /^ok {4}link {9}the presigned link \(valid 3600 s\) serves the object$/m);
    assert.match(good.text, /^all 8 checks passed$/m);

    // Public bucket, plain links; and a CDN base that serves the bucket: where buckets can be public.
    if (!on.facts.bucketPolicies) return;
    const plain = doctor(writeConfig('doctor-public.toml', { bucket: PUBLIC_BUCKET, presigned_expiry_secs: 0 }));
    assert.is(plain.status, 0, plain.text);
    assert.equal(
      plain.report.checks.filter((c) => c.name === 'link').map((c) => c.detail),
      ['the plain link (presigned_expiry_secs = 0) serves the object'],
    );
    const cdn = doctor(
      writeConfig('doctor-cdn.toml', {
        bucket: PUBLIC_BUCKET,
        presigned_expiry_secs: 0,
        public_url_base: `${server.endpoint}/${PUBLIC_BUCKET}`,
      }),
    );
    assert.is(cdn.status, 0, cdn.text);
    assert.equal(
      cdn.report.checks.filter((c) => c.name === 'link').map((c) => c.detail),
      [`the CDN link (${server.endpoint}/${PUBLIC_BUCKET}/<key>) serves the object`],
    );
    assert.equal(keys('s3v4-doctor/'), []);
    assert.equal(ok(['ls', 's3v4-doctor/', '--recursive'], { config: join(dir, 'doctor-public.toml') }), '');
  });

  test('doctor judges the region by what the server enforces, not by the name GetBucketLocation gives', async () => {
    // Ceph checks the signature with whatever region it was signed for: a stock Ceph names its zonegroup "default"
    // (this one "us-east-1"), and any region works. The requests are accepted, so the region is right. Swift's s3api
    // refuses any region but its own, and names it.
    for (const region of on.facts.enforcesRegion ? [] : ['default', 'eu-west-1']) {
      const accepted = doctor(writeConfig(`doctor-${region}.toml`, { region }), true);
      assert.is(accepted.status, 0, accepted.text);
      assert.equal(failed(accepted.report), []);
      assert.is(
        accepted.report.checks.find((c) => c.name === 'bucket')?.detail,
        `bucket cli exists and accepts requests signed for region ${region} (GetBucketLocation names us-east-1)`,
      );
      assert.match(accepted.text, /^all 8 checks passed$/m);
    }
    if (on.facts.enforcesRegion) {
      const refused = doctor(writeConfig('doctor-default.toml', { region: 'default' }), true);
      assert.is(refused.status, 1, refused.text);
      assert.equal(failed(refused.report), [
        {
          name: 'bucket',
          ok: false,
          detail: 'requests signed for region default are refused: AuthorizationHeaderMalformed',
          fix: `the bucket is in ${server.region}; set region = "${server.region}"`,
        },
      ]);
    }
    // A server that enforces the region refuses the signed request and names the one it wants (AWS does).
    const proxy = await startFaultProxy(server.port);
    try {
      const wrong =
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AuthorizationHeaderMalformed</Code>' +
        "<Message>The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'ap-south-1'</Message>" +
        '<Region>ap-south-1</Region></Error>';
      proxy.inject(
        { kind: 'reply', status: 400, body: wrong, headers: { 'content-type': 'application/xml' } },
        { times: 1000, match: (method) => method === 'GET' },
      );
      const run = await start(
        ['doctor', '--json'],
        writeConfig('doctor-enforced.toml', { endpoint: proxy.endpoint, region: 'eu-west-1' }),
      ).done;
      assert.is(run.status, 1, run.stderr);
      const report = JSON.parse(run.stdout) as DoctorReport;
      assert.equal(failed(report), [
        {
          name: 'bucket',
          ok: false,
          detail: 'requests signed for region eu-west-1 are refused: AuthorizationHeaderMalformed',
          fix: 'the bucket is in ap-south-1; set region = "ap-south-1"',
        },
      ]);
    } finally {
      await proxy.close();
    }
  });

  test('doctor fails with the fix, and counts the checks it skipped: wrong secret, missing bucket, private bucket', () => {
    // What an anonymous GET gets: an S3 error (Ceph), or a bare 400 page whatever is wrong (Swift, support/facts.ts).
    const anonymousRefusal = (code: string, status = on.facts.anonymous.status) =>
      on.facts.anonymous.xml ? `${status} ${code}` : `${on.facts.anonymous.status}`;
    const secret = doctor(
      writeConfig('doctor-secret.toml', { secret_key: `${server.secretAccessKey.slice(0, -4)}AAAA` }),
      true,
    );
    assert.is(secret.status, 1);
    assert.equal(
      failed(secret.report).map((c) => c.name),
      ['credentials'],
    );
    assert.is(failed(secret.report)[0]!.detail, `access key ${server.accessKeyId} refused: SignatureDoesNotMatch`);
    assert.match(failed(secret.report)[0]!.fix!, /check that secret_key belongs to access_key/);
    assert.match(secret.text, /^FAIL {2}credentials {2}.*\n {19}fix: /m);
    // The checks after the failed one did not run, and the summary counts them.
    assert.equal(skipped(secret.report), ['bucket', 'addressing', 'link', 'policy']);
    assert.match(secret.text, /^skip {2}bucket {7}not run: an earlier check failed$/m);
    assert.match(
      secret.text,
      /^s3v4: 1 of 8 checks failed: credentials; 4 skipped: bucket, addressing, link, policy$/m,
    );

    const missing = doctor(writeConfig('doctor-missing.toml', { bucket: 'no-such-bucket' }));
    assert.is(missing.status, 1);
    assert.equal(
      failed(missing.report).map((c) => [c.name, c.detail]),
      [['bucket', `bucket no-such-bucket does not exist at ${server.endpoint}`]],
    );
    // Credentials come before the bucket, in their place, as not judged: the server refused the bucket first.
    assert.equal(missing.report.checks.map((c) => [c.name, c.ok, c.skipped === true]).slice(3, 5), [
      ['credentials', false, true],
      ['bucket', false, false],
    ]);

    const privatePlain = doctor(writeConfig('doctor-private.toml', { presigned_expiry_secs: 0 }));
    assert.is(privatePlain.status, 1);
    const link = failed(privatePlain.report);
    assert.equal(
      link.map((c) => [c.name, c.detail]),
      [['link', `the plain link (presigned_expiry_secs = 0) answered HTTP ${anonymousRefusal('AccessDenied')}`]],
    );
    assert.match(link[0]!.fix!, /allow public reads on the bucket .* or set presigned_expiry_secs = 3600/);
    // The temporary object is removed even when a check failed.
    assert.equal(keys('s3v4-doctor/'), []);

    const badCdn = doctor(writeConfig('doctor-badcdn.toml', { public_url_base: `${server.endpoint}/elsewhere` }));
    assert.is(badCdn.status, 1);
    assert.equal(
      failed(badCdn.report).map((c) => c.name),
      ['link'],
    );
    assert.match(
      failed(badCdn.report)[0]!.detail,
      new RegExp(`the CDN link \\(.*/elsewhere/<key>\\) answered HTTP ${anonymousRefusal('NoSuchBucket', 404)}$`),
    );

    const invalid = doctor(writeConfig('doctor-invalid.toml', { bucket: '' }));
    assert.is(invalid.status, 2);
    assert.equal(invalid.report.checks.map((c) => [c.name, c.ok]).slice(0, 1), [['config', false]]);
    assert.equal(skipped(invalid.report), [
      'endpoint',
      'clock',
      'credentials',
      'bucket',
      'addressing',
      'link',
      'policy',
    ]);
    assert.match(invalid.report.checks[0]!.detail, /bucket/);
  });

  // Bucket policies are Ceph's here: Swift's s3api answers PutBucketPolicy with 501 NotImplemented (support/facts.ts).
  if (on.facts.bucketPolicies)
    test("doctor passes the reference's minimum policy (object actions only) and names a missing action", async () => {
      /** A user of its own and a bucket whose policy grants that user `actions` on its objects, nothing more. */
      const restricted = async (bucket: string, actions: string[]) => {
        const user = await server.createUser!(bucket);
        assert.is((await raw('PUT', `/${bucket}`)).status, 200);
        const policy = {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: [`arn:aws:iam:::user/${bucket}`] },
              Action: actions,
              Resource: [`arn:aws:s3:::${bucket}/*`],
            },
          ],
        };
        assert.is((await raw('PUT', `/${bucket}?policy`, JSON.stringify(policy))).status, 204);
        return writeConfig(`${bucket}.toml`, {
          access_key: user.accessKeyId,
          secret_key: user.secretAccessKey,
          bucket,
        });
      };
      const minimal = await restricted('cli-minimal', ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']);
      const passed = doctor(minimal);
      assert.is(passed.status, 0, JSON.stringify(failed(passed.report)));
      const detail = (name: string) => passed.report.checks.find((c) => c.name === name)?.detail;
      // Without s3:ListBucket a missing key is AccessDenied, and without s3:GetBucketLocation the region cannot be read.
      assert.match(
        detail('credentials') ?? '',
        /accepted, or refused by a server that says AccessDenied for both \(a signed GET of a missing key gave AccessDenied; the bucket and policy checks tell\)$/,
      );
      assert.is(
        detail('bucket'),
        'bucket cli-minimal answers requests signed for us-east-1; its region could not be read (AccessDenied)',
      );
      // Nor can rm tell a missing key: without s3:ListBucket a HEAD of one is 403, not 404. It deletes it, and says so.
      const unknown = s3v4(['rm', 'never-there.txt'], { config: minimal });
      assert.is(unknown.status, 0, unknown.stderr);
      assert.match(
        unknown.stderr,
        /could not tell whether "never-there\.txt" exists \(HEAD: 403 \w+\); deleting it anyway/,
      );
      const ls = s3v4(['ls'], { config: minimal });
      assert.is(ls.status, 1);
      assert.match(
        ls.stderr,
        /GET \?list-type=2: 403 AccessDenied: .*the minimum policy is s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::cli-minimal\/\*/,
      );

      const noDelete = await restricted('cli-nodelete', ['s3:PutObject', 's3:GetObject']);
      const refused = doctor(noDelete);
      assert.is(refused.status, 1);
      const [policy] = failed(refused.report);
      assert.is(failed(refused.report).length, 1);
      assert.is(policy!.name, 'policy');
      assert.match(
        policy!.detail,
        /^DELETE s3v4-doctor\/\S+: 403 AccessDenied: .*; the temporary object s3v4-doctor\/\S+ is still in the bucket$/,
      );
      assert.match(
        policy!.fix!,
        /^grant s3:DeleteObject \(the minimum policy: s3:PutObject, s3:GetObject and s3:DeleteObject on arn:aws:s3:::/,
      );
    });

  test("doctor through a faulty proxy: a server clock 10 minutes off, and COS's PathStyleDomainForbidden", async () => {
    const proxy = await startFaultProxy(server.port);
    try {
      const config = writeConfig('doctor-proxy.toml', { endpoint: proxy.endpoint });
      // The proxy lives in this process: the doctor runs without blocking it.
      const doctorAsync = async () => {
        const run = await start(['doctor', '--json'], config).done;
        return { status: run.status, report: JSON.parse(run.stdout) as DoctorReport };
      };
      proxy.inject({ kind: 'date', ms: 10 * 60_000 }, { times: 1000 });
      const skewed = await doctorAsync();
      assert.is(skewed.status, 1);
      assert.equal(
        failed(skewed.report).map((c) => c.name),
        ['clock'],
        JSON.stringify(failed(skewed.report)),
      );
      assert.match(failed(skewed.report)[0]!.detail, /^(599|600|601) s behind the server's \(at most 300 s\)$/);
      assert.match(failed(skewed.report)[0]!.fix!, /synchronise this machine's clock \(NTP\)/);

      proxy.reset();
      proxy.inject(
        { kind: 'reply', status: 403, code: 'PathStyleDomainForbidden' },
        { times: 1000, match: (method) => method === 'PUT' },
      );
      const forbidden = await doctorAsync();
      assert.is(forbidden.status, 1);
      assert.equal(failed(forbidden.report), [
        {
          name: 'addressing',
          ok: false,
          detail: 'path-style requests are refused: PathStyleDomainForbidden',
          fix: 'set force_path_style = false',
        },
      ]);
    } finally {
      await proxy.close();
    }
  });

  test('doctor says when the endpoint does not answer', async () => {
    const port = await freePort();
    const down = doctor(writeConfig('doctor-down.toml', { endpoint: `http://127.0.0.1:${port}` }), true);
    assert.is(down.status, 1);
    assert.equal(
      down.report.checks.slice(0, 2).map((c) => [c.name, c.ok]),
      [
        ['config', true],
        ['endpoint', false],
      ],
    );
    assert.match(
      down.report.checks[1]!.detail,
      new RegExp(`no answer from http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
    assert.equal(skipped(down.report), ['clock', 'credentials', 'bucket', 'addressing', 'link', 'policy']);
    assert.match(
      down.text,
      /^s3v4: 1 of 8 checks failed: endpoint; 6 skipped: clock, credentials, bucket, addressing, link, policy$/m,
    );

    // https:// against Ceph's plain-http port: the detail says so.
    const plain = doctor(writeConfig('doctor-plain.toml', { endpoint: server.endpoint.replace(/^http:/, 'https:') }));
    assert.is(plain.status, 1);
    assert.match(
      failed(plain.report)[0]!.detail,
      /\(ERR_SSL_WRONG_VERSION_NUMBER: the server speaks plain HTTP on this port, not TLS; use http:\/\/ in endpoint/,
    );
  });

  local(
    'doctor suggests force_path_style = true for a host that does not resolve only when requests are virtual-hosted',
    () => {
      const endpoint = (forcePathStyle: boolean) =>
        new Endpoint(
          storageConfig(
            {
              endpoint: 'https://gw.example.net',
              bucket: 'agentverse',
              region: 'us-east-1',
              forcePathStyle,
              accessKeyId: 'AKID',
              secretAccessKey: 'secret',
            },
            {},
          ),
        );
      assert.is(
        unresolvedFix(endpoint(false)),
        'check endpoint; virtual-hosted requests go to agentverse.gw.example.net, which must resolve too, else set force_path_style = true',
      );
      assert.is(unresolvedFix(endpoint(true)), 'check the host in endpoint, and DNS on this machine');
    },
  );

  test('stat with a wrong secret: the bodiless 403 of a HEAD comes with a hint', () => {
    const wrong = writeConfig('stat-secret.toml', { secret_key: `${server.secretAccessKey.slice(0, -4)}AAAA` });
    const run = s3v4(['stat', 'ops/anything'], { config: wrong });
    assert.is(run.status, 1);
    assert.match(
      run.stderr,
      /HEAD ops\/anything: 403 Forbidden: forbidden \(the reply gives no reason: check that secret_key belongs to access_key/,
    );
  });
});
