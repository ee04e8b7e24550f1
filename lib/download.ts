/**
 * An object into a local file: ranged GETs, a few at a time, each written at
 * its offset into a temporary file beside the target, renamed into place only
 * once every byte has arrived. The first range's reply gives the object's
 * size and ETag; every later range asks for that ETag (If-Match, RFC 9110
 * section 13.1.1), so an object replaced between two ranges is refused (412)
 * instead of stitched from two versions. On any failure the temporary file is
 * removed and the target is untouched.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, rmSync, type Stats } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { checkContentLength, positiveInteger } from './arguments.js';
import { InvalidArgumentError, S3Error, S3v4Error } from './errors.js';
import { close, fchmod, futimes, link, open, rename, unlink, writev } from './files.js';
import { type GetResult, shownKey } from './replies.js';
import { storedMtime } from './mtime.js';
import { type LinkedAbort, linkedAbort } from './signals.js';
import type { GetOptions } from './requests.js';

/** Range size, default 8 MiB, and ranges in flight, default 4: chosen with bench/transfer.ts (README, Speed). */
export const DEFAULT_RANGE_SIZE = 8 * 1024 * 1024;
export const DEFAULT_RANGES_IN_FLIGHT = 4;

export interface DownloadOptions {
  /** Ranges in flight at once, default 4; 1 reads the object as one stream of ranges. */
  concurrency?: number | undefined;
  /** Bytes per ranged GET, default 8 MiB. */
  partSize?: number | undefined;
  /** Whether an existing file at the path is replaced; default true. Only a regular file is ever replaced. */
  overwrite?: boolean | undefined;
  /**
   * Gives the file the modification time the object keeps: its `mtime` metadata (as `s3v4 sync` and rclone store
   * it), else its Last-Modified. Off by default: the file is then as new as its download.
   */
  keepMtime?: boolean | undefined;
  /**
   * The object's size, when a listing has told it. An object that fits in one range is then asked for whole, without
   * a Range header: an empty one in one request, not a 416 and a second GET, and a small one for less of the server's
   * CPU (Ceph here: about 0.4 ms less of its CPU per GET of a 4 KiB object, by hand, 3 runs of 1000). Only a hint: what the reply says is what
   * counts, and a bigger object comes whole all the same.
   */
  size?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called as bytes arrive, with the object's size as total once the first reply has told it. */
  onProgress?: ((progress: { loaded: number; total: number | undefined }) => void) | undefined;
}

export interface DownloadResult {
  /** The path written, as given. */
  path: string;
  size: number;
  /** The object's ETag, without quotes: every range came from this version. */
  etag: string;
  /** With `keepMtime`, the modification time the file was given, in milliseconds. */
  mtimeMs?: number;
}

/** One ranged GET of the object, as the client sends it. */
export type RangeGet = (options: GetOptions) => Promise<GetResult>;

