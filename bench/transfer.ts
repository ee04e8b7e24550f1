/**
 * Big transfers side by side: 1 GiB up from a file, up from a stream of
 * unknown length, down into a SHA-256, and down into a file, for s3v4 (the
 * built package), @aws-sdk/lib-storage with @aws-sdk/client-s3, minio, and
 * two floors with no signing (presigned URLs: what the server and HTTP cost):
 * undici alone, and Node's own http, which the SDK and minio use. Every transfer runs in a fresh Node process of its own,
 * which reports its time and its peak RSS (VmHWM of /proc/self/status) and its
 * RSS before the transfer. Rounds interleave the clients, the order rotated
 * each round; medians and quartiles over rounds, ratios to s3v4 within each
 * round.
 *
 * Checked, not trusted: every upload's object is read back by the parent and
 * its SHA-256 compared with the source's; every download's SHA-256 (the
 * child's hash, or the file's) with the object's.
 *
 * The server is a one-node Ceph RADOS Gateway (spec/support/rgw.ts) on
 * 127.0.0.1, with a gateway of the bench's own whose garbage collection runs
 * at once: the OSD keeps objects in memory (4 GiB), and every deleted 1 GiB
 * upload must be freed before the next. Client and server share the CPUs.
 *
 * Writes bench/transfer.svg, the chart the README shows.
 *
 * Run: npm run bench:transfer   (S3V4_BENCH_ROUNDS, default 3; S3V4_BENCH_MIB, default 1024;
 * S3V4_BENCH_OPTIONS and S3V4_BENCH_DOWNLOAD_OPTIONS: JSON options of s3v4's client and of its download(), to
 * try part sizes and concurrency;
 * S3V4_BENCH_ONLY and S3V4_BENCH_MODES: comma-separated clients and modes, to run fewer)
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3Client, fromFile } from '../lib/index.js';
import { buildPackage } from '../spec/support/build.js';
import { startRgw } from '../spec/support/rgw.js';
import { fmt, spread, type Spread } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;
const BUCKET = 's3v4-transfer';
const SOURCE_KEY = 'transfer/source.bin';

const MODES = ['upload a file', 'upload a stream', 'download into a hash', 'download into a file'] as const;
type Mode = (typeof MODES)[number];
const CLIENTS = ['s3v4', 'AWS SDK (lib-storage)', 'minio', 'undici, unsigned', 'node:http, unsigned'] as const;
type ClientName = (typeof CLIENTS)[number];

interface Sample {
  seconds: number;
  /** VmHWM at the end, and VmRSS once the client was loaded, before the transfer. */
  peakMiB: number;
  loadedMiB: number;
  /** The SHA-256 of the bytes sent (generated stream) or received (download into a hash), hex. */
  sha256?: string;
}

/** Where a child finds what it needs; filled in at run time. */
interface Setup {
  endpoint: string;
  port: number;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bytes: number;
  file: string;
  out: string;
  key: string;
  /** Presigned URLs for the floor: a PUT of `key`, a GET of the source. */
  putUrl: string;
  getUrl: string;
  s3v4Options: Record<string, unknown>;
  downloadOptions: Record<string, unknown>;
}

/**
 * The stream of unknown length every client uploads: 1 MiB of a fixed pseudo-random block, each MiB stamped with its
 * index so no two are alike. Its SHA-256 is taken as it is produced. Source text, run in each child.
 */
const GENERATED = `
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
const sent = createHash('sha256');
function generated(bytes) {
  const base = Buffer.alloc(1 << 20);
  let x = 7;
  for (let i = 0; i < base.length; i += 4) { x = (x * 1103515245 + 12345) >>> 0; base.writeUInt32LE(x, i); }
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= bytes) return void this.push(null);
      const length = Math.min(base.length, bytes - produced);
      const chunk = Buffer.allocUnsafe(length);
      base.copy(chunk, 0, 0, length);
      chunk.writeUInt32LE(produced / base.length, 0);
      produced += length;
      sent.update(chunk);
      this.push(chunk);
    },
  });
}
const received = createHash('sha256');
async function hashAll(body) { for await (const chunk of body) received.update(chunk); }
`;

