/**
 * The `s3v4` command's transfers between the bucket and local files: one
 * object into a file (client.download, a temporary file renamed into place), every object
 * under a prefix into a directory (refusing keys that would land outside it),
 * the files of a recursive put and the upload loop, standard input and output
 * as `-`, with a progress bar when stderr is a terminal: one per file, or one
 * line for a whole transfer of many files. Many files go `jobs` at a time, taken
 * from the walk or the listing as it goes, so neither is held whole. They know a client
 * and an abort signal, not the command line. Only the client's types are imported here: its module (and
 * undici with it) is loaded by whoever makes the client.
 */
import { type Dirent, existsSync, mkdirSync, realpathSync, rmdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fromFile } from './bodies.js';
import type { S3Client } from './client.js';
import { type DownloadResult, PARTIAL_SUFFIX } from './download.js';
import { AbortError, InvalidArgumentError, S3v4Error, SourceError } from './errors.js';
import { MTIME, mtimeValue } from './mtime.js';
import { shownKey } from './replies.js';

/** What the transfers need from their caller: the CLI's Context is one. */
export interface Transfer {
  readonly client: S3Client;
  /** Aborted on Ctrl-C: multipart uploads are aborted and partial downloads removed. */
  signal: AbortSignal;
  /** Whether a download may replace an existing file (--force). */
  force: boolean;
  /** How many files a transfer of many moves at once (--jobs). */
  jobs: number;
  /** A line for people only, such as one per file of a transfer whose JSON comes at the end. */
  line: (human: string) => void;
  /** Reports a problem that does not stop the command (a refused key in a recursive get, say). */
  warn: (message: string) => void;
}

/** `-` as a FILE of put or the DEST of get: standard input or output. */
export const STDIO = '-';

/** One file of a put and the key it goes to. */
export interface Upload {
  /** A path, or STDIO. */
  file: string;
  key: string;
  /** Undefined for standard input, whose length is known only at its end. */
  size: number | undefined;
}

