/**
 * A PGlite instance on a worker thread of its own.
 *
 * PGlite is PostgreSQL compiled to WebAssembly; its work (initdb, opening a data dir,
 * a migration, an archive's export) runs synchronously on the thread that owns it. The
 * embedded warehouse's instances therefore live on worker threads, so provisioning and
 * archiving tenants never holds up the thread that answers health checks and API calls.
 * The control plane's own store stays in process: its statements are short.
 *
 * One session per instance, as in PGlite itself: a FIFO mutex on this side hands it to one
 * caller at a time, and a transaction keeps it until commit or rollback. Each instance can
 * load pgvector (`create extension vector`, by its superuser); nothing creates it here.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TenancyError } from '../../errors.js';
import { claimDataDir, Mutex } from './pglite-engine.js';

/** Rows of one statement. */
export interface PgliteResult<R> {
  rows: R[];
}

/** What a transaction on the instance can do. */
export interface PgliteSession {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<PgliteResult<R>>;
  /** A script of one or more statements, without parameters. */
  exec(script: string): Promise<void>;
}

/** An instance on its worker thread. */
export interface PgliteThread extends PgliteSession {
  /** Run `fn` in one transaction: commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: PgliteSession) => Promise<T>): Promise<T>;
  /** False once the thread has exited (closed or died); the owner opens a new one. */
  readonly alive: boolean;
  close(): Promise<void>;
}

