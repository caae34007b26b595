/**
 * The SLO module's tables: SLI buckets per tenant and source (per minute for three days, per
 * hour for eight, per day for 91: storage is bounded by time and tenants, whatever the traffic)
 * and each SLO's last evaluated state (alerts firing, budget, freeze, flags switched off).
 * Row types as Kysely sees them. A leaf: it imports column helper types only.
 */
import type { ColumnType } from 'kysely';
import type { Json, Timestamp } from '../infra/sql/column-types.js';

type Count = ColumnType<number, number | string | bigint, number | string | bigint>;

/** One bucket of SLI events: `sli_minutes`, `sli_hours` and `sli_days` have the same shape. */
export interface SliBucketTable {
  tenant_id: string;
  source: string;
  bucket: Timestamp;
  total: Count;
  errors: Count;
  /** Cumulative latency histogram: element i counts events at or under bound i (latency-histogram.ts). */
  latency: number[];
  /** Cumulative cost histogram in micro-dollars (same bounds). */
  cost: number[];
  cost_micros: Count;
}

/** `slo_states`: what the evaluator last concluded about one SLO. */
export interface SloStatesTable {
  tenant_id: string;
  name: string;
  state: Json<Record<string, unknown>>;
  updated_at: Timestamp;
}

/** `slo_tenant_states`: a tenant's freeze and the experimental flags switched off for it. */
export interface SloTenantStatesTable {
  tenant_id: string;
  frozen: boolean;
  frozen_since: Timestamp | null;
  degraded: boolean;
  degraded_since: Timestamp | null;
  healthy_since: Timestamp | null;
  flags_off: Json<string[]>;
  updated_at: Timestamp;
}

/** The tables the SLO module owns. */
export interface SloTables {
  sli_minutes: SliBucketTable;
  sli_hours: SliBucketTable;
  sli_days: SliBucketTable;
  slo_states: SloStatesTable;
  slo_tenant_states: SloTenantStatesTable;
}
