/**
 * Client throughput against a real S3 server: small-object PUT and GET ops/s
 * of s3v4 beside @aws-sdk/client-s3, minio and s3mini, and beside three
 * floors: raw undici requests with no signing at all to a bucket made
 * public-read-write for the bench (what the server plus HTTP cost), raw
 * undici requests to URLs presigned before the timing (the server checks a
 * signature; the client computes nothing), and raw undici requests carrying
 * the headers s3v4 sends, signed before the timing (the server checks them as
 * it checks s3v4's). Big transfers are bench/transfer.ts.
 *
 * The server is a one-node Ceph RADOS Gateway (spec/support/rgw.ts) started
 * here on 127.0.0.1 and stopped at the end, also on failure. Client and
 * server share the machine's CPUs, so a client's CPU time per request shows
 * in its ops/s.
 *
 * Method, as bench/sign.ts: every row is checked before it is timed (each
 * row's GET must return the bytes that row PUT, and the other clients must
 * read them too); rows are interleaved round by round in one process, order
 * rotated each round, with the same keys and bodies; ops/s median and
 * quartiles over rounds, and ratios taken within a round (row / s3v4), with
 * their median and quartiles. The main metric is a sequential loop (one
 * request in flight); a concurrency-8 variant follows, with fewer rounds.
 * Next to ops/s, each row's client CPU time per operation (this process's
 * user + system time over the batch) shows what the client itself costs.
 * A full garbage collection precedes every batch (see collectGarbage).
 *
 * `npm run bench:client` starts under tsx, compiles this file (lib/ included)
 * with esbuild and runs the result with plain node: see bundleSelf.
 *
 * Run: npm run bench:client   (S3V4_BENCH_ROUNDS, S3V4_BENCH_BATCH_MS,
 * S3V4_BENCH_CONCURRENCY=0 to skip the concurrent variant)
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Agent, fetch as undiciFetch } from 'undici';
import { S3Client, SigV4Signer, hashPayload } from '../lib/index.js';
import { startRgw, type Rgw } from '../spec/support/rgw.js';
import { signedRequest } from '../spec/support/servers.js';
import { prng } from '../spec/helpers.js';
import { bundle } from './bundle.js';
import { fmt, spread, type Spread } from './stats.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The bucket of the signing clients, and the public one of the floor. */
const BUCKET = 's3v4-bench';
const PUBLIC_BUCKET = 's3v4-bench-public';
/** Keys per object size; every row cycles through the same ones. */
const KEYS_PER_SIZE = 16;
const SIZES = [1 * KiB, 64 * KiB];

/** The peers, loaded when the bench starts. */
let peers: {
  aws: typeof import('@aws-sdk/client-s3');
  minio: typeof import('minio');
  s3mini: typeof import('s3mini');
};

function randomBody(size: number, seed: number): Buffer {
  // The specs' seeded PRNG, so bodies are the same from run to run; its [0, 1) floats scale back to whole 32-bit words.
  const next = prng(seed);
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = next() * 2 ** 32;
  return Buffer.from(words.buffer, 0, size);
}

