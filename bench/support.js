// Shared by the benchmarks: a throw-away PostgreSQL database for one run.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Create `tenancy_bench_<random>` on the server `base` names; `drop()` removes it. */
export async function freshPgDatabase(base) {
  const name = `tenancy_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