// The worker's code. It is evaluated (not loaded from a file) so that it runs the same
// from the TypeScript sources (tests) and from the build; it imports PGlite and the pgvector
// extension by the absolute addresses this module resolved.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const plain = (e) => {
  const out = { message: String(e && e.message || e) };
  for (const k of Object.keys(e || {})) { const v = e[k]; if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v; }
  return out;
};
(async () => {
  let db;
  try {
    const { PGlite } = await import(workerData.module);
    const { vector } = await import(workerData.vectorModule);
    const modules = {
      pgliteWasmModule: workerData.pgliteWasmModule,
      initdbWasmModule: workerData.initdbWasmModule,
      extensions: { vector },
    };
    db = await PGlite.create(workerData.dataDir === undefined ? modules : { ...modules, dataDir: workerData.dataDir });
    parentPort.postMessage({ id: 0, ok: true });
  } catch (e) {
    parentPort.postMessage({ id: 0, ok: false, error: plain(e) });
    return;
  }
  parentPort.on('message', async (m) => {
    try {
      if (m.op === 'query') {
        const r = await db.query(m.text, m.params);
        parentPort.postMessage({ id: m.id, ok: true, rows: r.rows });
      } else if (m.op === 'exec') {
        await db.exec(m.text);
        parentPort.postMessage({ id: m.id, ok: true });
      } else if (m.op === 'close') {
        if (workerData.dataDir !== undefined) await db.query('checkpoint').catch(() => undefined);
        await db.close();
        parentPort.postMessage({ id: m.id, ok: true });
      }
    } catch (e) {
      parentPort.postMessage({ id: m.id, ok: false, error: plain(e) });
    }
  });
})();
`;

const ENTRY = createRequire(import.meta.url).resolve('@electric-sql/pglite');
const MODULE = pathToFileURL(ENTRY).href.replace(/index\.cjs$/, 'index.js');
const VECTOR_MODULE = pathToFileURL(
  createRequire(import.meta.url).resolve('@electric-sql/pglite-pgvector'),
).href.replace(/index\.cjs$/, 'index.js');

/** A compiled WebAssembly module (the project's `lib` has no WebAssembly types). */
type WasmModule = object;
const wasm = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } })
  .WebAssembly;

/**
 * PGlite's two WebAssembly modules, compiled once (off the main thread, by V8) and handed
 * to every instance's thread, instead of each thread compiling its own copy.
 */
let compiled: Promise<{ pgliteWasmModule: WasmModule; initdbWasmModule: WasmModule }> | undefined;
function wasmModules(): Promise<{ pgliteWasmModule: WasmModule; initdbWasmModule: WasmModule }> {
  compiled ??= (async () => {
    const [pglite, initdb] = await Promise.all(
      ['pglite.wasm', 'initdb.wasm'].map(async (file) => wasm.compile(await readFile(join(dirname(ENTRY), file)))),
    );
    return { pgliteWasmModule: pglite!, initdbWasmModule: initdb! };
  })().catch((error) => {
    compiled = undefined;
    throw error;
  });
  return compiled;
}

interface Reply {
  id: number;
  ok: boolean;
  rows?: unknown[];
  error?: Record<string, unknown> & { message: string };
}

/** An Error carrying what PGlite's error carried (code, detail, position, ...). */
function rebuilt(error: Reply['error']): Error {
  const e = new Error(error?.message ?? 'the embedded database failed');
  Object.assign(e, error);
  return e;
}

/**
 * Open PGlite on a worker thread: in memory when `dataDir` is undefined, else persisted
 * and locked against other processes (as {@link openPglite}).
 */
export async function openPgliteThread(dataDir: string | undefined): Promise<PgliteThread> {
  let unlock = await claimDataDir(dataDir);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { module: MODULE, vectorModule: VECTOR_MODULE, dataDir, ...(await wasmModules()) },
  });
  const pending = new Map<number, { ok: (r: Reply) => void; fail: (e: Error) => void }>();
  let next = 1;
  let alive = true;
  let exited: Error | undefined;
  worker.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    pending.delete(reply.id);
    if (!p) return;
    if (reply.ok) p.ok(reply);
    else p.fail(rebuilt(reply.error));
  });
  const gone = (error: Error) => {
    alive = false;
    exited = error;
    for (const p of pending.values()) p.fail(error);
    pending.clear();
    void unlock?.().catch(() => undefined);
    unlock = undefined;
  };
  worker.on('error', (error) =>
    gone(new Error(`the embedded database thread failed: ${error.message}`, { cause: error })),
  );
  worker.on('exit', (code) => gone(new Error(`the embedded database thread exited (${code})`)));
  // Pending work keeps the process alive, an idle instance does not.
  const call = (message: { op: string; text?: string; params?: unknown[] }, id = next++): Promise<Reply> =>
    new Promise((ok, fail) => {
      if (exited) return fail(exited);
      pending.set(id, { ok, fail });
      worker.ref();
      worker.postMessage({ ...message, id });
    }).finally(() => {
      if (pending.size === 0) worker.unref();
    }) as Promise<Reply>;

  const opened = new Promise<Reply>((ok, fail) => pending.set(0, { ok, fail }));
  try {
    await opened;
  } catch (cause) {
    await worker.terminate();
    await unlock?.();
    throw new TenancyError(
      'database_unavailable',
      `could not open the embedded database in ${dataDir ?? 'memory'}: ${(cause as Error).message}`,
      { cause },
    );
  }
  worker.unref();

  const mutex = new Mutex();
  const raw: PgliteSession = {
    query: async <R>(text: string, params: unknown[] = []) => ({
      rows: (await call({ op: 'query', text, params })).rows as R[],
    }),
    exec: async (script: string) => void (await call({ op: 'exec', text: script })),
  };
  const held = async <T>(fn: () => Promise<T>): Promise<T> => {
    const release = await mutex.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  };
  let closing: Promise<void> | undefined;
  return {
    get alive() {
      return alive && closing === undefined;
    },
    query: (text, params) => held(() => raw.query(text, params)),
    exec: (script) => held(() => raw.exec(script)),
    transaction: (fn) =>
      held(async () => {
        await raw.exec('begin');
        try {
          const result = await fn(raw);
          await raw.exec('commit');
          return result;
        } catch (error) {
          await raw.exec('rollback').catch(() => undefined);
          throw error;
        }
      }),
    close() {
      closing ??= held(async () => {
        if (alive) await call({ op: 'close' }).catch(() => undefined);
        await worker.terminate();
        await unlock?.();
        unlock = undefined;
      });
      return closing;
    },
  };
}
