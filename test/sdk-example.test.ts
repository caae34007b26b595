/**
 * The example notes app (examples/app) end to end: a control plane and the app on
 * 127.0.0.1, OS-picked ports. Notes are per tenant, credentials and quotas are enforced;
 * on a PostgreSQL warehouse the notes land in the tenant's own schema through tenantDb().
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolationContext } from '../src/isolation/index.js';
import { parse } from 'yaml';
// @ts-expect-error: the example is plain JavaScript (checked with // @ts-check), without declarations
import { buildNotesApp } from '../examples/app/app.js';
import { freshPostgresDatabase, PG_URL, startTestPlane, type TestPlane } from './support/engines.js';
import { call, createActive, tenantKey } from './support/http.js';

const MIGRATIONS = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
const storages = PG_URL ? (['memory', 'postgres'] as const) : (['memory'] as const);
if (!PG_URL)
  console.warn(
    '[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: the example app on a PostgreSQL warehouse is SKIPPED',
  );

interface NotesApp {
  listen(options: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

describe.each(storages)('the example notes app (%s storage)', (storage) => {
  let plane: TestPlane;
  let app: NotesApp;
  let url: string;
  let warehouse: { url: string; drop: () => Promise<void> } | undefined;
  const prefix = `n${randomBytes(3).toString('hex')}_`;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    warehouse = storage === 'postgres' ? await freshPostgresDatabase() : undefined;
    plane = await startTestPlane(storage === 'postgres' ? 'postgres' : 'pglite', {
      listen: true,
      env: {
        TENANCY_APP_MIGRATIONS: MIGRATIONS,
        ...(warehouse ? { TENANCY_WAREHOUSE_URL: warehouse.url, TENANCY_WAREHOUSE_ROLE_PREFIX: prefix } : {}),
      },
    });
    await createActive(plane, 'notes-a');
    await createActive(plane, 'notes-b', { quotas: { maxRequestsPerHour: 4 } });
    keys.a = (await tenantKey(plane, 'notes-a', 'operator')).token;
    keys.b = (await tenantKey(plane, 'notes-b', 'operator')).token;
    const token = (await call(plane, 'POST', '/v1/api-keys', { name: 'notes app', role: 'platform-operator' })).json()
      .token;
    app = await buildNotesApp({ controlPlaneUrl: plane.url, token, storage });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await plane?.stop();
    if (warehouse) {
      await warehouse.drop();
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      const roles = await admin.query<{ rolname: string }>(`select rolname from pg_roles where rolname like $1`, [
        `${prefix}%`,
      ]);
      for (const d of (
        await admin.query<{ datname: string }>(`select datname from pg_database where datname like $1`, [`${prefix}%`])
      ).rows)
        await admin.query(`drop database if exists "${d.datname}" with (force)`);
      for (const r of roles.rows) await admin.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
      await admin.end();
    }
  });

  const request = async (method: string, path: string, key: string | null, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  it('keeps each tenant to its own notes', async () => {
    expect((await request('POST', '/notes', keys.a!, { title: 'alpha plan', body: 'secret of a' })).status).toBe(201);
    const b = await request('POST', '/notes', keys.b!, { title: 'beta plan' });
    expect(b.status).toBe(201);
    const listA = await request('GET', '/notes', keys.a!);
    expect(listA.body.tenant).toBe('notes-a');
    expect(listA.body.items.map((n: { title: string }) => n.title)).toEqual(['alpha plan']);
    const listB = await request('GET', '/notes', keys.b!);
    expect(listB.body.items.map((n: { title: string }) => n.title)).toEqual(['beta plan']);
    expect(JSON.stringify(listB.body)).not.toContain('secret of a');
    expect(listA.headers.get('ratelimit-policy')).toContain('"hourly"');
    if (storage === 'postgres') {
      const ctx = isolationContext('notes-a', (await plane.registry.get('notes-a')).spec);
      const rows = await plane.resources.databases.withTenant(ctx, (s) =>
        s.query<{ title: string }>('select title from notes'),
      );
      expect(rows.map((r) => r.title)).toEqual(['alpha plan']);
    }
  });

  it("summarizes the tenant's notes with a model through the router (official openai client, mock provider)", async () => {
    const provider = parse(await readFile(new URL('../examples/models/mock.yaml', import.meta.url), 'utf8'));
    const applied = await call(plane, 'POST', '/v1/apply', {
      items: [
        { manifest: provider },
        {
          manifest: {
            apiVersion: 'tenancy/v1',
            kind: 'TenantRouter',
            metadata: { tenant: 'notes-a' },
            spec: {
              primary: { model: 'large-reasoning' },
              routes: [{ match: { task: 'summarize' }, model: 'small-fast' }],
            },
          },
        },
      ],
    });
    expect(applied.statusCode, applied.body).toBe(200);
    const summary = await request('POST', '/notes/summary', keys.a!);
    expect(summary.status).toBe(200);
    expect(summary.body.model).toBe('small-fast');
    expect(summary.body.summary).toContain('alpha plan');
    expect(summary.body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('refuses bad input, missing credentials and a tenant over its hourly quota', async () => {
    const bad = await request('POST', '/notes', keys.a!, { title: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('validation_failed');
    const anonymous = await request('GET', '/notes', null);
    expect([anonymous.status, anonymous.body.code]).toEqual([401, 'unauthenticated']);
    // notes-b has a quota of 4 requests per hour and used 2 in the test above.
    expect((await request('GET', '/me', keys.b!)).body.quotas.maxRequestsPerHour).toBe(4);
    expect((await request('GET', '/notes', keys.b!)).status).toBe(200);
    const over = await request('GET', '/notes', keys.b!);
    expect([over.status, over.body.code, over.body.quota, over.body.limit]).toEqual([
      429,
      'quota_exceeded',
      'maxRequestsPerHour',
      4,
    ]);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
