/**
 * A radosgw with STS and IAM enabled, on loopback, for credential-provider
 * specs: real temporary credentials (AssumeRole, AssumeRoleWithWebIdentity)
 * from the same server that then checks every request signed with them.
 *
 * It is a second radosgw (`client.rgw.sts`) on the one-node cluster that
 * sharedRgw starts: `rgw s3 auth use sts = true` changes S3's error codes
 * (a wrong secret gives AccessDenied, not SignatureDoesNotMatch), so the
 * shared gateway stays without it. With it: an OIDC issuer on
 * http://127.0.0.1, registered with CreateOpenIDConnectProvider, and a role
 * created through the IAM API that both a user and the issuer's tokens may
 * assume.
 *
 * Facts this relies on are in ../shared/notes/ceph-sts.md (config lines,
 * caps, durations, form encoding, what radosgw fetches from the issuer).
 */
import { X509Certificate, createPrivateKey, createPublicKey, createSign, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { SigV4Signer } from '../../lib/signer.js';
import { type Gateway, sharedRgw } from './rgw.js';
import { once, removeDirectory, run, serverDirectory, signedRequest, type S3Server } from './servers.js';

/** Temporary credentials as STS returned them. */
export interface TemporaryCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** ISO 8601 as STS returned it (radosgw: 9 fractional digits). */
  expiration: string;
}

export interface StsGateway {
  /** `http://127.0.0.1:<port>` of the STS-enabled radosgw: S3, STS and IAM share it. */
  endpoint: string;
  region: string;
  /** A bucket the role's policy allows s3:* on (bucket and bucket/*), plus s3:ListAllMyBuckets on *. */
  bucket: string;
  /** A user with no rights on the bucket, whom the role's trust policy lets AssumeRole. */
  user: { accessKeyId: string; secretAccessKey: string };
  /** `arn:aws:iam:::role/s3v4-test-role`, MaxSessionDuration 43200, assumable by `user` and with `issuer`'s tokens. */
  roleArn: string;
  issuer: Issuer;
  /** AssumeRole on `roleArn`, signed by `user`. Rejects with the HTTP status and body when STS refuses. */
  assumeRole(durationSeconds?: number, sessionName?: string): Promise<TemporaryCredentials>;
  /** `rgw_sts_min_session_duration` (900 by default), through the admin socket: applies to the next STS call. */
  setMinSessionDuration(seconds: number): Promise<void>;
  /** Stops this radosgw and the issuer (the cluster is sharedRgw's, stopped when the process ends). */
  stop(): Promise<void>;
}

/** An OpenID Connect issuer on loopback, which radosgw fetches on every AssumeRoleWithWebIdentity. */
export interface Issuer {
  /** `http://127.0.0.1:<port>`: the `iss` of its tokens and the URL of its provider. */
  url: string;
  /** `sts.amazonaws.com`, the provider's only ClientIDList entry. */
  audience: string;
  /** An RS256 JWT signed by the issuer's key: sub `s3v4-spec`, aud `audience`, valid for an hour unless told. */
  token(claims?: { sub?: string; aud?: string; expiresInSeconds?: number }): string;
  /** How many HTTP requests the issuer has served. */
  requests(): number;
}

const REGION = 'us-east-1';
const ROLE = 's3v4-test-role';
const AUDIENCE = 'sts.amazonaws.com';
/** 16 characters: the AES-128 key radosgw encrypts session tokens with. */
const STS_KEY = 's3v4stskey012345';