/** A prefix as a folder: `site` means `site/`, never `site2/`; "" and "/" are the bucket's top level. */
export function folder(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** What a recursive get did, as --json reports it. */
interface Tree {
  downloaded: Array<{ key: string; file: string; size: number }>;
  failed: Array<{ key: string; message: string }>;
}

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

// ---------------------------------------------------------------------------
// Uploads

/** A file a transfer of many could not take, and why. */
export interface Failure {
  file: string;
  message: string;
}

/**
 * A directory's entries, sorted by name. A name that is not UTF-8 is left out, with a warning: Node decodes its bytes
 * to U+FFFD, so the file cannot be opened by the name it gets, and no S3 key (UTF-8, S3 User Guide: "Naming objects")
 * could hold the name it has.
 */
export async function directoryEntries(directory: string, warn: (message: string) => void): Promise<Dirent[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const lossy = entries.some((entry) => entry.name.includes('\uFFFD')) ? await undecodable(directory) : undefined;
  const kept = entries.filter((entry) => {
    if (lossy?.has(entry.name) !== true) return true;
    warn(`skipped ${join(directory, entry.name)}: its name is not UTF-8, which no key can hold (rename it)`);
    return false;
  });
  return kept.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The names in the directory that are not UTF-8, as Node decodes them. */
async function undecodable(directory: string): Promise<Set<string>> {
  const raw = await readdir(directory, { encoding: 'buffer' });
  return new Set(raw.filter((name) => !Buffer.from(name.toString()).equals(name)).map((name) => name.toString()));
}

/**
 * Regular files under a directory, one directory read at a time, each sorted by name; symbolic links and other
 * special files are skipped with a warning. A directory below it that cannot be read (gone since, or not allowed)
 * comes as a Failure, and the walk goes on.
 */
export async function* filesUnder(
  directory: string,
  transfer: Pick<Transfer, 'warn'>,
  top = true,
): AsyncGenerator<string | Failure> {
  let entries: Dirent[];
  try {
    entries = await directoryEntries(directory, transfer.warn);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (top) throw error;
    yield { file: directory, message: `cannot read the directory ${directory} (${code ?? message}); skipped` };
    return;
  }
  for (const entry of entries) {
    const path = join(directory, entry.name);
    // A download's temporary file, left by a crash, is not the user's file to upload.
    if (entry.isFile() && entry.name.endsWith(PARTIAL_SUFFIX)) transfer.warn(`skipped ${path}: an unfinished download`);
    else if (entry.isFile()) yield path;
    else if (entry.isDirectory()) yield* filesUnder(path, transfer, false);
    else transfer.warn(`skipped ${path}: not a regular file`);
  }
}

/**
 * Runs `work` on the items as they come, at most `jobs` at once. The first failure (of `work` or of the items'
 * source) stops new work; the jobs already running finish, so every object is whole or aborted, and then the
 * failure is thrown.
 */
export async function eachAtOnce<T>(
  items: AsyncIterable<T> | Iterable<T>,
  jobs: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined) {
      try {
        const next = await iterator.next();
        if (next.done === true) return;
        await work(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  if (failure !== undefined) {
    await iterator.return?.();
    throw failure.error;
  }
}

/** An upload done: its size (standard input's, counted) and ETag, and with --resume what it kept. */
export type Uploaded = Upload & { size: number; etag: string; resumed?: { parts: number; bytes: number } };

/** What a put of files did, as --json reports it. */
export interface Put {
  uploaded: Uploaded[];
  failed: Failure[];
}

/**
 * Uploads the files, `transfer.jobs` at once, a line each; typed `contentType`, else by extension. Resolves to their
 * sizes and ETags, in the order the files came. Standard input is streamed as it arrives: of unknown length, it goes
 * through multipart (client.put), a few parts in memory at a time. One file has a bar of its own, and its failure
 * is the command's; many share one line, and one that fails (skippable()) is warned about while the others go on,
 * as get --recursive does.
 */
export async function putFiles(
  transfer: Transfer,
  uploads: AsyncIterable<Upload | Failure> | ReadonlyArray<Upload | Failure>,
  how: UploadHow,
): Promise<Put> {
  const single = Array.isArray(uploads) && uploads.length === 1;
  const all = single ? undefined : bulkProgress(transfer);
  const done: Array<Uploaded | undefined> = [];
  const failed: Put['failed'] = [];
  let order = 0;
  const failure = (file: string, message: string) => {
    failed.push({ file, message });
    (all?.warn ?? transfer.warn)(message);
  };
  const each = async function* () {
    for await (const upload of uploads) {
      if ('message' in upload) failure(upload.file, upload.message);
      else {
        all?.found(upload.size ?? 0);
        yield { upload, at: order++ };
      }
    }
    all?.listed();
  };
  try {
    await eachAtOnce(each(), single ? 1 : transfer.jobs, async ({ upload, at }) => {
      try {
        done[at] = (await uploadFile(transfer, upload, how, all)).uploaded;
      } catch (error) {
        if (all === undefined || !skippable(error, transfer.signal)) throw error;
        all.finished();
        failure(upload.file, (error as Error).message);
      }
    });
  } finally {
    all?.end();
  }
  return { uploaded: done.filter((upload) => upload !== undefined), failed };
}

/** How files are uploaded. */
export interface UploadHow {
  /** The type of every file (--content-type); else by extension. */
  contentType?: string | undefined;
  /** Continues an unfinished upload of each key, and keeps one that fails (--resume; PutOptions.resume). */
  resume?: boolean | undefined;
}

/** An upload done, and what a sync records of it: the file's time the object stores, and the reply's Date. */
export interface Written {
  uploaded: Uploaded;
  /** Undefined for standard input. */
  mtimeMs: number | undefined;
  date: Date | undefined;
}

/**
 * Uploads one file (or standard input) and writes its line: with a bar of its own, or on the shared line `all`, where
 * it then counts as done.
 */
export async function uploadFile(
  transfer: Transfer,
  upload: Upload,
  how: UploadHow,
  all: BulkProgress | undefined,
): Promise<Written> {
  const bar = all ?? progress(shownKey(upload.key), upload.size);
  const type = how.contentType ?? CONTENT_TYPES[extname(upload.file).toLowerCase()];
  const read = { bytes: 0 };
  const body = upload.file === STDIO ? counted(process.stdin, read) : walkedFile(upload.file, all !== undefined);
  // A file's modification time goes with it (mtime.ts), for sync and for a later get: the time of the version the
  // upload reads, since the body checks at every read that the file is still that version.
  const mtimeMs = isIterable(body) ? undefined : body.version.mtimeMs;
  const metadata = mtimeMs === undefined ? undefined : { [MTIME]: mtimeValue(mtimeMs) };
  let sent = 0;
  let uploaded: Uploaded;
  let date: Date | undefined;
  try {
    const result = await transfer.client.put(upload.key, body, {
      ...(type === undefined ? {} : { contentType: type }),
      ...(metadata === undefined ? {} : { metadata }),
      ...(how.resume === true ? { resume: true } : {}),
      signal: transfer.signal,
      onProgress: ({ loaded }) => {
        bar.moved(loaded - sent);
        sent = loaded;
      },
    });
    date = result.date;
    uploaded = {
      ...upload,
      size: upload.size ?? read.bytes,
      etag: result.etag,
      ...(result.resumed === undefined ? {} : { resumed: result.resumed }),
    };
  } catch (error) {
    bar.moved(-sent);
    // One of many files, whose key is made from its path: the file is what the user can rename.
    if (all !== undefined && error instanceof InvalidArgumentError && error.argument === 'key')
      throw new InvalidArgumentError(upload.file, `its key ${error.message.slice('key: '.length)}`);
    throw error;
  } finally {
    if (all === undefined) bar.end();
  }
  const kept = uploaded.resumed?.parts;
  const resumed = kept === undefined ? '' : `, resumed: ${kept} part${kept === 1 ? '' : 's'} kept`;
  (all?.line ?? transfer.line)(
    `${shownKey(upload.file)} -> ${shownKey(upload.key)} (${bytes(uploaded.size)}${resumed})`,
  );
  all?.finished();
  return { uploaded, mtimeMs, date };
}

function isIterable(body: object): body is AsyncIterable<Buffer> {
  return Symbol.asyncIterator in body;
}

/**
 * fromFile(), for a file of a transfer of many (`many`): one gone or unreadable by its turn (deleted since the walk,
 * say) is the source's failure (SourceError, exit 1), not the bad argument it is when one file is named and missing.
 */
function walkedFile(file: string, many: boolean): ReturnType<typeof fromFile> {
  try {
    return fromFile(file);
  } catch (error) {
    if (!many || !(error instanceof InvalidArgumentError)) throw error;
    throw new SourceError(file, error.message.replace(`path: ${file} `, ''), error);
  }
}

/** The stream's chunks as they come, with their bytes added up in `read`. */
async function* counted(stream: AsyncIterable<Buffer>, read: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const chunk of stream) {
    read.bytes += chunk.length;
    yield chunk;
  }
}

// ---------------------------------------------------------------------------
// Downloads

/**
 * Every object under a prefix (a folder: see folder()) into a directory, each
 * at its key's path below the prefix, `transfer.jobs` at once while the
 * listing goes on; keys that would land outside are refused. An object that
 * fails is warned about and the others still come.
 */
export async function getTree(transfer: Transfer, prefix: string, dest: string): Promise<Tree> {
  const tree = treeRoot(dest);
  const downloaded: Array<Tree['downloaded'][number] | undefined> = [];
  const failed: Tree['failed'] = [];
  const all = bulkProgress(transfer);
  let listed = 0;
  const objects = async function* () {
    for await (const page of transfer.client.list({ prefix, signal: transfer.signal })) {
      for (const object of page.objects) {
        // A key ending in / is a folder marker made by consoles, not a file.
        if (object.key.endsWith('/')) continue;
        all.found(object.size);
        yield { object, at: listed++ };
      }
    }
    all.listed();
  };
  try {
    await eachAtOnce(objects(), transfer.jobs, async ({ object, at }) => {
      try {
        const { key, file, size } = await downloadBelow(transfer, tree, object, object.key.slice(prefix.length), all);
        downloaded[at] = { key, file, size };
      } catch (error) {
        if (!skippable(error, transfer.signal)) throw error;
        failed.push({ key: object.key, message: (error as Error).message });
        all.warn((error as Error).message);
      }
    });
  } finally {
    all.end();
  }
  if (listed === 0) {
    transfer.warn(`no objects under "${shownKey(prefix)}"`);
    unmakeTree(tree);
  }
  // In the listing's order, whatever order the downloads finished in.
  return { downloaded: downloaded.filter((entry) => entry !== undefined), failed };
}

/**
 * Whether a failure of one file of many skips that file rather than stopping the transfer: a refusal or a file-system
 * error does; an abort, or anything unforeseen, stops it.
 */
export function skippable(error: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return false;
  return error instanceof S3v4Error || (error as NodeJS.ErrnoException).code !== undefined;
}

/** Where a tree of objects goes: DEST as named and as resolved, and the directories inside it already checked. */
export interface TreeRoot {
  readonly dest: string;
  readonly root: string;
  /** Directories already found inside DEST: a tree's files share a few, and each check is several system calls. */
  readonly checked: Set<string>;
  /** The first directory made for DEST, resolved, if DEST did not exist. */
  readonly made?: string | undefined;
}

/** DEST made, and resolved once. */
export function treeRoot(dest: string): TreeRoot {
  // mkdirSync gives the first directory it made as named (relative if DEST is).
  const made = mkdirSync(dest, { recursive: true });
  return { dest, root: realpathSync(dest), checked: new Set(), made: made === undefined ? undefined : resolve(made) };
}

/**
 * Removes what treeRoot() made for a transfer that brought nothing: DEST and its parents up to the first directory
 * it made, never above, each only while empty. A command that found nothing to fetch leaves no trace.
 */
export function unmakeTree(tree: TreeRoot): void {
  const { made } = tree;
  if (made === undefined) return;
  for (let directory = resolve(tree.dest); directory === made || directory.startsWith(`${made}${sep}`); ) {
    try {
      rmdirSync(directory);
    } catch {
      return;
    }
    directory = dirname(directory);
  }
}

/** An object downloaded below a tree's root: its key, the file as the user named it, and what the download gave it. */
export interface Downloaded {
  key: string;
  file: string;
  size: number;
  etag: string;
  /** The modification time the file was given (DownloadResult.mtimeMs). */
  mtimeMs: number | undefined;
}

/**
 * Downloads the object to `path` below the tree's root, on the shared line, and writes its line; a path that would
 * land outside the root, itself or through a symbolic link, is refused before anything is created.
 */
export async function downloadBelow(
  transfer: Transfer,
  tree: TreeRoot,
  object: { key: string; size: number },
  path: string,
  all: BulkProgress,
): Promise<Downloaded> {
  const { root, checked } = tree;
  const file = join(root, path);
  const refusal = unsafe(path) ?? outside(root, file);
  if (refusal !== undefined) throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${object.key}": ${refusal}`);
  // A directory inside DEST may be a symbolic link that leads out of it: checked before anything is created.
  const directory = dirname(file);
  if (!checked.has(directory)) {
    let existing = directory;
    while (!existsSync(existing)) existing = dirname(existing);
    const parent = outside(root, realpathSync(existing));
    if (parent !== undefined) throw new S3v4Error('ERR_S3V4_UNSAFE_KEY', `refused "${object.key}": ${parent}`);
  }
  // Written at the resolved path; reported as the user named it.
  const named = join(tree.dest, path);
  const { size, etag, mtimeMs } = await download(transfer, object.key, file, all, object.size);
  // Now a directory of the download's own making, or one found inside DEST.
  checked.add(directory);
  all.finished();
  all.line(`${shownKey(object.key)} -> ${shownKey(named)} (${bytes(object.size)})`);
  return { key: object.key, file: named, size, etag, mtimeMs };
}

/** Why a key's relative path may not become a local path, if it may not. */
export function unsafe(path: string): string | undefined {
  if (path === '') return 'it names the destination directory itself';
  if (path.startsWith('/')) return 'it is an absolute path';
  const segments = path.split('/');
  if (segments.includes('..')) return 'it has a ".." segment, which would write outside the destination';
  // a/./b would land on a/b, another key's file.
  if (segments.includes('.')) return 'it has a "." segment, which would land on another key\'s file';
  if (path.includes('\0')) return 'it holds a NUL character';
  return undefined;
}

/** Why `path` is not inside the directory `root` (or root itself), if it is not. */
export function outside(root: string, path: string): string | undefined {
  const inside = relative(root, path);
  const out = inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside);
  return out ? `it would write outside ${root}` : undefined;
}

/**
 * Downloads an object into `file` with client.download() (a temporary file renamed into place; nothing is left on
 * failure), and resolves to its result. Without --force an existing file stays. Only a regular file is ever replaced, --force or not. Progress
 * goes to `shared` (one line for a transfer of many), else to a bar of its own.
 */
export async function download(
  transfer: Transfer,
  key: string,
  file: string,
  shared?: Progress,
  listedSize?: number,
): Promise<DownloadResult> {
  const { force, signal } = transfer;
  let bar = shared;
  let received = 0;
  try {
    const result = await transfer.client.download(key, file, {
      overwrite: force,
      // The file gets the time the object keeps: what put or sync stored, else its Last-Modified (as the AWS CLI and
      // rclone do), so a sync after a get finds it unchanged.
      keepMtime: true,
      size: listedSize,
      signal,
      onProgress: ({ loaded, total }) => {
        bar ??= progress(shownKey(key), total);
        bar.moved(loaded - received);
        received = loaded;
      },
    });
    return result;
  } catch (error) {
    // What a failed download moved is not moved: a shared line counts only what arrived whole.
    bar?.moved(-received);
    if (signal.aborted) throw new AbortError(`GET ${shownKey(key)}: aborted`, error);
    throw commandLineError(error, file, shared === undefined);
  } finally {
    if (shared === undefined) bar?.end();
  }
}

/**
 * The library's refusals of a target, in the command line's words: its flag, and for a `single` get, `-` for
 * standard output.
 */
function commandLineError(error: unknown, file: string, single: boolean): unknown {
  const code = (error as S3v4Error).code;
  if (code === 'ERR_S3V4_EXISTS') return new S3v4Error(code, `${file} exists; pass --force to overwrite it`);
  if (code === 'ERR_S3V4_NOT_A_FILE' && single)
    return new S3v4Error(code, `${(error as Error).message}; for standard output name DEST "-"`);
  return error;
}

/**
 * Streams an object to standard output, as it arrives; a closed stdout stops it (see cli.ts). Fails unless exactly
 * its size arrived. Resolves to the bytes received.
 */
export async function toStdout(transfer: Transfer, key: string): Promise<number> {
  const { signal } = transfer;
  const reply = await transfer.client.get(key, { signal });
  // A chunked reply does not say its size: the bar then counts bytes against what has arrived.
  const bar = progress(shownKey(key), reply.size);
  let received = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      bar.moved(chunk.length);
      callback(null, chunk);
    },
  });
  try {
    // Standard output stays open: the process's own, it is not this transfer's to end.
    await pipeline(reply.body, count, process.stdout, { signal, end: false });
    // Without a size to compare, HTTP's own framing says the body is whole: undici fails a chunked body cut short.
    if (reply.size !== undefined && received !== reply.size) {
      throw new S3v4Error('ERR_S3V4_TRUNCATED', `GET ${shownKey(key)}: received ${received} of ${reply.size} bytes`);
    }
    return received;
  } catch (error) {
    throw signal.aborted ? new AbortError(`GET ${shownKey(key)}: aborted`, error) : error;
  } finally {
    bar.end();
  }
}

