/**
 * Signing throughput: s3v4 against the JavaScript peers (aws4,
 * @smithy/signature-v4, minio, aws4fetch) and against the floor: a cached
 * signing key, one SHA-256 of a prebuilt canonical request and one createHmac
 * of the string to sign. A second floor row uses s3v4's own HMAC
 * (SigningKey), so what s3v4 adds beyond the crypto shows too.
 *
 * Every row must produce the same signature before it is timed. Rows are
 * interleaved round by round in one process (order rotated each round), so
 * the machine's noise hits every row alike; each ratio is taken within a
 * round and its median and quartiles are reported, next to ns/op medians.
 *
 * Run: npm run bench   (S3V4_BENCH_ROUNDS, S3V4_BENCH_BATCH_MS to tune)
 */
import { createHmac, hash } from 'node:crypto';
import { cpus, release } from 'node:os';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import aws4 from 'aws4';
import { AwsV4Signer } from 'aws4fetch';
import { presignSignatureV4, signV4 } from 'minio/dist/esm/signing.mjs';
import { SigV4Signer, SigningKey, deriveSigningKey } from '../lib/index.js';
import { fmt, spread, type Spread } from './stats.js';

const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const REGION = 'us-east-1';
const HOST = 'examplebucket.s3.amazonaws.com';
/** The AWS S3 documentation examples' clock: 20130524T000000Z. */
const DATE = new Date('2013-05-24T00:00:00Z');
const AMZ_DATE = '20130524T000000Z';
const SCOPE = '20130524/us-east-1/s3/aws4_request';
const UNSIGNED = 'UNSIGNED-PAYLOAD';

interface Workload {
  id: string;
  title: string;
  /** The signature every row must produce; from the AWS documentation where it has one. */
  expected: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  payloadHash: string;
  /** Presign for this many seconds instead of signing headers. */
  expiresIn?: number;
}

const WORKLOADS: Workload[] = [
  {
    id: 'W1',
    title: 'header-sign GET /photos/2024/cat%20%26%20dog.jpg, range, UNSIGNED-PAYLOAD',
    expected: '',
    method: 'GET',
    path: '/photos/2024/cat%20%26%20dog.jpg',
    headers: { range: 'bytes=0-1048575' },
    payloadHash: UNSIGNED,
  },
  {
    id: 'W2',
    title: 'header-sign the AWS PUT example (S3 API Reference, sig-v4-header-based-auth)',
    expected: '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    method: 'PUT',
    path: '/test%24file.text',
    headers: { date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
    payloadHash: '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
  },
  {
    id: 'W3',
    title: 'presign the AWS GET example for 86400 s (S3 API Reference, sigv4-query-string-auth)',
    expected: 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    method: 'GET',
    path: '/test.txt',
    headers: {},
    payloadHash: UNSIGNED,
    expiresIn: 86400,
  },
];

/**
 * One row of the table: `run` signs the workload once and returns what the
 * library hands its caller (an Authorization header, a URL or a signature).
 */
interface Row {
  name: string;
  peer: boolean;
  run: () => string | Promise<string>;
  /** The prebuilt canonical request of a floor row. */
  canonical?: string;
  /** Headers this row cannot sign; its signature is checked against s3v4 signing without them. */
  unsigned?: string[];
}

/** The names among `names` that the workload sends. */
const present = (w: Workload, names: readonly string[]): string[] => names.filter((name) => name in w.headers);
/** The signature in a row's output, read outside the timed loop. */
const signatureOf = (output: string): string =>
  /(?:^|Signature=)([0-9a-f]{64})(?:$|&)/.exec(output)?.[1] ?? `no signature in ${output}`;

function s3v4Row(w: Workload, skip: readonly string[] = []): Row {
  const signer = new SigV4Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, region: REGION });
  const url = `https://${HOST}${w.path}`;
  const headers = { ...w.headers };
  for (const name of skip) delete headers[name];
  const request = { method: w.method, url, headers, payloadHash: w.payloadHash };
  const expiresIn = w.expiresIn;
  return {
    name: 's3v4',
    peer: false,
    run:
      expiresIn === undefined
        ? () => signer.sign(request, { date: DATE }).authorization
        : () => signer.presign({ method: w.method, url }, { date: DATE, expiresIn }),
  };
}

function aws4Row(w: Workload): Row {
  const credentials = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
  const expiresIn = w.expiresIn;
  return {
    name: 'aws4',
    peer: true,
    // aws4 never signs `range` (its HEADERS_TO_IGNORE), so on W1 it does slightly less work than the others.
    unsigned: present(w, ['range']),
    run: () => {
      // aws4 mutates its argument, so every call gets a fresh one, as in real use.
      if (expiresIn !== undefined) {
        const opts = aws4.sign(
          {
            host: HOST,
            method: w.method,
            path: `${w.path}?X-Amz-Expires=${expiresIn}&X-Amz-Date=${AMZ_DATE}`,
            service: 's3',
            region: REGION,
            signQuery: true,
          },
          credentials,
        );
        return opts.path!;
      }
      const opts = aws4.sign(
        {
          host: HOST,
          method: w.method,
          path: w.path,
          service: 's3',
          region: REGION,
          headers: { ...w.headers, 'X-Amz-Date': AMZ_DATE, 'X-Amz-Content-Sha256': w.payloadHash },
        },
        credentials,
      );
      return String(opts.headers!.Authorization);
    },
  };
}

