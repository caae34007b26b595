/**
 * The model router's tables: the model catalogue (`ModelProvider` documents), the budget
 * ledger's windows and open reservations, and the budget notices already sent.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { ColumnType, Generated } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `model_providers`: one `ModelProvider` document per row (platform level). */
export interface ModelProvidersTable {
  name: string;
  spec: Json<Record<string, unknown>>;
  generation: number;
  created_at: Generated<Timestamp>;
  updated_at: Timestamp;
  updated_by: string;
}

/** bigint micro-dollars come back as numbers (the pg parser of int8 is set to Number). */
type Micros = ColumnType<number, number | string | bigint, number | string | bigint>;

/** `ai_budget_windows`: a tenant's model spend per UTC day (`day:2026-12-07`) and month (`month:2026-12`). */
export interface AiBudgetWindowsTable {
  tenant_id: string;
  window_key: string;
  spent_micros: Micros;
  reserved_micros: Micros;
  updated_at: Timestamp;
}

/** `ai_budget_reservations`: worst-case costs held for calls in flight; swept when they expire. */
export interface AiBudgetReservationsTable {
  id: string;
  tenant_id: string;
  day_key: string;
  month_key: string;
  amount_micros: Micros;
  created_at: Timestamp;
  expires_at: Timestamp;
  /** When it was settled (a second settle is a no-op while the row is kept). */
  settled_at: Timestamp | null;
}

/** `ai_budget_notices`: which budget events were sent for a window (once each). */
export interface AiBudgetNoticesTable {
  tenant_id: string;
  window_key: string;
  kind: string;
  created_at: Timestamp;
}

/** The tables the model router owns. */
export interface AiTables {
  model_providers: ModelProvidersTable;
  ai_budget_windows: AiBudgetWindowsTable;
  ai_budget_reservations: AiBudgetReservationsTable;
  ai_budget_notices: AiBudgetNoticesTable;
}
