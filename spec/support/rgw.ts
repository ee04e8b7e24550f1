/**
 * A one-node Ceph cluster with the RADOS Gateway on loopback, for tests that
 * must meet a real S3 implementation: one monitor, one OSD on memstore and
 * radosgw (beast frontend), all under one temporary directory, on free ports,
 * stopped with everything they started when the process ends. radosgw checks
 * every SigV4 signature, payload hash and chunk signature.
 *
 * Facts this relies on are in ../shared/notes/ceph-rgw.md (settings a
 * single node needs, and the traps: secure mon connections, Nagle, zombies).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { SigV4Signer } from '../../lib/signer.js';
import { parseUploads, type UploadInProgress } from '../../lib/documents.js';

export interface Rgw {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Makes another S3 user, who owns nothing and may do only what bucket policies grant. */
  createUser(uid: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  /** Stops every daemon and removes the directory. */
  stop(): Promise<void>;
}

/** The Debian packages that provide the cluster (Ceph 16 on Debian 12). */
export const CEPH_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd', 'ceph-common'];
/** The region the cluster's zonegroup reports for its buckets. */
const REGION = 'us-east-1';
const BINARIES = ['monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];

/** Whether every Ceph program the cluster needs is on PATH. */
export function cephInstalled(): boolean {
  return BINARIES.every((name) => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0);
}

/**
 * Makes sure Ceph is installed: when it is not, and this process may run
 * apt-get (as root), installs Debian's packages, saying so on `log`. Returns
 * whether the programs are there afterwards.
 */
export function ensureCeph(log: (line: string) => void = (line) => console.error(line)): boolean {
  if (cephInstalled()) return true;
  const root = process.getuid?.() === 0;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (!root || !apt) return false;
  log(`Installing Ceph from Debian's packages (${CEPH_PACKAGES.join(' ')}), once: about 60 MB, a minute...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (update.status !== 0) return false;
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...CEPH_PACKAGES], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  return cephInstalled();
}

/** A free TCP port on 127.0.0.1 outside 6800-7300, the range OSDs take; nothing listens there, so connecting is refused. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    if (port < 6800 || port > 7300) return port;
  }
}

function config(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
mon data = ${dir}/mon/$name
osd data = ${dir}/osd/$name
osd objectstore = memstore
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 1
mon data avail warn = 2
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# The monitor batches map changes for 1 s by default: a fresh start would take ~19 s.
paxos propose interval = 0.1
paxos min wait = 0.01

[client.rgw.a]
# Virtual-hosted requests go to <bucket>.s3.localhost (a plain "localhost" endpoint is always path-style).
# Without tcp_nodelay every small reply waits on Nagle and delayed ACK.
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw dns name = s3.localhost
rgw enable apis = s3, admin
rgw data = ${dir}/rgw
# The default secure monitor connection cannot work with auth none.
ms mon client mode = crc
`;
}

const running = new Set<ChildProcess>();
const directories = new Set<string>();

/** Kills what is left when the process ends, however it ends, so no daemon outlives the tests. */
function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  directories.clear();
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** Runs a command to completion; rejects with its output when it fails. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data));
    child.stderr.on('data', (data: Buffer) => (output += data));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-2000)}`)),
    );
  });
}

/** Starts a daemon in the foreground of a child process, its output in a log file. */
function daemon(command: string, args: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const out = openSync(log, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', out, out] });
  // Unreferenced, so a test process that is done can end: its 'exit' hook (killAll) then kills the daemon.
  child.unref();
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Polls `check` every 100 ms until it resolves true, or fails after `seconds`. */
async function waitFor(
  what: string,
  seconds: number,
  check: () => Promise<boolean>,
  logs: () => string,
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`radosgw test cluster: ${what} not ready after ${seconds} s\n${logs()}`);
}

/** Kills a daemon and waits for its exit: memstore data is thrown away, so there is nothing to stop cleanly. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Referenced again while the caller awaits its exit, or the process could end first.
  child.ref();
  child.kill('SIGKILL');
  await exited;
}

/** Starts a cluster and an S3 user; about 3 s. */
export async function startRgw(): Promise<Rgw> {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-rgw-'));
  directories.add(dir);
  for (const sub of ['run', 'log', 'mon', 'osd/osd.0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  const [monPort, port] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, config(dir, fsid, monPort, port));
  const env = { ...process.env, CEPH_CONF: conf };
  const children: ChildProcess[] = [];
  const logs = () => {
    const tail = (name: string) => {
      try {
        return `--- ${name}\n${readFileSync(join(dir, 'log', name), 'utf8').slice(-1500)}`;
      } catch {
        return '';
      }
    };
    return ['mon.out', 'osd.out', 'rgw.out', 'client.rgw.a.log'].map(tail).join('\n');
  };
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
    directories.delete(dir);
  };
  try {
    await run(
      'monmaptool',
      ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')],
      env,
    );
    await run('ceph-mon', ['-i', 'a', '--mkfs', '--monmap', join(dir, 'monmap'), '--keyring', '/dev/null'], env);
    children.push(daemon('ceph-mon', ['-f', '-i', 'a'], env, join(dir, 'log', 'mon.out')));
    await waitFor(
      'monitor',
      30,
      async () => {
        await run('ceph', ['mon', 'stat'], env);
        return true;
      },
      logs,
    );
    await run('ceph', ['osd', 'create'], env);
    await run('ceph-osd', ['-i', '0', '--mkfs'], env);
    children.push(daemon('ceph-osd', ['-f', '-i', '0'], env, join(dir, 'log', 'osd.out')));
    await waitFor('OSD', 30, async () => /^osd\.0 up/m.test(await run('ceph', ['osd', 'dump'], env)), logs);
    const accessKeyId = `S3V4TEST${randomBytes(6).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    // Creating the user also creates the default zonegroup, whose API name is the region GetBucketLocation
    // reports ("default" otherwise): set before radosgw starts, so a wrong region can be told.
    await run(
      'radosgw-admin',
      [
        'user',
        'create',
        '--uid',
        's3v4',
        '--display-name',
        's3v4 tests',
        '--access-key',
        accessKeyId,
        '--secret-key',
        secretAccessKey,
      ],
      env,
    );
    await run('radosgw-admin', ['zonegroup', 'modify', '--rgw-zonegroup', 'default', '--api-name', REGION], env);
    children.push(daemon('radosgw', ['-f', '-n', 'client.rgw.a'], env, join(dir, 'log', 'rgw.out')));
    const endpoint = `http://127.0.0.1:${port}`;
    await waitFor('radosgw', 60, async () => (await fetch(endpoint)).status > 0, logs);
    const createUser = async (uid: string) => {
      const keys = {
        accessKeyId: `S3V4${uid.toUpperCase().replace(/[^A-Z0-9]/g, '')}${randomBytes(4).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
      };
      await run(
        'radosgw-admin',
        [
          'user',
          'create',
          '--uid',
          uid,
          '--display-name',
          uid,
          '--access-key',
          keys.accessKeyId,
          '--secret-key',
          keys.secretAccessKey,
        ],
        env,
      );
      return keys;
    };
    return { endpoint, port, accessKeyId, secretAccessKey, region: REGION, createUser, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * An undici Agent that resolves every host to 127.0.0.1: Node's resolver does
 * not resolve *.localhost on these machines, and virtual-hosted requests go to
 * <bucket>.s3.localhost.
 */
export function loopbackAgent(): Agent {
  return new Agent({
    connect: {
      lookup: (_host, options, callback) => {
        if ((options as { all?: boolean }).all)
          (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [
            { address: '127.0.0.1', family: 4 },
          ]);
        else (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
      },
    },
  });
}

const signers = new WeakMap<Rgw, SigV4Signer>();

/**
 * A request signed as the cluster's user, made without S3Client: to create
 * buckets, set policies, and look behind a client's back.
 */
export async function signedRequest(
  rgw: Rgw,
  method: string,
  path: string,
  body = '',
  dispatcher?: Dispatcher,
): Promise<{ status: number; text: string }> {
  let signer = signers.get(rgw);
  if (signer === undefined) {
    signer = new SigV4Signer({
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: rgw.secretAccessKey,
      region: rgw.region,
    });
    signers.set(rgw, signer);
  }
  const url = `${rgw.endpoint}${path}`;
  const reply = await request(url, {
    method: method as 'GET',
    headers: { ...signer.sign({ method, url, body }) },
    body: method === 'GET' || method === 'HEAD' ? null : body,
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  return { status: reply.statusCode, text: await reply.body.text() };
}

/** Multipart uploads in progress in a bucket, listed without the client. */
export async function uploadsIn(rgw: Rgw, bucket: string): Promise<UploadInProgress[]> {
  const reply = await signedRequest(rgw, 'GET', `/${bucket}?uploads=`);
  if (reply.status !== 200) throw new Error(`listing uploads in ${bucket}: HTTP ${reply.status} ${reply.text}`);
  return parseUploads(reply.text).uploads;
}

let shared: Promise<Rgw> | undefined;

/** One cluster for the whole test process, started on first use and stopped when the process exits. */
export function sharedRgw(): Promise<Rgw> {
  shared ??= startRgw();
  return shared;
}
