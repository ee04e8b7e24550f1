/** The package's build, shared by the spec runner (spec/run.ts) and the specs that run the built bin. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The package's own build (tsc -p tsconfig.build.json) of the tree at `root`. */
export function buildPackage(root: string): { status: number | null; output: string } {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { encoding: 'utf8' });
  return { status: build.status, output: `${build.stdout}${build.stderr}` };
}
