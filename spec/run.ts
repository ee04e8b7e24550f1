/**
 * The spec run of `npm test`: two uvu processes at once, one per server of the matrix. The first runs every spec,
 * its server-backed suites on Ceph; the second runs the server-backed specs (those that call onEachServer) on Swift.
 * Run one after the other they took 8 min 26 s on 2 cores: the command line's suite keeps one core busy starting
 * processes while Swift's proxy, one Python process, keeps another, so side by side they share the machine better.
 * The first run's output streams; the second's follows it. Either failing fails the run, and the failures of both
 * are printed again last: CI shows only the tail of a long log, and uvu prints a failure where its suite ends.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildPackage } from './support/build.js';

const SPEC = fileURLToPath(new URL('.', import.meta.url));
// uvu's package exports do not name its bin.
const UVU = fileURLToPath(new URL('../node_modules/uvu/bin.js', import.meta.url));

/** The spec files that run against servers: they define their suites with onEachServer. */
function serverSpecs(): string[] {
  return readdirSync(SPEC)
    .filter((name) => name.endsWith('.spec.ts'))
    .filter((name) => readFileSync(`${SPEC}${name}`, 'utf8').includes('onEachServer('));
}

/** Runs uvu over the specs matching `pattern` with S3V4_SERVERS = `servers`; resolves to its status and output. */
function uvu(pattern: string, servers: string, live: boolean): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [UVU, '-r', 'tsx', 'spec', pattern], {
      env: { ...process.env, S3V4_SERVERS: servers, S3V4_BUILT: 'yes' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const take = (stream: NodeJS.WriteStream) => (data: Buffer) => {
      if (live) stream.write(data);
      output += data;
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.once('close', (code, signal) => resolve({ status: code ?? (signal === null ? 1 : 128), output }));
  });
}

/**
 * uvu's failure reports in `output`, colours removed: each runs from its FAIL line (message, diff, stack, all
 * indented) to the next report, the next file's name or the totals, and is cut at 60 lines.
 */
function failures(output: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape sequences of uvu's colours.
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const reports: string[] = [];
  lines.forEach((line, at) => {
    if (!/^ +FAIL /.test(line)) return;
    const ends = (next: string) => /^(\S| +FAIL | +Total:)/.test(next);
    const end = lines.findIndex((next, after) => after > at && ends(next));
    reports.push(
      lines
        .slice(at, Math.min(end === -1 ? lines.length : end, at + 60))
        .join('\n')
        .trimEnd(),
    );
  });
  return reports;
}

const build = buildPackage(fileURLToPath(new URL('..', import.meta.url)));
if (build.status !== 0) throw new Error(`the build failed: ${build.output}`);
const literally = (name: string) => name.replace(/[.]/g, '\\.');
const swiftPattern = `^(${serverSpecs().map(literally).join('|')})$`;
const [ceph, swift] = await Promise.all([uvu('.*\\.spec\\.ts$', 'ceph', true), uvu(swiftPattern, 'swift', false)]);
process.stdout.write(`\n--- the server-backed specs on Swift ---\n${swift.output}`);
/** What to print again of one run: its failure reports, or if it failed without one (a crash), its last lines. */
function recap(server: string, run: { status: number; output: string }): string[] {
  const reports = failures(run.output);
  if (run.status === 0 || reports.length > 0) return reports.map((report) => `on ${server}:${report}`);
  return [
    `on ${server}: exit ${run.status}, no FAIL report; its last lines:\n${run.output.split('\n').slice(-40).join('\n')}`,
  ];
}
const failed = [...recap('Ceph', ceph), ...recap('Swift', swift)];
if (failed.length > 0) process.stdout.write(`\n--- failed ---\n${failed.join('\n\n')}\n`);
process.exitCode = ceph.status !== 0 || swift.status !== 0 ? 1 : 0;