/** The value of the first `<name>` element of an XML reply, entities decoded. */
function xmlText(xml: string, name: string): string | undefined {
  const found = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
  return found
    ?.replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/** The `<Credentials>` of an AssumeRole, AssumeRoleWithWebIdentity or GetSessionToken reply. */
export function parseCredentials(xml: string): TemporaryCredentials {
  const credentials = /<Credentials>([\s\S]*?)<\/Credentials>/.exec(xml)?.[1];
  const field = (name: string) => {
    const value = credentials === undefined ? undefined : xmlText(credentials, name);
    if (value === undefined || value === '') throw new Error(`STS reply without Credentials.${name}: ${xml}`);
    return value;
  };
  return {
    accessKeyId: field('AccessKeyId'),
    secretAccessKey: field('SecretAccessKey'),
    sessionToken: field('SessionToken'),
    expiration: field('Expiration'),
  };
}

/** A form body as radosgw reads it: encodeURIComponent, since it does not decode `+` as a space. */
export function formBody(params: Record<string, string | number | undefined>): string {
  return Object.entries(params)
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * POSTs an STS or IAM form to `endpoint`, signed for `service` with `keys`
 * (unsigned without them, as AssumeRoleWithWebIdentity is); resolves to the
 * reply, whatever its status.
 */
export async function postForm(
  endpoint: string,
  params: Record<string, string | number | undefined>,
  keys?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  service: 'sts' | 'iam' = 'sts',
): Promise<{ status: number; text: string }> {
  const url = `${endpoint}/`;
  const body = formBody(params);
  const headers: Record<string, string> = { 'content-type': FORM };
  const signed =
    keys === undefined
      ? {}
      : new SigV4Signer({ ...keys, region: REGION, service, mode: 'generic' }).sign({
          method: 'POST',
          url,
          headers,
          body,
        });
  const reply = await request(url, { method: 'POST', headers: { ...headers, ...signed }, body });
  return { status: reply.statusCode, text: await reply.body.text() };
}

async function iam(
  endpoint: string,
  keys: { accessKeyId: string; secretAccessKey: string },
  action: string,
  params: Record<string, string | number>,
): Promise<string> {
  const reply = await postForm(endpoint, { Action: action, Version: '2010-05-08', ...params }, keys, 'iam');
  if (reply.status !== 200) throw new Error(`IAM ${action}: HTTP ${reply.status} ${reply.text}`);
  return reply.text;
}

/** base64url of bytes or of a string's UTF-8. */
function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** Counts a server's requests and lets it be stopped; its sockets never keep the process alive. */
function loopbackServer(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  server.on('connection', (socket) => socket.unref());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** The issuer's RSA key and self-signed certificate (the JWKS's `x5c`), made by the openssl CLI. */
async function issuerKey(dir: string): Promise<{ key: string; certificate: X509Certificate }> {
  const [keyFile, certFile] = [join(dir, 'issuer.key'), join(dir, 'issuer.pem')];
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
    ],
    process.env,
  );
  return { key: readFileSync(keyFile, 'utf8'), certificate: new X509Certificate(readFileSync(certFile)) };
}

