/**
 * Faults, against each real server through the fault-injecting proxy on
 * 127.0.0.1 (spec/support/faults.ts): connection refused, resets before the
 * reply and in the middle of uploads and downloads, replies delayed past each
 * timeout, 503 SlowDown and 500 InternalError N times in a row, bodies cut
 * short of their Content-Length, and a server Date hours off.
 *
 * For each, the outcome is asserted: the operation succeeds within the retry
 * budget or fails with a typed error; a download never reports success with
 * missing or extra bytes; a failed upload leaves the old object or the whole
 * new one, never a part, and no multipart upload open; no unhandled
 * rejection; and no socket or timer is left once the clients are closed.
 * The run prints the README's table: faults injected, operations that
 * survived, bytes lost.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import * as assert from 'uvu/assert';
import { NetworkError, S3Client, S3Error, type ClientOptions } from '../lib/index.js';
import { onEachServer } from './helpers.js';
import { startFaultProxy, type Fault, type FaultProxy } from './support/faults.js';
import { freePort, signedRequest, storageFor, uploadsIn, type S3Server } from './support/servers.js';

const BUCKET = 'fault-matrix';
const MiB = 1024 * 1024;
/** Short timeouts keep the stalls quick; the attempts stay the default 3. */
const TIMEOUTS = { connect: 500, headers: 500, body: 500 };

interface Row {
  fault: string;
  injected: number;
  operations: number;
  survived: number;
  /** Operations that failed, each with a typed error saying what happened. */
  failedTyped: number;
  bytesLost: number;
}

