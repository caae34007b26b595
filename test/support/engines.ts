/**
 * Engines the suites run on: embedded PGlite always, PostgreSQL when
 * TENANCY_TEST_DATABASE_URL is set. Each PostgreSQL use gets a fresh database of its own,
 * dropped afterwards, so runs never see each other's state.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { startControlPlane, type ControlPlane, type StartOptions } from '../../src/control-plane.js';

export const PG_URL = process.env.TENANCY_TEST_DATABASE_URL;
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export type EngineName = 'pglite' | 'postgres';

/** Engines to run shared suites on; PostgreSQL is announced as skipped when absent. */
export function engines(): EngineName[] {
  if (!PG_URL) {
    console.warn(
      '[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: PostgreSQL suites are SKIPPED (PGlite suites run)',
    );
    return ['pglite'];
  }
  return ['pglite', 'postgres'];
}

/** Create a fresh PostgreSQL database; returns its URL and a drop function. */
export async function freshPostgresDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!PG_URL) throw new Error('TENANCY_TEST_DATABASE_URL is not set');
  const name = `tenancy_t_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** A control plane for a test, with its own store and data dir. */
export interface TestPlane extends ControlPlane {
  dataDir: string;
  databaseUrl: string | undefined;
  stop(): Promise<void>;
}

/** Start a control plane on `engine`; `listen` binds 127.0.0.1 on an OS-chosen port; `storeUrl` names a PostgreSQL store made by the caller. */
export async function startTestPlane(
  engine: EngineName,
  options: { listen?: boolean; env?: Record<string, string>; start?: StartOptions; storeUrl?: string } = {},
): Promise<TestPlane> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tenancy-test-'));
  // A store the caller made (and drops) itself, or a fresh one dropped on stop.
  const database =
    engine === 'postgres'
      ? options.storeUrl
        ? { url: options.storeUrl, drop: async () => undefined }
        : await freshPostgresDatabase()
      : undefined;
  const config = loadConfig(
    { port: '0', host: '127.0.0.1', dataDir },
    {
      TENANCY_ADMIN_TOKEN: ADMIN_TOKEN,
      TENANCY_LOG_LEVEL: 'silent',
      ...(database ? { TENANCY_DATABASE_URL: database.url } : {}),
      ...options.env,
    },
  );
  const plane = await startControlPlane(config, {
    inMemory: engine === 'pglite',
    listen: options.listen ?? false,
    controllerResyncMs: 60_000,
    ...options.start,
  });
  return Object.assign(plane, {
    dataDir,
    databaseUrl: database?.url,
    async stop() {
      await plane.close();
      await database?.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  });
}

/** A client logged in with `url`, optionally to another database of the same server; errors after connecting are ignored. */
export async function pgClient(url: string, database?: string): Promise<pg.Client> {
  const u = new URL(url);
  if (database) u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Run `fn` with a client of `url` (optionally in another database), ended afterwards. */
export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const c = await pgClient(url, database);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
