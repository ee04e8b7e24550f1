/**
 * Credentials without a server: the refresh rules of CredentialCache on a
 * clock the test moves (margin, single flight, a failed refresh, expiry),
 * the chain with every source absent (CredentialsError lists each, and no
 * connection leaves loopback), shared-file profiles, credential_process,
 * the container URL rules, and presigned URLs cut to the credentials' life.
 * The sources against a server that checks the credentials they give are in
 * sources.spec.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CredentialCache,
  type CredentialProvider,
  REFRESH_MARGIN_MS,
  leaseTimes,
  refreshBackoff,
} from '../lib/credentials.js';
import { containerUrl } from '../lib/metadata.js';
import { splitWords } from '../lib/profiles.js';
import { awsHome } from './helpers.js';
import {
  ConfigError,
  CredentialsError,
  type Environment,
  InvalidArgumentError,
  S3Client,
  storageConfig,
} from '../lib/index.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'FQoGZXIvYXdzEXAMPLETOKEN';
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A clock the test moves by hand. */
function manualClock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms), set: (ms: number) => (now = ms) };
}

/** A provider that hands out credentials living `lifetimeMs` from the clock, numbered by call; `fail` makes a call fail. */
function countingProvider(clock: { now: () => number }, lifetimeMs: number) {
  const state = { calls: 0, failures: 0, failing: false, delayMs: 0 };
  const provider: CredentialProvider = async () => {
    state.calls += 1;
    if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (state.failing) {
      state.failures += 1;
      throw new CredentialsError('the test provider is down');
    }
    return {
      source: 'test',
      accessKeyId: `AKIDTEST${state.calls}`,
      secretAccessKey: `${SECRET}${state.calls}`,
      sessionToken: `${TOKEN}${state.calls}`,
      expiration: new Date(clock.now() + lifetimeMs),
    };
  };
  return { provider, state };
}

const keyOf = async (cache: CredentialCache) => (await cache.signer()).accessKeyId;

test('lease times: refresh 5 min before expiry, or a quarter of a short life; stop signing 10 s (or a fifth) before', () => {
  const hour = leaseTimes(T0, new Date(T0 + 3_600_000));
  assert.is(hour.refreshAt, T0 + 3_600_000 - REFRESH_MARGIN_MS);
  assert.is(hour.expiresAt, T0 + 3_600_000 - 10_000);
  const short = leaseTimes(T0, new Date(T0 + 8000));
  assert.is(short.refreshAt, T0 + 6000);
  assert.is(short.expiresAt, T0 + 6400);
  const keys = leaseTimes(T0, undefined);
  assert.is(keys.refreshAt, Number.POSITIVE_INFINITY);
  assert.equal([1, 2, 3, 6, 20].map(refreshBackoff), [1000, 2000, 4000, 30_000, 30_000]);
});

test('refresh: fresh credentials are reused without a call; in the margin they still sign while one refresh runs', async () => {
  const clock = manualClock();
  const { provider, state } = countingProvider(clock, 3_600_000);
  const cache = new CredentialCache(provider, 'us-east-1', clock.now);
  assert.is(await keyOf(cache), 'AKIDTEST1');
  clock.advance(3_600_000 - REFRESH_MARGIN_MS - 1);
  assert.is(await keyOf(cache), 'AKIDTEST1');
  assert.is(state.calls, 1);
  clock.advance(2);
  // In the margin: the old credentials sign at once, and the refresh runs behind.
  state.delayMs = 20;
  const signer = cache.signer();
  assert.not.instance(signer, Promise);
  assert.is((signer as { accessKeyId: string }).accessKeyId, 'AKIDTEST1');
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.is(state.calls, 2);
  assert.is(await keyOf(cache), 'AKIDTEST2');
});

test('single flight: 1000 requests at once, first fetch and then past expiry, cost one provider call each time', async () => {
  const clock = manualClock();
  const { provider, state } = countingProvider(clock, 900_000);
  state.delayMs = 10;
  const cache = new CredentialCache(provider, 'us-east-1', clock.now);
  const first = await Promise.all(Array.from({ length: 1000 }, () => keyOf(cache)));
  assert.is(state.calls, 1);
  assert.ok(first.every((key) => key === 'AKIDTEST1'));
  clock.advance(900_000);
  const second = await Promise.all(Array.from({ length: 1000 }, () => keyOf(cache)));
  assert.is(state.calls, 2);
  assert.ok(second.every((key) => key === 'AKIDTEST2'));
});

