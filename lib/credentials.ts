/**
 * Credentials and their lifetime. A CredentialCache holds the credentials a
 * client signs with, and a signer made from them once per refresh. Long-term
 * keys never change. Temporary ones are refreshed before they expire: from
 * REFRESH_MARGIN_MS (or a quarter of their lifetime, whichever is smaller)
 * before their expiry, in the background while they still work, so no
 * request waits; by one provider call however many requests ask at once.
 * Within EXPIRY_GUARD_MS (or a fifth of the lifetime) of the expiry they are
 * no longer used at all, since a request signed then may arrive after it.
 * A failed background refresh costs no request: the old credentials go on
 * signing and the refresh is tried again with backoff. Once they are too
 * close to expiry, a request waits for a refresh, and fails with
 * CredentialsError when that fails.
 */
import { CredentialsError, S3v4Error } from './errors.js';
import { FetchFailure } from './fetch.js';
import { credentialProblem } from './settings.js';
import { MAX_PRESIGN_EXPIRY, SigV4Signer } from './signer.js';

/** An access key and its secret, with the session token and expiry of temporary credentials. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When temporary credentials stop working; undefined for long-term keys. */
  expiration?: Date | undefined;
}

/** Credentials and the source that gave them. */
export interface SourcedCredentials extends Credentials {
  /** `config file`, `environment`, `web identity`, `profile dev (assume role)`, `container`, `IMDS`... */
  source: string;
  /** The role they belong to, when the source names it. */
  roleArn?: string | undefined;
}

/** What may be shown of the credentials in use: never the secret or the token. */
export interface CredentialInfo {
  source: string;
  accessKeyId: string;
  /** When they expire; undefined for long-term keys. */
  expiration: Date | undefined;
  roleArn: string | undefined;
  /** Whether they carry a session token. */
  temporary: boolean;
}

/** Fetches credentials; each call may go to the network (STS, IMDS) or run a process. */
export type CredentialProvider = () => Promise<SourcedCredentials>;

/** The fields of credentials as a source's reply names them: JSON (container, IMDS, credential_process) or STS's XML. */
export interface CredentialFields {
  AccessKeyId: unknown;
  SecretAccessKey: unknown;
  /** `Token` of the container endpoint and IMDS, `SessionToken` of STS and credential_process. */
  SessionToken: unknown;
  Expiration: unknown;
  RoleArn?: unknown;
}

/**
 * Credentials from a source's reply, each field checked as the configuration's own keys are; `shown` names the
 * source in messages, which never show a value.
 */
export function credentialsFrom(fields: CredentialFields, source: string, shown: string): SourcedCredentials {
  const {
    AccessKeyId: accessKeyId,
    SecretAccessKey: secretAccessKey,
    SessionToken: token,
    Expiration: expiry,
  } = fields;
  if (
    typeof accessKeyId !== 'string' ||
    accessKeyId === '' ||
    typeof secretAccessKey !== 'string' ||
    secretAccessKey === ''
  )
    throw new FetchFailure(`${shown} gave no AccessKeyId and SecretAccessKey`);
  if (token !== undefined && token !== null && typeof token !== 'string')
    throw new FetchFailure(`${shown} gave a session token that is not a string`);
  if (expiry !== undefined && expiry !== null && typeof expiry !== 'string')
    throw new FetchFailure(`${shown} gave an Expiration that is not a date string`);
  const sessionToken = token || undefined;
  for (const [name, value, printable] of [
    ['AccessKeyId', accessKeyId, true],
    ['SecretAccessKey', secretAccessKey, false],
    ['session token', sessionToken, true],
  ] as const) {
    const problem = value === undefined ? undefined : credentialProblem(value, printable);
    if (problem !== undefined) throw new FetchFailure(`${shown} gave a ${name} that ${problem}`);
  }
  const expiration = expiry ? new Date(expiry) : undefined;
  if (expiration !== undefined && Number.isNaN(expiration.getTime()))
    throw new FetchFailure(`${shown} gave an Expiration that is not a date`);
  const roleArn = typeof fields.RoleArn === 'string' ? fields.RoleArn : undefined;
  return { source, accessKeyId, secretAccessKey, sessionToken, expiration, roleArn };
}

