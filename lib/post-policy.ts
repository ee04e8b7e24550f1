/**
 * Presigned POST forms for browser uploads (S3 API Reference, "Browser-Based
 * Uploads Using POST" and "Creating a POST Policy"): the policy document,
 * base64-encoded, is the string to sign. Pure.
 */
import { checkExpiry, checkText } from './canonical.js';
import { InvalidArgumentError } from './errors.js';
import { ALGORITHM, type SigningKey } from './signing-key.js';

/**
 * A POST policy condition: `{ field: value }` or `[operator, '$field', value]` / `['content-length-range', min,
 * max]`.
 */
export type PostCondition = Readonly<Record<string, string>> | readonly [string, string | number, string | number];

export interface PostPolicyInput {
  bucket: string;
  /** The object key; a key ending in `${filename}` becomes a `starts-with` condition on the part before it. */
  key: string;
  /** Seconds the form stays valid: 1 to 604800. */
  expiresIn: number;
  /** Extra form fields; each gets an exact-match condition unless `conditions` already names it. */
  fields?: Readonly<Record<string, string>>;
  conditions?: readonly PostCondition[];
}

export interface PostPolicyDocument {
  expiration: string;
  conditions: PostCondition[];
}

export interface PresignedPost {
  /** The form fields to send, in order, before the file field. */
  fields: Record<string, string>;
  /** The policy before base64 encoding. */
  policy: PostPolicyDocument;
}

/** What a signer contributes to a form: the signing second, its credential scope and key. */
export interface PostSigning {
  /** Seconds since 1970 of the signing time. */
  second: number;
  amzDate: string;
  /** `<access key>/<date>/<region>/<service>/aws4_request`. */
  credential: string;
  sessionToken: string | undefined;
  key: SigningKey;
}

const FILENAME = '${filename}';

/** Checks the form's input, then signs its policy with what `signing()` gives. */
export function signPostPolicy(input: PostPolicyInput, signing: () => PostSigning): PresignedPost {
  if (input === null || typeof input !== 'object') {
    throw new InvalidArgumentError('input', 'must be an object with bucket, key and expiresIn');
  }
  const bucket = checkText(input.bucket, 'bucket', /^[^\r\n]+$/, 'must be a bucket name');
  const key = checkText(input.key, 'key', /^[^\r\n]*$/, 'must not contain line breaks');
  const expiresIn = checkExpiry(input.expiresIn, 'expiresIn');
  const { second, amzDate, credential, sessionToken, key: signingKey } = signing();
  const userFields = input.fields ?? {};
  const conditions: PostCondition[] = [...(input.conditions ?? [])];
  for (const name in userFields) {
    if (!conditions.some((c) => conditionNames(c, name))) conditions.push({ [name]: userFields[name]! });
  }
  conditions.push({ bucket });
  conditions.push(key.endsWith(FILENAME) ? ['starts-with', '$key', key.slice(0, -FILENAME.length)] : { key });
  const amz: Record<string, string> = {
    'x-amz-algorithm': ALGORITHM,
    'x-amz-credential': credential,
    'x-amz-date': amzDate,
  };
  if (sessionToken !== undefined) amz['x-amz-security-token'] = sessionToken;
  for (const name in amz) conditions.push({ [name]: amz[name]! });
  const expiration = new Date((second + expiresIn) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const policy: PostPolicyDocument = { expiration, conditions };
  const encoded = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
  return {
    fields: { ...userFields, key, ...amz, policy: encoded, 'x-amz-signature': signingKey.sign(encoded) },
    policy,
  };
}

/** Whether a POST condition constrains form field `name`. */
function conditionNames(condition: PostCondition, name: string): boolean {
  const lower = name.toLowerCase();
  if (Array.isArray(condition)) return typeof condition[1] === 'string' && condition[1].toLowerCase() === `$${lower}`;
  return Object.keys(condition).some((k) => k.toLowerCase() === lower);
}
