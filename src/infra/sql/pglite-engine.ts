/**
 * PGlite behind Kysely's PostgreSQL driver.
 * PGlite is one in-process backend with one session, so the "pool" hands out that one
 * connection to one holder at a time: a transaction owns it until commit or rollback.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import lockfile from 'proper-lockfile';
import { TenancyError } from '../../errors.js';

/** A FIFO mutex: PGlite serves one session, so every user of it waits its turn. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return ready;
  }
}

/** Open PGlite: in memory when `dataDir` is undefined, else persisted and locked against other processes. */
export async function openPglite(dataDir: string | undefined): Promise<{ pool: PostgresPool; pglite: PGlite; close: () => Promise<void> }> {
  let unlock: (() => Promise<void>) | undefined;
  if (dataDir !== undefined) {
    await mkdir(dataDir, { recursive: true });
    try {
      unlock = await lockfile.lock(dataDir, { lockfilePath: `${dataDir}.lock`, stale: 15_000, update: 5_000 });
    } catch (cause) {
      throw new TenancyError(
        'data_dir_locked',
        500,
        `the data directory ${dataDir} is in use by another tenancy process (lock ${dataDir}.lock; a crashed process's lock goes stale after 15 s); stop it or use another --data-dir`,
        { cause },
      );
    }
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
  } catch (cause) {
    await unlock?.();
    throw new TenancyError('database_unavailable', 500, `could not open the embedded database in ${dataDir ?? 'memory'}: ${(cause as Error).message}`, { cause });
  }
  const mutex = new Mutex();
  let release: (() => void) | undefined;
  const client: PostgresPoolClient = {
    query: (async (text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<unknown>> => {
      const result = await pglite.query(text, parameters as unknown[]);
      // Kysely reads affected-row counts only for these commands, as pg reports them.
      const verb = /^\s*(insert|update|delete|merge)\b/i.exec(text)?.[1]?.toUpperCase();
      return {
        command: (verb ?? 'SELECT') as 'SELECT',
        rowCount: result.affectedRows ?? result.rows.length,
        rows: result.rows,
      };
    }) as PostgresPoolClient['query'],
    release() {
      const r = release;
      release = undefined;
      r?.();
    },
  };
  let closed = false;
  const pool: PostgresPool = {
    async connect() {
      const r = await mutex.acquire();
      release = r;
      return client;
    },
    async end() {
      /* closed through close() below */
    },
  };
  return {
    pool,
    pglite,
    async close() {
      if (closed) return;
      closed = true;
      const r = await mutex.acquire();
      try {
        if (dataDir !== undefined) await pglite.query('checkpoint');
        await pglite.close();
      } finally {
        r();
        await unlock?.();
      }
    },
  };
}
