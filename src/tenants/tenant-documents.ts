/**
 * A tenant's documents (features, router, sovereignty, policies): reads, the feature flags
 * and data-sovereignty rules drawn from them, their fingerprint and the states approvals
 * compare, and their writes (each with its audit record and event, in the caller's
 * transaction).
 */
import { createHash } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { SovereigntyRules } from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import { readRouterSpec } from '../ai/router-spec.js';
import type { GateState, RouterBudget } from './approval-rules.js';
import { jsonEqual } from './json-diff.js';
import type { TenantDocument, TenantSpec } from './manifest-schema.js';

type Db = Transaction<Schema> | Kysely<Schema>;

/** The documents stored for a tenant, by kind and name. */
export async function tenantDocuments(db: Kysely<Schema>, id: string): Promise<TenantDocument[]> {
  const rows = await db
    .selectFrom('tenant_documents')
    .selectAll()
    .where('tenant_id', '=', id)
    .orderBy('kind')
    .orderBy('name')
    .execute();
  return rows.map((r) => ({
    kind: r.kind as TenantDocument['kind'],
    tenant: r.tenant_id,
    name: r.name,
    spec: r.spec as Record<string, unknown>,
    ...(r.source ? { source: r.source } : {}),
  }));
}

/**
 * Every document of `kind` of the given tenants, or of every tenant that is not deleted, in
 * one query (the SLO evaluator reads all tenants' SLOs at once).
 */
export async function documentsOfKind(
  db: Db,
  kind: string,
  tenantIds?: readonly string[],
): Promise<Array<{ tenantId: string; name: string; spec: Record<string, unknown> }>> {
  if (tenantIds !== undefined && tenantIds.length === 0) return [];
  let q = db
    .selectFrom('tenant_documents as d')
    .innerJoin('tenants as t', 't.id', 'd.tenant_id')
    .select(['d.tenant_id', 'd.name', 'd.spec'])
    .where('d.kind', '=', kind)
    .where('t.phase', '<>', 'deleted');
  if (tenantIds !== undefined) q = q.where('d.tenant_id', 'in', [...tenantIds]);
  const rows = await q.orderBy('d.tenant_id').orderBy('d.name').execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, name: r.name, spec: r.spec as Record<string, unknown> }));
}

/** The tenant's data-sovereignty rules (one per DataSovereignty document; all of them hold). */
export async function sovereigntyRules(trx: Db, id: string): Promise<SovereigntyRules[]> {
  const docs = await trx
    .selectFrom('tenant_documents')
    .select('spec')
    .where('tenant_id', '=', id)
    .where('kind', '=', 'DataSovereignty')
    .orderBy('name')
    .execute();
  return docs.map((d) => d.spec as SovereigntyRules);
}

/** The data-sovereignty rules of each of `ids` (tenants without rules are absent), in one query. */
export async function sovereigntyRulesOf(trx: Db, ids: readonly string[]): Promise<Map<string, SovereigntyRules[]>> {
  const out = new Map<string, SovereigntyRules[]>();
  if (ids.length === 0) return out;
  const docs = await trx
    .selectFrom('tenant_documents')
    .select(['tenant_id', 'spec'])
    .where('tenant_id', 'in', [...ids])
    .where('kind', '=', 'DataSovereignty')
    .orderBy('tenant_id')
    .orderBy('name')
    .execute();
  for (const d of docs) out.set(d.tenant_id, [...(out.get(d.tenant_id) ?? []), d.spec as SovereigntyRules]);
  return out;
}

/** The flags of the tenant's TenantFeatures documents, merged in name order. */
export async function documentFlags(trx: Db, id: string): Promise<Record<string, boolean | string>> {
  const docs = await trx
    .selectFrom('tenant_documents')
    .select('spec')
    .where('tenant_id', '=', id)
    .where('kind', '=', 'TenantFeatures')
    .orderBy('name')
    .execute();
  return Object.assign({}, ...docs.map((d) => (d.spec as { flags?: Record<string, boolean | string> }).flags ?? {}));
}

