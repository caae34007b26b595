/**
 * Archive and restore of a tenant's live data through cold storage.
 *
 * archive: every table of the tenant's schema or database is exported as JSON Lines (one
 * `row_to_json` per row, sorted, so the file's SHA-256 is also a checksum of the table's
 * content whatever the physical order), with its column definitions and sequence values;
 * every object is copied; `manifest.json` (row counts, byte sizes, checksums, migration
 * version) is written last, to `archive/<tenant>/<timestamp>/` in the object store. Only
 * then are the live database and objects removed.
 *
 * restore: the tenant's database is made fresh, the app's migrations are replayed up to
 * the archived version (tables outside the migration set are created from the recorded
 * column definitions), rows are loaded in foreign-key order, sequences are set, and every
 * table is exported again inside the same transaction and compared with the manifest; any
 * difference rolls the load back. Objects are checked against their checksums as they are
 * copied back. Every step is idempotent, so a crash anywhere is healed by running it again.
 */
import canonicalize from 'canonicalize';
import type { Kysely } from 'kysely';
import { TenancyError } from '../../errors.js';
import type { ObjectStore } from '../../infra/objects/index.js';
import { json } from '../../infra/sql/index.js';
import type { Schema } from '../../schema.js';
import type { TenantMigrator } from '../migrations/tenant-migrator.js';
import { strategyFor, type IsolationContext } from '../strategy.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { ARCHIVE_BUCKET, type ArchiveIo, type ArchiveManifest, type Progress } from './archive-format.js';
import { exportTenantData } from './archive-export.js';
import { importTenantData } from './archive-import.js';

export { ARCHIVE_BUCKET } from './archive-format.js';
export type { ArchiveManifest } from './archive-format.js';

/**
 * Where the archiver reports its long operations (archive, restore, a move's copy): a job
 * each, with progress and an outcome. Declared here so isolation depends on no caller; the
 * composition root passes the control plane's job store.
 */
export interface ArchiveProgress {
  create(input: {
    kind: string;
    tenantId: string | null;
    params: Record<string, unknown>;
    total: number;
    createdBy: string;
  }): Promise<{ id: string }>;
  start(id: string): Promise<void>;
  progress(id: string, done: number, total: number): Promise<void>;
  find(id: string): Promise<{ state: string } | undefined>;
  /** Note why the last attempt failed; the job stays running. */
  recordError(id: string, message: string): Promise<void>;
  finish(
    id: string,
    outcome: { state: 'succeeded' | 'failed'; result?: Record<string, unknown>; error?: string },
  ): Promise<void>;
}

/** Archives tenants into the object store and brings them back. */
export class TenantArchiver {
  constructor(
    private readonly store: Kysely<Schema>,
    private readonly warehouse: Warehouse,
    private readonly objects: ObjectStore,
    readonly jobs: ArchiveProgress,
    private readonly migrator: TenantMigrator | undefined,
    readonly bucket = ARCHIVE_BUCKET,
  ) {}

  /** Export the tenant, then remove its live database and objects. Safe to run again after a crash. */
  async archive(ctx: IsolationContext): Promise<{ location: string; manifest: ArchiveManifest }> {
    let row = await this.store
      .selectFrom('tenant_archives')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .where('state', 'in', ['exporting', 'complete'])
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (!row) {
      const id = new Date().toISOString().replace(/[:.]/g, '-');
      const job = await this.jobs.create({
        kind: 'archive',
        tenantId: ctx.tenantId,
        params: { archive: id },
        total: 0,
        createdBy: 'system:controller',
      });
      await this.store
        .insertInto('tenant_archives')
        .values({
          tenant_id: ctx.tenantId,
          id,
          state: 'exporting',
          location: `${this.bucket}/${ctx.tenantId}/${id}/`,
          job_id: job.id,
          manifest: null,
          created_at: new Date().toISOString(),
          completed_at: null,
          restored_at: null,
        })
        .execute();
      row = await this.store
        .selectFrom('tenant_archives')
        .selectAll()
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
    }
    const prefix = `${ctx.tenantId}/${row.id}/`;
    const jobId = row.job_id!;
    let manifest = row.manifest as unknown as ArchiveManifest | null;
    if (row.state === 'exporting') {
      await this.jobs.start(jobId);
      try {
        manifest = await this.exportData(ctx, prefix, (done, total) => this.jobs.progress(jobId, done, total));
      } catch (error) {
        await this.jobs.progress(jobId, 0, 0);
        await this.jobs.recordError(jobId, (error as Error).message);
        throw error;
      }
      await this.store
        .updateTable('tenant_archives')
        .set({
          state: 'complete',
          manifest: json(manifest as unknown as Record<string, unknown>),
          completed_at: new Date().toISOString(),
        })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', row.id)
        .execute();
    }
    // The export is complete and in cold storage: now the live copies go.
    await this.#removeLive(ctx);
    const counts = {
      tables: manifest!.tables.length,
      rows: manifest!.tables.reduce((n, t) => n + t.rows, 0),
      objects: manifest!.objects.length,
    };
    const job = await this.jobs.find(jobId);
    if (job && job.state !== 'succeeded')
      await this.jobs.finish(jobId, { state: 'succeeded', result: { location: row.location, ...counts } });
    return { location: row.location, manifest: manifest! };
  }

