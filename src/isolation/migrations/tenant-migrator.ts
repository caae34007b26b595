/**
 * Applies the app's migration set to one tenant's schema or database, as the tenant's own
 * role. Each migration runs in its own transaction together with its row in the tenant's
 * `tenancy_schema_migrations` table, so a crash leaves every migration either applied and
 * recorded or neither; that table is the truth. The control-plane store keeps a copy per
 * (tenant, environment, version) for reporting and for the fast no-op check, written after
 * the tenant's commit and repaired from the tenant's table on the next run.
 */
import type { Kysely } from 'kysely';
import { TenancyError } from '../../errors.js';
import type { Schema } from '../../schema.js';
import type { IsolationContext } from '../strategy.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { compareVersions, loadMigrationSet, sameVersion, type MigrationSet } from './migration-set.js';

/** The tenant-side record table, in the tenant's own schema. */
export const TENANT_MIGRATIONS_TABLE = 'tenancy_schema_migrations';

/** What one apply did. */
export interface MigrateOutcome {
  tenantId: string;
  /** Highest version applied before, or null. */
  from: string | null;
  to: string | null;
  applied: string[];
}

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
  applied_at: string | Date;
  duration_ms: number;
}

/** A migration the store records as applied to a tenant, in one environment. */
export interface AppliedMigration {
  environment: string;
  version: string;
  name: string;
  checksum: string;
  appliedAt: string;
  durationMs: number;
}

