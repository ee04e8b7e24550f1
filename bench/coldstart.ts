/**
 * Cold start: a fresh Node process that imports a client and makes one GET
 * of a 10-byte object, for s3v4 (the built package) beside
 * @aws-sdk/client-s3, minio, s3mini and aws4fetch, each with its defaults
 * (s3mini and aws4fetch send through Node's global fetch). What a CLI
 * command or a serverless cold start pays before its first byte.
 *
 * Each sample is one child process: the parent times it from spawn to exit
 * (wall), and the child reports its own import time, its time to the GET's
 * last byte, and its peak RSS (VmHWM). Rounds interleave the clients, the
 * order rotated each round; medians and quartiles over rounds, and each
 * client's ratio to s3v4 taken within the round. The server is a one-node
 * Ceph RADOS Gateway (spec/support/rgw.ts) on 127.0.0.1, started here.
 *
 * Two floor rows GET a URL the parent presigned, computing no signature: the
 * undici parts s3v4 loads (lib/undici.ts), and Node's global fetch, whose
 * undici is built into the node binary. A last row runs the command line the
 * same way, `s3v4 get KEY -`, which sets V8's --liftoff-only for itself
 * (lib/cli.ts).
 *
 * Run: npm run bench:coldstart   (S3V4_BENCH_ROUNDS, default 15)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { S3Client } from '../lib/index.js';
import { buildPackage } from '../spec/support/build.js';
import { type Rgw, startRgw } from '../spec/support/rgw.js';
import { fmt, spread } from './stats.js';

const BUCKET = 's3v4-cold';
const KEY = 'cold/ten.txt';
const BODY = '0123456789';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A child's own report; the command line's row has its wall time alone. */
interface Sample {
  importMs?: number;
  firstGetMs?: number;
  rssMiB?: number;
  wallMs: number;
}

/** Each client's child: its import, then one GET; `server` is filled in at run time. */
function programs(rgw: Rgw, presigned: string): Record<string, string> {
  const resolve = (name: string) => import.meta.resolve(name);
  const s3v4 = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
  const keys = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
  const url = `${rgw.endpoint}/${BUCKET}/${KEY}`;
  return {
    s3v4: `const { S3Client } = await import(${JSON.stringify(s3v4)});
mark();
const client = new S3Client({ endpoint: ${JSON.stringify(rgw.endpoint)}, bucket: ${JSON.stringify(BUCKET)}, region: ${JSON.stringify(rgw.region)}, accessKeyId: ${JSON.stringify(keys.accessKeyId)}, secretAccessKey: ${JSON.stringify(keys.secretAccessKey)} });
const text = await (await client.get(${JSON.stringify(KEY)})).text();
await client.close();`,
    '@aws-sdk/client-s3': `const { S3Client, GetObjectCommand } = await import(${JSON.stringify(resolve('@aws-sdk/client-s3'))});
mark();
const client = new S3Client({ endpoint: ${JSON.stringify(rgw.endpoint)}, region: ${JSON.stringify(rgw.region)}, forcePathStyle: true, credentials: ${JSON.stringify(keys)}, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
const out = await client.send(new GetObjectCommand({ Bucket: ${JSON.stringify(BUCKET)}, Key: ${JSON.stringify(KEY)} }));
const text = await out.Body.transformToString();
client.destroy();`,
    minio: `const { Client } = await import(${JSON.stringify(resolve('minio'))});
mark();
const client = new Client({ endPoint: '127.0.0.1', port: ${rgw.port}, useSSL: false, accessKey: ${JSON.stringify(keys.accessKeyId)}, secretKey: ${JSON.stringify(keys.secretAccessKey)}, region: ${JSON.stringify(rgw.region)}, pathStyle: true });
let text = '';
for await (const chunk of await client.getObject(${JSON.stringify(BUCKET)}, ${JSON.stringify(KEY)})) text += chunk;`,
    s3mini: `const { S3mini } = await import(${JSON.stringify(resolve('s3mini'))});
mark();
const client = new S3mini({ endpoint: ${JSON.stringify(`${rgw.endpoint}/${BUCKET}`)}, region: ${JSON.stringify(rgw.region)}, ...${JSON.stringify(keys)} });
const text = await client.getObject(${JSON.stringify(KEY)});`,
    // Two floors, to a URL presigned by the parent (the server checks a signature; the child computes none): the
    // undici parts s3v4 loads, and Node's global fetch, whose undici is built into node.
    'floor: undici parts, presigned URL': `const { createRequire } = await import('node:module');
const require = createRequire(${JSON.stringify(pathToFileURL(join(ROOT, 'package.json')).href)});
const Agent = require('undici/lib/dispatcher/agent.js');
const request = require('undici/lib/api/api-request.js');
mark();
const agent = new Agent();
const { origin, pathname, search } = new URL(${JSON.stringify(presigned)});
const reply = await request.call(agent, { origin, path: pathname + search, method: 'GET' });
const text = await reply.body.text();
await agent.close();`,
    'floor: global fetch, presigned URL': `mark();
const text = await (await fetch(${JSON.stringify(presigned)})).text();`,
    aws4fetch: `const { AwsClient } = await import(${JSON.stringify(resolve('aws4fetch'))});
mark();
const client = new AwsClient({ ...${JSON.stringify(keys)}, region: ${JSON.stringify(rgw.region)}, service: 's3' });
const text = await (await client.fetch(${JSON.stringify(url)})).text();`,
  };
}

