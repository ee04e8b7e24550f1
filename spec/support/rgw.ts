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
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

export interface Rgw extends S3Server {
  createUser(uid: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  /** Runs radosgw-admin against the cluster; resolves to its output. */
  admin(args: string[]): Promise<string>;
  /**
   * Starts another radosgw on the same cluster (same zone, users, buckets),
   * as `client.rgw.<name>`, with its own port and `lines` of its own config:
   * for settings the first gateway must not have (STS changes its error
   * codes). Stopped by `stop()` with the rest of the cluster, or by its own.
   */
  addGateway(name: string, lines?: readonly string[]): Promise<Gateway>;
}

/** A radosgw started by Rgw.addGateway. */
export interface Gateway {
  /** `client.rgw.<name>` */
  name: string;
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Its admin socket, for `ceph --admin-daemon <socket> config set ...`. */
  adminSocket: string;
  /** Its log file (`debug rgw` lines). */
  log: string;
  stop(): Promise<void>;
}

/** The Debian packages that provide the cluster (Ceph 16 on Debian 12). */
export const CEPH_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd', 'ceph-common'];
/** The region the cluster's zonegroup reports for its buckets. */
const REGION = 'us-east-1';
/** How errors name the cluster. */
const CLUSTER = 'radosgw test cluster';
const BINARIES = ['monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];

/** Whether every Ceph program the cluster needs is on PATH. */
export function cephInstalled(): boolean {
  return commandsExist(BINARIES);
}

/**
 * Makes sure Ceph is installed: when it is not, and this process may run
 * apt-get (as root), installs Debian's packages, saying so on `log`. Returns
 * whether the programs are there afterwards.
 */
export function ensureCeph(log: (line: string) => void = (line) => console.error(line)): boolean {
  return ensurePackages('Ceph', CEPH_PACKAGES, cephInstalled, log);
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

/** The config section of a gateway added to a running cluster: what `[client.rgw.a]` has, then `lines`. */
function gatewaySection(dir: string, name: string, port: number, lines: readonly string[]): string {
  return `
[client.rgw.${name}]
rgw frontends = beast endpoint=127.0.0.1:${port} tcp_nodelay=1
rgw dns name = s3.localhost
rgw data = ${dir}/rgw-${name}
ms mon client mode = crc
${lines.join('\n')}
`;
}

/** Starts a cluster and an S3 user; about 3 s. */
export async function startRgw(): Promise<Rgw> {
  const dir = serverDirectory('s3v4-rgw-');
  for (const sub of ['run', 'log', 'mon', 'osd/osd.0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  const [monPort, port] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, config(dir, fsid, monPort, port));
  const env = { ...process.env, CEPH_CONF: conf };
  const children: ChildProcess[] = [];
  const gatewayLogs: string[] = [];
  const logs = () => {
    const tail = (name: string) => {
      try {
        return `--- ${name}\n${readFileSync(join(dir, 'log', name), 'utf8').slice(-1500)}`;
      } catch {
        return '';
      }
    };
    return ['mon.out', 'osd.out', 'rgw.out', 'client.rgw.a.log', ...gatewayLogs].map(tail).join('\n');
  };
  const stop = async () => {
    await Promise.all(children.map(stopChild));
    removeDirectory(dir);
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
      CLUSTER,
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
    await waitFor(CLUSTER, 'OSD', 30, async () => /^osd\.0 up/m.test(await run('ceph', ['osd', 'dump'], env)), logs);
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
    await waitFor(CLUSTER, 'radosgw', 60, async () => (await fetch(endpoint)).status > 0, logs);
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
    const admin = (args: string[]) => run('radosgw-admin', args, env);
    const addGateway = async (name: string, lines: readonly string[] = []): Promise<Gateway> => {
      if (!/^[a-z0-9-]+$/.test(name) || name === 'a') throw new Error(`gateway name ${name}: use [a-z0-9-], not "a"`);
      const gatewayPort = await freePort();
      mkdirSync(join(dir, `rgw-${name}`), { recursive: true });
      // Read by the daemon at start only: the running ones never see it.
      appendFileSync(conf, gatewaySection(dir, name, gatewayPort, lines));
      gatewayLogs.push(`rgw-${name}.out`, `client.rgw.${name}.log`);
      const child = daemon('radosgw', ['-f', '-n', `client.rgw.${name}`], env, join(dir, 'log', `rgw-${name}.out`));
      children.push(child);
      const gatewayEndpoint = `http://127.0.0.1:${gatewayPort}`;
      try {
        await waitFor(CLUSTER, `radosgw ${name}`, 30, async () => (await fetch(gatewayEndpoint)).status > 0, logs, [
          child,
        ]);
      } catch (error) {
        await stopChild(child);
        throw error;
      }
      return {
        name: `client.rgw.${name}`,
        endpoint: gatewayEndpoint,
        port: gatewayPort,
        adminSocket: join(dir, 'run', `client.rgw.${name}.asok`),
        log: join(dir, 'log', `client.rgw.${name}.log`),
        stop: () => stopChild(child),
      };
    };
    return { endpoint, port, accessKeyId, secretAccessKey, region: REGION, createUser, admin, addGateway, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One cluster for the whole test process, started on first use and stopped when the process exits. */
export const sharedRgw = once(startRgw);
