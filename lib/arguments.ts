/**
 * Checks of caller arguments that more than one module takes: a byte length
 * (a stream's contentLength, signed streaming's) and a count (attempts,
 * timeouts, part size, concurrency). Each names the argument it refuses.
 * Also the nearest of the known names, for a "did you mean" (a config key,
 * a command-line option).
 */
import { InvalidArgumentError } from './errors.js';

/** Whether `value` counts bytes (a length or an offset): a safe whole number, 0 or more. */
export function isByteCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A length in bytes, checked with isByteCount. */
export function checkContentLength(value: unknown, argument = 'contentLength'): number {
  if (!isByteCount(value)) {
    throw new InvalidArgumentError(argument, `must be a whole number of bytes, 0 or more, got ${String(value)}`);
  }
  return value;
}

/** A count or a duration: a safe whole number above 0. */
export function positiveInteger(value: number, argument: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(argument, `must be a whole number above 0, got ${String(value)}`);
  }
  return value;
}

/** The candidate nearest `word` by Levenshtein distance (the first of the nearest, in the candidates' order). */
export function closest(word: string, candidates: readonly string[]): { name: string; distance: number } | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const far = distance(word, name);
    if (best === undefined || far < best.distance) best = { name, distance: far };
  }
  return best;
}

/** Levenshtein distance: the fewest one-character insertions, deletions and substitutions from `a` to `b`. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length]!;
}
