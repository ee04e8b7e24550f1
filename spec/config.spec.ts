/**
 * Specs of lib/config.ts: the users' TOML (fixtures/configs/, the product
 * documentation's examples verbatim plus broken variants) loads into exactly
 * the settings it says, the environment fills what the file leaves empty in a
 * fixed order, and every broken file is refused with one ConfigError whose
 * text is pinned here word for word and never shows a secret. The real
 * process.env is never read: every call passes its own environment.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  StorageConfig,
  loadConfig,
  parseConfig,
  storageConfig,
  type Environment,
  type StorageOptions,
} from '../lib/config.js';
import { ConfigError, S3v4Error } from '../lib/errors.js';
import * as index from '../lib/index.js';
import { awsHost, providerOf } from '../lib/providers.js';
import { storageToml as toml } from './helpers.js';

const CONFIGS = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'fixtures', 'configs');
const BROKEN = join(CONFIGS, 'broken');
const NO_ENV: Environment = Object.freeze({});

/** Runs `fn`, which must throw a ConfigError about `file`; returns it. */
function configError(fn: () => unknown, file: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof ConfigError)) assert.unreachable(`expected a ConfigError, got ${String(caught)}`);
  const error = caught as ConfigError;
  assert.instance(error, S3v4Error);
  assert.is(error.name, 'ConfigError');
  assert.is(error.code, 'ERR_S3V4_CONFIG');
  assert.is(error.file, file);
  return error;
}

/**
 * Checks a ConfigError against the exact text expected, written with FILE for
 * the file name; its `problems` must be the lines of that text, each split
 * at its first ": " into key and problem.
 */
function assertMessage(error: ConfigError, expected: string): void {
  const text = expected.replace(/^\n/, '').replace(/^FILE/, error.file);
  assert.fixture(error.message, text);
  const problems = text
    .split('\n')
    .slice(1)
    .map((line) => {
      assert.ok(line.startsWith('  '), line);
      const colon = line.indexOf(': ');
      return { key: line.slice(2, colon), problem: line.slice(colon + 2) };
    });
  assert.equal(error.problems, problems);
}

