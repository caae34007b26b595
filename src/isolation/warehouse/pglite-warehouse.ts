/**
 * The embedded warehouse (the default): PGlite, each instance on a worker thread of the
 * control plane's process, so that provisioning, migrations and archives never hold up the
 * thread that answers the API. Shared tenants get a schema and a role each in one instance
 * (`<dataDir>/warehouse/shared`); dedicated tenants get a PGlite data dir of their own
 * (`<dataDir>/warehouse/tenants/<ident>`), copied from a template made once per PGlite
 * version (`<dataDir>/warehouse/template-<version>`; a copy opens in a fraction of initdb's
 * time), opened when needed and closed again when others are needed more (a small LRU),
 * because each open instance holds its own memory.
 *
 * PGlite has no network listener and no authentication, so the embedded engine hands out
 * no URL: the tenant's role and schema still bound everything run through
 * {@link PgliteWarehouse.withTenant} (SET LOCAL ROLE, as on PostgreSQL), and PostgreSQL's
 * own permission checks refuse other tenants' schemas. A network endpoint per tenant needs
 * the PostgreSQL engine. Every instance has pgvector, created by its superuser when opened.
 */
import { readFileSync } from 'node:fs';
import { access, cp, readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { openPgliteThread, type PgliteThread } from '../../infra/sql/pglite-thread.js';
import { tenantIdentifier } from '../identifiers.js';
import { databaseLayout, type IsolationContext } from '../strategy.js';
import { CREATE_VECTOR_EXTENSION } from './vector-extension.js';
import type { DatabaseConnection, ObservedWarehouse, TenantSession, Warehouse } from './warehouse.js';

type Instance = PgliteThread;

/** The PGlite version: a template is only copied to instances of the version that made it. */
const PGLITE_VERSION = (
  JSON.parse(
    readFileSync(
      join(dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), '..', 'package.json'),
      'utf8',
    ),
  ) as { version: string }
).version;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