// ---------------------------------------------------------------------------
// Progress

/** Progress on stderr: bytes moved (negative when a failed transfer takes back what it had counted), and the end. */
export interface Progress {
  moved(bytes: number): void;
  end(): void;
}

/**
 * Redraws at most this often, and whenever progress arrives this long after the last frame; the last frame is drawn
 * at the end, whenever it comes.
 */
const REDRAW_MS = 100;

/** Cells of the bar: at most, and the fewest kept beside a label. */
const BAR_CELLS = { most: 20, least: 10 } as const;

/** The fewest characters of a label kept beside the bar (the label's end, "…" before it). */
const LABEL_CELLS = 12;

/**
 * A progress bar on stderr (bytes, rate, ETA; only bytes and rate when the total is unknown) when stderr is a
 * terminal; silent otherwise. Each frame fits the terminal's width, read at every frame (a resize is followed).
 */
function progress(label: string, total: number | undefined): Progress {
  const stream = process.stderr;
  if (!stream.isTTY) return { moved() {}, end() {} };
  const started = performance.now();
  let drawn = Number.NEGATIVE_INFINITY;
  let loaded = 0;
  const draw = () => {
    drawn = performance.now();
    const seconds = (drawn - started) / 1000;
    const rate = seconds > 0 ? loaded / seconds : 0;
    stream.write(`\r\x1b[K${frame(columns(stream), label, loaded, total, rate)}`);
  };
  return {
    moved(bytes) {
      loaded += bytes;
      if (performance.now() - drawn >= REDRAW_MS) draw();
    },
    end() {
      draw();
      stream.write('\n');
    },
  };
}