/** The values of secret_key and session_token written in a TOML file, quoted or not. */
function secretsIn(text: string): string[] {
  const secrets: string[] = [];
  for (const match of text.matchAll(/^\s*(?:secret_key|session_token)\s*=\s*(.*)$/gm)) {
    const value = match[1]!
      .replace(/#.*$/, '')
      .trim()
      .replace(/^\[?"?|"?\]?$/g, '');
    if (value !== '') secrets.push(value);
  }
  return secrets;
}

/** Asserts that none of `secrets` shows anywhere in `error`: message, problems, inspect and String. */
function assertNoSecret(error: ConfigError, secrets: readonly string[]): void {
  const views = [
    error.message,
    String(error),
    inspect(error, { depth: 5 }),
    JSON.stringify(error.problems),
    error.stack ?? '',
  ];
  for (const secret of secrets) {
    for (const view of views) assert.not.ok(view.includes(secret), `the secret ${secret.slice(0, 3)}... leaked`);
  }
}

/** Every public setting of a configuration, and its credentials. */
function settingsOf(config: StorageConfig): Record<string, unknown> {
  return {
    source: config.source,
    endpoint: config.endpoint,
    provider: config.provider,
    accessKeyId: config.accessKeyId,
    bucket: config.bucket,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    presignedExpirySecs: config.presignedExpirySecs,
    publicUrlBase: config.publicUrlBase,
    warnings: [...config.warnings],
    credentials: config.credentials(),
  };
}

const MINIO_CREDENTIALS = ['access_key = "minioadmin"', 'secret_key = "minioadmin123"'];
const AWS_CREDENTIALS = [
  'access_key = "AKIAIOSFODNN7EXAMPLE"',
  'secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
];

// ---------------------------------------------------------------------------
// The documentation's examples

test('index re-exports the configuration API', () => {
  assert.is(index.loadConfig, loadConfig);
  assert.is(index.parseConfig, parseConfig);
  assert.is(index.StorageConfig, StorageConfig);
  assert.is(index.awsHost, awsHost);
  assert.is(index.providerOf, providerOf);
  assert.is(index.ConfigError, ConfigError);
});

test('reference.toml, verbatim, is refused: its credentials are the placeholders YOUR_ACCESS_KEY and YOUR_SECRET_KEY', () => {
  const file = join(CONFIGS, 'reference.toml');
  assertMessage(
    configError(() => loadConfig(file, NO_ENV), file),
    `
FILE: the storage configuration has 2 problems:
  [object_store.s3] access_key: still holds the placeholder YOUR_ACCESS_KEY from the documentation example; put your own value there
  [object_store.s3] secret_key: still holds the placeholder YOUR_SECRET_KEY from the documentation example; put your own value there`,
  );
  // The same placeholders from the environment are named after their variables.
  const fromEnv = configError(
    () =>
      parseConfig(toml('bucket = "agentverse"', 'region = "us-east-1"'), 'env.toml', {
        AWS_ACCESS_KEY_ID: 'YOUR_ACCESS_KEY',
        AWS_SECRET_ACCESS_KEY: 'YOUR_SECRET_KEY',
      }),
    'env.toml',
  );
  assert.equal(
    fromEnv.problems.map((problem) => problem.key),
    [
      '[object_store.s3] access_key (from AWS_ACCESS_KEY_ID)',
      '[object_store.s3] secret_key (from AWS_SECRET_ACCESS_KEY)',
    ],
  );
});

test('reference.toml with its placeholders filled: empty endpoint means AWS S3 in the given region, every key as written', () => {
  const text = readFileSync(join(CONFIGS, 'reference.toml'), 'utf8')
    .replace('YOUR_ACCESS_KEY', 'AKIAIOSFODNN7EXAMPLE')
    .replace('YOUR_SECRET_KEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
  assert.equal(settingsOf(parseConfig(text, 'reference.toml', NO_ENV)), {
    source: 'reference.toml',
    endpoint: 'https://s3.us-east-1.amazonaws.com',
    provider: 'aws',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    bucket: 'agentverse-packages',
    region: 'us-east-1',
    forcePathStyle: false,
    presignedExpirySecs: 0,
    publicUrlBase: undefined,
    warnings: [],
    credentials: {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: undefined,
    },
  });
});

test('aws.toml: no endpoint, AWS S3 us-east-1', () => {
  const file = join(CONFIGS, 'aws.toml');
  assert.equal(settingsOf(loadConfig(file, NO_ENV)), {
    source: file,
    endpoint: 'https://s3.us-east-1.amazonaws.com',
    provider: 'aws',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    bucket: 'my-agentverse-packages',
    region: 'us-east-1',
    forcePathStyle: false,
    presignedExpirySecs: 0,
    publicUrlBase: undefined,
    warnings: [],
    credentials: {
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      sessionToken: undefined,
    },
  });
});

test('cos.toml: Tencent Cloud COS in ap-guangzhou, hour-long presigned links', () => {
  const file = join(CONFIGS, 'cos.toml');
  assert.equal(settingsOf(loadConfig(file, NO_ENV)), {
    source: file,
    endpoint: 'https://cos.ap-guangzhou.myqcloud.com',
    provider: 'cos',
    accessKeyId: 'AKIDxxxxxxxxxxxxxxxx',
    bucket: 'agentverse-packages-1234567890',
    region: 'ap-guangzhou',
    forcePathStyle: false,
    presignedExpirySecs: 3600,
    publicUrlBase: undefined,
    warnings: [],
    credentials: {
      accessKeyId: 'AKIDxxxxxxxxxxxxxxxx',
      secretAccessKey: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      sessionToken: undefined,
    },
  });
});

test('minio.toml: MinIO on localhost, path-style, no warning', () => {
  const file = join(CONFIGS, 'minio.toml');
  assert.equal(settingsOf(loadConfig(file, NO_ENV)), {
    source: file,
    endpoint: 'http://localhost:9000',
    provider: 'other',
    accessKeyId: 'minioadmin',
    bucket: 'agentverse',
    region: 'us-east-1',
    forcePathStyle: true,
    presignedExpirySecs: 0,
    publicUrlBase: undefined,
    warnings: [],
    credentials: { accessKeyId: 'minioadmin', secretAccessKey: 'minioadmin123', sessionToken: undefined },
  });
});

test('r2-account.toml: the R2 example with an account id, CDN base and hour-long default expiry', () => {
  const file = join(CONFIGS, 'r2-account.toml');
  assert.equal(settingsOf(loadConfig(file, NO_ENV)), {
    source: file,
    endpoint: 'https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com',
    provider: 'r2',
    accessKeyId: 'your-r2-access-key-id',
    bucket: 'agentverse-packages',
    region: 'auto',
    forcePathStyle: true,
    presignedExpirySecs: 3600,
    publicUrlBase: 'https://packages.example.com',
    warnings: [],
    credentials: {
      accessKeyId: 'your-r2-access-key-id',
      secretAccessKey: 'your-r2-secret-access-key',
      sessionToken: undefined,
    },
  });
});

test('r2-account.toml is r2.toml with only <ACCOUNT_ID> replaced by a 32-hex account id', () => {
  const verbatim = readFileSync(join(CONFIGS, 'r2.toml'), 'utf8');
  const filled = readFileSync(join(CONFIGS, 'r2-account.toml'), 'utf8');
  const account = /https:\/\/([0-9a-f]{32})\.r2\.cloudflarestorage\.com/.exec(filled)?.[1];
  assert.ok(account !== undefined, 'r2-account.toml holds a 32-hex account id');
  assert.is(filled, verbatim.replace('<ACCOUNT_ID>', account));
});

test('r2.toml, verbatim, is refused: the endpoint still holds the documentation placeholder', () => {
  const file = join(CONFIGS, 'r2.toml');
  const error = configError(() => loadConfig(file, NO_ENV), file);
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: still holds the placeholder <ACCOUNT_ID> from the documentation example; put your own value there`,
  );
  assertNoSecret(error, ['your-r2-secret-access-key']);
});

test('a placeholder in public_url_base is refused the same way', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...MINIO_CREDENTIALS,
          'bucket = "agentverse"',
          'endpoint = "http://localhost:9000"',
          'public_url_base = "https://<CDN_HOST>/files"',
        ),
        'cdn.toml',
        NO_ENV,
      ),
    'cdn.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] public_url_base: still holds the placeholder <CDN_HOST> from the documentation example; put your own value there`,
  );
});

// ---------------------------------------------------------------------------
// Broken files: the exact message of each

const BROKEN_MESSAGES: Readonly<Record<string, string>> = {
  'syntax-error.toml': `
FILE: the storage configuration has 1 problem:
  line 7, column 14: TOML syntax error: invalid value`,
  'missing-object-store.toml': `
FILE: the storage configuration has 1 problem:
  [object_store]: is missing; add an [object_store] table with backend = "s3"`,
  'backend-local.toml': `
FILE: the storage configuration has 2 problems:
  [object_store] backend: must be "s3", the backend s3v4 serves, got the string "local"
  [object_store.s3]: is missing; add an [object_store.s3] table with bucket, region and credentials`,
  'missing-s3-table.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3]: is missing; add an [object_store.s3] table with bucket, region and credentials`,
  'keys-above-s3-header.toml': `
FILE: the storage configuration has 7 problems:
  [object_store] endpoint: belongs in [object_store.s3]; move it below that header
  [object_store] access_key: belongs in [object_store.s3]; move it below that header
  [object_store] secret_key: belongs in [object_store.s3]; move it below that header
  [object_store] bucket: belongs in [object_store.s3]; move it below that header
  [object_store] region: belongs in [object_store.s3]; move it below that header
  [object_store] force_path_style: belongs in [object_store.s3]; move it below that header
  [object_store.s3]: is missing; add an [object_store.s3] table with bucket, region and credentials`,
  'missing-bucket.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: is missing; set the bucket name`,
  'secret-wrong-type.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] secret_key: must be a string, got a number`,
  'force-path-style-string.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] force_path_style: must be true or false, got the string "yes"`,
  'expiry-float.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] presigned_expiry_secs: must be a whole number of seconds, got the number 1.5`,
  'expiry-negative.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] presigned_expiry_secs: must be from 0 (plain public URLs) to 604800 (7 days, the longest S3 allows), got -1`,
  'expiry-too-long.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] presigned_expiry_secs: must be from 0 (plain public URLs) to 604800 (7 days, the longest S3 allows), got 604801`,
  'endpoint-not-absolute.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "minio:9000"`,
  'endpoint-query.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: must not carry a query (?...), got the string "https://s3.eu-west-1.amazonaws.com/?versionId=3"`,
  'endpoint-fragment.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: must not carry a fragment (#...), got the string "http://minio.internal:9000/#console"`,
  'endpoint-ftp.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "ftp://files.example.net"`,
  'public-url-base-query.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] public_url_base: must not carry a query (?...), got the string "https://packages.example.com/?download=1"`,
  'bucket-uppercase.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "AgentVerse-Packages" may only hold lower-case letters, digits, "." and "-" (S3 bucket naming rules)`,
  'bucket-too-short.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "av" is 2 characters long; bucket names have 3 to 63 (S3 bucket naming rules)`,
  'bucket-adjacent-periods.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "a..b" must not hold two adjacent periods (S3 bucket naming rules)`,
  'bucket-ip.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "192.168.1.20" must not be formatted as an IP address (S3 bucket naming rules)`,
  'bucket-xn.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "xn--pakete-4ya" must not begin with xn-- (S3 bucket naming rules)`,
  'unknown-key.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] force_path_styles: is not a known key; did you mean force_path_style?`,
  'aws-region-mismatch.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: is "us-east-1" but the endpoint s3.eu-west-1.amazonaws.com serves eu-west-1; set region = "eu-west-1", or endpoint = "https://s3.us-east-1.amazonaws.com" to use us-east-1`,
  'cos-region-mismatch.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: is "ap-guangzhou" but the endpoint cos.ap-shanghai.myqcloud.com serves ap-shanghai; set region = "ap-shanghai", or endpoint = "https://cos.ap-guangzhou.myqcloud.com" to use ap-guangzhou`,
  'cos-bucket-without-appid.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: "agentverse-packages" must end in -<APPID>, your Tencent Cloud APPID, such as agentverse-packages-1250000000 (COS bucket naming)`,
  'r2-region.toml': `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: must be "auto" for Cloudflare R2, got the string "us-west-2"`,
  'many-problems.toml': `
FILE: the storage configuration has 5 problems:
  [object_store.s3] force_path_styles: is not a known key; did you mean force_path_style?
  [object_store.s3] presigned_expiry_secs: must be a whole number of seconds, got the number 3600.0
  [object_store.s3] bucket: "AgentVerse" may only hold lower-case letters, digits, "." and "-" (S3 bucket naming rules)
  [object_store.s3] endpoint: must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "localhost:9000"
  [object_store.s3] public_url_base: must not carry a fragment (#...), got the string "https://cdn.example.com/packages#latest"`,
};

/** Broken files without a secret key: the rest check that theirs never shows. */
const WITHOUT_SECRETS: ReadonlySet<string> = new Set(['backend-local.toml', 'missing-s3-table.toml']);

test('every file in fixtures/configs/broken has a pinned message, and every pinned message a file', () => {
  assert.equal(readdirSync(BROKEN).sort(), Object.keys(BROKEN_MESSAGES).sort());
});

for (const [name, expected] of Object.entries(BROKEN_MESSAGES)) {
  test(`broken/${name}: refused with its exact message, no secret shown`, () => {
    const file = join(BROKEN, name);
    const text = readFileSync(file, 'utf8');
    const error = configError(() => loadConfig(file, NO_ENV), file);
    assertMessage(error, expected);
    const secrets = secretsIn(text);
    assert.is(secrets.length > 0, !WITHOUT_SECRETS.has(name), `whether ${name} holds a secret to hide`);
    assertNoSecret(error, secrets);
    // parseConfig gives the same problems for the same text, under the name it is given.
    assert.equal(configError(() => parseConfig(text, name, NO_ENV), name).problems, error.problems);
  });
}

test('the syntax error is reported without the source line, which here holds the secret key unquoted', () => {
  const file = join(BROKEN, 'syntax-error.toml');
  const line = readFileSync(file, 'utf8').split('\n')[6]!;
  assert.is(line, 'secret_key = Gu5t9xGARNpq86cd98joQYCN3EXAMPLE');
  const error = configError(() => loadConfig(file, NO_ENV), file);
  assert.is(line.indexOf('Gu5t9x') + 1, 14, 'column 14 is where the bad value starts');
  assertNoSecret(error, ['Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', 'Gu5t9x']);
});

test('an unterminated string is reported as one, at its opening quote, without the secret it holds', () => {
  const secret = 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE';
  const cases: Array<[string, string]> = [
    [`secret_key = "${secret}\nbucket = "agentverse"\n`, 'line 6, column 14'],
    [`secret_key = "${secret}\r\nbucket = "agentverse"\r\n`, 'line 6, column 14'],
    [`secret_key = '${secret}\nbucket = "agentverse"\n`, 'line 6, column 14'],
    [`bucket = "agentverse"\nsecret_key = "${secret}`, 'line 7, column 14'],
    [`secret_key = """${secret}\nbucket = "agentverse"\n`, 'line 6, column 14'],
  ];
  for (const [lines, key] of cases) {
    // Without toml()'s own final line break, so the fourth case's string runs to the end of the file.
    const text = toml(...AWS_CREDENTIALS.slice(0, 1), lines).slice(0, -1);
    const error = configError(() => parseConfig(text, 'u.toml', NO_ENV), 'u.toml');
    assert.equal(
      error.problems,
      [{ key, problem: 'TOML syntax error: unterminated string: the closing quote is missing' }],
      lines,
    );
    assertNoSecret(error, [secret]);
  }
  // A control character inside a string that does end is still called that.
  const control = configError(() => parseConfig(toml('bucket = "a\u0001b"'), 'c.toml', NO_ENV), 'c.toml');
  assert.equal(control.problems, [
    { key: 'line 5, column 12', problem: 'TOML syntax error: control characters are not allowed in strings' },
  ]);
});

test('[object_store.S3] and [Object_Store]: a table named in another case gets a did-you-mean', () => {
  const s3 = configError(
    () => parseConfig(toml(...AWS_CREDENTIALS).replace('[object_store.s3]', '[object_store.S3]'), 'c.toml', NO_ENV),
    'c.toml',
  );
  assertMessage(
    s3,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3]: is missing; did you mean [object_store.S3]? Table names are case-sensitive: rename it [object_store.s3]`,
  );
  const store = configError(
    () => parseConfig(toml(...AWS_CREDENTIALS).replaceAll('[object_store', '[Object_Store'), 'c.toml', NO_ENV),
    'c.toml',
  );
  assertMessage(
    store,
    `
FILE: the storage configuration has 1 problem:
  [object_store]: is missing; did you mean [Object_Store]? Table names are case-sensitive: rename it [object_store]`,
  );
});

test('missing credentials are not an error when the environment holds them', () => {
  const config = loadConfig(join(CONFIGS, 'keyless.toml'), {
    AWS_ACCESS_KEY_ID: 'AKIAENVEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'env/secret+key',
  });
  assert.equal(config.credentials(), {
    accessKeyId: 'AKIAENVEXAMPLE',
    secretAccessKey: 'env/secret+key',
    sessionToken: undefined,
  });
});

test('a secret key or session token of the wrong type is described by its kind only', () => {
  const cases: Array<[string, string, string]> = [
    ['secret_key = ["wJalrXUtnFEMI/K7MDENG"]', 'secret_key', 'an array'],
    ['secret_key = { value = "wJalrXUtnFEMI/K7MDENG" }', 'secret_key', 'a table'],
    ['secret_key = 2024-05-06', 'secret_key', 'a date'],
    ['secret_key = true', 'secret_key', 'a boolean'],
    ['secret_key = 3.14159', 'secret_key', 'a number'],
    ['session_token = 314159265358979', 'session_token', 'a number'],
    ['session_token = ["FwoGZXIvYXdzEBYaDGhAjExample"]', 'session_token', 'an array'],
  ];
  for (const [line, key, kind] of cases) {
    const text = toml(
      'access_key = "AKIAIOSFODNN7EXAMPLE"',
      ...(key === 'secret_key' ? [] : ['secret_key = "wJalrXUtnFEMI/K7MDENG"']),
      'bucket = "agentverse"',
      'region = "us-east-1"',
      line,
    );
    const error = configError(() => parseConfig(text, 'typed.toml', NO_ENV), 'typed.toml');
    assertMessage(
      error,
      `
FILE: the storage configuration has 1 problem:
  [object_store.s3] ${key}: must be a string, got ${kind}`,
    );
    assertNoSecret(error, ['wJalrXUtnFEMI', 'FwoGZXIvYXdz', '3.14159', '314159265358979', '2024-05-06']);
  }
});

test('the secret key in other broken values (a URL with user info) never shows', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCY';
  const cases: Array<[string, string]> = [
    // Parses: the user-info problem is reported without the URL.
    [
      `https://AKIAIOSFODNN7EXAMPLE:${encodeURIComponent(secret)}@s3.example.net/?x=1`,
      'must not carry user:password@; put credentials in access_key and secret_key',
    ],
    // Does not parse ("/" ends the authority early): the URL is shown with its user info redacted.
    [
      `https://AKIAIOSFODNN7EXAMPLE:${secret}@s3.example.net`,
      'must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "https://[redacted]@s3.example.net"',
    ],
    [
      `s3://AKIAIOSFODNN7EXAMPLE:${secret}@s3.example.net/x`,
      'must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "s3://[redacted]@s3.example.net/x"',
    ],
    [
      `AKIAIOSFODNN7EXAMPLE:${secret}@s3.example.net`,
      'must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "[redacted]@s3.example.net"',
    ],
  ];
  for (const [endpoint, problem] of cases) {
    const text = toml(
      'access_key = "AKIAIOSFODNN7EXAMPLE"',
      `secret_key = "${secret}"`,
      'bucket = "agentverse"',
      `endpoint = "${endpoint}"`,
    );
    const error = configError(() => parseConfig(text, 'userinfo.toml', NO_ENV), 'userinfo.toml');
    assertMessage(
      error,
      `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: ${problem}`,
    );
    assertNoSecret(error, [secret, encodeURIComponent(secret), 'wJalrXUtnFEMI']);
  }
});

