/**
 * botocore, the independent second client: Debian's python3-botocore reads a
 * bucket (spec/support/bucket-audit.py) so that what s3v4 wrote is checked by
 * code that shares nothing with it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import type { AuditedObject } from './model.js';
import type { S3Server } from './servers.js';

export const PYTHON = '/usr/bin/python3';
const AUDIT = fileURLToPath(new URL('./bucket-audit.py', import.meta.url));

export const botocoreInstalled = () => spawnSync(PYTHON, ['-c', 'import botocore'], { stdio: 'ignore' }).status === 0;

/**
 * botocore's view of a bucket (spec/support/bucket-audit.py), from one Python process for the whole test: botocore
 * takes seconds to start.
 */
export function botocoreAudit(server: S3Server): { audit: (bucket: string) => Promise<AuditedObject[]>; stop(): void } {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    S3V4_AUDIT_ENDPOINT: server.endpoint,
    S3V4_AUDIT_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
  };
  const child = spawn(PYTHON, [AUDIT], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line));
  child.once('exit', (code) => {
    for (const answer of waiting.splice(0)) answer(JSON.stringify({ error: `the audit process exited with ${code}` }));
  });
  const audit = (bucket: string) =>
    new Promise<AuditedObject[]>((resolve, reject) => {
      waiting.push((line) => {
        const reply = JSON.parse(line) as AuditedObject[] | { error: string };
        if (Array.isArray(reply)) resolve(reply);
        else reject(new Error(`botocore's audit of ${bucket} failed: ${reply.error}`));
      });
      child.stdin.write(`${bucket}\n`);
    });
  return { audit, stop: () => child.kill() };
}

/**
 * Asserts that botocore reads `bucket` as exactly `expected` (key to bytes): the same keys, and for each a GET of the
 * same length and SHA-256. Outside CI a missing botocore is a warning; under CI=true it fails.
 */
export async function botocoreReadsBack(
  server: S3Server,
  bucket: string,
  expected: Map<string, Uint8Array>,
): Promise<void> {
  if (!botocoreInstalled()) {
    assert.ok(process.env.CI !== 'true', `${PYTHON} cannot import botocore: install python3-botocore (.ci/run does)`);
    console.warn(`!! botocore is not installed (python3-botocore): ${bucket} is not read back by botocore`);
    return;
  }
  const botocore = botocoreAudit(server);
  try {
    const read = (await botocore.audit(bucket)).map((object) => [object.key, object.length, object.sha256]);
    // ASCII keys: the listing's byte order is the strings' order.
    const wanted = [...expected]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, bytes]) => [key, bytes.length, createHash('sha256').update(bytes).digest('hex')]);
    assert.equal(read, wanted);
  } finally {
    botocore.stop();
  }
}
