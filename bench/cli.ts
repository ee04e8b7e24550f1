/**
 * The command line against the copy commands of rclone, the AWS CLI and
 * s3cmd (all from Debian, run from /usr/bin, installed here when missing), moving the same two
 * trees up and down a one-node Ceph RADOS Gateway on 127.0.0.1: 1000 files of
 * 4 KiB in 20 folders, and 10 files of 64 MiB. Each transfer is one fresh
 * process, timed from spawn to exit, with its peak RSS (GNU time's %M); tools
 * are interleaved round by round, order rotated each round. Every download is
 * compared with the source tree, byte for byte, before its time counts.
 *
 * s3v4 runs as published: the built `dist/cli.js` under plain node.
 *
 * Then s3v4's peak RSS for trees of 1,000, 5,000 and 20,000 files (S3V4_BENCH_MEMORY=0 skips it).
 *
 * Run: npm run bench:cli   (S3V4_BENCH_ROUNDS, default 2; S3V4_BENCH_BIG=0 skips the 64 MiB files;
 * S3V4_BENCH_JOBS=4,8,16 gives s3v4 a row per --jobs; S3V4_BENCH_TOOLS=s3v4,rclone keeps only the tools named)
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPackage } from '../spec/support/build.js';
import { startRgw } from '../spec/support/rgw.js';
import { commandsExist, ensurePackages, signedRequest, type S3Server } from '../spec/support/servers.js';
import { fmt, spread } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUCKET = 's3v4-cli-bench';
const MiB = 1024 * 1024;

interface Tool {
  name: string;
  /** The command that needs to exist, and the Debian package that has it. */
  command: string;
  pkg?: string;
  /** The command line that prints its version. */
  version: string[];
  up(tree: string, prefix: string): string[];
  down(prefix: string, into: string): string[];
  /** Its sync command, up and down, for the tools that have one (s3v4 and rclone). */
  syncUp?(tree: string, prefix: string): string[];
  syncDown?(prefix: string, into: string): string[];
  env?: Record<string, string>;
}

interface Sample {
  seconds: number;
  peakMiB: number;
}

/** Every file under `directory` and the SHA-256 of its bytes, by relative path. */
function digests(directory: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(directory, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
  }
  return out;
}

function makeTree(directory: string, folders: number, files: number, size: number): void {
  for (let f = 0; f < folders; f++) {
    const folder = join(directory, `d${String(f).padStart(2, '0')}`);
    mkdirSync(folder, { recursive: true });
    for (let i = 0; i < files / folders; i++)
      writeFileSync(join(folder, `f${String(i).padStart(4, '0')}.bin`), randomBytes(size));
  }
}