const rows: Row[] = [];
let server: S3Server;
let proxy: FaultProxy;
/** Straight to the server, to check what a faulty operation left behind. */
let truth: S3Client;
const clients: S3Client[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

function client(options: ClientOptions = {}, endpoint = proxy.endpoint): S3Client {
  const made = new S3Client(storageFor(server, BUCKET, { endpoint }), { timeouts: TIMEOUTS, ...options });
  clients.push(made);
  return made;
}

/** Runs an operation; a failure must be a typed error, whose class is returned. */
async function outcome<T>(operation: () => Promise<T>): Promise<{ value?: T; error?: NetworkError | S3Error }> {
  try {
    return { value: await operation() };
  } catch (error) {
    assert.ok(error instanceof NetworkError || error instanceof S3Error, `an untyped failure: ${String(error)}`);
    return { error: error as NetworkError | S3Error };
  }
}

/** The object's bytes on the server, or undefined when there is none. */
async function stored(key: string): Promise<Buffer | undefined> {
  if (!(await truth.exists(key))) return undefined;
  return Buffer.from(await (await truth.get(key)).bytes());
}

async function openUploads(): Promise<number> {
  return (await uploadsIn(server, BUCKET)).length;
}

/** Bytes lost: `expected` was reported stored or read, and differs from `actual`. */
function lost(expected: Buffer, actual: Buffer | Uint8Array | undefined): number {
  return actual !== undefined && Buffer.from(actual).equals(expected) ? 0 : expected.length;
}

function record(row: Row): void {
  rows.push(row);
  assert.is(row.bytesLost, 0, `${row.fault}: bytes were lost`);
  assert.is(
    row.survived + row.failedTyped,
    row.operations,
    `${row.fault}: an operation neither succeeded nor failed with a typed error`,
  );
}

const injected = (kind: Fault['kind']) => proxy.seen.filter((s) => s.fault === kind).length;

onEachServer('fault handling', 'spec/faults.spec.ts', 180, (test, on) => {
  test.before(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await on.shared();
    const created = await signedRequest(server, 'PUT', `/${BUCKET}`);
    assert.is(created.status, 200, created.text);
    // Without keep-alive to the server, the proxy holds no socket between requests: what stays open is the client's.
    proxy = await startFaultProxy(server.port, { upstreamKeepAlive: false });
    truth = new S3Client({
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      region: server.region,
      bucket: BUCKET,
    });
  });

  test.after.each(() => proxy.reset());

  test.after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await truth?.close();
    await proxy?.close();
    if (rows.length > 0) {
      console.log(
        '\n| fault | injected | operations | survived | failed with a typed error | bytes lost |\n|---|---:|---:|---:|---:|---:|',
      );
      for (const r of rows)
        console.log(
          `| ${r.fault} | ${r.injected} | ${r.operations} | ${r.survived} | ${r.failedTyped} | ${r.bytesLost} |`,
        );
    }
  });

  test('connection refused: every attempt fails fast with NetworkError, nothing is written', async () => {
    const port = await freePort();
    const refused = client({}, `http://127.0.0.1:${port}`);
    let failed = 0;
    for (let i = 0; i < 4; i++) {
      const result = await outcome<unknown>(() =>
        i % 2 === 0 ? refused.put(`refused/${i}`, 'x') : refused.get(`refused/${i}`),
      );
      assert.instance(result.error, NetworkError);
      assert.is(result.error!.code, 'ERR_S3V4_NETWORK');
      assert.match(result.error!.message, /no reply from .* \(ECONNREFUSED\)/);
      failed++;
      assert.is(await stored(`refused/${i}`), undefined);
    }
    record({
      fault: 'connection refused (3 attempts each)',
      injected: 4 * 3,
      operations: 4,
      survived: 0,
      failedTyped: failed,
      bytesLost: 0,
    });
  });

  test('reset before the reply: retried within the budget, a typed error beyond it', async () => {
    const c = client();
    const body = randomBytes(100_000);
    let survived = 0;
    let failedTyped = 0;
    let bytesLost = 0;
    // Two resets, then the third attempt goes through, for each kind of request.
    const operations: Array<() => Promise<unknown>> = [
      () => c.put('reset/a', body),
      async () => Buffer.from(await (await c.get('reset/a')).bytes()),
      () => c.head('reset/a'),
      async () => (await c.list({ prefix: 'reset/' }).next()).value,
      () => c.copy('reset/a', 'reset/b'),
      () => c.delete('reset/b'),
    ];
    for (const operation of operations) {
      proxy.inject({ kind: 'reset' }, { times: 2 });
      const result = await outcome(operation);
      assert.is(result.error, undefined, String(result.error));
      survived++;
      if (Buffer.isBuffer(result.value)) bytesLost += lost(body, result.value);
    }
    bytesLost += lost(body, await stored('reset/a'));
    proxy.inject({ kind: 'reset' }, { times: 3 });
    const beyond = await outcome(() => c.get('reset/a'));
    assert.instance(beyond.error, NetworkError);
    assert.match(beyond.error!.message, /GET reset\/a: no reply/);
    failedTyped++;
    record({
      fault: 'TCP reset before the reply (2 per operation; 3 for the last)',
      injected: injected('reset'),
      operations: operations.length + 1,
      survived,
      failedTyped,
      bytesLost,
    });
  });

  test('reset in the middle of an upload: buffers, streams and parts are sent again; every attempt cut leaves the old object', async () => {
    const c = client({ partSize: 5 * MiB });
    let bytesLost = 0;
    let survived = 0;
    let failedTyped = 0;
    const buffer = randomBytes(256 * 1024);
    proxy.inject({ kind: 'reset-request', after: 64 * 1024 }, { times: 2 });
    assert.is((await outcome(() => c.put('cut/buffer', buffer))).error, undefined);
    survived++;
    bytesLost += lost(buffer, await stored('cut/buffer'));

    // A stream of unknown length: multipart, two parts cut in the middle and sent again from their buffers.
    const big = randomBytes(12 * MiB);
    proxy.inject(
      { kind: 'reset-request', after: MiB },
      { times: 2, match: (method, url) => method === 'PUT' && url.includes('partNumber=') },
    );
    assert.is(
      (await outcome(() => c.put('cut/multipart', Readable.from([big.subarray(0, 7 * MiB), big.subarray(7 * MiB)]))))
        .error,
      undefined,
    );
    survived++;
    bytesLost += lost(big, await stored('cut/multipart'));

    // A stream of known length goes in one request; over http it is read into memory to be signed, so it is sent
    // again like a buffer, and the new object is whole.
    const old = randomBytes(1000);
    await truth.put('cut/stream', old);
    const fresh = randomBytes(256 * 1024);
    proxy.inject({ kind: 'reset-request', after: 64 * 1024 }, { times: 1 });
    const streamed = await outcome(() => c.put('cut/stream', Readable.from([fresh]), { contentLength: fresh.length }));
    assert.is(streamed.error, undefined);
    survived++;
    bytesLost += lost(fresh, await stored('cut/stream'));

    // Every attempt of every part cut: the upload is aborted, the old object stays, no upload is left open.
    await truth.put('cut/always', old);
    proxy.inject(
      { kind: 'reset-request', after: MiB },
      { times: 1000, match: (method, url) => method === 'PUT' && url.includes('partNumber=') },
    );
    const always = await outcome(() => c.put('cut/always', Readable.from([big])));
    assert.instance(always.error, NetworkError);
    failedTyped++;
    bytesLost += lost(old, await stored('cut/always'));
    assert.is(await openUploads(), 0);
    record({
      fault: 'TCP reset in the middle of an upload',
      injected: injected('reset-request'),
      operations: 4,
      survived,
      failedTyped,
      bytesLost,
    });
  });

  test('reset or truncation in the middle of a download: never a success with missing bytes', async () => {
    const c = client();
    const body = randomBytes(2 * MiB);
    await truth.put('cut/download', body);
    let failedTyped = 0;
    let survived = 0;
    for (const fault of [
      { kind: 'reset-response', after: 300_000 },
      { kind: 'truncate', after: 300_000 },
      { kind: 'truncate', after: 0 },
    ] as const) {
      proxy.inject(fault);
      const viaBytes = await outcome(async () => Buffer.from(await (await c.get('cut/download')).bytes()));
      assert.instance(
        viaBytes.error,
        NetworkError,
        `${fault.kind} after ${fault.after}: ${String(viaBytes.value?.length)} bytes reported`,
      );
      assert.match(viaBytes.error!.message, /GET cut\/download: the body broke off/);
      failedTyped++;
      // Read as a stream, the body errors rather than ending short.
      proxy.inject(fault);
      const viaStream = await outcome(async () => {
        const reply = await c.get('cut/download');
        const hash = createHash('sha256');
        for await (const chunk of reply.body) hash.update(chunk as Buffer);
        return hash.digest('hex');
      });
      assert.instance(viaStream.error, NetworkError, `${fault.kind}: the stream ended without an error`);
      failedTyped++;
    }
    // And a clean read afterwards has every byte.
    assert.ok(Buffer.from(await (await c.get('cut/download')).bytes()).equals(body));
    survived++;
    const cutShort = injected('reset-response') + injected('truncate');
    record({
      fault: 'reset or truncation in the middle of a download (then one clean read)',
      injected: cutShort,
      operations: 7,
      survived,
      failedTyped,
      bytesLost: 0,
    });
  });

  test('replies delayed past each timeout: a typed ERR_S3V4_TIMEOUT; shorter delays are waited out', async () => {
    const c = client();
    await truth.put('slow/a', 'slow');
    let failedTyped = 0;
    let survived = 0;
    // Headers: every attempt stalls.
    proxy.inject({ kind: 'stall' }, { times: 3 });
    const headers = await outcome(() => c.head('slow/a'));
    assert.is(headers.error?.code, 'ERR_S3V4_TIMEOUT', `headers: ${String(headers.error ?? 'no error')}`);
    failedTyped++;
    // Two attempts delayed past the headers timeout (undici checks it about once a second), the third in time.
    proxy.inject({ kind: 'delay', ms: 2500 }, { times: 2 });
    assert.is(await (await c.get('slow/a')).text(), 'slow');
    survived++;
    // Body: the headers come, the body never does.
    proxy.inject({ kind: 'stall-body' });
    const body = await outcome(async () => (await c.get('slow/a')).text());
    assert.is(body.error?.code, 'ERR_S3V4_TIMEOUT', `body: ${String(body.error ?? 'no error')}`);
    assert.match(body.error!.message, /GET slow\/a: the body timed out/);
    failedTyped++;
    // Connect: a TLS endpoint whose handshake never completes.
    const silent: Server = createServer(() => undefined);
    const port = await new Promise<number>((resolve) =>
      silent.listen(0, '127.0.0.1', () => resolve((silent.address() as { port: number }).port)),
    );
    try {
      const connect = await outcome(() => client({}, `https://127.0.0.1:${port}`).get('slow/a'));
      assert.is(connect.error?.code, 'ERR_S3V4_TIMEOUT', `connect: ${String(connect.error ?? 'no error')}`);
      assert.match(connect.error!.message, /UND_ERR_CONNECT_TIMEOUT/);
      failedTyped++;
    } finally {
      silent.close();
    }
    const delays = injected('stall') + injected('delay') + injected('stall-body') + 3;
    record({
      fault: 'reply delayed past the connect, headers or body timeout',
      injected: delays,
      operations: 4,
      survived,
      failedTyped,
      bytesLost: 0,
    });
  });

  test('503 SlowDown and 500 InternalError N times in a row: N < attempts succeed, N >= attempts name the code', async () => {
    const c = client();
    const body = randomBytes(50_000);
    let survived = 0;
    let failedTyped = 0;
    let bytesLost = 0;
    let replies = 0;
    for (const [status, code] of [
      [503, 'SlowDown'],
      [500, 'InternalError'],
    ] as const) {
      for (const times of [1, 2, 3, 5]) {
        const key = `busy/${code}-${times}`;
        proxy.inject({ kind: 'reply', status, code }, { times });
        const put = await outcome(() => c.put(key, body));
        if (times < 3) {
          assert.is(put.error, undefined);
          survived++;
          bytesLost += lost(body, await stored(key));
        } else {
          assert.instance(put.error, S3Error);
          assert.is(put.error!.code, code);
          assert.is((put.error as S3Error).status, status);
          failedTyped++;
          assert.is(await stored(key), undefined);
        }
        replies += injected('reply');
        // Five injected, three attempts: the two left over must not meet the next request.
        proxy.reset();
      }
    }
    assert.is(replies, 2 * (1 + 2 + 3 + 3));
    record({
      fault: '503 SlowDown / 500 InternalError, 1, 2, 3 and 5 in a row',
      injected: replies,
      operations: 8,
      survived,
      failedTyped,
      bytesLost,
    });
  });

  test('a server Date hours off: requests still succeed and links are still signed with the true time', async () => {
    const c = client();
    const body = randomBytes(10_000);
    proxy.inject({ kind: 'date', ms: 5 * 3600_000 }, { times: 20 });
    assert.is((await outcome(() => c.put('date/a', body))).error, undefined);
    const read = Buffer.from(await (await c.get('date/a')).bytes());
    const listed = (await c.list({ prefix: 'date/' }).next()).value;
    assert.equal(
      listed?.objects.map((o: { key: string }) => o.key),
      ['date/a'],
    );
    // The client learns the server's clock only from RequestTimeTooSkewed, never from a Date alone.
    const link = c.presign('date/a', { expiresIn: 60 });
    assert.match(link, new RegExp(`X-Amz-Date=${new Date().toISOString().slice(0, 13).replace(/-/g, '')}`));
    // An agent of its own, closed here, so the last test can count what the clients leave open.
    const agent = new Agent();
    const fetched = await request(link, { dispatcher: agent });
    assert.is(fetched.statusCode, 200);
    const viaLink = Buffer.from(await fetched.body.arrayBuffer());
    await agent.close();
    record({
      fault: 'server Date 5 hours ahead',
      injected: injected('date'),
      operations: 4,
      survived: 4,
      failedTyped: 0,
      bytesLost: lost(body, read) + lost(body, viaLink) + lost(body, await stored('date/a')),
    });
  });

  test('nothing is left behind: no unhandled rejection, and no socket or timer once the clients are closed', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    const c = client();
    proxy.inject({ kind: 'reply', status: 503, code: 'SlowDown' }, { times: 2 });
    await c.put('left/a', randomBytes(1000));
    await Promise.all(Array.from({ length: 8 }, (_, i) => c.put(`left/${i}`, `${i}`)));
    await Promise.all(clients.splice(0).map((made) => made.close()));
    const deadline = Date.now() + 3000;
    let after = Infinity;
    while (Date.now() < deadline) {
      after = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
      if (after <= before && proxy.openConnections() === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.is(proxy.openConnections(), 0, 'a client connection is still open');
    assert.ok(after <= before, `sockets and timers: ${before} before, ${after} after close`);
    // Let any late rejection surface before counting.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(unhandled, []);
    assert.is(await openUploads(), 0);
  });
});