/** The child around a client's program: times its import and its first GET, checks the bytes, reports. */
function child(program: string): string {
  return `import { readFileSync } from 'node:fs';
const started = performance.now();
let imported = 0;
const mark = () => { imported = performance.now(); };
${program}
if (text !== ${JSON.stringify(BODY)}) throw new Error('read back ' + JSON.stringify(text));
const done = performance.now();
const hwm = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
process.stdout.write(JSON.stringify({ importMs: imported - started, firstGetMs: done - started, rssMiB: hwm / 1024 }));
`;
}

/** One fresh process: `args` to node; a client's child reports JSON, the command line prints the object. */
async function runChild(args: readonly string[]): Promise<Sample> {
  const started = performance.now();
  const process_ = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  process_.stdout.on('data', (data: Buffer) => (output += data));
  const code = await new Promise<number | null>((resolve) => process_.once('close', resolve));
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}`);
  if (output === BODY) return { wallMs };
  return { ...(JSON.parse(output) as Omit<Sample, 'wallMs'>), wallMs };
}

async function main(): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 15);
  const build = buildPackage(ROOT);
  if (build.status !== 0) throw new Error(`the build failed: ${build.output}`);
  const rgw = await startRgw();
  const dir = mkdtempSync(join(tmpdir(), 's3v4-coldstart-'));
  try {
    const setup = new S3Client({
      endpoint: rgw.endpoint,
      bucket: BUCKET,
      region: rgw.region,
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: rgw.secretAccessKey,
    });
    const created = await fetch(`${rgw.endpoint}/${BUCKET}`, {
      method: 'PUT',
      headers: { ...setup.endpoint.signer.sign({ method: 'PUT', url: `${rgw.endpoint}/${BUCKET}` }) },
    });
    if (created.status !== 200) throw new Error(`CreateBucket: ${created.status}`);
    await setup.put(KEY, BODY);
    const presigned = setup.presign(KEY, { expiresIn: 3600 });
    await setup.close();
    const files: Array<readonly [string, string[]]> = Object.entries(programs(rgw, presigned)).map(
      ([name, program]) => {
        const file = join(dir, `${name.replace(/[^a-z0-9]/gi, '-')}.mjs`);
        writeFileSync(file, child(program));
        return [name, [file]] as const;
      },
    );
    // The command line, as a shell runs it: `s3v4 get KEY -`.
    const config = join(dir, 'config.toml');
    writeFileSync(
      config,
      `[object_store]\nbackend = "s3"\n[object_store.s3]\nendpoint = "${rgw.endpoint}"\nbucket = "${BUCKET}"\nregion = "${rgw.region}"\naccess_key = "${rgw.accessKeyId}"\nsecret_key = "${rgw.secretAccessKey}"\n`,
    );
    files.push(['s3v4 get KEY - (command line)', [join(ROOT, 'dist', 'cli.js'), 'get', KEY, '-', '--config', config]]);
    // A warm-up round, not counted: the page cache, not the clients, is what the first spawn of each measures.
    for (const [, file] of files) await runChild(file);
    const samples = new Map<string, Sample[]>(files.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < files.length; i++) {
        const [name, file] = files[(i + round) % files.length]!;
        samples.get(name)!.push(await runChild(file));
      }
    }
    report(samples, rounds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rgw.stop();
  }
}

function report(samples: Map<string, Sample[]>, rounds: number): void {
  const ours = samples.get('s3v4')!;
  console.log(
    `Cold start, ${rounds} rounds on ${cpus().length} × ${cpus()[0]?.model.trim()} (Linux ${release()}, Node ${process.version}), Ceph on loopback`,
  );
  console.log('median (quartiles); ratio = client ÷ s3v4 within each round\n');
  console.log('| client | fresh process → GET done (wall) | ratio | import | first GET done (in process) | peak RSS |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const cell = (values: Array<number | undefined>, unit: string, digits = 0) => {
    if (values.some((value) => value === undefined)) return '—';
    const s = spread(values as number[]);
    return `${fmt(s.median, digits)} ${unit} (${fmt(s.p25, digits)}–${fmt(s.p75, digits)})`;
  };
  for (const [name, list] of samples) {
    const ratios = list.map((sample, i) => sample.wallMs / ours[i]!.wallMs);
    const ratio = spread(ratios);
    console.log(
      `| ${name} | ${cell(
        list.map((s) => s.wallMs),
        'ms',
      )} | ${fmt(ratio.median, 2)}x (${fmt(ratio.p25, 2)}–${fmt(ratio.p75, 2)}) | ${cell(
        list.map((s) => s.importMs),
        'ms',
      )} | ${cell(
        list.map((s) => s.firstGetMs),
        'ms',
      )} | ${cell(
        list.map((s) => s.rssMiB),
        'MiB',
        1,
      )} |`,
    );
  }
}

await main();