test('secrets from the environment never show in a ConfigError either', () => {
  const env = {
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'envSecretKeyValue/1234',
    AWS_SESSION_TOKEN: 'envSessionTokenValue+5678',
    AWS_REGION: 'us west',
  };
  const error = configError(() => parseConfig(toml('bucket = "agentverse"'), 'env.toml', env), 'env.toml');
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region (from AWS_REGION): must be a region name such as us-east-1, got the string "us west"`,
  );
  assertNoSecret(error, ['envSecretKeyValue/1234', 'envSessionTokenValue+5678']);
});

// ---------------------------------------------------------------------------
// Other problems, each with its exact text

test('[object_store] and [object_store.s3] of the wrong shape', () => {
  assertMessage(
    configError(() => parseConfig('object_store = "s3"\n', 'a.toml', NO_ENV), 'a.toml'),
    `
FILE: the storage configuration has 1 problem:
  [object_store]: must be a table, got the string "s3"`,
  );
  assertMessage(
    configError(() => parseConfig('[object_store]\nbackend = "s3"\ns3 = "minio"\n', 'b.toml', NO_ENV), 'b.toml'),
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3]: must be a table, got the string "minio"`,
  );
  assertMessage(
    configError(
      () => parseConfig('[object_store]\n\n[object_store.s3]\nbucket = "agentverse"\n', 'c.toml', NO_ENV),
      'c.toml',
    ),
    `
FILE: the storage configuration has 1 problem:
  [object_store] backend: is missing; set backend = "s3"`,
  );
  assertMessage(
    configError(() => parseConfig('[object_store]\nbakend = "s3"\ntimeout = 30\n', 'd.toml', NO_ENV), 'd.toml'),
    `
FILE: the storage configuration has 4 problems:
  [object_store] backend: is missing; set backend = "s3"
  [object_store] bakend: is not a known key; did you mean backend?
  [object_store] timeout: is not a known key; the keys are backend
  [object_store.s3]: is missing; add an [object_store.s3] table with bucket, region and credentials`,
  );
  assertMessage(
    configError(
      () => parseConfig('[object_store]\nbackend = 1\n[object_store.s3]\nbucket = "agentverse"\n', 'e.toml', NO_ENV),
      'e.toml',
    ),
    `
FILE: the storage configuration has 1 problem:
  [object_store] backend: must be "s3", the backend s3v4 serves, got the integer 1`,
  );
});

test('other tables (other backends, the rest of the application) are left alone', () => {
  const text = [
    '[server]',
    'listen = "0.0.0.0:8080"',
    '',
    '[object_store]',
    'backend = "s3"',
    '',
    '[object_store.local]',
    'root = "/var/lib/packages"',
    '',
    '[object_store.s3]',
    ...MINIO_CREDENTIALS,
    'endpoint = "http://localhost:9000"',
    'bucket = "agentverse"',
  ].join('\n');
  const config = parseConfig(text, 'app.toml', NO_ENV);
  assert.is(config.bucket, 'agentverse');
  assert.equal(config.warnings, []);
});

