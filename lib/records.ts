/**
 * What a sync found alike, kept for the next one, so that an unchanged tree costs a listing and no request per file.
 * A listing carries no metadata, so without a record the default comparison reads each object's stored mtime with a
 * HEAD (sync.ts), and those HEADs are most of an unchanged sync's time (README, Speed).
 *
 * A record says: this file, of this size and modification time, and the object of this ETag and size, last modified
 * no later than `seen` (seconds, on the server's clock), were alike. At the next sync the file still of that size and
 * time, beside a listed object of that ETag and size, last modified no later, is alike without asking: the ETag names
 * the object's bytes (a strong validator, RFC 9110 §8.8.3), and any write since, even of the same bytes with other
 * metadata, is later than `seen` (S3 API Reference, ListObjectsV2: LastModified, the object's creation date). A
 * file still as recorded beside an object of another ETag is known to differ, even where the stored mtime agrees (a
 * rewrite that kept the time). A record that does not tell, or does not read, is no record: the sync asks the server,
 * as it would without one.
 *
 * Records live in the user's cache directory (XDG Base Directory Specification: $XDG_CACHE_HOME, else ~/.cache), in
 * s3v4/sync/, a folder per pair of local directory and bucket folder, a file per local directory, so that a sync
 * holds the records of the directories it is in, never of the tree. Deleting them is always safe.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ListedObject } from './documents.js';
import { sameMtime } from './mtime.js';

export interface SyncRecord {
  size: number;
  /** The file's modification time in milliseconds, which the object's stored mtime matched. */
  mtimeMs: number;
  /** The object's, without quotes. */
  etag: string;
  /** Whole seconds since the epoch, server time, by which the object was already as it is. */
  seen: number;
}

/** The records of one sync's pair of local directory and bucket folder. */
export interface RecordStore {
  /** The records of the local directory `path` below the root ("" for the root itself, else ending in `/`). */
  read(path: string): Promise<Map<string, SyncRecord>>;
  /** Replaces that directory's records; none removes its file. */
  write(path: string, records: ReadonlyMap<string, SyncRecord>): Promise<void>;
  /** Where they are kept, for a warning. */
  readonly place: string;
}

/** What a record file holds, and says it is. */
const FORMAT = 's3v4 sync records 1';

/** The cache directory: $XDG_CACHE_HOME when absolute (a relative one is to be ignored, says the specification). */
export function cacheHome(env: NodeJS.ProcessEnv = process.env): string {
  const named = env.XDG_CACHE_HOME;
  return named !== undefined && isAbsolute(named) ? named : join(homedir(), '.cache');
}

/** The store of the pair: the bucket's URL and folder, and the resolved local directory. */
export function recordStore(
  cache: string,
  pair: { bucketUrl: string; prefix: string; directory: string },
): RecordStore {
  const place = join(cache, 's3v4', 'sync', digest([pair.bucketUrl, pair.prefix, pair.directory]));
  const fileOf = (path: string) => join(place, `${digest([path])}.json`);
  let made: Promise<unknown> | undefined;
  return {
    place,
    async read(path) {
      const text = await readFile(fileOf(path), 'utf8').catch(() => undefined);
      return text === undefined ? new Map() : parsed(text, path);
    },
    async write(path, records) {
      const file = fileOf(path);
      if (records.size === 0) {
        await unlink(file).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
        return;
      }
      // The records name the user's files: theirs alone (0700, as the XDG specification asks of the directories it
      // makes; 0600 files).
      made ??= mkdir(place, { recursive: true, mode: 0o700 });
      await made;
      const files = [...records].map(([name, r]) => [name, r.size, r.mtimeMs, r.etag, r.seen]);
      // Written beside, then renamed over: a reader sees the old records or the new, never half of them.
      const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temporary, JSON.stringify({ format: FORMAT, directory: path, files }), { mode: 0o600 });
      await rename(temporary, file).catch(async (error: unknown) => {
        await unlink(temporary).catch(() => undefined);
        throw error;
      });
    },
  };
}

/**
 * What the record says of the file and the listed object: `alike` while both are as recorded (see the module's
 * comment); `changed` when the file is as recorded but the object is not, its ETag or size other than the ones the
 * file matched, so its bytes may differ whatever its stored mtime says (a rewrite at one size, the mtime kept); and
 * `unknown` when the file changed since, or the object was written again after `seen`: the sync asks the server.
 */
export function verdict(
  record: SyncRecord,
  stats: Pick<Stats, 'size' | 'mtimeMs'>,
  object: ListedObject,
): 'alike' | 'changed' | 'unknown' {
  if (stats.size !== record.size || !sameMtime(stats.mtimeMs, record.mtimeMs)) return 'unknown';
  if (object.etag !== record.etag || object.size !== record.size) return 'changed';
  return seconds(object.lastModified) <= record.seen ? 'alike' : 'unknown';
}

/**
 * The record of a file of `size` bytes and time `mtimeMs` beside the object of that ETag, as it was by `by` (a reply's
 * Date, a Last-Modified); none without a time the object is known by, or without a file's time (standard input).
 */
export function recordOf(
  size: number,
  mtimeMs: number | undefined,
  etag: string,
  by: Date | undefined,
): SyncRecord | undefined {
  const seen = seconds(by);
  return mtimeMs === undefined || Number.isNaN(seen) ? undefined : { size, mtimeMs, etag, seen };
}

/** A date in whole seconds since the epoch, as HTTP dates have it (RFC 9110 §5.6.7); NaN for none. */
export function seconds(date: Date | undefined): number {
  return Math.floor((date?.getTime() ?? Number.NaN) / 1000);
}

/** A record file's records; one that is not what this module wrote for `path` has none. */
function parsed(text: string, path: string): Map<string, SyncRecord> {
  const records = new Map<string, SyncRecord>();
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return records;
  }
  const { format, directory, files } = (document ?? {}) as { format?: unknown; directory?: unknown; files?: unknown };
  if (format !== FORMAT || directory !== path || !Array.isArray(files)) return records;
  for (const entry of files as unknown[]) {
    if (!Array.isArray(entry)) continue;
    const [name, size, mtimeMs, etag, seen] = entry as unknown[];
    if (typeof name !== 'string' || typeof etag !== 'string') continue;
    if (![size, mtimeMs, seen].every(Number.isFinite)) continue;
    records.set(name, { size: size as number, mtimeMs: mtimeMs as number, etag, seen: seen as number });
  }
  return records;
}

function digest(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