/** Downloads `key` into `path` through a temporary file beside it (see the module's comment). */
export async function downloadFile(
  get: RangeGet,
  key: string,
  path: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const concurrency = positiveInteger(options.concurrency ?? DEFAULT_RANGES_IN_FLIGHT, 'concurrency');
  const rangeSize = positiveInteger(options.partSize ?? DEFAULT_RANGE_SIZE, 'partSize');
  const whole = options.size !== undefined && checkContentLength(options.size, 'size') <= rangeSize;
  const replaced = checkTarget(path, options.overwrite ?? true);
  const partial = partialPath(path);
  const stop = linkedAbort(options.signal);
  const { signal } = stop;
  let file: number | undefined;
  /** The ETag every range must have: the first range's. */
  let etag: string | undefined;
  /** Released on failure: a body nobody reads holds its socket until the idle timeout. */
  let firstBody: GetResult['body'] | undefined;
  try {
    // The first reply is read before the file (or its directory) is made, so a missing key creates nothing.
    const first = await (whole ? get({ signal }) : get({ range: [0, rangeSize - 1], signal })).catch(
      (error: unknown) => (isEmptyObjectRange(error) ? get({ signal }) : Promise.reject(error)),
    );
    etag = first.etag;
    firstBody = first.body;
    // The directory is made only when the open finds it missing: one system call fewer for every file of a tree.
    file = await open(partial, 'wx').catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      await mkdir(dirname(path), { recursive: true });
      return open(partial, 'wx');
    });
    removeAtExit(partial);
    // A file replaced keeps its permissions (an executable stays one), as cp(1) keeps them when it overwrites; not
    // set-user-ID and the like, which a write clears.
    if (replaced !== undefined) await fchmod(file, replaced.mode & 0o777);
    const written = new Written(options.onProgress, first.size);
    if (first.contentRange === undefined) {
      // The whole object came (a server that ignores Range, or the empty object's plain GET): its length is its size.
      await writeRange(file, first, 0, first.size, written);
    } else {
      await writeRanges({ get, key, file, written, signal, stop }, first, rangeSize, concurrency);
    }
    // Set before the rename, so the file never stands in place with the download's own time.
    const mtime = options.keepMtime === true ? storedMtime(first) : undefined;
    if (mtime !== undefined) await futimes(file, new Date(), new Date(mtime));
    await close(file);
    file = undefined;
    await placeFile(partial, path, options.overwrite ?? true);
    written.end();
    return { path, size: written.loaded, etag, ...(mtime === undefined ? {} : { mtimeMs: mtime }) };
  } catch (error) {
    firstBody?.destroy();
    if (file !== undefined) await close(file).catch(() => undefined);
    // A failed removal must not hide why the download failed.
    await unlink(partial).catch(() => undefined);
    // A later range's 412: its If-Match no longer holds, so the object was replaced since the first range.
    throw error instanceof S3Error && error.status === 412 && etag !== undefined ? changed(key, etag) : error;
  } finally {
    stop.release();
    partials.delete(partial);
    if (partials.size === 0) process.removeListener('exit', removePartials);
  }
}

/** What the ranges of one download share. */
interface Ranges {
  readonly get: RangeGet;
  readonly key: string;
  readonly file: number;
  readonly written: Written;
  readonly signal: AbortSignal;
  /** Stops the other ranges when one fails. */
  readonly stop: LinkedAbort;
}

/**
 * Writes the first range's reply and every later range, `concurrency` workers each taking the next range when its
 * last is written (the first worker starts with the range already asked), every later range asked with If-Match.
 */
async function writeRanges(ranges: Ranges, first: GetResult, rangeSize: number, concurrency: number): Promise<void> {
  const { get, key, file, written, signal } = ranges;
  const { size, etag } = first;
  if (size === undefined) {
    first.body.destroy();
    throw truncated(key, `the first range's reply gave no size (${first.contentRange})`);
  }
  const next = rangesAfter(rangeSize, size);
  const worker = async () => {
    for (let range = next.next(); !range.done; range = next.next()) {
      const [start, end] = range.value;
      const reply = await get({ range: [start, end], ifMatch: `"${etag}"`, signal });
      await writeRange(file, checkedRange(reply, key, etag, start, end, size), start, end - start + 1, written);
    }
  };
  const firstEnd = Math.min(rangeSize, size) - 1;
  const firstRange = checkedRange(first, key, etag, 0, firstEnd, size);
  const workers = [writeRange(file, firstRange, 0, firstEnd + 1, written).then(worker)];
  // No more workers than ranges left: a concurrency of a million for a small object starts none idle.
  const later = Math.ceil((size - firstEnd - 1) / rangeSize);
  for (let i = 1; i < Math.min(concurrency, later + 1); i++) workers.push(worker());
  await settleAll(workers, () => ranges.stop.stop());
}

