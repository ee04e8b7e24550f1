/**
 * botocore, the independent second client: Debian's python3-botocore reads a
 * bucket (spec/support/bucket-audit.py) so that what s3v4 wrote is checked by
 * code that shares nothing with it.
 */
import { spawn, spawnSync } from 'node:child_process';
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
 * botocore's reading of `bucket`: each object's key, the length of its GET and that body's SHA-256, in listing
 * order. Undefined, with a warning, when botocore is missing outside CI; under CI=true a missing botocore fails.
 */
export async function botocoreReads(
  server: S3Server,
  bucket: string,
): Promise<Array<[string, number, string]> | undefined> {
  if (!botocoreInstalled()) {
    assert.ok(process.env.CI !== 'true', `${PYTHON} cannot import botocore: install python3-botocore (.ci/run does)`);
    console.warn(`!! botocore is not installed (python3-botocore): ${bucket} is not read back by botocore`);
    return undefined;
  }
  const botocore = botocoreAudit(server);
  try {
    return (await botocore.audit(bucket)).map((object) => [object.key, object.length, object.sha256]);
  } finally {
    botocore.stop();
  }
}
