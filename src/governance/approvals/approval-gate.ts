/**
 * The approval gate: a change that a tenant's governance marks as needing approval is
 * stored as a `pending` approval instead of being applied. An approver with the right role
 * (never the requester) approves it, which applies the stored change through the
 * change's own code path in the same transaction as the decision, or rejects it.
 *
 * What "apply" means belongs to whoever asked: each request names an `applier` (by default
 * its kind), and {@link ApprovalGate.onApproved} registers the function that applies it.
 * Tenant changes register `tenant.change`; policy commits register `policyChange`, whose
 * `prepare` step re-runs the policy sandbox before the decision's transaction opens.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { TenancyError } from '../../errors.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import {
  APPROVAL_ID_PATTERN,
  APPROVER_ROLES,
  approvalNotFound,
  toApproval,
  type Approval,
  type ApprovalApplier,
  type ApprovalFilter,
  type ApprovalRequest,
  type ApprovalRow,
  type ApprovalStatus,
  type Decider,
  type StagedApprovalApplier,
} from './approval-model.js';

/** Stores, decides and applies approvals. */
export class ApprovalGate {
  readonly #appliers = new Map<string, StagedApprovalApplier | { prepare?: undefined; apply: ApprovalApplier }>();
  readonly #decided: Array<(approval: Approval, tenants: string[]) => void> = [];

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
  ) {}

  /**
   * Register how changes of `applier` (a kind, or a named applier like `tenant.change`) are
   * applied: a function, or `{ prepare, apply }` when part of the work must run before the
   * decision's transaction (its result is handed to `apply`).
   */
  onApproved<P>(applier: string, apply: ApprovalApplier<undefined> | StagedApprovalApplier<P>): void {
    if (this.#appliers.has(applier)) throw new Error(`an applier for ${applier} is already registered`);
    this.#appliers.set(
      applier,
      typeof apply === 'function' ? { apply: apply as ApprovalApplier } : (apply as StagedApprovalApplier),
    );
  }

  /** Called after a decision commits (with the tenants an approval changed), e.g. to invalidate caches. */
  onDecided(listener: (approval: Approval, tenants: string[]) => void): void {
    this.#decided.push(listener);
  }

  /** Store a pending approval inside `trx`, with its audit record and `approval.requested` event. */
  async requestApproval(trx: Transaction<Schema>, actor: Actor, request: ApprovalRequest): Promise<Approval> {
    const id = `apr_${randomBytes(12).toString('hex')}`;
    const now = new Date().toISOString();
    const kinds = request.kinds && request.kinds.length > 0 ? [...new Set(request.kinds)] : [request.kind];
    const row = await trx
      .insertInto('approvals')
      .values({
        id,
        tenant_id: request.tenantId,
        kind: request.kind,
        kinds: json(kinds),
        applier: request.applier ?? request.kind,
        status: 'pending',
        summary: request.summary.slice(0, 2000),
        payload: json(request.payload),
        base: json(request.base ?? {}),
        requested_by: actor.id,
        requested_role: request.requestedRole ?? null,
        requested_at: now,
        correlation_id: actor.correlationId,
        approver_roles: json(
          request.approverRoles && request.approverRoles.length > 0 ? [...request.approverRoles] : [...APPROVER_ROLES],
        ),
        notify: json(request.notify ?? {}),
        notified_status: null,
        notify_after: null,
        result: json(null),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.recordChange(trx, {
      actor,
      action: 'approval.request',
      target: `approval/${id}`,
      tenantId: request.tenantId,
      outcome: 'success',
      details: { kind: request.kind, kinds, summary: request.summary.slice(0, 500) },
      event: {
        type: 'approval.requested',
        tenantId: request.tenantId,
        payload: {
          id,
          tenantId: request.tenantId,
          kind: request.kind,
          kinds,
          summary: request.summary.slice(0, 500),
          requestedBy: actor.id,
        },
      },
    });
    return toApproval(row);
  }

  /**
   * One approval, or undefined. With `tenantId`, only that tenant's: another tenant's is
   * undefined by the same query that finds no unknown id.
   */
  async find(id: string, tenantId?: string): Promise<Approval | undefined> {
    if (!APPROVAL_ID_PATTERN.test(id)) return undefined;
    let q = this.db.selectFrom('approvals').selectAll().where('id', '=', id);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const row = await q.executeTakeFirst();
    return row ? toApproval(row) : undefined;
  }

  /** Approvals, newest first. */
  async list(filter: ApprovalFilter): Promise<Approval[]> {
    let q = this.db.selectFrom('approvals').selectAll();
    if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.status !== undefined) q = q.where('status', '=', filter.status);
    if (filter.after !== undefined) q = q.where('id', '<', filter.after);
    const rows = await q.orderBy('requested_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toApproval);
  }

  /**
   * Approve (apply the change, then record the decision, in one transaction) or reject.
   * The requester may not approve their own request (rejecting it withdraws it); any other
   * decider's role must be one of the approval's approver roles. A stale change is refused and the approval marked `stale`.
   * An applier's `prepare` step runs first, outside the transaction, after the same checks.
   */
  async decide(decider: Decider, id: string, decision: 'approve' | 'reject', reason?: string): Promise<Approval> {
    let touched: string[] = [];
    let approval: Approval;
    try {
      let prepared: unknown;
      if (decision === 'approve') {
        // Checked here too, so nobody without the right to decide makes the prepare step run.
        const row = await this.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
        const current = this.#decidable(row, decider, id, decision);
        const entry = this.#appliers.get(row!.applier);
        if (entry?.prepare) prepared = await entry.prepare(current, decider);
      }
      approval = await this.db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('approvals').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
        const current = this.#decidable(row, decider, id, decision);
        let result: Record<string, unknown> | null = null;
        if (decision === 'approve') {
          const entry = this.#appliers.get(row!.applier);
          if (!entry)
            throw new TenancyError(
              'approval_unappliable',
              `nothing in this control plane applies "${row!.applier}" changes yet; the approval stays pending`,
            );
          const applied = await entry.apply(trx, current, decider, prepared);
          result = applied.result;
          touched = applied.tenants;
        }
        const status: ApprovalStatus = decision === 'approve' ? 'approved' : 'rejected';
        const updated = await trx
          .updateTable('approvals')
          .set({
            status,
            decided_by: decider.id,
            decided_role: decider.role,
            decided_at: new Date().toISOString(),
            decision_reason: reason ?? null,
            result: json(result),
            notify_attempts: 0,
            notify_after: null,
            notify_error: null,
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow();
        await this.audit.recordChange(trx, {
          actor: decider,
          action: `approval.${decision}`,
          target: `approval/${id}`,
          tenantId: current.tenantId,
          outcome: 'success',
          details: { kind: current.kind, requestedBy: current.requestedBy, ...(reason ? { reason } : {}) },
          event: {
            type: `approval.${status}`,
            tenantId: current.tenantId,
            payload: {
              id,
              tenantId: current.tenantId,
              kind: current.kind,
              decidedBy: decider.id,
              ...(reason ? { reason } : {}),
            },
          },
        });
        return toApproval(updated);
      });
    } catch (error) {
      if (error instanceof TenancyError && error.code === 'approval_stale')
        await this.#markStale(decider, id, error.detail);
      throw error;
    }
    for (const l of this.#decided) l(approval, touched);
    return approval;
  }

  /** The approval if `decider` may take `decision` on it now; else the problem that says why not. */
  #decidable(row: ApprovalRow | undefined, decider: Decider, id: string, decision: 'approve' | 'reject'): Approval {
    if (!row || (decider.tenantId !== null && row.tenant_id !== decider.tenantId)) throw approvalNotFound(id);
    const current = toApproval(row);
    if (current.status !== 'pending')
      throw new TenancyError('approval_not_pending', `approval ${id} is already ${current.status}`, {
        extensions: { approvalStatus: current.status },
      });
    const withdrawal = current.requestedBy === decider.id && decision === 'reject';
    if (current.requestedBy === decider.id && decision === 'approve')
      throw new TenancyError(
        'self_approval',
        'the requester of a change cannot approve it; another approver must decide (the requester may reject it to withdraw it)',
      );
    if (!withdrawal && !current.approverRoles.includes(decider.role)) {
      throw new TenancyError(
        'approver_role_required',
        `role ${decider.role} is not an approver for this change (approvers: ${current.approverRoles.join(', ')})`,
        { extensions: { approverRoles: current.approverRoles } },
      );
    }
    return current;
  }

  async #markStale(actor: Actor, id: string, detail: string): Promise<void> {
    const tenants = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('approvals')
        .set({
          status: 'stale',
          decided_at: new Date().toISOString(),
          decision_reason: detail.slice(0, 1000),
          notify_attempts: 0,
          notify_after: null,
        })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .returningAll()
        .executeTakeFirst();
      if (!row) return undefined;
      await this.audit.recordChange(trx, {
        actor,
        action: 'approval.stale',
        target: `approval/${id}`,
        tenantId: row.tenant_id,
        outcome: 'failure',
        details: { detail },
        event: {
          type: 'approval.stale',
          tenantId: row.tenant_id,
          payload: { id, tenantId: row.tenant_id, kind: row.kind },
        },
      });
      return toApproval(row);
    });
    if (tenants) for (const l of this.#decided) l(tenants, []);
  }

  /** Approvals whose status the notifiers have not been told about and that are due. */
  async claimUnannounced(
    limit: number,
    leaseMs: number,
  ): Promise<Array<Approval & { notify: { email?: string[] }; attempts: number }>> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('approvals')
        .selectAll()
        .where(sql<boolean>`notified_status is distinct from status`)
        .where((eb) => eb.or([eb('notify_after', 'is', null), eb('notify_after', '<=', new Date())]))
        .orderBy('requested_at')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length === 0) return [];
      await trx
        .updateTable('approvals')
        .set({ notify_after: new Date(Date.now() + leaseMs).toISOString() })
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      return rows.map((r) => ({ ...toApproval(r), notify: r.notify, attempts: r.notify_attempts }));
    });
  }

  /** Record that notifiers were told about `status` (or, with `error`, when to try again). */
  async markAnnounced(
    id: string,
    status: string,
    outcome: { error?: string; retryAt?: Date; attempts: number },
  ): Promise<void> {
    await this.db
      .updateTable('approvals')
      .set(
        outcome.retryAt
          ? {
              notify_attempts: outcome.attempts,
              notify_after: outcome.retryAt.toISOString(),
              notify_error: outcome.error ?? null,
            }
          : {
              notified_status: status,
              notify_attempts: outcome.attempts,
              notify_after: null,
              notify_error: outcome.error ?? null,
            },
      )
      .where('id', '=', id)
      .where('status', '=', status)
      .execute();
  }
}
