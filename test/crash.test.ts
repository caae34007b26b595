/**
 * Crash safety: the control plane runs as a real process and is killed with SIGKILL at
 * random moments while tenants are being provisioned, archived, restored and moved between
 * profiles; after each
 * kill it is started again on the same state. At the end every tenant must reach its
 * desired phase, and nothing may be orphaned or lost: the warehouse holds a schema or
 * database exactly for each live tenant (shared or dedicated), objects exist exactly for
 * live tenants, every live tenant has all 100 seeded rows, every archived tenant has one
 * complete archive holding them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { startControlPlane } from '../src/control-plane.js';
import { isolationContext, strategyFor, tenantIdentifier } from '../src/isolation/index.js';
import { freshPostgresDatabase, PG_URL } from './support/engines.js';

const BIN = resolve('bin/tenancy.js');
const EXAMPLE = fileURLToPath(new URL('../examples/app/migrations', import.meta.url));
const TOKEN = 'crash-admin-token-0123456789abcdef';
const TRIALS = Number(process.env.TENANCY_CRASH_TRIALS ?? 16);
const engines = (process.env.TENANCY_CRASH_ENGINES?.split(',') ??
  (PG_URL ? ['pglite', 'postgres'] : ['pglite'])) as Array<'pglite' | 'postgres'>;
if (!PG_URL)
  console.warn('[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: crash trials on PostgreSQL are SKIPPED');

function serve(
  dataDir: string,
  env: Record<string, string>,
): { child: ChildProcessWithoutNullStreams; url: Promise<string>; log: () => string } {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], {
    env: { ...process.env, TENANCY_LOG_LEVEL: 'warn', ...env },
  });
  let stderr = '';
  const url = new Promise<string>((ok, fail) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) ok(m[1]!);
    });
    child.on('exit', (code) => fail(new Error(`exited (${code}) before listening: ${stderr.slice(-2000)}`)));
  });
  url.catch(() => undefined);
  return { child, url, log: () => stderr };
}

const killed = (child: ChildProcessWithoutNullStreams) =>
  new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
  );

async function api(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

describe.each(engines)(
  'crash trials on %s (SIGKILL during provisioning, archive, restore and profile moves)',
  (engine) => {
    const cleanup: Array<() => Promise<void>> = [];
    afterAll(async () => {
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
    });

    it(`converges after ${TRIALS} kills with nothing orphaned or lost`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-crash-'));
      cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
      const migrations = join(dataDir, 'app-migrations');
      await cp(join(EXAMPLE, '0001_notes.sql'), join(migrations, '0001_notes.sql'));
      await writeFile(
        join(migrations, '0002_seed.sql'),
        `insert into notes (title) select 'note ' || g from generate_series(1, 100) g;\n`,
      );
      const prefix = `k${randomBytes(3).toString('hex')}_`;
      const env: Record<string, string> = {
        TENANCY_ADMIN_TOKEN: TOKEN,
        TENANCY_APP_MIGRATIONS: migrations,
        TENANCY_RESYNC_INTERVAL_SECONDS: '1',
        TENANCY_DATABASE_URL: '',
        TENANCY_WAREHOUSE_URL: '',
      };
      let warehouseUrl: string | undefined;
      if (engine === 'postgres') {
        const store = await freshPostgresDatabase();
        const warehouse = await freshPostgresDatabase();
        warehouseUrl = warehouse.url;
        Object.assign(env, {
          TENANCY_DATABASE_URL: store.url,
          TENANCY_WAREHOUSE_URL: warehouse.url,
          TENANCY_WAREHOUSE_ROLE_PREFIX: prefix,
        });
        cleanup.push(async () => {
          await store.drop();
          const admin = new pg.Client({ connectionString: PG_URL });
          await admin.connect();
          for (const d of (await admin.query(`select datname from pg_database where datname like '${prefix}%'`)).rows)
            await admin.query(`drop database if exists "${d.datname}" with (force)`);
          await warehouse.drop();
          for (const r of (await admin.query(`select rolname from pg_roles where rolname like '${prefix}%'`)).rows)
            await admin.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
          await admin.end();
        });
      }

      const desired = new Map<string, 'active' | 'archived'>();
      let restored = 0;
      let moves = 0;
      for (let i = 0; i < TRIALS; i++) {
        const { child, url } = serve(dataDir, env);
        const base = await url;
        const id = `crash-${i}`;
        const ops: Array<Promise<unknown>> = [
          api(base, 'POST', '/v1/tenants', {
            apiVersion: 'tenancy/v1',
            kind: 'Tenant',
            metadata: { id },
            spec: { name: id, plan: 'pro', profile: i % 4 === 3 ? 'st-dedicated' : 'mt-standard' },
          }),
        ];
        desired.set(id, 'active');
        // Archive an older tenant that is active by now, or restore an archived one.
        if (i > 0) {
          const wanted = i % 3 === 2 ? 'archived' : 'active';
          let pick: string | undefined;
          // The restarted controller is still healing the last kill: give it a moment to make a candidate ready.
          for (
            const until = Date.now() + 4_000;
            pick === undefined && Date.now() < until;
            await new Promise((r) => setTimeout(r, 100))
          ) {
            const list = (await api(base, 'GET', '/v1/tenants?limit=500')).json.items as Array<{
              metadata: { id: string };
              status: { phase: string };
            }>;
            const phase = new Map(list.map((t) => [t.metadata.id, t.status.phase]));
            pick = [...desired].find(([t, d]) => t !== id && d === wanted && phase.get(t) === wanted)?.[0];
          }
          if (pick && i % 3 === 0) {
            // A profile change: the tenant moves to the other strategy's place.
            const profile =
              (await api(base, 'GET', `/v1/tenants/${pick}`)).json.spec.profile === 'mt-standard'
                ? 'st-dedicated'
                : 'mt-standard';
            if ((await api(base, 'PATCH', `/v1/tenants/${pick}`, { spec: { profile } })).status === 200) moves++;
          } else if (
            pick &&
            (await api(base, 'POST', `/v1/tenants/${pick}/${wanted === 'active' ? 'archive' : 'restore'}`, {}))
              .status === 200
          ) {
            desired.set(pick, wanted === 'active' ? 'archived' : 'active');
            if (wanted === 'archived') restored++;
          }
        }
        await Promise.all(ops);
        // PGlite opens its warehouse on first use (a second or two): give its kills a wider window.
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * (engine === 'pglite' ? 3_500 : 1_500))));
        child.kill('SIGKILL');
        await killed(child);
      }

      // Last start: everything must converge.
      const { child, url, log } = serve(dataDir, env);
      const base = await url;
      const deadline = Date.now() + 90_000;
      let phases: Record<string, string> = {};
      for (;;) {
        const list = (await api(base, 'GET', '/v1/tenants?limit=500')).json.items as Array<{
          metadata: { id: string };
          spec: { profile: string };
          status: { phase: string; conditions: unknown[]; placement?: { profile: string; movingFrom?: string } };
        }>;
        phases = Object.fromEntries(list.map((t) => [t.metadata.id, t.status.phase]));
        const settled = list.every(
          (t) =>
            t.status.phase !== 'active' ||
            (t.status.placement?.profile === t.spec.profile && !t.status.placement.movingFrom),
        );
        if (settled && [...desired].every(([t, d]) => phases[t] === d)) break;
        if (Date.now() > deadline) {
          const stuck = list
            .filter(
              (t) =>
                desired.get(t.metadata.id) !== t.status.phase ||
                (t.status.phase === 'active' && t.status.placement?.profile !== t.spec.profile),
            )
            .map((t) => ({
              id: t.metadata.id,
              phase: t.status.phase,
              placement: t.status.placement,
              conditions: t.status.conditions,
            }));
          throw new Error(
            `did not converge: ${JSON.stringify(stuck)} wanted ${JSON.stringify(Object.fromEntries(desired))}; the server's log ends: ${log().slice(-3000)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(Object.keys(phases).sort()).toEqual([...desired.keys()].sort());
      child.kill('SIGTERM');
      await killed(child);

      // Inspect the state left behind with an in-process control plane on the same data.
      const plane = await startControlPlane(
        loadConfig({ dataDir, port: '0' }, { ...env, TENANCY_LOG_LEVEL: 'silent' }),
        { listen: false },
      );
      try {
        await plane.controller.stop();
        const live = [...desired].filter(([, d]) => d === 'active').map(([t]) => t);
        const specs = new Map(
          await Promise.all([...desired.keys()].map(async (t) => [t, (await plane.registry.get(t)).spec] as const)),
        );
        const shared = live.filter((t) => specs.get(t)!.profile === 'mt-standard');
        const dedicated = live.filter((t) => specs.get(t)!.profile !== 'mt-standard');
        const inventory = await plane.resources.databases.inventory();
        expect(inventory.schemas).toEqual(
          shared.map((t) => tenantIdentifier(t, engine === 'postgres' ? prefix : '')).sort(),
        );
        const dedicatedNames = dedicated
          .map((t) =>
            engine === 'postgres'
              ? `${prefix}warehouse_${tenantIdentifier(t, prefix).slice(prefix.length + 2)}`
              : tenantIdentifier(t),
          )
          .sort();
        expect(inventory.databases).toEqual(dedicatedNames);
        for (const t of desired.keys()) {
          const ctx = isolationContext(t, specs.get(t)!);
          const place = strategyFor(ctx.profile).resources(ctx).objects;
          const objects = (await plane.objects.bucketExists(place.bucket))
            ? (await plane.objects.list(place.bucket, { prefix: place.prefix })).items.length
            : 0;
          if (desired.get(t) === 'active') {
            expect(objects, `objects of ${t}`).toBeGreaterThan(ctx.profile === 'mt-standard' ? 0 : -1);
            const rows = await plane.resources.databases.withTenant(ctx, (s) =>
              s.query<{ n: number }>('select count(*)::int as n from notes'),
            );
            expect(rows[0]!.n, `rows of ${t}`).toBe(100);
          } else {
            expect(objects, `objects of archived ${t}`).toBe(0);
            const archives = await plane.database.db
              .selectFrom('tenant_archives')
              .selectAll()
              .where('tenant_id', '=', t)
              .where('state', '=', 'complete')
              .execute();
            expect(archives, `archives of ${t}`).toHaveLength(1);
            const manifest = archives[0]!.manifest as { tables: Array<{ name: string; rows: number }> };
            expect(manifest.tables.find((x) => x.name === 'notes')?.rows, `archived rows of ${t}`).toBe(100);
          }
        }
        void warehouseUrl;
        console.log(
          `[crash ${engine}] ${TRIALS} kills; ${live.length} active, ${desired.size - live.length} archived, ${restored} restored, ${moves} profile moves`,
        );
      } finally {
        await plane.close();
      }
    }, 600_000);
  },
);
