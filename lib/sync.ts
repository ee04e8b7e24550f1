/**
 * `s3v4 sync`: a local directory and a folder of the bucket made alike, in either direction, transferring only the
 * files that differ. Both sides are read one directory at a time, a listing with delimiter `/` beside a readdir, as
 * rclone does: memory holds the largest directory, never the tree. Files that differ go `jobs` at a time while the
 * walk goes on. Deletions (--delete) come last, and only when every transfer succeeded, so a failed sync never leaves
 * DST with fewer files than it had and not the new ones; they never reach outside DST. An upload is a whole object or
 * none (client.put), a download a temporary file renamed into place (client.download), so an interrupted sync leaves
 * nothing half-written. By default what the sync finds alike is recorded (records.ts), so that the next one of an
 * unchanged tree needs a listing per folder and no request per file.
 */
import { type Dirent, realpathSync, type Stats } from 'node:fs';
import { lstat, rmdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ListedObject } from './client.js';
import { holdsEtag } from './digests.js';
import { PARTIAL_SUFFIX } from './download.js';
import { S3v4Error } from './errors.js';
import type { PathFilter } from './globs.js';
import { sameMtime, storedMtime } from './mtime.js';
import { type RecordStore, recordOf, recordStore, type SyncRecord, verdict } from './records.js';
import { shownKey } from './replies.js';
import {
  type BulkProgress,
  bulkProgress,
  bytes,
  directoryEntries,
  downloadBelow,
  eachAtOnce,
  outside,
  skippable,
  type Transfer,
  treeRoot,
  unmakeTree,
  unsafe,
  uploadFile,
} from './transfers.js';

/** What tells two files apart: size and modification time (the default), content (--checksum) or size alone. */
export type Comparison = 'mtime' | 'checksum' | 'size';

export interface SyncOptions {
  comparison: Comparison;
  /** Removes from DST what SRC does not have (--delete). */
  delete: boolean;
  /** Says what would be done, and does none of it (--dry-run). */
  dryRun: boolean;
  /** The paths, below the roots, that take part (--include, --exclude); the others are neither sent nor deleted. */
  filter: PathFilter;
  /** The cache directory that keeps the default comparison's records (records.ts); undefined keeps none. */
  records?: string | undefined;
}

/** What a sync did, or with --dry-run would do. */
export interface SyncResult {
  /** Files sent: the local path, its key and size. */
  uploaded: Array<{ file: string; key: string; size: number }>;
  /** Objects fetched: the key, the local path and size. */
  downloaded: Array<{ key: string; file: string; size: number }>;
  /** Keys (syncing up) or local paths (syncing down) removed by --delete. */
  deleted: string[];
  /** Files alike on both sides. */
  unchanged: number;
  failed: Array<{ path: string; message: string }>;
  dryRun: boolean;
}

/** A directory entry as a sync sees it; `other` (a symbolic link, a FIFO...) is never followed, sent or deleted. */
type Kind = 'file' | 'directory' | 'other';

/** One folder of the bucket, listed with delimiter `/`: its objects and subfolders by name. */
interface Folder {
  objects: Map<string, ListedObject>;
  folders: Set<string>;
}

/** What a sync shares while it runs. */
interface Run {
  transfer: Transfer;
  options: SyncOptions;
  all: BulkProgress;
  result: SyncResult;
  /** The pair's records, with the default comparison. */
  store: RecordStore | undefined;
  /** Records being written, and the first write that failed. */
  saves: Array<Promise<void>>;
  unsaved?: NodeJS.ErrnoException;
}

/**
 * One local directory's records while its files sync: read as the walk enters it, written once the walk has left it
 * and its last file has settled, and only when they changed.
 */
interface Directory {
  /** Below the roots: "" or ending in `/`. */
  path: string;
  known: Map<string, SyncRecord>;
  next: Map<string, SyncRecord>;
  /** The names the walk gave to be compared or transferred; the others keep their records while they are files. */
  taken: Set<string>;
  pending: number;
  walked: boolean;
}

