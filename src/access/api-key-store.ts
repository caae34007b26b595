/**
 * API keys: `tnc_<id>_<secret>`, shown once, stored as a SHA-256 of the whole token (the
 * secret is 256 random bits, so a slow hash adds nothing). Lookups go by id and compare in
 * constant time; a short cache keeps authentication off the database on hot paths, and
 * revocation clears it at once in this process (other replicas within the cache TTL).
 */
import { API_KEY_PREFIX } from '../contract/index.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { TenancyError, notFound } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { Role } from './roles.js';

export { API_KEY_PREFIX };

/** What the API shows of a key (never its secret or hash). */
export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  tenantId: string | null;
  prefix: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Input for a new key. */
export interface NewApiKey {
  name: string;
  role: Role;
  tenantId: string | null;
  expiresAt?: Date | undefined;
}

type Row = Selectable<Schema['api_keys']>;

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The key id inside a token; tokens not in `tnc_<id>_<secret>` form (a preset admin token) get a derived id. */
export function keyIdOf(token: string): string {
  const m = /^tnc_([0-9a-f]{16})_[A-Za-z0-9_-]{20,}$/.exec(token);
  if (m) return m[1]!;
  return `x${hashToken(`tenancy-key-id:${token}`).slice(0, 15)}`;
}

function toInfo(row: Row): ApiKeyInfo {
  const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    tenantId: row.tenant_id,
    prefix: `${API_KEY_PREFIX}${row.id}`,
    createdAt: iso(row.created_at)!,
    createdBy: row.created_by,
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    lastUsedAt: iso(row.last_used_at),
  };
}

/** Store and check API keys. */
export class ApiKeyStore {
  readonly #cache = new Map<string, { row: Row | undefined; until: number }>();
  /** Tokens already checked against their hash, so hot paths skip the lookup and the hash. */
  readonly #verified = new Map<string, { info: ApiKeyInfo; until: number }>();
  readonly #lastUsedWritten = new Map<string, number>();

  constructor(
    private readonly db: Kysely<Schema>,
    private readonly audit: AuditLog,
    private readonly cacheTtlMs = 5_000,
  ) {}

  /** Create a key; the token is returned once and never stored. */
  async create(actor: Actor, input: NewApiKey, presetToken?: string): Promise<{ key: ApiKeyInfo; token: string }> {
    return this.db.transaction().execute((trx) => this.createIn(trx, actor, input, presetToken));
  }

