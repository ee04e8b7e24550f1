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

export interface Rgw extends S3Server {
  createUser(uid: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
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
    return { endpoint, port, accessKeyId, secretAccessKey, region: REGION, createUser, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One cluster for the whole test process, started on first use and stopped when the process exits. */
export const sharedRgw = once(startRgw);
