/**
 * A file's modification time kept with its object, as `s3v4 sync` uploads it and a download sets it back: user
 * metadata `mtime`, seconds since the epoch as a decimal. The name and form are rclone's (rclone.org/s3, "Modification
 * times and hashes": X-Amz-Meta-Mtime, floating-point seconds), so either tool reads what the other wrote.
 */

/** The metadata name, stored lower case. */
export const MTIME = 'mtime';

/** A modification time in milliseconds as stored: `1700000000.123`. Milliseconds are what a sync compares. */
export function mtimeValue(milliseconds: number): string {
  return (Math.round(milliseconds) / 1000).toFixed(3);
}

/**
 * The modification time an object keeps, in milliseconds: its `mtime` metadata (rclone's nanoseconds included),
 * else its Last-Modified; undefined when it has neither in a form that reads.
 */
export function storedMtime(object: {
  readonly metadata: Readonly<Record<string, string>>;
  readonly lastModified: Date | undefined;
}): number | undefined {
  const stored = object.metadata[MTIME];
  // Before 1970 is negative: a file restored from an old archive keeps its date.
  const seconds = stored === undefined || !/^-?\d+(\.\d+)?$/.test(stored) ? Number.NaN : Number(stored);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const modified = object.lastModified?.getTime();
  return modified === undefined || Number.isNaN(modified) ? undefined : modified;
}

/** Whether two modification times are the same to the millisecond, the precision kept. */
export function sameMtime(a: number, b: number): boolean {
  return Math.round(a) === Math.round(b);
}
