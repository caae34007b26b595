/**
 * The behaviour every tenant warehouse must have; run on embedded PGlite and on PostgreSQL
 * (least-privileged, as in production) so both are held to the same contract: places made
 * and removed idempotently, sessions that run as the tenant in its own place, and tenants
 * that cannot reach each other, shared or dedicated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/ledger/index.js';
import type { Database } from '../../src/infra/sql/index.js';
import { isolationContext, type IsolationContext, type Warehouse } from '../../src/isolation/index.js';
import { loadSigningKeys, type KeyRing } from '../../src/keys/index.js';
import { TenantRegistry } from '../../src/tenants/index.js';
import { manifest } from './http.js';
import type { Schema } from '../../src/schema.js';

/** Register a tenant in the store (no controller runs) and answer its isolation context. */
export type TenantMaker = (id: string, profile: 'mt-standard' | 'st-dedicated') => Promise<IsolationContext>;

/** A warehouse for the suite, and how to register the tenants it is asked about. */
export interface WarehouseUnderTest {
  warehouse: Warehouse;
  tenant: TenantMaker;
  stop: () => Promise<void>;
}

/** Tenants registered in `store` (with their key rings), as the controller would find them. */
export async function registeredTenants(
  store: Database<Schema>,
  keyRing: KeyRing,
): Promise<{ tenant: TenantMaker; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tenancy-warehouse-suite-'));
  const registry = new TenantRegistry(store.db, new AuditLog(store.db, await loadSigningKeys(join(dir, 'keys.json'))));
  return {
    async tenant(id, profile) {
      const created = await registry.create({ id: 'system:test', correlationId: null }, manifest(id, { profile }));
      await keyRing.ensureTenantKey(id);
      return isolationContext(id, created.spec);
    },
    stop: () => rm(dir, { recursive: true, force: true }),
  };
}

