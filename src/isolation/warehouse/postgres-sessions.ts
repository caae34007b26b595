/**
 * Sessions as a tenant on PostgreSQL: each logs in as the tenant's maintenance role (never
 * the admin pool), which can log in only for the instant such a session opens, with a
 * one-time password. Sessions are kept for a moment and reused by the next transaction on
 * the same place (an operation runs several), reset in between, a handful at most.
 */
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { setRolePassword } from '../tenant-role.js';

/** What a tenant-session login may retry: another process switched the maintenance role's login meanwhile. */
const LOGIN_RETRY_CODES = new Set(['28P01', '28000']);

/** How long a tenant session waits, idle, for the next transaction on its place. */
const SESSION_IDLE_MS = 2_000;
/** How many tenant sessions may wait, idle, in all. */
const MAX_IDLE_SESSIONS = 4;

/** A tenant's place on the cluster: its role, its maintenance role, and where its data is. */
export interface TenantPlace {
  role: string;
  maintenance: string;
  database: string;
  schema: string;
}

/** A maintenance session on one tenant place. */
export interface TenantConnection {
  key: string;
  client: pg.Client;
  pid: number;
  dead: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Maintenance sessions of the tenants on one PostgreSQL cluster. */
export class TenantSessions {
  /** Maintenance logins in flight per role: one at a time, so two never switch one role's login under each other. */
  readonly #logins = new Map<string, Promise<unknown>>();
  /** Idle maintenance sessions by place (`<maintenance role>@<database>`). */
  readonly #idle = new Map<string, TenantConnection[]>();
  #idleCount = 0;
  #closed = false;

  /**
   * @param admin the control plane's own pool (role DDL only)
   * @param warehouseUrl the cluster's address; sessions log in there with the tenant's roles
   */
  constructor(
    private readonly admin: Kysely<unknown>,
    private readonly warehouseUrl: string,
  ) {}

  /**
   * An idle session on the place, or a new maintenance login; `beforeLogin` runs first when
   * there is none to reuse (it makes sure the maintenance role exists).
   */
  async acquire(place: TenantPlace, beforeLogin: () => Promise<void>): Promise<TenantConnection> {
    const { role, maintenance, database } = place;
    const key = `${maintenance}@${database}`;
    const idle = this.#idle.get(key);
    while (idle && idle.length > 0) {
      const session = idle.pop()!;
      this.#idleCount--;
      if (idle.length === 0) this.#idle.delete(key);
      clearTimeout(session.timer);
      if (!session.dead) return session;
      void session.client.end().catch(() => undefined);
    }
    await beforeLogin();
    const client = await this.#maintenanceLogin(role, maintenance, database);
    const session: TenantConnection = {
      key,
      client,
      pid: (client as unknown as { processID: number }).processID,
      dead: false,
      timer: undefined,
    };
    const die = () => {
      session.dead = true;
    };
    client.on('error', die);
    client.on('end', die);
    return session;
  }

  /**
   * Reset a session and keep it a moment for the next transaction on its place; a failed one
   * is closed. At most {@link MAX_IDLE_SESSIONS} wait in all (the least recently kept is
   * closed first), so a migration across thousands of tenants holds no more server
   * connections than it runs at once plus that handful.
   */
  async release(session: TenantConnection, ok: boolean): Promise<void> {
    if (ok && !session.dead && !this.#closed) {
      try {
        await session.client.query('discard all');
        const idle = this.#idle.get(session.key) ?? [];
        if (idle.length < 2 && !session.dead && !this.#closed) {
          idle.push(session);
          // Most recently kept places last: eviction takes from the front.
          this.#idle.delete(session.key);
          this.#idle.set(session.key, idle);
          this.#idleCount++;
          session.timer = setTimeout(() => this.#closeIdle(session), SESSION_IDLE_MS);
          session.timer.unref();
          while (this.#idleCount > MAX_IDLE_SESSIONS) {
            const oldest = this.#idle.values().next().value?.[0];
            if (!oldest) break;
            this.#closeIdle(oldest);
          }
          return;
        }
      } catch {
        /* not reusable: closed below */
      }
    }
    session.dead = true;
    await session.client.end().catch(() => undefined);
  }

  /** Take an idle session out of the cache and close it. */
  #closeIdle(session: TenantConnection): void {
    clearTimeout(session.timer);
    const list = this.#idle.get(session.key);
    const at = list?.indexOf(session) ?? -1;
    if (list && at >= 0) {
      list.splice(at, 1);
      this.#idleCount--;
      if (list.length === 0) this.#idle.delete(session.key);
    }
    session.dead = true;
    void session.client.end().catch(() => undefined);
  }

  /** Close the idle sessions of a tenant's maintenance role (its place or role is going away). */
  async forget(maintenance: string): Promise<void> {
    for (const [key, list] of [...this.#idle]) {
      if (!key.startsWith(`${maintenance}@`)) continue;
      this.#idle.delete(key);
      this.#idleCount -= list.length;
      for (const session of list) {
        clearTimeout(session.timer);
        session.dead = true;
        await session.client.end().catch(() => undefined);
      }
    }
  }

  /**
   * Open a session as the tenant's maintenance role: in one transaction reset its settings
   * (nothing an earlier session left on the role carries over), renew its membership in the
   * tenant's role and give it LOGIN with a one-time password; connect; and take LOGIN away
   * again at once (an open session outlives it).
   */
  async #maintenanceLogin(role: string, maintenance: string, database: string): Promise<pg.Client> {
    const previous = this.#logins.get(maintenance) ?? Promise.resolve();
    const attempt = previous
      .catch(() => undefined)
      .then(async () => {
        for (let tries = 1; ; tries++) {
          const password = randomBytes(24).toString('base64url');
          await this.admin.transaction().execute(async (trx) => {
            // Not worth a disk flush: lost in a server crash, the login just fails and is tried again.
            await sql`set local synchronous_commit = off`.execute(trx);
            await sql`alter role ${sql.id(maintenance)} reset all`.execute(trx);
            await sql`grant ${sql.id(role)} to ${sql.id(maintenance)}`.execute(trx);
            await setRolePassword(trx, maintenance, password, { login: true });
          });
          const u = new URL(this.warehouseUrl);
          u.username = maintenance;
          u.password = password;
          u.pathname = `/${database}`;
          const client = new pg.Client({
            connectionString: u.toString(),
            options: '-c search_path=pg_catalog,pg_temp',
            connectionTimeoutMillis: 10_000,
          });
          client.on('error', () => undefined);
          try {
            await client.connect();
            return client;
          } catch (error) {
            await client.end().catch(() => undefined);
            if (!LOGIN_RETRY_CODES.has((error as { code?: string }).code ?? '') || tries >= 5) throw error;
            await new Promise((resolve) => setTimeout(resolve, 20 * tries + Math.random() * 50));
          } finally {
            // Not flushed either: the password is a one-time secret nobody else holds, and a
            // login a server crash left on is taken away at the next start (prepare).
            await this.admin
              .transaction()
              .execute(async (trx) => {
                await sql`set local synchronous_commit = off`.execute(trx);
                await sql`alter role ${sql.id(maintenance)} nologin`.execute(trx);
              })
              .catch(() => undefined);
          }
        }
      });
    this.#logins.set(maintenance, attempt);
    try {
      return await attempt;
    } finally {
      if (this.#logins.get(maintenance) === attempt) this.#logins.delete(maintenance);
    }
  }

  /** Close every session, idle ones at once; none is kept from now on. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const key of [...this.#idle.keys()]) await this.forget(key.slice(0, key.indexOf('@')));
  }
}
