#!/usr/bin/env node
/**
 * The `s3v4` command: the library's operations on the configured bucket, from
 * a shell. Output is for people, or JSON with --json; messages go to stderr.
 * Exit status: 0 success, 1 an operation failed, 2 bad usage or
 * configuration, 130 interrupted (Ctrl-C: multipart uploads are aborted and
 * partial downloads removed before it exits).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
// The client and doctor (and undici with them) are imported when a command needs them: --help and usage errors stay quick.
import type { ObjectInfo, S3Client } from './client.js';
import { loadConfig } from './config.js';
import { DEFAULT_PRESIGN_EXPIRY } from './endpoint.js';
import { MAX_PRESIGN_EXPIRY } from './signer.js';
import type { Check } from './doctor.js';
import { AbortError, ConfigError, InvalidArgumentError, S3v4Error, UsageError } from './errors.js';

const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  recursive: { type: 'boolean', short: 'r' },
  long: { type: 'boolean', short: 'l' },
  force: { type: 'boolean', short: 'f' },
  prefix: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  method: { type: 'string', short: 'X' },
  expires: { type: 'string', short: 'e' },
  'content-type': { type: 'string' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** Options every command takes. */
const GLOBAL: readonly OptionName[] = ['config', 'json', 'help'];

interface Context {
  /** The configuration file's path. */
  configPath: string;
  /** A client for it, made on first use (the doctor checks the file itself). */
  readonly client: S3Client;
  values: Values;
  signal: AbortSignal;
  /** Prints a result: `human` lines, or `json` as one line with --json. */
  print: (human: string, json: unknown) => void;
  /** A line for people only, such as one per file of a transfer whose JSON comes at the end. */
  line: (human: string) => void;
  /** A result for --json only. */
  result: (json: unknown) => void;
  /** Reports a problem that does not stop the command (a refused key in a recursive get, say). */
  warn: (message: string) => void;
}

interface Command {
  usage: string;
  summary: string;
  /** Its own options, beyond the global ones. */
  options: readonly OptionName[];
  /** Fewest and most positional arguments. */
  args: readonly [number, number];
  run: (context: Context, args: string[]) => Promise<number>;
}

const MANY = Number.POSITIVE_INFINITY;

const COMMANDS: Readonly<Record<string, Command>> = {
  put: {
    usage: 'put FILE... KEY|PREFIX/ [--recursive] [--content-type TYPE]',
    summary: 'upload files (directories with --recursive); several files, or a PREFIX ending in /, keep their names',
    options: ['recursive', 'content-type'],
    args: [2, MANY],
    run: put,
  },
  get: {
    usage: 'get KEY [DEST] [--recursive] [--force]',
    summary: 'download an object (every object under a prefix with --recursive) into DEST, default the current directory',
    options: ['recursive', 'force'],
    args: [1, 2],
    run: get,
  },
  ls: { usage: 'ls [PREFIX] [--recursive] [--long]', summary: 'list keys, and folders unless --recursive; --long adds date and size', options: ['recursive', 'long'], args: [0, 1], run: ls },
  rm: { usage: 'rm KEY... | rm --prefix P --yes', summary: 'delete objects; every object under a prefix with --prefix and --yes', options: ['prefix', 'yes'], args: [0, MANY], run: rm },
  stat: { usage: 'stat KEY', summary: "show an object's size, ETag, type, date and metadata", options: [], args: [1, 1], run: stat },
  cp: { usage: 'cp SRC DST', summary: 'copy an object within the bucket, keeping its metadata', options: [], args: [2, 2], run: cp },
  url: { usage: 'url KEY', summary: 'print the download link the config gives: CDN, presigned or plain', options: [], args: [1, 1], run: url },
  presign: {
    usage: 'presign KEY [--method GET|PUT|HEAD|DELETE] [--expires SECONDS]',
    summary: 'print a presigned URL; expiry defaults to presigned_expiry_secs, or 3600 when that is 0',
    options: ['method', 'expires'],
    args: [1, 1],
    run: presign,
  },
  doctor: { usage: 'doctor', summary: 'check the config against the live endpoint, one line per check', options: [], args: [0, 0], run: runDoctor },
};