test('a failed refresh costs no request while the old credentials are valid; it is retried with backoff', async () => {
  const clock = manualClock();
  const { provider, state } = countingProvider(clock, 3_600_000);
  const cache = new CredentialCache(provider, 'us-east-1', clock.now);
  await keyOf(cache);
  state.failing = true;
  clock.advance(3_600_000 - REFRESH_MARGIN_MS + 1000);
  for (let i = 0; i < 50; i++) {
    assert.is(await keyOf(cache), 'AKIDTEST1');
    await new Promise((resolve) => setImmediate(resolve));
  }
  // One call failed; the next waits out its backoff (1 s) however many requests come.
  assert.is(state.failures, 1);
  clock.advance(1000);
  assert.is(await keyOf(cache), 'AKIDTEST1');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(state.failures, 2);
  state.failing = false;
  clock.advance(2000);
  assert.is(await keyOf(cache), 'AKIDTEST1');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(await keyOf(cache), 'AKIDTEST4');
});

test('past expiry a request never signs with the old credentials: it waits for a refresh, or fails with CredentialsError', async () => {
  const clock = manualClock();
  const { provider, state } = countingProvider(clock, 600_000);
  const cache = new CredentialCache(provider, 'us-east-1', clock.now);
  await keyOf(cache);
  state.failing = true;
  // Within the guard before expiry (a fifth of the life, at most 10 s) they no longer sign.
  clock.advance(600_000 - 5000);
  const error = await Promise.resolve(cache.signer()).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  assert.instance(error, CredentialsError);
  const message = (error as CredentialsError).message;
  assert.match(message, /the credentials from test expire at 2026-12-01T12:10:00\.000Z and could not be refreshed/);
  assert.match(message, /the test provider is down/);
  assert.is((error as CredentialsError).code, 'ERR_S3V4_CREDENTIALS');
  for (const secret of [SECRET, TOKEN]) assert.not.ok(message.includes(secret));
  // Within the backoff, requests fail at once without asking the provider again.
  const calls = state.calls;
  await Promise.all(Array.from({ length: 100 }, () => Promise.resolve(cache.signer()).catch(() => undefined)));
  assert.is(state.calls, calls);
  state.failing = false;
  clock.advance(1000);
  assert.is(await keyOf(cache), `AKIDTEST${calls + 1}`);
});

test('credentials already expired when fetched, or with an Expiration that is not a date, are refused', async () => {
  const clock = manualClock();
  const stale: CredentialProvider = async () => ({
    source: 'IMDS',
    accessKeyId: 'AKIDSTALE',
    secretAccessKey: SECRET,
    expiration: new Date(T0 - 1000),
  });
  const error = await new CredentialCache(stale, 'us-east-1', clock.now).lease().catch((failure: unknown) => failure);
  assert.instance(error, CredentialsError);
  assert.match(
    (error as Error).message,
    /IMDS gave credentials that had expired already, at .*: it served stale ones, or this machine's clock is wrong/,
  );
  const broken: CredentialProvider = async () => ({
    source: 'container',
    accessKeyId: 'AKIDX',
    secretAccessKey: SECRET,
    expiration: new Date('soon'),
  });
  const invalid = await new CredentialCache(broken, 'us-east-1', clock.now)
    .lease()
    .catch((failure: unknown) => failure);
  assert.match((invalid as Error).message, /container: the credentials have no valid expiry time/);
});

