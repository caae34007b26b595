/**
 * Archive and restore end to end, on the embedded warehouse, on a PostgreSQL warehouse, and
 * on one with the S3 protocol and NATS JetStream:
 * archive exports every table (migration-made or not), sequence and object to cold
 * storage with a manifest of row counts and checksums, then removes the live copies;
 * restore brings them back and verifies them; a corrupt archive is refused (the tenant
 * stays provisioning, Degraded) and heals once the archive is whole; purge removes the
 * archives too.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCHIVE_BUCKET, isolationContext, strategyFor } from '../src/isolation/index.js';
import type { TestPlane } from './support/engines.js';
import { startWarehousePlane, warehouseKinds } from './support/warehouse.js';
import { call, createActive, waitForPhase } from './support/http.js';

const SUITE = 'archive and restore tests';
const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));

describe.each(warehouseKinds(SUITE))('archive and restore on the %s warehouse', (kind) => {
  let plane: TestPlane;
  let close: (() => Promise<void>) | undefined;
  const ctx = async (id: string) => isolationContext(id, (await plane.registry.get(id)).spec);
  const sql = async <R = any>(id: string, text: string, params: unknown[] = []) =>
    plane.resources.databases.withTenant(await ctx(id), (s) => s.query<R>(text, params));
  const place = async (id: string) => strategyFor((await ctx(id)).profile).resources(await ctx(id)).objects;

  beforeAll(async () => {
    ({ plane, close } = await startWarehousePlane(kind, { TENANCY_APP_MIGRATIONS: EXAMPLE }));
  }, 60_000);

  afterAll(async () => {
    await close?.();
  });

  async function seed(id: string) {
    await sql(
      id,
      `insert into notes (title, body, tags) values ('one', 'first note', '{a,b}'), ('two', 'second', '{}'), ('three', 'third ✓', '{c}')`,
    );
    // A table the app made outside the migration set, with a foreign key to a migrated one.
    await sql(
      id,
      `create table attachments (id serial primary key, note_id bigint not null references notes(id), label text)`,
    );
    await sql(id, `insert into attachments (note_id, label) select id, 'att-' || title from notes`);
    const objects = await place(id);
    await plane.objects.put(objects.bucket, `${objects.prefix}docs/readme.txt`, Buffer.from(`hello from ${id}`));
    await plane.objects.put(objects.bucket, `${objects.prefix}img/blob.bin`, randomBytes(40_000), {
      contentType: 'application/octet-stream',
    });
  }

  async function snapshot(id: string) {
    const objects = await place(id);
    const listed = await plane.objects.list(objects.bucket, { prefix: objects.prefix });
    const bodies = await Promise.all(
      listed.items.map(async (i) => [i.key, (await plane.objects.get(objects.bucket, i.key))!.body.toString('base64')]),
    );
    return {
      notes: await sql(id, `select id, title, body, tags, created_at from notes order by id`),
      attachments: await sql(id, `select * from attachments order by id`),
      objects: Object.fromEntries(bodies),
    };
  }

  it.each(['shared', 'dedicated'] as const)(
    'round-trips a %s tenant through cold storage, verified',
    async (profile) => {
      const id = `arc-${profile.slice(0, 3)}`;
      await createActive(plane, id, profile === 'dedicated' ? { profile: 'st-dedicated' } : {});
      await seed(id);
      const before = await snapshot(id);

      expect((await call(plane, 'POST', `/v1/tenants/${id}/archive`, {})).statusCode).toBe(200);
      await waitForPhase(plane, id, 'archived', 20_000);
      const archive = await plane.database.db
        .selectFrom('tenant_archives')
        .selectAll()
        .where('tenant_id', '=', id)
        .executeTakeFirstOrThrow();
      expect(archive.state).toBe('complete');
      expect(archive.location).toMatch(new RegExp(`^archive/${id}/\\d{4}-\\d\\d-\\d\\dT`));
      const manifest = JSON.parse(
        (await plane.objects.get(
          ARCHIVE_BUCKET,
          `${archive.location.slice('archive/'.length)}manifest.json`,
        ))!.body.toString('utf8'),
      );
      expect(manifest).toMatchObject({ format: 'tenancy-archive/v1', tenantId: id, migrationVersion: '0002' });
      expect(manifest.tables.map((t: any) => [t.name, t.rows])).toEqual([
        ['attachments', 3],
        ['notes', 3],
      ]);
      expect(manifest.tables[1].sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(manifest.objects.map((o: any) => o.key).sort()).toEqual(
        ['.tenancy-prefix', 'docs/readme.txt', 'img/blob.bin'].filter(
          (k) => profile === 'shared' || k !== '.tenancy-prefix',
        ),
      );
      // The live copies are gone.
      expect((await plane.resources.databases.observe(await ctx(id))).exists).toBe(false);
      const objects = await place(id);
      expect(
        profile === 'shared'
          ? (await plane.objects.list(objects.bucket, { prefix: objects.prefix })).items
          : await plane.objects.bucketExists(objects.bucket),
      ).toEqual(profile === 'shared' ? [] : false);
      const archiveJob = (await call(plane, 'GET', `/v1/jobs?tenant=${id}&kind=archive`)).json().items[0];
      expect(archiveJob).toMatchObject({ state: 'succeeded', result: { tables: 2, rows: 6 } });

      expect((await call(plane, 'POST', `/v1/tenants/${id}/restore`, {})).statusCode).toBe(200);
      await waitForPhase(plane, id, 'active', 20_000);
      expect(await snapshot(id)).toEqual(before);
      // Sequences came back too: the next row does not collide.
      const [next] = await sql<{ id: number }>(id, `insert into notes (title) values ('four') returning id`);
      expect(Number(next!.id)).toBe(4);
      const restoreJob = (await call(plane, 'GET', `/v1/jobs?tenant=${id}&kind=restore`)).json().items[0];
      expect(restoreJob).toMatchObject({ state: 'succeeded', result: { verified: true, tables: 2, rows: 6 } });
      expect(
        (
          await plane.database.db
            .selectFrom('tenant_archives')
            .select('state')
            .where('tenant_id', '=', id)
            .executeTakeFirstOrThrow()
        ).state,
      ).toBe('restored');
      expect(
        (await call(plane, 'GET', `/v1/tenants/${id}/migrations`)).json().items.map((m: any) => m.version),
      ).toEqual(['0001', '0002']);
    },
    60_000,
  );

  it('refuses a corrupt archive (the tenant stays provisioning, Degraded) and heals when it is whole; purge removes archives', async () => {
    const id = 'arc-bad';
    await createActive(plane, id, { config: { retentionDays: 0 } });
    await seed(id);
    const before = await snapshot(id);
    await call(plane, 'POST', `/v1/tenants/${id}/archive`, {});
    await waitForPhase(plane, id, 'archived', 20_000);
    const archive = await plane.database.db
      .selectFrom('tenant_archives')
      .selectAll()
      .where('tenant_id', '=', id)
      .executeTakeFirstOrThrow();
    const key = `${archive.location.slice('archive/'.length)}tables/notes.jsonl`;
    const original = (await plane.objects.get(ARCHIVE_BUCKET, key))!.body;
    await plane.objects.put(
      ARCHIVE_BUCKET,
      key,
      Buffer.from(original.toString('utf8').replace('first note', 'forged note')),
    );

    await call(plane, 'POST', `/v1/tenants/${id}/restore`, {});
    const deadline = Date.now() + 15_000;
    let t: any;
    do {
      await new Promise((r) => setTimeout(r, 100));
      t = (await call(plane, 'GET', `/v1/tenants/${id}`)).json();
    } while (!t.status.conditions.some((c: any) => c.type === 'Degraded') && Date.now() < deadline);
    expect(t.status.phase).toBe('provisioning');
    expect(t.status.conditions).toContainEqual(
      expect.objectContaining({
        type: 'Degraded',
        message: expect.stringContaining('table notes is corrupt (checksum differs)'),
      }),
    );

    await plane.objects.put(ARCHIVE_BUCKET, key, original);
    plane.controller.enqueue(id);
    await waitForPhase(plane, id, 'active', 20_000);
    expect(await snapshot(id)).toEqual(before);

    await call(plane, 'DELETE', `/v1/tenants/${id}`);
    await waitForPhase(plane, id, 'deleted', 20_000);
    await plane.controller.idle();
    expect((await plane.objects.list(ARCHIVE_BUCKET, { prefix: `${id}/` })).items).toEqual([]);
    expect(
      await plane.database.db.selectFrom('tenant_archives').selectAll().where('tenant_id', '=', id).execute(),
    ).toEqual([]);
  }, 60_000);
});