test('unknown keys of [object_store.s3]: the nearest key when one is close, else the list', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...MINIO_CREDENTIALS,
          'bucket = "agentverse"',
          'endpoint = "http://localhost:9000"',
          'acess_key = "x"',
          'presigned_expiry = 60',
          'cdn = "https://cdn.example.com"',
        ),
        'keys.toml',
        NO_ENV,
      ),
    'keys.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 3 problems:
  [object_store.s3] acess_key: is not a known key; did you mean access_key?
  [object_store.s3] presigned_expiry: is not a known key; did you mean presigned_expiry_secs?
  [object_store.s3] cdn: is not a known key; the keys are endpoint, access_key, secret_key, session_token, bucket, region, force_path_style, presigned_expiry_secs, public_url_base, profile`,
  );
});

test('wrong types of the plain keys show the value', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          'access_key = 12345',
          'secret_key = "s3cr3t-value"',
          'bucket = ["agentverse"]',
          'region = 1',
          'endpoint = true',
          'force_path_style = 1',
          'presigned_expiry_secs = "3600"',
          'public_url_base = 2024-01-01T00:00:00Z',
        ),
        'types.toml',
        NO_ENV,
      ),
    'types.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 7 problems:
  [object_store.s3] access_key: must be a string, got the integer 12345
  [object_store.s3] bucket: must be a string, got an array
  [object_store.s3] region: must be a string, got the integer 1
  [object_store.s3] endpoint: must be a string, got true
  [object_store.s3] force_path_style: must be true or false, got the integer 1
  [object_store.s3] presigned_expiry_secs: must be a whole number of seconds, got the string "3600"
  [object_store.s3] public_url_base: must be a string, got a date`,
  );
});

test('presigned_expiry_secs: floats, infinities and huge integers are shown as written', () => {
  const cases: Array<[string, string]> = [
    ['3600.0', 'must be a whole number of seconds, got the number 3600.0'],
    ['1e3', 'must be a whole number of seconds, got the number 1000.0'],
    ['inf', 'must be a whole number of seconds, got the number Infinity'],
    [
      '9223372036854775807',
      'must be from 0 (plain public URLs) to 604800 (7 days, the longest S3 allows), got 9223372036854775807',
    ],
    [
      '-9223372036854775808',
      'must be from 0 (plain public URLs) to 604800 (7 days, the longest S3 allows), got -9223372036854775808',
    ],
  ];
  for (const [value, problem] of cases) {
    const error = configError(
      () =>
        parseConfig(
          toml(
            ...MINIO_CREDENTIALS,
            'endpoint = "http://localhost:9000"',
            'bucket = "agentverse"',
            `presigned_expiry_secs = ${value}`,
          ),
          'x.toml',
          NO_ENV,
        ),
      'x.toml',
    );
    assertMessage(
      error,
      `
FILE: the storage configuration has 1 problem:
  [object_store.s3] presigned_expiry_secs: ${problem}`,
    );
  }
  for (const [value, seconds] of [
    ['0', 0],
    ['1', 1],
    ['604800', 604800],
  ] as const) {
    const config = parseConfig(
      toml(
        ...MINIO_CREDENTIALS,
        'endpoint = "http://localhost:9000"',
        'bucket = "agentverse"',
        `presigned_expiry_secs = ${value}`,
      ),
      'x.toml',
      NO_ENV,
    );
    assert.is(config.presignedExpirySecs, seconds);
  }
});

test('bucket names: every S3 naming rule, and an empty bucket', () => {
  const cases: Array<[string, string]> = [
    ['', 'is empty; set the bucket name'],
    ['a'.repeat(64), `"${'a'.repeat(64)}" is 64 characters long; bucket names have 3 to 63 (S3 bucket naming rules)`],
    ['my_bucket', '"my_bucket" may only hold lower-case letters, digits, "." and "-" (S3 bucket naming rules)'],
    ['-bucket', '"-bucket" must begin and end with a letter or digit (S3 bucket naming rules)'],
    ['bucket.', '"bucket." must begin and end with a letter or digit (S3 bucket naming rules)'],
    ['sthree-bucket', '"sthree-bucket" must not begin with sthree- (S3 bucket naming rules)'],
    ['amzn-s3-demo-bucket', '"amzn-s3-demo-bucket" must not begin with amzn-s3-demo- (S3 bucket naming rules)'],
    ['bucket-s3alias', '"bucket-s3alias" must not end with -s3alias (S3 bucket naming rules)'],
    ['bucket--ol-s3', '"bucket--ol-s3" must not end with --ol-s3 (S3 bucket naming rules)'],
    ['bucket.mrap', '"bucket.mrap" must not end with .mrap (S3 bucket naming rules)'],
    ['bucket--x-s3', '"bucket--x-s3" must not end with --x-s3 (S3 bucket naming rules)'],
    ['bucket--table-s3', '"bucket--table-s3" must not end with --table-s3 (S3 bucket naming rules)'],
  ];
  for (const [bucket, problem] of cases) {
    const error = configError(
      () => parseConfig(toml(...AWS_CREDENTIALS, 'region = "us-east-1"', `bucket = "${bucket}"`), 'b.toml', NO_ENV),
      'b.toml',
    );
    assertMessage(
      error,
      `
FILE: the storage configuration has 1 problem:
  [object_store.s3] bucket: ${problem}`,
    );
  }
  for (const bucket of ['abc', 'a'.repeat(63), 'my.bucket.name', '1-2-3', '192.168.1.300']) {
    assert.is(
      parseConfig(toml(...AWS_CREDENTIALS, 'region = "us-east-1"', `bucket = "${bucket}"`), 'b.toml', NO_ENV).bucket,
      bucket,
    );
  }
});

test('access key and session token must be printable ASCII; region a region name', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          'access_key = "AKIA IOSFODNN7"',
          'secret_key = "s"',
          'session_token = "tok\\u00e9n"',
          'bucket = "agentverse"',
          'region = "us east 1"',
        ),
        'p.toml',
        NO_ENV,
      ),
    'p.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 3 problems:
  [object_store.s3] access_key: must be printable ASCII without spaces
  [object_store.s3] session_token: must be printable ASCII without spaces
  [object_store.s3] region: must be a region name such as us-east-1, got the string "us east 1"`,
  );
  assertNoSecret(error, ['tok\u00e9n']);
});

test('endpoint and public_url_base: user info is refused without showing it', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...MINIO_CREDENTIALS,
          'bucket = "agentverse"',
          'endpoint = "http://minioadmin:minioadmin123@localhost:9000"',
          'public_url_base = "https://user:pa55word@cdn.example.com"',
        ),
        'u.toml',
        NO_ENV,
      ),
    'u.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 2 problems:
  [object_store.s3] endpoint: must not carry user:password@; put credentials in access_key and secret_key
  [object_store.s3] public_url_base: must not carry user:password@; put credentials in access_key and secret_key`,
  );
  assertNoSecret(error, ['minioadmin123', 'pa55word']);
});

test('a "?" or "#" with nothing after it is still a query or fragment', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...MINIO_CREDENTIALS,
          'bucket = "agentverse"',
          'endpoint = "http://localhost:9000/?"',
          'public_url_base = "https://cdn.example.com/#"',
        ),
        'q.toml',
        NO_ENV,
      ),
    'q.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 2 problems:
  [object_store.s3] endpoint: must not carry a query (?...), got the string "http://localhost:9000/?"
  [object_store.s3] public_url_base: must not carry a fragment (#...), got the string "https://cdn.example.com/#"`,
  );
});

test('an endpoint that does not parse at all', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...MINIO_CREDENTIALS,
          'bucket = "agentverse"',
          'endpoint = "http://minio host:9000"',
          'public_url_base = "cdn.example.com"',
        ),
        'n.toml',
        NO_ENV,
      ),
    'n.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 2 problems:
  [object_store.s3] endpoint: must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "http://minio host:9000"
  [object_store.s3] public_url_base: must be an absolute URL starting with http:// or https://, such as https://cdn.example.com, got the string "cdn.example.com"`,
  );
});

test('AWS S3 needs a region when neither the file, AWS_REGION nor the endpoint host gives one', () => {
  const noRegion = configError(
    () => parseConfig(toml(...AWS_CREDENTIALS, 'bucket = "agentverse"'), 'r.toml', NO_ENV),
    'r.toml',
  );
  assertMessage(
    noRegion,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: is missing and AWS_REGION is not set; set the bucket's region, such as us-east-1`,
  );
  const global = configError(
    () =>
      parseConfig(
        toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'endpoint = "https://s3.amazonaws.com"', 'region = ""'),
        'g.toml',
        NO_ENV,
      ),
    'g.toml',
  );
  assertMessage(
    global,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: is empty and AWS_REGION is not set; set the bucket's region, such as us-east-1`,
  );
  const accelerate = configError(
    () =>
      parseConfig(
        toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'endpoint = "https://s3-accelerate.amazonaws.com"'),
        'a.toml',
        NO_ENV,
      ),
    'a.toml',
  );
  assert.is(accelerate.problems[0]!.key, '[object_store.s3] region');
  const cosAccelerate = configError(
    () =>
      parseConfig(
        toml(
          ...AWS_CREDENTIALS,
          'bucket = "agentverse-1250000000"',
          'endpoint = "https://cos.accelerate.myqcloud.com"',
        ),
        'c.toml',
        NO_ENV,
      ),
    'c.toml',
  );
  assert.is(cosAccelerate.problems[0]!.key, '[object_store.s3] region');
});

