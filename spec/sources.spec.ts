/**
 * Every source of the credential chain against a server that verifies the
 * temporary credentials it gets: Ceph RGW with STS (support/sts.ts). Each
 * source ends in a PUT, a GET and a LIST that radosgw accepts with the
 * resolved credentials; radosgw refuses those requests without the role
 * (the assuming user has no rights on the bucket). The loopback IMDSv2 and
 * container endpoints (support/metadata.ts) speak the documented protocols
 * and hand out credentials from radosgw's own AssumeRole. Refresh is shown
 * with credentials that really expire after 5 s. No test reaches a real
 * metadata address: IMDS is disabled or pointed at loopback in every
 * environment here.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type CredentialInfo,
  CredentialsError,
  type Environment,
  S3Client,
  S3Error,
  storageConfig,
} from '../lib/index.js';
import { CEPH, type SharedFileTexts, awsHome, builtCli, serverForSpecs, watchdog } from './helpers.js';
import { startContainerEndpoint, startImds } from './support/metadata.js';
import { type StsGateway, sharedStsGateway } from './support/sts.js';

const FILE = 'spec/sources.spec.ts';

/** A HOME of its own with these shared files, and IMDS off unless the environment turns it on. */
function environment(extra: Environment = {}, files: SharedFileTexts = {}): Environment {
  return { HOME: awsHome(files), AWS_EC2_METADATA_DISABLED: 'true', ...extra };
}

function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 's3v4-file-')), name);
  writeFileSync(path, text);
  return path;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the built command line without blocking this process (the issuer radosgw asks lives in it). */
function cli(args: string[], env: Environment): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [builtCli(), ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data));
  child.stderr.on('data', (data: Buffer) => (stderr += data));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

