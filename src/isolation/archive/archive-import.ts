/**
 * The import half of a restore (and of a profile move): the tenant's place is made anew,
 * migrations replayed to the exported version, rows loaded in foreign-key order and verified
 * against the manifest in one transaction, objects copied back with their checksums checked.
 */
import { TenancyError } from '../../errors.js';
import { strategyFor, type IsolationContext } from '../strategy.js';
import type { TenantSession } from '../warehouse/warehouse.js';
import { type ArchiveIo, type ArchiveManifest, BATCH, exportTable, q, sha256 } from './archive-format.js';

/**
 * Load an export into a fresh place of the tenant (`ctx` names which): the database is
 * made anew (the tenant's role is kept), migrations replayed to the exported version,
 * rows loaded and verified against the manifest in one transaction, objects copied back
 * with their checksums checked. Throws, leaving a half-made place to be made anew by the
 * next attempt, when anything differs.
 */
export async function importTenantData(
  io: ArchiveIo,
  ctx: IsolationContext,
  manifest: ArchiveManifest,
  prefix: string,
  location: string,
  progress: (done: number) => Promise<void>,
): Promise<void> {
  // Start from a clean database: a restore interrupted half-way leaves nothing behind.
  await io.warehouse.removePlace(ctx);
  await io.warehouse.ensure(ctx);
  if (manifest.migrationVersion !== null && io.migrator) {
    await io.migrator.refresh();
    if (io.migrator.set.migrations.some((m) => BigInt(m.version) === BigInt(manifest.migrationVersion!)))
      await io.migrator.apply(ctx, manifest.migrationVersion);
  }
  let done = 0;
  const bodies = new Map<string, Buffer>();
  for (const t of manifest.tables) {
    const file = await io.objects.get(io.bucket, `${prefix}tables/${t.name}.jsonl`);
    if (!file || sha256(file.body) !== t.sha256)
      throw new TenancyError(
        'archive_checksum_mismatch',
        `archive ${location}: table ${t.name} is ${file ? 'corrupt (checksum differs)' : 'missing'}`,
      );
    bodies.set(t.name, file.body);
  }
  await io.warehouse.withTenant(ctx, async (s) => {
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
    for (const name of await loadOrder(
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
          `restored table ${t.name} does not match its archive (${again.rows} rows, expected ${t.rows})`,
        );
      }
      await progress(++done);
    }
  });
  const plan = strategyFor(ctx.profile).resources(ctx);
  await io.objects.ensureBucket(plan.objects.bucket);
  for (const o of manifest.objects) {
    const file = await io.objects.get(io.bucket, `${prefix}objects/${o.key}`);
    if (!file || sha256(file.body) !== o.sha256)
      throw new TenancyError(
        'archive_checksum_mismatch',
        `archive ${location}: object ${o.key} is ${file ? 'corrupt (checksum differs)' : 'missing'}`,
      );
    await io.objects.put(plan.objects.bucket, `${plan.objects.prefix}${o.key}`, file.body, {
      contentType: o.contentType,
    });
    await progress(++done);
  }
}

/** Parents before children, by the foreign keys among the tenant's tables. */
async function loadOrder(s: TenantSession, tables: string[]): Promise<string[]> {
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