test('a wrong-typed region is reported once, and no AWS endpoint is built from it', () => {
  const error = configError(
    () => parseConfig(toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'region = ["us-east-1"]'), 'r.toml', NO_ENV),
    'r.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: must be a string, got an array`,
  );
});

test('a region that is no host name label is a ConfigError, not a TypeError from new URL()', () => {
  const error = configError(
    () => parseConfig(toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'region = "us-east-1/"'), 'r.toml', NO_ENV),
    'r.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region: must be a region name such as us-east-1, got the string "us-east-1/"`,
  );
});

test('loadConfig of a missing file or a directory names the file', () => {
  const missing = join(CONFIGS, 'no-such-config.toml');
  assertMessage(
    configError(() => loadConfig(missing, NO_ENV), missing),
    `
FILE: the storage configuration has 1 problem:
  file: does not exist; pass the path of a TOML file with an [object_store] table`,
  );
  const directory = configError(() => loadConfig(BROKEN, NO_ENV), BROKEN);
  assert.is(directory.problems.length, 1);
  assert.is(directory.problems[0]!.key, 'file');
  assert.match(
    directory.problems[0]!.problem,
    /^cannot be read \(EISDIR: .*\); pass the path of a TOML file with an \[object_store\] table$/,
  );
  assert.ok(
    directory.message.startsWith(`${BROKEN}: the storage configuration has 1 problem:\n  file: cannot be read (EISDIR`),
  );
});

test('parseConfig names its text "config" unless told otherwise', () => {
  const error = configError(() => parseConfig('[object_store\n', undefined, NO_ENV), 'config');
  assertMessage(
    error,
    `
FILE: the storage configuration has 1 problem:
  line 1, column 14: TOML syntax error: illegal character in key`,
  );
});

// ---------------------------------------------------------------------------
// Warnings

test('COS with force_path_style = true loads with a warning', () => {
  const text = readFileSync(join(CONFIGS, 'cos.toml'), 'utf8').replace(
    'force_path_style      = false',
    'force_path_style      = true',
  );
  const config = parseConfig(text, 'cos-path.toml', NO_ENV);
  assert.is(config.forcePathStyle, true);
  assert.equal(config.warnings, [
    '[object_store.s3] force_path_style: COS refuses path-style requests for buckets created since 2024; set force_path_style = false',
  ]);
});

test('an http:// endpoint warns unless it is loopback or a private network', () => {
  const warnings = (endpoint: string) =>
    parseConfig(
      toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', `endpoint = "${endpoint}"`, 'force_path_style = true'),
      'h.toml',
      NO_ENV,
    ).warnings;
  assert.equal(warnings('http://minio.example.com:9000'), [
    '[object_store.s3] endpoint: http:// sends requests to minio.example.com unencrypted; use https:// unless it is on a private network',
  ]);
  assert.equal(warnings('http://8.8.8.8:9000'), [
    '[object_store.s3] endpoint: http:// sends requests to 8.8.8.8 unencrypted; use https:// unless it is on a private network',
  ]);
  assert.equal(warnings('http://[2001:db8::1]:9000').length, 1);
  assert.equal(warnings('http://172.32.0.1').length, 1);
  const quiet = [
    'http://localhost:9000',
    'http://127.0.0.1:9000',
    'http://10.1.2.3',
    'http://172.16.0.9',
    'http://172.31.255.1',
    'http://192.168.1.20:9000',
    'http://169.254.1.1',
    'http://[::1]:9000',
    'http://[fd00::5]',
    'http://[fe80::1]',
    'http://minio:9000',
    'http://s3.localhost:9000',
    'http://nas.local',
    'http://store.internal',
    'https://minio.example.com',
  ];
  for (const endpoint of quiet) assert.equal(warnings(endpoint), [], endpoint);
  // The environment's endpoint is named as such.
  const fromEnv = parseConfig(
    toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', 'force_path_style = true'),
    'e.toml',
    { AWS_ENDPOINT_URL_S3: 'http://s3.example.org' },
  );
  assert.equal(fromEnv.warnings, [
    '[object_store.s3] endpoint (from AWS_ENDPOINT_URL_S3): http:// sends requests to s3.example.org unencrypted; use https:// unless it is on a private network',
  ]);
});

