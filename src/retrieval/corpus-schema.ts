/**
 * What the retrieval API accepts: a corpus's settings, a document to ingest, a query. Limits
 * are part of the contract: a document of at most 4 MiB of text, a query of at most 4 KiB,
 * `k` at most 100, vectors of at most 16,000 dimensions (pgvector's limit).
 */
import { z } from 'zod';

export const CORPUS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const DOCUMENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$/;
/** Text search configurations every PostgreSQL (and PGlite) ships. */
export const LANGUAGES = [
  'simple',
  'english',
  'german',
  'french',
  'spanish',
  'italian',
  'portuguese',
  'dutch',
  'swedish',
  'norwegian',
  'danish',
  'finnish',
  'russian',
] as const;
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;
export const CONTENT_TYPES = ['text/plain', 'text/markdown', 'text/html'] as const;
/** Most dimensions of a vector (pgvector's `vector` type holds at most 16,000). */
export const MAX_DIMENSIONS = 16_000;
/** Most chunks a pre-chunked document may carry. */
export const MAX_SUPPLIED_CHUNKS = 2048;

const dimensions = z
  .number({ error: 'must be a number of dimensions' })
  .int('must be an integer')
  .min(1, `must be 1..${MAX_DIMENSIONS}`)
  .max(MAX_DIMENSIONS, `must be 1..${MAX_DIMENSIONS}`);
const vector = z
  .array(z.number({ error: 'must be an array of numbers' }), { error: 'must be an array of numbers' })
  .min(1, 'must not be empty')
  .max(MAX_DIMENSIONS, `at most ${MAX_DIMENSIONS} dimensions`)
  .refine((v) => v.some((x) => x !== 0), 'must not be all zeros');

/** A corpus's vectors: the embedding model of the tenant's router, and/or their dimensions. */
export const embeddingConfigSchema = z
  .strictObject({
    model: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be a model name')
      .optional()
      .describe("an embedding model the tenant's router names; unset: callers supply every vector"),
    dimensions: dimensions
      .optional()
      .describe("the vectors' length, asked of the model; unset: the model's own (then model is required)"),
  })
  .refine((e) => e.model !== undefined || e.dimensions !== undefined, {
    message: 'name a model, or the dimensions of the vectors callers supply',
  })
  .meta({ id: 'CorpusEmbedding' });

export type EmbeddingConfig = z.infer<typeof embeddingConfigSchema>;

export const corpusConfigSchema = z
  .strictObject({
    chunkSize: z
      .number()
      .int('must be an integer')
      .min(32, 'must be 32..4000 tokens')
      .max(4000, 'must be 32..4000 tokens')
      .default(400),
    chunkOverlap: z.number().int('must be an integer').min(0, 'must be >= 0').max(1000, 'must be <= 1000').default(50),
    language: z.enum(LANGUAGES, { error: `must be one of ${LANGUAGES.join(', ')}` }).default('english'),
    embedding: embeddingConfigSchema
      .nullable()
      .optional()
      .describe('vectors for hybrid ranking; unset or null: full-text search only'),
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { path: ['chunkOverlap'], message: 'must be smaller than chunkSize' })
  .meta({ id: 'CorpusConfig', description: "A corpus's chunking, text-search and vector settings." });

export type CorpusConfig = z.infer<typeof corpusConfigSchema>;

export const documentSchema = z
  .strictObject({
    id: z.string().regex(DOCUMENT_ID, 'must be 1..256 letters, digits, ".", "_", ":", "/", "-"'),
    text: z.string().min(1, 'must not be empty').optional(),
    content: z.string().min(1, 'must not be empty').optional().describe('base64 of the document, with contentType'),
    contentType: z.enum(CONTENT_TYPES, { error: `must be one of ${CONTENT_TYPES.join(', ')}` }).optional(),
    chunks: z
      .array(
        z.strictObject({
          text: z.string().min(1, 'must not be empty'),
          embedding: vector.optional().describe("the chunk's vector, of the corpus's model and dimensions"),
        }),
      )
      .min(1, 'needs at least one chunk')
      .max(MAX_SUPPLIED_CHUNKS, `at most ${MAX_SUPPLIED_CHUNKS} chunks`)
      .optional()
      .describe('the document already cut into chunks, each with its vector or none with one'),
    source: z.strictObject({ uri: z.string().min(1).max(2048, 'must be at most 2048 characters') }),
    signature: z.string().max(512).optional(),
    metadata: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
  })
  .superRefine((d, ctx) => {
    if ([d.text, d.content, d.chunks].filter((x) => x !== undefined).length !== 1)
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'give exactly one of text, content and chunks' });
    const embedded = d.chunks?.filter((c) => c.embedding !== undefined).length ?? 0;
    if (embedded > 0 && embedded < d.chunks!.length)
      ctx.addIssue({
        code: 'custom',
        path: ['chunks', d.chunks!.findIndex((c) => c.embedding === undefined), 'embedding'],
        message: 'give an embedding for every chunk or for none',
      });
    if (d.chunks !== undefined && d.contentType !== undefined)
      ctx.addIssue({ code: 'custom', path: ['contentType'], message: 'applies to text or content, not to chunks' });
    if (d.content !== undefined && d.contentType === undefined)
      ctx.addIssue({ code: 'custom', path: ['contentType'], message: 'content needs a contentType' });
    if (d.metadata && Object.keys(d.metadata).length > 32)
      ctx.addIssue({ code: 'custom', path: ['metadata'], message: 'at most 32 keys' });
  })
  .meta({ id: 'CorpusDocument', description: 'A document to ingest.' });

export type DocumentInput = z.infer<typeof documentSchema>;

const lineageName = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'must be letters, digits, ".", "_", ":", "/", "-"');

export const retrieveSchema = z
  .strictObject({
    corpus: z.string().regex(CORPUS_NAME, 'must be a corpus name'),
    query: z.string().min(1, 'must not be empty').max(4096, 'must be at most 4096 characters'),
    k: z.number().int('must be an integer').min(1, 'must be 1..100').max(100, 'must be 1..100').default(5),
    filter: z
      .record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()]))
      .optional()
      .describe('metadata keys the document must have with these values'),
    vector: vector
      .optional()
      .describe("the query's vector, of the corpus's model and dimensions; unset: the router embeds the query"),
    domain: lineageName.optional().describe('the lineage domain this retrieval is recorded under (default: retrieval)'),
    usecase: lineageName.optional().describe('the lineage use case (default: the corpus name)'),
  })
  .meta({ id: 'RetrieveRequest' });

export type RetrieveInput = z.infer<typeof retrieveSchema>;