/** Bytes arrived so far, told to onProgress. */
class Written {
  loaded = 0;
  readonly #onProgress: DownloadOptions['onProgress'];
  readonly #total: number | undefined;
  constructor(onProgress: DownloadOptions['onProgress'], total: number | undefined) {
    this.#onProgress = onProgress;
    this.#total = total;
  }
  add(bytes: number): void {
    this.loaded += bytes;
    this.#onProgress?.({ loaded: this.loaded, total: this.#total });
  }
  /** An empty object reports once too, when it is in place, so a progress bar shows it. */
  end(): void {
    if (this.loaded === 0) this.#onProgress?.({ loaded: 0, total: 0 });
  }
}

/** The inclusive ranges after the first, in order: [rangeSize, 2 rangeSize - 1], ... up to size - 1. */
function* rangesAfter(rangeSize: number, size: number): Generator<[number, number]> {
  for (let start = rangeSize; start < size; start += rangeSize) yield [start, Math.min(start + rangeSize, size) - 1];
}

/**
 * Bytes of a reply gathered before they are written, in one writev: a socket's chunks are 64 KiB at most, and each
 * write is a trip through libuv's thread pool, so a 64 MiB object took a thousand of them.
 */
const WRITE_BATCH = 1024 * 1024;

/**
 * Writes a reply's body at `offset`, a batch at a time (WRITE_BATCH), each batch written before more is read (so a
 * slow disk slows the socket rather than filling memory); fails unless exactly `length` bytes came (undefined:
 * whatever HTTP's framing ends).
 */
async function writeRange(
  file: number,
  reply: GetResult,
  offset: number,
  length: number | undefined,
  written: Written,
): Promise<void> {
  let position = offset;
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = async () => {
    await writeAt(file, batch, position);
    position += batched;
    written.add(batched);
    batch = [];
    batched = 0;
  };
  for await (const chunk of reply.body as AsyncIterable<Buffer>) {
    batch.push(chunk);
    batched += chunk.length;
    if (batched >= WRITE_BATCH) await flush();
  }
  if (batched > 0) await flush();
  if (length !== undefined && position - offset !== length) {
    throw truncated(
      reply.key,
      `bytes ${offset}-${offset + length - 1} brought ${position - offset} of ${length} bytes`,
    );
  }
}

/**
 * Writes every byte of `buffers` at `position`. pwritev may write less than asked (POSIX write(2)), so what is left
 * is written again; each write names its position, so the ranges of a download may interleave.
 */
async function writeAt(file: number, buffers: Buffer[], position: number): Promise<void> {
  const left = [...buffers];
  for (let at = position; left.length > 0; ) {
    let { bytesWritten } = await writev(file, left, at);
    at += bytesWritten;
    while (left.length > 0 && bytesWritten >= left[0]!.length) bytesWritten -= left.shift()!.length;
    if (bytesWritten > 0) left[0] = left[0]!.subarray(bytesWritten);
  }
}

/**
 * The reply to a ranged GET, checked to be that range of that version: a server that ignores If-Match, or answers
 * another range, must not write the wrong bytes at this offset.
 */
function checkedRange(
  reply: GetResult,
  key: string,
  etag: string,
  start: number,
  end: number,
  size: number,
): GetResult {
  const expected = `bytes ${start}-${end}/${size}`;
  const wrong =
    reply.etag !== etag
      ? changed(key, etag)
      : reply.contentRange?.trim() !== expected
        ? truncated(key, `asked for ${expected} and got ${reply.contentRange ?? 'the whole object'}`)
        : undefined;
  if (wrong === undefined) return reply;
  reply.body.destroy();
  throw wrong;
}

/** Waits for every task; the first failure stops the others (`stop`) and is thrown once all have settled. */
async function settleAll(tasks: Promise<void>[], stop: () => void): Promise<void> {
  let failure: { error: unknown } | undefined;
  await Promise.all(
    tasks.map((task) =>
      task.catch((error: unknown) => {
        if (failure === undefined) {
          failure = { error };
          stop();
        }
      }),
    ),
  );
  if (failure !== undefined) throw failure.error;
}

/** A range asked of an empty object: S3 answers 416 InvalidRange, since no byte 0 exists (RFC 9110 section 15.5.17). */
function isEmptyObjectRange(error: unknown): boolean {
  return error instanceof S3Error && error.status === 416;
}