function smithyRow(w: Workload): Row {
  const signer = new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    region: REGION,
    service: 's3',
    sha256: Hash.bind(null, 'sha256'),
    // S3 settings of the AWS SDK v3 (S3 paths are encoded once).
    uriEscapePath: false,
    applyChecksum: true,
  });
  const expiresIn = w.expiresIn;
  const request = () => ({
    method: w.method,
    protocol: 'https:',
    hostname: HOST,
    path: w.path,
    query: {},
    headers: { host: HOST, ...w.headers, 'x-amz-content-sha256': w.payloadHash },
  });
  // For a presign the header only carries the payload hash: kept out of the query and out of the signed headers.
  const payloadHashOnly = new Set(['x-amz-content-sha256']);
  return {
    name: '@smithy/signature-v4',
    peer: true,
    // The AWS SDK drops a caller's `date` header (its GENERATED_HEADERS) and signs x-amz-date alone.
    unsigned: present(w, ['date']),
    run:
      expiresIn === undefined
        ? async () => String((await signer.sign(request(), { signingDate: DATE })).headers.authorization)
        : async () =>
            String(
              (
                await signer.presign(request(), {
                  signingDate: DATE,
                  expiresIn,
                  unhoistableHeaders: payloadHashOnly,
                  unsignableHeaders: payloadHashOnly,
                })
              ).query!['X-Amz-Signature'],
            ),
  };
}

function minioRow(w: Workload): Row {
  const expiresIn = w.expiresIn;
  return {
    name: 'minio',
    peer: true,
    run: () => {
      // minio signs every header it is given (lower-case names), x-amz-date included.
      if (expiresIn !== undefined) {
        const request = { method: w.method, path: w.path, headers: { host: HOST }, protocol: 'https:' };
        return presignSignatureV4(request, ACCESS_KEY, SECRET_KEY, undefined, REGION, DATE, expiresIn);
      }
      const headers = { host: HOST, ...w.headers, 'x-amz-date': AMZ_DATE, 'x-amz-content-sha256': w.payloadHash };
      return signV4(
        { method: w.method, path: w.path, headers, protocol: 'https:' },
        ACCESS_KEY,
        SECRET_KEY,
        REGION,
        DATE,
        w.payloadHash,
      );
    },
  };
}

function aws4fetchRow(w: Workload): Row {
  // aws4fetch's own key cache, shared across calls as its AwsClient does.
  const cache = new Map<string, ArrayBuffer>();
  const expiresIn = w.expiresIn;
  const url = `https://${HOST}${w.path}`;
  return {
    name: 'aws4fetch',
    peer: true,
    // aws4fetch never signs `range` either (its UNSIGNABLE_HEADERS).
    unsigned: present(w, ['range']),
    run: async () => {
      const common = {
        method: w.method,
        accessKeyId: ACCESS_KEY,
        secretAccessKey: SECRET_KEY,
        region: REGION,
        service: 's3',
        cache,
        datetime: AMZ_DATE,
      };
      if (expiresIn !== undefined) {
        const signed = await new AwsV4Signer({
          ...common,
          url: `${url}?X-Amz-Expires=${expiresIn}`,
          signQuery: true,
        }).sign();
        return signed.url.toString();
      }
      const headers = { ...w.headers, 'x-amz-content-sha256': w.payloadHash };
      const signed = await new AwsV4Signer({ ...common, url, headers }).sign();
      return signed.headers.get('authorization')!;
    },
  };
}

/** The floor: what any SigV4 signer must do per request once its strings are built. */
function floorRow(w: Workload): Row {
  const s3v4 = new SigV4Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY, region: REGION });
  const url = `https://${HOST}${w.path}`;
  const canonical =
    w.expiresIn === undefined
      ? s3v4.explainSign({ method: w.method, url, headers: w.headers, payloadHash: w.payloadHash }, { date: DATE })
          .canonicalRequest
      : s3v4.explainPresign({ method: w.method, url }, { date: DATE, expiresIn: w.expiresIn }).canonicalRequest;
  const key = deriveSigningKey(SECRET_KEY, AMZ_DATE.slice(0, 8), REGION, 's3');
  const prefix = `AWS4-HMAC-SHA256\n${AMZ_DATE}\n${SCOPE}\n`;
  return {
    name: 'floor (createHmac)',
    peer: false,
    canonical,
    run: () =>
      createHmac('sha256', key)
        .update(prefix + hash('sha256', canonical))
        .digest('hex'),
  };
}

/**
 * The floor with s3v4's own HMAC (prepared key pads, see SigningKey): what
 * s3v4 costs beyond it is the canonical request, the checks and the output.
 */
