/**
 * The credential chain: where a configuration without keys of its own gets
 * them, in this order, the first source that yields credentials winning and
 * refreshing alone from then on:
 *
 * 1. the configuration's access_key and secret_key (settings.ts, static);
 * 2. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (settings.ts, static);
 * 3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (EKS IRSA);
 * 4. the shared files' profile: static keys, role_arn, credential_process,
 *    web_identity_token_file;
 * 5. the container endpoint (ECS, EKS Pod Identity);
 * 6. EC2 instance metadata, IMDSv2.
 *
 * A source that is not set up gives its reason and the chain goes on. A
 * source that is set up but fails (a token file that cannot be read, STS
 * refusing the role) stops the chain, as botocore's do: falling through to
 * another identity would hide the failure. Either way CredentialsError lists
 * every source asked and why it gave nothing.
 */
import type { ChildProcess } from 'node:child_process';
import type { Dispatcher } from 'undici';
import {
  type CredentialFields,
  type CredentialProvider,
  CredentialCache,
  type SourcedCredentials,
  credentialsFrom,
} from './credentials.js';
import { type CredentialAttempt, CredentialsError } from './errors.js';
import { FetchFailure } from './fetch.js';
import { Imds, containerCredentials, containerUrl, readTokenFile } from './metadata.js';
import {
  type Profile,
  type SharedFiles,
  filesShown,
  findProfile,
  profileEndpoint,
  profileName,
  profileValue,
  splitWords,
} from './profiles.js';
import { type Environment, credentialProblem } from './settings.js';
import {
  type AssumeRoleRequest,
  assumeRole,
  assumeRoleWithWebIdentity,
  defaultSessionName,
  stsEndpoint,
} from './sts.js';

/** How a configuration gets its credentials: keys it holds, or the chain. */
export type CredentialPlan =
  | { readonly kind: 'static'; readonly credentials: SourcedCredentials }
  | {
      readonly kind: 'chain';
      readonly env: Environment;
      /** The TOML `profile`, which also keeps the environment's keys out (as botocore's explicit profile does). */
      readonly profile: string | undefined;
      readonly region: string;
      readonly files: SharedFiles;
      /** Why the configuration and the environment gave no keys. */
      readonly skipped: readonly CredentialAttempt[];
    };

/** What the chain's sources fetch with. */
export interface ChainContext {
  dispatcher: Dispatcher;
  /** The clock requests are signed with. */
  now: () => number;
  /** The credential_process children running for this client: close() ends them. */
  processes?: Set<ChildProcess>;
}

/** A source that is set up, and fetches; or why it gives nothing, and whether that ends the chain. */
type Found = { fetch: CredentialProvider } | { reason: string; stop?: true };

type ChainPlan = Extract<CredentialPlan, { kind: 'chain' }>;

/** The credentials a client signs with: fixed for keys, refreshed from the chain otherwise. */
export function credentialCache(plan: CredentialPlan, region: string, context: ChainContext): CredentialCache {
  if (plan.kind === 'static') return CredentialCache.fixed(plan.credentials, region, context.now);
  const processes = new Set<ChildProcess>();
  const close = () => {
    for (const child of processes) killGroup(child);
  };
  return new CredentialCache(chainProvider(plan, { ...context, processes }), region, context.now, close);
}

/** Asks the sources in order; the one that answers first is asked alone from then on. */
function chainProvider(plan: ChainPlan, context: ChainContext): CredentialProvider {
  let winner: CredentialProvider | undefined;
  const imds = new Imds(context.dispatcher, plan.env);
  const sources: Array<[string, () => Found]> = [
    ['web identity', () => webIdentitySource(plan, context)],
    ['shared files', () => sharedFilesSource(plan, context, imds)],
    ['container', () => containerSource(plan, context)],
    ['IMDS', () => imdsSource(imds)],
  ];
  return async () => {
    if (winner !== undefined) return winner();
    const tried = [...plan.skipped];
    for (const [name, find] of sources) {
      const found = find();
      if ('reason' in found) {
        tried.push({ source: name, reason: found.reason });
        if (found.stop) throw new CredentialsError(`no credentials: ${name} is set up wrongly`, tried);
        continue;
      }
      try {
        const credentials = await found.fetch();
        winner = found.fetch;
        return credentials;
      } catch (error) {
        if (!(error instanceof FetchFailure || error instanceof CredentialsError)) throw error;
        tried.push({ source: name, reason: error.message });
        // IMDS is asked on the chance that this is an EC2 instance; every other source was set up to be used.
        if (name !== 'IMDS') throw new CredentialsError(`no credentials: ${name} failed`, tried, { cause: error });
      }
    }
    throw new CredentialsError('no credentials: no source gave any', tried);
  };
}

