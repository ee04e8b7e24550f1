import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, S3v4Error } from '../lib/errors.js';
import { CEPH_FACTS, SWIFT_FACTS, type ServerFacts } from './support/facts.js';
import { CEPH_PACKAGES, ensureCeph, sharedRgw } from './support/rgw.js';
import type { S3Server } from './support/servers.js';
import { buildPackage } from './support/build.js';
import { SWIFT_PACKAGES, ensureSwift, sharedSwift } from './support/swift.js';

/** Every chunk of `iterable`, copied (a source may reuse its buffers) and joined. */
export async function collect(iterable: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of iterable) parts.push(Uint8Array.from(part));
  return Buffer.concat(parts);
}

/**
 * Runs `fn`, which must throw an InvalidArgumentError about `argument` whose
 * message never shows any of `secrets`; returns the error.
 */
export function throwsArgument(
  fn: () => unknown,
  argument: string,
  secrets: readonly string[] = [],
): InvalidArgumentError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected an InvalidArgumentError about ${argument}, nothing was thrown`);
  if (!(caught instanceof InvalidArgumentError)) {
    assert.unreachable(`expected an InvalidArgumentError about ${argument}, got ${String(caught)}`);
  }
  const error = caught as InvalidArgumentError;
  assert.instance(error, S3v4Error);
  assert.instance(error, Error);
  assert.is(error.name, 'InvalidArgumentError');
  assert.is(error.code, 'ERR_S3V4_INVALID_ARGUMENT');
  assert.is(error.argument, argument);
  assert.ok(error.message.startsWith(`${argument}: `), error.message);
  for (const secret of secrets) assert.not.ok(error.message.includes(secret), 'a secret leaked into an error message');
  return error;
}

/** A configuration's TOML: the [object_store] header and the given [object_store.s3] lines. */
export function storageToml(...lines: string[]): string {
  return `${['[object_store]', 'backend = "s3"', '', '[object_store.s3]', ...lines].join('\n')}\n`;
}

/** The AWS shared files of a HOME: `~/.aws/config` and `~/.aws/credentials`, each written when given. */
export interface SharedFileTexts {
  config?: string;
  credentials?: string;
}

/** A fresh temporary HOME holding `~/.aws` with these shared files. */
export function awsHome(files: SharedFileTexts = {}): string {
  const home = mkdtempSync(join(tmpdir(), 's3v4-home-'));
  mkdirSync(join(home, '.aws'));
  if (files.config !== undefined) writeFileSync(join(home, '.aws', 'config'), files.config);
  if (files.credentials !== undefined) writeFileSync(join(home, '.aws', 'credentials'), files.credentials);
  return home;
}

/** Deterministic PRNG (mulberry32), so property tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What `read` gives once two reads 250 ms apart agree. A server can still finish a request the client gave up on, if
 * its body had all arrived: a part of an upload stopped or killed is listed only a moment later, and a model of what
 * the server holds must wait for that.
 */
export async function settled<T>(read: () => Promise<T>): Promise<T> {
  let last = await read();
  for (let tries = 0; tries < 40; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await read();
    if (isDeepStrictEqual(now, last)) return now;
    last = now;
  }
  throw new Error('what the server holds did not settle in 10 s');
}

/** A real S3 server the specs start: what it is called, its Debian packages, and what installs them. */
export interface ServerKind {
  name: string;
  packages: readonly string[];
  /** Whether the server's programs are there, installing them first when this process may. */
  ensure(log: (line: string) => void): boolean;
}

/** A server of the matrix: how to reach the one the test process shares, and where it differs from the others. */
export interface SpecServer extends ServerKind {
  /** Its name in S3V4_SERVERS. */
  id: 'ceph' | 'swift';
  /** The running server, started on first use and shared by every spec of the process. */
  shared(): Promise<S3Server>;
  facts: ServerFacts;
}

export const CEPH: SpecServer = {
  id: 'ceph',
  name: 'Ceph',
  packages: CEPH_PACKAGES,
  ensure: ensureCeph,
  shared: sharedRgw,
  facts: CEPH_FACTS,
};
export const SWIFT: SpecServer = {
  id: 'swift',
  name: 'Swift',
  packages: SWIFT_PACKAGES,
  ensure: ensureSwift,
  shared: sharedSwift,
  facts: SWIFT_FACTS,
};

/**
 * The servers every server-backed spec runs on: both, or those S3V4_SERVERS
 * names (`ceph`, `swift`, comma-separated). `npm test` (spec/run.ts) runs
 * one process per server that way.
 */
export function specServers(): SpecServer[] {
  const all = [CEPH, SWIFT];
  const chosen = process.env.S3V4_SERVERS;
  if (chosen === undefined) return all;
  const ids = chosen.split(',').map((id) => id.trim());
  const unknown = ids.filter((id) => !all.some((server) => server.id === id));
  if (unknown.length > 0) throw new Error(`S3V4_SERVERS: unknown server ${unknown.join(', ')}; use ceph, swift`);
  return all.filter((server) => ids.includes(server.id));
}

/**
 * Whether the specs that need `server` can run (installing it when this
 * process may). When they cannot: under CI=true a failing test says so;
 * elsewhere a loud warning says that `what` was not tested.
 */
export function serverForSpecs(test: Test, server: ServerKind, what: string, file: string): boolean {
  if (server.ensure((line) => console.error(line))) return true;
  const packages = server.packages.join(' ');
  if (process.env.CI === 'true') {
    test(`${server.name} is installed, so ${what} is tested against a real S3 server`, () => {
      assert.unreachable(
        `${server.name} (${packages}) is not installed and could not be installed here; .ci/run installs it with apt-get`,
      );
    });
  } else {
    const line = '!'.repeat(78);
    console.warn(
      `\n${line}\n!! ${what.toUpperCase()} WAS NOT TESTED AGAINST ${server.name.toUpperCase()}: it is not installed,\n!! and it cannot be installed here (apt-get as root is needed).\n!! Install ${packages} to run ${file}.\n${line}\n`,
    );
  }
  return false;
}

/**
 * The server matrix: defines the suite `what on <server>` once per server of
 * specServers(), by the same `define`, and runs it. A server that is not
 * there fails the suite under CI=true (serverForSpecs); `seconds` bounds
 * each suite (watchdog).
 */
export function onEachServer(
  what: string,
  file: string,
  seconds: number,
  define: (test: Test, server: SpecServer) => void,
): void {
  for (const server of specServers()) {
    const test = suite(`${what} on ${server.name}`);
    if (serverForSpecs(test, server, what, file)) {
      watchdog(test, `${file} on ${server.name}`, seconds);
      // Each suite's time, for the CI budget (README, Evidence).
      let started = 0;
      test.before(() => {
        started = Date.now();
      });
      define(test, server);
      test.after(() => console.error(`${what} on ${server.name}: ${((Date.now() - started) / 1000).toFixed(1)} s`));
    }
    test.run();
  }
}

let built: string | undefined;

/**
 * The package's bin (dist/cli.js), built once per test process by the
 * package's own build (tsc -p tsconfig.build.json), so the binary the specs
 * run is this tree's. Its source maps lead coverage back to lib/.
 */
export function builtCli(): string {
  if (built !== undefined) return built;
  const root = fileURLToPath(new URL('..', import.meta.url));
  // spec/run.ts builds once before its processes start, so that neither rewrites dist/ while the other runs it.
  if (process.env.S3V4_BUILT !== 'yes') {
    const build = buildPackage(root);
    assert.is(build.status, 0, `the build failed: ${build.output}`);
  }
  const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  built = join(root, bin.s3v4!);
  return built;
}

/**
 * Fails the run when `test`'s suite is still running after `seconds`: a hung request must not hold CI forever. Armed
 * when the suite starts, not when the runner loads every spec file, so the suites before it do not count.
 */
export function watchdog(test: Test, file: string, seconds: number): void {
  let timer: NodeJS.Timeout | undefined;
  test.before(() => {
    timer = setTimeout(() => {
      console.error(`${file}: still running after ${seconds} s; giving up`);
      process.exit(1);
    }, seconds * 1000);
    timer.unref();
  });
  test.after(() => clearTimeout(timer));
}
