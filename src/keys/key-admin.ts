/**
 * Audited key operations an operator runs: rotate a tenant's key now, retire old
 * versions, rotate the root key. Each runs in one transaction with its audit record.
 */
import { randomBytes } from 'node:crypto';
import { chmod, rename, writeFile } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { TenancyError } from '../errors.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { KeyRing } from './key-ring.js';
import { rootKeyFrom } from './root-key.js';

/** Operator actions on key rings. */
export class KeyAdmin {
  constructor(
    private readonly db: Kysely<Schema>,
    private readonly keyRing: KeyRing,
    private readonly audit: AuditLog,
  ) {}

  /** Rotate a tenant's key now; older versions still decrypt. */
  async rotate(actor: Actor, tenantId: string): Promise<{ version: number }> {
    return this.db.transaction().execute(async (trx) => {
      const version = await this.keyRing.rotate(tenantId, trx);
      await this.audit.recordChange(trx, {
        actor,
        action: 'tenant.keys.rotate',
        target: `tenant/${tenantId}/keys`,
        tenantId,
        outcome: 'success',
        details: { version },
        event: { type: 'tenant.key_rotated', tenantId, payload: { id: tenantId, version } },
      });
      return { version };
    });
  }

  /** Stop versions below `minVersion` from decrypting. */
  async retire(actor: Actor, tenantId: string, minVersion: number): Promise<{ retired: number }> {
    return this.db.transaction().execute(async (trx) => {
      const retired = await this.keyRing.retireBelow(tenantId, minVersion, trx);
      await this.audit.append(trx, actor, {
        action: 'tenant.keys.retire',
        target: `tenant/${tenantId}/keys`,
        tenantId,
        outcome: 'success',
        details: { minVersion, retired },
      });
      return { retired };
    });
  }

  /**
   * Generate a new root key, rewrap every tenant key with it, and replace the root key
   * file (the old key is kept beside it as `<file>.<old id>.retired`, mode 0600).
   */
  async rotateRoot(actor: Actor, file: string | undefined): Promise<{ rootKeyId: string; rewrapped: number }> {
    const oldRootKeyId = this.keyRing.rootKeyId;
    if (!file)
      throw new TenancyError(
        'root_key_not_file',
        'the root key comes from TENANCY_ROOT_KEY; rotate it where it is kept, then restart with the new value',
      );
    const next = randomBytes(32);
    const staged = `${file}.next`;
    await writeFile(staged, `${next.toString('base64')}\n`, { mode: 0o600 });
    const result = await this.keyRing.rotateRoot(next);
    await rename(file, `${file}.${oldRootKeyId}.retired`);
    await rename(staged, file);
    await chmod(file, 0o600);
    await this.audit.record(actor, {
      action: 'root_key.rotate',
      target: 'root-key',
      tenantId: null,
      outcome: 'success',
      details: { from: oldRootKeyId, to: rootKeyFrom(next).id, rewrapped: result.rewrapped },
    });
    return result;
  }
}
