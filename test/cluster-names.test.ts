/**
 * Cluster-global names on PostgreSQL: roles and databases belong to the whole cluster, so
 * two installations on one server (or a leftover of an earlier one) must never share one.
 * Each installation prefixes its names (derived once, stored), marks every role it makes,
 * adopts nothing unmarked or marked by another, and leaves no role or database behind when
 * a tenant is purged.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_URL, pgClient as connect, type TestPlane, withClient } from './support/engines.js';
import { call, createActive, manifest } from './support/http.js';
import { leastPrivilege, startWarehousePlane, type LeastPrivilege } from './support/warehouse.js';

if (!PG_URL)
  console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: cluster-global name tests are SKIPPED');

const superuser = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => withClient(PG_URL!, fn);

const descriptor = async (plane: TestPlane, id: string) =>
  (await call(plane, 'GET', `/v1/tenants/${id}/connection`)).json().database as {
    url: string;
    role: string;
    database: string;
    schema: string;
  };

/** Poll until the tenant carries a Degraded condition; returns it. */
async function degraded(plane: TestPlane, id: string): Promise<{ reason: string; message: string }> {
  for (const until = Date.now() + 15_000; ; ) {
    const t = (await call(plane, 'GET', `/v1/tenants/${id}`)).json();
    const d = t.status.conditions.find((c: { type: string }) => c.type === 'Degraded');
    if (d) return d;
    if (Date.now() > until) throw new Error(`${id} never degraded: ${JSON.stringify(t.status)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function roleState(
  role: string,
): Promise<{ comment: string | null; login: boolean; password: string | null } | undefined> {
  return superuser(
    async (c) =>
      (
        await c.query(
          `select shobj_description(oid, 'pg_authid') as comment, rolcanlogin as login, rolpassword as password from pg_authid where rolname = $1`,
          [role],
        )
      ).rows[0],
  );
}

describe.skipIf(!PG_URL)('two installations on one PostgreSQL server', () => {
  let one: { plane: TestPlane; prefix: string; close: () => Promise<void> };
  let two: { plane: TestPlane; prefix: string; close: () => Promise<void> };

  beforeAll(async () => {
    one = await startWarehousePlane('postgres', {}, { derivedPrefix: true });
    two = await startWarehousePlane('postgres', {}, { derivedPrefix: true });
  }, 60_000);
  afterAll(async () => {
    await one?.close();
    await two?.close();
  });

  it('give the same tenant id different roles and databases, and neither reaches the other', async () => {
    expect(one.prefix).toMatch(/^i[0-9a-f]{6}_$/);
    expect(two.prefix).toMatch(/^i[0-9a-f]{6}_$/);
    expect(one.prefix).not.toBe(two.prefix);
    for (const plane of [one.plane, two.plane]) {
      await createActive(plane, 'adopt-x');
      await createActive(plane, 'adopt-d', { profile: 'st-dedicated' });
    }
    const [x1, x2] = [await descriptor(one.plane, 'adopt-x'), await descriptor(two.plane, 'adopt-x')];
    const [d1, d2] = [await descriptor(one.plane, 'adopt-d'), await descriptor(two.plane, 'adopt-d')];
    expect(x1.role).not.toBe(x2.role);
    expect(d1.database).not.toBe(d2.database);
    const writer = await connect(x1.url);
    await writer.query(`create table secret_rows (v text); insert into secret_rows values ('installation-1 data')`);
    await writer.end();
    // Installation 2's tenant: not into installation 1's warehouse, nor its dedicated database.
    await expect(connect(x2.url, x1.database)).rejects.toMatchObject({ code: '42501' });
    await expect(connect(d2.url, d1.database)).rejects.toMatchObject({ code: '42501' });
    const own = await connect(x2.url);
    await expect(own.query(`select v from ${x1.schema}.secret_rows`)).rejects.toMatchObject({
      code: expect.stringMatching(/^(42501|42P01|3F000)$/),
    });
    await own.end();
    // And installation 1's tenant still logs in with its own password and reads its rows.
    const again = await connect(x1.url);
    expect((await again.query('select v from secret_rows')).rows).toEqual([{ v: 'installation-1 data' }]);
    await again.end();
  }, 60_000);
});

describe.skipIf(!PG_URL)('a name this installation did not make', () => {
  let lp: LeastPrivilege;
  let first: { plane: TestPlane; prefix: string; close: () => Promise<void> };
  let second: { plane: TestPlane; close: () => Promise<void> };

  beforeAll(async () => {
    first = await startWarehousePlane('postgres');
    // A second installation told to use the first one's prefix (a misconfiguration).
    lp = await leastPrivilege();
    second = await startWarehousePlane('postgres', { TENANCY_WAREHOUSE_ROLE_PREFIX: first.prefix }, { lp });
  }, 60_000);
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await lp?.drop();
  });

  it("is not adopted when another installation's mark is on it: Degraded role_name_taken, the role unchanged", async () => {
    await createActive(first.plane, 'adopt-y');
    const role = (await descriptor(first.plane, 'adopt-y')).role;
    const before = await roleState(role);
    expect(before?.comment).toMatch(/^tenancy\/v1 installation=\S+ tenant=adopt-y uid=\S+ role=tenant$/);
    expect((await call(second.plane, 'POST', '/v1/tenants', manifest('adopt-y'))).statusCode).toBe(201);
    const condition = await degraded(second.plane, 'adopt-y');
    expect(condition).toMatchObject({
      reason: 'RoleNameTaken',
      message: expect.stringMatching(/^role_name_taken: role "[^"]+" already exists/),
    });
    expect((await call(second.plane, 'GET', '/v1/tenants/adopt-y')).json().status.phase).toBe('provisioning');
    expect(await roleState(role)).toEqual(before);
    const still = await connect((await descriptor(first.plane, 'adopt-y')).url);
    await still.query('select 1');
    await still.end();
  }, 60_000);

  it('is not adopted when it carries no mark at all (a leftover or a hand-made role)', async () => {
    const role = `${first.prefix}t_pre_x`;
    await superuser((c) => c.query(`create role ${role} login password 'hand-made-password-123'`));
    try {
      const before = await roleState(role);
      expect((await call(first.plane, 'POST', '/v1/tenants', manifest('pre-x'))).statusCode).toBe(201);
      expect(await degraded(first.plane, 'pre-x')).toMatchObject({
        reason: 'RoleNameTaken',
        message: expect.stringContaining('carries no ownership mark'),
      });
      expect(await roleState(role)).toEqual(before);
      // Deleting the tenant that never got its place leaves the hand-made role alone too.
      await call(first.plane, 'PATCH', '/v1/tenants/pre-x', { spec: { config: { retentionDays: 0 } } });
      await call(first.plane, 'DELETE', '/v1/tenants/pre-x');
      for (
        const until = Date.now() + 15_000;
        !(await call(first.plane, 'GET', '/v1/tenants/pre-x')).json().status?.purgedAt;
      ) {
        if (Date.now() > until) throw new Error('pre-x was not purged');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await roleState(role)).toEqual(before);
    } finally {
      await superuser((c) => c.query(`drop role if exists ${role}`));
    }
  }, 60_000);

  it('is never left behind: a purge drops every role and database of the tenant, moved ones included', async () => {
    const ids = ['gone-s', 'gone-d', 'gone-m'];
    await createActive(first.plane, 'gone-s', { config: { retentionDays: 0 } });
    await createActive(first.plane, 'gone-d', { profile: 'st-dedicated', config: { retentionDays: 0 } });
    await createActive(first.plane, 'gone-m', { config: { retentionDays: 0 } });
    await call(first.plane, 'PATCH', '/v1/tenants/gone-m', { spec: { profile: 'st-dedicated' } });
    for (const until = Date.now() + 30_000; ; ) {
      const t = (await call(first.plane, 'GET', '/v1/tenants/gone-m')).json();
      if (t.status.placement?.profile === 'st-dedicated' && !t.status.placement.movingFrom) break;
      if (Date.now() > until) throw new Error('gone-m did not move');
      await new Promise((r) => setTimeout(r, 50));
    }
    const names = (id: string) => id.replace(/-/g, '_');
    const leftovers = async () =>
      superuser(async (c) => ({
        roles: (
          await c.query(`select rolname from pg_roles where rolname = any($1) order by 1`, [
            ids.flatMap((id) => [`${first.prefix}t_${names(id)}`, `${first.prefix}m_${names(id)}`]),
          ])
        ).rows.map((r) => r.rolname),
        databases: (
          await c.query(`select datname from pg_database where datname = any($1) order by 1`, [
            ids.map((id) => `${first.prefix}warehouse_${names(id)}`),
          ])
        ).rows.map((r) => r.datname),
      }));
    expect((await leftovers()).roles).toHaveLength(6);
    for (const id of ids) await call(first.plane, 'DELETE', `/v1/tenants/${id}`);
    for (const id of ids) {
      for (
        const until = Date.now() + 20_000;
        !(await call(first.plane, 'GET', `/v1/tenants/${id}`)).json().status?.purgedAt;
      ) {
        if (Date.now() > until) throw new Error(`${id} was not purged`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(await leftovers()).toEqual({ roles: [], databases: [] });
  }, 90_000);
});
