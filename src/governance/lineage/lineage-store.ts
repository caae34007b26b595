/**
 * Lineage: which source, query and chunk each of a tenant's answers came from, which agent
 * and policy version produced it, and how far it was trusted. Records arrive in batches
 * (all or nothing, one audit record and one `lineage.recorded` event per batch), are read
 * per tenant in time order with keyset pagination, and export as JSON Lines.
 */
import { v7 as uuidv7 } from 'uuid';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { z } from 'zod';
import type { Schema } from '../../schema.js';
import type { Actor, AuditLog } from '../../ledger/audit-log.js';

/** Most records one batch may carry. */
export const MAX_LINEAGE_BATCH = 1_000;
/** How far in the future a record's timestamp may be (clock skew). */
export const LINEAGE_FUTURE_SKEW_MS = 5 * 60_000;

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/,
    'must be letters, digits, ".", "_", ":", "/", "-", starting with a letter or digit',
  );
const ref = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const lineageRecordSchema = z
  .strictObject({
    domain: name,
    usecase: name,
    sourceId: ref,
    queryId: ref,
    chunkId: ref.optional(),
    trustScore: z.number({ error: 'must be a number from 0 to 1' }).min(0, 'must be >= 0').max(1, 'must be <= 1'),
    agentId: ref.optional(),
    policyVersion: z
      .string()
      .min(1)
      .max(64, 'must be at most 64 characters')
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
    timestamp: z.iso
      .datetime({ offset: true, error: 'must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z' })
      .refine((t) => Date.parse(t) <= Date.now() + LINEAGE_FUTURE_SKEW_MS, 'must not be in the future')
      .optional(),
  })
  .meta({ id: 'LineageRecord' });

export const lineageBatchSchema = z
  .strictObject({
    records: z
      .array(lineageRecordSchema)
      .min(1, 'needs at least one record')
      .max(MAX_LINEAGE_BATCH, `at most ${MAX_LINEAGE_BATCH} records per batch`),
  })
  .meta({ id: 'LineageBatch', description: 'Lineage records to store for the tenant; all or nothing.' });

export type LineageInput = z.infer<typeof lineageRecordSchema>;

/** A stored lineage record. */
export interface LineageRecord {
  id: string;
  tenantId: string;
  domain: string;
  usecase: string;
  sourceId: string;
  queryId: string;
  chunkId: string | null;
  trustScore: number;
  agentId: string | null;
  policyVersion: string | null;
  timestamp: string;
  recordedAt: string;
}

/** Which records a read returns. */
export interface LineageFilter {
  tenantId: string;
  from?: Date | undefined;
  to?: Date | undefined;
  domain?: string | undefined;
  usecase?: string | undefined;
  /** Keyset cursor: records after this (timestamp, id). */
  after?: { ts: string; id: string } | undefined;
  limit: number;
}

function toRecord(r: Selectable<Schema['lineage_records']>): LineageRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    domain: r.domain,
    usecase: r.usecase,
    sourceId: r.source_id,
    queryId: r.query_id,
    chunkId: r.chunk_id,
    trustScore: Number(r.trust_score),
    agentId: r.agent_id,
    policyVersion: r.policy_version,
    timestamp: new Date(r.ts).toISOString(),
    recordedAt: new Date(r.recorded_at).toISOString(),
  };
}

/** Delete a tenant's lineage records (its purge), inside the caller's transaction; how many. */
export async function purgeTenantLineage(trx: Transaction<Schema>, tenantId: string): Promise<number> {
  const r = await trx.deleteFrom('lineage_records').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Stores and reads lineage per tenant. */
export class LineageStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
  ) {}

  /** Store a validated batch for `tenantId` in one transaction. */
  async record(
    actor: Actor,
    tenantId: string,
    records: readonly LineageInput[],
  ): Promise<{ accepted: number; ids: string[] }> {
    const now = new Date().toISOString();
    const rows = records.map((r) => ({
      id: uuidv7(),
      tenant_id: tenantId,
      domain: r.domain,
      usecase: r.usecase,
      source_id: r.sourceId,
      query_id: r.queryId,
      chunk_id: r.chunkId ?? null,
      trust_score: r.trustScore,
      agent_id: r.agentId ?? null,
      policy_version: r.policyVersion ?? null,
      ts: r.timestamp ? new Date(r.timestamp).toISOString() : now,
      recorded_at: now,
      recorded_by: actor.id,
    }));
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 200)
        await trx
          .insertInto('lineage_records')
          .values(rows.slice(i, i + 200))
          .execute();
      const domains = [...new Set(rows.map((r) => r.domain))].slice(0, 20);
      await this.audit.recordChange(trx, {
        actor,
        action: 'lineage.record',
        target: `tenant/${tenantId}/lineage`,
        tenantId,
        outcome: 'success',
        details: { count: rows.length, domains },
        event: { type: 'lineage.recorded', tenantId, payload: { id: tenantId, count: rows.length, domains } },
      });
    });
    return { accepted: rows.length, ids: rows.map((r) => r.id) };
  }

  /** A page of records in (timestamp, id) order. */
  async list(filter: LineageFilter): Promise<LineageRecord[]> {
    let q = this.db.selectFrom('lineage_records').selectAll().where('tenant_id', '=', filter.tenantId);
    if (filter.from) q = q.where('ts', '>=', filter.from);
    if (filter.to) q = q.where('ts', '<', filter.to);
    if (filter.domain !== undefined) q = q.where('domain', '=', filter.domain);
    if (filter.usecase !== undefined) q = q.where('usecase', '=', filter.usecase);
    const after = filter.after;
    if (after) {
      const at = new Date(after.ts);
      q = q.where((eb) => eb.or([eb('ts', '>', at), eb.and([eb('ts', '=', at), eb('id', '>', after.id)])]));
    }
    const rows = await q.orderBy('ts').orderBy('id').limit(filter.limit).execute();
    return rows.map(toRecord);
  }

  /** Every matching record, page by page (for streaming exports; holds no transaction open). */
  async *all(filter: Omit<LineageFilter, 'limit' | 'after'>, pageSize = 1_000): AsyncGenerator<LineageRecord> {
    let after: { ts: string; id: string } | undefined;
    for (;;) {
      const page = await this.list({ ...filter, after, limit: pageSize });
      for (const r of page) yield r;
      if (page.length < pageSize) return;
      const last = page[page.length - 1]!;
      after = { ts: last.timestamp, id: last.id };
    }
  }
}