const quote = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`;

/** Whether the tenant's strategy places it in a schema of the shared instance (else an instance of its own). */
const inSharedInstance = (ctx: IsolationContext): boolean => databaseLayout(ctx).kind === 'schema';

/**
 * Make `dir` with `make`, on the path `<dir>.<suffix>` first and renamed into place when
 * complete, so a crash never leaves a half-made one where it is looked for.
 */
async function buildInPlace(dir: string, suffix: string, make: (path: string) => Promise<void>): Promise<void> {
  const temporary = `${dir}.${suffix}`;
  await rm(temporary, { recursive: true, force: true });
  await make(temporary);
  await rm(dir, { recursive: true, force: true });
  await rename(temporary, dir);
}

/** Tenant databases on embedded PGlite instances. */
export class PgliteWarehouse implements Warehouse {
  readonly engine = 'pglite' as const;
  #shared: Promise<Instance> | undefined;
  /** Open dedicated instances, least recently used first. */
  readonly #dedicated = new Map<string, Promise<Instance>>();
  /** Operations in flight per dedicated instance, so the LRU never closes one in use. */
  readonly #inUse = new Map<string, number>();
  #template: Promise<string> | undefined;

  /**
   * @param dir where instances live; undefined keeps them in memory (tests)
   * @param maxOpenDedicated how many dedicated instances may stay open at once
   */
  constructor(
    private readonly dir: string | undefined,
    private readonly prefix = '',
    private readonly maxOpenDedicated = 4,
  ) {}

  /** Nothing to do ahead of time: the shared instance opens on first use (it takes a second or two). */
  async prepare(): Promise<string[]> {
    return [];
  }

  #names(ctx: IsolationContext): { role: string; schema: string; database: string } {
    const role = tenantIdentifier(ctx.tenantId, this.prefix);
    return inSharedInstance(ctx)
      ? { role, schema: role, database: 'shared' }
      : { role, schema: 'public', database: role };
  }

  async #sharedInstance(): Promise<Instance> {
    const current = this.#shared;
    // A thread that died (out of memory, say) is opened again; its data dir is intact.
    if (
      current &&
      !(await current.then(
        (i) => i.alive,
        () => true,
      )) &&
      this.#shared === current
    )
      this.#shared = undefined;
    this.#shared ??= (async () => {
      const opened = await openPgliteThread(this.dir === undefined ? undefined : join(this.dir, 'shared'));
      await opened.exec(`revoke all on schema public from public; ${CREATE_VECTOR_EXTENSION}`);
      return opened;
    })().catch((error) => {
      this.#shared = undefined;
      throw error;
    });
    return this.#shared;
  }

  #dedicatedDir(role: string): string | undefined {
    return this.dir === undefined ? undefined : join(this.dir, 'tenants', role);
  }

  /**
   * The template data dir for new dedicated instances: made once per PGlite version by
   * initdb, on a temporary path renamed into place when complete (a crash leaves no half
   * template behind).
   */
  #templateDir(): Promise<string> {
    const dir = join(this.dir!, `template-${PGLITE_VERSION}`);
    this.#template ??= (async () => {
      if (await exists(join(dir, 'PG_VERSION'))) return dir;
      await buildInPlace(dir, 'building', async (building) => {
        await (await openPgliteThread(building)).close();
        await rm(`${building}.lock`, { recursive: true, force: true });
        await rm(`${building}.lock.owner`, { force: true });
      });
      return dir;
    })().catch((error) => {
      this.#template = undefined;
      throw error;
    });
    return this.#template;
  }

  /** Open a dedicated instance, making its data dir from the template when it has none yet. */
  async #openDedicated(role: string): Promise<Instance> {
    const dir = this.#dedicatedDir(role);
    if (dir !== undefined && !(await exists(join(dir, 'PG_VERSION')))) {
      const template = await this.#templateDir();
      await buildInPlace(dir, 'copying', (copying) => cp(template, copying, { recursive: true }));
    }
    const opened = await openPgliteThread(dir);
    try {
      await opened.exec(CREATE_VECTOR_EXTENSION);
    } catch (error) {
      await opened.close();
      throw error;
    }
    return opened;
  }

  /** Run `fn` on the instance holding the tenant, keeping a dedicated one open meanwhile. */
  async #use<T>(ctx: IsolationContext, fn: (db: Instance) => Promise<T>): Promise<T> {
    if (inSharedInstance(ctx)) return fn(await this.#sharedInstance());
    const { role } = this.#names(ctx);
    this.#inUse.set(role, (this.#inUse.get(role) ?? 0) + 1);
    try {
      let instance = this.#dedicated.get(role);
      if (instance) this.#dedicated.delete(role);
      // A thread that died (out of memory, say) is opened again; its data dir is intact.
      if (
        instance &&
        !(await instance.then(
          (i) => i.alive,
          () => false,
        ))
      )
        instance = undefined;
      instance ??= this.#openDedicated(role);
      this.#dedicated.set(role, instance);
      instance.catch(() => this.#dedicated.get(role) === instance && this.#dedicated.delete(role));
      return await fn(await instance);
    } finally {
      const left = (this.#inUse.get(role) ?? 1) - 1;
      if (left === 0) this.#inUse.delete(role);
      else this.#inUse.set(role, left);
      await this.#evict();
    }
  }

  /** Close least recently used dedicated instances beyond the bound (persisted ones only: memory ones would lose data). */
  async #evict(): Promise<void> {
    if (this.dir === undefined) return;
    for (const [role, instance] of this.#dedicated) {
      if (this.#dedicated.size <= this.maxOpenDedicated) return;
      if (this.#inUse.has(role)) continue;
      this.#dedicated.delete(role);
      await (await instance).close().catch(() => undefined);
    }
  }

  async ensure(ctx: IsolationContext): Promise<void> {
    const { role, schema } = this.#names(ctx);
    await this.#use(ctx, async (db) => {
      const exists =
        (await db.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [role])).rows[0]!
          .n > 0;
      if (!exists)
        await db.exec(
          `create role ${quote(role)} login nosuperuser nocreatedb nocreaterole noinherit nobypassrls noreplication`,
        );
      if (schema === 'public') {
        await db.exec(`revoke all on schema public from public; alter schema public owner to ${quote(role)}`);
      } else {
        await db.exec(
          `create schema if not exists ${quote(schema)} authorization ${quote(role)}; alter schema ${quote(schema)} owner to ${quote(role)}`,
        );
      }
    });
  }

  async observe(ctx: IsolationContext): Promise<ObservedWarehouse> {
    const { role, schema } = this.#names(ctx);
    if (!inSharedInstance(ctx) && this.dir !== undefined && !this.#dedicated.has(role)) {
      const present = await access(join(this.#dedicatedDir(role)!, 'PG_VERSION')).then(
        () => true,
        () => false,
      );
      if (!present) return { exists: false, canLogin: false };
    }
    if (!inSharedInstance(ctx) && this.dir === undefined && !this.#dedicated.has(role))
      return { exists: false, canLogin: false };
    return this.#use(ctx, async (db) => {
      const r = await db.query<{ rolcanlogin: boolean }>('select rolcanlogin from pg_roles where rolname = $1', [role]);
      const s = await db.query<{ owner: string }>(
        'select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = $1',
        [schema],
      );
      return { exists: r.rows.length > 0 && s.rows[0]?.owner === role, canLogin: r.rows[0]?.rolcanlogin ?? false };
    });
  }

  async setLogin(ctx: IsolationContext, enabled: boolean): Promise<void> {
    const { role } = this.#names(ctx);
    if (!(await this.observe(ctx)).exists) return;
    await this.#use(ctx, (db) => db.exec(`alter role ${quote(role)} ${enabled ? 'login' : 'nologin'}`));
  }

  async remove(ctx: IsolationContext): Promise<void> {
    const { role, schema } = this.#names(ctx);
    if (inSharedInstance(ctx)) {
      const db = await this.#sharedInstance();
      await db.exec(`drop schema if exists ${quote(schema)} cascade`);
      const exists = (await db.query('select 1 from pg_roles where rolname = $1', [role])).rows.length > 0;
      if (exists) await db.exec(`drop owned by ${quote(role)}; drop role if exists ${quote(role)}`);
      return;
    }
    // A dedicated tenant's instance is its whole database: close it and delete its data dir.
    const instance = this.#dedicated.get(role);
    this.#dedicated.delete(role);
    if (instance) await (await instance.catch(() => undefined))?.close().catch(() => undefined);
    const dir = this.#dedicatedDir(role);
    if (dir !== undefined) {
      await rm(dir, { recursive: true, force: true });
      await rm(`${dir}.lock`, { recursive: true, force: true });
    }
  }

  /** On the embedded engine each place has its own role (shared instance or the tenant's own), so this is remove. */
  removePlace(ctx: IsolationContext): Promise<void> {
    return this.remove(ctx);
  }

  /**
   * Nothing to do: the embedded warehouse has no sessions of the tenant's role to end
   * (everything runs through withTenant in this process, and a move holds the tenant's
   * reconcile for its whole length).
   */
  async fence(): Promise<void> {}

  async sizeBytes(ctx: IsolationContext): Promise<number> {
    const rows = await this.withTenant(ctx, (session) =>
      session.query<{ bytes: string }>(
        "select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = current_schema() and c.relkind in ('r', 'm', 'p')",
      ),
    );
    return Number(rows[0]?.bytes ?? 0);
  }

  /** A shared tenant's schema is measured in the instance that is open anyway; a dedicated instance is not opened for it. */
  samplable(ctx: IsolationContext): boolean {
    return inSharedInstance(ctx);
  }

  async connection(ctx: IsolationContext): Promise<DatabaseConnection> {
    const { role, schema, database } = this.#names(ctx);
    return {
      engine: 'pglite',
      url: null,
      role,
      database:
        this.dir === undefined
          ? `memory:${database}`
          : inSharedInstance(ctx)
            ? join(this.dir, 'shared')
            : this.#dedicatedDir(role)!,
      schema,
      isolation:
        'role-enforced (embedded PGlite: no network endpoint; set TENANCY_WAREHOUSE_URL for per-tenant PostgreSQL logins)',
    };
  }

  withTenant<T>(ctx: IsolationContext, fn: (session: TenantSession) => Promise<T>): Promise<T> {
    const { role, schema } = this.#names(ctx);
    return this.#use(ctx, (db) =>
      db.transaction(async (tx) => {
        await tx.exec(`set local role ${quote(role)}; set local search_path = ${quote(schema)}`);
        return fn({
          query: async <R>(text: string, params: unknown[] = []) => (await tx.query<R>(text, params)).rows,
          exec: async (script: string) => void (await tx.exec(script)),
        });
      }),
    );
  }

  async inventory(): Promise<{ schemas: string[]; databases: string[] }> {
    const like = `${this.prefix.replace(/_/g, '\\_')}t\\_%`;
    const shared = await this.#sharedInstance();
    const schemas = (
      await shared.query<{ name: string }>(
        'select nspname as name from pg_namespace where nspname like $1 order by 1',
        [like],
      )
    ).rows.map((r) => r.name);
    const databases =
      this.dir === undefined
        ? [...this.#dedicated.keys()]
        : await readdir(join(this.dir, 'tenants')).catch(() => [] as string[]);
    return { schemas, databases: databases.filter((d) => !/\.(lock|owner|copying)$/.test(d)).sort() };
  }

  async close(): Promise<void> {
    const all = [...this.#dedicated.values()];
    this.#dedicated.clear();
    if (this.#shared) all.push(this.#shared);
    this.#shared = undefined;
    for (const instance of all) await (await instance.catch(() => undefined))?.close().catch(() => undefined);
  }
}