/** The budget of the tenant's `TenantRouter` document (model spend), as approvals compare it. */
export async function routerBudget(trx: Db, id: string): Promise<RouterBudget> {
  const spec = await routerDocumentSpec(trx, id);
  const budget = spec ? readRouterSpec(spec)?.budget : undefined;
  return { monthlyUsd: budget?.monthlyUsd, dailyUsd: budget?.dailyUsd };
}

/** The stored spec of the tenant's `TenantRouter` document, or undefined without one. */
export async function routerDocumentSpec(trx: Db, id: string): Promise<unknown> {
  const doc = await trx
    .selectFrom('tenant_documents')
    .select('spec')
    .where('tenant_id', '=', id)
    .where('kind', '=', 'TenantRouter')
    .orderBy('name')
    .executeTakeFirst();
  return doc?.spec;
}

/** A hash of every document of the tenant: an approval based on other documents is stale. */
export async function documentsFingerprint(trx: Db, id: string): Promise<string> {
  const docs = await trx
    .selectFrom('tenant_documents')
    .select(['kind', 'name', 'spec'])
    .where('tenant_id', '=', id)
    .orderBy('kind')
    .orderBy('name')
    .execute();
  return createHash('sha256')
    .update(JSON.stringify(docs.map((d) => [d.kind, d.name, d.spec])))
    .digest('hex');
}

/**
 * What approvals compare for each of `ids` that exists, as seen by `trx`: the stored spec
 * and generation, and (only for tenants whose governance requires approvals) the document
 * flags and fingerprint. One query for the common case of tenants without approvals.
 */
export async function gateStates(
  trx: Transaction<Schema>,
  ids: readonly string[],
): Promise<Map<string, GateState & { generation: number; documents?: string }>> {
  const out = new Map<string, GateState & { generation: number; documents?: string }>();
  if (ids.length === 0) return out;
  const rows = await trx
    .selectFrom('tenants')
    .select(['id', 'spec', 'generation'])
    .where('id', 'in', [...ids])
    .execute();
  for (const row of rows) {
    const spec = row.spec as unknown as TenantSpec;
    const gated = (spec.governance?.approvals?.require?.length ?? 0) > 0;
    out.set(
      row.id,
      gated
        ? {
            spec,
            generation: row.generation,
            docFlags: await documentFlags(trx, row.id),
            routerBudget: await routerBudget(trx, row.id),
            documents: await documentsFingerprint(trx, row.id),
          }
        : { spec, generation: row.generation, docFlags: {} },
    );
  }
  return out;
}

/** Store documents for a tenant inside `trx` (apply); replaces any with the same kind and name. */
export async function putDocuments(
  trx: Transaction<Schema>,
  audit: AuditLog,
  actor: Actor,
  tenantId: string,
  docs: TenantDocument[],
): Promise<{ created: number; updated: number }> {
  let created = 0;
  let updated = 0;
  for (const doc of docs) {
    const existing = await trx
      .selectFrom('tenant_documents')
      .select('spec')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', doc.kind)
      .where('name', '=', doc.name)
      .executeTakeFirst();
    if (existing && jsonEqual(existing.spec, doc.spec)) continue;
    await trx
      .insertInto('tenant_documents')
      .values({
        tenant_id: tenantId,
        kind: doc.kind,
        name: doc.name,
        spec: json(doc.spec),
        source: doc.source ?? null,
        updated_at: new Date().toISOString(),
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'kind', 'name'])
          .doUpdateSet({ spec: json(doc.spec), source: doc.source ?? null, updated_at: new Date().toISOString() }),
      )
      .execute();
    await audit.recordChange(trx, {
      actor,
      action: 'tenant.document.put',
      target: `tenant/${tenantId}/${doc.kind}/${doc.name}`,
      tenantId,
      outcome: 'success',
      details: { kind: doc.kind, name: doc.name },
      event: { type: 'tenant.document_changed', tenantId, payload: { id: tenantId, kind: doc.kind, name: doc.name } },
    });
    if (existing) updated += 1;
    else created += 1;
  }
  return { created, updated };
}