if (serverForSpecs(test, CEPH, 'the credential sources', FILE)) {
  watchdog(test, FILE, 180);
  let gateway: StsGateway;
  let round = 0;

  test.before(async () => {
    gateway = await sharedStsGateway();
  });

  const clientFor = (env: Environment, profile?: string) =>
    new S3Client(
      storageConfig(
        { endpoint: gateway.endpoint, bucket: gateway.bucket, region: gateway.region, ...(profile ? { profile } : {}) },
        env,
      ),
    );

  /** PUT, GET and LIST with the client's credentials; returns what the client says about them. */
  async function exercise(env: Environment, what: string): Promise<CredentialInfo> {
    const client = clientFor(env);
    try {
      const key = `sources/${what}/${++round}.txt`;
      await client.put(key, `written with ${what}`);
      assert.is(await (await client.get(key)).text(), `written with ${what}`);
      const keys: string[] = [];
      for await (const page of client.list({ prefix: `sources/${what}/` }))
        keys.push(...page.objects.map((o) => o.key));
      assert.ok(keys.includes(key), keys.join());
      return await client.credentials();
    } finally {
      await client.close();
    }
  }

  test('the assuming user alone may not touch the bucket: what the sources give is the role', async () => {
    const env = environment({
      AWS_ACCESS_KEY_ID: gateway.user.accessKeyId,
      AWS_SECRET_ACCESS_KEY: gateway.user.secretAccessKey,
    });
    const client = clientFor(env);
    const error = await client.put('sources/user.txt', 'x').catch((failure: unknown) => failure);
    await client.close();
    assert.instance(error, S3Error);
    assert.is((error as S3Error).status, 403);
  });

  test('web identity (EKS IRSA): AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS', async () => {
    const tokenFile = tempFile('token', gateway.issuer.token());
    const before = gateway.issuer.requests();
    const info = await exercise(
      environment({
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_ROLE_ARN: gateway.roleArn,
        AWS_ROLE_SESSION_NAME: 'irsa-spec',
        AWS_ENDPOINT_URL_STS: gateway.endpoint,
      }),
      'web-identity',
    );
    assert.is(info.source, 'web identity');
    assert.is(info.roleArn, gateway.roleArn);
    assert.ok(info.temporary);
    assert.ok(info.expiration !== undefined && info.expiration.getTime() > Date.now() + 3000_000);
    assert.ok(gateway.issuer.requests() > before, 'radosgw checked the token with the issuer');
  });

  test('web identity: a token radosgw refuses stops the chain with STS’s answer, and the token never shows', async () => {
    const token = gateway.issuer.token({ aud: 'not-registered' });
    const client = clientFor(
      environment({
        AWS_WEB_IDENTITY_TOKEN_FILE: tempFile('token', token),
        AWS_ROLE_ARN: gateway.roleArn,
        AWS_ENDPOINT_URL_STS: gateway.endpoint,
      }),
    );
    const error = (await client
      .put('sources/refused.txt', 'x')
      .catch((failure: unknown) => failure)) as CredentialsError;
    await client.close();
    assert.instance(error, CredentialsError);
    assert.match(
      error.message,
      /web identity: STS AssumeRoleWithWebIdentity of arn:aws:iam:::role\/s3v4-test-role at http:\/\/127\.0\.0\.1:\d+: 403 AccessDenied/,
    );
    assert.not.ok(error.message.includes(token.split('.')[1]!));
  });

  test('shared files: role_arn with source_profile, AssumeRole signed by our signer with service sts', async () => {
    const info = await exercise(
      environment(
        { AWS_PROFILE: 'deploy', AWS_ENDPOINT_URL_STS: gateway.endpoint },
        {
          config: `[profile deploy]\nrole_arn = ${gateway.roleArn}\nsource_profile = base\nrole_session_name = laptop\n`,
          credentials: `[base]\naws_access_key_id = ${gateway.user.accessKeyId}\naws_secret_access_key = ${gateway.user.secretAccessKey}\n`,
        },
      ),
      'assume-role',
    );
    assert.is(info.source, 'profile deploy (assume role)');
    assert.is(info.roleArn, gateway.roleArn);
    assert.ok(info.temporary);
  });

  test('shared files: a role chained through two profiles, and the STS endpoint taken from the profile', async () => {
    const info = await exercise(
      environment(
        { AWS_PROFILE: 'outer' },
        {
          config: [
            '[profile outer]',
            `role_arn = ${gateway.roleArn}`,
            'source_profile = inner',
            `endpoint_url = ${gateway.endpoint}`,
            '[profile inner]',
            `role_arn = ${gateway.roleArn}`,
            'source_profile = inner',
            `aws_access_key_id = ${gateway.user.accessKeyId}`,
            `aws_secret_access_key = ${gateway.user.secretAccessKey}`,
            `endpoint_url = ${gateway.endpoint}`,
          ].join('\n'),
        },
      ),
      'role-chain',
    );
    assert.is(info.source, 'profile outer (assume role)');
  });

  test('shared files: role_arn with credential_source Environment, EcsContainer and Ec2InstanceMetadata', async () => {
    const role = (source: string) => `[default]\nrole_arn = ${gateway.roleArn}\ncredential_source = ${source}\n`;
    const sts = { AWS_ENDPOINT_URL_STS: gateway.endpoint };
    const keys = { AWS_ACCESS_KEY_ID: gateway.user.accessKeyId, AWS_SECRET_ACCESS_KEY: gateway.user.secretAccessKey };
    // The environment's keys serve as the role's source only: the chain itself would take them first, so the
    // configuration names its profile, which leaves them out of the chain (as botocore's explicit profile does).
    const fromEnvironment = clientFor(environment({ ...sts, ...keys }, { config: role('Environment') }), 'default');
    assert.is((await fromEnvironment.credentials()).source, 'profile default (assume role)');
    await fromEnvironment.put('sources/credential-source/env.txt', 'x');
    await fromEnvironment.close();
    // A role's own credentials assume it again: radosgw accepts role chaining (../shared/notes/ceph-sts.md).
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(900));
    const imds = await startImds(() => gateway.assumeRole(900));
    try {
      await exercise(
        environment({ ...sts, AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url }, { config: role('EcsContainer') }),
        'ecs-source',
      );
      await exercise(
        environment(
          { ...sts, AWS_EC2_METADATA_DISABLED: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint },
          { config: role('Ec2InstanceMetadata') },
        ),
        'imds-source',
      );
      assert.is(endpoint.counts().requests, 1);
      assert.is(imds.counts().credentials, 1);
    } finally {
      await endpoint.stop();
      await imds.stop();
    }
  });

  test('shared files: web_identity_token_file with role_arn in a profile', async () => {
    const info = await exercise(
      environment(
        { AWS_ENDPOINT_URL_STS: gateway.endpoint },
        {
          config: `[default]\nrole_arn = ${gateway.roleArn}\nweb_identity_token_file = ${tempFile('token', gateway.issuer.token())}\n`,
        },
      ),
      'profile-web-identity',
    );
    assert.is(info.source, 'profile default (web identity)');
  });

  test('shared files: credential_process printing the documented JSON of a role’s credentials', async () => {
    const credentials = await gateway.assumeRole(900);
    const json = tempFile(
      'creds.json',
      JSON.stringify({
        Version: 1,
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        SessionToken: credentials.sessionToken,
        Expiration: credentials.expiration,
      }),
    );
    const command = tempFile('creds.sh', `#!/bin/sh\ncat '${json}'\n`);
    chmodSync(command, 0o755);
    const info = await exercise(environment({}, { config: `[default]\ncredential_process = ${command}\n` }), 'process');
    assert.is(info.source, 'profile default (credential_process)');
    assert.is(info.accessKeyId, credentials.accessKeyId);
  });

  test('container (ECS, EKS Pod Identity): FULL_URI on loopback with the token file, read again at each fetch', async () => {
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(900), { token: 'first-token' });
    try {
      const tokenFile = tempFile('auth', 'first-token\n');
      const env = environment({
        AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url,
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
      });
      const info = await exercise(env, 'container');
      assert.is(info.source, 'container');
      assert.is(info.roleArn, 'arn:aws:iam:::role/s3v4-test-role');
      assert.is(endpoint.lastAuthorization(), 'first-token');
      // The file rotates: the next fetch sends what it holds then.
      writeFileSync(tokenFile, 'second-token');
      const error = (await exercise(env, 'container').catch((failure: unknown) => failure)) as CredentialsError;
      assert.instance(error, CredentialsError);
      assert.match(
        error.message,
        /container: the container endpoint http:\/\/127\.0\.0\.1:\d+ answered 401; check AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(/,
      );
      assert.not.ok(error.message.includes('second-token'));
      assert.is(endpoint.lastAuthorization(), 'second-token');
    } finally {
      await endpoint.stop();
    }
  });

  test('IMDSv2 at AWS_EC2_METADATA_SERVICE_ENDPOINT: a token, the role, its credentials; a 401 renews the token once', async () => {
    const imds = await startImds(() => gateway.assumeRole(900));
    try {
      const env = environment({ AWS_EC2_METADATA_DISABLED: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint });
      const info = await exercise(env, 'imds');
      assert.is(info.source, 'IMDS');
      assert.equal(imds.counts(), { token: 1, roles: 1, credentials: 1, unauthorized: 0 });
      // A token that expired on the instance side: one 401, one new token, then the credentials.
      const client = clientFor(env);
      await client.credentials();
      imds.invalidateTokens();
      const again = await exercise(env, 'imds');
      assert.is(again.source, 'IMDS');
      await client.close();
    } finally {
      await imds.stop();
    }
  });

  test('IMDS without a session token (v1 only) is refused unless AWS_EC2_METADATA_V1_DISABLED=false', async () => {
    const imds = await startImds(() => gateway.assumeRole(900), { allowV1: true });
    try {
      const env = environment({
        AWS_EC2_METADATA_DISABLED: '',
        AWS_EC2_METADATA_SERVICE_ENDPOINT: `${imds.endpoint}/v1only`,
      });
      const error = (await exercise(env, 'imds-v1').catch((failure: unknown) => failure)) as CredentialsError;
      assert.instance(error, CredentialsError);
      assert.match(error.tried.at(-1)!.reason, /refused an IMDSv2 session token \(\d+\); IMDSv1 is not used unless/);
    } finally {
      await imds.stop();
    }
  });

  test('doctor names the source, the role and the expiry; with no source, it lists each and why', async () => {
    const config = tempFile(
      'config.toml',
      `[object_store]\nbackend = "s3"\n\n[object_store.s3]\nendpoint = "${gateway.endpoint}"\nbucket = "${gateway.bucket}"\nregion = "${gateway.region}"\npresigned_expiry_secs = 7200\n`,
    );
    const env = environment(
      { AWS_PROFILE: 'deploy', AWS_ENDPOINT_URL_STS: gateway.endpoint },
      {
        config: `[profile deploy]\nrole_arn = ${gateway.roleArn}\nsource_profile = base\n`,
        credentials: `[base]\naws_access_key_id = ${gateway.user.accessKeyId}\naws_secret_access_key = ${gateway.user.secretAccessKey}\n`,
      },
    );
    const good = await cli(['doctor', '--config', config], env);
    assert.is(good.status, 0, good.stdout + good.stderr);
    const line = good.stdout.split('\n').find((text) => text.includes('credentials')) ?? '';
    assert.match(
      line,
      /^ok {4}credentials {2}access key \S+ from profile deploy \(assume role\), role arn:aws:iam:::role\/s3v4-test-role, expiring at \S+Z \(in 60 min\) accepted/,
    );
    assert.not.ok(good.stdout.includes(gateway.user.secretAccessKey));
    // presigned_expiry_secs = 7200, credentials of an hour: the link line says what the URL says.
    assert.match(
      good.stdout,
      /ok {4}link {9}the presigned link \(valid 3[56]\d\d s, cut to the credentials' expiry\) serves the object/,
    );
    const bare = await cli(['doctor', '--config', config], environment());
    assert.is(bare.status, 1, bare.stdout + bare.stderr);
    assert.match(bare.stdout, /FAIL {2}credentials {2}no credentials: no source gave any/);
    for (const source of [
      'environment:',
      'web identity:',
      'shared files:',
      'container:',
      'IMDS: AWS_EC2_METADATA_DISABLED is true',
    ])
      assert.ok(bare.stdout.includes(source), source);
  });

  test('refresh: credentials that live 5 s, a loop of requests across several expiries, zero failures', async () => {
    await gateway.setMinSessionDuration(5);
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(5));
    const client = clientFor(environment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url }));
    try {
      const first = await client.credentials();
      const keys = new Set<string>([first.accessKeyId]);
      const until = Date.now() + 16_000;
      let requests = 0;
      while (Date.now() < until) {
        // Four in flight at a time, so refreshes happen under load.
        await Promise.all(
          Array.from({ length: 4 }, async (_, i) => {
            await client.put(`sources/refresh/${i}.txt`, String(requests));
            requests += 1;
          }),
        );
        keys.add((await client.credentials()).accessKeyId);
        await sleep(100);
      }
      const fetches = endpoint.counts().requests;
      console.error(
        `refresh: ${requests} requests over 16 s with 5 s credentials, ${keys.size} credentials, ${fetches} fetches`,
      );
      // 16 s of 5 s credentials refreshed a quarter of their life early: at least 4 more, and one fetch per refresh.
      assert.ok(keys.size >= 4, `${keys.size} credentials over 16 s`);
      assert.is(fetches, keys.size, `${fetches} fetches for ${keys.size} credentials`);
      assert.ok(requests > 40, `${requests} requests`);
    } finally {
      await client.close();
      await endpoint.stop();
    }
  });

  test('refresh: 1000 concurrent requests after expiry cause one fetch, and all are accepted', async () => {
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(5), { delayMs: 200 });
    const client = clientFor(environment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url }));
    try {
      await client.put('sources/concurrent.txt', 'x');
      const expiration = (await client.credentials()).expiration!;
      await sleep(expiration.getTime() - Date.now() + 200);
      const before = endpoint.counts().requests;
      const results = await Promise.allSettled(
        Array.from({ length: 1000 }, () => client.head('sources/concurrent.txt')),
      );
      const failed = results.filter((result) => result.status === 'rejected');
      assert.is(failed.length, 0, String((failed[0] as PromiseRejectedResult | undefined)?.reason));
      assert.is(endpoint.counts().requests - before, 1);
    } finally {
      await client.close();
      await endpoint.stop();
    }
  });

  test('refresh: a provider failing while the old credentials are valid costs no request; past expiry, CredentialsError', async () => {
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(12));
    const client = clientFor(environment({ AWS_CONTAINER_CREDENTIALS_FULL_URI: endpoint.url }));
    try {
      const first = await client.credentials();
      // Into the refresh window (from a quarter of 12 s before expiry to a fifth before), with the next fetch failing.
      // The unit specs (credentials.spec.ts) show the backoff over several failures on a clock they move.
      await sleep(first.expiration!.getTime() - Date.now() - 2900);
      endpoint.failNext(1);
      const before = endpoint.counts().requests;
      let renewed = false;
      let requests = 0;
      while (!renewed && Date.now() < first.expiration!.getTime() + 3000) {
        await client.put('sources/failing.txt', String(requests++));
        renewed = (await client.credentials()).accessKeyId !== first.accessKeyId;
        await sleep(100);
      }
      assert.ok(renewed, 'refreshed after the failures');
      assert.is(endpoint.counts().requests - before, 2, 'a failed fetch, then one that worked');
      assert.ok(requests >= 3, `${requests} requests, every one accepted`);
      // Now the endpoint goes away for good: once the credentials are past expiry, requests fail with CredentialsError.
      const expiration = (await client.credentials()).expiration!;
      endpoint.failNext(1_000_000);
      await sleep(expiration.getTime() - Date.now() + 100);
      const error = await client.put('sources/failing.txt', 'late').catch((failure: unknown) => failure);
      assert.instance(error, CredentialsError);
      assert.match((error as Error).message, /expire at .* and could not be refreshed: .*answered 500/);
    } finally {
      await client.close();
      await endpoint.stop();
      await gateway.setMinSessionDuration(900);
    }
  });
}

test.run();
