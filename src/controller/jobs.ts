/**
 * Jobs: long operations (migration runs, archive, restore) as rows with a state, progress
 * (steps done / total), attempts and the last error, so a caller can follow one with
 * `GET /v1/jobs/{id}` and a restarted control plane can pick up what was interrupted.
 */
import type { Kysely, Transaction } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import { TenancyError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import { tenantIdsWhere } from '../tenants/index.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

/** A job as the API shows it. */
export interface Job {
  id: string;
  kind: string;
  tenantId: string | null;
  state: JobState;
  progress: { done: number; total: number };
  attempts: number;
  lastError: string | null;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

type Row = Schema['jobs'] extends infer T ? { [K in keyof T]: unknown } : never;

function toJob(r: Row): Job {
  const iso = (v: unknown) => (v === null ? null : new Date(v as string).toISOString());
  return {
    id: r.id as string,
    kind: r.kind as string,
    tenantId: r.tenant_id as string | null,
    state: r.state as JobState,
    progress: { done: Number(r.progress_done), total: Number(r.progress_total) },
    attempts: Number(r.attempts),
    lastError: r.last_error as string | null,
    params: r.params as Record<string, unknown>,
    result: r.result as Record<string, unknown> | null,
    createdBy: r.created_by as string,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    finishedAt: iso(r.finished_at),
  };
}

/** Add `fields` to a job's result, inside the caller's transaction. */
export async function mergeJobResult(
  trx: Transaction<Schema>,
  id: string,
  fields: Record<string, unknown>,
): Promise<void> {
  const job = await trx.selectFrom('jobs').select('result').where('id', '=', id).executeTakeFirst();
  if (!job) return;
  await trx
    .updateTable('jobs')
    .set({ result: json({ ...((job.result as Record<string, unknown> | null) ?? {}), ...fields }) })
    .where('id', '=', id)
    .execute();
}

/** The jobs table. */
export class JobStore {
  constructor(private readonly db: Kysely<Schema>) {}

  async create(
    input: { kind: string; tenantId: string | null; params: Record<string, unknown>; total: number; createdBy: string },
    db: Kysely<Schema> = this.db,
  ): Promise<Job> {
    const now = new Date().toISOString();
    const id = uuidv7();
    await db
      .insertInto('jobs')
      .values({
        id,
        kind: input.kind,
        tenant_id: input.tenantId,
        state: 'queued',
        progress_done: 0,
        progress_total: input.total,
        attempts: 0,
        last_error: null,
        params: json(input.params),
        result: null,
        created_by: input.createdBy,
        created_at: now,
        updated_at: now,
        finished_at: null,
      })
      .execute();
    return (await this.find(id, db))!;
  }

  async find(id: string, db: Kysely<Schema> = this.db): Promise<Job | undefined> {
    const r = await db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toJob(r as Row) : undefined;
  }

  /**
   * A job by id; tenant-bound callers pass their tenant and see only its jobs: the lookup is
   * scoped to it, so another tenant's job is the same 404 as an unknown id.
   */
  async get(id: string, tenantId?: string): Promise<Job> {
    let job: Job | undefined;
    if (/^[0-9a-f-]{36}$/.test(id)) {
      let q = this.db.selectFrom('jobs').selectAll().where('id', '=', id);
      if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
      const r = await q.executeTakeFirst();
      job = r ? toJob(r as Row) : undefined;
    }
    if (!job) throw new TenancyError('job_not_found', `job ${id.slice(0, 64)} does not exist`);
    return job;
  }

  async list(filter: { tenantId?: string; kind?: string; state?: string; limit: number }): Promise<Job[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
    if (filter.kind !== undefined) q = q.where('kind', '=', filter.kind);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map((r) => toJob(r as Row));
  }

  /** Mark a job running (one more attempt). */
  async start(id: string, total?: number): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .updateTable('jobs')
      .set((eb) => ({
        state: 'running',
        attempts: eb('attempts', '+', 1),
        updated_at: now,
        ...(total !== undefined ? { progress_total: total } : {}),
      }))
      .where('id', '=', id)
      .execute();
  }

  async progress(id: string, done: number, total: number, result?: Record<string, unknown>): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({
        progress_done: done,
        progress_total: total,
        updated_at: new Date().toISOString(),
        ...(result ? { result: json(result) } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  async finish(
    id: string,
    outcome: { state: 'succeeded' | 'failed'; result?: Record<string, unknown>; error?: string },
  ): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .updateTable('jobs')
      .set({
        state: outcome.state,
        last_error: outcome.error ?? null,
        updated_at: now,
        finished_at: now,
        ...(outcome.result ? { result: json(outcome.result) } : {}),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Note why a running job's last attempt failed (it stays running; a retry may still finish it). */
  async recordError(id: string, message: string): Promise<void> {
    await this.db
      .updateTable('jobs')
      .set({ last_error: message.slice(0, 1000), updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .execute();
  }

  /** Jobs that finished since `since`, of tenants that are not deleted (what the usage sampler meters). */
  async finishedSince(since: Date): Promise<Array<{ id: string; tenantId: string; finishedAt: string }>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['id', 'tenant_id', 'finished_at'])
      .where('finished_at', '>=', since)
      .where('tenant_id', 'in', tenantIdsWhere(this.db, { notPhases: ['deleted'] }))
      .execute();
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id!, finishedAt: new Date(r.finished_at!).toISOString() }));
  }

  /** Jobs of `kind` a stopped control plane left unfinished. */
  async unfinished(kind: string): Promise<Job[]> {
    const rows = await this.db
      .selectFrom('jobs')
      .selectAll()
      .where('kind', '=', kind)
      .where('state', 'in', ['queued', 'running'])
      .orderBy('created_at')
      .execute();
    return rows.map((r) => toJob(r as Row));
  }
}
