/**
 * Loopback servers that speak the credential protocols of AWS's metadata
 * endpoints, handing out credentials from a `vend` callback (in specs: the
 * STS gateway's AssumeRole, sts.ts), so the credentials they serve are real
 * and the server that checks them is radosgw. They follow the documented
 * protocols; the controls (failures, delays, expired tokens) and counters
 * are there so specs can see what a client does.
 *
 * - EC2 instance metadata, IMDSv2 (Amazon EC2 User Guide, "Use the Instance
 *   Metadata Service to access instance metadata"): a session token from
 *   `PUT /latest/api/token`, then the role name and the role's credentials
 *   under `/latest/meta-data/iam/security-credentials/`.
 * - The container credential provider (AWS SDKs and Tools Reference Guide,
 *   "Container credential provider"): `GET` of the full URI, with the
 *   `Authorization` token when one is configured.
 */
import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { TemporaryCredentials } from './sts.js';

/** Where credentials come from: called once per credential request served. */
export type Vend = () => Promise<TemporaryCredentials>;

/** The role the IMDS's instance profile names, unless told. */
export const IMDS_ROLE = 's3v4-role';
/** The RoleArn the container endpoint reports (the STS gateway's role). */
export const CONTAINER_ROLE_ARN = 'arn:aws:iam:::role/s3v4-test-role';
const TOKEN_PATH = '/latest/api/token';
const CREDENTIALS_PATH = '/latest/meta-data/iam/security-credentials';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';
const MAX_TTL = 21600;

/** An ISO time as AWS's metadata endpoints write it: whole seconds, `Z` (truncated, so never later than given). */
function awsTime(time: string | Date): string {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new Error(`not a time: ${String(time)}`);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function replyJson(res: ServerResponse, status: number, value: unknown): void {
  reply(res, status, JSON.stringify(value), { 'content-type': 'application/json' });
}

/** The value of a request header sent once (undefined when absent or sent more than once). */
function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Listens on a free port of 127.0.0.1. Its sockets never keep the process
 * alive, so a spec that forgets `stop()` still ends; a handler that throws
 * answers 500.
 */
async function listen(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ port: number; stop(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    // The body is never used; read it so keep-alive connections stay usable.
    req.resume();
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) reply(res, 500, `metadata server: ${String(error)}`);
      else res.destroy();
    });
  });
  server.on('connection', (socket) => socket.unref());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopped;
  };
  return { port, stop };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ImdsOptions {
  /** Answer GETs without a token too (IMDSv1, `HttpTokens: optional`). A GET with an invalid token still gets 401. */
  allowV1?: boolean;
  /** The role name of the instance profile; `s3v4-role` by default. */
  roleName?: string;
  /** Milliseconds to wait before every reply. */
  delayMs?: number;
}

export interface ImdsCounts {
  /** `PUT /latest/api/token` requests, whatever their reply. */
  token: number;
  /** GETs of the role list (`.../security-credentials/`), whatever their reply. */
  roles: number;
  /** GETs of a role's credentials (`.../security-credentials/<role>`), whatever their reply. */
  credentials: number;
  /** Replies of 401: GETs without a valid token (without any, unless allowV1). */
  unauthorized: number;
}

export interface Imds {
  /** `http://127.0.0.1:<port>` (the SDKs' `AWS_EC2_METADATA_SERVICE_ENDPOINT`). */
  endpoint: string;
  roleName: string;
  /** Expires every token handed out so far: the next GET with one of them gets 401. */
  invalidateTokens(): void;
  /** The next `n` credential GETs (that pass the token check) get 500. */
  failNext(n: number): void;
  /** Milliseconds to wait before every reply from now on. */
  setDelay(ms: number): void;
  counts(): ImdsCounts;
  stop(): Promise<void>;
}

/**
 * EC2's instance metadata service, IMDSv2, on a free loopback port:
 *
 * - `PUT /latest/api/token` with `X-aws-ec2-metadata-token-ttl-seconds`
 *   (an integer, 1 to 21600; else 400) answers a token valid that long, and
 *   the TTL header. A PUT with `X-Forwarded-For` gets 403, as on EC2.
 * - `GET /latest/meta-data/iam/security-credentials/` answers the role name.
 * - `GET /latest/meta-data/iam/security-credentials/<role>` answers the
 *   credentials `vend` gives, as JSON (Code, LastUpdated, Type, AccessKeyId,
 *   SecretAccessKey, Token, Expiration: times in whole seconds); another
 *   role name gets 404.
 * - GETs need a valid `X-aws-ec2-metadata-token`, else 401 (without one, only
 *   while `allowV1` is false). Other paths get 404, other methods 405.
 */
