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
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Kysely } from 'kysely';
import { TenancyError } from '../../errors.js';
import type { ObjectStore } from '../../infra/objects/index.js';
import { json, type Schema } from '../../infra/sql/index.js';
import { TENANT_MIGRATIONS_TABLE, type TenantMigrator } from '../migrations/tenant-migrator.js';
import { strategyFor, type IsolationContext } from '../strategy.js';
import type { TenantSession, Warehouse } from '../warehouse/warehouse.js';

export const ARCHIVE_BUCKET = 'archive';
const FORMAT = 'tenancy-archive/v1';
const BATCH = 1_000;

type Progress = (done: number, total: number) => Promise<void>;

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
  finish(
    id: string,
    outcome: { state: 'succeeded' | 'failed'; result?: Record<string, unknown>; error?: string },
  ): Promise<void>;
}

interface ColumnDef {
  name: string;
  type: string;
  notNull: boolean;
  /** The column default as SQL (e.g. nextval of its sequence), or null. */
  default: string | null;
}

/** What an archive holds, with its checksums. */
export interface ArchiveManifest {
  format: typeof FORMAT;
  tenantId: string;
  archivedAt: string;
  profile: string;
  engine: string;
  migrationVersion: string | null;
  tables: Array<{
    name: string;
    rows: number;
    bytes: number;
    sha256: string;
    columns: ColumnDef[];
    primaryKey: string[];
  }>;
  sequences: Array<{ name: string; value: number | null }>;
  objects: Array<{ key: string; bytes: number; sha256: string; contentType: string }>;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const q = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/** Export one table as sorted JSON Lines. */
async function exportTable(s: TenantSession, table: string): Promise<{ body: Buffer; rows: number }> {
  const rows = await s.query<{ j: string }>(`select row_to_json(t)::text as j from ${q(table)} t`);
  const lines = rows.map((r) => r.j).sort();
  return { body: Buffer.from(lines.length ? `${lines.join('\n')}\n` : ''), rows: lines.length };
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
        await this.store
          .updateTable('jobs')
          .set({ last_error: (error as Error).message.slice(0, 1000), updated_at: new Date().toISOString() })
          .where('id', '=', jobId)
          .execute();
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
    await this.objects.ensureBucket(this.bucket);
    const plan = strategyFor(ctx.profile).resources(ctx);
    const liveObjects = await this.#listLive(ctx);
    const database = (await this.warehouse.observe(ctx)).exists;
    const manifest: ArchiveManifest = {
      format: FORMAT,
      tenantId: ctx.tenantId,
      archivedAt: new Date().toISOString(),
      profile: ctx.profile,
      engine: this.warehouse.engine,
      migrationVersion: null,
      tables: [],
      sequences: [],
      objects: [],
    };
    let done = 0;
    if (database) {
      await this.warehouse.withTenant(ctx, async (s) => {
        // One transaction: the export is a consistent snapshot of the tenant's data.
        await s.exec('set transaction isolation level repeatable read');
        // Row-level security forced on the owner would hide rows (and run the tenant's policy
        // functions): lift it for the export, as the owner may, and undo that afterwards.
        // With row_security off, anything still in the way fails the export instead of shortening it.
        await s.exec('savepoint tenancy_export');
        const forced = await s.query<{ name: string }>(
          `select c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
            where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relforcerowsecurity`,
        );
        for (const f of forced) await s.exec(`alter table ${q(f.name)} no force row level security`);
        await s.exec('set local row_security = off');
        const tables = (
          await s.query<{ name: string }>(
            `select tablename as name from pg_tables where schemaname = current_schema() order by tablename`,
          )
        ).map((r) => r.name);
        const hasMigrations = tables.includes(TENANT_MIGRATIONS_TABLE);
        if (hasMigrations) {
          const v = await s.query<{ version: string }>(
            `select version from ${TENANT_MIGRATIONS_TABLE} order by length(version) desc, version desc limit 1`,
          );
          manifest.migrationVersion = v[0]?.version ?? null;
        }
        await progress(0, tables.length + liveObjects.length);
        for (const table of tables) {
          if (table === TENANT_MIGRATIONS_TABLE) continue;
          const columns = await s.query<ColumnDef>(
            `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as "notNull", pg_get_expr(d.adbin, d.adrelid) as default
               from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
               left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where n.nspname = current_schema() and c.relname = $1 and a.attnum > 0 and not a.attisdropped order by a.attnum`,
            [table],
          );
          const pk = await s.query<{ name: string }>(
            `select a.attname as name from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
               join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
              where n.nspname = current_schema() and c.relname = $1 and i.indisprimary order by array_position(i.indkey, a.attnum)`,
            [table],
          );
          const { body, rows } = await exportTable(s, table);
          await this.objects.put(this.bucket, `${prefix}tables/${table}.jsonl`, body, {
            contentType: 'application/jsonl',
          });
          manifest.tables.push({
            name: table,
            rows,
            bytes: body.length,
            sha256: sha256(body),
            columns,
            primaryKey: pk.map((p) => p.name),
          });
          await progress(++done, tables.length + liveObjects.length);
        }
        const seqs = await s.query<{ name: string; value: string | number | null }>(
          `select sequencename as name, last_value as value from pg_sequences where schemaname = current_schema() order by sequencename`,
        );
        manifest.sequences = seqs.map((r) => ({ name: r.name, value: r.value === null ? null : Number(r.value) }));
        await s.exec('rollback to savepoint tenancy_export');
      });
    }
    for (const key of liveObjects) {
      const object = await this.objects.get(plan.objects.bucket, `${plan.objects.prefix}${key}`);
      if (!object) continue;
      await this.objects.put(this.bucket, `${prefix}objects/${key}`, object.body, { contentType: object.contentType });
      manifest.objects.push({
        key,
        bytes: object.body.length,
        sha256: sha256(object.body),
        contentType: object.contentType,
      });
      await progress(++done, manifest.tables.length + liveObjects.length);
    }
    // The manifest goes last: an archive without one is incomplete and is written again.
    await this.objects.put(this.bucket, `${prefix}manifest.json`, Buffer.from(JSON.stringify(manifest, null, 2)), {
      contentType: 'application/json',
    });
    return manifest;
  }

