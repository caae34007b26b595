import type { TenantSession } from '../isolation/index.js';
import type { RetrieveInput } from './corpus-schema.js';
import { queryVector } from './chunk-embeddings.js';
import { fuseRankings, type MatchKind } from './hybrid-ranking.js';
import type { ActivePolicy } from './policy-cache.js';
import { spotlight, spotlightingNote } from './spotlight.js';
import { forbiddenMatches, HARD_REASONS, screenPool, type Candidate } from './trust-guard.js';
import { embeddingSpace, nearestChunks } from './vectors.js';

import type { CorpusAccess } from './corpus-access.js';
import {
  iso,
  storedSignals,
  type CorpusInfo,
  type DroppedChunk,
  type ReleaseRow,
  type RetrievedChunk,
  type RetrieveResult,
} from './corpus-rows.js';

export async function searchCorpus(
  access: CorpusAccess,
  tenantId: string,
  corpus: CorpusInfo,
  input: RetrieveInput,
  policy: ActivePolicy,
  released: Map<string, ReleaseRow>,
  requestId: string,
): Promise<Omit<RetrieveResult, 'queryId' | 'cached'>> {
  const mode = policy.spec.mode;
  const pool = mode === 'off' ? input.k : Math.min(Math.max(input.k * 4, 20), 400);
  const inTenant = <T>(fn: (s: TenantSession) => Promise<T>) => access.inTenant(tenantId, fn);
  const vector = await queryVector(
    access.options.embedder,
    inTenant,
    { tenantId, corpus: input.corpus, config: corpus.config, query: input.query, vector: input.vector },
    requestId,
  );
  let ranking: RetrieveResult['ranking'] = { method: 'lexical' };
  const rows = await inTenant(async (s): Promise<Array<Record<string, unknown> & { match: MatchKind[] }>> => {
    const lexical = await s.query<Record<string, unknown>>(
      `select c.document_id, c.seq, c.text, c.markers as chunk_markers, ts_rank_cd(c.tsv, q.q)::float8 as score,
              d.source_uri, d.content_sha256, d.signature, d.signature_state, d.keys_fp, d.cluster, d.forbidden,
              d.ingested_at, d.status
         from tenancy_corpus_chunks c
         join tenancy_corpus_documents d on d.corpus = c.corpus and d.id = c.document_id,
              (select coalesce(string_agg(quote_literal(l), ' | '), '')::tsquery
                 from unnest(tsvector_to_array(to_tsvector($2::regconfig, $3))) as l) as q(q)
        where c.corpus = $1 and c.tsv @@ q.q and d.metadata @> $4::jsonb
          and (d.status = 'indexed' or d.id || ':' || d.content_sha256 = any($6::text[]))
        order by score desc, c.document_id, c.seq
        limit $5`,
      [
        input.corpus,
        corpus.config.language,
        input.query,
        JSON.stringify(input.filter ?? {}),
        pool,
        [...released.keys()],
      ],
    );
    if (!vector) return lexical.map((r) => ({ ...r, match: ['lexical'] }));
    const near = await nearestChunks(s, {
      corpus: input.corpus,
      space: embeddingSpace(corpus.config)!,
      vector,
      filter: JSON.stringify(input.filter ?? {}),
      released: [...released.keys()],
      limit: pool,
    });
    ranking = { method: 'hybrid', vectors: near.method };
    return fuseRankings(lexical, near.rows, pool);
  });
  const candidates: Candidate[] = rows.map((r) => ({
    documentId: r.document_id as string,
    text: r.text as string,
    signals: storedSignals(r, policy, (r.chunk_markers as string[] | null) ?? []),
    released: released.has(`${r.document_id as string}:${r.content_sha256 as string}`),
    forbidden: r.forbidden === true || forbiddenMatches(policy.forbidden, r.text as string).length > 0,
  }));
  const verdicts = screenPool(candidates, input.query, policy.spec);
  const items: RetrievedChunk[] = [];
  const dropped: DroppedChunk[] = [];
  rows.forEach((r, i) => {
    const v = verdicts[i]!;
    const chunkId = `${r.document_id as string}#${r.seq as number}`;
    if (mode === 'enforce' && v.refused) {
      dropped.push({
        chunkId,
        documentId: r.document_id as string,
        reason: v.reasons.find((x) => HARD_REASONS.has(x)) ?? v.reasons[0] ?? 'below_min_trust',
        reasons: v.reasons,
        trustScore: v.trustScore,
      });
      return;
    }
    if (items.length >= input.k) return;
    items.push({
      chunkId,
      documentId: r.document_id as string,
      text: spotlight(r.text as string, policy.spec.spotlighting),
      score: Number(r.score),
      match: r.match,
      trustScore: v.trustScore,
      ...(mode !== 'off' && v.reasons.length > 0 ? { reasons: v.reasons } : {}),
      source: { uri: r.source_uri as string },
      provenance: {
        contentSha256: r.content_sha256 as string,
        signature: candidates[i]!.signals.signature,
        ingestedAt: iso(r.ingested_at),
        ...(candidates[i]!.released ? { released: true } : {}),
      },
    });
  });
  const note = spotlightingNote(policy.spec.spotlighting);
  return {
    corpus: input.corpus,
    items,
    dropped,
    policyVersion: policy.version,
    guard: mode,
    ranking,
    ...(note ? { spotlighting: note } : {}),
  };
}