function help(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return [
    'usage: s3v4 COMMAND [ARGS] [--config FILE] [--json]',
    '',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'The config is --config FILE, else $S3V4_CONFIG, else ./config.toml (the [object_store.s3] table);',
    'AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION and AWS_ENDPOINT_URL_S3 fill empty keys.',
    '--json prints results as JSON (ls: one JSON object per line). Exit status: 0 ok, 1 failed, 2 bad usage or config, 130 interrupted.',
    's3v4 COMMAND --help shows one command; s3v4 --version the version.',
  ].join('\n');
}

function commandNamed(name: string | undefined): Command | undefined {
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

function commandHelp(command: Command): string {
  const flags = [...command.options, ...GLOBAL].map((o) => `--${o}`).join(', ');
  return `usage: s3v4 ${command.usage}\n\n${command.summary}.\noptions: ${flags}`;
}

/** The command line's options and positionals; a usage error for anything parseArgs refuses. */
function parse(argv: readonly string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function version(): string {
  // lib/cli.ts and dist/cli.js both sit one level below package.json.
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** Runs the command line; resolves to the exit status. */
async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  const interrupt = () => {
    // A second Ctrl-C does not wait for the cleanup.
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let json = false;
  try {
    const { values, positionals } = parse(argv);
    json = values.json === true;
    if (values.version === true) {
      write(process.stdout, json ? JSON.stringify({ version: version() }) : version());
      return EXIT.ok;
    }
    const [name, ...args] = positionals;
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? commandNamed(args[0]) : undefined;
      // Help asked for goes to stdout; help instead of a missing command is a usage error.
      const asked = name === 'help' || values.help === true;
      write(asked ? process.stdout : process.stderr, topic === undefined ? help() : commandHelp(topic));
      return asked ? EXIT.ok : EXIT.usage;
    }
    const command = commandNamed(name);
    if (command === undefined) throw new UsageError(`unknown command "${name}"; the commands are ${Object.keys(COMMANDS).join(', ')} (s3v4 --help)`);
    if (values.help === true) {
      write(process.stdout, commandHelp(command));
      return EXIT.ok;
    }
    for (const option of Object.keys(values) as OptionName[]) {
      if (!GLOBAL.includes(option) && !command.options.includes(option)) throw new UsageError(`--${option} does not apply to ${name}; usage: s3v4 ${command.usage}`);
    }
    if (args.length < command.args[0] || args.length > command.args[1]) {
      throw new UsageError(`${name} takes ${arity(command.args)}, got ${args.length}; usage: s3v4 ${command.usage}`);
    }
    const path = configPath(values);
    const { S3Client } = await import('./client.js');
    let client: S3Client | undefined;
    const context: Context = {
      configPath: path,
      get client() {
        if (client === undefined) {
          const config = loadConfig(path);
          for (const warning of config.warnings) write(process.stderr, `s3v4: warning: ${warning}`);
          client = new S3Client(config);
        }
        return client;
      },
      values,
      signal: controller.signal,
      print: (human, result) => write(process.stdout, json ? JSON.stringify(result) : human),
      line: (human) => {
        if (!json) write(process.stdout, human);
      },
      result: (result) => {
        if (json) write(process.stdout, JSON.stringify(result));
      },
      warn: (message) => write(process.stderr, `s3v4: ${message}`),
    };
    try {
      return await command.run(context, args);
    } finally {
      await client?.close();
    }
  } catch (error) {
    return report(error, json, controller.signal.aborted);
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

function arity([least, most]: readonly [number, number]): string {
  if (least === most) return least === 0 ? 'no arguments' : `${least} argument${least === 1 ? '' : 's'}`;
  return most === MANY ? `at least ${least} argument${least === 1 ? '' : 's'}` : `${least} to ${most} arguments`;
}

/** --config, else $S3V4_CONFIG, else ./config.toml. */
function configPath(values: Values): string {
  if (values.config !== undefined) return values.config;
  const fromEnv = process.env['S3V4_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!existsSync('config.toml')) throw new UsageError('no configuration: pass --config FILE, set S3V4_CONFIG, or create ./config.toml');
  return 'config.toml';
}

/** Prints the error, names what to fix, and picks the exit status. */
function report(error: unknown, json: boolean, interrupted: boolean): number {
  const status = interrupted || error instanceof AbortError ? EXIT.interrupted : error instanceof UsageError || error instanceof ConfigError || error instanceof InvalidArgumentError ? EXIT.usage : EXIT.failed;
  const message = status === EXIT.interrupted ? 'interrupted: nothing was left half-done (multipart uploads aborted, partial downloads removed)' : (error as Error).message;
  const code = error instanceof S3v4Error ? error.code : ((error as { code?: string }).code ?? 'ERR_S3V4_FAILED');
  if (json) write(process.stdout, JSON.stringify({ error: { code, message } }));
  write(process.stderr, `s3v4: ${message}`);
  return status;
}

function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

// ---------------------------------------------------------------------------
// Commands

/** Content types by extension for uploads without --content-type; S3 stores binary/octet-stream otherwise. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tgz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.toml': 'application/toml',
};

interface Upload {
  file: string;
  key: string;
  size: number;
}

async function put(context: Context, args: string[]): Promise<number> {
  const { client, values, signal } = context;
  const { fromFile } = await import('./client.js');
  const target = args.at(-1)!;
  const sources = args.slice(0, -1);
  // A lone "/" names the bucket's top level.
  const prefix = target === '/' ? '' : target;
  if (sources.length > 1 && !target.endsWith('/')) throw new UsageError(`with several files the last argument is a prefix and must end in /, got "${target}"`);
  const uploads: Upload[] = [];
  for (const source of sources) {
    const stats = statSync(source, { throwIfNoEntry: false });
    if (stats === undefined) throw new UsageError(`${source}: no such file or directory`);
    if (stats.isDirectory()) {
      if (values.recursive !== true) throw new UsageError(`${source} is a directory; pass --recursive to upload what it holds`);
      const under = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
      for (const file of filesUnder(source, context)) uploads.push({ file, key: under + relative(source, file).split(sep).join('/'), size: statSync(file).size });
    } else if (stats.isFile()) {
      uploads.push({ file: source, key: prefix === '' || prefix.endsWith('/') ? prefix + basename(source) : prefix, size: stats.size });
    } else {
      throw new UsageError(`${source} is not a regular file`);
    }
  }
  const done: Array<Upload & { etag: string }> = [];
  for (const upload of uploads) {
    const bar = progress(upload.key, upload.size);
    const contentType = values['content-type'] ?? CONTENT_TYPES[extname(upload.file).toLowerCase()];
    try {
      const result = await client.put(upload.key, fromFile(upload.file), {
        ...(contentType === undefined ? {} : { contentType }),
        signal,
        onProgress: ({ loaded }) => bar.update(loaded),
      });
      done.push({ ...upload, etag: result.etag });
    } finally {
      bar.end();
    }
    context.line(`${upload.file} -> ${upload.key} (${bytes(upload.size)})`);
  }
  context.result({ uploaded: done });
  return EXIT.ok;
}

/** Regular files under a directory, sorted; symbolic links and other special files are skipped with a warning. */
function filesUnder(directory: string, context: Context): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) files.push(path);
    else if (!entry.isDirectory()) context.warn(`skipped ${path}: not a regular file`);
  }
  return files.sort();
}

async function get(context: Context, args: string[]): Promise<number> {
  const [key, dest = '.'] = args as [string, string?];
  if (context.values.recursive === true) return getTree(context, key, dest);
  const intoDirectory = dest.endsWith('/') || dest.endsWith(sep) || statSync(dest, { throwIfNoEntry: false })?.isDirectory() === true;
  let file = dest;
  if (intoDirectory) {
    const name = key.split('/').at(-1)!;
    if (name === '') throw new UsageError(`"${key}" ends in /, which names a folder; use get --recursive`);
    const refusal = unsafe(key);
    if (refusal !== undefined) throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${key}": ${refusal}; name a DEST file to save it anyway`);
    file = join(dest, name);
  }
  const size = await download(context, key, file);
  context.print(`${key} -> ${file} (${bytes(size)})`, { downloaded: [{ key, file, size }] });
  return EXIT.ok;
}

/** Every object under a prefix into a directory, each at its key's path below the prefix; keys that would land outside are refused. */
async function getTree(context: Context, prefix: string, dest: string): Promise<number> {
  mkdirSync(dest, { recursive: true });
  const root = realpathSync(dest);
  const downloaded: Array<{ key: string; file: string; size: number }> = [];
  const failed: Array<{ key: string; message: string }> = [];
  for await (const page of context.client.list({ prefix, signal: context.signal })) {
    for (const object of page.objects) {
      // A key ending in / is a folder marker made by consoles, not a file.
      if (object.key.endsWith('/')) continue;
      let path = object.key.slice(prefix.length);
      if (prefix !== '' && !prefix.endsWith('/')) path = path.replace(/^\//, '');
      const file = join(root, path);
      const refusal = unsafe(path) ?? outside(root, file);
      try {
        if (refusal !== undefined) throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${object.key}": ${refusal}`);
        // A directory inside DEST may be a symbolic link that leads out of it: checked before anything is created.
        let existing = dirname(file);
        while (!existsSync(existing)) existing = dirname(existing);
        const parent = outside(root, realpathSync(existing));
        if (parent !== undefined) throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${object.key}": ${parent}`);
        // Written at the resolved path; reported as the user named it.
        const named = join(dest, path);
        downloaded.push({ key: object.key, file: named, size: await download(context, object.key, file) });
        context.line(`${object.key} -> ${named} (${bytes(object.size)})`);
      } catch (error) {
        if (context.signal.aborted || !(error instanceof S3v4Error || (error as NodeJS.ErrnoException).code !== undefined)) throw error;
        failed.push({ key: object.key, message: (error as Error).message });
        context.warn((error as Error).message);
      }
    }
  }
  context.result({ downloaded, failed });
  if (failed.length > 0) context.warn(`${failed.length} of ${failed.length + downloaded.length} objects not downloaded`);
  return failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/** Why a key's relative path may not become a local path, if it may not. */
function unsafe(path: string): string | undefined {
  if (path === '') return 'it names the destination directory itself';
  if (path.startsWith('/')) return 'it is an absolute path';
  if (path.split('/').includes('..')) return 'it has a ".." segment, which would write outside the destination';
  if (path.includes('\0')) return 'it holds a NUL character';
  return undefined;
}

/** Why `path` is not inside the directory `root` (or root itself), if it is not. */
function outside(root: string, path: string): string | undefined {
  const inside = relative(root, path);
  return inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside) ? `it would write outside ${root}` : undefined;
}

/**
 * Streams an object into `file` through a temporary file beside it, renamed
 * into place once every byte has arrived; on any failure the temporary file
 * is removed and `file` is untouched. Without --force an existing file stays.
 */
async function download(context: Context, key: string, file: string): Promise<number> {
  const force = context.values.force === true;
  if (!force && existsSync(file)) throw new S3v4Error('ERR_S3V4_EXISTS', `${file} exists; pass --force to overwrite it`);
  mkdirSync(dirname(file), { recursive: true });
  const partial = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.s3v4-partial`);
  const reply = await context.client.get(key, { signal: context.signal });
  const bar = progress(key, reply.size);
  let received = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      bar.update(received);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(reply.body, count, createWriteStream(partial, { flags: 'wx' }), { signal: context.signal });
    if (received !== reply.size) throw new S3v4Error('ERR_S3V4_TRUNCATED', `GET ${key}: received ${received} of ${reply.size} bytes`);
    if (force) {
      renameSync(partial, file);
    } else {
      // A hard link fails if the file appeared meanwhile, where a rename would replace it.
      linkSync(partial, file);
      rmSync(partial);
    }
  } catch (error) {
    rmSync(partial, { force: true });
    throw context.signal.aborted ? new AbortError(`GET ${key}: aborted`, error) : error;
  } finally {
    bar.end();
  }
  return received;
}

async function ls(context: Context, args: string[]): Promise<number> {
  const { values } = context;
  const recursive = values.recursive === true;
  for await (const page of context.client.list({ prefix: args[0] ?? '', ...(recursive ? {} : { delimiter: '/' }), signal: context.signal })) {
    for (const prefix of page.prefixes) context.print(values.long === true ? `${''.padEnd(19)}  ${'DIR'.padStart(12)}  ${prefix}` : prefix, { prefix });
    for (const object of page.objects) {
      const date = object.lastModified.toISOString().slice(0, 19).replace('T', ' ');
      context.print(values.long === true ? `${date}  ${String(object.size).padStart(12)}  ${object.key}` : object.key, {
        key: object.key,
        size: object.size,
        etag: object.etag,
        lastModified: object.lastModified.toISOString(),
      });
    }
  }
  return EXIT.ok;
}

async function rm(context: Context, args: string[]): Promise<number> {
  const { client, values, signal } = context;
  const deleted: string[] = [];
  const errors: Array<{ key: string; code: string; message: string }> = [];
  if (values.prefix !== undefined) {
    if (args.length > 0) throw new UsageError('rm takes keys or --prefix, not both');
    if (values.yes !== true) throw new UsageError(`rm --prefix "${values.prefix}" deletes every object under it; add --yes to confirm`);
    // Page by page: a large prefix is never held in memory at once.
    for await (const page of client.list({ prefix: values.prefix, signal })) {
      if (page.objects.length === 0) continue;
      const result = await client.deleteMany(page.objects.map((o) => o.key), { signal });
      deleted.push(...result.deleted);
      errors.push(...result.errors);
    }
  } else if (args.length === 0) {
    throw new UsageError('rm needs KEY... or --prefix P --yes');
  } else if (values.yes !== undefined) {
    throw new UsageError('--yes goes with --prefix');
  } else if (args.length === 1) {
    await client.delete(args[0]!, { signal });
    deleted.push(args[0]!);
  } else {
    const result = await client.deleteMany(args, { signal });
    deleted.push(...result.deleted);
    errors.push(...result.errors);
  }
  for (const error of errors) context.warn(`could not delete "${error.key}": ${error.code}: ${error.message}`);
  context.print(`deleted ${deleted.length} object${deleted.length === 1 ? '' : 's'}`, { deleted, errors });
  return errors.length === 0 ? EXIT.ok : EXIT.failed;
}

async function stat(context: Context, [key]: string[]): Promise<number> {
  const info: ObjectInfo = await context.client.head(key!, { signal: context.signal });
  const lines = [
    `key:           ${info.key}`,
    `size:          ${info.size} (${bytes(info.size)})`,
    `etag:          ${info.etag}`,
    `content-type:  ${info.contentType ?? ''}`,
    `last-modified: ${info.lastModified?.toISOString() ?? ''}`,
    ...Object.entries(info.metadata).map(([name, value]) => `meta ${name}: ${value}`),
  ];
  context.print(lines.join('\n'), { ...info, lastModified: info.lastModified?.toISOString() });
  return EXIT.ok;
}

async function cp(context: Context, [from, to]: string[]): Promise<number> {
  const result = await context.client.copy(from!, to!, { signal: context.signal });
  context.print(`${from} -> ${to}`, { from, to, etag: result.etag });
  return EXIT.ok;
}

async function url(context: Context, [key]: string[]): Promise<number> {
  const { config } = context.client;
  const kind = config.publicUrlBase !== undefined ? 'cdn' : config.presignedExpirySecs > 0 ? 'presigned' : 'plain';
  const link = context.client.downloadUrl(key!);
  context.print(link, { key, url: link, kind });
  return EXIT.ok;
}

async function presign(context: Context, [key]: string[]): Promise<number> {
  const method = (context.values.method ?? 'GET').toUpperCase();
  if (!['GET', 'PUT', 'HEAD', 'DELETE'].includes(method)) throw new UsageError(`--method must be GET, PUT, HEAD or DELETE, got "${context.values.method}"`);
  const expires = context.values.expires;
  // Checked here too, so the message names the flag rather than the library's expiresIn.
  if (expires !== undefined && (!/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_EXPIRY)) {
    throw new UsageError(`--expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRY}, got "${expires}"`);
  }
  // Endpoint.presign's own default, spelt out so --json can report it.
  const expiresIn = expires !== undefined ? Number(expires) : context.client.config.presignedExpirySecs || DEFAULT_PRESIGN_EXPIRY;
  const link = context.client.presign(key!, { method, expiresIn });
  context.print(link, { key, url: link, method, expiresIn });
  return EXIT.ok;
}

async function runDoctor({ configPath, values, signal }: Context): Promise<number> {
  const json = values.json === true;
  const { doctor } = await import('./doctor.js');
  const line = (check: Check) => `${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(11)}  ${check.detail}${check.fix === undefined ? '' : `\n      ${''.padEnd(11)}  fix: ${check.fix}`}`;
  const checks = await doctor(configPath, { signal, ...(json ? {} : { report: (check: Check) => write(process.stdout, line(check)) }) });
  const ok = checks.every((check) => check.ok);
  if (json) write(process.stdout, JSON.stringify({ ok, checks }));
  const failed = checks.filter((c) => !c.ok);
  // A failure is also said on stderr, as every failing command does; the fixes are in the report above it.
  if (ok) write(process.stdout, json ? '' : `all ${checks.length} checks passed`);
  else write(process.stderr, `s3v4: ${failed.length} of ${checks.length} checks failed: ${failed.map((c) => c.name).join(', ')}`);
  if (!ok && checks[0]?.name === 'config' && !checks[0].ok) return EXIT.usage;
  return ok ? EXIT.ok : EXIT.failed;
}

// ---------------------------------------------------------------------------
// Progress

interface Progress {
  update(loaded: number): void;
  end(): void;
}

/** Redraws at most this often. */
const REDRAW_MS = 100;

/** A progress bar on stderr (bytes, rate, ETA) when stderr is a terminal; silent otherwise. */
function progress(label: string, total: number): Progress {
  const stream = process.stderr;
  if (!stream.isTTY) return { update() {}, end() {} };
  const started = performance.now();
  let drawn = 0;
  let loaded = 0;
  const draw = () => {
    drawn = performance.now();
    const seconds = (drawn - started) / 1000;
    const rate = seconds > 0 ? loaded / seconds : 0;
    const fraction = total > 0 ? Math.min(1, loaded / total) : 1;
    const eta = rate > 0 ? Math.ceil((total - loaded) / rate) : undefined;
    const bar = '#'.repeat(Math.round(fraction * 20)).padEnd(20, '.');
    const facts = `[${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${bytes(loaded)}/${bytes(total)} ${bytes(rate)}/s ETA ${eta === undefined ? '--' : `${eta}s`}`;
    const room = (stream.columns || 80) - facts.length - 2;
    const name = label.length <= room ? label : `…${label.slice(label.length - Math.max(room - 1, 0))}`;
    stream.write(`\r\x1b[K${name}  ${facts}`);
  };
  return {
    update(now) {
      loaded = now;
      if (performance.now() - drawn >= REDRAW_MS) draw();
    },
    end() {
      draw();
      stream.write('\n');
    },
  };
}

/** 1536 → "1.5 KiB". */
function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

process.exitCode = await main(process.argv.slice(2));
