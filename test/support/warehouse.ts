/**
 * Control planes with a tenant warehouse for the suites that move tenant data: the
 * embedded default (PGlite everywhere), PostgreSQL (store and warehouse), and PostgreSQL
 * with the S3 protocol (s3rver) and NATS JetStream. Each gets its own databases and a role
 * prefix, and leaves nothing behind. On PostgreSQL the control plane runs least-privileged,
 * as in production: a role with CREATEROLE and CREATEDB that owns its two databases, no
 * superuser.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PG_URL, startTestPlane, type TestPlane } from './engines.js';
import { startS3 } from './s3.js';

const NATS_URL = process.env.TENANCY_TEST_NATS_URL;

export type WarehouseKind = 'embedded' | 'postgres' | 'engines';

/** The kinds this machine can run; the others are announced as skipped. */
export function warehouseKinds(suite: string): WarehouseKind[] {
  if (!PG_URL)
    console.warn(
      `[tenancy tests] TENANCY_TEST_DATABASE_URL is not set: ${suite} on a PostgreSQL warehouse are SKIPPED`,
    );
  else if (!NATS_URL)
    console.warn(`[tenancy tests] TENANCY_TEST_NATS_URL is not set: ${suite} with S3 and NATS are SKIPPED`);
  return [
    'embedded',
    ...(PG_URL ? (['postgres'] as const) : []),
    ...(PG_URL && NATS_URL ? (['engines'] as const) : []),
  ];
}

/** Drop every database and role whose name starts with `prefix`. */
export async function dropPrefixed(prefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    for (const d of (await admin.query(`select datname from pg_database where datname like $1`, [`${prefix}%`])).rows)
      await admin.query(`drop database if exists "${d.datname}" with (force)`);
    for (const r of (await admin.query(`select rolname from pg_roles where rolname like $1`, [`${prefix}%`])).rows) {
      await admin.query(`drop owned by "${r.rolname}" cascade`).catch(() => undefined);
      await admin.query(`drop role if exists "${r.rolname}"`).catch(() => undefined);
    }
  } finally {
    await admin.end();
  }
}

/** A non-superuser control-plane role (CREATEROLE, CREATEDB) owning a fresh store and warehouse database. */
export interface LeastPrivilege {
  role: string;
  storeUrl: string;
  warehouseUrl: string;
  /** Drop the databases and the role (call after the tenants' roles are gone). */
  drop(): Promise<void>;
}

/** Make a least-privileged control-plane role and its two databases on the test server. */
export async function leastPrivilege(): Promise<LeastPrivilege> {
  const role = `lp_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`create role ${role} login createrole createdb nosuperuser noreplication nobypassrls`);
    await admin.query(`create database ${role}_store owner ${role}`);
    await admin.query(`create database ${role}_warehouse owner ${role}`);
  } finally {
    await admin.end();
  }
  const url = (db: string) => {
    const u = new URL(PG_URL!);
    u.username = role;
    u.password = '';
    u.pathname = `/${db}`;
    return u.toString();
  };
  return {
    role,
    storeUrl: url(`${role}_store`),
    warehouseUrl: url(`${role}_warehouse`),
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        for (const db of [`${role}_store`, `${role}_warehouse`])
          await c.query(`drop database if exists ${db} with (force)`);
        await c.query(`drop owned by ${role} cascade`).catch(() => undefined);
        await c.query(`drop role if exists ${role}`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A control plane on `kind`, with `env` on top (`beforeStart` sees its PostgreSQL set-up first); `close()` stops it and removes what it made. */
export async function startWarehousePlane(
  kind: WarehouseKind,
  env: Record<string, string> = {},
  options: {
    beforeStart?: (lp: LeastPrivilege) => Promise<void>;
    derivedPrefix?: boolean;
    lp?: LeastPrivilege;
    listen?: boolean;
  } = {},
): Promise<{ plane: TestPlane; prefix: string; close: () => Promise<void> }> {
  let prefix = `w${randomBytes(3).toString('hex')}_`;
  const lp = kind !== 'embedded' ? (options.lp ?? (await leastPrivilege())) : undefined;
  if (lp) await options.beforeStart?.(lp);
  const s3 = kind === 'engines' ? await startS3() : undefined;
  const plane = await startTestPlane(kind !== 'embedded' ? 'postgres' : 'pglite', {
    ...(lp ? { storeUrl: lp.storeUrl } : {}),
    ...(options.listen ? { listen: true } : {}),
    env: {
      ...(lp
        ? {
            TENANCY_WAREHOUSE_URL: lp.warehouseUrl,
            ...(options.derivedPrefix ? {} : { TENANCY_WAREHOUSE_ROLE_PREFIX: prefix }),
          }
        : {}),
      ...(s3 ? { TENANCY_S3_URL: s3.url, TENANCY_NATS_URL: NATS_URL! } : {}),
      ...env,
    },
  });
  // The installation's own prefix, decided at its first start.
  if (lp && options.derivedPrefix)
    prefix = (await plane.database.db.selectFrom('installation').select('warehouse_prefix').executeTakeFirstOrThrow())
      .warehouse_prefix!;
  return {
    plane,
    prefix: lp ? prefix : '',
    async close() {
      await plane.stop();
      await s3?.stop();
      if (lp) {
        await dropPrefixed(prefix);
        if (!options.lp) await lp.drop();
        await dropPrefixed(prefix);
      }
    },
  };
}
