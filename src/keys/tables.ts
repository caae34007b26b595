/**
 * The keys module's tables: the key ring's root-key marker, tenant and platform key versions,
 * and tenants' secrets.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { Timestamp } from '../infra/sql/column-types.js';

/** `key_ring_meta`: which root key wraps the tenant keys, and a value that proves it. */
export interface KeyRingMetaTable {
  id: string;
  root_key_id: string;
  check_value: string;
  updated_at: Timestamp;
}

/** `tenant_keys`: a tenant's key-encryption-key versions, wrapped by the root key. */
export interface TenantKeysTable {
  tenant_id: string;
  version: number;
  root_key_id: string;
  /** Null once destroyed (crypto-shredding). */
  wrapped_key: string | null;
  state: string;
  created_at: Timestamp;
  retired_at: Timestamp | null;
  destroyed_at: Timestamp | null;
}

/** `tenant_secrets`: versioned secret values, encrypted with the tenant's key. */
export interface TenantSecretsTable {
  tenant_id: string;
  name: string;
  version: number;
  ciphertext: string;
  key_version: number;
  rotation_period_days: number | null;
  rotation_notified_at: Timestamp | null;
  created_at: Timestamp;
  created_by: string;
}

/** `platform_keys`: the platform's key-encryption-key versions (platform-wide secrets), wrapped by the root key. */
export interface PlatformKeysTable {
  version: number;
  root_key_id: string;
  wrapped_key: string;
  created_at: Timestamp;
}

/** `platform_secrets`: versioned platform-wide secret values (model provider keys), sealed with the platform key. */
export interface PlatformSecretsTable {
  name: string;
  version: number;
  ciphertext: string;
  created_at: Timestamp;
  created_by: string;
}

/** The tables keys owns. */
export interface KeysTables {
  key_ring_meta: KeyRingMetaTable;
  tenant_keys: TenantKeysTable;
  tenant_secrets: TenantSecretsTable;
  platform_keys: PlatformKeysTable;
  platform_secrets: PlatformSecretsTable;
}