function tools(rgw: S3Server, work: string): Tool[] {
  const s3v4Config = join(work, 's3v4.toml');
  writeFileSync(
    s3v4Config,
    [
      '[object_store]',
      'backend = "s3"',
      '',
      '[object_store.s3]',
      `endpoint = "${rgw.endpoint}"`,
      `access_key = "${rgw.accessKeyId}"`,
      `secret_key = "${rgw.secretAccessKey}"`,
      `bucket = "${BUCKET}"`,
      `region = "${rgw.region}"`,
      'force_path_style = true',
      'presigned_expiry_secs = 0',
      '',
    ].join('\n'),
  );
  const rcloneConfig = join(work, 'rclone.conf');
  writeFileSync(
    rcloneConfig,
    `[ceph]\ntype = s3\nprovider = Ceph\naccess_key_id = ${rgw.accessKeyId}\nsecret_access_key = ${rgw.secretAccessKey}\nendpoint = ${rgw.endpoint}\nregion = ${rgw.region}\n`,
  );
  const host = rgw.endpoint.replace(/^http:\/\//, '');
  const s3cmdConfig = join(work, 's3cmd.cfg');
  writeFileSync(
    s3cmdConfig,
    `[default]\naccess_key = ${rgw.accessKeyId}\nsecret_key = ${rgw.secretAccessKey}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nbucket_location = ${rgw.region}\nsignature_v2 = False\n`,
  );
  const cli = join(ROOT, 'dist', 'cli.js');
  const awsEnv = {
    AWS_ACCESS_KEY_ID: rgw.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    AWS_DEFAULT_REGION: rgw.region,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  const awsCopy = ['/usr/bin/aws', '--endpoint-url', rgw.endpoint, 's3', 'cp', '--quiet', '--recursive'];
  return [
    // One row per --jobs of S3V4_BENCH_JOBS (a comma-separated list, for choosing the default); the default alone without it.
    ...(process.env.S3V4_BENCH_JOBS?.split(',') ?? ['']).map(
      (jobs): Tool => ({
        name: jobs === '' ? 's3v4' : `s3v4 --jobs ${jobs}`,
        command: process.execPath,
        version: [process.execPath, cli, '--version'],
        up: (tree, prefix) => [
          ...[process.execPath, cli, '--config', s3v4Config, 'put', tree, `${prefix}/`, '--recursive'],
          ...(jobs === '' ? [] : ['--jobs', jobs]),
        ],
        down: (prefix, into) => [
          ...[process.execPath, cli, '--config', s3v4Config, 'get', `${prefix}/`, into, '--recursive'],
          ...(jobs === '' ? [] : ['--jobs', jobs]),
        ],
        syncUp: (tree, prefix) => [
          ...[process.execPath, cli, '--config', s3v4Config, 'sync', tree, `s3:${prefix}/`],
          ...(jobs === '' ? [] : ['--jobs', jobs]),
        ],
        syncDown: (prefix, into) => [
          ...[process.execPath, cli, '--config', s3v4Config, 'sync', `s3:${prefix}/`, into],
          ...(jobs === '' ? [] : ['--jobs', jobs]),
        ],
        // Its sync's records (lib/records.ts) start empty in the bench's own directory, as on a machine new to the tree.
        env: { XDG_CACHE_HOME: join(work, `cache${jobs}`) },
      }),
    ),
    {
      name: 'rclone',
      command: '/usr/bin/rclone',
      pkg: 'rclone',
      version: ['/usr/bin/rclone', '--version'],
      up: (tree, prefix) => ['/usr/bin/rclone', '--config', rcloneConfig, 'copy', tree, `ceph:${BUCKET}/${prefix}`],
      down: (prefix, into) => ['/usr/bin/rclone', '--config', rcloneConfig, 'copy', `ceph:${BUCKET}/${prefix}`, into],
      syncUp: (tree, prefix) => ['/usr/bin/rclone', '--config', rcloneConfig, 'sync', tree, `ceph:${BUCKET}/${prefix}`],
      syncDown: (prefix, into) => [
        '/usr/bin/rclone',
        '--config',
        rcloneConfig,
        'sync',
        `ceph:${BUCKET}/${prefix}`,
        into,
      ],
    },
    {
      name: 'aws-cli',
      command: '/usr/bin/aws',
      pkg: 'awscli',
      env: awsEnv,
      version: ['/usr/bin/aws', '--version'],
      up: (tree, prefix) => [...awsCopy, tree, `s3://${BUCKET}/${prefix}/`],
      down: (prefix, into) => [...awsCopy, `s3://${BUCKET}/${prefix}/`, into],
    },
    {
      name: 's3cmd',
      command: '/usr/bin/s3cmd',
      pkg: 's3cmd',
      version: ['/usr/bin/s3cmd', '--version'],
      up: (tree, prefix) => [
        '/usr/bin/s3cmd',
        '-c',
        s3cmdConfig,
        '--quiet',
        'put',
        '--recursive',
        `${tree}/`,
        `s3://${BUCKET}/${prefix}/`,
      ],
      down: (prefix, into) => [
        '/usr/bin/s3cmd',
        '-c',
        s3cmdConfig,
        '--quiet',
        'get',
        '--recursive',
        `s3://${BUCKET}/${prefix}/`,
        `${into}/`,
      ],
    },
  ];
}

/** The rows of each tree, in the table's order: copies, then (the small tree only) syncs, first and once more. */
const DIRECTIONS = ['up', 'down', 'sync up', 'sync up, nothing changed', 'sync down', 'sync down, nothing changed'];

/** Whether `into` holds exactly the tree's files; fails the bench otherwise. */
function checkDownload(tool: Tool, tree: { name: string; digests: Map<string, string> }, into: string): void {
  const got = digests(into);
  const same = got.size === tree.digests.size && [...tree.digests].every(([path, sum]) => got.get(path) === sum);
  if (!same) throw new Error(`${tool.name}: the download of ${tree.name} differs from the source`);
}

/**
 * One tool's transfers of a tree: its copy up and down; then, for a tool with a sync and when `syncs`, a sync up of
 * the tree to a second prefix, the same sync again with nothing changed, a sync down into a new directory and that
 * again. Every download is checked against the source.
 */
function transfers(
  tool: Tool,
  tree: { name: string; path: string; digests: Map<string, string> },
  prefix: string,
  into: string,
  syncs: boolean,
): Array<[string, Sample]> {
  const measured: Array<[string, Sample]> = [['up', timed(tool.up(tree.path, prefix), tool.env)]];
  // s3cmd wants an existing directory to download many objects into.
  mkdirSync(into, { recursive: true });
  measured.push(['down', timed(tool.down(prefix, into), tool.env)]);
  checkDownload(tool, tree, into);
  rmSync(into, { recursive: true, force: true });
  if (!syncs || tool.syncUp === undefined || tool.syncDown === undefined) return measured;
  const synced = `${prefix}/synced`;
  measured.push(['sync up', timed(tool.syncUp(tree.path, synced), tool.env)]);
  measured.push(['sync up, nothing changed', timed(tool.syncUp(tree.path, synced), tool.env)]);
  measured.push(['sync down', timed(tool.syncDown(synced, into), tool.env)]);
  measured.push(['sync down, nothing changed', timed(tool.syncDown(synced, into), tool.env)]);
  checkDownload(tool, tree, into);
  rmSync(into, { recursive: true, force: true });
  return measured;
}

/** Runs one transfer under GNU time; its wall time and peak RSS. */
function timed(argv: string[], toolEnv: Tool['env'] = {}): Sample {
  // The machine's AWS_CA_BUNDLE makes rclone refuse plain http (LoadCustomCABundleError); loopback needs no CA.
  const env: NodeJS.ProcessEnv = { ...process.env, ...toolEnv, NODE_V8_COVERAGE: '' };
  delete env.AWS_CA_BUNDLE;
  const started = process.hrtime.bigint();
  // Ten minutes at most: a stalled tool fails the bench rather than holding it.
  const run = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], {
    env,
    encoding: 'utf8',
    maxBuffer: 64 * MiB,
    timeout: 600_000,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (run.status !== 0) throw new Error(`${argv.join(' ')} exited ${run.status}: ${run.stderr.slice(-2000)}`);
  const peakKiB = Number(run.stderr.trim().split('\n').at(-1));
  return { seconds, peakMiB: peakKiB / 1024 };
}

/** Tree sizes of the memory section: files of 1 KiB, 200 to a folder. */
const MEMORY_TREES = [1000, 5000, 20_000];

/**
 * s3v4's peak RSS against the number of files it moves: put --recursive, sync up with nothing changed, get
 * --recursive and sync down with nothing changed, for each of MEMORY_TREES; then the largest tree's get again with
 * V8's old space held to 32 MiB (--max-old-space-size), which succeeds only if what the download keeps alive fits.
 */
async function memoryByTreeSize(cluster: Awaited<ReturnType<typeof startRgw>>, work: string): Promise<void> {
  const cli = [process.execPath, join(ROOT, 'dist', 'cli.js'), '--config', join(work, 's3v4.toml')];
  console.log('\n## Peak RSS by tree size (s3v4, files of 1 KiB, 200 to a folder; MiB, seconds in brackets)\n');
  console.log('| files | put --recursive | sync up, nothing changed | get --recursive | sync down, nothing changed |');
  console.log('|---:|---:|---:|---:|---:|');
  const cell = (sample: Sample) => `${fmt(sample.peakMiB)} (${fmt(sample.seconds, 1)} s)`;
  let held = '';
  for (const files of MEMORY_TREES) {
    const tree = join(work, `memory-${files}`);
    makeTree(tree, files / 200, files, 1024);
    const into = join(work, `memory-${files}-down`);
    const prefix = `memory-${files}`;
    // put and get keep no sync records, so each sync here compares every file by HEAD, and records what it found.
    const env = { XDG_CACHE_HOME: join(work, 'cache-memory') };
    const put = timed([...cli, 'put', tree, `${prefix}/`, '--recursive']);
    const syncUp = timed([...cli, 'sync', tree, `s3:${prefix}`], env);
    const get = timed([...cli, 'get', `${prefix}/`, into, '--recursive']);
    const syncDown = timed([...cli, 'sync', `s3:${prefix}`, into], env);
    if (files === MEMORY_TREES.at(-1)) {
      const capped = join(work, `memory-${files}-capped`);
      const [node, ...rest] = cli;
      const small = timed([node!, '--max-old-space-size=32', ...rest, 'get', `${prefix}/`, capped, '--recursive']);
      held = `get --recursive of ${files} files with a 32 MiB old space: ${cell(small)}, every file downloaded`;
      if (digests(capped).size !== files) throw new Error('the capped download is incomplete');
    }
    if (digests(into).size !== files) throw new Error(`the download of ${files} files is incomplete`);
    console.log(`| ${files} | ${cell(put)} | ${cell(syncUp)} | ${cell(get)} | ${cell(syncDown)} |`);
    timed([...cli, 'rm', '--prefix', `${prefix}/`, '--yes']);
    await cluster.admin(['gc', 'process', '--include-all']);
    rmSync(tree, { recursive: true, force: true });
    rmSync(into, { recursive: true, force: true });
  }
  console.log(`\n${held}`);
}

async function main(): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 2);
  const withBig = process.env.S3V4_BENCH_BIG !== '0';
  const built = buildPackage(ROOT);
  if (built.status !== 0) throw new Error(`build failed:\n${built.output}`);
  const work = mkdtempSync(join(tmpdir(), 's3v4-cli-bench-'));
  const cluster = await startRgw();
  try {
    // Ceph's memstore holds every object in memory, and radosgw frees a deleted object's data only by garbage
    // collection, two hours later by default: this gateway's collection may run at once (see gc below).
    const gateway = await cluster.addGateway('bench', ['rgw gc obj min wait = 0', 'rgw gc processor period = 1']);
    const rgw: S3Server = { ...cluster, endpoint: gateway.endpoint, port: gateway.port };
    const made = await signedRequest(rgw, 'PUT', `/${BUCKET}`);
    if (made.status !== 200) throw new Error(`creating ${BUCKET}: HTTP ${made.status} ${made.text}`);
    const only = process.env.S3V4_BENCH_TOOLS?.split(',');
    const all = tools(rgw, work).filter(
      (tool) => only === undefined || only.some((name) => tool.name.startsWith(name)),
    );
    const present = all.filter(
      (tool) =>
        tool.pkg === undefined ||
        ensurePackages(tool.name, [tool.pkg], () => commandsExist([tool.command]), console.error),
    );
    const trees: Array<{ name: string; path: string; digests: Map<string, string> }> = [];
    const small = join(work, 'small');
    makeTree(small, 20, 1000, 4096);
    trees.push({ name: '1000 files of 4 KiB', path: small, digests: digests(small) });
    if (withBig) {
      const big = join(work, 'big');
      makeTree(big, 1, 10, 64 * MiB);
      trees.push({ name: '10 files of 64 MiB', path: big, digests: digests(big) });
    }
    const cpu = cpus();
    console.log('# s3v4 command line against rclone, the AWS CLI and s3cmd');
    console.log(
      `machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB, Linux ${release()}, Node ${process.version}; ` +
        `server: radosgw on 127.0.0.1, one memstore OSD, on the same CPUs`,
    );
    const versions = present.map((tool) => {
      const out = spawnSync(tool.version[0]!, tool.version.slice(1), { encoding: 'utf8' });
      return `${tool.name}: ${`${out.stdout}${out.stderr}`.split('\n')[0]!.trim()}`;
    });
    console.log(`tools: ${versions.join('; ')}`);
    const missing = all.filter((tool) => !present.includes(tool)).map((tool) => tool.name);
    if (missing.length > 0) console.log(`not installed, so not measured: ${missing.join(', ')}`);
    console.log(
      `method: ${rounds} rounds, tools interleaved (order rotated each round), each transfer a fresh process; ` +
        'up and down are s3v4 put/get --recursive, rclone copy, aws s3 cp --recursive and s3cmd put/get --recursive; ' +
        'sync rows are s3v4 sync and rclone sync, the second run of each with nothing changed\n',
    );

    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < rounds; round++) {
      for (const tree of trees) {
        for (let i = 0; i < present.length; i++) {
          const tool = present[(i + round) % present.length]!;
          const prefix = `r${round}-${i}-${tree.path.endsWith('big') ? 'big' : 'small'}`;
          const measured = transfers(tool, tree, prefix, join(work, `down-${prefix}`), !tree.path.endsWith('big'));
          for (const [direction, sample] of measured) {
            const id = `${tree.name}|${direction}|${tool.name}`;
            samples.set(id, [...(samples.get(id) ?? []), sample]);
          }
          // Each transfer's objects go before the next, their memory with them (a full memstore blocks every write).
          timed([
            process.execPath,
            join(ROOT, 'dist', 'cli.js'),
            '--config',
            join(work, 's3v4.toml'),
            'rm',
            '--prefix',
            `${prefix}/`,
            '--yes',
          ]);
          await cluster.admin(['gc', 'process', '--include-all']);
        }
      }
    }
    console.log('| tree | direction | tool | seconds, median (range) | peak RSS MiB | time ÷ rclone |');
    console.log('|---|---|---|---:|---:|---:|');
    for (const tree of trees) {
      for (const direction of DIRECTIONS) {
        const rclone = samples.get(`${tree.name}|${direction}|rclone`);
        for (const tool of present) {
          const own = samples.get(`${tree.name}|${direction}|${tool.name}`);
          if (own === undefined) continue;
          const s = spread(own.map((x) => x.seconds));
          const peak = spread(own.map((x) => x.peakMiB));
          const low = Math.min(...own.map((x) => x.seconds));
          const high = Math.max(...own.map((x) => x.seconds));
          const ratio =
            rclone === undefined ? '' : `${fmt(s.median / spread(rclone.map((x) => x.seconds)).median, 2)}x`;
          console.log(
            `| ${tree.name} | ${direction} | ${tool.name} | ${fmt(s.median, 2)} (${fmt(low, 2)}–${fmt(high, 2)}) | ${fmt(peak.median)} | ${ratio} |`,
          );
        }
      }
    }
    if (process.env.S3V4_BENCH_MEMORY !== '0') await memoryByTreeSize(cluster, work);
  } finally {
    rmSync(work, { recursive: true, force: true });
    const keepAlive = setInterval(() => undefined, 1000);
    await cluster.stop().finally(() => clearInterval(keepAlive));
  }
}

await main();
