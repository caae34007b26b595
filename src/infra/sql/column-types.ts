/**
 * Column helper types for row types, as Kysely sees them. One meaning for PGlite and
 * PostgreSQL; JSON columns are written through `json()` (`database.ts`). Imports nothing of
 * Tenancy, so every module's `tables.ts` can use it and stay a leaf.
 */
import type { ColumnType } from 'kysely';

/** A `timestamptz` column: read as a `Date`, written as a `Date` or an ISO string. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** A `jsonb` column holding `T`: read parsed, written as the text `json()` builds. */
export type Json<T> = ColumnType<T, string, string>;
