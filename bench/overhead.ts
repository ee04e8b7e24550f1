/**
 * What the client itself costs per request: s3v4's PUT and GET of 1 KiB
 * against raw undici requests, both to a trivial HTTP server that does no S3
 * work at all (it answers every GET with 1 KiB and every PUT with an ETag),
 * run in a process of its own so that its CPU time is not counted. What
 * differs between the rows is the client's work only: checking the key,
 * signing, the payload hash, reading the reply's facts, the plumbing.
 *
 * Method: the built package (dist/index.js, as a service loads it), rows
 * interleaved round by round in one process, batches of 1000 requests at one
 * and at 8 in flight; this process's CPU time per request (user + system),
 * median and quartiles over rounds, and s3v4's time minus undici's within the
 * same round.
 *
 * Run: npm run bench:overhead   (S3V4_BENCH_ROUNDS, default 15)
 */
import { spawn } from 'node:child_process';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import { buildPackage } from '../spec/support/build.js';
import { fmt, spread } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BATCH = 1000;
const KEYS = 16;
const BODY = Buffer.alloc(1024, 0x61);

/** The trivial server, as a program for `node -e`; it prints its port. */
const SERVER = `
const body = Buffer.alloc(1024, 0x62);
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const common = { etag: '"0123456789abcdef0123456789abcdef"', 'x-amz-request-id': 'tx0001' };
    if (req.method === 'PUT') { res.writeHead(200, { ...common, 'content-length': 0 }); res.end(); return; }
    res.writeHead(200, { ...common, 'content-length': body.length, 'content-type': 'application/octet-stream',
      'last-modified': 'Tue, 01 Dec 2026 00:00:00 GMT', 'accept-ranges': 'bytes' });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.on('end', () => process.exit(0)).resume();
`;

type Op = (i: number) => Promise<unknown>;

async function main(): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 15);
  const built = buildPackage(ROOT);
  if (built.status !== 0) throw new Error(`build failed:\n${built.output}`);
  const { S3Client } = (await import(
    new URL('../dist/index.js', import.meta.url).href
  )) as typeof import('../lib/index.js');
  // The server's stdin is this process's pipe: it exits when this process does, whatever happens here.
  const server = spawn(process.execPath, ['-e', SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    server.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    bucket: 'overhead',
    region: 'us-east-1',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    forcePathStyle: true,
  });
  const agent = new Agent({ keepAliveTimeout: 4000 });
  const undiciPut: Op = async (i) => {
    const headers = { 'content-length': String(BODY.length) };
    const reply = await agent.request({
      origin: endpoint,
      path: `/overhead/k/${i % KEYS}`,
      method: 'PUT',
      headers,
      body: BODY,
    });
    await reply.body.dump();
  };
  const undiciGet: Op = async (i) => {
    const reply = await agent.request({ origin: endpoint, path: `/overhead/k/${i % KEYS}`, method: 'GET' });
    return reply.body.arrayBuffer();
  };
  const rows: Record<string, { s3v4: Op; undici: Op }> = {
    'PUT 1 KiB': { s3v4: (i) => client.put(`k/${i % KEYS}`, BODY), undici: undiciPut },
    'GET 1 KiB': { s3v4: async (i) => (await client.get(`k/${i % KEYS}`)).bytes(), undici: undiciGet },
  };
  const cpu = cpus();
  console.log('# s3v4 per-request overhead over undici, against a trivial HTTP server');
  console.log(
    `machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}`,
  );
  console.log(
    `method: ${rounds} interleaved rounds of ${BATCH} requests per row; CPU µs per request of this process\n`,
  );
  console.log(
    '| workload | in flight | undici CPU µs/op | s3v4 CPU µs/op | s3v4 − undici, per round | s3v4 ÷ undici |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  try {
    for (const [name, row] of Object.entries(rows)) {
      for (const inFlight of [1, 8]) {
        const batch = async (op: Op): Promise<number> => {
          const start = process.cpuUsage();
          await Promise.all(
            Array.from({ length: inFlight }, async (_, worker) => {
              for (let i = worker; i < BATCH; i += inFlight) await op(i);
            }),
          );
          const used = process.cpuUsage(start);
          return (used.user + used.system) / BATCH;
        };
        await batch(row.undici);
        await batch(row.s3v4);
        const ours: number[] = [];
        const theirs: number[] = [];
        for (let round = 0; round < rounds; round++) {
          // Order alternates each round, so neither row always runs on a warmer or a busier machine.
          const first = round % 2 === 0 ? row.undici : row.s3v4;
          const a = await batch(first);
          const b = await batch(first === row.undici ? row.s3v4 : row.undici);
          theirs.push(first === row.undici ? a : b);
          ours.push(first === row.undici ? b : a);
        }
        const u = spread(theirs);
        const s = spread(ours);
        const extra = spread(ours.map((v, i) => v - theirs[i]!));
        const ratio = spread(ours.map((v, i) => v / theirs[i]!));
        console.log(
          `| ${name} | ${inFlight} | ${fmt(u.median, 1)} (${fmt(u.p25, 1)}–${fmt(u.p75, 1)}) | ${fmt(s.median, 1)} (${fmt(s.p25, 1)}–${fmt(s.p75, 1)}) ` +
            `| ${fmt(extra.median, 1)} (${fmt(extra.p25, 1)}–${fmt(extra.p75, 1)}) | ${fmt(ratio.median, 2)}x (${fmt(ratio.p25, 2)}–${fmt(ratio.p75, 2)}) |`,
        );
      }
    }
  } finally {
    await client.close();
    await agent.close();
    server.stdin.end();
  }
}

await main();
