/**
 * The STS gateway (support/sts.ts) and the metadata endpoints
 * (support/metadata.ts) that credential-provider specs stand on: radosgw's
 * AssumeRole and AssumeRoleWithWebIdentity hand out credentials that radosgw
 * then accepts (and refuses without their session token, or once expired),
 * and the loopback IMDSv2 and container endpoints speak their protocols.
 */
import { request } from 'undici';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SigV4Signer } from '../lib/signer.js';
import { CEPH, serverForSpecs, watchdog } from './helpers.js';
import { startContainerEndpoint, startImds } from './support/metadata.js';
import {
  type StsGateway,
  type TemporaryCredentials,
  parseCredentials,
  postForm,
  sharedStsGateway,
} from './support/sts.js';

const FILE = 'spec/sts-gateway.spec.ts';

/** A request to the gateway's S3 signed with `keys` (their session token sent and signed when they have one). */
async function s3As(
  gateway: StsGateway,
  keys: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined },
  method: 'GET' | 'PUT',
  path: string,
  body = '',
): Promise<{ status: number; text: string }> {
  const url = `${gateway.endpoint}${path}`;
  const signer = new SigV4Signer({ ...keys, region: gateway.region });
  const reply = await request(url, {
    method,
    headers: { ...signer.sign({ method, url, body }) },
    body: method === 'GET' ? null : body,
  });
  return { status: reply.statusCode, text: await reply.body.text() };
}

/** Credentials as IMDS and the container endpoint serve them (the token as `Token`) GET the role's object. */
async function servedCredentialsRead(gateway: StsGateway, json: Record<string, string | undefined>): Promise<void> {
  const keys = { accessKeyId: json.AccessKeyId!, secretAccessKey: json.SecretAccessKey!, sessionToken: json.Token! };
  const get = await s3As(gateway, keys, 'GET', `/${gateway.bucket}/assumed/role.txt`);
  assert.is(get.status, 200, get.text);
}

const errorCode = (text: string) => /<Code>([^<]*)<\/Code>/.exec(text)?.[1];

function assertCredentials(credentials: TemporaryCredentials, seconds: number): void {
  assert.ok(credentials.accessKeyId.length > 0 && credentials.secretAccessKey.length > 0);
  assert.ok(credentials.sessionToken.length > 100, 'a session token');
  const left = Date.parse(credentials.expiration) - Date.now();
  assert.ok(left > (seconds - 5) * 1000 && left <= seconds * 1000 + 1000, `expires in ${left} ms, not ${seconds} s`);
}

