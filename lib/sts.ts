/**
 * AWS STS: AssumeRole, signed by our own signer with service `sts`, and
 * AssumeRoleWithWebIdentity, which is not signed (the token is the proof).
 * Both are POST forms (STS API Reference, "Making Query Requests"); their XML
 * replies are read with the root element checked. Failures throw
 * FetchFailure with STS's code and message, never the form (it holds the
 * web identity token) or the reply (it holds credentials).
 */
import type { Dispatcher } from 'undici';
import { type SourcedCredentials, credentialsFrom } from './credentials.js';
import { encodeComponent } from './encoding.js';
import type { Environment } from './settings.js';
import { FetchFailure, fetchText } from './fetch.js';
import { SigV4Signer, hashPayload } from './signer.js';
import { type XmlElement, child, parseXml, textOf } from './xml.js';

/** STS answers in well under a second; a role assumed through a slow network still fits. */
const STS_TIMEOUT_MS = 10_000;
const VERSION = '2011-06-15';

/** Where STS calls go and who signs them. */
export interface StsContext {
  dispatcher: Dispatcher;
  /** `https://sts.<region>.amazonaws.com`, or AWS_ENDPOINT_URL_STS. */
  endpoint: string;
  region: string;
  now: () => number;
}

/** The STS endpoint: AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then the region's own ("AWS SDKs and Tools Reference Guide", "Service-specific endpoints"). */
export function stsEndpoint(env: Environment, region: string, profileEndpoint: string | undefined): string {
  const given = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL || profileEndpoint;
  if (given) return given.replace(/\/+$/, '');
  return `https://sts.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

export interface AssumeRoleRequest {
  roleArn: string;
  sessionName: string;
  durationSeconds?: number | undefined;
  externalId?: string | undefined;
}

/** A session name as STS takes it (2 to 64 of `\w+=,.@-`): `s3v4-` and the time. */
export function defaultSessionName(now: number): string {
  return `s3v4-${now}`;
}

/** STS AssumeRole with `caller`'s credentials. */
export async function assumeRole(
  context: StsContext,
  caller: SourcedCredentials,
  request: AssumeRoleRequest,
  source: string,
): Promise<SourcedCredentials> {
  const form = roleForm('AssumeRole', request);
  if (request.externalId !== undefined) form.push(['ExternalId', request.externalId]);
  const body = encodeForm(form);
  const signer = new SigV4Signer({
    accessKeyId: caller.accessKeyId,
    secretAccessKey: caller.secretAccessKey,
    sessionToken: caller.sessionToken,
    region: context.region,
    service: 'sts',
    mode: 'generic',
  });
  const url = `${context.endpoint}/`;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const payloadHash = hashPayload(body);
  Object.assign(headers, signer.sign({ method: 'POST', url, headers, payloadHash }, { date: context.now() }));
  return stsCall(context, { url, headers, body }, 'AssumeRole', request, source);
}

/** STS AssumeRoleWithWebIdentity with an OIDC token (the token file's contents). */
export async function assumeRoleWithWebIdentity(
  context: StsContext,
  token: string,
  request: AssumeRoleRequest,
  source: string,
): Promise<SourcedCredentials> {
  const form = roleForm('AssumeRoleWithWebIdentity', request);
  form.push(['WebIdentityToken', token]);
  const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const call = { url: `${context.endpoint}/`, headers, body: encodeForm(form) };
  return stsCall(context, call, 'AssumeRoleWithWebIdentity', request, source);
}

function roleForm(action: string, request: AssumeRoleRequest): Array<[string, string]> {
  const form: Array<[string, string]> = [
    ['Action', action],
    ['Version', VERSION],
    ['RoleArn', request.roleArn],
    ['RoleSessionName', request.sessionName],
  ];
  if (request.durationSeconds !== undefined) form.push(['DurationSeconds', String(request.durationSeconds)]);
  return form;
}

/** A form body with `%20` for spaces: Ceph's STS does not decode `+` (../shared/notes/ceph-sts.md, "Gotchas"). */
function encodeForm(form: ReadonlyArray<[string, string]>): string {
  return form.map(([name, value]) => `${encodeComponent(name)}=${encodeComponent(value)}`).join('&');
}

async function stsCall(
  context: StsContext,
  call: { url: string; headers: Record<string, string>; body: string },
  action: string,
  request: AssumeRoleRequest,
  source: string,
): Promise<SourcedCredentials> {
  const what = `STS ${action} of ${request.roleArn} at ${context.endpoint}`;
  const reply = await fetchText(context.dispatcher, { method: 'POST', ...call, timeoutMs: STS_TIMEOUT_MS, what });
  let root: XmlElement;
  try {
    root = parseXml(reply.text);
  } catch {
    throw new FetchFailure(`${what}: ${reply.status}, not an XML reply`);
  }
  if (reply.status !== 200) throw new FetchFailure(`${what}: ${stsError(root, reply.status)}`);
  if (root.name !== `${action}Response`)
    throw new FetchFailure(`${what}: the reply is <${root.name}>, not <${action}Response>`);
  return credentialsOf(root, action, source, what);
}

/** `403 AccessDenied: message`, from AWS's `<ErrorResponse><Error>` or Ceph's S3-style `<Error>`. */
function stsError(root: XmlElement, status: number): string {
  const error = root.name === 'Error' ? root : child(root, 'Error');
  const code = error === undefined ? undefined : textOf(error, 'Code');
  const message = error === undefined ? '' : (textOf(error, 'Message') ?? '');
  return `${status} ${code ?? 'without an error code'}${message === '' ? '' : `: ${message}`}`;
}

function credentialsOf(root: XmlElement, action: string, source: string, what: string): SourcedCredentials {
  const result = child(root, `${action}Result`);
  const credentials = result === undefined ? undefined : child(result, 'Credentials');
  const field = (name: string) => (credentials === undefined ? undefined : textOf(credentials, name)?.trim());
  const fields = {
    AccessKeyId: field('AccessKeyId'),
    SecretAccessKey: field('SecretAccessKey'),
    SessionToken: field('SessionToken'),
    Expiration: field('Expiration'),
  };
  if (!fields.SessionToken || !fields.Expiration)
    throw new FetchFailure(`${what}: the reply lacks Credentials with all four fields`);
  const user = result === undefined ? undefined : child(result, 'AssumedRoleUser');
  return { ...credentialsFrom(fields, source, what), roleArn: user === undefined ? undefined : textOf(user, 'Arn') };
}