/** Each client's program for each mode; `S` is the Setup, parsed in the child. */
function programs(): Record<ClientName, { load: string; modes: Record<Mode, string> }> {
  const resolve = (name: string) => JSON.stringify(import.meta.resolve(name));
  const s3v4 = JSON.stringify(new URL('../dist/index.js', import.meta.url).href);
  return {
    s3v4: {
      load: `const { S3Client, fromFile } = await import(${s3v4});
const client = new S3Client({ endpoint: S.endpoint, bucket: '${BUCKET}', region: S.region, accessKeyId: S.accessKeyId, secretAccessKey: S.secretAccessKey }, S.s3v4Options);`,
      modes: {
        'upload a file': 'await client.put(S.key, fromFile(S.file));',
        'upload a stream': 'await client.put(S.key, generated(S.bytes));',
        'download into a hash': `await hashAll((await client.get('${SOURCE_KEY}')).body);`,
        'download into a file': `await client.download('${SOURCE_KEY}', S.out, S.downloadOptions);`,
      },
    },
    'AWS SDK (lib-storage)': {
      load: `const { S3Client, GetObjectCommand } = await import(${resolve('@aws-sdk/client-s3')});
const { Upload } = await import(${resolve('@aws-sdk/lib-storage')});
const { createReadStream, createWriteStream } = await import('node:fs');
const { pipeline } = await import('node:stream/promises');
const client = new S3Client({ endpoint: S.endpoint, region: S.region, forcePathStyle: true, credentials: { accessKeyId: S.accessKeyId, secretAccessKey: S.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
const get = async () => (await client.send(new GetObjectCommand({ Bucket: '${BUCKET}', Key: '${SOURCE_KEY}' }))).Body;`,
      modes: {
        'upload a file': `await new Upload({ client, params: { Bucket: '${BUCKET}', Key: S.key, Body: createReadStream(S.file) } }).done();`,
        'upload a stream': `await new Upload({ client, params: { Bucket: '${BUCKET}', Key: S.key, Body: generated(S.bytes) } }).done();`,
        'download into a hash': 'await hashAll(await get());',
        'download into a file': 'await pipeline(await get(), createWriteStream(S.out));',
      },
    },
    minio: {
      load: `const { Client } = await import(${resolve('minio')});
const client = new Client({ endPoint: '127.0.0.1', port: S.port, useSSL: false, accessKey: S.accessKeyId, secretKey: S.secretAccessKey, region: S.region, pathStyle: true });`,
      modes: {
        'upload a file': `await client.fPutObject('${BUCKET}', S.key, S.file);`,
        'upload a stream': `await client.putObject('${BUCKET}', S.key, generated(S.bytes));`,
        'download into a hash': `await hashAll(await client.getObject('${BUCKET}', '${SOURCE_KEY}'));`,
        'download into a file': `await client.fGetObject('${BUCKET}', '${SOURCE_KEY}', S.out);`,
      },
    },
    'undici, unsigned': {
      load: `const { request } = await import(${resolve('undici')});
const { createReadStream, createWriteStream } = await import('node:fs');
const { pipeline } = await import('node:stream/promises');
const put = async (body) => { const r = await request(S.putUrl, { method: 'PUT', body, headers: { 'content-length': String(S.bytes) } }); await r.body.text(); if (r.statusCode !== 200) throw new Error('PUT ' + r.statusCode); };
const get = async () => { const r = await request(S.getUrl); if (r.statusCode !== 200) throw new Error('GET ' + r.statusCode); return r.body; };`,
      modes: {
        'upload a file': 'await put(createReadStream(S.file));',
        // The floor is told the length: one PUT, no parts.
        'upload a stream': 'await put(generated(S.bytes));',
        'download into a hash': 'await hashAll(await get());',
        'download into a file': 'await pipeline(await get(), createWriteStream(S.out));',
      },
    },
    // The same floor through Node's own HTTP client, which the AWS SDK and minio use: what undici itself costs.
    'node:http, unsigned': {
      load: `const http = await import('node:http');
const { createReadStream, createWriteStream } = await import('node:fs');
const { pipeline } = await import('node:stream/promises');
const agent = new http.Agent({ keepAlive: true });
const put = (body) => new Promise((resolve, reject) => { const req = http.request(S.putUrl, { method: 'PUT', agent, headers: { 'content-length': String(S.bytes) } }, (res) => { res.resume(); res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error('PUT ' + res.statusCode))); }); req.on('error', reject); pipeline(body, req).catch(reject); });
const get = () => new Promise((resolve, reject) => http.get(S.getUrl, { agent }, (res) => res.statusCode === 200 ? resolve(res) : reject(new Error('GET ' + res.statusCode))).on('error', reject));`,
      modes: {
        'upload a file': 'await put(createReadStream(S.file));',
        'upload a stream': 'await put(generated(S.bytes));',
        'download into a hash': 'await hashAll(await get());',
        'download into a file': 'await pipeline(await get(), createWriteStream(S.out));',
      },
    },
  };
}