/** Refresh this long before expiry at most ("AWS SDKs and Tools Reference Guide": SDKs refresh 5 minutes before). */
export const REFRESH_MARGIN_MS = 5 * 60_000;
/** ... or this share of the lifetime, for credentials that live only minutes or seconds. */
const REFRESH_FRACTION = 0.25;
/** Stop signing with credentials this long before their expiry at most, or a fifth of their lifetime: a request signed just before may reach a busy server a moment later. */
const EXPIRY_GUARD_MS = 10_000;
const EXPIRY_GUARD_FRACTION = 0.2;
/** After a failed refresh, wait 1 s, then 2, 4... at most 30 s before the next. */
const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 30_000;

/** Credentials ready to sign with, and when to refresh and stop using them (local clock, milliseconds). */
export interface Lease {
  readonly info: CredentialInfo;
  readonly signer: SigV4Signer;
  readonly refreshAt: number;
  readonly expiresAt: number;
}

/** When credentials obtained at `now` should be refreshed, and when they must no longer sign. */
export function leaseTimes(now: number, expiration: Date | undefined): { refreshAt: number; expiresAt: number } {
  if (expiration === undefined) return { refreshAt: Number.POSITIVE_INFINITY, expiresAt: Number.POSITIVE_INFINITY };
  const end = expiration.getTime();
  const lifetime = Math.max(0, end - now);
  return {
    refreshAt: end - Math.min(REFRESH_MARGIN_MS, lifetime * REFRESH_FRACTION),
    expiresAt: end - Math.min(EXPIRY_GUARD_MS, lifetime * EXPIRY_GUARD_FRACTION),
  };
}

/** The wait after `failures` failed refreshes in a row. */
export function refreshBackoff(failures: number): number {
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1));
}

/** The seconds a URL presigned at `date` may live: at most until the credentials expire. */
export function presignLifetime(lease: Lease, date: number, wanted: number): number {
  const expiration = lease.info.expiration;
  if (expiration === undefined) return wanted;
  const left = Math.floor((expiration.getTime() - date) / 1000);
  if (left < 1) {
    throw new CredentialsError(
      `the credentials from ${lease.info.source} expire at ${expiration.toISOString()}, before a URL signed at ${new Date(date).toISOString()} could be used`,
    );
  }
  // Only a valid expiry is cut: anything else goes on to the signer, whose message names it as given, whatever the
  // credentials.
  const valid = Number.isInteger(wanted) && wanted >= 1 && wanted <= MAX_PRESIGN_EXPIRY;
  return valid && wanted > left ? left : wanted;
}

/** The credentials a client signs with, refreshed as the file's comment says. */
export class CredentialCache {
  readonly #provider: CredentialProvider;
  readonly #region: string;
  readonly #clock: () => number;
  #lease: Lease | undefined;
  #refreshing: Promise<Lease> | undefined;
  #failures = 0;
  #retryAt = 0;
  #lastFailure: unknown;
  readonly #onClose: (() => void) | undefined;

  /**
   * `clock`: the time expiries are compared with, the server-corrected clock of the transport. `onClose`: ends what
   * the provider has running (credential_process children).
   */
  constructor(provider: CredentialProvider, region: string, clock: () => number, onClose?: () => void) {
    this.#provider = provider;
    this.#region = region;
    this.#clock = clock;
    this.#onClose = onClose;
  }

  /** Ends whatever a fetch has running; a fetch in progress then fails. */
  close(): void {
    this.#onClose?.();
  }

  /** A cache of keys without an expiry, usable at once without a provider call. */
  static fixed(credentials: SourcedCredentials, region: string, clock: () => number): CredentialCache {
    const cache = new CredentialCache(() => Promise.resolve(credentials), region, clock);
    // Without an expiry the time is never compared: the clock (the transport's) need not exist yet.
    cache.#lease = cache.#leaseOf({ ...credentials, expiration: undefined }, 0);
    return cache;
  }

  /** The signer to sign a request with now: at once while the credentials are fresh, else after a refresh. */
  signer(): SigV4Signer | Promise<SigV4Signer> {
    const lease = this.usable();
    return lease !== undefined ? lease.signer : this.#refreshNow().then((fresh) => fresh.signer);
  }