/** An environment with no credential source at all: no HOME files, IMDS disabled, no container variables. */
function bareEnvironment(extra: Environment = {}): Environment {
  const home = mkdtempSync(join(tmpdir(), 's3v4-home-'));
  return { HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

/** Records every outgoing connection's host while `run` runs: what undici opens goes through net.Socket.connect. */
async function connectionsDuring(run: () => Promise<unknown>): Promise<string[]> {
  const hosts: string[] = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const [first] = args;
    const options = (Array.isArray(first) ? first[0] : first) as { host?: string; path?: string } | number;
    hosts.push(typeof options === 'object' ? (options.host ?? options.path ?? '?') : String(args[1] ?? 'localhost'));
    return (original as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof original;
  try {
    await run();
  } finally {
    net.Socket.prototype.connect = original;
  }
  return hosts;
}

const BUCKET = { bucket: 'chain-spec', endpoint: 'http://127.0.0.1:9', region: 'us-east-1' };

test('every source absent and IMDS disabled: CredentialsError lists each source and why, and nothing leaves loopback', async () => {
  const env = bareEnvironment();
  const client = new S3Client(storageConfig(BUCKET, env));
  let error: unknown;
  const hosts = await connectionsDuring(async () => {
    error = await client.head('key').catch((failure: unknown) => failure);
  });
  await client.close();
  assert.equal(hosts, []);
  assert.instance(error, CredentialsError);
  const failure = error as CredentialsError;
  assert.equal(
    failure.tried.map((attempt) => attempt.source),
    ['options', 'environment', 'web identity', 'shared files', 'container', 'IMDS'],
  );
  assert.equal(failure.tried, [
    { source: 'options', reason: 'options.accessKeyId and options.secretAccessKey not set' },
    { source: 'environment', reason: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set' },
    { source: 'web identity', reason: 'AWS_WEB_IDENTITY_TOKEN_FILE not set' },
    {
      source: 'shared files',
      reason: `profile default is not in ${env.HOME}/.aws/config or ${env.HOME}/.aws/credentials`,
    },
    {
      source: 'container',
      reason: 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI not set',
    },
    { source: 'IMDS', reason: 'AWS_EC2_METADATA_DISABLED is true' },
  ]);
  assert.match(failure.message, /^no credentials: no source gave any\n {2}options: /);
});

test('IMDS on a loopback port that answers nothing: its reason says so, within the 1 s timeout and one retry', async () => {
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as net.AddressInfo;
  const env = bareEnvironment({
    AWS_EC2_METADATA_DISABLED: '',
    AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${port}`,
  });
  const client = new S3Client(storageConfig(BUCKET, env));
  const started = Date.now();
  let error: unknown;
  const hosts = await connectionsDuring(async () => {
    error = await client.credentials().catch((failure: unknown) => failure);
  });
  const took = Date.now() - started;
  await client.close();
  silent.close();
  assert.ok(hosts.length >= 1 && hosts.every((host) => host === '127.0.0.1'), hosts.join());
  assert.instance(error, CredentialsError);
  const imds = (error as CredentialsError).tried.at(-1)!;
  assert.equal(imds, { source: 'IMDS', reason: `no answer from http://127.0.0.1:${port} within 1 s` });
  assert.ok(took >= 1900, `gave up after ${took} ms`);
});

test('the container URL: RELATIVE_URI on 169.254.170.2; FULL_URI only over https, on loopback or at EKS Pod Identity', () => {
  assert.equal(containerUrl({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x' }), {
    url: 'http://169.254.170.2/v2/credentials/x',
  });
  for (const ok of [
    'http://127.0.0.1:8080/creds',
    'http://127.1.2.3/creds',
    'http://[::1]:80/x',
    'http://localhost:5000/x',
    'http://169.254.170.23/v1/credentials',
    'http://169.254.170.23:8080/v1/credentials',
    'http://[fd00:ec2::23]/v1/credentials',
    'http://169.254.170.2/v2/credentials/x',
    'https://creds.example.com/x',
  ]) {
    assert.equal(containerUrl({ AWS_CONTAINER_CREDENTIALS_FULL_URI: ok }), { url: ok }, ok);
  }
  for (const refused of [
    'http://10.0.0.5/creds',
    'http://169.254.170.3/x',
    'http://example.com/x',
    'ftp://127.0.0.1/',
  ]) {
    const found = containerUrl({ AWS_CONTAINER_CREDENTIALS_FULL_URI: refused });
    assert.ok(
      'reason' in found &&
        /must be https, or http on loopback or the ECS or EKS Pod Identity address/.test(found.reason),
      refused,
    );
  }
});

test('a refused FULL_URI stops the chain, so no other identity stands in for the container role', async () => {
  const env = bareEnvironment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://10.1.2.3/creds' });
  const client = new S3Client(storageConfig(BUCKET, env));
  const error = (await client.credentials().catch((failure: unknown) => failure)) as CredentialsError;
  await client.close();
  assert.instance(error, CredentialsError);
  assert.is(error.tried.at(-1)!.source, 'container');
  assert.match(error.message, /^no credentials: container is set up wrongly/);
});

async function credentialsIn(env: Environment, options: Partial<typeof BUCKET> & { profile?: string } = {}) {
  const client = new S3Client(storageConfig({ ...BUCKET, ...options }, env));
  try {
    return await client.credentials();
  } finally {
    await client.close();
  }
}

test('shared files: the default profile, AWS_PROFILE, the TOML profile; the credentials file wins over config', async () => {
  const HOME = awsHome({
    credentials:
      '[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n[dev]\naws_access_key_id = AKIDDEVCRED\naws_secret_access_key = s2\n',
    config:
      '[profile dev]\naws_access_key_id = AKIDDEVCONFIG\naws_secret_access_key = s3\nregion = eu-west-1\n[profile other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s4\n',
  });
  const base = { HOME, AWS_EC2_METADATA_DISABLED: 'true' };
  const info = await credentialsIn(base);
  assert.equal(info, {
    source: 'profile default',
    accessKeyId: 'AKIDDEFAULT',
    expiration: undefined,
    roleArn: undefined,
    temporary: false,
  });
  assert.is((await credentialsIn({ ...base, AWS_PROFILE: 'dev' })).accessKeyId, 'AKIDDEVCRED');
  assert.is((await credentialsIn({ ...base, AWS_PROFILE: 'dev' }, { profile: 'other' })).accessKeyId, 'AKIDOTHER');
  // The profile's region fills the region left empty, as AWS_REGION would.
  const config = storageConfig({ bucket: 'bucket-b', endpoint: 'http://127.0.0.1:9' }, { ...base, AWS_PROFILE: 'dev' });
  assert.is(config.region, 'eu-west-1');
  assert.is(config.credentialSource, 'chain');
  // The environment's keys come before the files; an explicit TOML profile leaves them out, with a warning.
  const keys = { AWS_ACCESS_KEY_ID: 'AKIDENV', AWS_SECRET_ACCESS_KEY: 'env-secret' };
  assert.is((await credentialsIn({ ...base, ...keys, AWS_PROFILE: 'dev' })).source, 'environment');
  const explicit = storageConfig({ ...BUCKET, profile: 'dev' }, { ...base, ...keys });
  assert.is(explicit.credentialSource, 'chain');
  assert.match(explicit.warnings.join('\n'), /AWS_ACCESS_KEY_ID is set but not used/);
});

test('shared files: a TOML profile that does not exist is a ConfigError naming the key; a broken file names its line', () => {
  const HOME = awsHome({ config: '[profile dev]\nregion = us-east-1\nnot a line\n' });
  const error = (() => {
    try {
      storageConfig({ ...BUCKET, profile: 'nope' }, { HOME });
    } catch (failure) {
      return failure as Error;
    }
    return undefined;
  })();
  assert.ok(error !== undefined);
  assert.match(error.message, /options\.profile: names the profile "nope", which is not in /);
  assert.match(error.message, /\.aws\/config line 3: is neither a \[section\] header nor a key = value line/);
});

test('shared files: source_profile chains are followed, and a loop is refused with its path', async () => {
  const HOME = awsHome({
    config: [
      '[profile a]',
      'role_arn = arn:aws:iam::1:role/a',
      'source_profile = b',
      '[profile b]',
      'role_arn = arn:aws:iam::1:role/b',
      'source_profile = a',
      '[profile partial]',
      'aws_access_key_id = AKIDPARTIAL',
      '[profile mfa]',
      'role_arn = arn:aws:iam::1:role/m',
      'source_profile = partial',
      'mfa_serial = arn:aws:iam::1:mfa/me',
      '[profile sso]',
      'sso_session = corp',
      '[profile empty]',
      'region = us-east-1',
      '[profile nosource]',
      'role_arn = arn:aws:iam::1:role/n',
      '[profile badsource]',
      'role_arn = arn:aws:iam::1:role/n',
      'credential_source = Laptop',
      '[profile dangling]',
      'role_arn = arn:aws:iam::1:role/d',
      'source_profile = nobody',
    ].join('\n'),
  });
  const reason = async (profile: string) => {
    const error = await credentialsIn({ HOME, AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: profile }).catch(
      (failure: unknown) => failure as CredentialsError,
    );
    assert.instance(error, CredentialsError, profile);
    return (error as CredentialsError).tried.find((attempt) => attempt.source === 'shared files')?.reason;
  };
  assert.is(await reason('a'), 'source_profile loop: a → b → a');
  assert.is(await reason('partial'), 'profile partial sets aws_access_key_id but not aws_secret_access_key');
  assert.match((await reason('mfa')) ?? '', /needs an MFA code/);
  assert.match((await reason('sso')) ?? '', /IAM Identity Center \(SSO\), which s3v4 does not support/);
  assert.match((await reason('empty')) ?? '', /has none of aws_access_key_id, role_arn/);
  assert.match((await reason('nosource')) ?? '', /role_arn but none of source_profile, credential_source/);
  assert.match(
    (await reason('badsource')) ?? '',
    /credential_source must be Environment, Ec2InstanceMetadata or EcsContainer/,
  );
  assert.match((await reason('dangling')) ?? '', /^profile nobody, the source_profile of profile dangling, is not in /);
  // AWS_PROFILE naming no profile at all is the configuration's mistake, as botocore's ProfileNotFound.
  const missing = await credentialsIn({ HOME, AWS_EC2_METADATA_DISABLED: 'true', AWS_PROFILE: 'missing' }).catch(
    (failure: unknown) => failure,
  );
  assert.instance(missing, ConfigError);
  assert.match((missing as Error).message, /AWS_PROFILE: names the profile "missing", which is not in /);
});

/** An executable script in a fresh directory: a credential_process. */
function script(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-process-'));
  const path = join(dir, 'creds.sh');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('credential_process: the documented JSON with Version 1 and Expiration; its output never shows in a failure', async () => {
  const expiration = new Date(Date.now() + 3_600_000).toISOString();
  const good = script(
    `echo '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "${SECRET}", "SessionToken": "${TOKEN}", "Expiration": "${expiration}"}'`,
  );
  const withArgs = script(
    `[ "$1" = "a b" ] && [ "$2" = "c" ] && echo '{"Version":1,"AccessKeyId":"AKIDARGS","SecretAccessKey":"x"}'`,
  );
  const HOME = awsHome({
    config: [
      '[profile p]',
      `credential_process = ${good}`,
      '[profile args]',
      `credential_process = ${withArgs} "a b" c`,
      '[profile v2]',
      `credential_process = ${script(`echo '{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "${SECRET}"}'`)}`,
      '[profile noise]',
      `credential_process = ${script(`echo 'not json ${SECRET}'`)}`,
      '[profile fails]',
      `credential_process = ${script('echo "token expired, run login" >&2; exit 3')}`,
    ].join('\n'),
  });
  const env = { HOME, AWS_EC2_METADATA_DISABLED: 'true' };
  const info = await credentialsIn({ ...env, AWS_PROFILE: 'p' });
  assert.is(info.source, 'profile p (credential_process)');
  assert.is(info.accessKeyId, 'AKIDPROCESS');
  assert.is(info.expiration?.toISOString(), expiration);
  assert.ok(info.temporary);
  assert.is((await credentialsIn({ ...env, AWS_PROFILE: 'args' })).accessKeyId, 'AKIDARGS');
  const failure = async (profile: string) => {
    const error = (await credentialsIn({ ...env, AWS_PROFILE: profile }).catch((e: unknown) => e)) as CredentialsError;
    assert.instance(error, CredentialsError);
    assert.not.ok(error.message.includes(SECRET), error.message);
    return error.tried.at(-1)!.reason;
  };
  assert.match(await failure('v2'), /did not print Version 1$/);
  assert.match(await failure('noise'), /did not print a JSON object$/);
  // Its stderr is not shown: a failing process may print its credentials there.
  const said = await failure('fails');
  assert.match(said, /failed \(exit 3\); run it yourself to see what it says$/);
  assert.not.ok(said.includes('token expired'));
});

test('splitWords: quotes and backslashes as sh reads them, nothing expanded', () => {
  assert.equal(splitWords(`/bin/x  --a 'b c' "d \\"e\\"" f\\ g $HOME`), [
    '/bin/x',
    '--a',
    'b c',
    'd "e"',
    'f g',
    '$HOME',
  ]);
  assert.equal(splitWords(`x '' ""`), ['x', '', '']);
  assert.is(splitWords(`x 'open`), undefined);
});

test('presigned URLs with temporary credentials live no longer than they do; with long-term keys, as asked', async () => {
  const expiration = new Date(Date.now() + 1_800_000);
  const process = script(
    `echo '{"Version":1,"AccessKeyId":"AKIDPRESIGN","SecretAccessKey":"x","SessionToken":"tok","Expiration":"${expiration.toISOString()}"}'`,
  );
  const HOME = awsHome({ config: `[default]\ncredential_process = ${process}\n` });
  const client = new S3Client(storageConfig(BUCKET, { HOME, AWS_EC2_METADATA_DISABLED: 'true' }));
  // Presigning is synchronous: chain credentials must have been fetched first.
  assert.throws(
    () => client.presign('k'),
    (error: Error) => error instanceof CredentialsError && /await client\.credentials\(\)/.test(error.message),
  );
  await client.credentials();
  const expires = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));
  assert.is(expires(client.presign('k', { expiresIn: 600 })), 600);
  const capped = expires(client.presign('k', { expiresIn: 7200 }));
  assert.ok(capped <= 1800 && capped > 1790, String(capped));
  assert.ok(new URL(client.presign('k')).searchParams.get('X-Amz-Security-Token') === 'tok');
  const post = client.presignPost({ key: 'k', expiresIn: 7200 });
  const policy = JSON.parse(Buffer.from(post.fields.policy!, 'base64').toString()) as { expiration: string };
  assert.ok(Date.parse(policy.expiration) <= expiration.getTime(), policy.expiration);
  assert.throws(
    () => client.presign('k', { date: expiration.getTime() + 1000 }),
    (error: Error) => error instanceof CredentialsError && /expire at .* before a URL signed at/.test(error.message),
  );
  await client.close();
  const keys = new S3Client(storageConfig({ ...BUCKET, accessKeyId: 'AKIDKEYS', secretAccessKey: SECRET }, {}));
  assert.is(expires(keys.presign('k', { expiresIn: 604_800 })), 604_800);
  await keys.close();
});

test('nothing secret in CredentialsError, inspect or JSON of what the client tells about its credentials', async () => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), 's3v4-token-')), 'token');
  writeFileSync(tokenFile, 'eyJhbGciOiJSUzI1NiJ9.SECRETJWTPAYLOAD.sig');
  const env = bareEnvironment({
    AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    AWS_ROLE_ARN: 'arn:aws:iam::1:role/r',
    AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
    AWS_CONTAINER_AUTHORIZATION_TOKEN: 'SECRETAUTHTOKEN',
  });
  const error = (await credentialsIn(env).catch((e: unknown) => e)) as CredentialsError;
  assert.instance(error, CredentialsError);
  assert.match(error.tried.at(-1)!.reason, /STS|ECONNREFUSED/);
  for (const view of [error.message, JSON.stringify(error.tried), String(error.stack)]) {
    assert.not.ok(view.includes('SECRETJWTPAYLOAD'), view);
    assert.not.ok(view.includes('SECRETAUTHTOKEN'), view);
  }
  const HOME = awsHome({
    credentials: `[default]\naws_access_key_id = AKIDSHOWN\naws_secret_access_key = ${SECRET}\naws_session_token = ${TOKEN}\n`,
  });
  const config = storageConfig(BUCKET, { HOME });
  const info = await credentialsIn({ HOME });
  const { inspect } = await import('node:util');
  for (const view of [JSON.stringify(info), inspect(info), JSON.stringify(config), inspect(config)]) {
    assert.not.ok(view.includes(SECRET) || view.includes(TOKEN), view);
  }
  assert.is(info.accessKeyId, 'AKIDSHOWN');
});

/**
 * This process's environment with coverage off. NODE_V8_COVERAGE must be set empty: child_process passes the
 * parent's on to every child whose environment leaves it out.
 */
function withoutCoverage(): NodeJS.ProcessEnv {
  return { ...globalThis.process.env, NODE_V8_COVERAGE: '' };
}

/** A loopback server answering every request with `answer`; records what it was sent. */
async function hostile(answer: (body: string) => { status: number; body: string }) {
  const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => {
      seen.push({ headers: request.headers, body });
      const reply = answer(body);
      response.writeHead(reply.status, { 'content-type': 'text/xml' }).end(reply.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('STS replies that are not what they should be give reasons, never the reply; AssumeRole is signed for sts', async () => {
  const replies: Array<[number, string, RegExp]> = [
    [200, 'not xml at all <', /: 200, not an XML reply$/],
    [200, '<Other/>', /the reply is <Other>, not <AssumeRoleResponse>$/],
    [
      403,
      '<ErrorResponse><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>',
      /: 403 AccessDenied: not allowed$/,
    ],
    [400, '<Error><Code>InvalidArgument</Code><Message></Message></Error>', /: 400 InvalidArgument$/],
    [500, '<Nothing/>', /: 500 without an error code$/],
    [
      200,
      `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>AKID</AccessKeyId><SecretAccessKey>${SECRET}</SecretAccessKey></Credentials></AssumeRoleResult></AssumeRoleResponse>`,
      /the reply lacks Credentials with all four fields$/,
    ],
    [200, `<AssumeRoleResponse>${'x'.repeat(70_000)}</AssumeRoleResponse>`, /a reply over 64 KiB$/],
  ];
  let next = 0;
  const sts = await hostile(() => {
    const [status, body] = replies[next]!;
    return { status, body };
  });
  const HOME = awsHome({
    config: '[profile r]\nrole_arn = arn:aws:iam::1:role/with space\nsource_profile = base\nexternal_id = ext-1\n',
    credentials: `[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = ${SECRET}\n`,
  });
  const env = { HOME, AWS_PROFILE: 'r', AWS_EC2_METADATA_DISABLED: 'true', AWS_ENDPOINT_URL_STS: sts.url };
  try {
    for (const [index, [, , reason]] of replies.entries()) {
      next = index;
      const error = (await credentialsIn(env).catch((e: unknown) => e)) as CredentialsError;
      assert.instance(error, CredentialsError);
      const said = error.tried.at(-1)!;
      assert.is(said.source, 'shared files');
      assert.match(said.reason, reason);
      assert.not.ok(error.message.includes(SECRET));
    }
    const { headers, body } = sts.seen[0]!;
    assert.match(
      String(headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDBASE\/\d{8}\/us-east-1\/sts\/aws4_request, /,
    );
    const form = new URLSearchParams(body);
    assert.is(form.get('Action'), 'AssumeRole');
    assert.is(form.get('RoleArn'), 'arn:aws:iam::1:role/with space');
    assert.is(form.get('ExternalId'), 'ext-1');
    // Spaces as %20: Ceph's STS does not decode '+'.
    assert.ok(body.includes('with%20space') && !body.includes('+'), body);
  } finally {
    await sts.close();
  }
});

test('container and IMDS replies that are not credentials give reasons, never the reply', async () => {
  const replies: Array<[string, RegExp]> = [
    ['not json', /did not answer with a JSON object$/],
    ['[1, 2]', /did not answer with a JSON object$/],
    [`{"AccessKeyId": "AKID", "Token": "${TOKEN}"}`, /gave no AccessKeyId and SecretAccessKey$/],
    [
      `{"AccessKeyId": "AKID", "SecretAccessKey": "${SECRET}", "Expiration": "soon"}`,
      /gave an Expiration that is not a date$/,
    ],
  ];
  let next = 0;
  const container = await hostile(() => ({ status: 200, body: replies[next]![0] }));
  try {
    for (const [index, [, reason]] of replies.entries()) {
      next = index;
      const env = bareEnvironment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${container.url}/creds` });
      const error = (await credentialsIn(env).catch((e: unknown) => e)) as CredentialsError;
      assert.instance(error, CredentialsError);
      assert.match(error.tried.at(-1)!.reason, reason);
      assert.not.ok(error.message.includes(SECRET) || error.message.includes(TOKEN));
    }
  } finally {
    await container.close();
  }
  const imds = await hostile(() => ({
    status: 200,
    body: '{"Code": "AssumeRoleUnauthorizedAccess", "Message": "no role"}',
  }));
  try {
    const env = bareEnvironment({ AWS_EC2_METADATA_DISABLED: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url });
    const error = (await credentialsIn(env).catch((e: unknown) => e)) as CredentialsError;
    assert.match(error.tried.at(-1)!.reason, /says Code AssumeRoleUnauthorizedAccess for the instance role$/);
    // The token first, with its TTL; then every GET carries it.
    assert.is(imds.seen[0]!.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
    assert.ok(imds.seen.slice(1).every((request) => request.headers['x-aws-ec2-metadata-token'] !== undefined));
  } finally {
    await imds.close();
  }
});

test('a profile of settings alone leaves the credentials to the container; credential_source honours AWS_EC2_METADATA_DISABLED', async () => {
  const container = await hostile(() => ({
    status: 200,
    body: JSON.stringify({
      AccessKeyId: 'AKIDCONTAINER',
      SecretAccessKey: SECRET,
      Token: TOKEN,
      Expiration: new Date(Date.now() + 3_600_000).toISOString(),
    }),
  }));
  try {
    const HOME = awsHome({ config: '[default]\nregion = us-east-1\n[profile prod]\nregion = eu-west-1\n' });
    for (const profile of [{}, { AWS_PROFILE: 'prod' }]) {
      const env = {
        HOME,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `${container.url}/creds`,
        ...profile,
      };
      assert.is((await credentialsIn(env)).source, 'container');
    }
  } finally {
    await container.close();
  }
  const HOME = awsHome({
    config: '[profile fromimds]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Ec2InstanceMetadata\n',
  });
  let error: unknown;
  const hosts = await connectionsDuring(async () => {
    error = await credentialsIn({ HOME, AWS_PROFILE: 'fromimds', AWS_EC2_METADATA_DISABLED: 'true' }).catch(
      (e: unknown) => e,
    );
  });
  assert.equal(hosts, []);
  assert.instance(error, CredentialsError);
  assert.is(
    (error as CredentialsError).tried.at(-1)!.reason,
    'profile fromimds (assume role): AWS_EC2_METADATA_DISABLED is true',
  );
});

test('a profile key with an inline "#" is refused naming the key; a FIFO as a shared file is refused, not read forever', async () => {
  const HOME = awsHome({
    credentials: `[default]\naws_access_key_id = AKIDX # mine\naws_secret_access_key = ${SECRET}\n`,
  });
  const error = (await credentialsIn({ HOME, AWS_EC2_METADATA_DISABLED: 'true' }).catch(
    (e: unknown) => e,
  )) as CredentialsError;
  assert.instance(error, CredentialsError);
  assert.match(
    error.tried.at(-1)!.reason,
    /^profile default: aws_access_key_id holds a " #" or " ;": a comment after the value is part of it/,
  );
  const fifoHome = awsHome({});
  const fifo = join(fifoHome, '.aws', 'config');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  assert.throws(
    () => storageConfig(BUCKET, { HOME: fifoHome }),
    (thrown: Error) => thrown instanceof ConfigError && thrown.message.includes(`${fifo}: is not a regular file`),
  );
});

test('a credential_process that hangs: the signal ends the wait; close() and exiting s3v4 each kill it with what it started', async () => {
  // Dead, or a zombie that its new parent has not reaped yet: /proc says which.
  const running = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  // Once with close() and the event loop left to drain (as the command line ends), once with process.exit() at once.
  for (const ending of ['await client.close();', 'process.exit(0);']) {
    const dir = mkdtempSync(join(tmpdir(), 's3v4-hang-'));
    const pidFile = join(dir, 'pids');
    // Ignores SIGTERM, and leaves a grandchild that would outlive a plain kill of the process.
    const hang = script(`trap '' TERM\nsleep 1000 &\necho $! >> ${pidFile}\necho $$ >> ${pidFile}\nwait`);
    const HOME = awsHome({ config: `[default]\ncredential_process = ${hang}\n` });
    const started = Date.now();
    const child = spawnSync(
      globalThis.process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import { S3Client, storageConfig } from ${JSON.stringify(new URL('../lib/index.ts', import.meta.url).pathname)};
         const client = new S3Client(storageConfig(${JSON.stringify(BUCKET)}, { HOME: ${JSON.stringify(HOME)}, AWS_EC2_METADATA_DISABLED: 'true', PATH: process.env.PATH }));
         const error = await client.credentials({ signal: AbortSignal.timeout(1500) }).catch((e) => e);
         console.log(error.code);
         ${ending}`,
      ],
      // Without coverage: tsx's -e builds lib/ apart from the test runner, and c8 would merge its offsets into theirs.
      { encoding: 'utf8', timeout: 30_000, env: withoutCoverage() },
    );
    assert.is(child.stdout.trim(), 'ABORT_ERR', child.stderr);
    // Well before the 60 s a credential_process may run.
    assert.ok(Date.now() - started < 20_000, `${ending}: took ${Date.now() - started} ms`);
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    assert.is(pids.length, 2);
    for (let wait = 0; wait < 20 && pids.some(running); wait++)
      await new Promise((resolve) => setTimeout(resolve, 100));
    for (const pid of pids) assert.not.ok(running(pid), `${ending}: process ${pid} outlived s3v4`);
  }
});

test('a token file that is a FIFO or too large is refused without reading it; so is an empty one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's3v4-tokens-'));
  const fifo = join(dir, 'fifo');
  assert.is(spawnSync('mkfifo', [fifo]).status, 0);
  const big = join(dir, 'big');
  writeFileSync(big, 'x'.repeat(70_000));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  const cases: Array<[Environment, RegExp]> = [
    [{ AWS_WEB_IDENTITY_TOKEN_FILE: fifo }, /the token file .*fifo is not a regular file$/],
    [{ AWS_WEB_IDENTITY_TOKEN_FILE: big }, /the token file .*big holds more than 64 KiB, which no token does$/],
    [{ AWS_WEB_IDENTITY_TOKEN_FILE: empty }, /the token file .*empty is empty$/],
    [
      { AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1:9/x', AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: fifo },
      /AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(.*fifo\) is not a regular file$/,
    ],
  ];
  for (const [extra, reason] of cases) {
    const env = bareEnvironment({
      AWS_ROLE_ARN: 'arn:aws:iam::1:role/r',
      AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
      ...extra,
    });
    const error = (await credentialsIn(env).catch((e: unknown) => e)) as CredentialsError;
    assert.instance(error, CredentialsError);
    assert.match(error.tried.at(-1)!.reason, reason);
  }
});

test('a source that hands back the credentials in use renews nothing: the old expiry guard holds, then CredentialsError', async () => {
  const clock = manualClock();
  const expiration = new Date(T0 + 30_000);
  let calls = 0;
  const sameAgain: CredentialProvider = async () => {
    calls += 1;
    return {
      source: 'credential_process',
      accessKeyId: 'AKIDSAME',
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
      expiration,
    };
  };
  const cache = new CredentialCache(sameAgain, 'us-east-1', clock.now);
  const first = await cache.lease();
  assert.is(first.expiresAt, T0 + 24_000);
  // In the refresh window the same credentials come back: they go on signing, until the guard a fifth before expiry.
  clock.advance(23_000);
  assert.is(await keyOf(cache), 'AKIDSAME');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(calls, 2);
  assert.is((await cache.lease()).expiresAt, T0 + 24_000);
  clock.advance(1000);
  const error = await Promise.resolve(cache.signer()).catch((failure: unknown) => failure);
  assert.instance(error, CredentialsError);
  assert.match(
    (error as Error).message,
    /credential_process gave back the credentials in use, which expire at 2026-12-01T12:00:30\.000Z/,
  );
});

test('a presign expiry out of range is refused whatever the credentials, not cut', async () => {
  const expiration = new Date(Date.now() + 900_000).toISOString();
  const process = script(
    `echo '{"Version":1,"AccessKeyId":"AKIDP","SecretAccessKey":"x","SessionToken":"t","Expiration":"${expiration}"}'`,
  );
  const client = new S3Client(
    storageConfig(BUCKET, {
      HOME: awsHome({ config: `[default]\ncredential_process = ${process}\n` }),
      AWS_EC2_METADATA_DISABLED: 'true',
    }),
  );
  await client.credentials();
  for (const expiresIn of [604_801, 0, 1.5]) {
    assert.throws(
      () => client.presign('k', { expiresIn }),
      (error: Error) => error instanceof InvalidArgumentError,
      String(expiresIn),
    );
  }
  await client.close();
});

test.run();
