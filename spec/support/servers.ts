/**
 * What the real-server launchers (rgw.ts, swift.ts) share: the shape of a
 * running S3 server, installing its Debian packages, free loopback ports, one
 * temporary directory per server, daemons that never outlive the test
 * process, and requests signed without S3Client.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { SigV4Signer } from '../../lib/signer.js';
import { parseUploads, type UploadInProgress } from '../../lib/documents.js';
import type { StorageOptions } from '../../lib/index.js';

/** A running S3 server on loopback, path-style, with one user's credentials. */
export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Stops every daemon the server runs and removes its directory. */
  stop(): Promise<void>;
  /** Makes another S3 user, who owns nothing and may do only what bucket policies grant: where policies exist. */
  createUser?(uid: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
}

/** The storage options of a client for `bucket` on `server`, as its user; `overrides` replace any of them. */
export function storageFor(server: S3Server, bucket: string, overrides: Partial<StorageOptions> = {}): StorageOptions {
  return {
    endpoint: server.endpoint,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    region: server.region,
    bucket,
    ...overrides,
  };
}

/** `start`, run on first call only: one server for the whole test process, stopped when the process exits. */
export function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => {
    started ??= start();
    return started;
  };
}

/** Whether every program is on PATH. */
export function commandsExist(names: readonly string[]): boolean {
  return names.every((name) => spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0);
}

/**
 * Makes sure a server is installed: when `installed()` says it is not, and this
 * process may run apt-get (as root), installs Debian's `packages`, saying so
 * on `log`. Returns whether `installed()` holds afterwards.
 */
export function ensurePackages(
  what: string,
  packages: readonly string[],
  installed: () => boolean,
  log: (line: string) => void,
): boolean {
  if (installed()) return true;
  const root = process.getuid?.() === 0;
  if (!root || !commandsExist(['apt-get'])) return false;
  log(`Installing ${what} from Debian's packages (${packages.join(' ')}), once: this takes a minute...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (update.status !== 0) return false;
  spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  return installed();
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

/** A temporary directory for one server, under `base`, removed when the process ends if `removeDirectory` has not. */
export function serverDirectory(prefix: string, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, prefix));
  directories.add(dir);
  return dir;
}

export function removeDirectory(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  directories.delete(dir);
}

/** Runs a command to completion; rejects with its output when it fails. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
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

/**
 * Starts a daemon in the foreground of a child process, its output in a log
 * file: a daemon writing to the caller's pipes would keep a test runner from
 * exiting.
 */
export function daemon(command: string, args: string[], env: NodeJS.ProcessEnv, log: string): ChildProcess {
  const out = openSync(log, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', out, out] });
  closeSync(out);
  // Unreferenced, so a test process that is done can end: its 'exit' hook (killAll) then kills the daemon.
  child.unref();
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Polls `check` every 100 ms until it resolves true, or fails with the tail of
 * the server's logs: after `seconds`, or as soon as one of `daemons` has
 * exited, since a daemon that failed to start does not come back.
 */
export async function waitFor(
  server: string,
  what: string,
  seconds: number,
  check: () => Promise<boolean>,
  logs: () => string,
  daemons: readonly ChildProcess[] = [],
): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    const exited = daemons.find((child) => child.exitCode !== null || child.signalCode !== null);
    if (exited !== undefined)
      throw new Error(
        `${server}: ${exited.spawnargs.join(' ')} exited (${exited.exitCode ?? exited.signalCode}) before ${what} was ready\n${logs()}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${server}: ${what} not ready after ${seconds} s\n${logs()}`);
}

/**
 * Kills a daemon and waits for its exit, which comes once it is reaped (a
 * killed daemon is a zombie until then): the servers' data is thrown away, so
 * there is nothing to stop cleanly.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Referenced again while the caller awaits its exit, or the process could end first.
  child.ref();
  child.kill('SIGKILL');
  await exited;
}

const signers = new WeakMap<S3Server, SigV4Signer>();

/** A reply read whole. */
export interface Exchange {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * A request signed as the server's user (its payload's SHA-256 signed, or
 * `payloadHash` in its place), made without S3Client: to create buckets, set
 * policies, look behind a client's back, and measure what a server accepts.
 */
export async function signedExchange(
  server: S3Server,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Uint8Array; dispatcher?: Dispatcher } = {},
): Promise<Exchange> {
  let signer = signers.get(server);
  if (signer === undefined) {
    signer = new SigV4Signer({
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      region: server.region,
    });
    signers.set(server, signer);
  }
  const { headers = {}, body = '', dispatcher } = options;
  const url = `${server.endpoint}${path}`;
  const send = async () => {
    const reply = await request(url, {
      method: method as 'GET',
      headers: { ...headers, ...signer.sign({ method, url, headers, body }) },
      body: method === 'GET' || method === 'HEAD' ? null : body,
      ...(dispatcher === undefined ? {} : { dispatcher }),
    });
    return { status: reply.statusCode, headers: reply.headers, text: await reply.body.text() };
  };
  // A kept connection the server closes as a request goes out fails that request ("other side closed", seen on
  // Ceph in a spec polling ListMultipartUploads): a read is sent once more, as the client would.
  const read = method === 'GET' || method === 'HEAD';
  return send().catch((error: unknown) => {
    if (!read || (error as { code?: string }).code !== 'UND_ERR_SOCKET') throw error;
    return send();
  });
}

/** signedExchange's status and text, for a request without headers of its own. */
export async function signedRequest(
  server: S3Server,
  method: string,
  path: string,
  body = '',
  dispatcher?: Dispatcher,
): Promise<{ status: number; text: string }> {
  const { status, text } = await signedExchange(server, method, path, { body, ...(dispatcher ? { dispatcher } : {}) });
  return { status, text };
}

/** Multipart uploads in progress in a bucket, listed without the client. */
export async function uploadsIn(server: S3Server, bucket: string): Promise<UploadInProgress[]> {
  const reply = await signedRequest(server, 'GET', `/${bucket}?uploads=`);
  if (reply.status !== 200) throw new Error(`listing uploads in ${bucket}: HTTP ${reply.status} ${reply.text}`);
  return parseUploads(reply.text).uploads;
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
