/**
 * A bench's own TypeScript, lib/ included, compiled by esbuild into one ES module, so that a timed process runs it
 * as published JavaScript runs: no tsx loader (its thread and memory) and none of tsx's keepNames wrappers. The
 * module goes to node_modules/.cache/s3v4-bench/, where its packages resolve from node_modules and stay imports.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const CACHE = fileURLToPath(new URL('../node_modules/.cache/s3v4-bench/', import.meta.url));

/** Bundles `entry` into CACHE/`name`.mjs; its path. Throws what esbuild reports. */
export function bundle(entry: string, name: string): string {
  const outfile = join(CACHE, `${name}.mjs`);
  buildSync({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return outfile;
}
