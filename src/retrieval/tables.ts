/**
 * The retrieval module's tables in the control-plane store: each tenant's corpora and their
 * settings. A corpus's documents, chunks and index live in the tenant's own place (its
 * schema or database, as its own role), never here.
 * Row types as Kysely sees them. A leaf: it imports column helper types only, so the
 * whole-database `Schema` (`src/schema.ts`) imports it without an import cycle.
 */
import type { Json, Timestamp } from '../infra/sql/column-types.js';

/** `corpora`: a tenant's corpus and its settings. */
export interface CorporaTable {
  tenant_id: string;
  name: string;
  config: Json<Record<string, unknown>>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** `corpus_releases`: a quarantined document released by an approval, for this content. */
export interface CorpusReleasesTable {
  tenant_id: string;
  corpus: string;
  document_id: string;
  content_sha256: string;
  approval_id: string;
  released_by: string;
  released_at: Timestamp;
}

/** The tables retrieval owns. */
export interface RetrievalTables {
  corpora: CorporaTable;
  corpus_releases: CorpusReleasesTable;
}
