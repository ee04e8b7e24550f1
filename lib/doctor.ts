/**
 * `s3v4 doctor`: checks a configuration against its live endpoint, in the
 * order a new bucket usually fails (file, network, clock, credentials,
 * bucket and region, the minimum policy, addressing, links), each check
 * passed or failed with what to change. A failure that makes the later
 * checks meaningless ends the run there. The temporary object it writes is
 * always deleted before it returns.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { Readable } from 'node:stream';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';
import { Agent, dispatch } from './undici.js';
import type { Body } from './bodies.js';
import { S3Client } from './client.js';
import { loadConfig, type StorageConfig } from './config.js';
import { describeAddressing, type Endpoint } from './endpoint.js';
import type { CredentialInfo } from './credentials.js';
import { ConfigError, CredentialsError, ProtocolError, S3Error } from './errors.js';
import { type Provider, ipVersion } from './providers.js';
import { MAX_ERROR_BYTES, minimumPolicy, readBounded, REGION_CODES } from './replies.js';
import { failureCause } from './transport.js';

export interface Check {
  /** What was checked: config, endpoint, clock, credentials, bucket, policy, addressing or link. */
  name: string;
  /** False for a check that failed or was skipped. */
  ok: boolean;
  /** Not run, because an earlier check failed. */
  skipped?: boolean;
  /** What was found. */
  detail: string;
  /** What to change, when the check failed. */
  fix?: string;
}

export interface DoctorOptions {
  signal?: AbortSignal;
  /** Called with each check as soon as it is decided. */
  report?: (check: Check) => void;
}

/** The doctor's bound on clock skew; S3 itself refuses signatures more than 15 minutes off (RequestTimeTooSkewed). */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** Codes that mean the credentials themselves were refused. */
const CREDENTIAL_CODES: ReadonlySet<string> = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidClientTokenId',
]);

const TIMEOUT_MS = 15_000;

const PROVIDER_NAMES: Readonly<Record<Provider, string>> = {
  aws: 'AWS S3',
  cos: 'Tencent Cloud COS',
  r2: 'Cloudflare R2',
  other: 'S3-compatible endpoint',
};

/**
 * Runs every check that can run, then lists the ones a failure left out as skipped; the result passes only when
 * every check passed.
 */
export async function doctor(path: string, options: DoctorOptions = {}): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: Check): boolean => {
    checks.push(check);
    options.report?.(check);
    return check.ok;
  };
  let config: StorageConfig | undefined;
  try {
    config = loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    add({ name: 'config', ok: false, detail: error.message, fix: `correct every problem listed in ${path}` });
  }
  if (config !== undefined) await runChecks(path, config, options, add);
  const left = planned(config);
  for (const check of checks) {
    const at = left.indexOf(check.name);
    if (at !== -1) left.splice(at, 1);
  }
  for (const name of left) add({ name, ok: false, skipped: true, detail: 'not run: an earlier check failed' });
  return checks;
}

/**
 * The checks a full run reports, in order: one link line for the presigned or the plain link, or for the CDN's
 * alone, and two for a presigned link and a CDN (see checkLinks). An unreadable config counts as one link line.
 */
function planned(config: StorageConfig | undefined): string[] {
  const links = config !== undefined && config.presignedExpirySecs > 0 && config.publicUrlBase !== undefined ? 2 : 1;
  return ['config', 'endpoint', 'clock', 'credentials', 'bucket', 'addressing', ...Array(links).fill('link'), 'policy'];
}