test('an endpoint that is not AWS, COS or R2 with force_path_style = false warns; IP and localhost hosts do not', () => {
  const warned = parseConfig(
    toml(
      ...MINIO_CREDENTIALS,
      'bucket = "agentverse"',
      'endpoint = "https://s3.example.net"',
      'force_path_style = false',
    ),
    'w.toml',
    NO_ENV,
  );
  assert.equal(warned.warnings, [
    '[object_store.s3] force_path_style: s3.example.net is not AWS, COS or R2; MinIO and most self-hosted servers need force_path_style = true',
  ]);
  assert.is(warned.provider, 'other');
  assert.is(warned.region, 'us-east-1');
  for (const endpoint of ['http://localhost:9000', 'http://127.0.0.1:7480', 'http://[::1]:9000']) {
    assert.equal(
      parseConfig(toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', `endpoint = "${endpoint}"`), 'l.toml', NO_ENV)
        .warnings,
      [],
      endpoint,
    );
  }
  assert.equal(
    parseConfig(
      toml(
        ...MINIO_CREDENTIALS,
        'bucket = "agentverse"',
        'endpoint = "https://s3.example.net"',
        'force_path_style = true',
      ),
      'p.toml',
      NO_ENV,
    ).warnings,
    [],
  );
});

test('warnings are frozen and never printed', () => {
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const originals = methods.map((method) => console[method]);
  const printed: unknown[] = [];
  for (const method of methods) console[method] = (...args: unknown[]) => printed.push(args);
  try {
    const config = parseConfig(
      toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', 'endpoint = "https://s3.example.net"'),
      'w.toml',
      NO_ENV,
    );
    assert.is(config.warnings.length, 1);
    assert.ok(Object.isFrozen(config.warnings));
  } finally {
    methods.forEach((method, i) => {
      console[method] = originals[i]!;
    });
  }
  assert.equal(printed, []);
});

// ---------------------------------------------------------------------------
// The environment

const FULL_ENV: Environment = {
  AWS_ACCESS_KEY_ID: 'AKIAENVEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'envSecret/Key+1',
  AWS_SESSION_TOKEN: 'envSessionToken==',
  AWS_REGION: 'eu-central-1',
  AWS_ENDPOINT_URL_S3: 'https://s3.eu-central-1.amazonaws.com',
  AWS_ENDPOINT_URL: 'https://other.example.net',
};

test('the file wins over the environment wherever both are set', () => {
  const config = loadConfig(join(CONFIGS, 'cos.toml'), FULL_ENV);
  assert.is(config.endpoint, 'https://cos.ap-guangzhou.myqcloud.com');
  assert.is(config.region, 'ap-guangzhou');
  // The file's keys come without AWS_SESSION_TOKEN: a token belongs to the key it was issued with (botocore's rule).
  assert.equal(config.credentials(), {
    accessKeyId: 'AKIDxxxxxxxxxxxxxxxx',
    secretAccessKey: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    sessionToken: undefined,
  });
  assert.equal(config.warnings, [
    '[object_store.s3] session_token: AWS_SESSION_TOKEN is set but not used: the access key comes from the configuration, and a session token belongs to the key it was issued with',
  ]);
  const withToken = parseConfig(
    toml(
      ...AWS_CREDENTIALS,
      'session_token = "fileToken"',
      'bucket = "agentverse"',
      'region = "us-west-2"',
      'endpoint = "https://s3.us-west-2.amazonaws.com"',
    ),
    't.toml',
    FULL_ENV,
  );
  assert.equal(withToken.credentials(), {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    sessionToken: 'fileToken',
  });
  assert.is(withToken.region, 'us-west-2');
  assert.is(withToken.endpoint, 'https://s3.us-west-2.amazonaws.com');
});

test('empty or missing keys are filled from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION', () => {
  const empty = parseConfig(
    toml(
      'endpoint = ""',
      'access_key = ""',
      'secret_key = ""',
      'session_token = ""',
      'region = ""',
      'bucket = "agentverse"',
    ),
    'e.toml',
    { ...FULL_ENV, AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL: undefined },
  );
  assert.equal(settingsOf(empty), {
    source: 'e.toml',
    endpoint: 'https://s3.eu-central-1.amazonaws.com',
    provider: 'aws',
    accessKeyId: 'AKIAENVEXAMPLE',
    bucket: 'agentverse',
    region: 'eu-central-1',
    forcePathStyle: false,
    presignedExpirySecs: 0,
    publicUrlBase: undefined,
    warnings: [],
    credentials: {
      accessKeyId: 'AKIAENVEXAMPLE',
      secretAccessKey: 'envSecret/Key+1',
      sessionToken: 'envSessionToken==',
    },
  });
  const missing = parseConfig(toml('bucket = "agentverse"'), 'm.toml', {
    AWS_ACCESS_KEY_ID: 'AKIAENVEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'envSecret/Key+1',
    AWS_REGION: 'ap-south-1',
  });
  assert.is(missing.endpoint, 'https://s3.ap-south-1.amazonaws.com');
  assert.equal(missing.credentials(), {
    accessKeyId: 'AKIAENVEXAMPLE',
    secretAccessKey: 'envSecret/Key+1',
    sessionToken: undefined,
  });
});

test('endpoint: AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL, which is used alone; empty variables count as unset', () => {
  const text = toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', 'force_path_style = true');
  assert.is(
    parseConfig(text, 'x', {
      AWS_ENDPOINT_URL_S3: 'http://s3-only.example.net:9000',
      AWS_ENDPOINT_URL: 'http://all.example.net:9000',
    }).endpoint,
    'http://s3-only.example.net:9000',
  );
  assert.is(
    parseConfig(text, 'x', { AWS_ENDPOINT_URL: 'http://all.example.net:9000' }).endpoint,
    'http://all.example.net:9000',
  );
  assert.is(
    parseConfig(text, 'x', { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: 'http://all.example.net:9000' }).endpoint,
    'http://all.example.net:9000',
  );
  const none = configError(
    () => parseConfig(text, 'x', { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '', AWS_REGION: '' }),
    'x',
  );
  assert.equal(none.problems, [
    {
      key: '[object_store.s3] region',
      problem: "is missing and AWS_REGION is not set; set the bucket's region, such as us-east-1",
    },
  ]);
});

test('a bad value from the environment is reported under its variable, since the file does not hold it', () => {
  const text = toml('bucket = "agentverse"', 'endpoint = ""');
  const error = configError(
    () =>
      parseConfig(text, 'env.toml', {
        AWS_ENDPOINT_URL_S3: 'minio:9000',
        AWS_ACCESS_KEY_ID: 'AKIA ENV',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_SESSION_TOKEN: 'tok en',
      }),
    'env.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 3 problems:
  [object_store.s3] access_key (from AWS_ACCESS_KEY_ID): must be printable ASCII without spaces
  [object_store.s3] session_token (from AWS_SESSION_TOKEN): must be printable ASCII without spaces
  [object_store.s3] endpoint (from AWS_ENDPOINT_URL_S3): must be an absolute URL starting with http:// or https://, such as https://s3.us-east-1.amazonaws.com, got the string "minio:9000"`,
  );
  assertNoSecret(error, ['tok en']);
  const mismatch = configError(
    () =>
      parseConfig(
        toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'endpoint = "https://s3.us-west-2.amazonaws.com"'),
        'm.toml',
        { AWS_REGION: 'eu-west-1' },
      ),
    'm.toml',
  );
  assertMessage(
    mismatch,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region (from AWS_REGION): is "eu-west-1" but the endpoint s3.us-west-2.amazonaws.com serves us-west-2; set region = "us-west-2" in the file`,
  );
  // AWS_REGION set for AWS work must not send a COS user to cos.us-east-1.myqcloud.com.
  const cos = configError(
    () =>
      parseConfig(
        readFileSync(join(CONFIGS, 'cos.toml'), 'utf8').replace('region     = "ap-guangzhou"', 'region     = ""'),
        'cos.toml',
        { AWS_REGION: 'us-east-1' },
      ),
    'cos.toml',
  );
  assertMessage(
    cos,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region (from AWS_REGION): is "us-east-1" but the endpoint cos.ap-guangzhou.myqcloud.com serves ap-guangzhou; set region = "ap-guangzhou" in the file`,
  );
  const r2 = configError(
    () =>
      parseConfig(
        readFileSync(join(CONFIGS, 'r2-account.toml'), 'utf8').replace('region     = "auto"', 'region     = ""'),
        'r2.toml',
        { AWS_REGION: 'us-west-2' },
      ),
    'r2.toml',
  );
  assertMessage(
    r2,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] region (from AWS_REGION): must be "auto" for Cloudflare R2, got the string "us-west-2"`,
  );
});

test('region from the endpoint host: AWS regional, dual-stack and legacy hosts, COS', () => {
  const cases: Array<[string, string, string]> = [
    ['https://s3.eu-west-1.amazonaws.com', 'aws', 'eu-west-1'],
    ['https://s3.dualstack.ap-northeast-1.amazonaws.com', 'aws', 'ap-northeast-1'],
    ['https://s3-us-west-2.amazonaws.com', 'aws', 'us-west-2'],
    ['https://s3.cn-north-1.amazonaws.com.cn', 'aws', 'cn-north-1'],
    ['https://cos.ap-shanghai.myqcloud.com', 'cos', 'ap-shanghai'],
  ];
  for (const [endpoint, provider, region] of cases) {
    const bucket = provider === 'cos' ? 'agentverse-1250000000' : 'agentverse';
    const config = parseConfig(
      toml(...AWS_CREDENTIALS, `bucket = "${bucket}"`, `endpoint = "${endpoint}"`, 'region = ""'),
      'h.toml',
      NO_ENV,
    );
    assert.is(config.provider, provider, endpoint);
    assert.is(config.region, region, endpoint);
    assert.is(config.endpoint, endpoint);
    assert.equal(config.warnings, []);
  }
});

test('R2: region defaults to auto, us-east-1 is its alias; eu and fedramp jurisdictions are R2 too', () => {
  for (const host of [
    '8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com',
    '8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.eu.r2.cloudflarestorage.com',
    '8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.fedramp.r2.cloudflarestorage.com',
  ]) {
    const config = parseConfig(
      toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', `endpoint = "https://${host}"`),
      'r2.toml',
      NO_ENV,
    );
    assert.is(config.provider, 'r2', host);
    assert.is(config.region, 'auto', host);
    assert.equal(config.warnings, [], host);
  }
  const alias = parseConfig(
    toml(
      ...MINIO_CREDENTIALS,
      'bucket = "agentverse"',
      'endpoint = "https://acc.r2.cloudflarestorage.com"',
      'region = "us-east-1"',
    ),
    'r2.toml',
    NO_ENV,
  );
  assert.is(alias.region, 'us-east-1');
});

test('empty endpoint: https://s3.<region>.amazonaws.com, .amazonaws.com.cn for China regions', () => {
  for (const [region, endpoint] of [
    ['us-east-1', 'https://s3.us-east-1.amazonaws.com'],
    ['eu-west-3', 'https://s3.eu-west-3.amazonaws.com'],
    ['cn-north-1', 'https://s3.cn-north-1.amazonaws.com.cn'],
    ['cn-northwest-1', 'https://s3.cn-northwest-1.amazonaws.com.cn'],
  ] as const) {
    const config = parseConfig(
      toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', 'endpoint = ""', `region = "${region}"`),
      'e.toml',
      NO_ENV,
    );
    assert.is(config.endpoint, endpoint);
    assert.is(config.provider, 'aws');
    assert.is(awsHost(region), endpoint.slice('https://'.length));
  }
});

test('providerOf recognises AWS, COS and R2 hosts, and nothing else', () => {
  const cases: Array<[string, string]> = [
    ['s3.amazonaws.com', 'aws'],
    ['s3.us-east-1.amazonaws.com', 'aws'],
    ['s3-accelerate.amazonaws.com', 'aws'],
    ['s3.cn-north-1.amazonaws.com.cn', 'aws'],
    ['cos.ap-guangzhou.myqcloud.com', 'cos'],
    ['abc123.r2.cloudflarestorage.com', 'r2'],
    ['abc123.eu.r2.cloudflarestorage.com', 'r2'],
    ['r2.cloudflarestorage.com', 'other'],
    ['s3.example.net', 'other'],
    ['localhost', 'other'],
    ['evil-s3.us-east-1.amazonaws.com.example.net', 'other'],
  ];
  for (const [host, provider] of cases) assert.is(providerOf(host), provider, host);
});

test('endpoint and public_url_base keep a base path without its trailing slashes', () => {
  const config = parseConfig(
    toml(
      ...MINIO_CREDENTIALS,
      'bucket = "agentverse"',
      'endpoint = "http://GW.Example.NET:80/s3/"',
      'force_path_style = true',
      'public_url_base = "https://cdn.example.com/packages//"',
    ),
    'p.toml',
    NO_ENV,
  );
  assert.is(config.endpoint, 'http://gw.example.net/s3');
  assert.is(config.publicUrlBase, 'https://cdn.example.com/packages');
});

// ---------------------------------------------------------------------------
// Secrets in the resolved configuration

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETVALUE';
const TOKEN = 'FwoGZXIvYXdzEBYaDTOKENVALUE+abc/def==';

function secretConfig(): StorageConfig {
  return parseConfig(
    toml(
      'access_key = "AKIAIOSFODNN7EXAMPLE"',
      `secret_key = "${SECRET}"`,
      `session_token = "${TOKEN}"`,
      'bucket = "agentverse"',
      'region = "us-east-1"',
    ),
    'secret.toml',
    NO_ENV,
  );
}

test('the secret key and session token never show in inspect, JSON, String or a template', () => {
  const config = secretConfig();
  const views = [
    inspect(config),
    inspect(config, { showHidden: true, depth: Infinity, getters: true }),
    inspect({ nested: { config } }, { depth: 10 }),
    JSON.stringify(config),
    JSON.stringify({ config }),
    String(config),
    `${config}`,
    Object.values(config).map(String).join(' '),
    JSON.stringify(
      Object.getOwnPropertyNames(config).map((name) => (config as unknown as Record<string, unknown>)[name]),
    ),
  ];
  for (const view of views) {
    assert.not.ok(view.includes(SECRET), `secret key in: ${view.slice(0, 60)}`);
    assert.not.ok(view.includes(TOKEN), `session token in: ${view.slice(0, 60)}`);
    assert.not.ok(view.includes('TOKENVALUE') || view.includes('SECRETVALUE'));
  }
  assert.equal(JSON.parse(JSON.stringify(config)), {
    source: 'secret.toml',
    endpoint: 'https://s3.us-east-1.amazonaws.com',
    provider: 'aws',
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    credentialSource: 'secret.toml',
    secretAccessKey: '[redacted]',
    sessionToken: '[redacted]',
    bucket: 'agentverse',
    region: 'us-east-1',
    forcePathStyle: false,
    presignedExpirySecs: 0,
    warnings: [],
  });
  assert.ok(inspect(config).startsWith("StorageConfig {\n  source: 'secret.toml',"), inspect(config));
  assert.ok(inspect(config).includes("secretAccessKey: '[redacted]'"));
  // Without a token there is nothing to redact.
  assert.not.ok('sessionToken' in JSON.parse(JSON.stringify(loadConfig(join(CONFIGS, 'aws.toml'), NO_ENV))));
});

test('credentials() returns the secret key and session token', () => {
  assert.equal(secretConfig().credentials(), {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: SECRET,
    sessionToken: TOKEN,
  });
});

test('an endpoint that already names the bucket is refused with the endpoint to use instead', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...AWS_CREDENTIALS,
          'bucket = "my-bucket"',
          'region = "us-east-1"',
          'endpoint = "https://my-bucket.s3.us-east-1.amazonaws.com"',
        ),
        'v.toml',
        {},
      ),
    'v.toml',
  );
  assert.equal(error.problems, [
    {
      key: '[object_store.s3] endpoint',
      problem:
        'already starts with the bucket name; set endpoint = "https://s3.us-east-1.amazonaws.com" and keep bucket = "my-bucket"',
    },
  ]);
  // A bucket name that is only a prefix of the first label is fine.
  assert.is(
    parseConfig(
      toml(
        ...MINIO_CREDENTIALS,
        'bucket = "my-bucket"',
        'endpoint = "http://my-bucket-gateway.example.net"',
        'force_path_style = true',
      ),
      'ok.toml',
      {},
    ).bucket,
    'my-bucket',
  );
});

test('an endpoint whose path is the bucket, as the R2 dashboard shows it, is refused with the endpoint to use', () => {
  const r2 = configError(
    () =>
      parseConfig(
        readFileSync(join(CONFIGS, 'r2-account.toml'), 'utf8').replace(
          '.r2.cloudflarestorage.com"',
          '.r2.cloudflarestorage.com/agentverse-packages"',
        ),
        'r2.toml',
        NO_ENV,
      ),
    'r2.toml',
  );
  assertMessage(
    r2,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] endpoint: ends in the bucket name, so every key would land under agentverse-packages/; remove it from the path: set endpoint = "https://8c1a4f7e2b9d03a6e5f41c7b2d8a9e30.r2.cloudflarestorage.com" and keep bucket = "agentverse-packages"`,
  );
  assertNoSecret(r2, ['your-r2-secret-access-key']);
  const refused = (endpoint: string, bucket = 'agentverse', env: Environment = NO_ENV) =>
    configError(
      () => parseConfig(toml(...MINIO_CREDENTIALS, `bucket = "${bucket}"`, `endpoint = "${endpoint}"`), 'p.toml', env),
      'p.toml',
    ).problems;
  // Behind a base path, the bucket as its last segment is refused too; the base path stays in the fix.
  assert.equal(refused('http://gw.example.net:8080/s3/agentverse/'), [
    {
      key: '[object_store.s3] endpoint',
      problem:
        'ends in the bucket name, so every key would land under agentverse/; remove it from the path: set endpoint = "http://gw.example.net:8080/s3" and keep bucket = "agentverse"',
    },
  ]);
  // AWS, COS and R2 serve the API at the root: any other path there is refused, even when it is not the bucket.
  assert.equal(refused('https://acc.r2.cloudflarestorage.com/other-bucket'), [
    {
      key: '[object_store.s3] endpoint',
      problem:
        'has the path /other-bucket, but AWS, COS and R2 serve the S3 API at the root of the host; set endpoint = "https://acc.r2.cloudflarestorage.com" and keep bucket = "agentverse"',
    },
  ]);
  assert.equal(refused('https://s3.eu-west-1.amazonaws.com/v1', 'agentverse', { AWS_REGION: 'eu-west-1' }), [
    {
      key: '[object_store.s3] endpoint',
      problem:
        'has the path /v1, but AWS, COS and R2 serve the S3 API at the root of the host; set endpoint = "https://s3.eu-west-1.amazonaws.com" and keep bucket = "agentverse"',
    },
  ]);
  const fromEnv = configError(
    () =>
      parseConfig(toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"'), 'p.toml', {
        AWS_ENDPOINT_URL_S3: 'https://cos.ap-shanghai.myqcloud.com/agentverse-1250000000',
      }),
    'p.toml',
  );
  assert.equal(fromEnv.problems[0], {
    key: '[object_store.s3] endpoint (from AWS_ENDPOINT_URL_S3)',
    problem:
      'has the path /agentverse-1250000000, but AWS, COS and R2 serve the S3 API at the root of the host; set endpoint = "https://cos.ap-shanghai.myqcloud.com" and keep bucket = "agentverse"',
  });
  // A root path, with or without its slash, is no path.
  for (const endpoint of ['https://acc.r2.cloudflarestorage.com/', 'https://acc.r2.cloudflarestorage.com//']) {
    const config = parseConfig(
      toml(...MINIO_CREDENTIALS, 'bucket = "agentverse"', `endpoint = "${endpoint}"`),
      'ok',
      NO_ENV,
    );
    assert.is(config.endpoint, 'https://acc.r2.cloudflarestorage.com');
  }
});

