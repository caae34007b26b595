/**
 * The storage quota (`storageLimitBytes`) for objects written through Tenancy's object
 * handles: a write reserves its growth before it starts (objects plus the last database
 * sample against the limit), then records the object's exact size or gives the reservation
 * back; a delete forgets the size. Sizes live in `tenant_objects`, their sum in the
 * `objectBytes` counter row.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../schema.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import {
  OBJECT_BYTES_COUNTER,
  assertWritable,
  databaseBytes,
  lockCounter,
  quotaExceeded,
  quotaTenant,
  setCounter,
} from './quota-counters.js';

/** An object as written: what {@link commitObject} records. */
export interface WrittenObject {
  key: string;
  bytes: number;
  contentType: string;
  etag: string;
}

/**
 * Before an object write of `bytes` to `key`: reserve the growth over the object it
 * replaces, or refuse with 409 `quota_exceeded` (storageLimitBytes) when objects plus the
 * database would go over. Returns the bytes reserved.
 */
export async function reserveObject(db: Kysely<Schema>, tenantId: string, key: string, bytes: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { quotas, phase } = await quotaTenant(trx, tenantId);
    assertWritable(tenantId, phase);
    const used = await lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
    const grow = Math.max(0, bytes - Number((await storedSize(trx, tenantId, key)) ?? 0));
    if (grow > 0) {
      const database = await databaseBytes(trx, tenantId);
      const limit = quotas.storageLimitBytes;
      if (used + database + grow > limit) {
        throw quotaExceeded(
          tenantId,
          'storageLimitBytes',
          limit,
          used + database,
          `storage limit is ${limit} bytes, ${used + database} in use (objects ${used}, database ${database}); writing ${bytes} bytes would exceed it`,
          { extra: { requested: bytes } },
        );
      }
      await setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used + grow);
    }
    return grow;
  });
}

/** After the write: record the object's size (replacing the reservation by the true change), audited with its event. */
export async function commitObject(
  db: Kysely<Schema>,
  audit: AuditLog,
  actor: Actor,
  tenantId: string,
  object: WrittenObject,
  reserved: number,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const used = await lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
    const previous = await storedSize(trx, tenantId, object.key);
    const now = new Date().toISOString();
    await setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used - reserved + object.bytes - Number(previous ?? 0));
    await trx
      .insertInto('tenant_objects')
      .values({
        tenant_id: tenantId,
        key: object.key,
        bytes: object.bytes,
        content_type: object.contentType,
        etag: object.etag,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['tenant_id', 'key'])
          .doUpdateSet({ bytes: object.bytes, content_type: object.contentType, etag: object.etag, updated_at: now }),
      )
      .execute();
    await recordObjectChange(audit, trx, actor, tenantId, object.key, 'object.put', 'object.written', {
      key: object.key,
      bytes: object.bytes,
      previousBytes: previous !== undefined ? Number(previous) : null,
    });
  });
}

/** The write failed: give the reservation back. */
export async function abortObject(db: Kysely<Schema>, tenantId: string, reserved: number): Promise<void> {
  if (reserved === 0) return;
  await db.transaction().execute(async (trx) => {
    const used = await lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
    await setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used - reserved);
  });
}

/** After a delete: forget the object's size, audited with its event; whether it was known. */
export async function forgetObject(
  db: Kysely<Schema>,
  audit: AuditLog,
  actor: Actor,
  tenantId: string,
  key: string,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const used = await lockCounter(trx, tenantId, OBJECT_BYTES_COUNTER);
    const previous = await trx
      .deleteFrom('tenant_objects')
      .where('tenant_id', '=', tenantId)
      .where('key', '=', key)
      .returning('bytes')
      .executeTakeFirst();
    if (previous) await setCounter(trx, tenantId, OBJECT_BYTES_COUNTER, used - Number(previous.bytes));
    await recordObjectChange(audit, trx, actor, tenantId, key, 'object.delete', 'object.deleted', {
      key,
      bytes: previous ? Number(previous.bytes) : 0,
      existed: previous !== undefined,
    });
    return previous !== undefined;
  });
}

/** Bytes of objects a tenant holds through the handles. */
export async function objectBytes(db: Kysely<Schema>, tenantId: string): Promise<number> {
  const row = await db
    .selectFrom('quota_counters')
    .select('used')
    .where('tenant_id', '=', tenantId)
    .where('quota', '=', OBJECT_BYTES_COUNTER)
    .executeTakeFirst();
  return Number(row?.used ?? 0);
}

/** The recorded size of an object, undefined when none is recorded. */
async function storedSize(trx: Transaction<Schema>, tenantId: string, key: string) {
  const row = await trx
    .selectFrom('tenant_objects')
    .select('bytes')
    .where('tenant_id', '=', tenantId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row?.bytes;
}

async function recordObjectChange(
  audit: AuditLog,
  trx: Transaction<Schema>,
  actor: Actor,
  tenantId: string,
  key: string,
  action: string,
  eventType: string,
  details: Record<string, unknown>,
): Promise<void> {
  await audit.recordChange(trx, {
    actor,
    action,
    target: `tenant/${tenantId}/objects/${key}`,
    tenantId,
    outcome: 'success',
    details,
    event: { type: eventType, tenantId, payload: { tenantId, ...details } },
  });
}