/** Every migration the store records as applied to `tenantId`, by environment and version. */
export async function appliedMigrations(store: Kysely<Schema>, tenantId: string): Promise<AppliedMigration[]> {
  const rows = await store
    .selectFrom('tenant_migrations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('environment')
    .orderBy('version')
    .execute();
  return rows.map((r) => ({
    environment: r.environment,
    version: r.version,
    name: r.name,
    checksum: r.checksum,
    appliedAt: new Date(r.applied_at).toISOString(),
    durationMs: r.duration_ms,
  }));
}

/** Runs migration sets against tenants. */
export class TenantMigrator {
  constructor(
    private readonly store: Kysely<Schema>,
    private readonly warehouse: Warehouse,
    private current: MigrationSet,
    readonly environment: string,
  ) {}

  get set(): MigrationSet {
    return this.current;
  }

  /**
   * Read the folder again: a new app release adds files without restarting the control
   * plane, and new tenants and the next run get them. A broken folder is an error here
   * (the caller reports it) and the set in use stays as it was.
   */
  async refresh(): Promise<MigrationSet> {
    this.current = await loadMigrationSet(this.current.dir);
    return this.current;
  }

  /** The version a run targets when none is named: the newest in the set. */
  get latest(): string | null {
    return this.set.latest;
  }

  /** Check a target version names a migration in the set. */
  assertKnown(version: string): void {
    if (!this.set.migrations.some((m) => sameVersion(m.version, version))) {
      throw new TenancyError(
        'unknown_migration_version',
        `version ${version} is not in the migration set (${this.set.migrations.map((m) => m.version).join(', ') || 'empty'})`,
        {
          errors: [{ path: '/to', message: 'must name a migration in the set' }],
        },
      );
    }
  }

  /** Highest version the store has recorded per tenant (the fast no-op check). */
  async recordedVersions(tenantIds?: string[]): Promise<Map<string, string>> {
    let q = this.store
      .selectFrom('tenant_migrations')
      .select(['tenant_id', 'version'])
      .where('environment', '=', this.environment);
    if (tenantIds) q = q.where('tenant_id', 'in', tenantIds.length ? tenantIds : ['']);
    const out = new Map<string, string>();
    for (const r of await q.execute()) {
      const cur = out.get(r.tenant_id);
      if (cur === undefined || compareVersions(r.version, cur) > 0) out.set(r.tenant_id, r.version);
    }
    return out;
  }

  /** Apply every migration up to `to` (default: the newest) that the tenant lacks. */
  async apply(ctx: IsolationContext, to: string | null = this.set.latest): Promise<MigrateOutcome> {
    const target = to === null ? [] : this.set.migrations.filter((m) => compareVersions(m.version, to) <= 0);
    let applied = await this.#tenantRecords(ctx);
    const from = applied.length
      ? applied.reduce((a, b) => (compareVersions(a.version, b.version) >= 0 ? a : b)).version
      : null;
    for (const row of applied) {
      const known = this.set.migrations.find((m) => sameVersion(m.version, row.version));
      if (known && known.checksum !== row.checksum) {
        throw new TenancyError(
          'migration_checksum_mismatch',
          `migration ${known.version}_${known.name}.sql was changed after tenant ${ctx.tenantId} applied it (checksum differs); add a new migration instead of editing an applied one`,
        );
      }
    }
    if (to !== null && from !== null && compareVersions(from, to) > 0) {
      throw new TenancyError(
        'migration_downgrade_unsupported',
        `tenant ${ctx.tenantId} is at ${from}, past ${to}; migrations are forward-only`,
      );
    }
    const done: string[] = [];
    let reached = from;
    for (const m of target) {
      if (applied.some((a) => sameVersion(a.version, m.version))) continue;
      const started = Date.now();
      try {
        const ran = await this.warehouse.withTenant(ctx, async (s) => {
          // Serialize runs on one tenant (a provisioning and a rollout may meet); re-check inside the lock.
          // The lock is on the tenant's own table: no other role can take it (an advisory lock
          // in a shared warehouse could be held by any tenant to stall another's migrations).
          await s.exec(`lock table ${TENANT_MIGRATIONS_TABLE} in exclusive mode`);
          const seen = await s.query(`select 1 from ${TENANT_MIGRATIONS_TABLE} where version = $1`, [m.version]);
          if (seen.length) return false;
          await s.exec(m.sql);
          await s.query(
            `insert into ${TENANT_MIGRATIONS_TABLE} (version, name, checksum, applied_at, duration_ms) values ($1, $2, $3, now(), $4)`,
            [m.version, m.name, m.checksum, Date.now() - started],
          );
          return true;
        });
        if (ran) done.push(m.version);
        reached = m.version;
      } catch (cause) {
        const message = (cause as Error).message;
        throw new TenancyError(
          'migration_failed',
          `migration ${m.version}_${m.name}.sql failed for tenant ${ctx.tenantId}: ${message}`,
          { cause, extensions: { tenantId: ctx.tenantId, version: m.version, from, reached } },
        );
      }
    }
    if (done.length || (await this.recordedVersions([ctx.tenantId])).get(ctx.tenantId) !== applied.at(-1)?.version) {
      applied = await this.#tenantRecords(ctx);
      await this.#syncStore(ctx.tenantId, applied);
    }
    return {
      tenantId: ctx.tenantId,
      from,
      to: applied.length
        ? applied.reduce((a, b) => (compareVersions(a.version, b.version) >= 0 ? a : b)).version
        : null,
      applied: done,
    };
  }

  /** The tenant's own record (creating its table on first use). */
  async #tenantRecords(ctx: IsolationContext): Promise<AppliedRow[]> {
    const rows = await this.warehouse.withTenant(ctx, async (s) => {
      await s.exec(
        `create table if not exists ${TENANT_MIGRATIONS_TABLE} (version text primary key, name text not null, checksum text not null, applied_at timestamptz not null, duration_ms integer not null)`,
      );
      return s.query<AppliedRow>(
        `select version, name, checksum, applied_at, duration_ms from ${TENANT_MIGRATIONS_TABLE}`,
      );
    });
    return rows.sort((a, b) => compareVersions(a.version, b.version));
  }

  async #syncStore(tenantId: string, rows: AppliedRow[]): Promise<void> {
    await this.store.transaction().execute(async (trx) => {
      await trx
        .deleteFrom('tenant_migrations')
        .where('tenant_id', '=', tenantId)
        .where('environment', '=', this.environment)
        .execute();
      if (rows.length === 0) return;
      await trx
        .insertInto('tenant_migrations')
        .values(
          rows.map((r) => ({
            tenant_id: tenantId,
            environment: this.environment,
            version: r.version,
            name: r.name,
            checksum: r.checksum,
            applied_at: new Date(r.applied_at).toISOString(),
            duration_ms: r.duration_ms,
          })),
        )
        .execute();
    });
  }

  /** Forget a tenant's records (its database is gone). */
  async forget(tenantId: string): Promise<void> {
    await this.store.deleteFrom('tenant_migrations').where('tenant_id', '=', tenantId).execute();
  }
}
