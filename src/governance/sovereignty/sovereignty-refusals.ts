/**
 * Refusals on data-sovereignty grounds as audit records: an operation the tenant's rules
 * forbid changes nothing, so without its own record it would leave no trace, and a
 * compliance report could not say how often the rules held the line.
 */
import { TenancyError } from '../../errors.js';

/** The audit action of a refusal (outcome `denied`). */
export const SOVEREIGNTY_REFUSAL_ACTION = 'sovereignty.refuse';

/** The error codes a refusal on data-sovereignty grounds carries. */
export const SOVEREIGNTY_REFUSAL_CODES = [
  'sovereignty_violation',
  'retention_violation',
  'encryption_mismatch',
] as const;

/** The most violations one record keeps. */
const MAX_RECORDED_VIOLATIONS = 20;

/** A violation as a refusal's audit record keeps it. */
export interface RecordedViolation {
  code: string;
  path: string;
  rule: string;
  detail: string;
}

/** Whether `error` refuses an operation on data-sovereignty grounds. */
export function isSovereigntyRefusal(error: unknown): error is TenancyError {
  return (
    error instanceof TenancyError && (SOVEREIGNTY_REFUSAL_CODES as readonly string[]).includes(error.code as string)
  );
}

/**
 * The violations a refusal names: its `violations` extension (see `sovereigntyRefusal`), or
 * one built from its field errors when it has none (the model router's refusal).
 */
export function refusalViolations(error: TenancyError): RecordedViolation[] {
  const listed = error.extensions.violations;
  const out: RecordedViolation[] = Array.isArray(listed)
    ? listed.map((v: Partial<RecordedViolation>) => ({
        code: String(v.code ?? error.code),
        path: String(v.path ?? ''),
        rule: String(v.rule ?? ''),
        detail: String(v.detail ?? '').slice(0, 300),
      }))
    : (error.errors ?? [{ path: '', message: error.detail }]).map((e) => ({
        code: error.code,
        path: e.path,
        rule: '',
        detail: e.message.slice(0, 300),
      }));
  return out.slice(0, MAX_RECORDED_VIOLATIONS);
}
