/**
 * JSON merge patch (RFC 7396) and a field diff for plans and audit details.
 */
import { pointerSegment } from '../errors.js';

/** One changed field. */
export interface FieldChange {
  path: string;
  op: 'add' | 'remove' | 'replace';
  from?: unknown;
  to?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Apply an RFC 7396 merge patch: objects merge, `null` removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Deep equality for JSON values. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/** Every leaf that differs between `before` and `after`, as JSON pointers. Arrays compare whole. */
export function diff(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (jsonEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => {
      const p = `${path}/${pointerSegment(k)}`;
      if (before[k] === undefined && after[k] !== undefined) return [{ path: p, op: 'add' as const, to: after[k] }];
      if (before[k] !== undefined && after[k] === undefined)
        return [{ path: p, op: 'remove' as const, from: before[k] }];
      return diff(before[k], after[k], p);
    });
  }
  if (before === undefined) return [{ path, op: 'add', to: after }];
  if (after === undefined) return [{ path, op: 'remove', from: before }];
  return [{ path, op: 'replace', from: before, to: after }];
}