/** Something a sync will remove once every transfer has succeeded. */
type Removal =
  | { kind: 'key'; key: string }
  | { kind: 'folder'; prefix: string; path: string }
  | { kind: 'file'; file: string; named: string }
  | { kind: 'directory'; directory: string; path: string; named: string };

/** Syncs the local `directory` up to the folder `prefix` (`site/`, or "" for the bucket's top level). */
export async function syncUp(
  transfer: Transfer,
  directory: string,
  prefix: string,
  options: SyncOptions,
): Promise<SyncResult> {
  const run = start(transfer, options, prefix, realpathSync(directory));
  const removals: Removal[] = [];
  let order = 0;
  const uploaded: Array<SyncResult['uploaded'][number] | undefined> = [];
  const pairs = async function* walk(local: string, folder: string, path: string): AsyncGenerator<UpPair> {
    const [files, remote, records] = await Promise.all([
      entriesOf(run, local, 'source'),
      folderOf(transfer, folder),
      directoryOf(run, path),
    ]);
    // An empty SRC with --delete would empty the folder: a mount not mounted, a build that wrote nothing. Refused, as
    // an empty source is syncing down.
    if (path === '' && options.delete && files.size === 0 && (remote.objects.size > 0 || remote.folders.size > 0))
      throw new S3v4Error(
        'ERR_S3V4_EMPTY_SOURCE',
        `${directory} is empty, so --delete would empty "${shownKey(folder)}"; check the directory (or delete the objects yourself)`,
      );
    for (const [name, kind] of files) {
      if (kind === 'directory') yield* walk(join(local, name), `${folder}${name}/`, `${path}${name}/`);
      else if (kind === 'file' && options.filter(path + name)) {
        const object = remote.objects.get(name);
        const file = join(local, name);
        yield { shown: file, file, key: folder + name, object, at: order++, records: take(records, name), name };
      }
    }
    walked(run, records, files);
    if (!options.delete) return;
    for (const [name, object] of remote.objects)
      if (files.get(name) !== 'file' && options.filter(path + name)) removals.push({ kind: 'key', key: object.key });
    for (const name of remote.folders)
      if (files.get(name) !== 'directory')
        removals.push({ kind: 'folder', prefix: `${folder}${name}/`, path: `${path}${name}/` });
  };
  await transfers(run, pairs(directory, prefix, ''), async ({ file, key, object, at, records, name }) => {
    const stats = await lstat(file);
    run.all.found(stats.size);
    if (object !== undefined) {
      const verdict = await compare(run, file, stats, object, records.known.get(name));
      if (verdict.alike) return unchanged(run, stats.size, verdict.record);
    }
    if (options.dryRun) {
      run.all.line(`would upload ${shownKey(file)} -> ${shownKey(key)} (${bytes(stats.size)})`);
      uploaded[at] = { file, key, size: stats.size };
      run.all.passed(stats.size);
      return undefined;
    }
    const {
      uploaded: sent,
      mtimeMs,
      date,
    } = await uploadFile(run.transfer, { file, key, size: stats.size }, {}, run.all);
    uploaded[at] = { file, key, size: sent.size };
    return recordOf(sent.size, mtimeMs, sent.etag, date);
  });
  run.result.uploaded = uploaded.filter((entry) => entry !== undefined);
  await remove(run, removals, prefix);
  return run.result;
}

