/**
 * Checks of caller arguments that more than one module takes: a byte length
 * (a stream's contentLength, signed streaming's) and a count (attempts,
 * timeouts, part size, concurrency). Each names the argument it refuses.
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