/** The one progress line of a transfer of many files, which also prints their lines and warnings above itself. */
export interface BulkProgress extends Progress {
  /** A file or object the walk or listing found, of `size` bytes. */
  found(size: number): void;
  /** The walk or listing is over: the totals are known. */
  listed(): void;
  /** A file is done, or failed. */
  finished(): void;
  /** A file found and not moved (a sync's unchanged file, or a dry run's): done, its bytes no longer expected. */
  passed(size: number): void;
  line(human: string): void;
  warn(message: string): void;
}

/**
 * One line on stderr for a whole transfer when stderr is a terminal: files done and found, bytes, rate, and the ETA
 * once the listing is over (`+` marks totals still growing). Lines and warnings are written above it.
 */
export function bulkProgress(transfer: Pick<Transfer, 'line' | 'warn'>): BulkProgress {
  const stream = process.stderr;
  const started = performance.now();
  let drawn = Number.NEGATIVE_INFINITY;
  let loaded = 0;
  let files = 0;
  let found = 0;
  let foundBytes = 0;
  let complete = false;
  const draw = () => {
    drawn = performance.now();
    const seconds = (drawn - started) / 1000;
    const rate = seconds > 0 ? loaded / seconds : 0;
    const more = complete ? '' : '+';
    const count = `${files}/${found}${more} files`;
    const sizes = `  ${bytes(loaded)}/${bytes(foundBytes)}${more}`;
    const speed = `  ${bytes(rate)}/s`;
    const eta = complete ? ` ETA ${rate > 0 ? `${Math.ceil(Math.max(foundBytes - loaded, 0) / rate)}s` : '--'}` : '';
    // What fits goes in by need: the ETA is left out first, then the rate, then the sizes.
    const width = columns(stream);
    const choices = [count + sizes + speed + eta, count + sizes + speed, count + sizes, count];
    const text = choices.find((choice) => choice.length <= width) ?? count.slice(0, width);
    stream.write(`\r\x1b[K${text}`);
  };
  const tty = stream.isTTY === true;
  const redraw = () => {
    if (tty && performance.now() - drawn >= REDRAW_MS) draw();
  };
  // Above the line: it is cleared, the text written, and the line drawn again.
  const above = (write: (text: string) => void) => (text: string) => {
    if (tty) stream.write('\r\x1b[K');
    write(text);
    if (tty) draw();
  };
  return {
    found(size) {
      found++;
      foundBytes += size;
      redraw();
    },
    listed() {
      complete = true;
    },
    moved(count) {
      loaded += count;
      redraw();
    },
    finished() {
      files++;
      redraw();
    },
    passed(size) {
      files++;
      foundBytes -= size;
      redraw();
    },
    line: above(transfer.line),
    warn: above(transfer.warn),
    end() {
      if (!tty) return;
      draw();
      stream.write('\n');
    },
  };
}