/** A child: load the client, note RSS, run one transfer, report its time, VmHWM and the hash it took. */
function child(load: string, transfer: string, mode: Mode): string {
  const hash = mode === 'upload a stream' ? 'sent' : mode === 'download into a hash' ? 'received' : undefined;
  return `import { readFileSync } from 'node:fs';
${GENERATED}
const S = JSON.parse(process.env.S3V4_TRANSFER);
const status = (field) => Number(new RegExp(field + ':\\\\s+(\\\\d+) kB').exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
${load}
const loadedMiB = status('VmRSS');
const started = performance.now();
${transfer}
const seconds = (performance.now() - started) / 1000;
process.stdout.write(JSON.stringify({ seconds, peakMiB: status('VmHWM'), loadedMiB${hash === undefined ? '' : `, sha256: ${hash}.digest('hex')`} }));
process.exit(0);
`;
}

async function runChild(file: string, setup: Setup): Promise<Sample> {
  const node = spawn(process.execPath, [file], {
    env: {
      ...process.env,
      S3V4_TRANSFER: JSON.stringify(setup),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  node.stdout.on('data', (data: Buffer) => (output += data));
  const code = await new Promise<number | null>((resolve) => node.once('close', resolve));
  if (code !== 0) throw new Error(`${file} exited with ${code}: ${output.slice(-500)}`);
  return JSON.parse(output) as Sample;
}

/** The bytes of `bytes` generated as the children generate them, written to `file`; resolves to their SHA-256. */
async function writeSource(file: string, bytes: number, dir: string): Promise<string> {
  const program = join(dir, 'source.mjs');
  writeFileSync(
    program,
    `import { createWriteStream } from 'node:fs';\nimport { pipeline } from 'node:stream/promises';\n${GENERATED}\nawait pipeline(generated(${bytes}), createWriteStream(${JSON.stringify(file)}));\nprocess.stdout.write(sent.digest('hex'));\n`,
  );
  let output = '';
  const node = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'inherit'] });
  node.stdout.on('data', (data: Buffer) => (output += data));
  await new Promise((resolve) => node.once('close', resolve));
  return output;
}

const sha256Of = async (stream: AsyncIterable<Uint8Array>) => {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return hash.digest('hex');
};