/** The checks after the config's, each run only when the ones it needs passed. */
async function runChecks(
  path: string,
  config: StorageConfig,
  options: DoctorOptions,
  add: (check: Check) => boolean,
): Promise<void> {
  const names = `bucket ${config.bucket}, region ${config.region}`;
  const warnings = config.warnings.map((warning) => `; warning: ${warning}`).join('');
  add({
    name: 'config',
    ok: true,
    detail: `${path} is valid: ${PROVIDER_NAMES[config.provider]} at ${config.endpoint}, ${names}${warnings}`,
  });

  const agent = new Agent({ connect: { timeout: TIMEOUT_MS }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  const client = new S3Client(config, {
    dispatcher: agent,
    maxAttempts: 2,
    timeouts: { connect: TIMEOUT_MS, headers: TIMEOUT_MS, body: TIMEOUT_MS },
  });
  try {
    // A signal in every case keeps the calls below uniform; it fires only when the caller's does.
    const context: Context = { config, client, agent, signal: options.signal ?? new AbortController().signal, add };
    if (!(await checkEndpoint(context))) return;
    if (!(await checkCredentials(context))) return;
    if (!(await checkBucket(context))) return;
    await checkObject(context);
  } finally {
    await client.close();
    await agent.close();
  }
}

/** A request to a whole URL (a download link, the endpoint) through the doctor's own agent. */
function fetchUrl(agent: Dispatcher, url: string, method: 'GET' | 'HEAD', signal: AbortSignal) {
  const { origin, pathname, search } = new URL(url);
  return dispatch(agent, { origin, path: `${pathname}${search}`, method, signal });
}

interface Context {
  config: StorageConfig;
  client: S3Client;
  agent: UndiciAgent;
  signal: AbortSignal;
  add: (check: Check) => boolean;
}

/** The endpoint resolves and answers; the clock is compared with the answer's Date. */
async function checkEndpoint({ client, agent, signal, add }: Context): Promise<boolean> {
  const url = client.endpoint.bucketUrl();
  const { origin } = client.endpoint.bucketTarget();
  const host = client.endpoint.hostname.replace(/^\[|\]$/g, '');
  let resolved = '';
  if (ipVersion(host) === 0) {
    try {
      resolved = `${host} resolves to ${(await lookup(host)).address}; `;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      return add({
        name: 'endpoint',
        ok: false,
        detail: `${host} does not resolve (${code})`,
        fix: unresolvedFix(client.endpoint),
      });
    }
  }
  const started = performance.now();
  let status: number;
  let date: string | undefined;
  try {
    const reply = await fetchUrl(agent, url, 'HEAD', signal);
    await reply.body.dump();
    status = reply.statusCode;
    date = typeof reply.headers.date === 'string' ? reply.headers.date : undefined;
  } catch (error) {
    if (signal.aborted) throw error;
    const cause = failureCause((error as { code?: string }).code ?? '', (error as Error).message);
    return add({
      name: 'endpoint',
      ok: false,
      detail: `${resolved}no answer from ${origin} (${cause})`,
      fix: 'check endpoint, and that the server is up and reachable from here',
    });
  }
  add({
    name: 'endpoint',
    ok: true,
    detail: `${resolved}${origin} answered HTTP ${status} in ${Math.round(performance.now() - started)} ms`,
  });
  const serverTime = Date.parse(date ?? '');
  if (Number.isNaN(serverTime)) {
    add({
      name: 'clock',
      ok: false,
      detail: 'the server sent no Date header to compare with',
      fix: 'check that endpoint is an S3 server and not a proxy that strips headers',
    });
  } else {
    const skew = Date.now() - serverTime;
    const seconds = Math.round(Math.abs(skew) / 1000);
    add(
      Math.abs(skew) <= MAX_CLOCK_SKEW_MS
        ? { name: 'clock', ok: true, detail: `within ${seconds} s of the server's` }
        : {
            name: 'clock',
            ok: false,
            detail: `${seconds} s ${skew > 0 ? 'ahead of' : 'behind'} the server's (at most ${MAX_CLOCK_SKEW_MS / 1000} s)`,
            fix: "synchronise this machine's clock (NTP): S3 refuses signatures more than 15 minutes off",
          },
    );
  }
  return true;
}

/**
 * What to change when the request host does not resolve. Virtual-hosted requests go to <bucket>.<host>, which
 * needs its own DNS name (S3 User Guide, "Virtual hosting of buckets"); path-style ones already go to the endpoint's
 * own host, so force_path_style = true is advice only for the first.
 */
export function unresolvedFix(endpoint: Endpoint): string {
  if (endpoint.addressing !== 'virtual-hosted') return 'check the host in endpoint, and DNS on this machine';
  return `check endpoint; virtual-hosted requests go to ${endpoint.hostname}, which must resolve too, else set force_path_style = true`;
}

/**
 * Where the credentials come from (the chain is asked now, when the configuration has no keys), and whether their
 * expiry is still ahead by this machine's clock.
 */
async function credentialsInUse({ config, client, signal, add }: Context): Promise<string | undefined> {
  let info: CredentialInfo;
  try {
    info = await client.credentials({ signal });
  } catch (error) {
    if (!(error instanceof CredentialsError)) throw error;
    // No source set up at all, or one set up that failed: the fix is different.
    const none = error.message.startsWith('no credentials: no source gave any');
    const broken = error.tried.at(-1)?.source ?? 'the source';
    add({
      name: 'credentials',
      ok: false,
      detail: error.message,
      fix: none ? CHAIN_FIX : `fix what the ${broken} line says`,
    });
    return undefined;
  }
  const role = info.roleArn === undefined ? '' : `, role ${info.roleArn}`;
  // The configuration's own keys need no source named: the config line names the file.
  const from = info.source === config.source ? '' : ` from ${info.source}`;
  const who = `access key ${info.accessKeyId}${from}${role}`;
  if (info.expiration === undefined) return who;
  const left = info.expiration.getTime() - Date.now();
  if (left <= 0) {
    add({
      name: 'credentials',
      ok: false,
      detail: `${who} expired at ${info.expiration.toISOString()} by this machine's clock, though ${info.source} just gave them`,
      fix: "check this machine's clock (NTP): temporary credentials are judged by it",
    });
    return undefined;
  }
  return `${who}, expiring at ${info.expiration.toISOString()} (in ${Math.round(left / 60_000)} min)`;
}

/** What to do when no source gave credentials. */
const CHAIN_FIX =
  'set access_key and secret_key, or set up one of the sources listed (README, Credentials: environment, web identity, a profile, container, IMDS)';

/** A signed GET of a key that does not exist: NoSuchKey or AccessDenied mean the signature was accepted. */
async function checkCredentials(context: Context): Promise<boolean> {
  const { config, client, signal, add } = context;
  const who = await credentialsInUse(context);
  if (who === undefined) return false;
  try {
    const reply = await client.get(temporaryKey(), { signal });
    await reply.body.resume();
    return add({ name: 'credentials', ok: true, detail: `${who} accepted` });
  } catch (error) {
    if (!(error instanceof S3Error)) return add(failure('credentials', error, 'check endpoint and the network'));
    if (error.code === 'NoSuchKey')
      return add({
        name: 'credentials',
        ok: true,
        detail: `${who} accepted (a signed GET of a missing key gave NoSuchKey)`,
      });
    // AWS answers AccessDenied only to a signature it accepted, but Ceph with STS enabled answers it to a wrong one too
    // (../shared/notes/ceph-sts.md, "Gotchas"): the checks after this one tell.
    if (error.code === 'AccessDenied')
      return add({
        name: 'credentials',
        ok: true,
        detail: `${who} accepted, or refused by a server that says AccessDenied for both (a signed GET of a missing key gave AccessDenied; the bucket and policy checks tell)`,
      });
    if (CREDENTIAL_CODES.has(error.code))
      return add({
        name: 'credentials',
        ok: false,
        detail: `${who} refused: ${error.code}`,
        fix: error.hint ?? 'check access_key and secret_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)',
      });
    if (REGION_CODES.has(error.code) || error.code === 'NoSuchBucket') {
      // The server judged the bucket before the signature: the credentials are not known to be right or wrong, and
      // the report says so in its place rather than after the bucket's failure.
      const detail = `not judged: the server refused the bucket before the signature (${error.code})`;
      add({ name: 'credentials', ok: false, skipped: true, detail });
      if (error.code === 'NoSuchBucket') return add(noSuchBucket(config));
      return add({
        name: 'bucket',
        ok: false,
        detail: `requests signed for region ${config.region} are refused: ${error.code}`,
        fix: error.hint ?? 'check region and endpoint',
      });
    }
    return add(failure('credentials', error, 'check access_key, secret_key, endpoint and region'));
  }
}

/**
 * The bucket exists, and its region as GetBucketLocation names it, when the credentials may read it (the minimum
 * policy does not grant it). The region is judged by what the server enforces: the signed GET of checkCredentials
 * was accepted, so requests signed for the configured region work, whatever name the bucket's location has. AWS
 * refuses a request signed for another region (AuthorizationHeaderMalformed, naming the one it wants: see
 * checkCredentials); Ceph verifies the signature with the region it was signed for and names its zonegroup
 * ("default" on a stock cluster); R2 takes "auto" for any bucket.
 */
async function checkBucket({ config, client, signal, add }: Context): Promise<boolean> {
  try {
    const region = await client.location({ signal });
    const detail =
      region === config.region
        ? `bucket ${config.bucket} exists, in region ${region}`
        : `bucket ${config.bucket} exists and accepts requests signed for region ${config.region} (GetBucketLocation names ${region})`;
    return add({ name: 'bucket', ok: true, detail });
  } catch (error) {
    if (!(error instanceof S3Error)) return add(failure('bucket', error, 'check endpoint and the network'));
    if (error.code === 'NoSuchBucket') return add(noSuchBucket(config));
    // AccessDenied (no s3:GetBucketLocation) or a provider without the call: the region stays unconfirmed, not wrong.
    return add({
      name: 'bucket',
      ok: true,
      detail: `bucket ${config.bucket} answers requests signed for ${config.region}; its region could not be read (${error.code})`,
    });
  }
}

/**
 * Put, get and delete of a temporary object (the reference's minimum policy), addressing, and the links the config
 * gives.
 */
async function checkObject(context: Context): Promise<void> {
  const { config, client, signal, add } = context;
  const key = temporaryKey();
  const body = `s3v4 doctor ${key}\n`;
  let written = false;
  try {
    try {
      await client.put(key, body, { contentType: 'text/plain', signal });
      written = true;
      const read = await (await client.get(key, { signal })).text();
      if (read !== body)
        return void add({
          name: 'policy',
          ok: false,
          detail: `GET ${key} returned ${read.length} bytes that differ from the ${body.length} written`,
          fix: 'check that nothing between here and the server rewrites objects',
        });
    } catch (error) {
      if (error instanceof S3Error && error.code === 'PathStyleDomainForbidden') {
        return void add({
          name: 'addressing',
          ok: false,
          detail: `${describeAddressing(client.endpoint.addressing)} requests are refused: PathStyleDomainForbidden`,
          fix: 'set force_path_style = false',
        });
      }
      const action = written ? 's3:GetObject' : 's3:PutObject';
      return void add(
        failure(
          'policy',
          error,
          error instanceof S3Error && error.code === 'AccessDenied'
            ? `grant ${action} (the minimum policy: ${minimumPolicy(config.bucket)})`
            : undefined,
        ),
      );
    }
    const style = describeAddressing(client.endpoint.addressing);
    const cosPathStyle = config.provider === 'cos' && client.endpoint.addressing !== 'virtual-hosted';
    add({
      name: 'addressing',
      ok: true,
      detail: `${style} requests work${cosPathStyle ? '; this COS bucket does not forbid path-style' : ''}`,
    });
    await checkLinks(context, key, body);
    const refused = await checkUploadPaths(context, key, body);
    if (refused !== undefined) return void add(refused);
    await client.delete(key, { signal });
    written = false;
    add({
      name: 'policy',
      ok: true,
      detail: `put (a buffer, a file, a stream in parts), get and delete of a temporary object work (${minimumPolicy(config.bucket)})`,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    const check = failure(
      'policy',
      error,
      error instanceof S3Error && error.code === 'AccessDenied'
        ? `grant s3:DeleteObject (the minimum policy: ${minimumPolicy(config.bucket)})`
        : undefined,
    );
    // One more try, so the line says whether the temporary object is still there.
    written = !(await client.delete(key).then(
      () => true,
      () => false,
    ));
    add(written ? { ...check, detail: `${check.detail}; the temporary object ${key} is still in the bucket` } : check);
  } finally {
    // Never leave the temporary object behind, whatever failed (an interrupted run included).
    if (written) await client.delete(key).catch(() => undefined);
  }
}

/** The download links: plain (public bucket) or presigned, and the CDN's when public_url_base is set. */
async function checkLinks({ config, client, agent, signal, add }: Context, key: string, body: string): Promise<void> {
  const fetchText = async (url: string) => {
    const reply = await fetchUrl(agent, url, 'GET', signal);
    // The object is a few bytes, and an error page fits the error bound: a body beyond it is other content, unread.
    const read = { status: reply.statusCode, headers: reply.headers, body: reply.body };
    const text = await readBounded(read, MAX_ERROR_BYTES, 'GET download link').catch((error: unknown) => {
      if (error instanceof ProtocolError) return undefined;
      throw error;
    });
    return { status: reply.statusCode, text, code: text && /<Code>([^<]*)<\/Code>/.exec(text)?.[1] };
  };
  const serves = async (name: string, url: string, what: string, fix: string) => {
    try {
      const reply = await fetchText(url);
      if (reply.status === 200 && reply.text === body)
        return add({ name, ok: true, detail: `${what} serves the object` });
      const answer = `HTTP ${reply.status}${reply.code === undefined ? '' : ` ${reply.code}`}`;
      return add({
        name,
        ok: false,
        detail: `${what} answered ${reply.status === 200 ? `${answer} with other content` : answer}`,
        fix,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      return add({
        name,
        ok: false,
        detail: `${what}: no answer (${(error as { code?: string }).code ?? (error as Error).message})`,
        fix,
      });
    }
  };
  if (config.presignedExpirySecs > 0) {
    const link = client.presign(key, { expiresIn: config.presignedExpirySecs });
    // Temporary credentials cut the link's life to theirs: the line says what the URL says.
    const lives = new URL(link).searchParams.get('X-Amz-Expires');
    const cut = Number(lives) < config.presignedExpirySecs ? `, cut to the credentials' expiry` : '';
    await serves(
      'link',
      link,
      `the presigned link (valid ${lives} s${cut})`,
      'check the clock, and that no proxy rewrites the URL',
    );
  } else if (config.publicUrlBase === undefined) {
    await serves(
      'link',
      client.endpoint.objectUrl(key),
      'the plain link (presigned_expiry_secs = 0)',
      'allow public reads on the bucket (a policy granting s3:GetObject to everyone), or set presigned_expiry_secs = 3600 for signed links',
    );
  }
  if (config.publicUrlBase !== undefined) {
    await serves(
      'link',
      client.downloadUrl(key),
      `the CDN link (${config.publicUrlBase}/<key>)`,
      `public_url_base must serve the bucket's objects at ${config.publicUrlBase}/<key>: check the CDN's origin or the bucket's public domain`,
    );
  }
}

/** The check line of a bucket that does not exist at the endpoint. */
function noSuchBucket(config: StorageConfig): Check {
  const detail = `bucket ${config.bucket} does not exist at ${config.endpoint}`;
  return { name: 'bucket', ok: false, detail, fix: 'create the bucket, or correct bucket, endpoint and region' };
}

function failure(name: string, error: unknown, fix: string | undefined): Check {
  if (error instanceof S3Error)
    return {
      name,
      ok: false,
      // The message is `<request>: <status> <code>: <S3's message>` already.
      detail: error.message,
      fix: fix ?? error.hint ?? 'see the error above',
    };
  return { name, ok: false, detail: (error as Error).message, fix: fix ?? 'check endpoint and the network' };
}

/**
 * The other ways put() sends a body, over the temporary object, each read back: a file (a Blob takes its path: read
 * once to hash it, then sent) and a stream of unknown length (a multipart upload). A server can take a buffer and
 * refuse these: Swift's s3api refused every file upload while they went aws-chunked (README, Compatibility).
 */
async function checkUploadPaths(context: Context, key: string, body: string): Promise<Check | undefined> {
  const { client, signal } = context;
  const paths: Array<[string, () => Body]> = [
    ['a file', () => new Blob([body])],
    ['a stream of unknown length, in parts', () => Readable.from([Buffer.from(body)])],
  ];
  for (const [path, make] of paths) {
    try {
      await client.put(key, make(), { contentType: 'text/plain', signal });
      const read = await (await client.get(key, { signal })).text();
      if (read !== body)
        return {
          name: 'policy',
          ok: false,
          detail: `${key} uploaded as ${path} reads back as ${read.length} bytes that differ from the ${body.length} written`,
          fix: 'check that nothing between here and the server rewrites objects',
        };
    } catch (error) {
      if (signal.aborted) throw error;
      const check = failure('policy', error, undefined);
      return { ...check, detail: `uploading ${path}: ${check.detail}` };
    }
  }
  return undefined;
}

/** A key no one uses: the doctor's temporary object, and the missing key of the credentials check. */
function temporaryKey(): string {
  return `s3v4-doctor/${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(6).toString('hex')}.txt`;
}
