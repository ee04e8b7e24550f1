/**
 * `npm start`: the quickstart. Brings up a local Ceph RADOS Gateway (the
 * real S3 implementation the tests use), or uses the provider configured in
 * $S3V4_CONFIG, then uploads a package file, lists it, downloads and verifies
 * it byte for byte, prints its links, fetches the presigned one with a plain
 * HTTP request, and cleans up after itself.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { request } from 'undici';
import { S3Client, SigV4Signer, encodeKey, fromFile, loadConfig, type StorageConfig } from '../../lib/index.js';
import { ensureCeph, startRgw, type Rgw } from './rgw.js';

const say = (line = '') => console.log(line);

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A local server, a bucket on it, and the configuration file a user would write for it. */
async function localSetup(dir: string): Promise<{ config: StorageConfig; rgw: Rgw }> {
  if (!ensureCeph(say)) {
    say('Ceph is not installed and cannot be installed here (apt-get as root is needed).');
    say('Point the quickstart at any S3 endpoint instead:');
    say('  S3V4_CONFIG=path/to/config.toml npm start');
    say('with a config.toml like the examples in README.md (AWS S3, COS, MinIO, R2).');
    process.exit(1);
  }
  say('Starting a local Ceph RADOS Gateway on 127.0.0.1 (one monitor, one OSD in memory, radosgw)...');
  const started = Date.now();
  const rgw = await startRgw();
  say(`  up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${rgw.endpoint}`);
  const bucket = 'quickstart-packages';
  const signer = new SigV4Signer({
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
  });
  const url = `${rgw.endpoint}/${bucket}`;
  const created = await request(url, { method: 'PUT', headers: { ...signer.sign({ method: 'PUT', url }) } });
  await created.body.dump();
  if (created.statusCode !== 200) throw new Error(`creating bucket ${bucket}: HTTP ${created.statusCode}`);
  const file = join(dir, 'config.toml');
  writeFileSync(
    file,
    `[object_store]
backend = "s3"

[object_store.s3]
endpoint              = "${rgw.endpoint}"
access_key            = "${rgw.accessKeyId}"
secret_key            = "${rgw.secretAccessKey}"
bucket                = "${bucket}"
region                = "${rgw.region}"
force_path_style      = true
presigned_expiry_secs = 600
public_url_base       = ""
`,
  );
  say(`  bucket ${bucket} created; configuration written to ${file}`);
  return { config: loadConfig(file, {}), rgw };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-quickstart-'));
  let rgw: Rgw | undefined;
  try {
    const configPath = process.env.S3V4_CONFIG;
    let config: StorageConfig;
    if (configPath === undefined || configPath === '') {
      ({ config, rgw } = await localSetup(dir));
    } else {
      config = loadConfig(configPath);
      say(`Using ${configPath}: ${config.provider} endpoint ${config.endpoint}, bucket ${config.bucket}`);
    }
    for (const warning of config.warnings) say(`warning: ${warning}`);
    const client = new S3Client(config);
    try {
      const key = `s3v4-quickstart/${randomUUID()}/agentverse-demo-1.0.0.tgz`;
      const local = join(dir, 'agentverse-demo-1.0.0.tgz');
      writeFileSync(local, randomBytes(3 * 1024 * 1024 + 123));
      const digest = await sha256File(local);
      say();
      say(`1. upload   ${key} (3 MiB, sha256 ${digest.slice(0, 16)}...)`);
      const put = await client.put(key, fromFile(local), {
        contentType: 'application/gzip',
        metadata: { version: '1.0.0' },
      });
      say(`   ETag ${put.etag}`);

      say('2. list');
      const prefix = key.slice(0, key.lastIndexOf('/') + 1);
      for await (const page of client.list({ prefix })) {
        for (const object of page.objects)
          say(`   ${object.key}  ${object.size} bytes  ${object.lastModified.toISOString()}`);
      }

      say('3. download and verify');
      const copy = join(dir, 'downloaded.tgz');
      const got = await client.get(key);
      await pipeline(got.body, createWriteStream(copy));
      const back = await sha256File(copy);
      if (back !== digest) throw new Error(`the download differs: sha256 ${back}, uploaded ${digest}`);
      say(
        `   ${got.size} bytes, ${got.contentType}, metadata ${JSON.stringify(got.metadata)}: identical (sha256 ${back.slice(0, 16)}...)`,
      );

      say('4. links');
      say(`   plain      ${client.endpoint.objectUrl(key)}`);
      const presigned = client.presign(key, { expiresIn: 600 });
      say(`   presigned  ${presigned}`);
      const cdn =
        config.publicUrlBase === undefined
          ? `https://cdn.example.com/${encodeKey(key)}   (with public_url_base = "https://cdn.example.com")`
          : client.downloadUrl(key);
      say(`   CDN-style  ${cdn}`);
      say(
        `   download   ${client.downloadUrl(key)}   (what presigned_expiry_secs = ${config.presignedExpirySecs} gives)`,
      );

      say('5. fetch the presigned link with a plain HTTP GET (no credentials)');
      const fetched = await request(presigned);
      const bytes = Buffer.from(await fetched.body.arrayBuffer());
      const same = createHash('sha256').update(bytes).digest('hex') === digest;
      say(`   HTTP ${fetched.statusCode}, ${bytes.length} bytes, ${same ? 'identical' : 'DIFFERENT'}`);
      if (fetched.statusCode !== 200 || !same) throw new Error('the presigned link did not serve the object');

      say('6. clean up');
      await client.delete(key);
      say(`   deleted; exists now: ${await client.exists(key)}`);
    } finally {
      await client.close();
    }
    say();
    say('Quickstart done.');
  } finally {
    await rgw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`quickstart failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