/** Syncs the folder `prefix` of the bucket down into the local `directory`. */
export async function syncDown(
  transfer: Transfer,
  prefix: string,
  directory: string,
  options: SyncOptions,
): Promise<SyncResult> {
  // A download replaces the file it makes alike; a dry run creates nothing, DEST included.
  const tree = options.dryRun
    ? { dest: directory, root: resolved(directory), checked: new Set<string>() }
    : treeRoot(directory);
  const run = start({ ...transfer, force: true }, options, prefix, tree.root);
  const removals: Removal[] = [];
  let order = 0;
  const downloaded: Array<SyncResult['downloaded'][number] | undefined> = [];
  const pairs = async function* walk(local: string, folder: string, path: string): AsyncGenerator<DownPair> {
    const [remote, files, records] = await Promise.all([
      folderOf(transfer, folder),
      entriesOf(run, local, 'destination'),
      directoryOf(run, path),
    ]);
    // S3 has no directories: a mistyped prefix is an empty one, and --delete would then empty DEST (rclone refuses a
    // source that does not exist for the same reason).
    // Either way, a DEST made for nothing is removed again.
    if (path === '' && remote.objects.size === 0 && remote.folders.size === 0) {
      unmakeTree(tree);
      if (options.delete)
        throw new S3v4Error(
          'ERR_S3V4_EMPTY_SOURCE',
          `nothing is under "${shownKey(folder)}", so --delete would empty ${directory}; check the prefix (or delete the files yourself)`,
        );
      transfer.warn(`nothing is under "${shownKey(folder)}"`);
    }
    // S3 lets `conf` be an object and a folder at once; a file system does not, so the folder goes on alone, rather
    // than the two racing for the name.
    for (const [name, object] of remote.objects)
      if (remote.folders.has(name))
        failed(run, object.key, `skipped "${shownKey(object.key)}": "${shownKey(object.key)}/" is a folder too`);
      else if (options.filter(path + name)) {
        const taken = take(records, name);
        yield {
          shown: object.key,
          object,
          path: path + name,
          kind: files.get(name),
          at: order++,
          records: taken,
          name,
        };
      }
    walked(run, records, files);
    for (const name of remote.folders) {
      const kind = files.get(name);
      // A folder named "", "." or ".." (keys such as site//x or site/../x) has no place below DEST: walking into it
      // would reach DEST itself or its parent.
      const refusal = unsafe(name);
      if (refusal !== undefined)
        failed(run, `${folder}${name}/`, `refused "${shownKey(`${folder}${name}/`)}": ${refusal}`);
      // A symbolic link where a directory goes is not followed: what it leads to is not DEST's to fill or empty.
      else if (kind === 'directory' || kind === undefined)
        yield* walk(join(local, name), `${folder}${name}/`, `${path}${name}/`);
      else
        failed(
          run,
          `${folder}${name}/`,
          `skipped "${shownKey(`${folder}${name}/`)}": ${join(local, name)} is not a directory`,
        );
    }
    if (!options.delete) return;
    for (const [name, kind] of files) {
      if (kind === 'file' && !remote.objects.has(name) && options.filter(path + name))
        removals.push({ kind: 'file', file: join(local, name), named: join(directory, path + name) });
      if (kind === 'directory' && !remote.folders.has(name)) {
        const named = join(directory, path + name);
        removals.push({ kind: 'directory', directory: join(local, name), path: `${path}${name}/`, named });
      }
    }
  };
  await transfers(run, pairs(tree.root, prefix, ''), async ({ object, path, kind, at, records, name }) => {
    run.all.found(object.size);
    const file = join(tree.root, path);
    if (kind === 'file') {
      const verdict = await compare(run, file, await lstat(file), object, records.known.get(name));
      if (verdict.alike) return unchanged(run, object.size, verdict.record);
    }
    if (options.dryRun) {
      run.all.line(
        `would download ${shownKey(object.key)} -> ${shownKey(join(directory, path))} (${bytes(object.size)})`,
      );
      downloaded[at] = { key: object.key, file: join(directory, path), size: object.size };
      run.all.passed(object.size);
      return undefined;
    }
    const { key, file: named, size, etag, mtimeMs } = await downloadBelow(run.transfer, tree, object, path, run.all);
    downloaded[at] = { key, file: named, size };
    // Recorded only when the listed version is the one that came: its Last-Modified is then the object's.
    return etag === object.etag ? recordOf(size, mtimeMs, etag, object.lastModified) : undefined;
  });
  run.result.downloaded = downloaded.filter((entry) => entry !== undefined);
  await remove(run, removals, tree.root);
  return run.result;
}

