/**
 * The registry's writes of the `tenants` table, inside the caller's transaction, each with
 * its audit record and outbox event: a new tenant, a new spec (the next generation), a
 * lifecycle verb, and the row lock the read-modify-write use cases take first.
 */
import type { Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { conflict, notFound } from '../errors.js';
import { evaluateSovereignty, sovereigntyRefusal } from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import { diff, type FieldChange } from './json-diff.js';
import { nextPhase, type Phase, type Verb } from './lifecycle.js';
import type { TenantManifest } from './manifest-schema.js';
import { sovereigntyRules } from './tenant-documents.js';
import { setCondition, tenantFromRow, type Tenant, type TenantRow } from './tenant.js';

/** The tenant's row, locked for the rest of `trx`, or 404. */
export async function lockTenantRow(trx: Transaction<Schema>, id: string): Promise<TenantRow> {
  const row = await trx.selectFrom('tenants').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!row) throw notFound('tenant_not_found', `tenant ${id} not found`);
  return row;
}

/** Insert a tenant in `provisioning`; an id that ever existed (even deleted) is taken. */
export async function insertTenant(
  trx: Transaction<Schema>,
  audit: AuditLog,
  actor: Actor,
  manifest: TenantManifest,
): Promise<Tenant> {
  const now = new Date().toISOString();
  const id = manifest.metadata.id;
  const inserted = await trx
    .insertInto('tenants')
    .values({
      id,
      uid: uuidv7(),
      generation: 1,
      spec: json(manifest.spec),
      labels: json(manifest.metadata.labels ?? {}),
      plan: manifest.spec.plan,
      profile: manifest.spec.profile,
      region: manifest.spec.region,
      phase: 'provisioning',
      observed_generation: 0,
      conditions: json([
        {
          type: 'Ready',
          status: 'False',
          reason: 'Provisioning',
          message: 'waiting for the controller',
          lastTransitionTime: now,
        },
      ]),
      status_reason: null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) {
    throw conflict('tenant_exists', `tenant ${id} already exists (ids stay reserved after deletion)`);
  }
  await audit.recordChange(trx, {
    actor,
    action: 'tenant.create',
    target: `tenant/${id}`,
    tenantId: id,
    outcome: 'success',
    details: { plan: manifest.spec.plan, profile: manifest.spec.profile },
    event: { type: 'tenant.created', tenantId: id, payload: { id, generation: 1 } },
  });
  return tenantFromRow(inserted);
}

/** Store a validated manifest over an existing row (update and apply); no-op when nothing differs. */
export async function writeSpec(
  trx: Transaction<Schema>,
  audit: AuditLog,
  actor: Actor,
  row: TenantRow,
  manifest: TenantManifest,
  action: string,
  extra?: Record<string, unknown>,
): Promise<{ tenant: Tenant; changes: FieldChange[] }> {
  const before = { metadata: { labels: row.labels }, spec: row.spec };
  const after = { metadata: { labels: manifest.metadata.labels ?? {} }, spec: manifest.spec };
  const changes = diff(before, after);
  if (changes.length === 0) return { tenant: tenantFromRow(row), changes };
  const generation = row.generation + 1;
  const updated = await trx
    .updateTable('tenants')
    .set({
      spec: json(manifest.spec),
      labels: json(manifest.metadata.labels ?? {}),
      plan: manifest.spec.plan,
      profile: manifest.spec.profile,
      region: manifest.spec.region,
      generation,
      updated_at: new Date().toISOString(),
    })
    .where('id', '=', row.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit.recordChange(trx, {
    actor,
    action,
    target: `tenant/${row.id}`,
    tenantId: row.id,
    outcome: 'success',
    details: { generation, changed: changes.map((c) => c.path), ...extra },
    event: {
      type: 'tenant.updated',
      tenantId: row.id,
      payload: { id: row.id, generation, changed: changes.map((c) => c.path) },
    },
  });
  return { tenant: tenantFromRow(updated), changes };
}

/**
 * Run a lifecycle verb inside `trx`: the phase it leads to, the `Ready` condition it sets,
 * its audit record and event; a delete the tenant's data-sovereignty rules forbid is refused.
 */
export async function writeTransition(
  trx: Transaction<Schema>,
  audit: AuditLog,
  actor: Actor,
  id: string,
  verb: Exclude<Verb, 'update'>,
  reason?: string,
): Promise<Tenant> {
  const row = await lockTenantRow(trx, id);
  const from = row.phase as Phase;
  const to = nextPhase(verb, from, id);
  if (verb === 'delete') {
    const createdAt = new Date(row.created_at);
    const violations = (await sovereigntyRules(trx, id)).flatMap((rules) =>
      evaluateSovereignty(rules, { operation: 'delete', dataClass: 'data', createdAt }),
    );
    if (violations.length > 0) throw sovereigntyRefusal(violations, () => '', `deleting tenant ${id}`);
  }
  const now = new Date();
  let conditions = row.conditions as Tenant['status']['conditions'];
  const readyReason = {
    suspend: 'Suspended',
    resume: 'Resumed',
    archive: 'Archiving',
    restore: 'Restoring',
    delete: 'Deleting',
  }[verb];
  conditions = setCondition(
    conditions,
    {
      type: 'Ready',
      status: verb === 'resume' ? 'True' : 'False',
      reason: readyReason,
      message: reason ?? `${verb} requested`,
    },
    now,
  );
  const updated = await trx
    .updateTable('tenants')
    .set({ phase: to, status_reason: reason ?? null, conditions: json(conditions), updated_at: now.toISOString() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit.recordChange(trx, {
    actor,
    action: `tenant.${verb}`,
    target: `tenant/${id}`,
    tenantId: id,
    outcome: 'success',
    details: { from, to, ...(reason ? { reason } : {}) },
    event: {
      type: `tenant.${verb === 'delete' ? 'deleting' : `${verb}${verb.endsWith('e') ? 'd' : 'ed'}`}`,
      tenantId: id,
      payload: { id, from, to },
    },
  });
  return tenantFromRow(updated);
}
