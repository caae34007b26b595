/**
 * Tenant secrets: versioned values encrypted with the tenant's key ring. Values are
 * accepted and returned only here; they never reach logs, audit details, errors or events.
 * Every write and every read is audited with the actor, in the same transaction.
 */
import { sql, type Kysely } from 'kysely';
import { addEvent, type Actor, type AuditLog } from '../ledger/index.js';
import { TenancyError, notFound, validationError } from '../errors.js';
import type { Schema } from '../schema.js';
import type { Executor, KeyRing } from './key-ring.js';

export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Largest secret value, in bytes (UTF-8). */
export const MAX_SECRET_BYTES = 64 * 1024;

/** What listing shows of a secret: never its value. */
export interface SecretInfo {
  name: string;
  latestVersion: number;
  versions: number[];
  keyVersion: number;
  rotationPeriodDays: number | null;
  rotationDueAt: string | null;
  updatedAt: string;
}

/** A secret value read back. */
export interface SecretValue {
  name: string;
  version: number;
  value: string;
  keyVersion: number;
  createdAt: string;
  createdBy: string;
}

/** Validate a secret name from a URL. */
export function secretName(raw: string): string {
  if (!SECRET_NAME_PATTERN.test(raw)) {
    throw validationError(
      'not a valid secret name',
      [{ path: '/path/name', message: 'must match [a-z0-9][a-z0-9._-]{0,127}' }],
      'invalid_secret_name',
    );
  }
  return raw;
}