if (serverForSpecs(test, CEPH, 'the STS gateway', FILE)) {
  watchdog(test, FILE, 60);
  let gateway: StsGateway;

  test.before(async () => {
    const started = Date.now();
    gateway = await sharedStsGateway();
    console.error(`STS gateway (with the cluster, unless already up): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test('AssumeRole: the credentials PUT and GET in the bucket; without their session token, 403', async () => {
    const credentials = await gateway.assumeRole(900);
    assertCredentials(credentials, 900);
    const path = `/${gateway.bucket}/assumed/role.txt`;
    const put = await s3As(gateway, credentials, 'PUT', path, 'from an assumed role');
    assert.is(put.status, 200, put.text);
    const get = await s3As(gateway, credentials, 'GET', path);
    assert.is(get.status, 200, get.text);
    assert.is(get.text, 'from an assumed role');
    const { sessionToken: _token, ...withoutToken } = credentials;
    const bare = await s3As(gateway, withoutToken, 'GET', path);
    assert.is(bare.status, 403, bare.text);
    // The user itself has no rights on the bucket, only the role has. (radosgw makes the assuming user the owner of
    // what its role sessions write, so the user may read role.txt itself: its ACL, not the bucket's.)
    const list = await s3As(gateway, gateway.user, 'GET', `/${gateway.bucket}?list-type=2`);
    assert.is(list.status, 403, list.text);
    const write = await s3As(gateway, gateway.user, 'PUT', `/${gateway.bucket}/assumed/user.txt`, 'as the user');
    assert.is(write.status, 403, write.text);
  });

  test('AssumeRoleWithWebIdentity: an unsigned form with the issuer token gives credentials radosgw accepts', async () => {
    const before = gateway.issuer.requests();
    const reply = await postForm(gateway.endpoint, {
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: gateway.roleArn,
      RoleSessionName: 's3v4-web-identity',
      WebIdentityToken: gateway.issuer.token(),
      DurationSeconds: 900,
    });
    assert.is(reply.status, 200, reply.text);
    assert.ok(reply.text.includes(`<Provider>${gateway.issuer.url}</Provider>`), reply.text);
    const credentials = parseCredentials(reply.text);
    assertCredentials(credentials, 900);
    // radosgw fetched the discovery document and the JWKS.
    assert.ok(gateway.issuer.requests() >= before + 2, `issuer requests ${before} -> ${gateway.issuer.requests()}`);
    const put = await s3As(gateway, credentials, 'PUT', `/${gateway.bucket}/assumed/web.txt`, 'web identity');
    assert.is(put.status, 200, put.text);
    const wrongAudience = await postForm(gateway.endpoint, {
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: gateway.roleArn,
      RoleSessionName: 's3v4-web-identity',
      WebIdentityToken: gateway.issuer.token({ aud: 'someone-else' }),
    });
    assert.is(wrongAudience.status, 403, wrongAudience.text);
  });

  test('5-second credentials: accepted now, 403 once expired', async () => {
    await gateway.setMinSessionDuration(5);
    try {
      const credentials = await gateway.assumeRole(5);
      assertCredentials(credentials, 5);
      const path = `/${gateway.bucket}/assumed/short.txt`;
      const now = await s3As(gateway, credentials, 'PUT', path, 'short-lived');
      assert.is(now.status, 200, now.text);
      await new Promise((resolve) => setTimeout(resolve, Date.parse(credentials.expiration) - Date.now() + 1000));
      const later = await s3As(gateway, credentials, 'GET', path);
      assert.is(later.status, 403, later.text);
      assert.is(errorCode(later.text), 'AccessDenied');
    } finally {
      await gateway.setMinSessionDuration(900);
    }
    const refused = await gateway.assumeRole(5).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
    assert.match(refused, /HTTP 400/, 'the minimum is back to 900 s');
  });

  test('IMDSv2: a token is required; the credentials it hands out work; controls and counters', async () => {
    const imds = await startImds(() => gateway.assumeRole(900));
    try {
      const call = async (method: 'GET' | 'PUT', path: string, headers: Record<string, string> = {}) => {
        const reply = await request(`${imds.endpoint}${path}`, { method, headers });
        return { status: reply.statusCode, headers: reply.headers, text: await reply.body.text() };
      };
      const roles = '/latest/meta-data/iam/security-credentials/';
      assert.is((await call('PUT', '/latest/api/token')).status, 400, 'no TTL');
      assert.is((await call('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '0' })).status, 400);
      const tooLong = { 'x-aws-ec2-metadata-token-ttl-seconds': '21601' };
      assert.is((await call('PUT', '/latest/api/token', tooLong)).status, 400);
      assert.is((await call('GET', roles)).status, 401, 'no token');
      assert.is((await call('GET', roles, { 'x-aws-ec2-metadata-token': 'forged' })).status, 401, 'unknown token');
      const issued = await call('PUT', '/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '21600' });
      assert.is(issued.status, 200);
      assert.is(issued.headers['x-aws-ec2-metadata-token-ttl-seconds'], '21600');
      const token = { 'x-aws-ec2-metadata-token': issued.text };
      const role = await call('GET', roles, token);
      assert.is(role.status, 200);
      assert.is(role.text, 's3v4-role');
      assert.is((await call('GET', `${roles}other-role`, token)).status, 404);
      const served = await call('GET', `${roles}${role.text}`, token);
      assert.is(served.status, 200, served.text);
      const json = JSON.parse(served.text) as Record<string, string>;
      assert.equal(Object.keys(json).sort(), [
        'AccessKeyId',
        'Code',
        'Expiration',
        'LastUpdated',
        'SecretAccessKey',
        'Token',
        'Type',
      ]);
      assert.is(json.Code, 'Success');
      assert.is(json.Type, 'AWS-HMAC');
      assert.match(json.Expiration!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      await servedCredentialsRead(gateway, json);
      imds.failNext(1);
      assert.is((await call('GET', `${roles}${role.text}`, token)).status, 500);
      assert.is((await call('GET', `${roles}${role.text}`, token)).status, 200);
      imds.invalidateTokens();
      assert.is((await call('GET', `${roles}${role.text}`, token)).status, 401, 'invalidated');
      assert.equal(imds.counts(), { token: 4, roles: 3, credentials: 5, unauthorized: 3 });
    } finally {
      await imds.stop();
    }
    const v1 = await startImds(() => gateway.assumeRole(900), { allowV1: true, roleName: 'v1-role', delayMs: 50 });
    try {
      const started = Date.now();
      const reply = await request(`${v1.endpoint}/latest/meta-data/iam/security-credentials/`);
      assert.is(reply.statusCode, 200);
      assert.is(await reply.body.text(), 'v1-role');
      assert.ok(Date.now() - started >= 45, 'delayed');
    } finally {
      await v1.stop();
    }
  });

  test('container endpoint: the Authorization token is required; the credentials it hands out work', async () => {
    const endpoint = await startContainerEndpoint(() => gateway.assumeRole(900), { token: 'Bearer s3v4-secret' });
    try {
      const call = async (headers: Record<string, string> = {}) => {
        const reply = await request(endpoint.url, { headers });
        return { status: reply.statusCode, text: await reply.body.text() };
      };
      assert.ok(endpoint.url.startsWith('http://127.0.0.1:') && endpoint.url.endsWith('/creds'), endpoint.url);
      assert.is((await call()).status, 401);
      assert.is(endpoint.lastAuthorization(), undefined);
      assert.is((await call({ authorization: 'Bearer wrong' })).status, 401);
      const served = await call({ authorization: 'Bearer s3v4-secret' });
      assert.is(served.status, 200, served.text);
      assert.is(endpoint.lastAuthorization(), 'Bearer s3v4-secret');
      const json = JSON.parse(served.text) as Record<string, string>;
      assert.equal(Object.keys(json).sort(), ['AccessKeyId', 'Expiration', 'RoleArn', 'SecretAccessKey', 'Token']);
      assert.is(json.RoleArn, 'arn:aws:iam:::role/s3v4-test-role');
      await servedCredentialsRead(gateway, json);
      endpoint.failNext(1);
      assert.is((await call({ authorization: 'Bearer s3v4-secret' })).status, 500);
      assert.equal(endpoint.counts(), { requests: 4, unauthorized: 2 });
    } finally {
      await endpoint.stop();
    }
    const open = await startContainerEndpoint(() => gateway.assumeRole(900), {});
    try {
      const reply = await request(open.url.replace('/creds', '/any/path'));
      assert.is(reply.statusCode, 200);
      await reply.body.dump();
    } finally {
      await open.stop();
    }
  });
}

test.run();
