/**
 * The stages of a policy commit (parse, validate, sandbox, commit) and their reports: a
 * failure at any stage commits nothing, and its problem carries every stage's report.
 */
import type { ErrorCode } from '../../contract/index.js';
import { TenancyError, type FieldError } from '../../errors.js';
import type { Decision } from './policy-engine.js';

/** The stages of a commit, in order. */
export const STAGES = ['parse', 'validate', 'sandbox', 'commit'] as const;
/** A stage's name. */
export type StageName = (typeof STAGES)[number];

/** One sample's outcome in the sandbox. */
export interface SampleResult {
  name: string;
  /** `policy`: carried by the document; `recorded`: stored for the policy's domain and use case. */
  from: 'policy' | 'recorded';
  decision: 'allow' | 'deny';
  rule: string | null;
  expect: 'allow' | 'deny' | null;
  ok: boolean;
  errors: Decision['errors'];
}

/** What one stage did. */
export interface StageReport {
  name: StageName;
  ok: boolean;
  ms: number;
  /** True when the stage had nothing to do (an unchanged document is not sandboxed again). */
  skipped?: boolean;
  errors?: FieldError[];
  samples?: SampleResult[];
}

/** A commit stage failed: the problem carries every stage's report. */
export function stageFailure(
  code: ErrorCode,
  status: number,
  detail: string,
  stages: StageReport[],
  errors?: FieldError[],
): TenancyError {
  const failed = stages.find((s) => !s.ok)?.name;
  return new TenancyError(code, detail, {
    status: status,
    ...(errors && errors.length > 0 ? { errors } : {}),
    extensions: { stage: failed, stages },
  });
}

/** Milliseconds since `t` (a `performance.now()` reading), to a tenth. */
export function elapsed(t: number): number {
  return Math.round((performance.now() - t) * 10) / 10;
}

/** Options of a commit. */
export interface CommitOptions {
  source?: string | null | undefined;
  /** Make the new version stable at once (default). False keeps the current stable version (for a canary rollout next). */
  activate?: boolean | undefined;
  /**
   * Set by the approvals module when it commits an approved request. With `basedOnVersion`
   * (the latest version when the request was filed) a policy that moved on since, or a
   * rollout that started since, refuses the commit as `approval_stale`.
   */
  approval?: { ref: string; basedOnVersion?: number | undefined } | undefined;
  /** The tenant's spec when it is not stored yet (a bundle that creates the tenant). */
  tenantSpec?: Record<string, unknown> | undefined;
}
