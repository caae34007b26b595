/**
 * The default key ring: each tenant's key-encryption-key versions are random 256-bit keys,
 * sealed with the root key (associated data: tenant and version) and stored in
 * `tenant_keys`. Unwrapped versions are cached in memory; destroying a tenant's keys
 * clears the cache and the stored material, after which nothing of it decrypts.
 */
import { sql, type Kysely } from 'kysely';
import { TenancyError, conflict } from '../errors.js';
import type { Schema } from '../schema.js';
import { ciphertextVersion, envelopeDecrypt, envelopeEncrypt, newKey, open, seal } from './envelope.js';
import type { Executor, KeyRing, KeyVersionInfo, Purpose } from './key-ring.js';
import { rootKeyFrom, type RootKey } from './root-key.js';

const CHECK_PLAINTEXT = Buffer.from('tenancy-root-key-check');
const ACTIVE_VERSION_TTL_MS = 5_000;

function kekAad(tenantId: string, version: number): string {
  return `tenancy:kek:${tenantId}:v${version}`;
}

/** The platform key's associated data; `:platform` cannot collide with a tenant id (DNS labels have no colon). */
function platformAad(version: number): string {
  return `tenancy:kek::platform:v${version}`;
}

const PLATFORM_VERSION = 1;

/** Key ring over the control-plane store. */
export class LocalKeyRing implements KeyRing {
  readonly #keks = new Map<string, Buffer>();
  /**
   * Active version per tenant, so encrypting skips a lookup. Cleared by rotate and destroy
   * in this process; other replicas pick a rotation up within the TTL (their older version
   * still decrypts).
   */
  readonly #active = new Map<string, { version: number; until: number }>();
  #root: RootKey;

  private constructor(
    private readonly db: Kysely<Schema>,
    root: RootKey,
  ) {
    this.#root = root;
  }

