/**
 * Budget events, once per tenant, window and kind: `router.budget.threshold` when spend and
 * holds reach the tenant's threshold share, `router.budget.exhausted` when a call is refused
 * for lack of budget. Written with an audit record through the change ledger, so webhooks
 * deliver them like every other event; a row per window makes them once across replicas.
 */
import type { Kysely } from 'kysely';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { WindowUsage } from './budget-ledger.js';

export type BudgetNoticeKind = 'threshold' | 'exhausted';

/** Sends each budget notice once. */
export class BudgetNotices {
  readonly #sent = new Set<string>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Send the notice unless it was sent for this window (fire and forget: never on the request path). */
  notify(tenantId: string, kind: BudgetNoticeKind, window: WindowUsage, extra: Record<string, unknown> = {}): void {
    const key = `${tenantId}\u0000${window.key}\u0000${kind}`;
    if (this.#sent.has(key)) return;
    this.#sent.add(key);
    if (this.#sent.size > 100_000) this.#sent.clear();
    void this.#send(tenantId, kind, window, extra).catch((error) => {
      this.#sent.delete(key);
      this.onError(error);
    });
  }

  async #send(
    tenantId: string,
    kind: BudgetNoticeKind,
    window: WindowUsage,
    extra: Record<string, unknown>,
  ): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('ai_budget_notices')
        .values({ tenant_id: tenantId, window_key: window.key, kind, created_at: new Date().toISOString() })
        .onConflict((oc) => oc.doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) return;
      const payload = {
        window: window.window,
        windowKey: window.key,
        limitUsd: window.limitMicros === null ? null : window.limitMicros / 1e6,
        spentUsd: window.spentMicros / 1e6,
        reservedUsd: window.reservedMicros / 1e6,
        resetsAt: window.resetsAt.toISOString(),
        ...extra,
      };
      await this.audit.recordChange(trx, {
        actor: { id: 'system:model-router', correlationId: `budget-${kind}` },
        action: `router.budget.${kind}`,
        target: `tenant/${tenantId}/router`,
        tenantId,
        outcome: 'success',
        details: payload,
        event: { type: `router.budget.${kind}`, tenantId, payload },
      });
    });
  }
}
