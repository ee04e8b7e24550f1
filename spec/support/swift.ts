/**
 * OpenStack Swift with its S3 API on loopback, a second S3 implementation
 * beside Ceph's (rgw.ts), written by another community: the proxy with the
 * `s3api` and `tempauth` middlewares, one account, container and object
 * server on one device, and memcached (tempauth keeps its tokens there), all
 * under one temporary directory, on free ports, stopped with everything they
 * started when the process ends. s3api checks every SigV4 signature and
 * payload hash.
 *
 * Facts this relies on are in ../shared/notes/swift-s3api.md (the shape that
 * works, the credentials, what it refuses).
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  commandsExist,
  daemon,
  ensurePackages,
  freePort,
  once,
  removeDirectory,
  run,
  serverDirectory,
  stopChild,
  waitFor,
  type S3Server,
} from './servers.js';

export type Swift = S3Server;

/** The Debian packages that provide the servers (Swift 2.30 on Debian 12), and memcached, which tempauth needs. */
export const SWIFT_PACKAGES = [
  'python3-swift',
  'swift',
  'swift-proxy',
  'swift-object',
  'swift-account',
  'swift-container',
  'memcached',
];
/** tempauth's user `tester` in account `test`: s3api takes `account:user` as the access key. */
const ACCESS_KEY_ID = 'test:tester';
const SECRET_ACCESS_KEY = 'testing';
/** What s3api's `location` is set to, and so the region it checks in signatures. */
const REGION = 'us-east-1';
/** How errors name the servers. */
const SERVERS = 'Swift test servers';
const STORAGE_KINDS = ['account', 'container', 'object'] as const;
type Kind = 'proxy' | (typeof STORAGE_KINDS)[number];
/**
 * Debian's own scripts, run by path: their `#!/usr/bin/python3` finds Debian's
 * swift modules, which a python3 earlier on PATH (pyenv, a virtualenv) lacks.
 */
const server = (kind: Kind) => `/usr/bin/swift-${kind}-server`;
/** The interpreter those scripts name, which builds the rings. */
const PYTHON = '/usr/bin/python3';
/** Readiness took 10 to 35 s at load averages of 7 to 12 on 2 cores (Python starts are CPU-bound); this bounds a hung one. */
const READY_SECONDS = 120;

/** Whether Debian's Swift servers and memcached are installed. */
export function swiftInstalled(): boolean {
  return commandsExist([...(['proxy', ...STORAGE_KINDS] as const).map(server), PYTHON, 'memcached']);
}

/**
 * Makes sure Swift is installed: when it is not, and this process may run
 * apt-get (as root), installs Debian's packages, saying so on `log`. Returns
 * whether the programs are there afterwards.
 */
export function ensureSwift(log: (line: string) => void = (line) => console.error(line)): boolean {
  return ensurePackages('OpenStack Swift', SWIFT_PACKAGES, swiftInstalled, log);
}

/** The settings every server shares. */
function defaults(dir: string, port: number): string {
  return `[DEFAULT]
devices = ${dir}/node
mount_check = false
swift_dir = ${dir}/etc
user = root
# 0 serves in the process itself (swift.common.wsgi, WorkersStrategy): with 1 or more it forks workers, which a
# SIGKILL of the parent would leave running on the port.
workers = 0
bind_ip = 127.0.0.1
bind_port = ${port}
`;
}

/** An account, container or object server: the WSGI app alone, and the background daemons' sections they read. */
function storageConfig(dir: string, kind: (typeof STORAGE_KINDS)[number], port: number): string {
  return `${defaults(dir, port)}
[pipeline:main]
pipeline = ${kind}-server

[app:${kind}-server]
use = egg:swift#${kind}

[${kind}-replicator]

[${kind}-auditor]

[${kind}-updater]
`;
}

/**
 * The proxy's middlewares in pipeline order, each section's name and its
 * entry point (python3-swift's entry_points.txt, spelt with underscores; the
 * `cache` section is the `memcache` filter). healthcheck answers
 * `GET /healthcheck` before any auth.
 */
const PROXY_FILTERS: ReadonlyArray<readonly [section: string, entryPoint: string]> = [
  ['catch_errors', 'catch_errors'],
  ['gatekeeper', 'gatekeeper'],
  ['healthcheck', 'healthcheck'],
  ['proxy-logging', 'proxy_logging'],
  ['cache', 'memcache'],
  ['listing_formats', 'listing_formats'],
  ['s3api', 's3api'],
  ['tempauth', 'tempauth'],
  ['copy', 'copy'],
  ['slo', 'slo'],
  ['dlo', 'dlo'],
];

/**
 * The proxy: s3api before tempauth, which checks the S3 signature with the
 * user's key (s3api's middleware docstring); accounts are made on first use.
 */
function proxyConfig(dir: string, port: number, memcachedPort: number): string {
  const settings: Record<string, string> = {
    // Virtual-hosted requests come to <bucket>.s3.localhost, as on Ceph (s3api middleware docstring, storage_domain).
    s3api: `location = ${REGION}\nstorage_domain = s3.localhost\n`,
    tempauth: `user_test_tester = ${SECRET_ACCESS_KEY} .admin\n`,
    cache: `memcache_servers = 127.0.0.1:${memcachedPort}\n`,
  };
  const filters = PROXY_FILTERS.map(
    ([section, entryPoint]) => `[filter:${section}]\nuse = egg:swift#${entryPoint}\n${settings[section] ?? ''}`,
  );
  // proxy-logging twice: the first logs what clients asked, the second what middlewares passed on (Swift's sample).
  return `${defaults(dir, port)}
[pipeline:main]
pipeline = ${PROXY_FILTERS.map(([section]) => section).join(' ')} proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

${filters.join('\n')}`;
}

