/**
 * What an approval is: the kinds of change a tenant's governance can put behind one, the
 * roles that may decide, its statuses, how the API shows it, what a caller asks for and
 * what applies it, and the problems the approval flow answers with.
 */
import type { Selectable, Transaction } from 'kysely';
import { TenancyError, notFound } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { Actor } from '../../ledger/audit-log.js';

/** Kinds of change a tenant's governance can put behind an approval. */
export const APPROVAL_KINDS = [
  'policyChange',
  'featureEnable',
  'budgetIncrease',
  'profileMove',
  'retrievalRelease',
] as const;
/** One of {@link APPROVAL_KINDS}. */
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** Roles that may be named as approvers (those the permission matrix lets decide). */
export const APPROVER_ROLES = ['platform-admin', 'owner', 'admin'] as const;
/** One of {@link APPROVER_ROLES}. */
export type ApproverRole = (typeof APPROVER_ROLES)[number];

/** An approval's statuses: `pending` until decided, or `stale` when its change's base moved on. */
export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'stale'] as const;
/** One of {@link APPROVAL_STATUSES}. */
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/** Approval ids: `apr_` and 24 hex digits. */
export const APPROVAL_ID_PATTERN = /^apr_[0-9a-f]{24}$/;

/** An approval as the API shows it. */
export interface Approval {
  id: string;
  tenantId: string;
  kind: string;
  kinds: string[];
  status: ApprovalStatus;
  summary: string;
  /** The proposed change, exactly as it will be applied. */
  change: Record<string, unknown>;
  /** What the change was based on (tenant generations); a mismatch makes it stale. */
  base: Record<string, unknown>;
  approverRoles: string[];
  requestedBy: string;
  requestedAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  result: Record<string, unknown> | null;
}

/** What a caller asks to put behind an approval. */
export interface ApprovalRequest {
  tenantId: string;
  kind: ApprovalKind | (string & {});
  /** Every kind the change is (a patch can enable a feature and raise a budget at once). */
  kinds?: string[];
  summary: string;
  payload: Record<string, unknown>;
  base?: Record<string, unknown>;
  /** Who applies it when approved (default: `kind`). */
  applier?: string;
  approverRoles?: readonly string[];
  /** Where to announce it besides the platform notifiers. */
  notify?: { email?: string[] };
  requestedRole?: string;
}

/**
 * Applies an approved change inside the decision's transaction; returns what it did and
 * which tenants changed. Throw {@link approvalStale} when the change's base moved on.
 * `prepared` is what the applier's `prepare` step returned (undefined without one).
 */
export type ApprovalApplier<P = unknown> = (
  trx: Transaction<Schema>,
  approval: Approval,
  actor: Actor,
  prepared: P,
) => Promise<{ result: Record<string, unknown>; tenants: string[] }>;

/**
 * An applier with a step that runs before the decision's transaction opens: work that
 * must not hold the transaction (a sandbox run, or any query on the plain connection,
 * which on single-connection PGlite would wait forever for the open transaction). It
 * may throw {@link approvalStale}; the applier re-checks the base under its row locks.
 */
export interface StagedApprovalApplier<P = unknown> {
  prepare: (approval: Approval, actor: Decider) => Promise<P>;
  apply: ApprovalApplier<P>;
}

/** Who decides. */
export interface Decider extends Actor {
  role: string;
  /** The tenant a tenant-role decider is bound to (null for platform roles). */
  tenantId: string | null;
}

/** The error an applier throws when the tenant changed since the request. */
export function approvalStale(detail: string): TenancyError {
  return new TenancyError('approval_stale', `${detail}; the approval was marked stale: request the change again`);
}

/** 404 for an approval that does not exist or is not visible to the caller. */
export function approvalNotFound(id: string): TenancyError {
  return notFound('approval_not_found', `approval ${id} not found`);
}

/** An `approvals` row. */
export type ApprovalRow = Selectable<Schema['approvals']>;

/** A row as the API shows it. */
export function toApproval(r: ApprovalRow): Approval {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    kind: r.kind,
    kinds: r.kinds,
    status: r.status as ApprovalStatus,
    summary: r.summary,
    change: r.payload,
    base: r.base,
    approverRoles: r.approver_roles,
    requestedBy: r.requested_by,
    requestedAt: new Date(r.requested_at).toISOString(),
    decidedBy: r.decided_by,
    decidedAt: r.decided_at ? new Date(r.decided_at).toISOString() : null,
    reason: r.decision_reason,
    result: r.result,
  };
}

/** Filters for {@link ApprovalGate.list}. */
export interface ApprovalFilter {
  tenantId?: string | undefined;
  status?: ApprovalStatus | undefined;
  after?: string | undefined;
  limit: number;
}