/** What the walk gives for one file: where it goes in the result, and its directory's records. */
interface Pair {
  /** Named in a failure. */
  shown: string;
  at: number;
  records: Directory;
  /** The file's name in its directory. */
  name: string;
}

interface UpPair extends Pair {
  file: string;
  key: string;
  object: ListedObject | undefined;
}

interface DownPair extends Pair {
  object: ListedObject;
  /** Below the roots, `/` between parts: the key's, after the prefix. */
  path: string;
  kind: Kind | undefined;
}

/** A sync's shared state; `prefix` and the resolved local `directory` name the pair its records are kept for. */
function start(transfer: Transfer, options: SyncOptions, prefix: string, directory: string): Run {
  const result = { uploaded: [], downloaded: [], deleted: [], unchanged: 0, failed: [], dryRun: options.dryRun };
  const store =
    options.records === undefined || options.comparison !== 'mtime'
      ? undefined
      : recordStore(options.records, { bucketUrl: transfer.client.endpoint.bucketUrl(), prefix, directory });
  return { transfer, options, all: bulkProgress(transfer), result, store, saves: [] };
}

/**
 * Runs `work` on every pair of the walk, `jobs` at once, and records what it resolves to as the file's record. A file
 * that fails (a refusal, a file-system error, an object's own error) is counted and warned about, and the others go
 * on; anything else, an abort included, stops. Records being written are waited for.
 */
async function transfers<T extends Pair>(
  run: Run,
  pairs: AsyncGenerator<T>,
  work: (pair: T) => Promise<SyncRecord | undefined>,
): Promise<void> {
  const { all, transfer } = run;
  const walk = async function* () {
    yield* pairs;
    all.listed();
  };
  try {
    await eachAtOnce(walk(), transfer.jobs, async (pair) => {
      let record: SyncRecord | undefined;
      try {
        record = await work(pair);
      } catch (error) {
        if (!skippable(error, transfer.signal)) throw error;
        failed(run, pair.shown, (error as Error).message);
      } finally {
        settle(run, pair.records, pair.name, record);
      }
    });
  } finally {
    all.end();
  }
  await Promise.all(run.saves);
  const { unsaved, store } = run;
  if (unsaved !== undefined && store !== undefined)
    transfer.warn(
      `could not keep sync records in ${store.place} (${unsaved.code ?? unsaved.message}); the next sync asks the server again for the files they would have kept`,
    );
}

/** A file alike on both sides, and the record that says so. */
function unchanged(run: Run, size: number, record: SyncRecord | undefined): SyncRecord | undefined {
  run.result.unchanged++;
  run.all.passed(size);
  return record;
}

/** The records of the local directory `path`, as the walk enters it. */
async function directoryOf(run: Run, path: string): Promise<Directory> {
  const known = run.store === undefined ? new Map() : await run.store.read(path);
  return { path, known, next: new Map(), taken: new Set(), pending: 0, walked: false };
}

/** The directory, for the file `name` the walk gives. */
function take(directory: Directory, name: string): Directory {
  directory.taken.add(name);
  directory.pending++;
  return directory;
}

/** The walk has given the directory's last file: the files it did not give keep their records. */
function walked(run: Run, directory: Directory, files: ReadonlyMap<string, Kind>): void {
  for (const [name, record] of directory.known)
    if (!directory.taken.has(name) && files.get(name) === 'file') directory.next.set(name, record);
  directory.walked = true;
  if (directory.pending === 0) save(run, directory);
}

/** One file of the directory is done, alike (its record) or not (none). */
function settle(run: Run, directory: Directory, name: string, record: SyncRecord | undefined): void {
  if (record !== undefined) directory.next.set(name, record);
  directory.pending--;
  if (directory.walked && directory.pending === 0) save(run, directory);
}

