/**
 * The package's build (`npm run build`), shared by the spec runner (spec/run.ts) and the specs that run the built
 * bin: tsc compiles lib/ into dist/ (modules, declarations, source maps), then esbuild replaces dist/index.js with one
 * bundle of everything `import('s3v4')` loads, so a fresh process loads one module instead of about 35 (README,
 * Speed: Cold start). undici and smol-toml stay outside it, loaded from node_modules; the command line keeps
 * tsc's modules, and its source maps lead coverage back to lib/.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

/** Builds the tree at `root`; a failure is in `output`. */
export function buildPackage(root: string): { status: number | null; output: string } {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { encoding: 'utf8' });
  const output = `${build.stdout}${build.stderr}`;
  if (build.status !== 0) return { status: build.status, output };
  try {
    buildSync({
      entryPoints: [join(root, 'lib', 'index.ts')],
      outfile: join(root, 'dist', 'index.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // No keepNames: its __name() wrapper ran for every closure made per request (0.8% of a GET's CPU, issue 14).
      // Error classes name themselves after their class (new.target.name), so spec/imports.spec.ts checks that the
      // bundle renamed no export.
      sourcemap: true,
      logLevel: 'silent',
    });
  } catch (error) {
    return { status: 1, output: `${output}esbuild: ${(error as Error).message}` };
  }
  return { status: 0, output };
}

// Run as `tsx spec/support/build.ts` (npm run build). Named by its path: a bench that bundles this module with others
// shares one import.meta.url with its entry point, which a comparison of the two would take for this file.
if (process.argv[1]?.endsWith(join('spec', 'support', 'build.ts'))) {
  const { status, output } = buildPackage(fileURLToPath(new URL('../..', import.meta.url)));
  process.stdout.write(output);
  process.exit(status ?? 1);
}
