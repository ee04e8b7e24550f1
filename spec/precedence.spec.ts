/**
 * Which source wins, table-driven against botocore: each case is an
 * environment and shared files, given to s3v4 and to Debian's botocore 1.29
 * (spec/support/credential-source.py), and both must pick the same source.
 * The sources are real: STS is the Ceph gateway's, and the container and
 * IMDS endpoints are the loopback ones of support/metadata.ts. Where
 * botocore 1.29 differs, the case says so with the AWS documentation that
 * settles it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, CredentialsError, S3Client, storageConfig } from '../lib/index.js';
import { CEPH, awsHome, serverForSpecs, watchdog } from './helpers.js';
import { PYTHON, botocoreInstalled } from './support/botocore.js';
import { type ContainerEndpoint, type Imds, startContainerEndpoint, startImds } from './support/metadata.js';
import { type StsGateway, sharedStsGateway } from './support/sts.js';

const FILE = 'spec/precedence.spec.ts';
const SCRIPT = fileURLToPath(new URL('./support/credential-source.py', import.meta.url));

/** What picked the credentials, in terms both clients can be put in. */
type Pick =
  | 'environment'
  | 'web identity'
  | 'assume role'
  | 'profile keys'
  | 'credential_process'
  | 'container'
  | 'IMDS'
  | 'none'
  | 'refused';

/** botocore's `Credentials.method`, as a Pick. */
const BOTOCORE_METHODS: Readonly<Record<string, Pick>> = {
  env: 'environment',
  'assume-role-with-web-identity': 'web identity',
  'assume-role': 'assume role',
  'shared-credentials-file': 'profile keys',
  'config-file': 'profile keys',
  'custom-process': 'credential_process',
  'container-role': 'container',
  'iam-role': 'IMDS',
};

/** s3v4's CredentialInfo.source, as a Pick. */
function s3v4Pick(source: string): Pick {
  if (source === 'environment' || source === 'container' || source === 'IMDS' || source === 'web identity')
    return source;
  if (source.endsWith('(web identity)')) return 'web identity';
  if (source.endsWith('(assume role)')) return 'assume role';
  if (source.endsWith('(credential_process)')) return 'credential_process';
  return /^profile .+[^)]$/.test(source) ? 'profile keys' : 'refused';
}

interface Case {
  name: string;
  env?: Record<string, string>;
  config?: string;
  credentials?: string;
  /** Turn on the loopback IMDS (else AWS_EC2_METADATA_DISABLED=true) or the container endpoint. */
  imds?: boolean;
  container?: boolean;
  expected: Pick;
  /** botocore 1.29's pick when it differs, and the documentation that settles the case for s3v4. */
  botocore?: { pick: Pick; why: string };
}

/** The AWS SDK for PHP's chain, which lists the order the issue asks for, source by source. */
const PHP_CHAIN =
  'https://docs.aws.amazon.com/sdk-for-php/v3/developer-guide/guide_credentials_default_chain.html (environment keys, then web identity from the environment, then the shared files)';

function cases(gateway: StsGateway, tokenFile: string, process: string): Case[] {
  const user = `aws_access_key_id = ${gateway.user.accessKeyId}\naws_secret_access_key = ${gateway.user.secretAccessKey}\n`;
  const envKeys = { AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: 'secret-from-env' };
  const webIdentity = { AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ROLE_ARN: gateway.roleArn };
  const role = `[profile deploy]\nrole_arn = ${gateway.roleArn}\nsource_profile = base\n`;
  return [
    {
      name: 'environment keys beat every file',
      env: envKeys,
      credentials: `[default]\n${user}`,
      expected: 'environment',
    },
    { name: 'the default profile’s keys', credentials: `[default]\n${user}`, expected: 'profile keys' },
    { name: 'keys in the config file', config: `[default]\n${user}`, expected: 'profile keys' },
    {
      name: 'AWS_PROFILE picks the profile, but environment keys still come first',
      env: { ...envKeys, AWS_PROFILE: 'deploy' },
      config: role,
      credentials: `[base]\n${user}`,
      expected: 'environment',
    },
    {
      name: 'role_arn with source_profile',
      env: { AWS_PROFILE: 'deploy' },
      config: role,
      credentials: `[base]\n${user}`,
      expected: 'assume role',
    },
    {
      name: 'web identity from the environment beats the default profile’s keys',
      env: webIdentity,
      credentials: `[default]\n${user}`,
      expected: 'web identity',
    },
    {
      name: 'web identity from the environment beats a role profile',
      env: { ...webIdentity, AWS_PROFILE: 'deploy' },
      config: role,
      credentials: `[base]\n${user}`,
      expected: 'web identity',
      botocore: { pick: 'assume role', why: `botocore 1.29 asks role profiles first; ${PHP_CHAIN}` },
    },
    { name: 'environment keys beat web identity', env: { ...envKeys, ...webIdentity }, expected: 'environment' },
    {
      name: 'web_identity_token_file in a profile',
      config: `[default]\nrole_arn = ${gateway.roleArn}\nweb_identity_token_file = ${tokenFile}\n`,
      expected: 'web identity',
    },
    {
      name: 'credential_process',
      config: `[default]\ncredential_process = ${process}\n`,
      expected: 'credential_process',
    },
    {
      name: 'the credentials file’s keys beat credential_process',
      config: `[default]\ncredential_process = ${process}\n`,
      credentials: `[default]\n${user}`,
      expected: 'profile keys',
    },
    {
      name: 'credential_process beats the config file’s keys of the same profile',
      config: `[default]\ncredential_process = ${process}\n${user}`,
      expected: 'credential_process',
    },
    {
      name: 'a profile’s keys beat the container endpoint',
      credentials: `[default]\n${user}`,
      container: true,
      expected: 'profile keys',
    },
    { name: 'the container endpoint beats IMDS', container: true, imds: true, expected: 'container' },
    {
      name: 'a profile of settings alone leaves the credentials to the container',
      config: '[default]\nregion = us-east-1\n',
      container: true,
      expected: 'container',
    },
    {
      name: '[ default ] (spaces inside the brackets) is not the default profile',
      config: `[ default ]\n${user}`,
      container: true,
      expected: 'container',
    },
    {
      name: 'a quoted profile name in the header',
      env: { AWS_PROFILE: 'q r' },
      config: `[profile "q r"]\n${user}`,
      expected: 'profile keys',
    },
    { name: 'IMDS last', imds: true, expected: 'IMDS' },
    { name: 'nothing at all', expected: 'none' },
    {
      name: 'an access key without its secret is refused, not skipped',
      env: { AWS_ACCESS_KEY_ID: 'AKIDALONE' },
      credentials: `[default]\n${user}`,
      expected: 'refused',
    },
  ];
}