async function main(): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 3);
  const bytes = Number(process.env.S3V4_BENCH_MIB ?? 1024) * MiB;
  const only = process.env.S3V4_BENCH_ONLY?.split(',');
  const clients = CLIENTS.filter((name) => only === undefined || only.includes(name));
  const modesWanted = process.env.S3V4_BENCH_MODES?.split(',');
  const modes = MODES.filter((mode) => modesWanted === undefined || modesWanted.includes(mode));
  const s3v4Options = JSON.parse(process.env.S3V4_BENCH_OPTIONS ?? '{}') as Record<string, unknown>;
  const downloadOptions = JSON.parse(process.env.S3V4_BENCH_DOWNLOAD_OPTIONS ?? '{}') as Record<string, unknown>;
  const build = buildPackage(ROOT);
  if (build.status !== 0) throw new Error(`the build failed: ${build.output}`);
  const rgw = await startRgw();
  const dir = mkdtempSync(join(tmpdir(), 's3v4-transfer-'));
  try {
    const gateway = await rgw.addGateway('bench', ['rgw gc obj min wait = 0', 'rgw gc processor period = 1']);
    const keys = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
    const parent = new S3Client({ endpoint: gateway.endpoint, bucket: BUCKET, region: rgw.region, ...keys });
    const made = await fetch(`${gateway.endpoint}/${BUCKET}`, {
      method: 'PUT',
      headers: { ...parent.endpoint.signer.sign({ method: 'PUT', url: `${gateway.endpoint}/${BUCKET}` }) },
    });
    if (made.status !== 200) throw new Error(`CreateBucket: ${made.status}`);
    const file = join(dir, 'source.bin');
    const sourceSha = await writeSource(file, bytes, dir);
    if (statSync(file).size !== bytes) throw new Error('the source file is short');
    await parent.put(SOURCE_KEY, fromFile(file));
    const table = programs();
    const files = new Map<string, string>();
    for (const name of clients) {
      for (const mode of MODES) {
        const path = join(dir, `${name.replace(/[^a-z0-9]/gi, '-')}-${mode.replace(/ /g, '-')}.mjs`);
        writeFileSync(path, child(table[name].load, table[name].modes[mode], mode));
        files.set(`${name}\n${mode}`, path);
      }
    }
    const samples = new Map<string, Sample[]>();
    const setupFor = (name: ClientName, _mode: Mode): Setup => {
      const key = `transfer/${name.replace(/[^a-z0-9]/gi, '-')}.bin`;
      return {
        endpoint: gateway.endpoint,
        port: Number(new URL(gateway.endpoint).port),
        region: rgw.region,
        ...keys,
        bytes,
        file,
        out: join(dir, 'downloaded.bin'),
        key,
        putUrl: parent.presign(key, { method: 'PUT', expiresIn: 3600 }),
        getUrl: parent.presign(SOURCE_KEY, { expiresIn: 3600 }),
        s3v4Options: name === 's3v4' ? s3v4Options : {},
        downloadOptions,
      };
    };
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        for (let i = 0; i < clients.length; i++) {
          const name = clients[(i + round) % clients.length]!;
          const setup = setupFor(name, mode);
          const sample = await runChild(files.get(`${name}\n${mode}`)!, setup);
          await check(parent, name, mode, setup, sample, sourceSha);
          (samples.get(`${name}\n${mode}`) ?? samples.set(`${name}\n${mode}`, []).get(`${name}\n${mode}`)!).push(
            sample,
          );
          if (mode.startsWith('upload')) {
            await parent.delete(setup.key);
            await rgw.admin(['gc', 'process', '--include-all']);
          } else rmSync(setup.out, { force: true });
          process.stderr.write('.');
        }
      }
    }
    process.stderr.write('\n');
    report(samples, clients, rounds, bytes, (performance.now() - started) / 1000, {
      ...s3v4Options,
      download: downloadOptions,
    });
    writeFileSync(join(ROOT, 'bench', 'transfer.svg'), chart(samples, clients, bytes));
    await parent.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rgw.stop();
  }
}

/** Refuses a sample whose bytes are not the source's: an upload read back, a download's hash or file. */
async function check(
  parent: S3Client,
  name: ClientName,
  mode: Mode,
  setup: Setup,
  sample: Sample,
  sourceSha: string,
): Promise<void> {
  let got: string | undefined;
  if (mode === 'upload a stream' && sample.sha256 !== sourceSha) got = `generated ${sample.sha256}`;
  else if (mode.startsWith('upload')) got = await sha256Of((await parent.get(setup.key)).body);
  else if (mode === 'download into a hash') got = sample.sha256;
  else got = await sha256Of(createReadStream(setup.out));
  if (got !== sourceSha) throw new Error(`${name}, ${mode}: SHA-256 ${got}, expected ${sourceSha}`);
}

const MODE_NOTES: Record<Mode, string> = {
  'upload a file': 's3v4 `put(key, fromFile(path))`; SDK `Upload` with a `createReadStream`; minio `fPutObject`',
  'upload a stream': 'a Readable of unknown length; SDK `Upload`; minio `putObject`; the floor is told the length',
  'download into a hash': 's3v4 `get().body`; SDK `GetObject` Body; minio `getObject`',
  'download into a file': 's3v4 `download(key, path)`; SDK `GetObject` piped to a file; minio `fGetObject`',
};

