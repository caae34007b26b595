/**
 * Where the vectors of a document's chunks and of a query come from: the caller (checked
 * against the corpus's dimensions) or the tenant's model router (the corpus's model, in
 * batches, held against and charged to the tenant's budget like any embeddings call, its
 * refusals answered as they are). The router is called outside any transaction in the
 * tenant's place, so a slow provider never holds the tenant's database, and not at all for a
 * document whose content and vector space are unchanged.
 */
import { createHash } from 'node:crypto';
import { TenancyError, validationError } from '../errors.js';
import type { TenantSession } from '../isolation/index.js';
import { jsonEqual } from '../tenants/index.js';
import { MAX_DOCUMENT_BYTES, type CorpusConfig, type DocumentInput, type EmbeddingConfig } from './corpus-schema.js';
import { documentText } from './document-text.js';
import { embeddingSpace, storedDimensions, unitVector } from './vectors.js';

/** What the router is asked for. */
export interface EmbedRequest {
  model: string;
  input: string[];
  dimensions?: number;
  /** Names the call in the router's metering. */
  requestId: string;
}

/** Vectors for texts through the tenant's model router, charged to its budget; in input order. */
export type Embedder = (tenantId: string, request: EmbedRequest) => Promise<number[][]>;

/** Runs `fn` in the tenant's own place, as its role. */
export type InTenant = <T>(fn: (s: TenantSession) => Promise<T>) => Promise<T>;

/** A document's vectors as ingest stores them. */
export interface DocumentVectors {
  /** The corpus's vector space; null when it has none. */
  space: string | null;
  /** SHA-256 of the vectors the caller supplied (new vectors make a changed document); null for the router's. */
  sha256: string | null;
  /** Unit vectors, one per chunk; undefined when none are stored (no vectors, or nothing changed). */
  vectors: number[][] | undefined;
}

/** Texts per router call (the embeddings API takes at most 2048). */
const BATCH = 256;

function invalidChunk(index: number, message: string): TenancyError {
  return new TenancyError('invalid_document', `the document cannot be read: ${message}`, {
    errors: [{ path: `/chunks/${index}/text`, message }],
  });
}

/**
 * A pre-chunked document: its chunks' texts (trimmed; not binary), and the text, bytes and hash
 * the guard, the kept copy and a source's signature see: the chunks as sent joined by a blank
 * line ("\n\n").
 */
export function suppliedChunks(chunks: NonNullable<DocumentInput['chunks']>): {
  text: string;
  sha256: string;
  bytes: Buffer;
  chunks: string[];
} {
  const raw = chunks.map((c) => c.text).join('\n\n');
  if (Buffer.byteLength(raw, 'utf8') > MAX_DOCUMENT_BYTES)
    throw new TenancyError('payload_too_large', `a document holds at most ${MAX_DOCUMENT_BYTES} bytes of text`, {
      errors: [{ path: '/chunks', message: `larger than ${MAX_DOCUMENT_BYTES} bytes` }],
    });
  const texts = chunks.map((c, i) => {
    let controls = 0;
    for (let k = 0; k < c.text.length; k++) {
      const code = c.text.charCodeAt(k);
      if (code === 0) throw invalidChunk(i, 'content looks binary');
      if (code < 9 || (code > 13 && code < 32)) controls++;
    }
    if (controls > c.text.length / 100) throw invalidChunk(i, 'content looks binary');
    const text = c.text.replace(/\r\n?/g, '\n').trim();
    if (text === '') throw invalidChunk(i, 'the chunk has no text');
    return text;
  });
  const bytes = Buffer.from(raw, 'utf8');
  return { text: texts.join('\n\n'), sha256: createHash('sha256').update(bytes).digest('hex'), bytes, chunks: texts };
}

/** A document's text, bytes and hash, and its chunks when it comes cut into them; or a 4xx naming why it has none. */
export function readDocument(doc: DocumentInput): { text: string; sha256: string; bytes: Buffer; chunks?: string[] } {
  return doc.chunks ? suppliedChunks(doc.chunks) : documentText(doc);
}

/** Whether a stored document row is this document with these vectors (ingesting it again changes nothing). */
export function sameDocument(
  existing: Record<string, unknown>,
  doc: DocumentInput,
  sha256: string,
  vectors: DocumentVectors,
): boolean {
  return (
    existing.content_sha256 === sha256 &&
    existing.source_uri === doc.source.uri &&
    (existing.signature ?? null) === (doc.signature ?? null) &&
    jsonEqual(existing.metadata, doc.metadata ?? {}) &&
    (existing.embedding_space ?? null) === vectors.space &&
    (existing.embeddings_sha256 ?? null) === vectors.sha256
  );
}

function dimensionError(path: string, length: number, dimensions: number): TenancyError {
  return validationError(`the vector has ${length} dimensions; the corpus's vectors have ${dimensions}`, [
    { path, message: `must have ${dimensions} dimensions` },
  ]);
}