const sizeName = (size: number) => (size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`);

// ---------------------------------------------------------------------------
// Rows: one client each, doing the same PUT and GET

interface Row {
  name: string;
  /** The bucket it works in. */
  bucket: string;
  put(key: string, body: Buffer): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** s3v4 on the signing clients' bucket, path-style. */
function benchClient(rgw: Rgw): S3Client {
  return new S3Client({
    endpoint: rgw.endpoint,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
    bucket: BUCKET,
    forcePathStyle: true,
  });
}

function s3v4Row(rgw: Rgw): Row {
  const client = benchClient(rgw);
  return {
    name: 's3v4',
    bucket: BUCKET,
    put: async (key, body) => void (await client.put(key, body)),
    get: async (key) => (await client.get(key)).bytes(),
    close: () => client.close(),
  };
}

function awsRow(rgw: Rgw): Row {
  // Keep-alive sockets, as s3v4's undici pool has, so the SDK is not handicapped by reconnecting.
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const { S3Client: AwsS3Client, PutObjectCommand, GetObjectCommand } = peers.aws;
  const client = new AwsS3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    forcePathStyle: true,
    // No flexible checksums: the SDK's defaults since early 2025 would add a CRC32 to every request.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent },
  });
  return {
    name: '@aws-sdk/client-s3',
    bucket: BUCKET,
    put: async (key, body) => void (await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))),
    get: async (key) => {
      const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      return out.Body!.transformToByteArray();
    },
    close: async () => {
      client.destroy();
      httpAgent.destroy();
    },
  };
}

function minioRow(rgw: Rgw): Row {
  const transportAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const client = new peers.minio.Client({
    endPoint: '127.0.0.1',
    port: rgw.port,
    useSSL: false,
    accessKey: rgw.accessKeyId,
    secretKey: rgw.secretAccessKey,
    region: rgw.region,
    pathStyle: true,
    transportAgent,
  });
  return {
    name: 'minio',
    bucket: BUCKET,
    put: async (key, body) => void (await client.putObject(BUCKET, key, body, body.length)),
    get: async (key) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await client.getObject(BUCKET, key)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    close: async () => transportAgent.destroy(),
  };
}

function s3miniRow(rgw: Rgw): Row {
  // s3mini sends through a fetch; it gets undici's own (the version s3v4 and the floor use) over a keep-alive
  // Agent of its own. Node 20's bundled fetch cannot be used here: importing undici 7 makes its Agent the global
  // dispatcher, and the bundled fetch then sends s3mini's own Content-Length twice ("1024, 1024"), which undici 7
  // refuses (nodejs/undici#5500). s3mini signs every payload as UNSIGNED-PAYLOAD.
  const agent = new Agent({ keepAliveTimeout: 4000 });
  const fetch = ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher: agent })) as unknown as typeof globalThis.fetch;
  const client = new peers.s3mini.S3mini({
    endpoint: `${rgw.endpoint}/${BUCKET}`,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
    fetch,
  });
  return {
    name: 's3mini',
    bucket: BUCKET,
    put: async (key, body) => {
      const response = await client.putObject(key, body);
      if (!response.ok) throw new Error(`s3mini PUT ${key}: HTTP ${response.status}`);
      await response.body?.cancel();
    },
    get: async (key) => {
      const bytes = await client.getObjectArrayBuffer(key);
      if (bytes === null) throw new Error(`s3mini GET ${key}: not found`);
      return new Uint8Array(bytes);
    },
    close: () => agent.close(),
  };
}

/** Where an undici row sends a request: undici's origin and path, and any headers signed ahead for it. */
type Place = (
  method: 'PUT' | 'GET',
  key: string,
  body?: Buffer,
) => { origin: string; path: string; headers?: Record<string, string> };

/** A row of raw undici requests on its lowest-level API, to the places `where` gives: a floor. */
function undiciRow(
  name: string,
  bucket: string,
  where: Place,
  close: () => Promise<void> = async () => undefined,
): Row {
  const agent = new Agent({ keepAliveTimeout: 4000 });
  return {
    name,
    bucket,
    put: async (key, body) => {
      const { origin, path, headers } = where('PUT', key, body);
      const response = await agent.request({
        origin,
        path,
        method: 'PUT',
        headers: { ...headers, 'content-length': String(body.length) },
        body,
      });
      await response.body.dump();
      if (response.statusCode !== 200) throw new Error(`${name} PUT ${key}: HTTP ${response.statusCode}`);
    },
    get: async (key) => {
      const { origin, path, headers } = where('GET', key);
      const response = await agent.request({ origin, path, headers: headers ?? {}, method: 'GET' });
      if (response.statusCode !== 200) {
        await response.body.dump();
        throw new Error(`${name} GET ${key}: HTTP ${response.statusCode}`);
      }
      return new Uint8Array(await response.body.arrayBuffer());
    },
    close: async () => {
      await agent.close();
      await close();
    },
  };
}

/** The floor: the same requests with no signing at all, to the public bucket. */
function floorRow(rgw: Rgw): Row {
  return undiciRow('floor (undici, unsigned)', PUBLIC_BUCKET, (_method, key) => ({
    origin: rgw.endpoint,
    path: `/${PUBLIC_BUCKET}/${key}`,
  }));
}

/**
 * The floor with the server's signature check in it: undici to URLs presigned once per key before any timing (the
 * check pass signs them), so the server verifies a SigV4 signature on every request while the client computes
 * nothing. s3v4 over this row is what the client itself costs; this row over the unsigned one is the server's own
 * cost of authenticating a request.
 */
function presignedRow(rgw: Rgw): Row {
  const signer = benchClient(rgw);
  const places = new Map<string, { origin: string; path: string }>();
  const where: Place = (method, key) => {
    const id = `${method} ${key}`;
    let place = places.get(id);
    if (place === undefined) {
      const { origin, pathname, search } = new URL(signer.presign(key, { method, expiresIn: 3600 }));
      place = { origin, path: pathname + search };
      places.set(id, place);
    }
    return place;
  };
  return undiciRow('floor (undici, presigned ahead)', BUCKET, where, () => signer.close());
}

/**
 * The floor of what s3v4 sends: undici with the very headers s3v4 signs (Authorization, x-amz-date and the payload's
 * SHA-256), signed by s3v4's signer once per request before any timing. It differs from s3v4 only by the client's
 * work, and from the presigned floor only by what the server spends on header authentication.
 */
function headerSignedRow(rgw: Rgw): Row {
  const addressing = benchClient(rgw);
  const signer = new SigV4Signer(rgw);
  // One signing time for the whole run: a signature is good for 15 minutes either side (S3 API Reference, "Authenticating Requests").
  const date = Date.now();
  const places = new Map<string, { origin: string; path: string; headers: Record<string, string> }>();
  const where: Place = (method, key, body) => {
    const id = `${method} ${key} ${body === undefined ? '' : hashPayload(body)}`;
    let place = places.get(id);
    if (place === undefined) {
      const target = addressing.endpoint.objectTarget(key);
      const payloadHash = body === undefined ? undefined : hashPayload(body);
      const headers = { ...signer.sign({ method, url: target, payloadHash }, { date }) } as Record<string, string>;
      place = { origin: target.origin, path: target.pathAndQuery, headers };
      places.set(id, place);
    }
    return place;
  };
  return undiciRow('floor (undici, header-signed ahead)', BUCKET, where, () => addressing.close());
}

const ROW_FACTORIES = [s3v4Row, awsRow, minioRow, s3miniRow, floorRow, presignedRow, headerSignedRow];

// ---------------------------------------------------------------------------
// The server: buckets made with signed requests

/** A signed bucket PUT with s3v4's signer over plain undici; throws unless 2xx. */
async function bucketRequest(
  rgw: Rgw,
  agent: Agent,
  bucket: string,
  query: string,
  body: string,
  what: string,
): Promise<void> {
  const reply = await signedRequest(rgw, 'PUT', `/${bucket}${query}`, body, agent);
  if (reply.status < 200 || reply.status > 299) throw new Error(`${what}: HTTP ${reply.status} ${reply.text}`);
}

/** An anonymous request: the status and body. */
async function anonymous(
  rgw: Rgw,
  agent: Agent,
  method: 'GET' | 'PUT',
  path: string,
  body?: Buffer,
): Promise<{ status: number; bytes: Buffer }> {
  const response = await agent.request({
    origin: rgw.endpoint,
    path,
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-length': String(body.length) } }),
  });
  return { status: response.statusCode, bytes: Buffer.from(await response.body.arrayBuffer()) };
}

/**
 * Creates both buckets with signed requests and makes the floor's
 * public-read-write with a signed bucket policy, checking anonymous access
 * before and after. (A canned ACL is not enough on radosgw: it lets anyone
 * PUT, but an object written anonymously then cannot be read anonymously.)
 */
async function makeBuckets(rgw: Rgw): Promise<string[]> {
  const agent = new Agent();
  try {
    await bucketRequest(rgw, agent, BUCKET, '', '', `create ${BUCKET}`);
    await bucketRequest(rgw, agent, PUBLIC_BUCKET, '', '', `create ${PUBLIC_BUCKET}`);
    const probe = Buffer.from('anonymous probe');
    const before = await anonymous(rgw, agent, 'PUT', `/${PUBLIC_BUCKET}/probe`, probe);
    if (before.status !== 403)
      throw new Error(
        `an anonymous PUT to a new bucket gave HTTP ${before.status}, expected 403: the floor would not be anonymous`,
      );
    const policy = {
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'bench',
          Effect: 'Allow',
          Principal: '*',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: [`arn:aws:s3:::${PUBLIC_BUCKET}/*`],
        },
      ],
    };
    await bucketRequest(rgw, agent, PUBLIC_BUCKET, '?policy', JSON.stringify(policy), `PUT ${PUBLIC_BUCKET}?policy`);
    const put = await anonymous(rgw, agent, 'PUT', `/${PUBLIC_BUCKET}/probe`, probe);
    const got = await anonymous(rgw, agent, 'GET', `/${PUBLIC_BUCKET}/probe`);
    if (put.status !== 200 || got.status !== 200 || !got.bytes.equals(probe)) {
      throw new Error(
        `anonymous PUT/GET on ${PUBLIC_BUCKET} after its public-read-write policy: HTTP ${put.status}/${got.status}`,
      );
    }
    const signedBucket = await anonymous(rgw, agent, 'PUT', `/${BUCKET}/probe`, probe);
    if (signedBucket.status !== 403)
      throw new Error(`anonymous PUT on the private ${BUCKET} gave HTTP ${signedBucket.status}, expected 403`);
    return [
      `buckets created with signed PUTs; ${PUBLIC_BUCKET} made public-read-write for the floor with a signed PUT ?policy ` +
        `(anyone may s3:GetObject and s3:PutObject): anonymous PUT refused with 403 before, anonymous PUT and GET 200 after; ${BUCKET} still refuses anonymous PUTs`,
    ];
  } finally {
    await agent.close();
  }
}

// ---------------------------------------------------------------------------
// Correctness first

const keysFor = (size: number) =>
  Array.from({ length: KEYS_PER_SIZE }, (_, i) => `bench/${size / KiB}k/obj-${String(i).padStart(2, '0')}`);

interface Data {
  keys: string[];
  bodies: Buffer[];
}

/**
 * Each row PUTs every key of every size, then reads them back with its own
 * GET and with every other row that works in the same bucket: every byte must
 * match before anything is timed.
 */
async function verify(rows: readonly Row[], data: ReadonlyMap<number, Data>): Promise<void> {
  for (const writer of rows) {
    for (const { keys, bodies } of data.values()) {
      for (let i = 0; i < keys.length; i++) await writer.put(keys[i]!, bodies[i]!);
      for (const reader of rows.filter((r) => r.bucket === writer.bucket)) {
        for (let i = 0; i < keys.length; i++) {
          const got = await reader.get(keys[i]!);
          if (!Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(bodies[i]!)) {
            throw new Error(
              `${reader.name} read ${got.length} bytes of ${keys[i]} written by ${writer.name}, not the ${bodies[i]!.length} bytes PUT`,
            );
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Timing

interface Workload {
  op: 'PUT' | 'GET';
  size: number;
  concurrency: number;
}

const title = (w: Workload) =>
  `${w.op} ${sizeName(w.size)}, ${w.concurrency === 1 ? '1 request in flight (sequential)' : `${w.concurrency} in flight`}`;

let sink = 0;

/**
 * A full garbage collection, when node runs with --expose-gc (the compiled
 * run does): done before every timed batch, so that no row pays for garbage
 * another row left behind. Without it, with rows in a fixed cyclic order, the
 * row after the allocation-heavy ones took their collections: s3v4's client
 * CPU on sequential 64 KiB GETs measured 2.3 ms/op (quartiles 0.8–2.5) in one
 * run and 1.2 ms/op with it, while the floor's went from 0.56 to 1.2 ms/op.
 */
const collectGarbage = (globalThis as { gc?: () => void }).gc;

interface Sample {
  opsPerSecond: number;
  /** This process's CPU time (user + system) per operation, in µs: what the client itself costs. */
  cpuMicros: number;
}

/** One batch of `n` operations, `concurrency` at a time, cycling through the keys. */
async function timeBatch(row: Row, w: Workload, data: Data, n: number): Promise<Sample> {
  const { keys, bodies } = data;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) {
      const k = i % keys.length;
      if (w.op === 'PUT') await row.put(keys[k]!, bodies[k]!);
      else {
        const bytes = await row.get(keys[k]!);
        if (bytes.length !== w.size)
          throw new Error(`${row.name} GET ${keys[k]}: ${bytes.length} bytes, expected ${w.size}`);
        sink += bytes.length;
      }
    }
  };
  collectGarbage?.();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: w.concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { opsPerSecond: n / seconds, cpuMicros: (used.user + used.system) / n };
}

const range = (s: Spread, digits = 0) => `${fmt(s.p25, digits)}–${fmt(s.p75, digits)}`;

interface Verdict {
  workload: Workload;
  /** s3v4 ops/s over the AWS SDK's, and s3v4's time per operation over the unsigned floor's, per round. */
  overAws: Spread;
  overFloor: Spread;
  met: boolean;
}

async function runWorkload(
  rows: readonly Row[],
  w: Workload,
  data: Data,
  rounds: number,
  batchMs: number,
): Promise<Verdict> {
  // Warm up (JIT, sockets: at least `concurrency` per client) and size each row's batch to about batchMs.
  const batch = new Map<Row, number>();
  for (const row of rows) {
    await timeBatch(row, w, data, Math.max(40, 4 * w.concurrency));
    const { opsPerSecond } = await timeBatch(row, w, data, Math.max(20, 4 * w.concurrency));
    batch.set(row, Math.max(10 * w.concurrency, Math.round((opsPerSecond * batchMs) / 1000)));
  }
  const samples = new Map<Row, number[]>(rows.map((r) => [r, []]));
  const cpu = new Map<Row, number[]>(rows.map((r) => [r, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[(i + round) % rows.length]!;
      const sample = await timeBatch(row, w, data, batch.get(row)!);
      samples.get(row)!.push(sample.opsPerSecond);
      cpu.get(row)!.push(sample.cpuMicros);
    }
  }
  const ours = samples.get(rows[0]!)!;
  const aws = samples.get(rows.find((r) => r.name === '@aws-sdk/client-s3')!)!;
  const floor = samples.get(rows.find((r) => r.bucket === PUBLIC_BUCKET)!)!;
  const signed = samples.get(rows.find((r) => r.name === 'floor (undici, presigned ahead)')!)!;
  const headerSigned = samples.get(rows.find((r) => r.name === 'floor (undici, header-signed ahead)')!)!;

  console.log(`## ${title(w)}\n`);
  console.log(
    '| row | ops/s median | ops/s quartiles | wall µs/op | ops/s / s3v4 (paired) | quartiles | client CPU µs/op (quartiles) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) {
    const own = samples.get(row)!;
    const ops = spread(own);
    const ratio = spread(own.map((v, round) => v / ours[round]!));
    const micros = spread(cpu.get(row)!);
    console.log(
      `| ${row.name} | ${fmt(ops.median)} | ${range(ops)} | ${fmt(1e6 / ops.median)} | ${fmt(ratio.median, 2)}x | ${range(ratio, 2)} | ${fmt(micros.median)} (${range(micros)}) |`,
    );
  }
  const overAws = spread(ours.map((v, round) => v / aws[round]!));
  // Time per operation over the floor's: the floor's ops/s over s3v4's, per round.
  const overFloor = spread(ours.map((v, round) => floor[round]! / v));
  const overSigned = spread(ours.map((v, round) => signed[round]! / v));
  const serverAuth = spread(floor.map((v, round) => v / signed[round]!));
  const overHeaderSigned = spread(ours.map((v, round) => headerSigned[round]! / v));
  const headerAuth = spread(signed.map((v, round) => v / headerSigned[round]!));
  const bound = w.concurrency === 1 ? 1.1 : 1.05;
  const met = overFloor.median <= bound;
  console.log(
    `\n${title(w)}: s3v4 takes ${fmt(overFloor.median, 2)}x the unsigned floor's time per operation (quartiles ${range(overFloor, 2)}; target <= ${bound}x): ${met ? 'met' : 'NOT met'}. ` +
      `The server's own signature check (presigned floor over unsigned) is ${fmt(serverAuth.median, 2)}x (${range(serverAuth, 2)}); ` +
      `s3v4 over the presigned floor: ${fmt(overSigned.median, 2)}x (${range(overSigned, 2)}), of which the server's ` +
      `header authentication over query authentication (header-signed floor over presigned) is ${fmt(headerAuth.median, 2)}x ` +
      `(${range(headerAuth, 2)}) and the client's own work (s3v4 over the header-signed floor) ${fmt(overHeaderSigned.median, 2)}x ` +
      `(${range(overHeaderSigned, 2)}). ` +
      `s3v4 does ${fmt(overAws.median, 2)}x the AWS SDK's ops/s (${range(overAws, 2)}).\n`,
  );
  return { workload: w, overAws, overFloor, met };
}

/** Set in the process that runs the bundle. */
const BUNDLED_ENV = 'S3V4_BENCH_BUNDLED';

/**
 * Compiles this file, lib/ included, into one ES module with esbuild (tsx's
 * own compiler, already installed) and returns its path; the peers stay
 * imports of node_modules (bench/bundle.ts). Undefined when esbuild fails.
 *
 * Why: under tsx, s3v4 would run as tsx compiles it, with esbuild's keepNames
 * wrappers (a `__name(fn, "name")` defineProperty call for every closure made
 * per request), while the peers run as published JavaScript; and the tsx
 * loader holds about 30 MiB of its own (Node 20 runs loader hooks on a thread
 * of their own), which would count in the transfer's RSS. Compiled, s3v4 runs
 * as a service runs it.
 */
function bundleSelf(): string | undefined {
  try {
    return bundle(fileURLToPath(import.meta.url), 'client');
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------

function machine(): string {
  const cpu = cpus();
  const ceph =
    spawnSync('radosgw', ['--version'], { encoding: 'utf8' })
      .stdout?.trim()
      .replace(/ \([0-9a-f]+\)/, '') ?? 'unknown';
  return (
    `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${fmt(totalmem() / 2 ** 30, 1)} GiB RAM, Linux ${release()}, Node ${process.version}, ` +
    `load average ${loadavg()
      .map((l) => fmt(l, 2))
      .join(' ')} at start; ` +
    `server: ${ceph} radosgw (beast, tcp_nodelay) on a one-OSD memstore cluster, on the same machine (client and server share the CPUs)`
  );
}

async function main(how: string): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 15);
  const batchMs = Number(process.env.S3V4_BENCH_BATCH_MS ?? 100);
  const concurrent = Number(process.env.S3V4_BENCH_CONCURRENCY ?? 8);
  console.log('# s3v4 client benchmark');
  console.log(`machine: ${machine()}`);
  console.log(`run as: ${how}`);
  console.log(
    `method: rows interleaved in one process (order rotated each round), ${rounds} rounds (${Math.ceil(rounds * 0.6)} for the concurrent variant) ` +
      `of ~${batchMs} ms batches per row, ${KEYS_PER_SIZE} keys per size with the same bodies for every row; ops/s median and quartiles over rounds; ` +
      `ratios are per round (row / s3v4 in the same round), median and quartiles; ` +
      (collectGarbage === undefined
        ? 'no forced garbage collection between batches (node without --expose-gc)'
        : 'a full garbage collection before every batch, outside the timing'),
  );
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  peers = { aws: await import('@aws-sdk/client-s3'), minio: await import('minio'), s3mini: await import('s3mini') };
  const begun = performance.now();
  const rgw = await startRgw();
  const rows: Row[] = [];
  const verdicts: Verdict[] = [];
  try {
    console.log(`server: ${rgw.endpoint}, up in ${fmt((performance.now() - begun) / 1000, 1)} s`);
    for (const note of await makeBuckets(rgw)) console.log(note);
    rows.push(...ROW_FACTORIES.map((make) => make(rgw)));
    const data = new Map<number, Data>(
      SIZES.map((size, s) => [
        size,
        { keys: keysFor(size), bodies: keysFor(size).map((_, i) => randomBody(size, 1000 * s + i + 1)) },
      ]),
    );
    await verify(rows, data);
    console.log(
      `checked: every row PUT every key (${SIZES.map(sizeName).join(' and ')}) and its GET, and every other signing client's, returned the same bytes; ` +
        `the floor's anonymous PUT and GET likewise; every timed GET is checked for length`,
    );
    console.log(
      'note: over http s3v4, the AWS SDK and minio sign a SHA-256 of each PUT body (minio adds Content-MD5); ' +
        's3mini signs UNSIGNED-PAYLOAD, so neither it nor the server hashes the body; the floor sends no signature\n',
    );

    const workloads: Workload[] = [];
    for (const concurrency of concurrent > 1 ? [1, concurrent] : [1]) {
      for (const size of SIZES) for (const op of ['PUT', 'GET'] as const) workloads.push({ op, size, concurrency });
    }
    // The concurrent variant is secondary: fewer rounds keep the whole run within about two minutes.
    for (const w of workloads)
      verdicts.push(
        await runWorkload(rows, w, data.get(w.size)!, w.concurrency === 1 ? rounds : Math.ceil(rounds * 0.6), batchMs),
      );

    console.log('## Targets\n');
    for (const v of verdicts) {
      const bound = v.workload.concurrency === 1 ? 1.1 : 1.05;
      console.log(
        `- ${title(v.workload)}: ${fmt(v.overFloor.median, 2)}x the unsigned floor's time (<= ${bound}x): ${v.met ? 'met' : 'NOT met'}`,
      );
    }
    console.log(
      `\nTook ${fmt((performance.now() - begun) / 1000)} s; load average ${loadavg()
        .map((l) => fmt(l, 2))
        .join(' ')} at the end.`,
    );
    if (sink === 0) console.log('(no work was done)');
  } finally {
    await Promise.allSettled(rows.map((row) => row.close()));
    // rgw.ts unreferences its daemons; a live handle keeps this process up until their exits arrive, whatever stop() does.
    const keepAlive = setInterval(() => undefined, 1000);
    await rgw.stop().finally(() => clearInterval(keepAlive));
  }
}

if (process.env[BUNDLED_ENV] === '1') {
  await main('plain node running this file compiled by esbuild (s3v4 as a service runs it)');
} else {
  const bundled = bundleSelf();
  if (bundled === undefined) {
    await main(
      'tsx, as esbuild failed: s3v4 carries keepNames wrappers and the transfer child the tsx loader (about 30 MiB)',
    );
  } else {
    // Run the compiled program; it starts and stops its own server. Signals reach it too (same process group).
    const child = spawn(process.execPath, ['--expose-gc', bundled], {
      env: { ...process.env, [BUNDLED_ENV]: '1' },
      stdio: 'inherit',
    });
    const code = await new Promise<number>((resolve) =>
      child.once('close', (status, signal) => resolve(status ?? (signal === null ? 1 : 128))),
    );
    process.exitCode = code;
  }
}