function report(
  samples: Map<string, Sample[]>,
  clients: readonly ClientName[],
  rounds: number,
  bytes: number,
  seconds: number,
  s3v4Options: Record<string, unknown>,
): void {
  const cpu = cpus();
  console.log(
    `# ${fmt(bytes / MiB)} MiB transfers, ${rounds} rounds, on ${cpu.length} × ${cpu[0]?.model.trim()}, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM (Linux ${release()}, Node ${process.version}); Ceph on loopback`,
  );
  console.log(
    `each transfer a fresh process; median (quartiles) over rounds; ratio = client ÷ s3v4 within the round; s3v4 options ${JSON.stringify(s3v4Options)}; took ${fmt(seconds)} s\n`,
  );
  const cell = (s: Spread, digits = 0) => `${fmt(s.median, digits)} (${fmt(s.p25, digits)}–${fmt(s.p75, digits)})`;
  for (const mode of measured(samples, clients)) {
    console.log(`## ${mode}: ${MODE_NOTES[mode]}\n`);
    console.log('| client | MiB/s | MiB/s ratio | peak RSS, MiB | RSS ratio | RSS once loaded, MiB |');
    console.log('|---|---:|---:|---:|---:|---:|');
    const ours = samples.get(`s3v4\n${mode}`);
    for (const name of clients) {
      const list = samples.get(`${name}\n${mode}`)!;
      const rate = list.map((s) => bytes / MiB / s.seconds);
      const ratio = (f: (s: Sample) => number) =>
        ours === undefined ? '—' : cell(spread(list.map((s, i) => f(s) / f(ours[i]!))), 2);
      console.log(
        `| ${name} | ${cell(spread(rate))} | ${ratio((s) => bytes / s.seconds)} | ${cell(spread(list.map((s) => s.peakMiB)))} | ${ratio((s) => s.peakMiB)} | ${cell(spread(list.map((s) => s.loadedMiB)))} |`,
      );
    }
    console.log('');
  }
}

/** The modes this run measured. */
function measured(samples: Map<string, Sample[]>, clients: readonly ClientName[]): Mode[] {
  return MODES.filter((mode) => clients.some((name) => samples.has(`${name}\n${mode}`)));
}

/** Two bar charts, MiB/s and peak RSS, one group of bars per mode, one bar per client (medians). */
function chart(samples: Map<string, Sample[]>, clients: readonly ClientName[], bytes: number): string {
  const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#7f7f7f', '#bcbd22'];
  const width = 860;
  const panel = 260;
  const left = 60;
  const modes = measured(samples, clients);
  const groupWidth = (width - left - 20) / modes.length;
  const bar = (groupWidth - 30) / clients.length;
  const panels = [
    { title: 'MiB/s (higher is better)', value: (s: Sample) => bytes / MiB / s.seconds },
    { title: 'peak RSS, MiB (lower is better)', value: (s: Sample) => s.peakMiB },
  ];
  const parts: string[] = [];
  panels.forEach((p, index) => {
    const top = 40 + index * (panel + 60);
    const medians = modes.map((mode) =>
      clients.map((name) => spread((samples.get(`${name}\n${mode}`) ?? []).map(p.value)).median),
    );
    const most = Math.max(...medians.flat()) * 1.1;
    parts.push(`<text x="${left}" y="${top - 12}" font-size="14" font-weight="bold">${p.title}</text>`);
    parts.push(`<line x1="${left}" y1="${top + panel}" x2="${width - 10}" y2="${top + panel}" stroke="#333"/>`);
    modes.forEach((mode, m) => {
      const x0 = left + m * groupWidth + 15;
      clients.forEach((name, c) => {
        const value = medians[m]![c]!;
        const h = (value / most) * panel;
        const x = x0 + c * bar;
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${(top + panel - h).toFixed(1)}" width="${(bar - 3).toFixed(1)}" height="${h.toFixed(1)}" fill="${colours[c]}"><title>${name}, ${mode}: ${fmt(value)}</title></rect>`,
        );
        parts.push(
          `<text x="${(x + bar / 2 - 1.5).toFixed(1)}" y="${(top + panel - h - 3).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(value)}</text>`,
        );
      });
      parts.push(
        `<text x="${(x0 + (bar * clients.length) / 2).toFixed(1)}" y="${top + panel + 16}" font-size="12" text-anchor="middle">${mode}</text>`,
      );
    });
  });
  const legendY = 40 + 2 * (panel + 60) - 20;
  clients.forEach((name, c) => {
    const x = left + c * 160;
    parts.push(`<rect x="${x}" y="${legendY}" width="12" height="12" fill="${colours[c]}"/>`);
    parts.push(`<text x="${x + 18}" y="${legendY + 11}" font-size="12">${name}</text>`);
  });
  const height = legendY + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<title>${fmt(bytes / MiB)} MiB transfers: MiB/s and peak RSS per client and mode (bench/transfer.ts)</title>
<rect width="100%" height="100%" fill="white"/>
${parts.join('\n')}
</svg>
`;
}

await main();
