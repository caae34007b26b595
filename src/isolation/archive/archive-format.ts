/**
 * The archive format: what an archive holds (its manifest, with checksums), and the export of
 * one table as sorted JSON Lines that both archive and restore use to checksum a table.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../../infra/objects/index.js';
import type { TenantMigrator } from '../migrations/tenant-migrator.js';
import type { TenantSession, Warehouse } from '../warehouse/warehouse.js';

/** The object-store bucket archives are written to. */
export const ARCHIVE_BUCKET = 'archive';
/** The archive format's name, recorded in every manifest. */
export const FORMAT = 'tenancy-archive/v1';
/** Rows loaded per statement on restore. */
export const BATCH = 1_000;

/** Reports how much of an export is done. */
export type Progress = (done: number, total: number) => Promise<void>;

/** A column as an archive records it, to make a table the migrations do not. */
export interface ColumnDef {
  name: string;
  type: string;
  notNull: boolean;
  /** The column default as SQL (e.g. nextval of its sequence), or null. */
  default: string | null;
}

/** What an archive holds, with its checksums. */
export interface ArchiveManifest {
  format: typeof FORMAT;
  tenantId: string;
  archivedAt: string;
  profile: string;
  engine: string;
  migrationVersion: string | null;
  tables: Array<{
    name: string;
    rows: number;
    bytes: number;
    sha256: string;
    columns: ColumnDef[];
    primaryKey: string[];
  }>;
  sequences: Array<{ name: string; value: number | null }>;
  objects: Array<{ key: string; bytes: number; sha256: string; contentType: string }>;
}

/** SHA-256 of bytes or text, hex. */
export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
/** A quoted SQL identifier. */
export const q = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/** Export one table as sorted JSON Lines. */
export async function exportTable(s: TenantSession, table: string): Promise<{ body: Buffer; rows: number }> {
  const rows = await s.query<{ j: string }>(`select row_to_json(t)::text as j from ${q(table)} t`);
  const lines = rows.map((r) => r.j).sort();
  return { body: Buffer.from(lines.length ? `${lines.join('\n')}\n` : ''), rows: lines.length };
}

/** What an export or import works with: the warehouse, the object store, the archive bucket, the app's migrator. */
export interface ArchiveIo {
  warehouse: Warehouse;
  objects: ObjectStore;
  bucket: string;
  migrator: TenantMigrator | undefined;
}