/** Starts an OIDC issuer on a free loopback port: its discovery document, its JWKS, and tokens it signs. */
async function startIssuer(dir: string): Promise<Issuer & { thumbprint: string; stop(): Promise<void> }> {
  const { key, certificate } = await issuerKey(dir);
  const privateKey = createPrivateKey(key);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  const kid = randomBytes(8).toString('hex');
  let served = 0;
  let url = '';
  const server = createServer((req, res) => {
    served += 1;
    const path = (req.url ?? '/').split('?')[0];
    const json = (value: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      json({
        issuer: url,
        jwks_uri: `${url}/jwks.json`,
        authorization_endpoint: `${url}/authorize`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    } else if (req.method === 'GET' && path === '/jwks.json') {
      // radosgw uses the first key only, and of it only x5c.
      json({
        keys: [
          { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n: jwk.n, e: jwk.e, x5c: [certificate.raw.toString('base64')] },
        ],
      });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  const listening = await loopbackServer(server);
  url = `http://127.0.0.1:${listening.port}`;
  const token: Issuer['token'] = (claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
    const payload = base64url(
      JSON.stringify({
        iss: url,
        sub: claims.sub ?? 's3v4-spec',
        aud: claims.aud ?? AUDIENCE,
        iat: now,
        exp: now + (claims.expiresInSeconds ?? 3600),
      }),
    );
    const signer = createSign('RSA-SHA256');
    signer.update(`${header}.${payload}`);
    return `${header}.${payload}.${base64url(signer.sign(privateKey))}`;
  };
  return {
    url,
    audience: AUDIENCE,
    token,
    requests: () => served,
    // SHA-1 of the certificate's DER, as AWS defines an OIDC thumbprint (radosgw does not check it).
    thumbprint: certificate.fingerprint.replace(/:/g, '').toLowerCase(),
    stop: listening.close,
  };
}

/** `ceph --admin-daemon <socket> config set <name> <value>`: applies to the next request (though ceph says it may need a restart). */
async function configSet(socket: string, name: string, value: string): Promise<void> {
  const output = await run('ceph', ['--admin-daemon', socket, 'config', 'set', name, value], process.env);
  if (!output.includes('success')) throw new Error(`config set ${name} ${value} on ${socket}: ${output}`);
}

/**
 * Starts the STS gateway on sharedRgw's cluster: radosgw `client.rgw.sts`,
 * the issuer, an IAM admin (caps roles, oidc-provider, user-policy) who owns
 * the bucket, the user who assumes the role, the provider and the role.
 * Once per process (the role's name is fixed): use sharedStsGateway.
 */
async function startStsGateway(): Promise<StsGateway> {
  const rgw = await sharedRgw();
  const dir = serverDirectory('s3v4-sts-');
  const suffix = randomBytes(3).toString('hex');
  const adminUid = `s3v4-sts-admin-${suffix}`;
  const userUid = `s3v4-sts-user-${suffix}`;
  let gateway: Gateway | undefined;
  let issuer: Awaited<ReturnType<typeof startIssuer>> | undefined;
  const stop = async () => {
    await Promise.all([gateway?.stop(), issuer?.stop()]);
    removeDirectory(dir);
  };
  try {
    const [started, startedIssuer, admin, user] = await Promise.all([
      rgw.addGateway('sts', [
        'rgw enable apis = s3, admin, sts, iam',
        'rgw s3 auth use sts = true',
        `rgw sts key = ${STS_KEY}`,
        'rgw sts min session duration = 900',
      ]),
      startIssuer(dir),
      rgw.createUser(adminUid),
      rgw.createUser(userUid),
    ]);
    gateway = started;
    issuer = startedIssuer;
    const { endpoint } = started;
    await rgw.admin(['caps', 'add', '--uid', adminUid, '--caps', 'roles=*;oidc-provider=*;user-policy=*']);
    const bucket = `s3v4-sts-${suffix}`;
    const providerArn = `arn:aws:iam:::oidc-provider/${issuer.url.replace(/^https?:\/\//, '')}`;
    // Compact JSON: radosgw reads a `+` in a form as a plus, and botocore-style pretty JSON breaks.
    const trust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam:::user/${userUid}`] }, Action: ['sts:AssumeRole'] },
        { Effect: 'Allow', Principal: { Federated: [providerArn] }, Action: ['sts:AssumeRoleWithWebIdentity'] },
      ],
    });
    const access = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: ['s3:*'], Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`] },
        { Effect: 'Allow', Action: ['s3:ListAllMyBuckets'], Resource: ['*'] },
      ],
    });
    const owner: S3Server = { ...admin, endpoint, port: started.port, region: REGION, stop: async () => {} };
    const [created] = await Promise.all([
      signedRequest(owner, 'PUT', `/${bucket}`),
      iam(endpoint, admin, 'CreateOpenIDConnectProvider', {
        Url: issuer.url,
        'ClientIDList.member.1': AUDIENCE,
        'ThumbprintList.member.1': issuer.thumbprint,
      }),
      (async () => {
        await iam(endpoint, admin, 'CreateRole', {
          RoleName: ROLE,
          Path: '/',
          AssumeRolePolicyDocument: trust,
          MaxSessionDuration: 43200,
        });
        await iam(endpoint, admin, 'PutRolePolicy', {
          RoleName: ROLE,
          PolicyName: 'bucket-rw',
          PolicyDocument: access,
        });
      })(),
    ]);
    if (created.status !== 200) throw new Error(`creating bucket ${bucket}: HTTP ${created.status} ${created.text}`);
    const roleArn = `arn:aws:iam:::role/${ROLE}`;
    const assumeRole = async (durationSeconds?: number, sessionName = 's3v4-spec'): Promise<TemporaryCredentials> => {
      const reply = await postForm(
        endpoint,
        {
          Action: 'AssumeRole',
          Version: '2011-06-15',
          RoleArn: roleArn,
          RoleSessionName: sessionName,
          DurationSeconds: durationSeconds,
        },
        user,
      );
      if (reply.status !== 200) throw new Error(`AssumeRole: HTTP ${reply.status} ${reply.text}`);
      return parseCredentials(reply.text);
    };
    const { thumbprint: _thumbprint, stop: _stop, ...publicIssuer } = issuer;
    return {
      endpoint,
      region: REGION,
      bucket,
      user,
      roleArn,
      issuer: publicIssuer,
      assumeRole,
      setMinSessionDuration: (seconds) =>
        configSet(started.adminSocket, 'rgw_sts_min_session_duration', String(seconds)),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One STS gateway for the whole test process, started on first use (with sharedRgw's cluster) and stopped when it exits. */
export const sharedStsGateway = once(startStsGateway);
