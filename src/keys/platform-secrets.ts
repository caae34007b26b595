/**
 * Platform secrets: versioned values no tenant owns (a model provider's API key), sealed with
 * the platform key, written by a platform admin and opened only by the control plane itself
 * (the model router, to call a provider). Values never reach logs, audit details, errors,
 * events or any API answer; writes are audited with the actor.
 */
import { sql, type Kysely } from 'kysely';
import { TenancyError, notFound } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { KeyRing } from './key-ring.js';
import { MAX_SECRET_BYTES } from './secret-store.js';

/** What listing shows of a platform secret: never its value. */
export interface PlatformSecretInfo {
  name: string;
  latestVersion: number;
  updatedAt: string;
}

/** The platform's own secrets. */
export class PlatformSecretStore {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly audit: AuditLog,
  ) {}

  /** Store a new version of `name`. */
  async put(actor: Actor, name: string, value: string): Promise<{ name: string; version: number; createdAt: string }> {
    if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_BYTES)
      throw new TenancyError('secret_too_large', `a secret value may hold at most ${MAX_SECRET_BYTES} bytes`, {
        errors: [{ path: '/value', message: `larger than ${MAX_SECRET_BYTES} bytes` }],
      });
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(7480003, hashtext(${`platform/${name}`}))`.execute(trx);
      const last = await trx
        .selectFrom('platform_secrets')
        .select('version')
        .where('name', '=', name)
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const version = (last?.version ?? 0) + 1;
      const ciphertext = await this.keyRing.encryptPlatform('secret', Buffer.from(value, 'utf8'), trx);
      const createdAt = new Date().toISOString();
      await trx
        .insertInto('platform_secrets')
        .values({ name, version, ciphertext, created_at: createdAt, created_by: actor.id })
        .execute();
      await this.audit.recordChange(trx, {
        actor,
        action: 'platform_secret.write',
        target: `platform/secret/${name}`,
        tenantId: null,
        outcome: 'success',
        details: { name, version },
        event: { type: 'platform_secret.written', tenantId: null, payload: { name, version } },
      });
      return { name, version, createdAt };
    });
  }

  /** Names and latest versions. */
  async list(): Promise<PlatformSecretInfo[]> {
    const rows = await this.db
      .selectFrom('platform_secrets')
      .select(['name', (eb) => eb.fn.max('version').as('latest'), (eb) => eb.fn.max('created_at').as('updated')])
      .groupBy('name')
      .orderBy('name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      latestVersion: Number(r.latest),
      updatedAt: new Date(r.updated as unknown as string).toISOString(),
    }));
  }

  /** Whether `name` exists. */
  async has(name: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('platform_secrets')
      .select('name')
      .where('name', '=', name)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The latest value, for the control plane's own use (never an API answer). */
  async open(name: string): Promise<{ value: string; version: number }> {
    const row = await this.db
      .selectFrom('platform_secrets')
      .select(['version', 'ciphertext'])
      .where('name', '=', name)
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) throw notFound('secret_not_found', `platform secret ${name} not found`);
    const plain = await this.keyRing.decryptPlatform('secret', row.ciphertext);
    return { value: plain.toString('utf8'), version: row.version };
  }
}
