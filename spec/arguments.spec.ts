/**
 * Arguments the client refuses before any request, naming the argument
 * (issue 11, items 10 and 11). The client points at a closed loopback port:
 * a check that did not run would meet a NetworkError instead.
 */
import { constants } from 'node:buffer';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type InvalidArgumentError, S3Client } from '../lib/index.js';
import { throwsArgument } from './helpers.js';

const MiB = 1024 * 1024;
const options = {
  endpoint: 'http://127.0.0.1:1',
  bucket: 'bucket',
  region: 'us-east-1',
  accessKeyId: 'AKID',
  secretAccessKey: 'secret',
};

async function refused(work: Promise<unknown>, argument: string): Promise<InvalidArgumentError> {
  const error = await work.then(
    () => assert.unreachable('expected a refusal'),
    (caught: unknown) => caught,
  );
  return throwsArgument(() => {
    throw error;
  }, argument);
}

test('range tuples must be whole byte offsets, start <= end; a suffix must be a whole number above 0', async () => {
  const client = new S3Client(options, { maxAttempts: 1 });
  const tuples = [
    [-1, 3],
    [Number.NaN, Number.NaN],
    [1.5, 3],
    [5, 2],
    [0, 2 ** 53],
    [0, Number.POSITIVE_INFINITY],
  ] as const;
  for (const range of tuples) await refused(client.get('k', { range }), 'range');
  for (const suffix of [0, -1, 1.5, Number.NaN]) await refused(client.get('k', { range: { suffix } }), 'range.suffix');
  await refused(client.get('k', { range: 42 as never }), 'range');
  await client.close();
});

test("partSize is refused above Node's Buffer limit and above S3's 5 GiB part limit", () => {
  const limit = Math.min(constants.MAX_LENGTH, 5 * 1024 * MiB);
  const error = throwsArgument(() => new S3Client(options, { partSize: limit + 1 }), 'partSize');
  assert.match(error.message, String(limit));
  assert.ok(new S3Client(options, { partSize: 64 * MiB }) instanceof S3Client);
});

test.run();