/**
 * The columns a frame may take: one fewer than the terminal has, since writing the last column makes many
 * terminals wrap. A terminal that reports no size (a pseudo-terminal nobody sized) falls back to $COLUMNS, then 80.
 */
function columns(stream: NodeJS.WriteStream): number {
  const reported = stream.columns || Number.parseInt(process.env.COLUMNS ?? '', 10) || 80;
  return Math.max(reported - 1, 1);
}

/**
 * One frame in `width` columns: `label  [bar] percent sizes rate ETA`. What fits goes in by need: the rate is left
 * out first, then the ETA, then the sizes; then the bar narrows; then the label goes, and last the bar.
 */
function frame(width: number, label: string, loaded: number, total: number | undefined, rate: number): string {
  const fraction = total === undefined ? undefined : total > 0 ? Math.min(1, loaded / total) : 1;
  const percent = fraction === undefined ? undefined : `${String(Math.floor(fraction * 100)).padStart(3)}%`;
  const sizes = total === undefined ? bytes(loaded) : `${bytes(loaded)}/${bytes(total)}`;
  const speed = `${bytes(rate)}/s`;
  const eta =
    total === undefined ? undefined : `ETA ${rate > 0 ? `${Math.ceil(Math.max(total - loaded, 0) / rate)}s` : '--'}`;
  const bar = (cells: number) =>
    fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * cells)).padEnd(cells, '.')}] `;
  const choices = [[percent, sizes, speed, eta], [percent, sizes, eta], [percent, sizes], [percent ?? sizes]].map(
    (facts) => facts.filter((fact) => fact !== undefined).join(' '),
  );
  const least = Math.min(label.length, LABEL_CELLS);
  for (const facts of choices) {
    // Brackets and spaces: "label  [bar] facts".
    const cells = Math.min(BAR_CELLS.most, width - facts.length - 5 - least);
    if (fraction !== undefined && cells < BAR_CELLS.least) continue;
    const room = width - bar(cells).length - facts.length - 2;
    if (room < least) continue;
    const name = label.length <= room ? label : `…${label.slice(label.length - (room - 1))}`;
    return `${name}  ${bar(cells)}${facts}`;
  }
  const facts = choices.at(-1)!;
  const cells = Math.min(BAR_CELLS.most, width - facts.length - 3);
  return (cells > 0 ? `${bar(cells)}${facts}` : facts).slice(0, width);
}

/** 1536 → "1.5 KiB". */
export function bytes(count: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = count;
  let unit = 0;
  // 1023.96 KiB shows as 1.0 MiB, not 1024.0 KiB: the unit is chosen after rounding.
  while (unit < units.length - 1 && (unit === 0 ? value >= 1024 : Number(value.toFixed(1)) >= 1024)) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}
