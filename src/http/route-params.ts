/**
 * Parameter rules the route files share: the `limit` of a paged list, and an id in the path
 * checked against its pattern.
 */
import type { ErrorCode } from '../contract/index.js';
import { z } from 'zod';
import { validationError } from '../errors.js';

/** `limit` of a paged list: an integer 1..`max`, `fallback` when absent. */
export function pageLimit(max: number, fallback: number) {
  return z.coerce
    .number({ error: 'must be a number' })
    .int('must be an integer')
    .min(1, `must be 1..${max}`)
    .max(max, `must be 1..${max}`)
    .default(fallback);
}

/** `raw` when it matches `pattern`, else a 400 with `code` saying what the id must be. */
export function checkedId(
  raw: string,
  pattern: RegExp,
  problem: { title: string; message: string; code: ErrorCode },
): string {
  if (!pattern.test(raw))
    throw validationError(problem.title, [{ path: '/path/id', message: problem.message }], problem.code);
  return raw;
}