/** Secrets of all tenants, each sealed with its own tenant's key. */
export class SecretStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly audit: AuditLog,
  ) {}

  /** Store a new version of `name`. */
  async put(
    actor: Actor,
    tenantId: string,
    name: string,
    value: string,
    rotationPeriodDays: number | null,
  ): Promise<Omit<SecretValue, 'value'> & { rotationPeriodDays: number | null }> {
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES) {
      throw new TenancyError('secret_too_large', `a secret value may hold at most ${MAX_SECRET_BYTES} bytes`, {
        errors: [{ path: '/value', message: `larger than ${MAX_SECRET_BYTES} bytes` }],
      });
    }
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(7480003, hashtext(${`${tenantId}/${name}`}))`.execute(trx);
      const last = await trx
        .selectFrom('tenant_secrets')
        .select('version')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', name)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const version = (last?.version ?? 0) + 1;
      const ciphertext = await this.keyRing.encrypt(tenantId, 'secret', Buffer.from(value, 'utf8'), trx);
      const keyVersion = Number(/^tnc:v(\d+):/.exec(ciphertext)![1]);
      const createdAt = new Date().toISOString();
      await trx
        .insertInto('tenant_secrets')
        .values({
          tenant_id: tenantId,
          name,
          version,
          ciphertext,
          key_version: keyVersion,
          rotation_period_days: rotationPeriodDays,
          rotation_notified_at: null,
          created_at: createdAt,
          created_by: actor.id,
        })
        .execute();
      await this.audit.recordChange(trx, {
        actor,
        action: 'secret.write',
        target: `tenant/${tenantId}/secret/${name}`,
        tenantId,
        outcome: 'success',
        details: { name, version, keyVersion },
        event: { type: 'secret.written', tenantId, payload: { name, version } },
      });
      return { name, version, keyVersion, createdAt, createdBy: actor.id, rotationPeriodDays };
    });
  }

  /** Read a version (default: the latest); the read is audited with the reader. */
  async read(actor: Actor, tenantId: string, name: string, version?: number): Promise<SecretValue> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('tenant_secrets').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name);
      q = version === undefined ? q.orderBy('version', 'desc').limit(1) : q.where('version', '=', version);
      const row = await q.executeTakeFirst();
      if (!row)
        throw notFound(
          'secret_not_found',
          version === undefined ? `secret ${name} not found` : `secret ${name} has no version ${version}`,
        );
      const value = (await this.#open(tenantId, name, row.version, row.ciphertext, trx)).toString('utf8');
      await this.audit.append(trx, actor, {
        action: 'secret.read',
        target: `tenant/${tenantId}/secret/${name}`,
        tenantId,
        outcome: 'success',
        details: { name, version: row.version },
      });
      return {
        name,
        version: row.version,
        value,
        keyVersion: row.key_version,
        createdAt: new Date(row.created_at).toISOString(),
        createdBy: row.created_by,
      };
    });
  }

  /** Names and versions (no values). */
  async list(tenantId: string): Promise<SecretInfo[]> {
    const rows = await this.db
      .selectFrom('tenant_secrets')
      .select(['name', 'version', 'key_version', 'rotation_period_days', 'created_at'])
      .where('tenant_id', '=', tenantId)
      .orderBy('name')
      .orderBy('version')
      .execute();
    const byName = new Map<string, SecretInfo>();
    for (const r of rows) {
      const due =
        r.rotation_period_days === null
          ? null
          : new Date(new Date(r.created_at).getTime() + r.rotation_period_days * 86_400_000).toISOString();
      const info = byName.get(r.name);
      const latest = {
        latestVersion: r.version,
        keyVersion: r.key_version,
        rotationPeriodDays: r.rotation_period_days,
        rotationDueAt: due,
        updatedAt: new Date(r.created_at).toISOString(),
      };
      if (info) Object.assign(info, latest, { versions: [...info.versions, r.version] });
      else byName.set(r.name, { name: r.name, versions: [r.version], ...latest });
    }
    return [...byName.values()];
  }

  /** Delete every version of `name`. */
  async remove(actor: Actor, tenantId: string, name: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const deleted = await trx
        .deleteFrom('tenant_secrets')
        .where('tenant_id', '=', tenantId)
        .where('name', '=', name)
        .executeTakeFirst();
      const n = Number(deleted.numDeletedRows);
      if (n === 0) throw notFound('secret_not_found', `secret ${name} not found`);
      await this.audit.recordChange(trx, {
        actor,
        action: 'secret.delete',
        target: `tenant/${tenantId}/secret/${name}`,
        tenantId,
        outcome: 'success',
        details: { name, versions: n },
        event: { type: 'secret.deleted', tenantId, payload: { name } },
      });
      return n;
    });
  }

  /** Re-encrypt every secret of a tenant under its active key version; plaintext never leaves this call. */
  async rewrap(actor: Actor, tenantId: string): Promise<{ rewrapped: number; keyVersion: number }> {
    return this.db.transaction().execute(async (trx) => {
      const active = await this.keyRing.ensureTenantKey(tenantId, trx);
      const rows = await trx
        .selectFrom('tenant_secrets')
        .select(['name', 'version', 'ciphertext'])
        .where('tenant_id', '=', tenantId)
        .where('key_version', '<', active)
        .forUpdate()
        .execute();
      for (const r of rows) {
        const plain = await this.#open(tenantId, r.name, r.version, r.ciphertext, trx);
        const ciphertext = await this.keyRing.encrypt(tenantId, 'secret', plain, trx);
        plain.fill(0);
        await trx
          .updateTable('tenant_secrets')
          .set({ ciphertext, key_version: active })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', r.name)
          .where('version', '=', r.version)
          .execute();
      }
      await this.audit.append(trx, actor, {
        action: 'tenant.keys.rewrap',
        target: `tenant/${tenantId}/keys`,
        tenantId,
        outcome: 'success',
        details: { rewrapped: rows.length, keyVersion: active },
      });
      return { rewrapped: rows.length, keyVersion: active };
    });
  }

  async #open(tenantId: string, name: string, version: number, ciphertext: string, exec: Executor): Promise<Buffer> {
    try {
      return await this.keyRing.decrypt(tenantId, 'secret', ciphertext, exec);
    } catch (error) {
      if (
        error instanceof TenancyError &&
        (error.code === 'decryption_failed' || error.code === 'invalid_ciphertext')
      ) {
        throw new TenancyError(
          'secret_undecryptable',
          `secret ${name} version ${version} does not decrypt with tenant ${tenantId}'s keys (the stored value was altered or moved); nothing was changed`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /** Emit `secret.rotation_due` once for each latest version past its rotation period. */
  async notifyRotationDue(actor: Actor): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const due = await trx
        .selectFrom('tenant_secrets as s')
        .select(['s.tenant_id', 's.name', 's.version'])
        .where('s.rotation_period_days', 'is not', null)
        .where('s.rotation_notified_at', 'is', null)
        .where(sql<boolean>`s.created_at + make_interval(days => s.rotation_period_days) <= now()`)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('tenant_secrets as n')
                .select('n.version')
                .whereRef('n.tenant_id', '=', 's.tenant_id')
                .whereRef('n.name', '=', 's.name')
                .whereRef('n.version', '>', 's.version'),
            ),
          ),
        )
        .execute();
      for (const d of due) {
        await trx
          .updateTable('tenant_secrets')
          .set({ rotation_notified_at: new Date().toISOString() })
          .where('tenant_id', '=', d.tenant_id)
          .where('name', '=', d.name)
          .where('version', '=', d.version)
          .execute();
        await addEvent(trx, actor, {
          type: 'secret.rotation_due',
          tenantId: d.tenant_id,
          payload: { name: d.name, version: d.version },
        });
      }
      return due.length;
    });
  }
}
