/**
 * PGlite behind Kysely's PostgreSQL driver.
 * PGlite is one in-process backend with one session, so the "pool" hands out that one
 * connection to one holder at a time: a transaction owns it until commit or rollback.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import lockfile from 'proper-lockfile';
import { TenancyError } from '../../errors.js';

/** A FIFO mutex: PGlite serves one session, so every user of it waits its turn. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return ready;
  }
}

const LOCK = { stale: 15_000, update: 5_000 };

/**
 * Lock the data dir against other processes. The lock records its owner; a lock left by a
 * process on this host that no longer exists (killed, crashed) is taken over at once
 * instead of waiting for it to go stale.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = `${dataDir}.lock`;
  const take = async () => {
    const release = await lockfile.lock(dataDir, { lockfilePath: lockPath, ...LOCK });
    await writeFile(`${lockPath}.owner`, JSON.stringify({ pid: process.pid, host: hostname() })).catch(() => undefined);
    return release;
  };
  try {
    return await take();
  } catch (error) {
    if ((error as { code?: string }).code !== 'ELOCKED') throw error;
    const owner = await readFile(`${lockPath}.owner`, 'utf8').then(
      (t) => JSON.parse(t) as { pid: number; host: string },
      () => undefined,
    );
    if (!owner || owner.host !== hostname() || owner.pid === process.pid || alive(owner.pid)) throw error;
    await rm(lockPath, { recursive: true, force: true });
    return take();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Make and lock a data dir for an embedded instance (nothing for one in memory); the
 * returned function unlocks it.
 */
export async function claimDataDir(dataDir: string | undefined): Promise<(() => Promise<void>) | undefined> {
  if (dataDir === undefined) return undefined;
  await mkdir(dataDir, { recursive: true });
  try {
    return await lockDataDir(dataDir);
  } catch (cause) {
    throw new TenancyError(
      'data_dir_locked',
      `the data directory ${dataDir} is in use by another tenancy process (lock ${dataDir}.lock; a crashed process's lock goes stale after 15 s); stop it or use another --data-dir`,
      { cause },
    );
  }
}

/** Open PGlite: in memory when `dataDir` is undefined, else persisted and locked against other processes. */
export async function openPglite(
  dataDir: string | undefined,
): Promise<{ pool: PostgresPool; pglite: PGlite; close: () => Promise<void> }> {
  const unlock = await claimDataDir(dataDir);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(dataDir === undefined ? {} : { dataDir });
  } catch (cause) {
    await unlock?.();
    throw new TenancyError(
      'database_unavailable',
      `could not open the embedded database in ${dataDir ?? 'memory'}: ${(cause as Error).message}`,
      { cause },
    );
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