test('credentials come from one source: the file, or the environment, never a mix', () => {
  const env: Environment = {
    AWS_ACCESS_KEY_ID: 'AKIAENVEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'envSecret/Key+1',
    AWS_SESSION_TOKEN: 'envSessionToken==',
    AWS_REGION: 'us-east-1',
  };
  // All three from the environment when the file sets none of them.
  assert.equal(parseConfig(toml('bucket = "agentverse"'), 'e.toml', env).credentials(), {
    accessKeyId: 'AKIAENVEXAMPLE',
    secretAccessKey: 'envSecret/Key+1',
    sessionToken: 'envSessionToken==',
  });
  // The file's keys never get the environment's token.
  const file = parseConfig(toml(...AWS_CREDENTIALS, 'bucket = "agentverse"'), 'f.toml', env);
  assert.equal(file.credentials(), {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    sessionToken: undefined,
  });
  assert.equal(file.warnings.length, 1);
  // Half the credentials in the file: the other half is not taken from the environment.
  const half = configError(
    () => parseConfig(toml('access_key = "AKIAIOSFODNN7EXAMPLE"', 'bucket = "agentverse"'), 'h.toml', env),
    'h.toml',
  );
  assertMessage(
    half,
    `
FILE: the storage configuration has 1 problem:
  [object_store.s3] secret_key: is missing but [object_store.s3] access_key is set; credentials come from one source, so set both here, or neither to take them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
  );
  assertNoSecret(half, ['envSecret/Key+1', 'envSessionToken==']);
  // A token alone in the file is not attached to the environment's keys either.
  const token = configError(
    () => parseConfig(toml('session_token = "fileToken"', 'bucket = "agentverse"'), 't.toml', env),
    't.toml',
  );
  assert.equal(
    token.problems.map((problem) => problem.key),
    ['[object_store.s3] access_key', '[object_store.s3] secret_key'],
  );
  assert.match(token.problems[0]!.problem, 'is missing but [object_store.s3] session_token is set');
  assertNoSecret(token, ['fileToken', 'envSecret/Key+1']);
});

test('credentials with the trailing CR of a CRLF file, or spaces around them, are refused without showing them', () => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  const cases: Array<[string[], string, string]> = [
    [
      ['access_key = "AKIAIOSFODNN7EXAMPLE"', `secret_key = "${secret}\\r"`],
      '[object_store.s3] secret_key',
      'ends with a line break (CR or LF), as a Windows (CRLF) env file gives; remove it',
    ],
    [
      ['access_key = "AKIAIOSFODNN7EXAMPLE"', `secret_key = "${secret} "`],
      '[object_store.s3] secret_key',
      'starts or ends with whitespace; remove it',
    ],
    [
      ['access_key = "AKIAIOSFODNN7EXAMPLE\\r"', `secret_key = "${secret}"`],
      '[object_store.s3] access_key',
      'ends with a line break (CR or LF), as a Windows (CRLF) env file gives; remove it',
    ],
    [
      ['access_key = "AKIAIOSFODNN7EXAMPLE"', `secret_key = "${secret}"`, `session_token = "tok\\u0000en"`],
      '[object_store.s3] session_token',
      'holds a control character',
    ],
  ];
  for (const [lines, key, problem] of cases) {
    const error = configError(
      () => parseConfig(toml(...lines, 'bucket = "agentverse"', 'region = "us-east-1"'), 'c.toml', NO_ENV),
      'c.toml',
    );
    assert.equal(error.problems, [{ key, problem }], lines.join(' '));
    assertNoSecret(error, [secret, 'tok\u0000en']);
  }
  // The same from a CRLF env file, named after its variable.
  const env = configError(
    () =>
      parseConfig(toml('bucket = "agentverse"', 'region = "us-east-1"'), 'e.toml', {
        AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
        AWS_SECRET_ACCESS_KEY: `${secret}\r`,
      }),
    'e.toml',
  );
  assert.equal(env.problems, [
    {
      key: '[object_store.s3] secret_key (from AWS_SECRET_ACCESS_KEY)',
      problem: 'ends with a line break (CR or LF), as a Windows (CRLF) env file gives; remove it',
    },
  ]);
  assertNoSecret(env, [secret]);
  // A space inside a secret is the provider's business.
  assert.is(
    parseConfig(
      toml(
        ...MINIO_CREDENTIALS.slice(0, 1),
        'secret_key = "two words"',
        'bucket = "agentverse"',
        'endpoint = "http://localhost:9000"',
      ),
      's',
      NO_ENV,
    ).credentials()?.secretAccessKey,
    'two words',
  );
});

test('AWS FIPS, dual-stack and Transfer Acceleration hosts are AWS, with the region their host names', () => {
  const cases: Array<[string, string | undefined]> = [
    ['s3-fips.us-east-1.amazonaws.com', 'us-east-1'],
    ['s3.dualstack.us-east-1.amazonaws.com', 'us-east-1'],
    ['s3-fips.dualstack.us-gov-west-1.amazonaws.com', 'us-gov-west-1'],
    ['s3.dualstack.cn-north-1.amazonaws.com.cn', 'cn-north-1'],
    ['s3-accelerate.amazonaws.com', undefined],
    ['s3-accelerate.dualstack.amazonaws.com', undefined],
  ];
  for (const [host, region] of cases) {
    assert.is(providerOf(host), 'aws', host);
    const text = toml(...AWS_CREDENTIALS, 'bucket = "agentverse"', `endpoint = "https://${host}"`);
    if (region === undefined) {
      // Acceleration names no region: the bucket's own must be given.
      assert.equal(configError(() => parseConfig(text, 'a.toml', NO_ENV), 'a.toml').problems, [
        {
          key: '[object_store.s3] region',
          problem: "is missing and AWS_REGION is not set; set the bucket's region, such as us-east-1",
        },
      ]);
      const config = parseConfig(text, 'a.toml', { AWS_REGION: 'eu-west-1' });
      assert.equal([config.provider, config.region, config.warnings], ['aws', 'eu-west-1', []], host);
    } else {
      const config = parseConfig(text, 'r.toml', NO_ENV);
      assert.equal([config.provider, config.region, config.warnings], ['aws', region, []], host);
    }
  }
  for (const host of ['s3-fips.amazonaws.com.example.net', 's3-accelerate.us-east-1.amazonaws.com.evil.net']) {
    assert.is(providerOf(host), 'other', host);
  }
});

test('Transfer Acceleration takes virtual-hosted requests for buckets without periods only', () => {
  const error = configError(
    () =>
      parseConfig(
        toml(
          ...AWS_CREDENTIALS,
          'bucket = "my.bucket"',
          'region = "us-east-1"',
          'endpoint = "https://s3-accelerate.dualstack.amazonaws.com"',
          'force_path_style = true',
        ),
        'a.toml',
        NO_ENV,
      ),
    'a.toml',
  );
  assertMessage(
    error,
    `
FILE: the storage configuration has 2 problems:
  [object_store.s3] force_path_style: S3 Transfer Acceleration (s3-accelerate.dualstack.amazonaws.com) takes virtual-hosted requests only; set force_path_style = false
  [object_store.s3] bucket: "my.bucket" holds a period, which S3 Transfer Acceleration (s3-accelerate.dualstack.amazonaws.com) does not allow; use a regional endpoint`,
  );
  const options = configError(
    () =>
      storageConfig(
        {
          bucket: 'agentverse',
          region: 'us-east-1',
          endpoint: 'https://s3-accelerate.amazonaws.com',
          forcePathStyle: true,
          accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
        },
        NO_ENV,
      ),
    'options',
  );
  assert.equal(
    options.problems.map((problem) => problem.key),
    ['options.forcePathStyle'],
  );
});

test('storageConfig: plain options follow the same rules, with problems named after the options', () => {
  const config = storageConfig(
    {
      bucket: 'agentverse',
      endpoint: 'http://localhost:9000',
      accessKeyId: 'minioadmin',
      secretAccessKey: 'minioadmin123',
      forcePathStyle: true,
      presignedExpirySecs: 600,
    },
    {},
  );
  assert.is(config.source, 'options');
  assert.is(config.endpoint, 'http://localhost:9000');
  assert.is(config.region, 'us-east-1');
  assert.is(config.presignedExpirySecs, 600);
  assert.is(config.credentials()?.secretAccessKey, 'minioadmin123');
  assert.is(
    storageConfig(
      { bucket: 'agentverse', region: 'eu-west-1' },
      { AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 'envSecret' },
    ).accessKeyId,
    'AKENV',
  );
  const error = configError(
    () =>
      storageConfig(
        {
          bucket: 'B',
          forcePathStyle: 'yes',
          presignedExpirySecs: 1.5,
          forcePathStyles: true,
          secretAccessKey: 'hidden/secret',
        } as unknown as StorageOptions,
        {},
      ),
    'options',
  );
  assert.is(
    error.message,
    `options: the storage configuration has 6 problems:
  options.forcePathStyles: is not a known key; did you mean forcePathStyle?
  options.forcePathStyle: must be true or false, got the string "yes"
  options.presignedExpirySecs: must be a whole number of seconds, got the number 1.5
  options.accessKeyId: is missing but options.secretAccessKey is set; credentials come from one source, so set both here, or neither to take them from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
  options.bucket: "B" is 1 character long; bucket names have 3 to 63 (S3 bucket naming rules)
  options.region: is missing and AWS_REGION is not set; set the bucket's region, such as us-east-1`,
  );
  assert.not.ok(error.message.includes('hidden/secret'));
  const notObject = configError(() => storageConfig(null as unknown as StorageOptions, {}), 'options');
  assert.equal(notObject.problems, [
    { key: 'options', problem: 'must be an object with bucket, region and credentials' },
  ]);
});

test('StorageConfig is frozen', () => {
  const config = secretConfig();
  assert.ok(Object.isFrozen(config));
  assert.throws(() => {
    (config as unknown as { bucket: string }).bucket = 'other';
  }, TypeError);
  assert.throws(() => {
    (config as unknown as { extra: number }).extra = 1;
  }, TypeError);
  assert.is(config.bucket, 'agentverse');
  // credentials() hands out a copy: changing it changes nothing.
  const credentials = config.credentials();
  credentials!.secretAccessKey = 'changed';
  assert.is(config.credentials()?.secretAccessKey, SECRET);
});

test.run();