/** STS, as a profile or the environment says where it is. */
function stsFor(plan: ChainPlan, context: ChainContext, profile: Profile | undefined) {
  const region = (profile && profileValue(profile, 'region')) || plan.region;
  const endpoint = stsEndpoint(plan.env, region, profile && profileEndpoint(profile, 'sts'));
  return { dispatcher: context.dispatcher, endpoint, region, now: context.now };
}

/** AssumeRoleWithWebIdentity with the token in `tokenFile`. */
function webIdentityFetch(
  plan: ChainPlan,
  context: ChainContext,
  profile: Profile | undefined,
  tokenFile: string,
  request: AssumeRoleRequest,
  source: string,
): CredentialProvider {
  return async () => {
    const token = readTokenFile(tokenFile, `the token file ${tokenFile}`);
    const credentials = await assumeRoleWithWebIdentity(stsFor(plan, context, profile), token, request, source);
    return { ...credentials, roleArn: request.roleArn };
  };
}

function webIdentitySource(plan: ChainPlan, context: ChainContext): Found {
  const { env } = plan;
  const tokenFile = env.AWS_WEB_IDENTITY_TOKEN_FILE;
  if (!tokenFile) return { reason: 'AWS_WEB_IDENTITY_TOKEN_FILE not set' };
  const roleArn = env.AWS_ROLE_ARN;
  if (!roleArn) return { reason: 'AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not', stop: true };
  const sessionName = env.AWS_ROLE_SESSION_NAME || defaultSessionName(context.now());
  return { fetch: webIdentityFetch(plan, context, undefined, tokenFile, { roleArn, sessionName }, 'web identity') };
}

function sharedFilesSource(plan: ChainPlan, context: ChainContext, imds: Imds): Found {
  const name = profileName(plan.profile, plan.env);
  const explicit = plan.profile !== undefined || Boolean(plan.env.AWS_PROFILE);
  const found = profileSource(plan, context, imds, name, []);
  if ('reason' in found && !explicit && findProfile(plan.files, name) === undefined) return { reason: found.reason };
  return found;
}

/** `fetch`, its failures prefixed with the source they belong to: which profile, which of its ways. */
function labelled(source: string, fetch: CredentialProvider): CredentialProvider {
  return () =>
    fetch().catch((error: unknown) => {
      if (!(error instanceof FetchFailure) || error.message.startsWith(`${source}: `)) throw error;
      throw new FetchFailure(`${source}: ${error.message}`);
    });
}

/** A duration_seconds value, or the reason it is not one. */
function durationOf(text: string | undefined): number | undefined | { reason: string } {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) return { reason: `duration_seconds must be a whole number of seconds` };
  return Number(text);
}

/** The credentials a profile gives, following source_profile through other profiles. */
function profileSource(plan: ChainPlan, context: ChainContext, imds: Imds, name: string, visited: string[]): Found {
  const profile = findProfile(plan.files, name);
  if (profile === undefined) {
    const via = visited.length === 0 ? '' : `, the source_profile of profile ${visited.at(-1)},`;
    return { reason: `profile ${name}${via} is not in ${filesShown(plan.files)}`, stop: true };
  }
  const value = (key: string) => profileValue(profile, key);
  const roleArn = value('role_arn');
  const tokenFile = value('web_identity_token_file');
  if (roleArn !== undefined) {
    if (value('mfa_serial') !== undefined)
      return {
        reason: `profile ${name} has mfa_serial: its role needs an MFA code, which s3v4 cannot ask for`,
        stop: true,
      };
    const duration = durationOf(value('duration_seconds'));
    if (typeof duration === 'object') return { reason: `profile ${name}: ${duration.reason}`, stop: true };
    const request = {
      roleArn,
      sessionName: value('role_session_name') ?? defaultSessionName(context.now()),
      durationSeconds: duration,
      externalId: value('external_id'),
    };
    const base = roleSource(plan, context, imds, profile, [...visited, name], tokenFile);
    if ('reason' in base) return base;
    if ('webIdentity' in base) {
      const source = `profile ${name} (web identity)`;
      return { fetch: labelled(source, webIdentityFetch(plan, context, profile, tokenFile!, request, source)) };
    }
    const sts = stsFor(plan, context, profile);
    const source = `profile ${name} (assume role)`;
    return {
      fetch: labelled(source, async () => ({
        ...(await assumeRole(sts, await base.fetch(), request, source)),
        roleArn,
      })),
    };
  }
  if (tokenFile !== undefined)
    return { reason: `profile ${name} has web_identity_token_file but no role_arn`, stop: true };
  // botocore's order: the credentials file's keys, then credential_process, then the config file's keys.
  const keys = staticKeys(profile, { ...profile, config: undefined });
  if (keys !== undefined) return keys;
  const command = value('credential_process');
  if (command !== undefined) {
    const source = `profile ${name} (credential_process)`;
    return { fetch: labelled(source, () => runCredentialProcess(plan.env, command, source, context.processes)) };
  }
  const configKeys = staticKeys(profile, { ...profile, credentials: undefined });
  if (configKeys !== undefined) return configKeys;
  if (value('sso_session') !== undefined || value('sso_start_url') !== undefined)
    return { reason: `profile ${name} uses IAM Identity Center (SSO), which s3v4 does not support`, stop: true };
  // A profile of settings alone (a region, say) leaves the credentials to the sources after it, unless a role needs
  // them from it.
  const none = `profile ${name} has none of aws_access_key_id, role_arn, credential_process and web_identity_token_file`;
  return visited.length === 0 ? { reason: none } : { reason: none, stop: true };
}