/** Writes the directory's records if they changed; a dry run writes none. */
function save(run: Run, { path, known, next }: Directory): void {
  const { store } = run;
  if (store === undefined || run.options.dryRun || sameRecords(known, next)) return;
  run.saves.push(
    store.write(path, next).catch((error: NodeJS.ErrnoException) => {
      run.unsaved ??= error;
    }),
  );
}

function sameRecords(a: ReadonlyMap<string, SyncRecord>, b: ReadonlyMap<string, SyncRecord>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, x] of a) {
    const y = b.get(name);
    if (y === undefined || x.size !== y.size || x.mtimeMs !== y.mtimeMs || x.etag !== y.etag || x.seen !== y.seen)
      return false;
  }
  return true;
}

/** A file that did not sync, and why: counted, and warned about above the progress line. */
function failed(run: Run, shown: string, message: string): void {
  run.result.failed.push({ path: shown, message });
  run.all.warn(message);
}

/**
 * The directory's entries by name, sorted; a missing directory has none. One that cannot be read is a failure of
 * the sync (so nothing is deleted), and its walk goes on beside it. Unfinished downloads are skipped: with a warning
 * in SRC, silently in DST, where they may be this sync's own.
 */
async function entriesOf(run: Run, directory: string, side: 'source' | 'destination'): Promise<Map<string, Kind>> {
  let entries: Dirent[];
  try {
    entries = await directoryEntries(directory, run.all.warn);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code === 'ENOENT') return new Map();
    failed(run, directory, `cannot read the directory ${directory} (${code ?? message}); skipped`);
    return new Map();
  }
  const kinds = new Map<string, Kind>();
  for (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isFile() && entry.name.endsWith(PARTIAL_SUFFIX)) {
      if (side === 'source') run.all.warn(`skipped ${path}: an unfinished download`);
    } else if (entry.isFile()) kinds.set(entry.name, 'file');
    else if (entry.isDirectory()) kinds.set(entry.name, 'directory');
    else {
      run.all.warn(`skipped ${path}: not a regular file`);
      kinds.set(entry.name, 'other');
    }
  }
  return kinds;
}

/** A directory resolved as treeRoot() resolves it, when it exists. */
function resolved(directory: string): string {
  try {
    return realpathSync(directory);
  } catch {
    return resolve(directory);
  }
}

/** One folder of the bucket, every page of its listing; names are what follows the folder's prefix. */
async function folderOf({ client, signal }: Transfer, prefix: string): Promise<Folder> {
  const folder: Folder = { objects: new Map(), folders: new Set() };
  for await (const page of client.list({ prefix, delimiter: '/', signal })) {
    // The folder's own marker (a key ending in /, made by consoles) is not a file.
    for (const object of page.objects)
      if (object.key !== prefix) folder.objects.set(object.key.slice(prefix.length), object);
    for (const sub of page.prefixes) folder.folders.add(sub.slice(prefix.length, -1));
  }
  return folder;
}

/** Whether a file and its object are alike, and with the default comparison the record that says so. */
type Verdict = { alike: false } | { alike: true; record: SyncRecord | undefined };

/**
 * Whether the local file and the object are alike: by size, then (for one size) --checksum compares the bytes with
 * the ETag, and by default the modification times are compared: by the file's record when it tells (records.ts),
 * else with the object's read by a request of its own, since a listing carries no metadata (mtime.ts).
 */
