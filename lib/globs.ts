/**
 * `--include` and `--exclude` of `s3v4 sync`: glob patterns over a file's path below the sync's root, `/` between
 * its parts whatever the platform. The rules are gitignore's (git-scm.com/docs/gitignore, "PATTERN FORMAT"), which
 * most users already write:
 * - `*` matches within one part of the path, `?` one character of it, `[abc]` and `[!a-z]` one of a set;
 * - `**` matches across parts: `logs/**` is everything under logs, `**\/tmp` a tmp at any depth;
 * - a pattern without a `/` matches a name at any depth (`*.log`); one with a `/` is anchored at the root, a leading
 *   `/` only anchoring it (`/build`);
 * - a pattern ending in `/` names a directory: everything under it (`node_modules/`);
 * - a backslash makes the next character itself: `q\?.txt` is the file named `q?.txt`.
 */
import { UsageError } from './errors.js';

/** Whether a path below the root takes part in the sync. */
export type PathFilter = (path: string) => boolean;

/** Characters a RegExp would read as syntax, escaped where a pattern means them as themselves. */
const SPECIAL = /[\\^$.+()|{}]/;

/** The expression for one pattern; `flag` names it in errors. */
export function globPattern(pattern: string, flag: string): RegExp {
  if (pattern === '' || pattern === '/') throw new UsageError(`${flag} takes a glob pattern, got "${pattern}"`);
  const directory = pattern.endsWith('/');
  const body = directory ? pattern.slice(0, -1) : pattern;
  const anchored = body.includes('/');
  const text = body.startsWith('/') ? body.slice(1) : body;
  let source = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '\\' && i + 1 < text.length) {
      // gitignore: a backslash makes the next character itself (\*, \?, \[, \#, \!).
      const next = text[++i]!;
      source += /[\\^$.*+?()[\]{}|/]/.test(next) ? `\\${next}` : next;
    } else if (char === '*' && text[i + 1] === '*') {
      // `**/` is any number of whole parts, none included; a `**` elsewhere is anything at all.
      const slash = text[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '[') {
      const end = text.indexOf(']', i + 2);
      if (end === -1) throw new UsageError(`${flag} "${pattern}": the "[" at ${i + 1} is never closed`);
      const set = text.slice(i + 1, end);
      const negated = set.startsWith('!') || set.startsWith('^');
      const members = (negated ? set.slice(1) : set).replaceAll('\\', '\\\\');
      source += `[${negated ? '^/' : ''}${members}]`;
      i = end;
    } else source += SPECIAL.test(char) ? `\\${char}` : char;
  }
  const start = anchored ? '^' : '^(?:.*/)?';
  // A directory's pattern takes what is under it; any other may also name a directory, and so what it holds.
  const end = directory ? '/.*$' : '(?:/.*)?$';
  try {
    return new RegExp(start + source + end, 'u');
  } catch {
    // A set such as [z-a].
    throw new UsageError(`${flag} "${pattern}" is not a glob pattern this command can read`);
  }
}

/** The filter of the flags: a path is in when it matches an --include (or none is given) and no --exclude. */
export function pathFilter(include: readonly string[], exclude: readonly string[]): PathFilter {
  const included = include.map((pattern) => globPattern(pattern, '--include'));
  const excluded = exclude.map((pattern) => globPattern(pattern, '--exclude'));
  if (included.length === 0 && excluded.length === 0) return () => true;
  return (path) =>
    (included.length === 0 || included.some((expression) => expression.test(path))) &&
    !excluded.some((expression) => expression.test(path));
}