/** Unit vectors for `texts` from the corpus's model, checked for count and size. */
async function embedTexts(
  embedder: Embedder | undefined,
  tenantId: string,
  e: EmbeddingConfig & { model: string },
  texts: string[],
  requestId: string,
): Promise<number[][]> {
  if (!embedder)
    throw new TenancyError('router_not_configured', 'this control plane has no model router to embed with');
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i += BATCH) {
    const batch = texts.slice(i, i + BATCH);
    const vectors = await embedder(tenantId, {
      model: e.model,
      input: batch,
      ...(e.dimensions !== undefined ? { dimensions: e.dimensions } : {}),
      requestId,
    });
    if (vectors.length !== batch.length)
      throw new TenancyError(
        'upstream_bad_response',
        `model ${e.model} answered ${vectors.length} vectors for ${batch.length} texts`,
      );
    out.push(...vectors);
  }
  const dimensions = e.dimensions ?? out[0]!.length;
  const bad = out.find((v) => v.length !== dimensions || v.some((x) => !Number.isFinite(x)));
  if (bad)
    throw new TenancyError(
      'upstream_bad_response',
      `model ${e.model} answered a vector of ${bad.length} dimensions (or not all numbers); ` +
        `the corpus's have ${dimensions}`,
    );
  return out.map(unitVector);
}

/**
 * The vectors ingest stores for a document: none for a corpus without vectors; the caller's,
 * each of the corpus's dimensions (or of the vectors already stored, when the corpus names
 * none); else the router's for each chunk, unless the document is unchanged.
 */
export async function documentVectors(
  embedder: Embedder | undefined,
  inTenant: InTenant,
  a: { tenantId: string; corpus: string; config: CorpusConfig; doc: DocumentInput; chunks: string[]; sha256: string },
  requestId: string,
): Promise<DocumentVectors> {
  const space = embeddingSpace(a.config);
  const supplied = a.doc.chunks?.[0]?.embedding !== undefined ? a.doc.chunks.map((c) => c.embedding!) : undefined;
  if (space === null) {
    if (supplied)
      throw validationError(`corpus ${a.corpus} has no vectors: configure its embedding first`, [
        { path: '/chunks/0/embedding', message: 'the corpus has no vectors (its embedding is not set)' },
      ]);
    return { space: null, sha256: null, vectors: undefined };
  }
  const e = a.config.embedding!;
  if (supplied) {
    const dimensions =
      e.dimensions ?? (await inTenant((s) => storedDimensions(s, a.corpus, space))) ?? supplied[0]!.length;
    supplied.forEach((v, i) => {
      if (v.length !== dimensions) throw dimensionError(`/chunks/${i}/embedding`, v.length, dimensions);
    });
    const sha256 = createHash('sha256').update(JSON.stringify(supplied)).digest('hex');
    return { space, sha256, vectors: supplied.map(unitVector) };
  }
  if (e.model === undefined)
    throw validationError(`corpus ${a.corpus} takes its vectors from callers: send chunks with embeddings`, [
      {
        path: a.doc.chunks ? '/chunks/0/embedding' : '/chunks',
        message: 'required: the corpus has no embedding model',
      },
    ]);
  const kept: DocumentVectors = { space, sha256: null, vectors: undefined };
  const unchanged = await inTenant(async (s) => {
    const [row] = await s.query<Record<string, unknown>>(
      'select * from tenancy_corpus_documents where corpus = $1 and id = $2',
      [a.corpus, a.doc.id],
    );
    return row !== undefined && sameDocument(row, a.doc, a.sha256, kept);
  });
  if (unchanged) return kept;
  return { ...kept, vectors: await embedTexts(embedder, a.tenantId, { ...e, model: e.model }, a.chunks, requestId) };
}

/**
 * The query's unit vector: the caller's (of the corpus's dimensions), else the router's for a
 * corpus with a model; undefined (full-text search only) for a corpus without vectors, or one
 * whose vectors come from callers when the query brings none.
 */
export async function queryVector(
  embedder: Embedder | undefined,
  inTenant: InTenant,
  a: { tenantId: string; corpus: string; config: CorpusConfig; query: string; vector: number[] | undefined },
  requestId: string,
): Promise<number[] | undefined> {
  const space = embeddingSpace(a.config);
  if (space === null) {
    if (a.vector)
      throw validationError(`corpus ${a.corpus} has no vectors`, [
        { path: '/vector', message: 'the corpus has no vectors (its embedding is not set)' },
      ]);
    return undefined;
  }
  const e = a.config.embedding!;
  if (a.vector) {
    const dimensions = e.dimensions ?? (await inTenant((s) => storedDimensions(s, a.corpus, space)));
    if (dimensions !== undefined && a.vector.length !== dimensions)
      throw dimensionError('/vector', a.vector.length, dimensions);
    return unitVector(a.vector);
  }
  if (e.model === undefined) return undefined;
  const [v] = await embedTexts(embedder, a.tenantId, { ...e, model: e.model }, [a.query], requestId);
  return v;
}