  /** Create inside the caller's transaction. */
  async createIn(
    trx: Transaction<Schema>,
    actor: Actor,
    input: NewApiKey,
    presetToken?: string,
  ): Promise<{ key: ApiKeyInfo; token: string }> {
    const id = presetToken ? keyIdOf(presetToken) : randomBytes(8).toString('hex');
    const token = presetToken ?? `${API_KEY_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const row = await trx
      .insertInto('api_keys')
      .values({
        id,
        name: input.name,
        tenant_id: input.tenantId,
        role: input.role,
        secret_hash: hashToken(token),
        created_at: new Date().toISOString(),
        created_by: actor.id,
        expires_at: input.expiresAt ? input.expiresAt.toISOString() : null,
        revoked_at: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.audit.recordChange(trx, {
      actor,
      action: 'apikey.create',
      target: `apikey/${id}`,
      tenantId: input.tenantId,
      outcome: 'success',
      details: {
        name: input.name,
        role: input.role,
        ...(input.expiresAt ? { expiresAt: input.expiresAt.toISOString() } : {}),
      },
      event: { type: 'apikey.created', tenantId: input.tenantId, payload: { id, role: input.role } },
    });
    return { key: toInfo(row), token };
  }

  /** Keys of one tenant, or the platform keys when `tenantId` is null. */
  async list(tenantId: string | null): Promise<ApiKeyInfo[]> {
    let q = this.db.selectFrom('api_keys').selectAll();
    q = tenantId === null ? q.where('tenant_id', 'is', null) : q.where('tenant_id', '=', tenantId);
    const rows = await q.orderBy('created_at').orderBy('id').execute();
    return rows.map(toInfo);
  }

  /** One key, if it belongs to `tenantId` (null = platform keys). */
  async get(id: string, tenantId: string | null): Promise<ApiKeyInfo> {
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.tenant_id !== tenantId) throw notFound('api_key_not_found', `API key ${id} not found`);
    return toInfo(row);
  }

  /** Revoke a key of `tenantId` (null = platform keys); revoking twice is a no-op. */
  async revoke(actor: Actor, id: string, tenantId: string | null): Promise<ApiKeyInfo> {
    const info = await this.db.transaction().execute(async (trx) => {
      // Scoped in the query: another tenant's key is not even locked, exactly like an unknown id.
      const scoped = trx.selectFrom('api_keys').selectAll().where('id', '=', id);
      const row = await (tenantId === null
        ? scoped.where('tenant_id', 'is', null)
        : scoped.where('tenant_id', '=', tenantId)
      )
        .forUpdate()
        .executeTakeFirst();
      if (!row) throw notFound('api_key_not_found', `API key ${id} not found`);
      if (row.revoked_at !== null) return toInfo(row);
      const updated = await trx
        .updateTable('api_keys')
        .set({ revoked_at: new Date().toISOString() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await this.audit.recordChange(trx, {
        actor,
        action: 'apikey.revoke',
        target: `apikey/${id}`,
        tenantId,
        outcome: 'success',
        details: { name: row.name, role: row.role },
        event: { type: 'apikey.revoked', tenantId, payload: { id } },
      });
      return toInfo(updated);
    });
    this.#forget(id);
    return info;
  }

  /** Revoke every key of a tenant inside `trx` (purge). */
  async revokeAllIn(trx: Transaction<Schema>, tenantId: string): Promise<number> {
    const rows = await trx
      .updateTable('api_keys')
      .set({ revoked_at: new Date().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    for (const r of rows) this.#forget(r.id);
    return rows.length;
  }

  /** Drop cached entries (after changes made elsewhere). */
  invalidate(id?: string): void {
    if (id === undefined) {
      this.#cache.clear();
      this.#verified.clear();
    } else this.#forget(id);
  }

  #forget(id: string): void {
    this.#cache.delete(id);
    for (const [token, entry] of this.#verified) if (entry.info.id === id) this.#verified.delete(token);
  }

  /**
   * The key a token belongs to, when it is valid now; otherwise a 401 reason.
   * Unknown, revoked and expired keys all answer alike to the caller.
   */
  async authenticate(token: string): Promise<ApiKeyInfo> {
    const now = Date.now();
    const verified = this.#verified.get(token);
    if (
      verified &&
      verified.until > now &&
      (verified.info.expiresAt === null || Date.parse(verified.info.expiresAt) > now)
    ) {
      this.#touch(verified.info.id);
      return verified.info;
    }
    const id = keyIdOf(token);
    const row = await this.#lookup(id);
    const unauthorized = (why: string) => new TenancyError('invalid_credentials', `the API key is ${why}`);
    if (!row) throw unauthorized('not valid');
    const expected = Buffer.from(row.secret_hash, 'hex');
    const actual = Buffer.from(hashToken(token), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw unauthorized('not valid');
    if (row.revoked_at !== null) throw unauthorized('revoked');
    if (row.expires_at !== null && new Date(row.expires_at).getTime() <= Date.now()) throw unauthorized('expired');
    this.#touch(id);
    const info = toInfo(row);
    if (this.#verified.size >= 10_000) this.#verified.clear();
    this.#verified.set(token, { info, until: now + this.cacheTtlMs });
    return info;
  }

  /** A key by id for a JWT's `sub`: it must still exist and not be revoked. */
  async active(id: string): Promise<ApiKeyInfo | undefined> {
    const row = await this.#lookup(id);
    if (!row || row.revoked_at !== null) return undefined;
    if (row.expires_at !== null && new Date(row.expires_at).getTime() <= Date.now()) return undefined;
    return toInfo(row);
  }

  /** Whether a platform-admin key with this token's id exists. */
  async exists(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('api_keys').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  /** Whether any platform-admin key that still works exists. */
  async hasActivePlatformAdmin(): Promise<boolean> {
    const row = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where('role', '=', 'platform-admin')
      .where('revoked_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async #lookup(id: string): Promise<Row | undefined> {
    const now = Date.now();
    const cached = this.#cache.get(id);
    if (cached && cached.until > now) return cached.row;
    const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    if (this.#cache.size >= 10_000) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(id, { row, until: now + this.cacheTtlMs });
    return row;
  }

  /** Record last use at most once a minute per key, off the request path. */
  #touch(id: string): void {
    const now = Date.now();
    if ((this.#lastUsedWritten.get(id) ?? 0) > now - 60_000) return;
    this.#lastUsedWritten.set(id, now);
    this.db
      .updateTable('api_keys')
      .set({ last_used_at: new Date(now).toISOString() })
      .where('id', '=', id)
      .execute()
      .catch(() => this.#lastUsedWritten.delete(id));
  }
}
