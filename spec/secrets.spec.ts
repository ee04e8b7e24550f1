/**
 * Secrets never leak: every error path (bad configuration, bad arguments, a
 * refused signature, a network failure, command-line misuse) is run with a
 * marker secret key and session token, and the markers must appear nowhere:
 * not in messages, stacks, util.inspect (causes included), JSON.stringify,
 * nor the command's stdout and stderr.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  InvalidArgumentError,
  NetworkError,
  parseConfig,
  S3Client,
  S3Error,
  SigV4Signer,
  storageConfig,
} from '../lib/index.js';
import { builtCli, onEachServer, storageToml } from './helpers.js';
import { freePort, type S3Server } from './support/servers.js';

const test = suite('secrets never appear in output');

const SECRET = 'SECRETMARKERwJalrXUtnFEMIK7MDENGbPxRfiCY';
const TOKEN = 'TOKENMARKERFwoGZXIvYXdzEJr';
const MARKERS = [SECRET, TOKEN, 'SECRETMARKER', 'TOKENMARKER'];

/** Every rendering of a value a user or a log could see. */
function renderings(value: unknown): string[] {
  const out = [inspect(value, { depth: 20, showHidden: true }), inspect(value, { depth: 20, colors: false })];
  try {
    out.push(JSON.stringify(value) ?? '');
  } catch {
    // Circular structures cannot be logged as JSON either.
  }
  if (value instanceof Error) {
    out.push(value.message, value.stack ?? '', String(value));
    if (value.cause !== undefined) out.push(...renderings(value.cause));
  }
  return out;
}

function clean(what: string, value: unknown): void {
  for (const text of renderings(value)) {
    for (const marker of MARKERS)
      assert.not.ok(
        text.includes(marker),
        `${what}: the marker ${marker.slice(0, 12)}… appeared in ${text.slice(0, 400)}`,
      );
  }
}

/** Runs fn, which must throw; checks what it threw. */
async function thrownIsClean(what: string, fn: () => unknown): Promise<unknown> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `${what}: nothing was thrown`);
  clean(what, caught);
  return caught;
}

test('configuration and argument errors never show the secret or the token', async () => {
  const broken = [
    [`secret_key = "${SECRET}`, 'access_key = "AKID"'],
    [`secret_key = ${SECRET}`],
    [`secrt_key = "${SECRET}"`, 'secret_key = 5', `session_token = "${TOKEN}"`],
    [
      `access_key = "${SECRET}"`,
      `secret_key = "${SECRET}"`,
      `session_token = "${TOKEN}"`,
      'bucket = "x"',
      'region = "bad region"',
      'endpoint = "ftp://x"',
    ],
    [
      `access_key = "AKID"`,
      `secret_key = "${SECRET}"`,
      'bucket = "bucket-b"',
      'region = "us-east-1"',
      'endpoint = "https://<ACCOUNT_ID>.r2.cloudflarestorage.com"',
      'presigned_expiry_secs = 999999999',
    ],
  ];
  // The whitespace a CRLF file leaves around a credential, which is refused.
  for (const around of ['\\r', ' ', '\\n', '\\t'])
    broken.push(['access_key = "AKID"', `secret_key = "${SECRET}${around}"`, `session_token = "${TOKEN}${around}"`]);
  for (const lines of broken)
    await thrownIsClean(lines.join('; '), () => parseConfig(storageToml(...lines), 'broken.toml', {}));
  await thrownIsClean('a CRLF env file', () =>
    parseConfig(storageToml('bucket = "bucket-b"', 'region = "us-east-1"'), 'env.toml', {
      AWS_SECRET_ACCESS_KEY: `${SECRET}\r`,
      AWS_SESSION_TOKEN: `${TOKEN}\r`,
      AWS_ACCESS_KEY_ID: 'AKID\r',
    }),
  );
  // From the environment too.
  await thrownIsClean('environment', () =>
    parseConfig(storageToml('bucket = "bucket-b"', 'region = "nowhere region"'), 'env.toml', {
      AWS_SECRET_ACCESS_KEY: SECRET,
      AWS_SESSION_TOKEN: TOKEN,
      AWS_ACCESS_KEY_ID: 'AKID',
    }),
  );
  await thrownIsClean('storageConfig', () =>
    storageConfig({
      accessKeyId: 'AKID',
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
      bucket: '',
      region: 'us-east-1',
    }),
  );

  const options = {
    endpoint: 'http://127.0.0.1:9',
    accessKeyId: 'AKID',
    secretAccessKey: SECRET,
    sessionToken: TOKEN,
    bucket: 'bucket-b',
    region: 'us-east-1',
  };
  const client = new S3Client(options);
  clean('a client', client);
  clean('its config', client.config);
  clean('its endpoint', client.endpoint);
  await thrownIsClean('a bad key', () => client.get(''));
  await thrownIsClean('a bad option', () => new S3Client(options, { partSize: 1 }));
  await thrownIsClean('a bad presign', () => client.presign('k', { expiresIn: 0 }));
  const signer = new SigV4Signer({
    accessKeyId: 'AKID',
    secretAccessKey: SECRET,
    sessionToken: TOKEN,
    region: 'us-east-1',
  });
  clean('a signer', signer);
  const argument = await thrownIsClean('a bad request to sign', () => signer.sign({ method: 'GET', url: 'not a url' }));
  assert.instance(argument, InvalidArgumentError);
  await client.close();
});