function changed(key: string, etag: string): S3v4Error {
  return new S3v4Error(
    'ERR_S3V4_CHANGED',
    `GET ${shownKey(key)}: the object changed while it was downloaded (its ETag was ${etag} at the first range); nothing was written`,
  );
}

function truncated(key: string, what: string): S3v4Error {
  return new S3v4Error('ERR_S3V4_TRUNCATED', `GET ${shownKey(key)}: ${what}; nothing was written`);
}

/** Temporary files being written, removed if the process exits first (the command line's second Ctrl-C exits at once). */
const partials = new Set<string>();

function removeAtExit(partial: string): void {
  if (partials.size === 0) process.once('exit', removePartials);
  partials.add(partial);
}

function removePartials(): void {
  for (const partial of partials) rmSync(partial, { force: true });
}

/** How a temporary file of a download ends; `put --recursive` skips such files. */
export const PARTIAL_SUFFIX = '.s3v4-partial';

/** The longest file name most file systems take, in bytes (ext4, XFS, btrfs, APFS: 255). */
const NAME_BYTES = 255;

/**
 * RANDOM of the temporary names: random per process, then counted. Opened with `wx`, a name taken fails rather than
 * being shared, and one random draw per process instead of per file spares a transfer of many small files.
 */
const PROCESS_TAG = randomBytes(4).toString('hex');
let partialCount = 0;

/**
 * The temporary file beside `path`: `.NAME.RANDOM.s3v4-partial`, NAME cut (on a character boundary) so that the whole
 * stays within NAME_BYTES, as the target's own name may take them all.
 */
function partialPath(path: string): string {
  const suffix = `.${PROCESS_TAG}${(partialCount++).toString(36)}${PARTIAL_SUFFIX}`;
  let name = basename(path);
  while (Buffer.byteLength(`.${name}${suffix}`) > NAME_BYTES) name = [...name].slice(0, -1).join('');
  return join(dirname(path), `.${name}${suffix}`);
}

/**
 * Refuses a path that is not a regular file (renaming over a FIFO, a device or a symbolic link, `/dev/stdout` is
 * one, would replace the entry itself, not write to what it leads to), and an existing file unless `overwrite`.
 * Resolves to the file that will be replaced, if any.
 */
function checkTarget(path: string, overwrite: boolean): Stats | undefined {
  if (typeof path !== 'string' || path === '' || path.endsWith('/') || path.endsWith(sep)) {
    throw new InvalidArgumentError('path', `must name a file, got ${JSON.stringify(path)}`);
  }
  let existing: Stats | undefined;
  try {
    existing = lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // ENOTDIR (a parent is a file), ENAMETOOLONG, EACCES: named by the argument, not as a raw system error.
    const { code, message } = error as NodeJS.ErrnoException;
    throw new InvalidArgumentError('path', `${path} cannot be written (${code ?? message})`);
  }
  if (existing === undefined) return undefined;
  if (!existing.isFile()) {
    throw new S3v4Error(
      'ERR_S3V4_NOT_A_FILE',
      `${path} is ${kindOf(existing)}, not a regular file, and download replaces only regular files`,
    );
  }
  if (!overwrite) throw new S3v4Error('ERR_S3V4_EXISTS', `${path} exists and overwrite is false`);
  return existing;
}

/** Moves the complete file into place: a rename, or without `overwrite` a hard link, which fails if `path` appeared. */
async function placeFile(partial: string, path: string, overwrite: boolean): Promise<void> {
  if (overwrite) return rename(partial, path);
  await link(partial, path).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EEXIST' ? new S3v4Error('ERR_S3V4_EXISTS', `${path} exists and overwrite is false`) : error;
  });
  await unlink(partial);
}

/** What a directory entry is, for a refusal: "a FIFO", "a symbolic link", ... */
function kindOf(stats: Stats): string {
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'a special file';
}
