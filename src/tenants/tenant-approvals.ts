/**
 * How approved tenant changes are applied: a stored patch goes through the registry's
 * update, a stored bundle through apply, both inside the decision's transaction and only
 * if every tenant they touch is still at the generation (and documents) they were based
 * on; otherwise the approval is stale.
 */
import type { Transaction } from 'kysely';
import { approvalStale, type Approval, type ApprovalGate } from '../governance/index.js';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import { applyItems } from './apply-items.js';
import { parseBundle } from './bundle-schema.js';
import { TENANT_CHANGE_APPLIER, type TenantRegistry } from './tenant-registry.js';

async function assertFresh(
  trx: Transaction<Schema>,
  registry: TenantRegistry,
  approval: Approval,
  tenants: readonly string[],
): Promise<void> {
  const base = approval.base as { generations?: Record<string, number>; documents?: Record<string, string> };
  for (const id of tenants) {
    const row = await trx
      .selectFrom('tenants')
      .select('generation')
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
    const expected = base.generations?.[id];
    if (expected === undefined) {
      if (row) throw approvalStale(`tenant ${id} was created after the change was requested`);
      continue;
    }
    if (!row) throw approvalStale(`tenant ${id} no longer exists`);
    if (row.generation !== expected)
      throw approvalStale(
        `tenant ${id} is at generation ${row.generation}, but the change was requested at generation ${expected}`,
      );
    if (base.documents?.[id] !== undefined && (await registry.documentsFingerprint(trx, id)) !== base.documents[id]) {
      throw approvalStale(`the documents of tenant ${id} changed after the change was requested`);
    }
  }
}

/** Turn approvals on for the registry and register the applier of tenant changes. */
export function registerTenantApprovals(gate: ApprovalGate, registry: TenantRegistry): void {
  registry.useApprovals(gate);
  gate.onApproved(TENANT_CHANGE_APPLIER, async (trx: Transaction<Schema>, approval: Approval, actor: Actor) => {
    const change = approval.change as { type?: string; patch?: unknown; bundle?: unknown };
    if (change.type === 'patch') {
      await assertFresh(trx, registry, approval, [approval.tenantId]);
      const { tenant, changes } = await registry.updateIn(trx, actor, approval.tenantId, change.patch, {
        approvalId: approval.id,
      });
      return {
        result: {
          tenant: tenant.metadata.id,
          generation: tenant.metadata.generation,
          changed: changes.map((c) => c.path),
        },
        tenants: [tenant.metadata.id],
      };
    }
    if (change.type === 'bundle') {
      const { items } = parseBundle(change.bundle);
      const ids = [...new Set(items.map((i) => ('tenant' in i ? i.tenant.metadata.id : i.document.tenant)))];
      await assertFresh(trx, registry, approval, ids);
      const outcome = await applyItems(trx, registry, actor, items, { approvalId: approval.id });
      return { result: { items: outcome.plan }, tenants: [...outcome.touched] };
    }
    throw new Error(`approval ${approval.id} holds an unknown tenant change type ${String(change.type)}`);
  });
  gate.onDecided((_approval, tenants) => {
    for (const id of tenants) registry.notify(id);
  });
}