/** The credentials a role profile assumes the role with: source_profile, credential_source, or its token file. */
function roleSource(
  plan: ChainPlan,
  context: ChainContext,
  imds: Imds,
  profile: Profile,
  visited: string[],
  tokenFile: string | undefined,
): Found | { webIdentity: true } {
  const { name } = profile;
  const sourceProfile = profileValue(profile, 'source_profile');
  const credentialSource = profileValue(profile, 'credential_source');
  if (sourceProfile !== undefined) {
    // A profile may name itself, to assume its role with its own keys (botocore allows this, and only this, cycle).
    if (sourceProfile === name)
      return (
        staticKeys(profile, profile) ?? {
          reason: `profile ${name} is its own source_profile but has no keys`,
          stop: true,
        }
      );
    if (visited.includes(sourceProfile))
      return { reason: `source_profile loop: ${[...visited, sourceProfile].join(' → ')}`, stop: true };
    return profileSource(plan, context, imds, sourceProfile, visited);
  }
  if (credentialSource !== undefined) {
    switch (credentialSource) {
      case 'Environment': {
        const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = plan.env;
        if (!accessKeyId || !secretAccessKey)
          return {
            reason: `profile ${name}: credential_source Environment, but AWS_ACCESS_KEY_ID is not set`,
            stop: true,
          };
        const sessionToken = plan.env.AWS_SESSION_TOKEN || undefined;
        return { fetch: () => Promise.resolve({ source: 'environment', accessKeyId, secretAccessKey, sessionToken }) };
      }
      case 'Ec2InstanceMetadata':
        return { fetch: () => imds.credentials() };
      case 'EcsContainer': {
        const found = containerSource(plan, context);
        return 'reason' in found
          ? { reason: `profile ${name}: credential_source EcsContainer: ${found.reason}`, stop: true }
          : found;
      }
      default:
        return {
          reason: `profile ${name}: credential_source must be Environment, Ec2InstanceMetadata or EcsContainer, got ${JSON.stringify(credentialSource)}`,
          stop: true,
        };
    }
  }
  if (tokenFile !== undefined) return { webIdentity: true };
  return {
    reason: `profile ${name} has role_arn but none of source_profile, credential_source and web_identity_token_file`,
    stop: true,
  };
}

/**
 * A profile's aws_access_key_id and aws_secret_access_key (and aws_session_token) as `within` holds them (one file's
 * section of it, or both), or undefined when it has none.
 */
function staticKeys(profile: Profile, within: Profile): Found | undefined {
  const accessKeyId = profileValue(within, 'aws_access_key_id');
  const secretAccessKey = profileValue(within, 'aws_secret_access_key');
  if (accessKeyId === undefined && secretAccessKey === undefined) return undefined;
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    const [set, unset] =
      accessKeyId === undefined
        ? ['aws_secret_access_key', 'aws_access_key_id']
        : ['aws_access_key_id', 'aws_secret_access_key'];
    return { reason: `profile ${profile.name} sets ${set} but not ${unset}`, stop: true };
  }
  const sessionToken = profileValue(within, 'aws_session_token');
  // The checks the configuration's own keys get.
  for (const [key, value, printable] of [
    ['aws_access_key_id', accessKeyId, true],
    ['aws_secret_access_key', secretAccessKey, false],
    ['aws_session_token', sessionToken, true],
  ] as const) {
    // In these files a comment after a value is part of it: only whole lines are comments. Keys have no spaces, so
    // a space before `#` or `;` is a comment that was meant.
    const comment = value !== undefined && /\s[#;]/.test(value);
    const problem = comment
      ? 'holds a " #" or " ;": a comment after the value is part of it; put comments on a line of their own'
      : value === undefined
        ? undefined
        : credentialProblem(value, printable);
    if (problem !== undefined) return { reason: `profile ${profile.name}: ${key} ${problem}`, stop: true };
  }
  const credentials: SourcedCredentials = {
    source: `profile ${profile.name}`,
    accessKeyId,
    secretAccessKey,
    sessionToken,
  };
  return { fetch: () => Promise.resolve(credentials) };
}