export function runWarehouseSuite(name: string, factory: () => Promise<WarehouseUnderTest>): void {
  describe(`warehouse: ${name}`, () => {
    let warehouse: Warehouse;
    let tenant: TenantMaker;
    let stop: () => Promise<void>;
    let a: IsolationContext;
    let b: IsolationContext;
    let d: IsolationContext;
    const table = (ctx: IsolationContext, sql: string) => warehouse.withTenant(ctx, (s) => s.exec(sql));
    const rows = <R = Record<string, unknown>>(ctx: IsolationContext, sql: string) =>
      warehouse.withTenant(ctx, (s) => s.query<R>(sql));

    beforeAll(async () => {
      ({ warehouse, tenant, stop } = await factory());
      expect(await warehouse.prepare()).toBeInstanceOf(Array);
      a = await tenant('wc-a', 'mt-standard');
      b = await tenant('wc-b', 'mt-standard');
      d = await tenant('wc-d', 'st-dedicated');
    }, 120_000);
    afterAll(async () => {
      for (const ctx of [a, b, d]) if (ctx) await warehouse.remove(ctx).catch(() => undefined);
      await warehouse?.close();
      await stop?.();
    }, 120_000);

    it('ensures places idempotently, and observes them', async () => {
      for (const ctx of [a, b, d]) {
        expect(await warehouse.observe(ctx), ctx.tenantId).toEqual({ exists: false, canLogin: false });
        await warehouse.ensure(ctx);
        await warehouse.ensure(ctx);
        // Whether a new role may log in at once is the engine's; the controller lets it in.
        expect((await warehouse.observe(ctx)).exists, ctx.tenantId).toBe(true);
        await warehouse.setLogin(ctx, true);
        expect(await warehouse.observe(ctx), ctx.tenantId).toEqual({ exists: true, canLogin: true });
      }
    }, 120_000);

    it('runs a session as the tenant, in its own place, as its connection says', async () => {
      for (const ctx of [a, d]) {
        const connection = await warehouse.connection(ctx);
        expect(connection.engine).toBe(warehouse.engine);
        await table(ctx, 'create table notes (body text); insert into notes values ($$mine$$)');
        const [who] = await rows<{ user: string; schema: string }>(
          ctx,
          'select current_user as user, current_schema() as schema',
        );
        expect(who).toEqual({ user: connection.role, schema: connection.schema });
        expect(await rows(ctx, 'select body from notes')).toEqual([{ body: 'mine' }]);
      }
      const shared = await warehouse.connection(a);
      const dedicated = await warehouse.connection(d);
      expect(shared.schema).not.toBe('public');
      expect(dedicated.schema).toBe('public');
      expect(dedicated.database).not.toBe(shared.database);
    }, 120_000);

    it("keeps tenants apart: no session reaches another tenant's tables", async () => {
      const schemaA = (await warehouse.connection(a)).schema;
      // A neighbour in the shared warehouse: the schema is there, its tables are refused.
      await expect(rows(b, `select body from "${schemaA}".notes`)).rejects.toThrow(/permission denied/);
      await expect(table(b, `insert into "${schemaA}".notes values ('theirs')`)).rejects.toThrow(/permission denied/);
      await expect(table(b, `drop table "${schemaA}".notes`)).rejects.toThrow(/must be owner|permission denied/);
      await expect(table(b, 'create table public.planted (x int)')).rejects.toThrow(/permission denied/);
      // Its own place only: its unqualified `notes` is not A's, nor the dedicated tenant's.
      await expect(rows(b, 'select body from notes')).rejects.toThrow(/does not exist/);
      // A dedicated tenant is in another database: the shared tenants' schemas are not there.
      await expect(rows(d, `select body from "${schemaA}".notes`)).rejects.toThrow(/does not exist/);
      // And nothing B tried changed A's data.
      expect(await rows(a, 'select body from notes')).toEqual([{ body: 'mine' }]);
    }, 120_000);

    it('commits a session when it resolves and rolls it back when it throws', async () => {
      await expect(
        warehouse.withTenant(a, async (s) => {
          await s.query('insert into notes values ($1)', ['lost']);
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      await warehouse.withTenant(a, (s) => s.query('insert into notes values ($1)', ['kept']));
      expect(await rows(a, 'select body from notes order by body')).toEqual([{ body: 'kept' }, { body: 'mine' }]);
    }, 120_000);

    it("measures the tenant's tables", async () => {
      const before = await warehouse.sizeBytes(d);
      expect(before).toBeGreaterThan(0);
      await table(d, "create table big as select repeat('x', 1000) as body from generate_series(1, 500)");
      expect(await warehouse.sizeBytes(d)).toBeGreaterThan(before);
      expect(await warehouse.sizeBytes(b)).toBe(0);
    }, 120_000);

    it('stops and restores logins, and a fence holds until logins are let back', async () => {
      await warehouse.setLogin(b, false);
      expect(await warehouse.observe(b)).toEqual({ exists: true, canLogin: false });
      await warehouse.setLogin(b, true);
      expect(await warehouse.observe(b)).toEqual({ exists: true, canLogin: true });
      await warehouse.fence(a);
      await warehouse.setLogin(a, true);
      expect(await rows(a, 'select count(*)::int as n from notes')).toEqual([{ n: 2 }]);
    }, 120_000);

    it('lists every place in its inventory', async () => {
      const { schemas, databases } = await warehouse.inventory();
      expect(schemas).toEqual(expect.arrayContaining([(await warehouse.connection(a)).schema]));
      expect(schemas).toEqual(expect.arrayContaining([(await warehouse.connection(b)).schema]));
      expect(databases.some((name) => name.endsWith('wc_d'))).toBe(true);
    }, 120_000);

    it('removes a place idempotently; ensuring it again makes an empty one', async () => {
      await warehouse.removePlace(a);
      await warehouse.removePlace(a);
      expect((await warehouse.observe(a)).exists).toBe(false);
      await warehouse.ensure(a);
      await warehouse.setLogin(a, true);
      await expect(rows(a, 'select body from notes')).rejects.toThrow(/does not exist/);
      // The neighbour is untouched.
      expect((await warehouse.observe(b)).exists).toBe(true);
    }, 120_000);

    it('removes everything of a tenant idempotently, and leaves the others', async () => {
      for (const ctx of [a, d]) {
        await warehouse.remove(ctx);
        await warehouse.remove(ctx);
        expect(await warehouse.observe(ctx), ctx.tenantId).toEqual({ exists: false, canLogin: false });
      }
      const { schemas, databases } = await warehouse.inventory();
      expect(schemas.some((s) => s.endsWith('wc_a'))).toBe(false);
      expect(schemas.some((s) => s.endsWith('wc_b'))).toBe(true);
      expect(databases.some((name) => name.endsWith('wc_d'))).toBe(false);
      expect(await warehouse.observe(b)).toEqual({ exists: true, canLogin: true });
    }, 120_000);
  });
}