  /**
   * Open the key ring; the first start records a check value for the root key, and every
   * later start refuses a different root key instead of failing on first decrypt.
   */
  static async open(db: Kysely<Schema>, root: RootKey): Promise<LocalKeyRing> {
    const meta = await db.selectFrom('key_ring_meta').selectAll().where('id', '=', 'root').executeTakeFirst();
    if (!meta) {
      await db
        .insertInto('key_ring_meta')
        .values({
          id: 'root',
          root_key_id: root.id,
          check_value: seal(root.key, CHECK_PLAINTEXT, 'tenancy:root-check').toString('base64'),
          updated_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    } else {
      let ok = meta.root_key_id === root.id;
      if (ok) {
        try {
          ok = open(root.key, Buffer.from(meta.check_value, 'base64'), 'tenancy:root-check').equals(CHECK_PLAINTEXT);
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        throw new TenancyError(
          'root_key_mismatch',
          `the root key in use (id ${root.id}) is not the one this store's tenant keys are wrapped with (id ${meta.root_key_id}); set TENANCY_ROOT_KEY_FILE or TENANCY_ROOT_KEY to the right key`,
        );
      }
    }
    return new LocalKeyRing(db, root);
  }

  /** The id of the root key in use. */
  get rootKeyId(): string {
    return this.#root.id;
  }

  async ensureTenantKey(tenantId: string, exec: Executor = this.db): Promise<number> {
    const rows = await exec
      .selectFrom('tenant_keys')
      .select(['version', 'state'])
      .where('tenant_id', '=', tenantId)
      .orderBy('version', 'desc')
      .execute();
    if (rows.some((r) => r.state === 'destroyed')) throw this.#destroyed(tenantId);
    const active = rows.find((r) => r.state === 'active');
    if (active) return active.version;
    await this.#insertVersion(exec, tenantId, 1);
    const again = await exec
      .selectFrom('tenant_keys')
      .select('version')
      .where('tenant_id', '=', tenantId)
      .where('state', '=', 'active')
      .executeTakeFirstOrThrow();
    return again.version;
  }

  async rotate(tenantId: string, exec: Executor = this.db): Promise<number> {
    const run = async (trx: Executor) => {
      await sql`select pg_advisory_xact_lock(7480002, hashtext(${tenantId}))`.execute(trx);
      const current = await this.ensureTenantKey(tenantId, trx);
      const max = await trx
        .selectFrom('tenant_keys')
        .select((eb) => eb.fn.max('version').as('v'))
        .where('tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
      const next = Number(max.v) + 1;
      await trx
        .updateTable('tenant_keys')
        .set({ state: 'decrypt-only' })
        .where('tenant_id', '=', tenantId)
        .where('version', '=', current)
        .execute();
      await this.#insertVersion(trx, tenantId, next);
      this.#active.delete(tenantId);
      return next;
    };
    return exec === this.db ? this.db.transaction().execute(run) : run(exec);
  }

  async retireBelow(tenantId: string, minVersion: number, exec: Executor = this.db): Promise<number> {
    const active = await this.ensureTenantKey(tenantId, exec);
    if (minVersion > active)
      throw conflict(
        'key_version_not_found',
        `tenant ${tenantId} has no key version ${minVersion}; the active version is ${active}`,
      );
    const rows = await exec
      .updateTable('tenant_keys')
      .set({ state: 'retired', retired_at: new Date().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('version', '<', minVersion)
      .where('state', '=', 'decrypt-only')
      .returning('version')
      .execute();
    for (const r of rows) this.#keks.delete(`${tenantId}:${r.version}`);
    return rows.length;
  }

  async versions(tenantId: string, exec: Executor = this.db): Promise<KeyVersionInfo[]> {
    const rows = await exec
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('version')
      .execute();
    const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
    return rows.map((r) => ({
      keyId: `tenant/${tenantId}/v${r.version}`,
      version: r.version,
      state: r.state as KeyVersionInfo['state'],
      createdAt: iso(r.created_at)!,
      retiredAt: iso(r.retired_at),
      destroyedAt: iso(r.destroyed_at),
    }));
  }

  async encrypt(tenantId: string, purpose: Purpose, plaintext: Buffer, exec: Executor = this.db): Promise<string> {
    const now = Date.now();
    const hit = this.#active.get(tenantId);
    let version: number;
    if (hit && hit.until > now) version = hit.version;
    else {
      version = await this.ensureTenantKey(tenantId, exec);
      if (exec === this.db) {
        if (this.#active.size > 10_000) this.#active.clear();
        this.#active.set(tenantId, { version, until: now + ACTIVE_VERSION_TTL_MS });
      }
    }
    const kek = await this.#kek(tenantId, version, exec);
    return envelopeEncrypt(kek, version, plaintext, `${tenantId}:${purpose}`);
  }

  async decrypt(tenantId: string, purpose: Purpose, ciphertext: string, exec: Executor = this.db): Promise<Buffer> {
    const version = ciphertextVersion(ciphertext);
    const kek = await this.#kek(tenantId, version, exec);
    return envelopeDecrypt(kek, ciphertext, `${tenantId}:${purpose}`);
  }

  async encryptPlatform(purpose: Purpose, plaintext: Buffer, exec: Executor = this.db): Promise<string> {
    const kek = await this.#platformKek(exec);
    return envelopeEncrypt(kek, PLATFORM_VERSION, plaintext, `:platform:${purpose}`);
  }

  async decryptPlatform(purpose: Purpose, ciphertext: string, exec: Executor = this.db): Promise<Buffer> {
    if (ciphertextVersion(ciphertext) !== PLATFORM_VERSION)
      throw new TenancyError('decryption_failed', 'the ciphertext does not decrypt with the platform key');
    const kek = await this.#platformKek(exec);
    return envelopeDecrypt(kek, ciphertext, `:platform:${purpose}`);
  }

  /** The platform key, created on first use (concurrent creators agree through the primary key). */
  async #platformKek(exec: Executor): Promise<Buffer> {
    const cached = this.#keks.get(':platform');
    if (cached) return cached;
    let row = await exec
      .selectFrom('platform_keys')
      .selectAll()
      .where('version', '=', PLATFORM_VERSION)
      .executeTakeFirst();
    if (!row) {
      const kek = newKey();
      await exec
        .insertInto('platform_keys')
        .values({
          version: PLATFORM_VERSION,
          root_key_id: this.#root.id,
          wrapped_key: seal(this.#root.key, kek, platformAad(PLATFORM_VERSION)).toString('base64'),
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.column('version').doNothing())
        .execute();
      kek.fill(0);
      row = await exec
        .selectFrom('platform_keys')
        .selectAll()
        .where('version', '=', PLATFORM_VERSION)
        .executeTakeFirstOrThrow();
    }
    const kek = open(this.#root.key, Buffer.from(row.wrapped_key, 'base64'), platformAad(row.version));
    this.#keks.set(':platform', kek);
    return kek;
  }

  async destroyTenantKeys(tenantId: string, exec: Executor): Promise<string[]> {
    const rows = await exec
      .updateTable('tenant_keys')
      .set({ state: 'destroyed', wrapped_key: null, destroyed_at: new Date().toISOString() })
      .where('tenant_id', '=', tenantId)
      .where('state', '<>', 'destroyed')
      .returning('version')
      .execute();
    for (const key of [...this.#keks.keys()]) if (key.startsWith(`${tenantId}:`)) this.#keks.delete(key);
    this.#active.delete(tenantId);
    return rows.map((r) => `tenant/${tenantId}/v${r.version}`).sort();
  }

  async rotateRoot(newRootKey: Buffer): Promise<{ rootKeyId: string; rewrapped: number }> {
    const next = rootKeyFrom(newRootKey);
    const rewrapped = await this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('tenant_keys')
        .selectAll()
        .where('wrapped_key', 'is not', null)
        .forUpdate()
        .execute();
      for (const r of rows) {
        const kek = open(this.#root.key, Buffer.from(r.wrapped_key!, 'base64'), kekAad(r.tenant_id, r.version));
        await trx
          .updateTable('tenant_keys')
          .set({
            wrapped_key: seal(next.key, kek, kekAad(r.tenant_id, r.version)).toString('base64'),
            root_key_id: next.id,
          })
          .where('tenant_id', '=', r.tenant_id)
          .where('version', '=', r.version)
          .execute();
        kek.fill(0);
      }
      const platform = await trx.selectFrom('platform_keys').selectAll().forUpdate().execute();
      for (const r of platform) {
        const kek = open(this.#root.key, Buffer.from(r.wrapped_key, 'base64'), platformAad(r.version));
        await trx
          .updateTable('platform_keys')
          .set({ wrapped_key: seal(next.key, kek, platformAad(r.version)).toString('base64'), root_key_id: next.id })
          .where('version', '=', r.version)
          .execute();
        kek.fill(0);
      }
      await trx
        .updateTable('key_ring_meta')
        .set({
          root_key_id: next.id,
          check_value: seal(next.key, CHECK_PLAINTEXT, 'tenancy:root-check').toString('base64'),
          updated_at: new Date().toISOString(),
        })
        .where('id', '=', 'root')
        .execute();
      return rows.length;
    });
    this.#root = { ...next, file: this.#root.file };
    return { rootKeyId: next.id, rewrapped };
  }

  async #insertVersion(exec: Executor, tenantId: string, version: number): Promise<void> {
    const kek = newKey();
    await exec
      .insertInto('tenant_keys')
      .values({
        tenant_id: tenantId,
        version,
        root_key_id: this.#root.id,
        wrapped_key: seal(this.#root.key, kek, kekAad(tenantId, version)).toString('base64'),
        state: 'active',
        created_at: new Date().toISOString(),
        retired_at: null,
        destroyed_at: null,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'version']).doNothing())
      .execute();
    kek.fill(0);
  }

  async #kek(tenantId: string, version: number, exec: Executor): Promise<Buffer> {
    const cacheKey = `${tenantId}:${version}`;
    const cached = this.#keks.get(cacheKey);
    if (cached) return cached;
    const row = await exec
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row)
      throw new TenancyError(
        'decryption_failed',
        'the ciphertext does not decrypt for this tenant and purpose (wrong tenant, wrong purpose, destroyed key, or altered data)',
      );
    if (row.state === 'destroyed' || row.wrapped_key === null) throw this.#destroyed(tenantId);
    if (row.state === 'retired')
      throw conflict(
        'key_version_retired',
        `key version ${version} of tenant ${tenantId} is retired; rewrap data before retiring versions`,
      );
    const kek = open(this.#root.key, Buffer.from(row.wrapped_key, 'base64'), kekAad(tenantId, version));
    if (this.#keks.size > 10_000) this.#keks.clear();
    this.#keks.set(cacheKey, kek);
    return kek;
  }

  #destroyed(tenantId: string): TenancyError {
    return new TenancyError(
      'tenant_keys_destroyed',
      `the keys of tenant ${tenantId} were destroyed; its encrypted data can no longer be read`,
    );
  }
}
