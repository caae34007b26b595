/**
 * The export half of an archive: the tenant's tables (sorted JSON Lines, with column
 * definitions, primary keys and sequence values, from one consistent snapshot) and objects
 * are copied to the archive bucket, `manifest.json` last.
 */
import type { ObjectStore } from '../../infra/objects/index.js';
import { TENANT_MIGRATIONS_TABLE } from '../migrations/tenant-migrator.js';
import { strategyFor, type IsolationContext } from '../strategy.js';
import {
  type ArchiveIo,
  type ArchiveManifest,
  type ColumnDef,
  exportTable,
  FORMAT,
  type Progress,
  q,
  sha256,
} from './archive-format.js';

/**
 * Export the tenant's tables, sequences and objects under `prefix` in the archive bucket,
 * `manifest.json` last (archive, and the staging copy of a profile move).
 */
export async function exportTenantData(
  io: ArchiveIo,
  ctx: IsolationContext,
  prefix: string,
  progress: Progress,
): Promise<ArchiveManifest> {
  await io.objects.ensureBucket(io.bucket);
  const plan = strategyFor(ctx.profile).resources(ctx);
  const liveObjects = await listLiveObjects(io.objects, ctx);
  const database = (await io.warehouse.observe(ctx)).exists;
  const manifest: ArchiveManifest = {
    format: FORMAT,
    tenantId: ctx.tenantId,
    archivedAt: new Date().toISOString(),
    profile: ctx.profile,
    engine: io.warehouse.engine,
    migrationVersion: null,
    tables: [],
    sequences: [],
    objects: [],
  };
  let done = 0;
  if (database) {
    await io.warehouse.withTenant(ctx, async (s) => {
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
        await io.objects.put(io.bucket, `${prefix}tables/${table}.jsonl`, body, {
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
    const object = await io.objects.get(plan.objects.bucket, `${plan.objects.prefix}${key}`);
    if (!object) continue;
    await io.objects.put(io.bucket, `${prefix}objects/${key}`, object.body, { contentType: object.contentType });
    manifest.objects.push({
      key,
      bytes: object.body.length,
      sha256: sha256(object.body),
      contentType: object.contentType,
    });
    await progress(++done, manifest.tables.length + liveObjects.length);
  }
  // The manifest goes last: an archive without one is incomplete and is written again.
  await io.objects.put(io.bucket, `${prefix}manifest.json`, Buffer.from(JSON.stringify(manifest, null, 2)), {
    contentType: 'application/json',
  });
  return manifest;
}

/** The tenant's object keys, relative to its prefix or bucket (the prefix marker included). */
async function listLiveObjects(objects: ObjectStore, ctx: IsolationContext): Promise<string[]> {
  const plan = strategyFor(ctx.profile).resources(ctx);
  if (!(await objects.bucketExists(plan.objects.bucket))) return [];
  const keys: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await objects.list(plan.objects.bucket, {
      prefix: plan.objects.prefix,
      ...(after ? { after } : {}),
      limit: 1000,
    });
    keys.push(...page.items.map((i) => i.key.slice(plan.objects.prefix.length)));
    if (!page.next) return keys;
    after = page.next;
  }
}
