/**
 * The commercial module's tables: usage meters and rollups, quota counters and alerts, and
 * the objects written through Tenancy's object handles.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { ColumnType } from 'kysely';
import type { Timestamp } from '../infra/sql/column-types.js';

/** `usage_events`: raw meters, unique per tenant by the meter's own id (a repeat is ignored). */
export interface UsageEventsTable {
  tenant_id: string;
  id: string;
  resource: string;
  /** numeric: comes back as a string. */
  amount: ColumnType<string, string | number, string | number>;
  ts: Timestamp;
  source: string;
  recorded_at: Timestamp;
}

/** `usage_rollups`: sums per tenant, resource and hour or day (UTC), kept with the raw events. */
export interface UsageRollupsTable {
  tenant_id: string;
  granularity: 'hour' | 'day';
  bucket_start: Timestamp;
  resource: string;
  amount: ColumnType<string, string | number, string | number>;
  events: number;
  max_amount: ColumnType<string, string | number, string | number>;
  updated_at: Timestamp;
}

/** `quota_counters`: what a tenant uses of a counted quota (users, projects, object bytes). */
export interface QuotaCountersTable {
  tenant_id: string;
  quota: string;
  used: number;
  updated_at: Timestamp;
}

/** `tenant_objects`: objects written through Tenancy's object handles, with their sizes. */
export interface TenantObjectsTable {
  tenant_id: string;
  key: string;
  bytes: number;
  content_type: string;
  etag: string;
  updated_at: Timestamp;
}

/** `quota_alerts`: a quota exceeded in a period, raised (and its event emitted) once. */
export interface QuotaAlertsTable {
  tenant_id: string;
  quota: string;
  period: string;
  limit_value: ColumnType<string, string | number, string | number>;
  current_value: ColumnType<string, string | number, string | number>;
  raised_at: Timestamp;
}

/** The tables commercial owns. */
export interface CommercialTables {
  usage_events: UsageEventsTable;
  usage_rollups: UsageRollupsTable;
  quota_counters: QuotaCountersTable;
  tenant_objects: TenantObjectsTable;
  quota_alerts: QuotaAlertsTable;
}
