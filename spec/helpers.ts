/** Helpers shared by the specs (not a spec itself: the runner takes *.spec.ts only). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { InvalidArgumentError, S3v4Error } from '../lib/errors.js';
import { CEPH_PACKAGES, ensureCeph } from './support/rgw.js';
import { SWIFT_PACKAGES, ensureSwift } from './support/swift.js';

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

/** A real S3 server the specs start: what it is called, its Debian packages, and what installs them. */
export interface ServerKind {
  name: string;
  packages: readonly string[];
  /** Whether the server's programs are there, installing them first when this process may. */
  ensure(log: (line: string) => void): boolean;
}

export const CEPH: ServerKind = { name: 'Ceph', packages: CEPH_PACKAGES, ensure: ensureCeph };
export const SWIFT: ServerKind = { name: 'OpenStack Swift', packages: SWIFT_PACKAGES, ensure: ensureSwift };

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

/** serverForSpecs for Ceph's RADOS Gateway. */
export function cephForSpecs(test: Test, what: string, file: string): boolean {
  return serverForSpecs(test, CEPH, what, file);
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
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { encoding: 'utf8' });
  assert.is(build.status, 0, `the build failed: ${build.stdout}${build.stderr}`);
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