/** botocore's answers, one Python process for every case (botocore takes a second to import). */
function botocore(): { pick(env: Record<string, string>, sts: string): Promise<Pick>; stop(): void } {
  const child = spawn(PYTHON, [SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(line));
  return {
    pick: (env, sts) =>
      new Promise((resolve) => {
        waiting.push((line) => {
          const answer = JSON.parse(line) as { method?: string | null; error?: string };
          if (answer.error !== undefined) resolve('refused');
          else resolve(answer.method === null ? 'none' : (BOTOCORE_METHODS[answer.method ?? ''] ?? 'refused'));
        });
        child.stdin.write(`${JSON.stringify({ env, sts })}\n`);
      }),
    stop: () => child.kill(),
  };
}

if (serverForSpecs(test, CEPH, 'the credential precedence', FILE)) {
  watchdog(test, FILE, 120);
  let gateway: StsGateway;
  let imds: Imds;
  let container: ContainerEndpoint;

  test.before(async () => {
    gateway = await sharedStsGateway();
    const vend = () => gateway.assumeRole(900);
    imds = await startImds(vend);
    container = await startContainerEndpoint(vend);
  });

  test.after(async () => {
    await imds.stop();
    await container.stop();
  });

  test('botocore is installed, to compare with', () => {
    assert.ok(botocoreInstalled(), `${PYTHON} cannot import botocore; .ci/run installs python3-botocore`);
  });

  test('s3v4 and botocore pick the same source, case by case; where botocore 1.29 differs, the docs settle it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3v4-precedence-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, gateway.issuer.token());
    const process = join(dir, 'creds.sh');
    const credentials = await gateway.assumeRole(900);
    const json = JSON.stringify({
      Version: 1,
      AccessKeyId: credentials.accessKeyId,
      SecretAccessKey: credentials.secretAccessKey,
      SessionToken: credentials.sessionToken,
      Expiration: credentials.expiration,
    });
    writeFileSync(process, `#!/bin/sh\necho '${json}'\n`);
    chmodSync(process, 0o755);
    const python = botocore();
    const table: string[] = [];
    try {
      for (const one of cases(gateway, tokenFile, process)) {
        const home = awsHome(one);
        const env: Record<string, string> = {
          HOME: home,
          PATH: globalThis.process.env.PATH ?? '/usr/bin:/bin',
          AWS_DEFAULT_REGION: gateway.region,
          AWS_ENDPOINT_URL_STS: gateway.endpoint,
          ...(one.imds ? { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint } : { AWS_EC2_METADATA_DISABLED: 'true' }),
          ...(one.container ? { AWS_CONTAINER_CREDENTIALS_FULL_URI: container.url } : {}),
          ...one.env,
        };
        const ours = await s3v4(env, gateway);
        const theirs = await python.pick(env, gateway.endpoint);
        table.push(`${one.name}: s3v4 ${ours}, botocore ${theirs}`);
        assert.is(ours, one.expected, one.name);
        assert.is(theirs, one.botocore?.pick ?? one.expected, `botocore: ${one.name}`);
        if (one.botocore !== undefined)
          assert.match(one.botocore.why, /^botocore 1\.29 .*https:\/\/docs\.aws\.amazon\.com\//);
      }
    } finally {
      python.stop();
      console.error(table.join('\n'));
    }
  });
}

/** The source s3v4 picks with this environment. */
async function s3v4(env: Record<string, string>, gateway: StsGateway): Promise<Pick> {
  let client: S3Client;
  try {
    client = new S3Client(
      storageConfig({ endpoint: gateway.endpoint, bucket: gateway.bucket, region: gateway.region }, env),
    );
  } catch (error) {
    if (error instanceof ConfigError) return 'refused';
    throw error;
  }
  try {
    return s3v4Pick((await client.credentials()).source);
  } catch (error) {
    if (!(error instanceof CredentialsError)) throw error;
    return error.message.startsWith('no credentials: no source gave any') ? 'none' : 'refused';
  } finally {
    await client.close();
  }
}

test.run();