  /**
   * Export the tenant's tables, sequences and objects under `prefix` in the archive bucket,
   * `manifest.json` last (archive, and the staging copy of a profile move).
   */
  async exportData(
    ctx: IsolationContext,
    prefix: string,
    progress: Progress = async () => undefined,
  ): Promise<ArchiveManifest> {
    return exportTenantData(this.#io(), ctx, prefix, progress);
  }

  /** What the export and import work with. */
  #io(): ArchiveIo {
    return { warehouse: this.warehouse, objects: this.objects, bucket: this.bucket, migrator: this.migrator };
  }

  async #removeLive(ctx: IsolationContext): Promise<void> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    await this.warehouse.remove(ctx);
    await this.migrator?.forget(ctx.tenantId);
    if (plan.objects.prefix) await this.objects.deletePrefix(plan.objects.bucket, plan.objects.prefix);
    else await this.objects.removeBucket(plan.objects.bucket, { force: true });
  }

  /** The archive a restore should bring back, if any. */
  async pendingRestore(
    tenantId: string,
  ): Promise<{ id: string; location: string; manifest: ArchiveManifest } | undefined> {
    const row = await this.store
      .selectFrom('tenant_archives')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('state', '=', 'complete')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    return row
      ? { id: row.id, location: row.location, manifest: row.manifest as unknown as ArchiveManifest }
      : undefined;
  }

  /**
   * Bring the latest complete archive back into freshly made live resources and verify it.
   * Call after the tenant's bucket or prefix exists and before the app's newer migrations.
   */
  async restore(ctx: IsolationContext): Promise<boolean> {
    const pending = await this.pendingRestore(ctx.tenantId);
    if (!pending) return false;
    const { manifest } = pending;
    const prefix = `${ctx.tenantId}/${pending.id}/`;
    const job = await this.jobs.create({
      kind: 'restore',
      tenantId: ctx.tenantId,
      params: { archive: pending.id },
      total: manifest.tables.length + manifest.objects.length + 1,
      createdBy: 'system:controller',
    });
    await this.jobs.start(job.id);
    try {
      const stored = await this.objects.get(this.bucket, `${prefix}manifest.json`);
      if (!stored)
        throw new TenancyError('archive_incomplete', `archive ${pending.location} has no manifest in cold storage`);
      if (canonicalize(manifest) !== canonicalize(JSON.parse(stored.body.toString('utf8'))))
        throw new TenancyError(
          'archive_checksum_mismatch',
          `archive ${pending.location}: manifest.json differs from the recorded manifest`,
        );
      const total = manifest.tables.length + manifest.objects.length + 1;
      await this.importData(ctx, manifest, prefix, pending.location, (done) => this.jobs.progress(job.id, done, total));
      await this.jobs.progress(job.id, total, total);
      await this.store
        .updateTable('tenant_archives')
        .set({ state: 'restored', restored_at: new Date().toISOString() })
        .where('tenant_id', '=', ctx.tenantId)
        .where('id', '=', pending.id)
        .execute();
      await this.jobs.finish(job.id, {
        state: 'succeeded',
        result: {
          location: pending.location,
          tables: manifest.tables.length,
          rows: manifest.tables.reduce((n, t) => n + t.rows, 0),
          objects: manifest.objects.length,
          verified: true,
        },
      });
      return true;
    } catch (error) {
      await this.jobs.finish(job.id, {
        state: 'failed',
        error: (error as { detail?: string }).detail ?? (error as Error).message,
      });
      throw error;
    }
  }

  /**
   * Load an export into a fresh place of the tenant (`ctx` names which): the database is
   * made anew (the tenant's role is kept), migrations replayed to the exported version,
   * rows loaded and verified against the manifest in one transaction, objects copied back
   * with their checksums checked. Throws, leaving a half-made place to be made anew by the
   * next attempt, when anything differs.
   */
  async importData(
    ctx: IsolationContext,
    manifest: ArchiveManifest,
    prefix: string,
    location: string,
    progress: (done: number) => Promise<void> = async () => undefined,
  ): Promise<void> {
    return importTenantData(this.#io(), ctx, manifest, prefix, location, progress);
  }

  /** Delete every archive of the tenant from cold storage (purge). */
  async purge(tenantId: string): Promise<void> {
    if (await this.objects.bucketExists(this.bucket)) await this.objects.deletePrefix(this.bucket, `${tenantId}/`);
    await this.store.deleteFrom('tenant_archives').where('tenant_id', '=', tenantId).execute();
  }
}