export async function startImds(vend: Vend, options: ImdsOptions = {}): Promise<Imds> {
  const roleName = options.roleName ?? IMDS_ROLE;
  let delayMs = options.delayMs ?? 0;
  let failures = 0;
  /** Token -> when it expires (ms since the epoch). */
  const tokens = new Map<string, number>();
  const counts: ImdsCounts = { token: 0, roles: 0, credentials: 0, unauthorized: 0 };
  const unauthorized = (res: ServerResponse) => {
    counts.unauthorized += 1;
    reply(res, 401, 'Unauthorized');
  };
  const listening = await listen(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const kind =
      path === TOKEN_PATH
        ? 'token'
        : path === CREDENTIALS_PATH || path === `${CREDENTIALS_PATH}/`
          ? 'roles'
          : path.startsWith(`${CREDENTIALS_PATH}/`)
            ? 'credentials'
            : undefined;
    if (kind !== undefined) counts[kind] += 1;
    if (delayMs > 0) await sleep(delayMs);
    if (kind === 'token') {
      if (req.method !== 'PUT') return reply(res, 405, 'Method Not Allowed', { allow: 'PUT' });
      if (req.headers['x-forwarded-for'] !== undefined) return reply(res, 403, 'Forbidden');
      const ttl = header(req, TTL_HEADER);
      const seconds = ttl !== undefined && /^[0-9]+$/.test(ttl) ? Number(ttl) : Number.NaN;
      if (!(seconds >= 1 && seconds <= MAX_TTL)) return reply(res, 400, 'Bad Request');
      const token = randomBytes(42).toString('base64url');
      tokens.set(token, Date.now() + seconds * 1000);
      return reply(res, 200, token, { [TTL_HEADER]: String(seconds) });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'Method Not Allowed');
    const token = header(req, TOKEN_HEADER);
    if (token === undefined ? !options.allowV1 : !((tokens.get(token) ?? 0) > Date.now())) return unauthorized(res);
    if (kind === 'roles') return reply(res, 200, roleName);
    if (kind !== 'credentials') return reply(res, 404, 'Not Found');
    if (path.slice(CREDENTIALS_PATH.length + 1).replace(/\/$/, '') !== roleName) return reply(res, 404, 'Not Found');
    if (failures > 0) {
      failures -= 1;
      return reply(res, 500, 'Internal Server Error');
    }
    const credentials = await vend();
    replyJson(res, 200, {
      Code: 'Success',
      LastUpdated: awsTime(new Date()),
      Type: 'AWS-HMAC',
      AccessKeyId: credentials.accessKeyId,
      SecretAccessKey: credentials.secretAccessKey,
      Token: credentials.sessionToken,
      Expiration: awsTime(credentials.expiration),
    });
  });
  return {
    endpoint: `http://127.0.0.1:${listening.port}`,
    roleName,
    invalidateTokens: () => tokens.clear(),
    failNext: (n) => {
      failures = n;
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    counts: () => ({ ...counts }),
    stop: listening.stop,
  };
}

export interface ContainerEndpointOptions {
  /** The `Authorization` header every request must carry (AWS_CONTAINER_AUTHORIZATION_TOKEN); none when unset. */
  token?: string;
  /** Milliseconds to wait before every reply. */
  delayMs?: number;
}

export interface ContainerEndpoint {
  /** `http://127.0.0.1:<port>/creds`, for AWS_CONTAINER_CREDENTIALS_FULL_URI (any path answers). */
  url: string;
  /** The next `n` GETs (that pass the token check) get 500. */
  failNext(n: number): void;
  /** Milliseconds to wait before every reply from now on. */
  setDelay(ms: number): void;
  /** requests: every request; unauthorized: the 401 replies. */
  counts(): { requests: number; unauthorized: number };
  /** The `Authorization` header of the last request, if it had one. */
  lastAuthorization(): string | undefined;
  stop(): Promise<void>;
}

/**
 * The container credential provider's endpoint (ECS task roles, EKS Pod
 * Identity) on a free loopback port: `GET <any path>` answers the
 * credentials `vend` gives, as JSON (AccessKeyId, SecretAccessKey, Token,
 * Expiration in whole seconds, RoleArn). When `token` is set, a request
 * whose `Authorization` header is not exactly it gets 401. Other methods get 405.
 */
export async function startContainerEndpoint(
  vend: Vend,
  options: ContainerEndpointOptions = {},
): Promise<ContainerEndpoint> {
  let delayMs = options.delayMs ?? 0;
  let failures = 0;
  let last: string | undefined;
  const counts = { requests: 0, unauthorized: 0 };
  const listening = await listen(async (req, res) => {
    counts.requests += 1;
    last = header(req, 'authorization');
    if (delayMs > 0) await sleep(delayMs);
    if (req.method !== 'GET') return reply(res, 405, 'Method Not Allowed');
    if (options.token !== undefined && last !== options.token) {
      counts.unauthorized += 1;
      return replyJson(res, 401, { code: 'Unauthorized', message: 'Authorization token missing or invalid' });
    }
    if (failures > 0) {
      failures -= 1;
      return replyJson(res, 500, { code: 'InternalError', message: 'failed as told (failNext)' });
    }
    const credentials = await vend();
    replyJson(res, 200, {
      AccessKeyId: credentials.accessKeyId,
      SecretAccessKey: credentials.secretAccessKey,
      Token: credentials.sessionToken,
      Expiration: awsTime(credentials.expiration),
      RoleArn: CONTAINER_ROLE_ARN,
    });
  });
  return {
    url: `http://127.0.0.1:${listening.port}/creds`,
    failNext: (n) => {
      failures = n;
    },
    setDelay: (ms) => {
      delayMs = ms;
    },
    counts: () => ({ ...counts }),
    lastAuthorization: () => last,
    stop: listening.stop,
  };
}
