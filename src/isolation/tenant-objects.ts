/**
 * Tenant object handles: a tenant's objects in the place its strategy names (the shared
 * bucket under `tenants/<id>/`, or its own bucket), with the storage quota applied to every
 * write. A write first reserves its growth against `storageLimitBytes` (refused with 409
 * `quota_exceeded` when over), then writes, then records the object's true size; a failed
 * write gives the reservation back. Keys are confined to the tenant's place.
 */
import { createHash } from 'node:crypto';
import { TenancyError, validationError } from '../errors.js';
import type { Actor } from '../ledger/index.js';
import {
  ScopedObjects,
  validateObjectKey,
  type ObjectInfo,
  type ObjectPage,
  type ObjectStore,
  type StoredObject,
} from '../infra/objects/index.js';
import type { Tenant } from '../tenants/index.js';
import { isolationContext, strategyFor } from './strategy.js';
import { PREFIX_MARKER } from './tenant-resources.js';

/** The storage accounting a handle reports to (the commercial module's quota store). */
export interface ObjectQuota {
  /** Reserve the growth of writing `bytes` to `key`; throws when over the limit. Returns what was reserved. */
  reserveObject(tenantId: string, key: string, bytes: number): Promise<number>;
  commitObject(
    actor: Actor,
    tenantId: string,
    object: { key: string; bytes: number; contentType: string; etag: string },
    reserved: number,
  ): Promise<void>;
  abortObject(tenantId: string, reserved: number): Promise<void>;
  forgetObject(actor: Actor, tenantId: string, key: string): Promise<boolean>;
}

/** Keys Tenancy keeps for itself inside a tenant's place. */
const RESERVED_KEY = /^\.tenancy(-|$)/;

/** Objects of tenants, quota-checked. */
export class TenantObjects {
  constructor(
    private readonly store: ObjectStore,
    private readonly quota: ObjectQuota,
    private readonly tenantOf: (tenantId: string) => Promise<Tenant>,
  ) {}

  async #scope(tenantId: string, write: boolean): Promise<ScopedObjects> {
    const tenant = await this.tenantOf(tenantId);
    const phase = tenant.status.phase;
    if (phase !== 'active' && (write || phase !== 'suspended')) {
      throw new TenancyError(
        `tenant_${phase}`,
        `tenant ${tenantId} is ${phase}; its objects are ${write ? 'writable' : 'readable'} while it is active`,
      );
    }
    const ctx = isolationContext(tenantId, tenant.spec, tenant.status.placement?.profile);
    const { bucket, prefix } = strategyFor(ctx.profile).resources(ctx).objects;
    return new ScopedObjects(this.store, bucket, prefix);
  }

  #key(key: string): string {
    validateObjectKey(key, '/path/key');
    if (RESERVED_KEY.test(key))
      throw validationError(
        `"${key.slice(0, 80)}" is reserved`,
        [{ path: '/path/key', message: 'must not start with .tenancy' }],
        'invalid_object_key',
      );
    return key;
  }

  /** Write an object; 409 `quota_exceeded` (storageLimitBytes) when it would not fit. */
  put(
    actor: Actor,
    tenantId: string,
    key: string,
    body: Buffer,
    contentType = 'application/octet-stream',
  ): Promise<ObjectInfo> {
    this.#key(key);
    return this.#write(actor, tenantId, key, body, contentType);
  }

  /**
   * Write one of Tenancy's own objects in the tenant's place (under `.tenancy-<module>/`, a
   * prefix the API refuses), counted against the tenant's storage like any other.
   */
  putOwn(
    actor: Actor,
    tenantId: string,
    key: string,
    body: Buffer,
    contentType = 'application/octet-stream',
  ): Promise<ObjectInfo> {
    if (!RESERVED_KEY.test(key)) throw new Error(`${key} is not one of Tenancy's own keys`);
    validateObjectKey(key);
    return this.#write(actor, tenantId, key, body, contentType);
  }

  /** Reserve the growth, write, record the true size (or give the reservation back). */
  async #write(actor: Actor, tenantId: string, key: string, body: Buffer, contentType: string): Promise<ObjectInfo> {
    const scope = await this.#scope(tenantId, true);
    const reserved = await this.quota.reserveObject(tenantId, key, body.length);
    let info: ObjectInfo;
    try {
      info = await scope.put(key, body, { contentType });
    } catch (error) {
      await this.quota.abortObject(tenantId, reserved);
      throw error;
    }
    // Engines quote ETags differently (S3 keeps the quotes); the handle reports the bare value.
    const etag = info.etag.replace(/^"|"$/g, '') || createHash('md5').update(body).digest('hex');
    await this.quota.commitObject(actor, tenantId, { key, bytes: body.length, contentType, etag }, reserved);
    return { ...info, etag };
  }

  /** One of Tenancy's own objects, or undefined (also while the tenant is suspended). */
  async getOwn(tenantId: string, key: string): Promise<StoredObject | undefined> {
    if (!RESERVED_KEY.test(key)) throw new Error(`${key} is not one of Tenancy's own keys`);
    return (await this.#scope(tenantId, false)).get(key);
  }

  /** Delete one of Tenancy's own objects (a missing one is success). */
  async deleteOwn(actor: Actor, tenantId: string, key: string): Promise<void> {
    if (!RESERVED_KEY.test(key)) throw new Error(`${key} is not one of Tenancy's own keys`);
    await (await this.#scope(tenantId, true)).delete(key);
    await this.quota.forgetObject(actor, tenantId, key);
  }

  /** The object, or undefined. */
  async get(tenantId: string, key: string): Promise<StoredObject | undefined> {
    this.#key(key);
    const object = await (await this.#scope(tenantId, false)).get(key);
    return object && { ...object, etag: object.etag.replace(/^"|"$/g, '') };
  }

  /** Delete an object (a missing one is success); returns whether it was there. */
  async delete(actor: Actor, tenantId: string, key: string): Promise<boolean> {
    this.#key(key);
    await (await this.#scope(tenantId, true)).delete(key);
    return this.quota.forgetObject(actor, tenantId, key);
  }

  /** A page of the tenant's objects in key order (Tenancy's own markers left out). */
  async list(tenantId: string, options: { prefix?: string; after?: string; limit?: number } = {}): Promise<ObjectPage> {
    const page = await (await this.#scope(tenantId, false)).list(options);
    return {
      items: page.items
        .filter((o) => o.key !== PREFIX_MARKER && !RESERVED_KEY.test(o.key))
        .map((o) => ({ ...o, etag: o.etag.replace(/^"|"$/g, '') })),
      next: page.next,
    };
  }
}
