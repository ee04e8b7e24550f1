/**
 * The providers s3v4 knows by their endpoint host, and each one's rules from
 * its own documentation: AWS (General Reference, "Amazon S3 endpoints"; S3
 * User Guide, "General purpose bucket naming rules"), Tencent Cloud COS
 * ("Regions and Access Endpoints", "Bucket Overview", "Path-style domain
 * suspension") and Cloudflare R2 ("S3 API compatibility"). Also which hosts
 * are private, and which can have no virtual host. lib/config.ts applies
 * these rules to a configuration.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The provider an endpoint belongs to, recognised from its host. */
export type Provider = 'aws' | 'cos' | 'r2' | 'other';

/** Collects a problem about a setting: where it is (`[object_store.s3] bucket`) and what is wrong. */
export type Report = (key: string, problem: string) => void;

/** A setting's value and where messages about it point. */
export interface Sourced<T = string> {
  value: T;
  /**
   * `[object_store.s3] region` (`options.region` in problems about plain
   * options), with ` (from AWS_REGION)` when the environment gave the value.
   */
  at: string;
}

/**
 * AWS's regional S3 endpoint host (AWS General Reference, "Amazon S3
 * endpoints"); China regions use amazonaws.com.cn.
 */
export function awsHost(region: string): string {
  return `s3.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * The endpoint host of a region, to suggest when an AWS or COS endpoint names
 * another one (Tencent Cloud COS, "Regions and Access Endpoints").
 */
export function regionalHost(provider: Provider, region: string): string {
  return provider === 'cos' ? `cos.${region}.myqcloud.com` : awsHost(region);
}

/**
 * 4 or 6 for an IP address (without brackets), else 0: net.isIP, but asking isIPv6 only of text with a colon, which
 * every IPv6 address has. Node compiles isIPv6's expression at its first call, about 6 ms of a client's construction
 * that every DNS name and bucket name paid (issue 14).
 */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  return text.includes(':') && isIPv6(text) ? 6 : 0;
}

/**
 * Why a bucket name breaks the S3 naming rules (S3 User Guide, "General
 * purpose bucket naming rules"), or undefined when it follows them.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) {
    return `is ${name.length} character${name.length === 1 ? '' : 's'} long; bucket names have 3 to 63`;
  }
  if (!/^[a-z0-9.-]+$/.test(name)) return 'may only hold lower-case letters, digits, "." and "-"';
  if (!/^[a-z0-9].*[a-z0-9]$/.test(name)) return 'must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not hold two adjacent periods';
  if (isIPv4(name)) return 'must not be formatted as an IP address';
  const prefix = ['xn--', 'sthree-', 'amzn-s3-demo-'].find((p) => name.startsWith(p));
  if (prefix !== undefined) return `must not begin with ${prefix}`;
  const suffix = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].find((s) => name.endsWith(s));
  if (suffix !== undefined) return `must not end with ${suffix}`;
  return undefined;
}

/**
 * AWS S3 hosts (AWS General Reference, "Amazon S3 endpoints"; S3 User Guide, "Using Amazon S3 dual-stack
 * endpoints"): s3.<region>, the legacy s3-<region>, their dual-stack (s3.dualstack.<region>) and FIPS
 * (s3-fips.<region>, s3-fips.dualstack.<region>) forms, the global s3.amazonaws.com and s3-accelerate.
 */
const AWS_HOST = /^s3(?:-fips)?(?:\.dualstack)?(?:[.-]([a-z0-9-]+))?\.amazonaws\.com(?:\.cn)?$/;
/**
 * Transfer Acceleration's hosts, also dual-stack: they name no region, and take virtual-hosted requests for buckets
 * without periods only (S3 User Guide, "Configuring fast, secure file transfers using Amazon S3 Transfer
 * Acceleration"; S3 API Reference, PutBucketAccelerateConfiguration).
 */
const ACCELERATE_HOST = /^s3-accelerate(?:\.dualstack)?\.amazonaws\.com$/;
const COS_HOST = /^cos\.([a-z0-9-]+)\.myqcloud\.com$/;
/**
 * `<account>.r2.cloudflarestorage.com`, also in the `eu` and `fedramp`
 * jurisdictions (Cloudflare R2 docs, "S3 API compatibility").
 */
const R2_HOST = /^[^.]+\.(?:(?:eu|fedramp)\.)?r2\.cloudflarestorage\.com$/;

/** The provider of an endpoint host. */
export function providerOf(host: string): Provider {
  if (AWS_HOST.test(host) || ACCELERATE_HOST.test(host)) return 'aws';
  if (COS_HOST.test(host)) return 'cos';
  if (R2_HOST.test(host)) return 'r2';
  return 'other';
}

/** Hosts of these shapes that name no region: acceleration and AWS's legacy us-east-1 alias. */
const NOT_REGIONS: ReadonlySet<string> = new Set(['accelerate', 'external-1']);

/** The region an AWS regional or COS host names; undefined for other hosts (and global ones). */
export function regionOfHost(provider: Provider, host: string): string | undefined {
  const match = provider === 'aws' ? AWS_HOST.exec(host) : provider === 'cos' ? COS_HOST.exec(host) : null;
  const region = match?.[1];
  return region === undefined || NOT_REGIONS.has(region) ? undefined : region;
}

/** What checkProvider looks at; each setting says where messages about it point. */
export interface ProviderFacts {
  host: string;
  bucket: Sourced;
  region: Sourced;
  /** Warnings about it name the file's key; `forcePathStyleKey` is where a problem about it points. */
  forcePathStyle: Sourced<boolean>;
  forcePathStyleKey: string;
}

/** Each provider's rules, from its documentation. */
export function checkProvider(provider: Provider, facts: ProviderFacts, report: Report, warnings: string[]): void {
  const { host, bucket, region, forcePathStyle } = facts;
  if (ACCELERATE_HOST.test(host)) {
    const accelerate = `S3 Transfer Acceleration (${host})`;
    if (forcePathStyle.value)
      report(facts.forcePathStyleKey, `${accelerate} takes virtual-hosted requests only; set force_path_style = false`);
    if (bucket.value.includes('.')) {
      const refused = `holds a period, which ${accelerate} does not allow; use a regional endpoint`;
      report(bucket.at, `${JSON.stringify(bucket.value)} ${refused}`);
    }
  } else if (provider === 'cos') {
    // COS bucket names are <name>-<APPID> (Tencent Cloud COS, "Bucket Overview").
    if (bucket.value !== '' && !/-\d+$/.test(bucket.value)) {
      const example = `such as ${bucket.value}-1250000000 (COS bucket naming)`;
      report(bucket.at, `${JSON.stringify(bucket.value)} must end in -<APPID>, your Tencent Cloud APPID, ${example}`);
    }
    // COS refuses path-style requests for buckets created since 2024
    // (Tencent Cloud COS, "Path-style domain suspension").
    if (forcePathStyle.value) {
      const refused = 'COS refuses path-style requests for buckets created since 2024; set force_path_style = false';
      warnings.push(`${forcePathStyle.at}: ${refused}`);
    }
  } else if (provider === 'r2') {
    // R2 signs with region "auto"; us-east-1 is accepted as its alias (Cloudflare R2 docs, "S3 API compatibility").
    if (region.value !== 'auto' && region.value !== 'us-east-1') {
      report(region.at, `must be "auto" for Cloudflare R2, got the string ${JSON.stringify(region.value)}`);
    }
  } else if (provider === 'other' && !forcePathStyle.value && !hostNeedsPathStyle(host)) {
    const advice = 'MinIO and most self-hosted servers need force_path_style = true';
    warnings.push(`${forcePathStyle.at}: ${host} is not AWS, COS or R2; ${advice}`);
  }
}

/**
 * Hosts that are this machine or a private network: loopback, RFC 1918,
 * link-local and unique-local addresses, localhost, and names that public DNS
 * does not serve (a single label such as a Compose service name, `.localhost`,
 * `.local`, `.internal`, `.lan`).
 */
export function privateHost(host: string): boolean {
  const bare = (host.startsWith('[') ? host.slice(1, -1) : host).toLowerCase();
  const version = ipVersion(bare);
  if (version === 4) {
    const [a, b] = bare.split('.').map(Number) as [number, number];
    return (
      a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254)
    );
  }
  if (version === 6) return bare === '::1' || /^f[cd]/.test(bare) || /^fe[89ab]/.test(bare);
  return !bare.includes('.') || /\.(localhost|local|internal|lan)$/.test(bare);
}

/**
 * Hosts where no virtual host can exist, so path-style addressing is used
 * whatever the setting: an IP address or localhost.
 */
export function hostNeedsPathStyle(host: string): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  return ipVersion(bare) !== 0 || bare === 'localhost';
}