  /** The tenant's object keys, relative to its prefix or bucket (the prefix marker included). */
  async #listLive(ctx: IsolationContext): Promise<string[]> {
    const plan = strategyFor(ctx.profile).resources(ctx);
    if (!(await this.objects.bucketExists(plan.objects.bucket))) return [];
    const keys: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.objects.list(plan.objects.bucket, {
        prefix: plan.objects.prefix,
        ...(after ? { after } : {}),
        limit: 1000,
      });
      keys.push(...page.items.map((i) => i.key.slice(plan.objects.prefix.length)));
      if (!page.next) return keys;
      after = page.next;
    }
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
        throw new TenancyError(
          'archive_incomplete',
          409,
          `archive ${pending.location} has no manifest in cold storage`,
        );
      if (canonicalize(manifest) !== canonicalize(JSON.parse(stored.body.toString('utf8'))))
        throw new TenancyError(
          'archive_checksum_mismatch',
          409,
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
    // Start from a clean database: a restore interrupted half-way leaves nothing behind.
    await this.warehouse.removePlace(ctx);
    await this.warehouse.ensure(ctx);
    if (manifest.migrationVersion !== null && this.migrator) {
      await this.migrator.refresh();
      if (this.migrator.set.migrations.some((m) => BigInt(m.version) === BigInt(manifest.migrationVersion!)))
        await this.migrator.apply(ctx, manifest.migrationVersion);
    }
    let done = 0;
    const bodies = new Map<string, Buffer>();
    for (const t of manifest.tables) {
      const file = await this.objects.get(this.bucket, `${prefix}tables/${t.name}.jsonl`);
      if (!file || sha256(file.body) !== t.sha256)
        throw new TenancyError(
          'archive_checksum_mismatch',
          409,
          `archive ${location}: table ${t.name} is ${file ? 'corrupt (checksum differs)' : 'missing'}`,
        );
      bodies.set(t.name, file.body);
    }
    await this.warehouse.withTenant(ctx, async (s) => {
      const existing = new Set(
        (
          await s.query<{ name: string }>(`select tablename as name from pg_tables where schemaname = current_schema()`)
        ).map((r) => r.name),
      );
      // Tables outside the migration set come back from their recorded definitions, sequences first (their defaults use them).
      for (const seq of manifest.sequences) await s.exec(`create sequence if not exists ${q(seq.name)}`);
      for (const t of manifest.tables) {
        if (existing.has(t.name)) continue;
        const cols = t.columns.map(
          (c) => `${q(c.name)} ${c.type}${c.notNull ? ' not null' : ''}${c.default ? ` default ${c.default}` : ''}`,
        );
        if (t.primaryKey.length) cols.push(`primary key (${t.primaryKey.map(q).join(', ')})`);
        await s.exec(`create table ${q(t.name)} (${cols.join(', ')})`);
      }
      // Replayed migrations may have written rows of their own (seed data): the archive is the whole truth.
      if (manifest.tables.length) await s.exec(`truncate table ${manifest.tables.map((t) => q(t.name)).join(', ')}`);
      for (const name of await this.#loadOrder(
        s,
        manifest.tables.map((t) => t.name),
      )) {
        const lines = bodies
          .get(name)!
          .toString('utf8')
          .split('\n')
          .filter((l) => l !== '');
        for (let i = 0; i < lines.length; i += BATCH) {
          await s.query(`insert into ${q(name)} select * from json_populate_recordset(null::${q(name)}, $1::json)`, [
            `[${lines.slice(i, i + BATCH).join(',')}]`,
          ]);
        }
      }
      for (const seq of manifest.sequences) {
        if (seq.value !== null) await s.query(`select setval($1::regclass, $2)`, [q(seq.name), seq.value]);
      }
      // Verify inside the same transaction: any difference rolls the whole load back.
      for (const t of manifest.tables) {
        const again = await exportTable(s, t.name);
        if (again.rows !== t.rows || sha256(again.body) !== t.sha256) {
          throw new TenancyError(
            'restore_verification_failed',
            409,
            `restored table ${t.name} does not match its archive (${again.rows} rows, expected ${t.rows})`,
          );
        }
        await progress(++done);
      }
    });
    const plan = strategyFor(ctx.profile).resources(ctx);
    await this.objects.ensureBucket(plan.objects.bucket);
    for (const o of manifest.objects) {
      const file = await this.objects.get(this.bucket, `${prefix}objects/${o.key}`);
      if (!file || sha256(file.body) !== o.sha256)
        throw new TenancyError(
          'archive_checksum_mismatch',
          409,
          `archive ${location}: object ${o.key} is ${file ? 'corrupt (checksum differs)' : 'missing'}`,
        );
      await this.objects.put(plan.objects.bucket, `${plan.objects.prefix}${o.key}`, file.body, {
        contentType: o.contentType,
      });
      await progress(++done);
    }
  }

  /** Parents before children, by the foreign keys among the tenant's tables. */
  async #loadOrder(s: TenantSession, tables: string[]): Promise<string[]> {
    const edges = await s.query<{ child: string; parent: string }>(
      `select cc.relname as child, pc.relname as parent from pg_constraint k
         join pg_class cc on cc.oid = k.conrelid join pg_class pc on pc.oid = k.confrelid join pg_namespace n on n.oid = cc.relnamespace
        where k.contype = 'f' and n.nspname = current_schema() and cc.oid <> pc.oid`,
    );
    const out: string[] = [];
    const seen = new Set<string>();
    const visit = (t: string, path: Set<string>) => {
      if (seen.has(t) || path.has(t)) return;
      path.add(t);
      for (const e of edges) if (e.child === t) visit(e.parent, path);
      seen.add(t);
      if (tables.includes(t)) out.push(t);
    };
    for (const t of tables) visit(t, new Set());
    return out;
  }

  /** Delete every archive of the tenant from cold storage (purge). */
  async purge(tenantId: string): Promise<void> {
    if (await this.objects.bucketExists(this.bucket)) await this.objects.deletePrefix(this.bucket, `${tenantId}/`);
    await this.store.deleteFrom('tenant_archives').where('tenant_id', '=', tenantId).execute();
  }
}
