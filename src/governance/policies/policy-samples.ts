/**
 * Recorded sample requests of a tenant's domain and use case: every commit's sandbox
 * stage decides them besides the document's own samples. Writes are audited and evented
 * (`policy.sample_recorded`, `policy.sample_deleted`).
 */
import type { Kysely, Selectable } from 'kysely';
import { notFound } from '../../errors.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';
import { iso, writableTenant, type Db } from './policy-store.js';

/** A sample request to record. */
export interface SampleInput {
  domainId: string;
  usecaseId: string;
  name: string;
  request: Record<string, unknown>;
  expect?: 'allow' | 'deny' | undefined;
}

/** A recorded sample as the API shows it. */
export interface RecordedSample {
  domainId: string;
  usecaseId: string;
  name: string;
  request: Record<string, unknown>;
  expect: 'allow' | 'deny' | null;
  createdAt: string;
  createdBy: string;
}

/** The recorded samples of a domain and use case, by name (what the sandbox stage decides). */
export function recordedSamples(
  db: Db,
  tenantId: string,
  domainId: string,
  usecaseId: string,
): Promise<Array<Selectable<Schema['policy_samples']>>> {
  return db
    .selectFrom('policy_samples')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('domain_id', '=', domainId)
    .where('usecase_id', '=', usecaseId)
    .orderBy('name')
    .execute();
}

/** Stores recorded samples. */
export class PolicySamples {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
  ) {}

  /** Record (or replace) a sample request for a domain and use case. */
  async put(actor: Actor, tenantId: string, sample: SampleInput): Promise<{ created: boolean }> {
    return this.db.transaction().execute(async (trx) => {
      await writableTenant(trx, tenantId);
      const existing = await trx
        .selectFrom('policy_samples')
        .select('name')
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', sample.domainId)
        .where('usecase_id', '=', sample.usecaseId)
        .where('name', '=', sample.name)
        .executeTakeFirst();
      const values = {
        request: json(sample.request),
        expect: sample.expect ?? null,
        created_at: new Date().toISOString(),
        created_by: actor.id,
      };
      await trx
        .insertInto('policy_samples')
        .values({
          tenant_id: tenantId,
          domain_id: sample.domainId,
          usecase_id: sample.usecaseId,
          name: sample.name,
          ...values,
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'domain_id', 'usecase_id', 'name']).doUpdateSet(values))
        .execute();
      const details = { domainId: sample.domainId, usecaseId: sample.usecaseId, name: sample.name };
      await this.audit.recordChange(trx, {
        actor,
        action: 'policy.sample.put',
        target: `tenant/${tenantId}/policy-sample/${sample.domainId}/${sample.usecaseId}/${sample.name}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'policy.sample_recorded', tenantId, payload: details },
      });
      return { created: !existing };
    });
  }

  /** Recorded samples, optionally of one domain and use case. */
  async list(
    tenantId: string,
    filter: { domainId?: string | undefined; usecaseId?: string | undefined } = {},
  ): Promise<RecordedSample[]> {
    let q = this.db.selectFrom('policy_samples').selectAll().where('tenant_id', '=', tenantId);
    if (filter.domainId) q = q.where('domain_id', '=', filter.domainId);
    if (filter.usecaseId) q = q.where('usecase_id', '=', filter.usecaseId);
    const rows = await q.orderBy('domain_id').orderBy('usecase_id').orderBy('name').execute();
    return rows.map((r) => ({
      domainId: r.domain_id,
      usecaseId: r.usecase_id,
      name: r.name,
      request: r.request,
      expect: r.expect,
      createdAt: iso(r.created_at),
      createdBy: r.created_by,
    }));
  }

  /** Delete a recorded sample. */
  async delete(actor: Actor, tenantId: string, domainId: string, usecaseId: string, name: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const gone = await trx
        .deleteFrom('policy_samples')
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', domainId)
        .where('usecase_id', '=', usecaseId)
        .where('name', '=', name)
        .executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0)
        throw notFound('policy_sample_not_found', `no sample ${domainId}/${usecaseId}/${name}`);
      const details = { domainId, usecaseId, name };
      await this.audit.recordChange(trx, {
        actor,
        action: 'policy.sample.delete',
        target: `tenant/${tenantId}/policy-sample/${domainId}/${usecaseId}/${name}`,
        tenantId,
        outcome: 'success',
        details,
        event: { type: 'policy.sample_deleted', tenantId, payload: details },
      });
    });
  }
}