async function compare(
  run: Run,
  file: string,
  stats: Stats,
  object: ListedObject,
  known: SyncRecord | undefined,
): Promise<Verdict> {
  const { comparison } = run.options;
  if (stats.size !== object.size) return { alike: false };
  if (comparison === 'size') return { alike: true, record: undefined };
  if (comparison === 'checksum')
    return (await holdsEtag(file, stats.size, object.etag)) ? { alike: true, record: undefined } : { alike: false };
  const recorded = known === undefined ? 'unknown' : verdict(known, stats, object);
  if (recorded === 'alike') return { alike: true, record: known };
  if (recorded === 'changed') return { alike: false };
  const { client, signal } = run.transfer;
  const info = await client.head(object.key, { signal });
  const mtime = storedMtime(info);
  if (info.size !== stats.size || mtime === undefined || !sameMtime(mtime, stats.mtimeMs)) return { alike: false };
  return { alike: true, record: recordOf(stats.size, stats.mtimeMs, info.etag, info.lastModified) };
}

/**
 * Carries out the removals, once every transfer succeeded (a failure skips them all, and says so). Each is checked to
 * lie inside DST first: `root` is DST's folder (syncing up) or its resolved directory (syncing down).
 */
async function remove(run: Run, removals: readonly Removal[], root: string): Promise<void> {
  const { result, transfer, options } = run;
  if (removals.length === 0) return;
  if (result.failed.length > 0) {
    transfer.warn(`${result.failed.length} failed, so nothing was deleted`);
    return;
  }
  const keys: string[] = [];
  const removed = (what: string) => {
    result.deleted.push(what);
    transfer.line(`${options.dryRun ? 'would delete' : 'deleted'} ${shownKey(what)}`);
  };
  for (const removal of removals) {
    if (removal.kind === 'key') keys.push(inside(removal.key, root));
    else if (removal.kind === 'folder') {
      for await (const page of transfer.client.list({ prefix: inside(removal.prefix, root), signal: transfer.signal }))
        for (const object of page.objects)
          if (options.filter(removal.path + object.key.slice(removal.prefix.length))) keys.push(object.key);
    } else if (removal.kind === 'file') {
      if (!options.dryRun) await unlink(insideDirectory(removal.file, root));
      removed(removal.named);
    } else await removeDirectory(run, { ...removal, directory: insideDirectory(removal.directory, root) }, removed);
  }
  if (options.dryRun) {
    for (const key of keys) removed(key);
    return;
  }
  for (let at = 0; at < keys.length; at += 1000) {
    const done = await transfer.client.deleteMany(keys.slice(at, at + 1000), { signal: transfer.signal });
    for (const key of done.deleted) removed(key);
    for (const error of done.errors) {
      result.failed.push({ path: error.key, message: `${error.code}: ${error.message}` });
      transfer.warn(`could not delete "${shownKey(error.key)}": ${error.code}: ${error.message}`);
    }
  }
}

/**
 * The files of a local directory SRC has no folder for, that the filter takes, then the directories they leave empty.
 * Anything else (an excluded file, a symbolic link) stays, and its directory with it.
 */
async function removeDirectory(
  run: Run,
  { directory, path, named }: { directory: string; path: string; named: string },
  removed: (what: string) => void,
): Promise<void> {
  for (const [name, kind] of await entriesOf(run, directory, 'destination')) {
    const file = join(directory, name);
    const below = { directory: file, path: `${path}${name}/`, named: join(named, name) };
    if (kind === 'directory') await removeDirectory(run, below, removed);
    else if (kind === 'file' && run.options.filter(path + name)) {
      if (!run.options.dryRun) await unlink(file);
      removed(below.named);
    }
  }
  if (run.options.dryRun) return;
  await rmdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
  });
}

/** A key to delete, checked to be under DST's folder: no path of the walk may lead a deletion outside it. */
function inside(key: string, folder: string): string {
  if (!key.startsWith(folder) || key === folder)
    throw new S3v4Error('ERR_S3V4_INTERNAL', `refused to delete "${shownKey(key)}": it is not under "${folder}"`);
  return key;
}

function insideDirectory(path: string, root: string): string {
  const refusal = outside(root, path);
  if (refusal !== undefined || path === root)
    throw new S3v4Error('ERR_S3V4_INTERNAL', `refused to delete ${path}: ${refusal ?? 'it is DEST itself'}`);
  return path;
}