  /**
   * The credentials usable now without waiting, or undefined; a refresh starts in the background when they are in
   * their refresh window.
   */
  usable(): Lease | undefined {
    const lease = this.#lease;
    const now = this.#clock();
    if (lease === undefined || now >= lease.expiresAt) return undefined;
    if (now >= lease.refreshAt && now >= this.#retryAt) this.#refresh().catch(() => undefined);
    return lease;
  }

  /** The credentials in use, fetched or refreshed first if they must be. */
  async lease(): Promise<Lease> {
    return this.usable() ?? (await this.#refreshNow());
  }

  /** A refresh a request waits for: the provider is asked again only once its backoff after a failure is over. */
  #refreshNow(): Promise<Lease> {
    if (this.#refreshing === undefined && this.#clock() < this.#retryAt) return Promise.reject(this.#failed());
    return this.#refresh().catch(() => Promise.reject(this.#failed()));
  }

  /** One provider call, shared by everyone who asks while it runs. */
  #refresh(): Promise<Lease> {
    this.#refreshing ??= this.#provider()
      .then((credentials) => {
        const lease = this.#renewed(credentials);
        this.#lease = lease;
        this.#failures = 0;
        this.#retryAt = 0;
        return lease;
      })
      .catch((error: unknown) => {
        this.#failures += 1;
        // The next try comes no later than the moment the old credentials stop signing, so a request finds them
        // refreshed if the provider is back by then.
        const now = this.#clock();
        const stopsAt = this.#lease !== undefined && now < this.#lease.expiresAt ? this.#lease.expiresAt : Infinity;
        this.#retryAt = Math.min(now + refreshBackoff(this.#failures), stopsAt);
        this.#lastFailure = error;
        throw error;
      })
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  /** What a request that found no usable credentials throws. */
  #failed(): Error {
    const error = this.#lastFailure;
    const old = this.#lease;
    if (old === undefined) {
      if (error instanceof S3v4Error) return error;
      return new CredentialsError(`no credentials: ${(error as Error).message}`, [], { cause: error });
    }
    const reason = error instanceof CredentialsError ? error.message : String((error as Error).message);
    return new CredentialsError(
      `the credentials from ${old.info.source} expire at ${old.info.expiration?.toISOString()} and could not be refreshed: ${reason}`,
      [],
      { cause: error },
    );
  }

  /**
   * The lease of freshly fetched credentials. A source that hands back the ones in use (a login tool's cache) renews
   * nothing: that counts as a failed refresh, so the old lease keeps its times, and its guard before expiry, rather
   * than earn a new lifetime that shrinks at every fetch.
   */
  #renewed(credentials: SourcedCredentials): Lease {
    const old = this.#lease;
    const same =
      old?.info.expiration !== undefined && old.info.expiration.getTime() === credentials.expiration?.getTime();
    if (old !== undefined && same && old.info.accessKeyId === credentials.accessKeyId) {
      throw new CredentialsError(
        `${credentials.source} gave back the credentials in use, which expire at ${old.info.expiration!.toISOString()}; it must hand out new ones before then`,
      );
    }
    return this.#leaseOf(credentials, this.#clock());
  }

  #leaseOf(credentials: SourcedCredentials, now: number): Lease {
    const { source, accessKeyId, secretAccessKey, sessionToken, expiration } = credentials;
    if (expiration !== undefined && Number.isNaN(expiration.getTime()))
      throw new CredentialsError(`${source}: the credentials have no valid expiry time`);
    if (expiration !== undefined && expiration.getTime() <= now) {
      const when = expiration.toISOString();
      throw new CredentialsError(
        `${source} gave credentials that had expired already, at ${when} (it is ${new Date(now).toISOString()} here): it served stale ones, or this machine's clock is wrong`,
      );
    }
    let signer: SigV4Signer;
    try {
      signer = new SigV4Signer({ accessKeyId, secretAccessKey, sessionToken, region: this.#region, service: 's3' });
    } catch (error) {
      throw new CredentialsError(`${source} gave unusable credentials: ${(error as Error).message}`, [], {
        cause: error,
      });
    }
    const info = {
      source,
      accessKeyId,
      expiration,
      roleArn: credentials.roleArn,
      temporary: sessionToken !== undefined,
    };
    return { info: Object.freeze(info), signer, ...leaseTimes(now, expiration) };
  }
}