/** The cluster's hash salts and its one storage policy. */
const SWIFT_CONF = `[swift-hash]
swift_hash_path_suffix = s3v4-tests
swift_hash_path_prefix = s3v4-tests

[storage-policy:0]
name = Policy-0
default = yes
`;

/**
 * Builds the account, container and object rings (argv: kind, port, ...) in
 * one start of Debian's Python with Swift's RingBuilder: what
 * `swift-ring-builder <kind>.builder create 0 1 1`, `add r1z1-127.0.0.1:<port>/d1 1`
 * and `rebalance` do (partition power 0, one replica, one device), without
 * nine Python starts, which took 20 s on a busy 2-core machine.
 */
const RING_SCRIPT = `
import sys
from swift.common.ring import RingBuilder
for kind, port in zip(sys.argv[1::2], map(int, sys.argv[2::2])):
    builder = RingBuilder(0, 1, 1)
    builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'replication_ip': '127.0.0.1',
                     'replication_port': port, 'device': 'd1', 'weight': 1})
    builder.rebalance()
    builder.get_ring().save(kind + '.ring.gz')
`;

const SHM = '/dev/shm';

/**
 * Where the servers keep their files: in memory when /dev/shm takes Swift's extended attributes (tmpfs does since
 * Linux 6.6), since the object server syncs every object it writes to disk; the suite's Swift specs took a fifth less
 * time there (107 s against 131 s for the client spec). Elsewhere the temporary directory.
 */
function inMemory(): string | undefined {
  const probe =
    'import os, sys, tempfile\nwith tempfile.NamedTemporaryFile(dir=sys.argv[1]) as f: os.setxattr(f.name, "user.swift", b"x")';
  return spawnSync(PYTHON, ['-c', probe, SHM], { stdio: 'ignore' }).status === 0 ? SHM : undefined;
}

/** Starts one of Swift's servers; -v keeps a console log (into the log file): Swift otherwise logs only to syslog. */
function swiftServer(kind: Kind, etc: string, log: string): ChildProcess {
  return daemon(server(kind), [join(etc, `${kind}-server.conf`), '-v'], process.env, join(log, `${kind}.log`));
}

/**
 * Starts memcached and the four servers; resolves once the storage servers
 * answer and the proxy's `/healthcheck` answers 200. A few seconds on an idle
 * machine; 35 to 50 s were measured at a load average of 12 on 2 cores.
 */
export async function startSwift(): Promise<Swift> {
  const dir = serverDirectory('s3v4-swift-', inMemory());
  const [etc, log] = [join(dir, 'etc'), join(dir, 'log')];
  for (const sub of [etc, log, join(dir, 'node', 'd1')]) mkdirSync(sub, { recursive: true });
  const port = await freePort();
  const memcachedPort = await freePort();
  const ports = { account: await freePort(), container: await freePort(), object: await freePort() };
  const children: ChildProcess[] = [];
  const logs = () => {
    const tail = (kind: string) => {
      try {
        return `--- ${kind}\n${readFileSync(join(log, `${kind}.log`), 'utf8').slice(-1500)}`;
      } catch {
        return '';
      }
    };
    return ['memcached', 'proxy', ...STORAGE_KINDS].map(tail).join('\n');
  };
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    removeDirectory(dir);
  };
  try {
    writeFileSync(join(etc, 'swift.conf'), SWIFT_CONF);
    writeFileSync(join(etc, 'proxy-server.conf'), proxyConfig(dir, port, memcachedPort));
    for (const kind of STORAGE_KINDS)
      writeFileSync(join(etc, `${kind}-server.conf`), storageConfig(dir, kind, ports[kind]));
    children.push(
      daemon(
        'memcached',
        ['-u', 'root', '-l', '127.0.0.1', '-p', String(memcachedPort), '-U', '0', '-m', '64'],
        process.env,
        join(log, 'memcached.log'),
      ),
    );
    // The storage servers start while the rings are built: only the proxy reads the rings when it starts.
    for (const kind of STORAGE_KINDS) children.push(swiftServer(kind, etc, log));
    await run(
      PYTHON,
      ['-c', RING_SCRIPT, ...STORAGE_KINDS.flatMap((kind) => [kind, String(ports[kind])])],
      process.env,
      etc,
    );
    children.push(swiftServer('proxy', etc, log));
    const endpoint = `http://127.0.0.1:${port}`;
    const answers = async (url: string) => {
      const reply = await fetch(url);
      await reply.arrayBuffer();
      return reply.status;
    };
    // Every server, so the first S3 request does not meet a storage server still starting (a 503); one poll, so a
    // failure leaves no other poll running.
    const ready = async () => {
      const storage = await Promise.all(STORAGE_KINDS.map((kind) => answers(`http://127.0.0.1:${ports[kind]}/`)));
      return storage.every((status) => status > 0) && (await answers(`${endpoint}/healthcheck`)) === 200;
    };
    await waitFor(SERVERS, 'the storage servers and proxy /healthcheck', READY_SECONDS, ready, logs, children);
    return { endpoint, port, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY, region: REGION, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One set of Swift servers for the whole test process, started on first use and stopped when the process exits. */
export const sharedSwift = once(startSwift);
