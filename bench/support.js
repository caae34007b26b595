// Shared by the benchmarks: a throw-away PostgreSQL database for one run, percentiles, and
// sequential timing.
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

/** The p-th percentile of an ascending array (nearest rank). */
export const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Run `fn(i)` for i = 0..n-1 one after another; the milliseconds of each, ascending. */
export async function timeSequential(n, fn) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return ms.sort((a, b) => a - b);
}