function floorPadsRow(w: Workload): Row {
  const floor = floorRow(w);
  const key = new SigningKey(deriveSigningKey(SECRET_KEY, AMZ_DATE.slice(0, 8), REGION, 's3'));
  const prefix = `AWS4-HMAC-SHA256\n${AMZ_DATE}\n${SCOPE}\n`;
  const canonical = floor.canonical!;
  return { name: "floor with s3v4's HMAC", peer: false, run: () => key.sign(prefix + hash('sha256', canonical)) };
}

const ROW_FACTORIES = [s3v4Row, aws4Row, smithyRow, minioRow, aws4fetchRow, floorRow, floorPadsRow];

let sink = 0;

/** Nanoseconds per operation over one batch of `n` calls. */
async function timeBatch(row: Row, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const out = row.run();
    sink += (typeof out === 'string' ? out : await out).length;
  }
  return Number(process.hrtime.bigint() - start) / n;
}

interface Result {
  row: Row;
  ns: Spread;
  /** This row's time over s3v4's in the same round: pairing cancels the machine's slow drifts. */
  ratio: Spread;
}

async function main(): Promise<void> {
  const rounds = Number(process.env.S3V4_BENCH_ROUNDS ?? 31);
  const batchMs = Number(process.env.S3V4_BENCH_BATCH_MS ?? 10);
  const cpu = cpus();
  console.log(`# s3v4 signing benchmark`);
  console.log(
    `machine: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}`,
  );
  console.log(
    `method: rows interleaved in one process (order rotated each round), ${rounds} rounds of ~${batchMs} ms batches per row; ` +
      `ns/op median and quartiles over rounds; ratios are per round (row / s3v4 in the same round), median and quartiles\n`,
  );

  let allMet = true;
  for (const w of WORKLOADS) {
    const rows = ROW_FACTORIES.map((make) => make(w));
    // Every row must produce the same signature (and the AWS documentation's, where it has one) before it is timed.
    const reference = signatureOf(await rows[0]!.run());
    if (w.expected !== '' && reference !== w.expected)
      throw new Error(`${w.id}: s3v4 signed ${reference}, AWS documents ${w.expected}`);
    const notes: string[] = [];
    for (const row of rows) {
      const got = signatureOf(await row.run());
      const skip = row.unsigned ?? [];
      const want = skip.length === 0 ? reference : signatureOf(await s3v4Row(w, skip).run());
      if (got !== want) throw new Error(`${w.id}: ${row.name} signed ${got}, s3v4 signed ${want}; not comparable`);
      if (skip.length > 0)
        notes.push(`${row.name} cannot sign ${skip.join(', ')}: checked against s3v4 signing without it (${want})`);
    }
    // Warm up and size each row's batch to about batchMs.
    const batch = new Map<Row, number>();
    for (const row of rows) {
      await timeBatch(row, 2000);
      const ns = await timeBatch(row, 2000);
      batch.set(row, Math.max(100, Math.round((batchMs * 1e6) / ns)));
    }
    const samples = new Map<Row, number[]>(rows.map((r) => [r, []]));
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[(i + round) % rows.length]!;
        samples.get(row)!.push(await timeBatch(row, batch.get(row)!));
      }
    }
    const ours = samples.get(rows[0]!)!;
    const results: Result[] = rows.map((row) => {
      const own = samples.get(row)!;
      return { row, ns: spread(own), ratio: spread(own.map((ns, round) => ns / ours[round]!)) };
    });
    const floor = results.find((r) => r.row === rows[ROW_FACTORIES.indexOf(floorRow)])!;
    const fastestPeer = results.filter((r) => r.row.peer).sort((a, b) => a.ratio.median - b.ratio.median)[0]!;

    console.log(`## ${w.id}: ${w.title}`);
    console.log(`signature ${reference} (all rows agree)`);
    for (const note of notes) console.log(`note: ${note}`);
    console.log('');
    console.log('| row | ns/op median | ns/op quartiles | ops/s | time / s3v4 (paired) | quartiles |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.row.name} | ${fmt(r.ns.median)} | ${fmt(r.ns.p25)}–${fmt(r.ns.p75)} | ${fmt(1e9 / r.ns.median)} ` +
          `| ${fmt(r.ratio.median, 2)}x | ${fmt(r.ratio.p25, 2)}–${fmt(r.ratio.p75, 2)} |`,
      );
    }
    const speedup = fastestPeer.ratio.median;
    const overFloor = 1 / floor.ratio.median;
    const met = speedup >= 2 && overFloor <= 1.3;
    allMet &&= met;
    console.log(
      `\ns3v4 is ${fmt(speedup, 2)}x faster than the fastest peer (${fastestPeer.row.name}; target >= 2x) ` +
        `and takes ${fmt(overFloor, 2)}x the floor (target <= 1.3x): ${met ? 'met' : 'NOT met'}\n`,
    );
  }
  console.log(allMet ? 'All targets met.' : 'Some targets were NOT met on this run.');
  if (sink === 0) console.log('(no work was done)');
}

await main();
