/**
 * Chunk vectors in the tenant's own place. They are stored as `real[]` of unit length in the
 * tenant's chunks table, so a corpus with vectors moves, archives and restores with its tenant
 * on every engine, pgvector or not. A search ranks them by cosine similarity, exactly (no
 * approximate index): with pgvector's `<=>` where the tenant's role can use the extension (the
 * embedded warehouse installs it; on PostgreSQL an operator does), else with a dot product
 * computed in SQL over the same rows. Vectors of another space (another model or size) are
 * never compared.
 */
import type { TenantSession } from '../isolation/index.js';
import type { CorpusConfig } from './corpus-schema.js';

/** What the tenant's chunks and documents tables gain for vectors (run with the rest of the corpus DDL). */
export const VECTOR_DDL = `
alter table tenancy_corpus_chunks add column if not exists embedding real[];
alter table tenancy_corpus_documents
  add column if not exists embedding_space text,
  add column if not exists embeddings_sha256 text;`;

/** How a search ranked vectors: pgvector's operator, or the exact dot product in SQL. */
export type VectorMethod = 'pgvector' | 'sql';

/** A row of a vector search: the columns of the full-text search, `score` the cosine similarity. */
export type ChunkRow = Record<string, unknown>;

/**
 * The space of a corpus's vectors: its model and size. A document's vectors count for the
 * corpus only while their space is the corpus's, so changing the model leaves old documents
 * to full-text search until they are ingested again, never compared across models.
 */
export function embeddingSpace(config: CorpusConfig): string | null {
  const e = config.embedding;
  if (!e) return null;
  return `${e.model ?? 'supplied'}/${e.dimensions ?? 'native'}`;
}

/** `v` scaled to unit length, so cosine similarity is a dot product; a zero vector stays zero. */
export function unitVector(v: readonly number[]): number[] {
  // Scaled by the largest component first, so huge components do not overflow and tiny ones do not underflow.
  let max = 0;
  for (const x of v) max = Math.max(max, Math.abs(x));
  if (max === 0) return v.map(() => 0);
  let sum = 0;
  for (const x of v) sum += (x / max) ** 2;
  const norm = Math.sqrt(sum);
  return v.map((x) => x / max / norm);
}

/** A vector as a PostgreSQL array literal (for a `real[]` parameter). */
export function arrayLiteral(v: readonly number[]): string {
  return `{${v.join(',')}}`;
}

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The schema of pgvector's `vector` type when the session's role may use it; undefined without pgvector. */
export async function pgvectorSchema(s: TenantSession): Promise<string | undefined> {
  const [row] = await s.query<{ schema: string }>(
    `select n.nspname as schema from pg_catalog.pg_extension e
       join pg_catalog.pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'vector' and pg_catalog.has_schema_privilege(n.oid, 'USAGE')`,
  );
  return row?.schema;
}

/** The length of the vectors stored in a corpus's space, if any are. */
export async function storedDimensions(s: TenantSession, corpus: string, space: string): Promise<number | undefined> {
  const [row] = await s.query<{ n: number }>(
    `select cardinality(c.embedding) as n from tenancy_corpus_chunks c
       join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id
      where c.corpus = $1 and d.embedding_space = $2 and c.embedding is not null
      limit 1`,
    [corpus, space],
  );
  return row?.n;
}

/** What a vector search looks for. */
export interface VectorQuery {
  corpus: string;
  space: string;
  /** The query's vector, unit length. */
  vector: number[];
  /** Metadata the document must contain (JSON). */
  filter: string;
  /** `id:sha` of quarantined documents released for this content. */
  released: string[];
  limit: number;
}

/**
 * The `limit` chunks nearest to the query by cosine similarity (as `score`), among indexed or
 * released documents of the corpus's space that pass the filter, with the same columns as the
 * full-text search. pgvector where the session can use it; else the exact dot product in SQL
 * (stored vectors are unit length), the same ranking at a higher cost per row.
 */
export async function nearestChunks(
  s: TenantSession,
  q: VectorQuery,
): Promise<{ rows: ChunkRow[]; method: VectorMethod }> {
  const schema = await pgvectorSchema(s);
  const v = schema === undefined ? undefined : `${quoteIdentifier(schema)}.vector`;
  const similarity = v
    ? `1 - (c.embedding::${v} operator(${quoteIdentifier(schema!)}.<=>) $2::real[]::${v})`
    : '(select sum(e * x) from unnest(c.embedding, $2::real[]) as u(e, x))';
  const rows = await s.query<ChunkRow>(
    `select c.document_id, c.seq, c.text, c.markers as chunk_markers, (${similarity})::float8 as score,
            d.source_uri, d.content_sha256, d.signature, d.signature_state, d.keys_fp, d.cluster, d.forbidden,
            d.ingested_at, d.status
       from tenancy_corpus_chunks c
       join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id
      where c.corpus = $1 and d.embedding_space = $3 and c.embedding is not null
        and cardinality(c.embedding) = cardinality($2::real[]) and d.metadata @> $4::jsonb
        and (d.status = 'indexed' or d.id || ':' || d.content_sha256 = any($6::text[]))
      order by score desc, c.document_id, c.seq
      limit $5`,
    [q.corpus, arrayLiteral(q.vector), q.space, q.filter, q.limit, q.released],
  );
  return { rows, method: schema === undefined ? 'sql' : 'pgvector' };
}
