/**
 * The access module's table: API keys, stored as hashes of their secret part.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { Timestamp } from '../infra/sql/column-types.js';

/** `api_keys`: credentials, stored as hashes of their secret part. */
export interface ApiKeysTable {
  id: string;
  name: string;
  tenant_id: string | null;
  role: string;
  secret_hash: string;
  created_at: Timestamp;
  created_by: string;
  expires_at: Timestamp | null;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

/** The tables access owns. */
export interface AccessTables {
  api_keys: ApiKeysTable;
}
