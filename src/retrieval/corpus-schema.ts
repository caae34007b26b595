/**
 * What the retrieval API accepts: a corpus's settings, a document to ingest, a query. Limits
 * are part of the contract: a document of at most 4 MiB of text, a query of at most 4 KiB,
 * `k` at most 100.
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
  })
  .refine((c) => c.chunkOverlap < c.chunkSize, { path: ['chunkOverlap'], message: 'must be smaller than chunkSize' })
  .meta({ id: 'CorpusConfig', description: "A corpus's chunking and text-search settings." });

export type CorpusConfig = z.infer<typeof corpusConfigSchema>;

export const documentSchema = z
  .strictObject({
    id: z.string().regex(DOCUMENT_ID, 'must be 1..256 letters, digits, ".", "_", ":", "/", "-"'),
    text: z.string().min(1, 'must not be empty').optional(),
    content: z.string().min(1, 'must not be empty').optional().describe('base64 of the document, with contentType'),
    contentType: z.enum(CONTENT_TYPES, { error: `must be one of ${CONTENT_TYPES.join(', ')}` }).optional(),
    source: z.strictObject({ uri: z.string().min(1).max(2048, 'must be at most 2048 characters') }),
    signature: z.string().max(512).optional(),
    metadata: z.record(z.string().max(64), z.union([z.string().max(1024), z.number(), z.boolean()])).optional(),
  })
  .superRefine((d, ctx) => {
    if ((d.text === undefined) === (d.content === undefined))
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'give exactly one of text and content' });
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
    domain: lineageName.optional().describe('the lineage domain this retrieval is recorded under (default: retrieval)'),
    usecase: lineageName.optional().describe('the lineage use case (default: the corpus name)'),
  })
  .meta({ id: 'RetrieveRequest' });

export type RetrieveInput = z.infer<typeof retrieveSchema>;