function containerSource(plan: ChainPlan, context: ChainContext): Found {
  const where = containerUrl(plan.env);
  // A FULL_URI that is refused was set up to be used: no other identity takes its place.
  if ('reason' in where)
    return plan.env.AWS_CONTAINER_CREDENTIALS_FULL_URI ? { reason: where.reason, stop: true } : where;
  return { fetch: () => containerCredentials(context.dispatcher, where.url, plan.env) };
}

function imdsSource(imds: Imds): Found {
  return imds.disabled !== undefined ? { reason: imds.disabled } : { fetch: () => imds.credentials() };
}

/** How long a credential_process may run, and how much it may print. */
const PROCESS_TIMEOUT_MS = 60_000;
const MAX_PROCESS_OUTPUT = 1024 * 1024;

/** credential_process children still running: killed with their process groups if this process exits first. */
const running = new Set<ChildProcess>();

/** Ends a credential_process and everything it started (it leads its own process group). */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

function killRunning(): void {
  for (const child of running) killGroup(child);
}

/**
 * Runs a credential_process and reads its JSON: Version 1, AccessKeyId, SecretAccessKey, SessionToken and Expiration
 * ("AWS SDKs and Tools Reference Guide", "Process credential provider"). It runs without a shell, in a process group
 * of its own, so that a timeout, or this process ending, ends it and everything it started. Neither its output nor
 * its stderr is ever shown: either may hold the credentials.
 */
async function runCredentialProcess(
  env: Environment,
  command: string,
  source: string,
  processes = new Set<ChildProcess>(),
): Promise<SourcedCredentials> {
  const words = splitWords(command);
  if (words === undefined) throw new FetchFailure('credential_process has an unterminated quote');
  const [file, ...args] = words;
  if (file === undefined) throw new FetchFailure('credential_process is empty');
  const name = `credential_process ${file}`;
  // Loaded here, by the few who configure a credential_process, rather than by every import (issue 14).
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { ...process.env, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (running.size === 0) process.once('exit', killRunning);
    running.add(child);
    processes.add(child);
    let stdout = '';
    let settled = false;
    const settle = (outcome: () => SourcedCredentials) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      running.delete(child);
      processes.delete(child);
      if (running.size === 0) process.removeListener('exit', killRunning);
      try {
        resolve(outcome());
      } catch (failure) {
        reject(failure);
      }
    };
    const fail = (why: string) =>
      settle(() => {
        throw new FetchFailure(`${name} ${why}`);
      });
    const stop = (why: string) => {
      killGroup(child);
      fail(why);
    };
    const timer = setTimeout(() => stop(`was stopped after ${PROCESS_TIMEOUT_MS / 1000} s`), PROCESS_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.length > MAX_PROCESS_OUTPUT) stop(`printed more than ${MAX_PROCESS_OUTPUT / 1024 / 1024} MiB`);
    });
    child.stderr!.resume();
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(`cannot be run (${error.code}${error.code === 'EACCES' ? ': is it executable?' : ''})`),
    );
    child.once('close', (code, signal) => {
      if (code !== 0) return fail(`failed (exit ${code ?? signal}); run it yourself to see what it says`);
      settle(() => processCredentials(stdout, name, source));
    });
  });
}

/** What a credential_process printed, as credentials; the text itself is never shown. */
function processCredentials(stdout: string, name: string, source: string): SourcedCredentials {
  let document: unknown;
  try {
    document = JSON.parse(stdout);
  } catch {
    throw new FetchFailure(`${name} did not print a JSON object`);
  }
  const fields = (document ?? {}) as Record<string, unknown>;
  // Not the Version it printed: nothing it prints is shown.
  if (fields.Version !== 1) throw new FetchFailure(`${name} did not print Version 1`);
  return credentialsFrom(fields as unknown as CredentialFields, source, name);
}
