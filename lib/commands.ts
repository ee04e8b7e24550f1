/**
 * The commands of `s3v4`: the options they take, the command table, and each
 * command reading its arguments and printing its result, for people or as
 * JSON with --json. The transfers between bucket and files that put and get
 * call are in transfers.ts; the entry point, parsing and the error report
 * are in cli.ts.
 */
import { statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import type { ObjectInfo, S3Client } from './client.js';
import type { Check } from './doctor.js';
import { linkKind, presignExpiry } from './endpoint.js';
import { S3Error, S3v4Error, UsageError } from './errors.js';
import { shownKey } from './replies.js';
import { MAX_PRESIGN_EXPIRY } from './signer.js';
import type { SyncOptions, SyncResult } from './sync.js';
import {
  bytes,
  download,
  eachAtOnce,
  filesUnder,
  folder,
  getTree,
  type Failure,
  type Put,
  putFiles,
  STDIO,
  toStdout,
  type Transfer,
  type Upload,
  type UploadHow,
  unsafe,
} from './transfers.js';

/** 141 = 128 + SIGPIPE: standard output's reader went away (see cli.ts). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130, closed: 141 } as const;

export const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  recursive: { type: 'boolean', short: 'r' },
  long: { type: 'boolean', short: 'l' },
  force: { type: 'boolean', short: 'f' },
  prefix: { type: 'string' },
  all: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  method: { type: 'string', short: 'X' },
  expires: { type: 'string', short: 'e' },
  'content-type': { type: 'string' },
  jobs: { type: 'string', short: 'j' },
  human: { type: 'boolean', short: 'H' },
  delete: { type: 'boolean' },
  'dry-run': { type: 'boolean', short: 'n' },
  checksum: { type: 'boolean' },
  'size-only': { type: 'boolean' },
  resume: { type: 'boolean' },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
} as const;

export type OptionName = keyof typeof OPTIONS;
export type Values = {
  [K in OptionName]?: (typeof OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof OPTIONS)[K]['type'] extends 'string'
      ? string
      : boolean;
};

/** Options every command takes. */
export const GLOBAL: readonly OptionName[] = ['config', 'json', 'help'];

/** What a command runs with: what the transfers need (signal, --force, line, warn), and the command line's own. */
export interface Context extends Transfer {
  /** The configuration file's path. */
  configPath: string;
  /** A client for it, made on first use (the doctor checks the file itself). */
  readonly client: S3Client;
  values: Values;
  /** Prints a result: `human` lines, or `json` as one line with --json. */
  print: (human: string, json: unknown) => void;
  /** A result for --json only. */
  result: (json: unknown) => void;
}

export interface Command {
  usage: string;
  summary: string;
  /** Its own options, beyond the global ones. */
  options: readonly OptionName[];
  /** Fewest and most positional arguments. */
  args: readonly [number, number];
  run: (context: Context, args: string[]) => Promise<number>;
}

export const MANY = Number.POSITIVE_INFINITY;

export const COMMANDS: Readonly<Record<string, Command>> = {
  put: {
    usage: 'put FILE... KEY|PREFIX/ [--recursive] [--content-type TYPE] [--jobs N] [--resume]',
    summary:
      'upload files (directories with --recursive), N at once; several files, or a PREFIX ending in /, keep their names; FILE - is stdin; --resume continues an interrupted upload',
    options: ['recursive', 'content-type', 'jobs', 'resume'],
    args: [2, MANY],
    run: put,
  },
  get: {
    usage: 'get KEY [DEST] [--recursive] [--force] [--jobs N]',
    summary:
      'download an object (every object under a folder with --recursive, N at once) into DEST, default the current directory; DEST - is stdout',
    options: ['recursive', 'force', 'jobs'],
    args: [1, 2],
    run: get,
  },
  sync: {
    usage:
      'sync SRC DST [--delete] [--dry-run] [--checksum | --size-only] [--include GLOB]... [--exclude GLOB]... [--jobs N]',
    summary:
      'make DST like SRC, one a local directory and the other s3:PREFIX, sending only files that differ (size and mtime; content with --checksum); --delete removes what SRC lacks',
    options: ['delete', 'dry-run', 'checksum', 'size-only', 'include', 'exclude', 'jobs'],
    args: [2, 2],
    run: sync,
  },
  cat: {
    usage: 'cat KEY',
    summary: 'write an object to standard output, as it arrives (get KEY -)',
    options: [],
    args: [1, 1],
    run: cat,
  },
  ls: {
    usage: 'ls [PREFIX] [--recursive] [--long [--human]]',
    summary:
      'list keys, and folders unless --recursive (then PREFIX is a folder); --long adds date and size, --human (implies --long) its unit',
    options: ['recursive', 'long', 'human'],
    args: [0, 1],
    run: ls,
  },
  du: {
    usage: 'du [PREFIX] [--human]',
    summary: 'count the objects under a folder (the whole bucket without one) and add up their sizes',
    options: ['human'],
    args: [0, 1],
    run: du,
  },
  rm: {
    usage: 'rm KEY... | rm --prefix P --yes | rm P --recursive --yes | rm --all --yes',
    summary:
      'delete objects, saying which did not exist; every object under a folder with --prefix (or --recursive), or all with --all',
    options: ['prefix', 'recursive', 'all', 'yes'],
    args: [0, MANY],
    run: rm,
  },
  stat: {
    usage: 'stat KEY',
    summary: "show an object's size, ETag, type, date and metadata",
    options: [],
    args: [1, 1],
    run: stat,
  },
  cp: {
    usage: 'cp SRC DST',
    summary: 'copy an object within the bucket, keeping its metadata',
    options: [],
    args: [2, 2],
    run: cp,
  },
  mv: {
    usage: 'mv SRC DST',
    summary: 'move an object within the bucket: a copy, then the source deleted once the copy succeeded',
    options: [],
    args: [2, 2],
    run: mv,
  },
  url: {
    usage: 'url KEY',
    summary: 'print the download link the config gives: CDN, presigned or plain',
    options: [],
    args: [1, 1],
    run: url,
  },
  presign: {
    usage: 'presign KEY [--method GET|PUT|HEAD|DELETE] [--expires SECONDS]',
    summary: 'print a presigned URL; expiry defaults to presigned_expiry_secs, or 3600 when that is 0',
    options: ['method', 'expires'],
    args: [1, 1],
    run: presign,
  },
  doctor: {
    usage: 'doctor',
    summary: 'check the config against the live endpoint, one line per check',
    options: [],
    args: [0, 0],
    run: runDoctor,
  },
};

/** Writes `text` to the stream as whole lines: a newline is added unless it ends in one (nothing for ''). */
export function write(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

// ---------------------------------------------------------------------------
// Commands

/** Uploads files, and with --recursive what directories hold, to a key or under a prefix. */
async function put(context: Context, args: string[]): Promise<number> {
  const { values } = context;
  // The client (made on first use) loads the configuration: its errors and warnings come before any about the files.
  void context.client;
  const target = args.at(-1)!;
  const sources = args.slice(0, -1);
  // A lone "/" names the bucket's top level.
  const prefix = target === '/' ? '' : target;
  if (sources.length > 1 && !target.endsWith('/'))
    throw new UsageError(`with several files the last argument is a prefix and must end in /, got "${target}"`);
  if (sources.includes(STDIO)) {
    if (sources.length > 1) throw new UsageError('put - reads standard input: it must be the only FILE');
    if (target.endsWith('/'))
      throw new UsageError(`put - reads standard input and needs a KEY, not a prefix ending in /, got "${target}"`);
  }
  // One directory is uploaded as it is walked; several sources are walked first, so two files bound for one key are
  // refused before anything is uploaded.
  if (sources.length === 1 && statSync(sources[0]!, { throwIfNoEntry: false })?.isDirectory() === true) {
    const put = await putFiles(context, uploadsUnder(sources[0]!, prefix, context), uploadHow(values));
    if (put.uploaded.length + put.failed.length === 0) context.warn(`no files under ${sources[0]}`);
    return putDone(context, put);
  }
  const uploads: Array<Upload | Failure> = [];
  for (const source of sources) {
    if (source === STDIO) {
      uploads.push({ file: STDIO, key: target, size: undefined });
      continue;
    }
    const stats = statSync(source, { throwIfNoEntry: false });
    if (stats === undefined) throw new UsageError(`${source}: no such file or directory`);
    if (stats.isDirectory()) {
      for await (const upload of uploadsUnder(source, prefix, context)) uploads.push(upload);
    } else if (stats.isFile()) {
      uploads.push({
        file: source,
        key: prefix === '' || prefix.endsWith('/') ? prefix + basename(source) : prefix,
        size: stats.size,
      });
    } else {
      throw new UsageError(`${source} is not a regular file; to upload a pipe's data, give - and send it to stdin`);
    }
  }
  refuseCollisions(uploads.filter((upload): upload is Upload => 'key' in upload));
  return putDone(context, await putFiles(context, uploads, uploadHow(values)));
}

/** What a put did, as --json reports it, and its exit status: 1 when a file failed. */
function putDone(context: Context, put: Put): number {
  context.result(put);
  // A failure may be a folder that could not be read, of files never counted.
  if (put.failed.length > 0) context.warn(`${count(put.uploaded.length)} uploaded, ${put.failed.length} failed`);
  return put.failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/** put's --content-type and --resume. */
function uploadHow(values: Values): UploadHow {
  return { contentType: values['content-type'], resume: values.resume === true };
}

/**
 * The uploads of the files under `directory`, as it is walked: each at its path below `prefix` (a folder). Without
 * --recursive a directory is refused here, before anything is walked.
 */
function uploadsUnder(directory: string, prefix: string, context: Context): AsyncGenerator<Upload | Failure> {
  if (context.values.recursive !== true)
    throw new UsageError(`${directory} is a directory; pass --recursive to upload what it holds`);
  const under = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return (async function* () {
    for await (const file of filesUnder(directory, context)) {
      if (typeof file !== 'string') {
        yield file;
        continue;
      }
      // A file deleted since the walk saw it is fromFile's to report, as for any other file.
      const size = statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      yield { file, key: under + relative(directory, file).split(sep).join('/'), size };
    }
  })();
}

/** The most files a transfer moves at once: each holds a connection, and a file's parts go 4 at a time. */
export const MAX_JOBS = 64;
/** Files at once without --jobs. */
export const DEFAULT_JOBS = 8;

/** --jobs: a whole number from 1 to MAX_JOBS; `fallback` without it. */
export function jobsOption(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const jobs = Number(value);
  if (!/^\d+$/.test(value) || jobs < 1 || jobs > MAX_JOBS)
    throw new UsageError(`--jobs takes a whole number from 1 to ${MAX_JOBS}, got "${value}"`);
  return jobs;
}

/** Two files bound for one key: the second would silently replace the first (cp(1) refuses the same). */
function refuseCollisions(uploads: readonly Upload[]): void {
  const files = new Map<string, string>();
  for (const { file, key } of uploads) {
    const first = files.get(key);
    if (first !== undefined) throw new UsageError(`${first} and ${file} would both be uploaded to ${key}`);
    files.set(key, file);
  }
}

/** Downloads an object into a file or directory, or with --recursive every object under a prefix. */
async function get(context: Context, args: string[]): Promise<number> {
  const [key, dest = '.'] = args as [string, string?];
  if (dest === STDIO) {
    if (context.values.recursive === true)
      throw new UsageError('get --recursive writes files; DEST "-" (standard output) takes one object');
    if (context.values.json === true)
      throw new UsageError('get KEY - writes the object to standard output, where --json cannot go too');
    await toStdout(context, key);
    return EXIT.ok;
  }
  if (context.values.recursive === true) {
    const { downloaded, failed } = await getTree(context, folder(key), dest);
    context.result({ downloaded, failed });
    const total = failed.length + downloaded.length;
    if (failed.length > 0) context.warn(`${failed.length} of ${total} objects not downloaded`);
    return failed.length === 0 ? EXIT.ok : EXIT.failed;
  }
  const intoDirectory =
    dest.endsWith('/') || dest.endsWith(sep) || statSync(dest, { throwIfNoEntry: false })?.isDirectory() === true;
  let file = dest;
  if (intoDirectory) {
    const name = key.split('/').at(-1)!;
    if (name === '') throw new UsageError(`"${key}" ends in /, which names a folder; use get --recursive`);
    const refusal = unsafe(key);
    if (refusal !== undefined)
      throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${key}": ${refusal}; name a DEST file to save it anyway`);
    file = join(dest, name);
  }
  const { size } = await download(context, key, file);
  context.print(`${shownKey(key)} -> ${file} (${bytes(size)})`, { downloaded: [{ key, file, size }] });
  return EXIT.ok;
}

/** Lists keys under a prefix, and the folders one level down unless --recursive. */
async function ls(context: Context, args: string[]): Promise<number> {
  const { values } = context;
  const recursive = values.recursive === true;
  // --human is about --long's sizes, so it asks for them.
  const long = values.long === true || values.human === true;
  // Without --recursive PREFIX is S3's own (ls site shows site/ and site2/), as one level of a listing; with it, a folder.
  const prefix = args[0] ?? '';
  for await (const page of context.client.list({
    prefix: recursive ? folder(prefix) : prefix,
    ...(recursive ? {} : { delimiter: '/' }),
    signal: context.signal,
  })) {
    // Keys are shown with control characters escaped, as ls(1) does: a key holding ESC or LF must not drive the
    // terminal or pass for two keys. JSON carries them as they are.
    for (const prefix of page.prefixes)
      context.print(long ? `${''.padEnd(19)}  ${'DIR'.padStart(12)}  ${shownKey(prefix)}` : shownKey(prefix), {
        prefix,
      });
    for (const object of page.objects) {
      const date = object.lastModified.toISOString().slice(0, 19).replace('T', ' ');
      const key = shownKey(object.key);
      const size = values.human === true ? bytes(object.size) : String(object.size);
      context.print(long ? `${date}  ${size.padStart(12)}  ${key}` : key, {
        key: object.key,
        size: object.size,
        etag: object.etag,
        lastModified: object.lastModified.toISOString(),
      });
    }
  }
  return EXIT.ok;
}

/**
 * Deletes the keys named, or with --prefix and --yes every object under the folder, or with --all and --yes every
 * object, a page at a time. An empty prefix (an unset shell variable, say) is refused rather than taken as the bucket.
 */
async function rm(context: Context, args: string[]): Promise<number> {
  const { values } = context;
  // rm P --recursive is rm --prefix P, guard included.
  if (values.recursive === true) {
    if (values.prefix !== undefined) throw new UsageError('--recursive names its folder as P; it takes no --prefix');
    if (args.length !== 1) throw new UsageError(`rm --recursive takes one folder P, got ${args.length}`);
    return rm({ ...context, values: { ...values, recursive: false, prefix: args[0]! } }, []);
  }
  if (values.all === true) {
    if (values.prefix !== undefined) throw new UsageError('--all deletes the whole bucket; it takes no --prefix');
    if (args.length > 0) throw new UsageError('rm takes keys or --all, not both');
    if (values.yes !== true) throw new UsageError('rm --all deletes every object in the bucket; add --yes to confirm');
    return removed(context, await removeUnder(context, ''));
  }
  if (values.prefix !== undefined) {
    if (args.length > 0) throw new UsageError('rm takes keys or --prefix, not both');
    const under = folder(values.prefix);
    if (under === '')
      throw new UsageError(
        `an empty --prefix names the whole bucket; to delete every object pass --all --yes, got "${values.prefix}"`,
      );
    if (values.yes !== true)
      throw new UsageError(`rm --prefix "${under}" deletes every object under it; add --yes to confirm`);
    const removal = await removeUnder(context, under);
    // A folder that held nothing may be an object's key given where a folder was meant: said, and kept.
    if (removal.deleted.length === 0 && under !== values.prefix && (await context.client.exists(values.prefix))) {
      context.warn(
        `"${shownKey(values.prefix)}" is an object, not a folder, and was kept; rm "${shownKey(values.prefix)}" deletes it`,
      );
    }
    return removed(context, removal);
  }
  if (args.length === 0) throw new UsageError('rm needs KEY..., --prefix P --yes or --all --yes');
  if (values.yes !== undefined) throw new UsageError('--yes goes with --prefix or --all');
  return removed(context, await removeKeys(context, [...new Set(args)]));
}

interface Removal {
  deleted: string[];
  /** Keys that did not exist: S3's DeleteObject succeeds for them, so they are looked up first. */
  missing: string[];
  errors: Array<{ key: string; code: string; message: string }>;
}

/** Every object under `prefix`, page by page: a large prefix is never held in memory at once. */
async function removeUnder({ client, signal }: Context, prefix: string): Promise<Removal> {
  const removal: Removal = { deleted: [], missing: [], errors: [] };
  for await (const page of client.list({ prefix, signal })) {
    if (page.objects.length === 0) continue;
    const result = await client.deleteMany(
      page.objects.map((o) => o.key),
      { signal },
    );
    removal.deleted.push(...result.deleted);
    removal.errors.push(...result.errors);
  }
  return removal;
}

/** HEAD requests in flight at once while rm looks its keys up. */
const LOOKUPS = 8;

/**
 * The keys named, after a HEAD of each (one request per key, LOOKUPS at a time) to tell the ones that did not
 * exist: S3's DeleteObject and DeleteObjects report a missing key as deleted (S3 API Reference, DeleteObject).
 * Only the ones found are deleted. A key created between its HEAD and the delete is deleted but said missing.
 */
async function removeKeys(context: Context, keys: string[]): Promise<Removal> {
  const { client, signal } = context;
  const found = new Set<string>();
  await eachAtOnce(keys, LOOKUPS, async (key) => {
    if (await present(context, key)) found.add(key);
  });
  const existing = keys.filter((key) => found.has(key));
  const removal: Removal = { deleted: [], missing: keys.filter((key) => !found.has(key)), errors: [] };
  if (existing.length === 1) {
    await client.delete(existing[0]!, { signal });
    removal.deleted.push(existing[0]!);
  } else if (existing.length > 1) {
    const result = await client.deleteMany(existing, { signal });
    removal.deleted.push(...result.deleted);
    removal.errors.push(...result.errors);
  }
  return removal;
}

/**
 * Whether the key exists; true when the server will not say: without s3:ListBucket (the reference's minimum
 * policy) S3 answers a HEAD of a missing key with 403, not 404 (S3 API Reference, HeadObject, "Permissions").
 */
async function present({ client, signal, warn }: Context, key: string): Promise<boolean> {
  try {
    return await client.exists(key, { signal });
  } catch (error) {
    if (!(error instanceof S3Error) || error.status !== 403) throw error;
    warn(`could not tell whether "${shownKey(key)}" exists (HEAD: 403 ${error.code}); deleting it anyway`);
    return true;
  }
}

/** Reports what rm did; exit 1 when a key did not exist or could not be deleted, as rm(1) does. */
function removed(context: Context, { deleted, missing, errors }: Removal): number {
  for (const key of missing) context.warn(`"${shownKey(key)}" did not exist`);
  for (const error of errors)
    context.warn(`could not delete "${shownKey(error.key)}": ${error.code}: ${error.message}`);
  const absent = missing.length === 0 ? '' : `; ${missing.length} did not exist`;
  context.print(`deleted ${deleted.length} object${deleted.length === 1 ? '' : 's'}${absent}`, {
    deleted,
    missing,
    errors,
  });
  return errors.length === 0 && missing.length === 0 ? EXIT.ok : EXIT.failed;
}

/** Shows an object's size, ETag, content type, date and metadata. */
async function stat(context: Context, [key]: string[]): Promise<number> {
  const info: ObjectInfo = await context.client
    .head(key!, { signal: context.signal })
    .catch((error: unknown) => folderHint(context, key!, error));
  const lines = [
    `key:           ${shownKey(info.key)}`,
    `size:          ${info.size} (${bytes(info.size)})`,
    `etag:          ${info.etag}`,
    `content-type:  ${info.contentType ?? ''}`,
    `last-modified: ${info.lastModified?.toISOString() ?? ''}`,
    ...Object.entries(info.metadata).map(([name, value]) => `meta ${name}: ${value}`),
  ];
  context.print(lines.join('\n'), { ...info, lastModified: info.lastModified?.toISOString() });
  return EXIT.ok;
}

/**
 * A 404 for a name that objects lie under (`site` or `site/`) says it is a folder: S3 has no directories, only keys
 * that share a prefix, so nothing else would tell the user why a folder they can list "does not exist".
 */
async function folderHint(context: Context, key: string, error: unknown): Promise<never> {
  const prefix = folder(key);
  if (!(error instanceof S3Error) || error.status !== 404 || error.hint !== undefined || prefix === '') throw error;
  const first = await context.client.list({ prefix, pageSize: 1, signal: context.signal }).next();
  if (first.done === true || first.value.objects.length === 0) throw error;
  const hint = `no object is named "${shownKey(key)}", but objects are under "${shownKey(prefix)}": s3v4 ls ${shownKey(prefix)}, or s3v4 du ${shownKey(prefix)}`;
  const { code, status, request, requestId, hostId } = error;
  // The same error with a hint: its message is S3Error's own, "REQUEST: STATUS CODE: message".
  const message = error.message.slice(`${request}: ${status} ${code}: `.length);
  throw new S3Error({ code, status, message, request, requestId, hostId, hint });
}

/** Copies an object within the bucket. */
async function cp(context: Context, [from, destination]: string[]): Promise<number> {
  const { to, etag } = await copied(context, from!, destination!);
  context.print(`${shownKey(from!)} -> ${shownKey(to)}`, { from, to, etag });
  return EXIT.ok;
}

/** Copies `from` to `destination`; one ending in / is a folder, as for put: the copy keeps the source's name. */
async function copied(context: Context, from: string, destination: string): Promise<{ to: string; etag: string }> {
  const to = destination.endsWith('/') ? destination + from.slice(from.lastIndexOf('/') + 1) : destination;
  if (to === from) throw new UsageError(`"${from}" is both SRC and DST`);
  const result = await context.client.copy(from, to, { signal: context.signal });
  return { to, etag: result.etag };
}

/** cp, then the source deleted: only once the copy succeeded, so a failure leaves the source where it was. */
async function mv(context: Context, [from, destination]: string[]): Promise<number> {
  const { to, etag } = await copied(context, from!, destination!);
  await context.client.delete(from!, { signal: context.signal }).catch((error: unknown) => {
    // Nothing is lost, but the move is half done: said before the error, so the user knows both keys now exist.
    context.warn(`"${shownKey(to)}" is a complete copy, but "${shownKey(from!)}" was not deleted`);
    throw error;
  });
  context.print(`${shownKey(from!)} -> ${shownKey(to)}`, { from, to, etag });
  return EXIT.ok;
}

/** "1 file", "2 files". */
function count(n: number): string {
  return `${n} file${n === 1 ? '' : 's'}`;
}

/** How sync's SRC or DST names the bucket's side: `s3:site/`, `s3:/` for its top level. */
const REMOTE = 's3:';

/** Makes DST like SRC, a local directory and a folder of the bucket, in either direction (sync.ts). */
async function sync(context: Context, [from, to]: string[]): Promise<number> {
  const { values } = context;
  const up = !from!.startsWith(REMOTE);
  if (up === !to!.startsWith(REMOTE))
    throw new UsageError(`sync takes one local directory and one ${REMOTE}PREFIX, got "${from}" and "${to}"`);
  if (values.checksum === true && values['size-only'] === true)
    throw new UsageError('--checksum compares content and --size-only only sizes: pass one of them');
  const [local, named] = up ? [from!, to!.slice(REMOTE.length)] : [to!, from!.slice(REMOTE.length)];
  // An unset shell variable (s3:$DIR) must not turn --delete on the whole bucket.
  if (named === '' && values.delete === true && up)
    throw new UsageError(`"${REMOTE}" names the whole bucket; write ${REMOTE}/ to sync --delete at its top level`);
  // s3:/web is web/, as s3:/ is the top level. An empty, "." or ".." part would make keys no download can place.
  const prefix = folder(named.replace(/^\/+/, ''));
  const parts = prefix.split('/').slice(0, -1);
  if (parts.some((part) => part === '' || part === '.' || part === '..'))
    throw new UsageError(`${REMOTE}${named} has an empty, "." or ".." part; name the folder plainly, as s3:site/docs`);
  const stats = localStats(local);
  if (up && stats === undefined) throw new UsageError(`${local}: no such directory`);
  if (stats !== undefined && !stats.isDirectory()) throw new UsageError(`${local} is not a directory; sync takes one`);
  const [{ pathFilter }, { cacheHome }] = await Promise.all([import('./globs.js'), import('./records.js')]);
  const options: SyncOptions = {
    comparison: values.checksum === true ? 'checksum' : values['size-only'] === true ? 'size' : 'mtime',
    delete: values.delete === true,
    dryRun: values['dry-run'] === true,
    filter: pathFilter(values.include ?? [], values.exclude ?? []),
    records: cacheHome(),
  };
  const { syncDown, syncUp } = await import('./sync.js');
  const result = up ? await syncUp(context, local, prefix, options) : await syncDown(context, prefix, local, options);
  context.print(syncSummary(result, up), result);
  if (result.failed.length > 0) context.warn(`${count(result.failed.length)} failed`);
  return result.failed.length === 0 ? EXIT.ok : EXIT.failed;
}

/** What is at a local path of sync, if anything; a path that cannot be looked at (a file in its way) is refused. */
function localStats(path: string): ReturnType<typeof statSync> {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch (error) {
    throw new UsageError(`${path} cannot be used (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/** "uploaded 3 files (12 KiB), deleted 1, 997 unchanged"; "nothing to do: 1000 files unchanged" when so. */
function syncSummary(result: SyncResult, up: boolean): string {
  const moved = up ? result.uploaded : result.downloaded;
  const size = bytes(moved.reduce((total, file) => total + file.size, 0));
  const deleted = result.deleted.length;
  if (moved.length === 0 && deleted === 0 && result.failed.length === 0)
    return `nothing to do: ${count(result.unchanged)} unchanged${result.dryRun ? ' (dry run)' : ''}`;
  const verb = up ? 'upload' : 'download';
  if (result.dryRun)
    return `dry run: would ${verb} ${count(moved.length)} (${size}) and delete ${deleted}; ${result.unchanged} unchanged`;
  return `${verb}ed ${count(moved.length)} (${size}), deleted ${deleted}, ${result.unchanged} unchanged`;
}

/** `get KEY -`. */
function cat(context: Context, [key]: string[]): Promise<number> {
  return get(context, [key!, STDIO]);
}

/** Counts the objects under a folder, listed page by page, and adds up their sizes. */
async function du(context: Context, args: string[]): Promise<number> {
  const prefix = folder(args[0] ?? '');
  let objects = 0;
  let total = 0;
  for await (const page of context.client.list({ prefix, signal: context.signal })) {
    for (const object of page.objects) {
      objects++;
      total += object.size;
    }
  }
  const size = context.values.human === true ? bytes(total) : `${total} bytes`;
  const where = prefix === '' ? 'the bucket' : shownKey(prefix);
  context.print(`${objects} objects  ${size}  ${where}`, { prefix, objects, bytes: total });
  return EXIT.ok;
}

/** A presigned URL's life in seconds, as it says: temporary credentials cut it to theirs. */
function urlExpiry(link: string): number {
  return Number(new URL(link).searchParams.get('X-Amz-Expires'));
}

/** Prints the download link the configuration gives a key, and its kind. */
async function url(context: Context, [key]: string[]): Promise<number> {
  const { config } = context.client;
  const kind = linkKind(config);
  // Presigning is synchronous: credentials from the chain are fetched first.
  await context.client.credentials({ signal: context.signal });
  const link = context.client.downloadUrl(key!);
  context.print(link, { key, url: link, kind, ...(kind === 'presigned' ? { expiresIn: urlExpiry(link) } : {}) });
  return EXIT.ok;
}

/** Prints a presigned URL for --method, valid for --expires seconds or the configuration's default. */
async function presign(context: Context, [key]: string[]): Promise<number> {
  const method = (context.values.method ?? 'GET').toUpperCase();
  if (!['GET', 'PUT', 'HEAD', 'DELETE'].includes(method))
    throw new UsageError(`--method must be GET, PUT, HEAD or DELETE, got "${context.values.method}"`);
  const expires = context.values.expires;
  // Checked here too, so the message names the flag rather than the library's expiresIn.
  if (
    expires !== undefined &&
    (!/^\d+$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_EXPIRY)
  ) {
    throw new UsageError(
      `--expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_EXPIRY}, got "${expires}"`,
    );
  }
  // Endpoint.presign's own default, worked out here too.
  const expiresIn = presignExpiry(context.client.config, expires === undefined ? undefined : Number(expires));
  await context.client.credentials({ signal: context.signal });
  const link = context.client.presign(key!, { method, expiresIn });
  context.print(link, { key, url: link, method, expiresIn: urlExpiry(link) });
  return EXIT.ok;
}

/** Checks the configuration against the live endpoint, a line per check; exit 2 when the config itself fails. */
async function runDoctor({ configPath, values, signal }: Context): Promise<number> {
  const json = values.json === true;
  const { doctor } = await import('./doctor.js');
  const line = (check: Check) => {
    // Continuation lines (a CredentialsError's list of sources) and the fix line start under the detail column.
    const indent = `\n${''.padEnd(19)}`;
    const fix = check.fix === undefined ? '' : `${indent}fix: ${check.fix}`;
    const mark = check.ok ? 'ok  ' : check.skipped === true ? 'skip' : 'FAIL';
    return `${mark}  ${check.name.padEnd(11)}  ${check.detail.replaceAll('\n', indent)}${fix}`;
  };
  const checks = await doctor(configPath, {
    signal,
    ...(json ? {} : { report: (check: Check) => write(process.stdout, line(check)) }),
  });
  const ok = checks.every((check) => check.ok);
  if (json) write(process.stdout, JSON.stringify({ ok, checks }));
  const failed = checks.filter((c) => !c.ok && c.skipped !== true);
  const skipped = checks.filter((c) => c.skipped === true);
  const names = (list: Check[]) => list.map((c) => c.name).join(', ');
  // A failure is also said on stderr, as every failing command does; the fixes are in the report above it.
  if (ok) write(process.stdout, json ? '' : `all ${checks.length} checks passed`);
  else
    write(
      process.stderr,
      `s3v4: ${failed.length} of ${checks.length} checks failed: ${names(failed)}` +
        (skipped.length === 0 ? '' : `; ${skipped.length} skipped: ${names(skipped)}`),
    );
  if (!ok && checks[0]?.name === 'config' && !checks[0].ok) return EXIT.usage;
  return ok ? EXIT.ok : EXIT.failed;
}