test('the credential chain never shows them: shared files, token files, credential_process, container, STS', async () => {
  const home = mkdtempSync(join(tmpdir(), 's3v4-secrets-home-'));
  mkdirSync(join(home, '.aws'));
  const token = join(home, 'token');
  writeFileSync(token, `${TOKEN}.${SECRET}`);
  const process = join(home, 'creds.sh');
  writeFileSync(process, `#!/bin/sh\necho '{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "${SECRET}"'\n`);
  chmodSync(process, 0o755);
  writeFileSync(
    join(home, '.aws', 'credentials'),
    `[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = ${SECRET}\naws_session_token = ${TOKEN}\n`,
  );
  const brokenHome = mkdtempSync(join(tmpdir(), 's3v4-secrets-home-'));
  mkdirSync(join(brokenHome, '.aws'));
  writeFileSync(join(brokenHome, '.aws', 'credentials'), `[default]\n${SECRET}\n`);
  writeFileSync(
    join(home, '.aws', 'config'),
    `[profile process]\ncredential_process = ${process}\n[profile role]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = ${token}\n`,
  );
  const options = { endpoint: 'http://127.0.0.1:9', bucket: 'bucket-b', region: 'us-east-1' };
  const base = {
    HOME: home,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${await freePort()}`,
  };
  const environments: Array<[string, Record<string, string>]> = [
    ['a profile', base],
    ['a shared file with a broken line', { ...base, HOME: brokenHome }],
    ['credential_process printing broken JSON', { ...base, AWS_PROFILE: 'process' }],
    ['a profile web identity token, STS unreachable', { ...base, AWS_PROFILE: 'role' }],
    [
      'web identity from the environment',
      { ...base, AWS_WEB_IDENTITY_TOKEN_FILE: token, AWS_ROLE_ARN: 'arn:aws:iam::1:role/r' },
    ],
    [
      'a container token, FULL_URI refused',
      {
        ...base,
        HOME: mkdtempSync(join(tmpdir(), 's3v4-secrets-home-')),
        AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://10.0.0.1/x',
        AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN,
      },
    ],
  ];
  const outcomes: string[] = [];
  for (const [what, env] of environments) {
    let client: S3Client | undefined;
    try {
      client = new S3Client(storageConfig(options, env));
    } catch (error) {
      clean(what, error);
      outcomes.push(error instanceof Error ? error.constructor.name : 'thrown');
      continue;
    }
    clean(`${what}: the client`, client);
    const outcome = await client.credentials().catch((error: unknown) => error);
    clean(`${what}: credentials()`, outcome);
    outcomes.push(outcome instanceof Error ? outcome.constructor.name : 'info');
    await client.close();
  }
  // Each path was taken: the profile's keys, the broken file's refusal, and a CredentialsError for each other source.
  assert.equal(outcomes, ['info', 'ConfigError', ...Array(4).fill('CredentialsError')]);
});

test.run();

onEachServer('secret handling on the wire', 'spec/secrets.spec.ts', 180, (test, on) => {
  let server: S3Server;
  let dir: string;

  test.before(async () => {
    server = await on.shared();
    dir = mkdtempSync(join(tmpdir(), 's3v4-secrets-spec-'));
  });

  test.after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test('a refused signature and a network failure never show them', async () => {
    const refused = new S3Client({
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: SECRET,
      bucket: 'secrets',
      region: server.region,
    });
    const error = await thrownIsClean('SignatureDoesNotMatch', () => refused.get('k'));
    assert.instance(error, S3Error);
    assert.is((error as S3Error).code, 'SignatureDoesNotMatch');
    await thrownIsClean('a refused upload', () => refused.put('k', 'body'));
    await refused.close();

    const withToken = new S3Client({
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      sessionToken: TOKEN,
      bucket: 'secrets',
      region: server.region,
    });
    assert.instance(await thrownIsClean('a refused session token', () => withToken.get('k')), S3Error);
    await withToken.close();

    const port = await freePort();
    const unreachable = new S3Client(
      {
        endpoint: `http://127.0.0.1:${port}`,
        accessKeyId: 'AKID',
        secretAccessKey: SECRET,
        sessionToken: TOKEN,
        bucket: 'bucket-b',
        region: server.region,
      },
      { maxAttempts: 1 },
    );
    assert.instance(await thrownIsClean('connection refused', () => unreachable.put('k', 'body')), NetworkError);
    await unreachable.close();
  });

  test('the command line never prints them, whatever goes wrong', () => {
    const cli = builtCli();
    const write = (name: string, lines: string[]) => {
      const path = join(dir, name);
      writeFileSync(path, storageToml(...lines));
      return path;
    };
    const wrong = write('wrong.toml', [
      `endpoint = "${server.endpoint}"`,
      `access_key = "${server.accessKeyId}"`,
      `secret_key = "${SECRET}"`,
      `session_token = "${TOKEN}"`,
      'bucket = "secrets"',
      `region = "${server.region}"`,
      'force_path_style = true',
    ]);
    const invalid = write('invalid.toml', [
      `secret_key = "${SECRET}"`,
      `session_token = "${TOKEN}"`,
      'bucket = "x"',
      'region = "us east"',
    ]);
    const runs: string[][] = [
      ['ls', '--config', wrong],
      ['ls', '--config', wrong, '--json'],
      ['get', 'k', join(dir, 'k'), '--config', wrong],
      ['put', wrong, 'k', '--config', wrong],
      ['doctor', '--config', wrong],
      ['doctor', '--config', wrong, '--json'],
      ['doctor', '--config', invalid],
      ['ls', '--config', invalid],
      ['presign', 'k', '--config', wrong, '--expires', 'soon'],
      ['nonsense', '--config', wrong],
      ['ls', '--bogus', '--config', wrong],
    ];
    for (const args of runs) {
      const run = spawnSync(process.execPath, [cli, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? '', AWS_SECRET_ACCESS_KEY: SECRET, AWS_SESSION_TOKEN: TOKEN },
      });
      assert.ok(run.status !== 0 && run.status !== null, `s3v4 ${args.join(' ')} should fail, exited ${run.status}`);
      assert.ok(run.stderr.length > 0, `s3v4 ${args.join(' ')} said nothing`);
      for (const marker of MARKERS)
        assert.not.ok(
          `${run.stdout}${run.stderr}`.includes(marker),
          `s3v4 ${args.join(' ')} printed a marker: ${run.stdout}${run.stderr}`,
        );
    }
  });
});
