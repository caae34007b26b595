import { v7 as uuidv7 } from 'uuid';
import type { TenantSession } from '../isolation/index.js';
import type { Actor } from '../ledger/index.js';
import type { DocumentInput } from './corpus-schema.js';
import { documentVectors, readDocument, sameDocument } from './chunk-embeddings.js';
import { chunkText } from './document-text.js';
import type { ActivePolicy } from './policy-cache.js';
import {
  checkSignature,
  forbiddenMatches,
  instructionMarkers,
  judge,
  questionKeys,
  signedMessage,
  sourceState,
  type GuardReason,
} from './trust-guard.js';
import { arrayLiteral } from './vectors.js';

import type { CorpusAccess } from './corpus-access.js';
import { rawDocumentKey, storedSignals, type IngestResult } from './corpus-rows.js';

/**
 * Ingest one document: all its chunks or none; the same id and content again changes
 * nothing. The guard judges it under the tenant's policy: below the policy's trust, or with
 * a hard finding, it is quarantined (stored, not retrievable) when the guard enforces.
 * A document that completes a cluster of documents carrying the same question marks the
 * whole cluster, earlier members included.
 */
export async function ingestDocument(
  access: CorpusAccess,
  actor: Actor,
  tenantId: string,
  corpusName: string,
  doc: DocumentInput,
): Promise<IngestResult> {
  const corpus = await access.corpus(tenantId, corpusName);
  const policy = await access.policies.get(tenantId);
  const read = readDocument(doc);
  const { text, sha256: sha, bytes } = read;
  await access.activeTenant(tenantId);
  const chunks = read.chunks ?? chunkText(text, corpus.config.chunkSize, corpus.config.chunkOverlap);
  // Before anything is stored: a refusal of the tenant's model router leaves nothing behind.
  const vectors = await documentVectors(
    access.options.embedder,
    (fn) => access.inTenant(tenantId, fn),
    { tenantId, corpus: corpusName, config: corpus.config, doc, chunks, sha256: sha },
    actor.correlationId ?? uuidv7(),
  );
  // The bytes as sent, in the tenant's object place (counted against its storage; refused when over).
  const rawKey = rawDocumentKey(corpusName, doc.id);
  await access.options
    .objects?.()
    .putOwn(actor, tenantId, rawKey, bytes, doc.contentType ?? 'text/plain; charset=utf-8');
  const chunkMarkers = chunks.map((c) => instructionMarkers(c));
  const markers = [...new Set(chunkMarkers.flat())];
  const forbidden = forbiddenMatches(policy.forbidden, text).length > 0;
  const signature = checkSignature(doc.signature, signedMessage(doc.source.uri, sha), policy.keys);
  const qkeys = questionKeys(text);
  const enforce = policy.spec.mode === 'enforce';
  const outcome = await access.inTenant(tenantId, async (s) => {
    const [existing] = await s.query<Record<string, unknown>>(
      'select * from tenancy_corpus_documents where corpus = $1 and id = $2 for update',
      [corpusName, doc.id],
    );
    if (existing && sameDocument(existing, doc, sha, vectors))
      return {
        action: 'unchanged' as const,
        status: existing.status as 'indexed' | 'quarantined',
        trustScore: Number(existing.trust_score),
        reasons: existing.reasons as GuardReason[],
        flagged: [] as string[],
      };
    if (existing)
      await s.query('delete from tenancy_corpus_documents where corpus = $1 and id = $2', [corpusName, doc.id]);
    // Documents already carrying one of this document's questions: a cluster once there are enough.
    // Ingests of the same question wait for each other here, so concurrent ones cannot each
    // miss the others (an attacker sending five texts at once). The lock is a row of the
    // tenant's own table, not an advisory lock: those are shared by the whole database, where
    // another tenant's role could take them.
    if (qkeys.length > 0) {
      await s.query(
        `insert into tenancy_corpus_question_locks (corpus, qkey)
         select $1, k from unnest($2::text[]) as u(k) order by k on conflict do nothing`,
        [corpusName, qkeys],
      );
      await s.query(
        `select 1 from tenancy_corpus_question_locks where corpus = $1 and qkey = any($2::text[])
          order by qkey for update`,
        [corpusName, qkeys],
      );
    }
    const peers =
      qkeys.length === 0
        ? []
        : await s.query<{ qkey: string; ids: string[] }>(
            `select qkey, array_agg(distinct document_id) as ids from tenancy_corpus_questions
              where corpus = $1 and qkey = any($2::text[]) and document_id <> $3 group by qkey`,
            [corpusName, qkeys, doc.id],
          );
    const members = new Set<string>();
    for (const p of peers)
      if (p.ids.length + 1 >= policy.spec.duplicateClusterSize) for (const id of p.ids) members.add(id);
    const verdict = judge(
      {
        source: sourceState(doc.source.uri, policy.spec),
        signature: signature.state,
        markers,
        cluster: members.size > 0,
      },
      policy.spec,
      { forbidden },
    );
    const status = enforce && verdict.refused ? ('quarantined' as const) : ('indexed' as const);
    await s.query(
      `insert into tenancy_corpus_documents (corpus, id, content_sha256, source_uri, signature, metadata, chunks,
         status, trust_score, reasons, source_state, signature_state, signature_key, keys_fp, markers, forbidden,
         cluster, embedding_space, embeddings_sha256)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10::text[], $11, $12, $13, $14, $15::text[], $16, $17,
         $18, $19)`,
      [
        corpusName,
        doc.id,
        sha,
        doc.source.uri,
        doc.signature ?? null,
        JSON.stringify(doc.metadata ?? {}),
        chunks.length,
        status,
        verdict.trustScore,
        verdict.reasons,
        sourceState(doc.source.uri, policy.spec),
        signature.state,
        signature.keyId ?? null,
        policy.keysFingerprint,
        markers,
        forbidden,
        members.size > 0,
        vectors.vectors ? vectors.space : null,
        vectors.vectors ? vectors.sha256 : null,
      ],
    );
    await s.query(
      `insert into tenancy_corpus_chunks (corpus, document_id, seq, text, tsv, markers, embedding)
       select $1, $2, n::int, t, to_tsvector($3::regconfig, t), coalesce(string_to_array(nullif(m, ''), ','), '{}'),
              nullif(e, '')::real[]
         from unnest($4::text[], $5::text[], $6::text[]) with ordinality as u(t, m, e, n)`,
      [
        corpusName,
        doc.id,
        corpus.config.language,
        chunks,
        chunkMarkers.map((m) => m.join(',')),
        chunks.map((_, i) => (vectors.vectors ? arrayLiteral(vectors.vectors[i]!) : '')),
      ],
    );
    if (qkeys.length > 0)
      await s.query(
        `insert into tenancy_corpus_questions (corpus, qkey, document_id)
         select $1, k, $2 from unnest($3::text[]) as u(k)`,
        [corpusName, doc.id, qkeys],
      );
    const flagged = await flagCluster(s, corpusName, [...members], policy);
    return {
      action: existing ? ('update' as const) : ('create' as const),
      status,
      trustScore: verdict.trustScore,
      reasons: verdict.reasons,
      flagged,
    };
  });
  if (outcome.action !== 'unchanged') {
    const details = {
      corpus: corpusName,
      document: doc.id,
      action: outcome.action,
      chunks: chunks.length,
      contentSha256: sha,
      status: outcome.status,
      trustScore: outcome.trustScore,
      reasons: outcome.reasons,
      policyVersion: policy.version,
      ...(outcome.flagged.length > 0 ? { quarantinedPeers: outcome.flagged } : {}),
    };
    const target = `tenant/${tenantId}/corpus/${corpusName}/document/${doc.id}`;
    if (outcome.status === 'quarantined' || outcome.flagged.length > 0)
      await access.db.transaction().execute((trx) =>
        access.audit.recordChange(trx, {
          actor,
          action: 'corpus.ingest',
          target,
          tenantId,
          outcome: 'success',
          details,
          event: {
            type: 'corpus.document_quarantined',
            tenantId,
            payload: {
              corpus: corpusName,
              documents: [...(outcome.status === 'quarantined' ? [doc.id] : []), ...outcome.flagged],
              reasons: outcome.reasons,
            },
          },
        }),
      );
    else await access.audit.record(actor, { action: 'corpus.ingest', target, tenantId, outcome: 'success', details });
    await access.options.cache?.invalidate(tenantId, corpusName);
  }
  return {
    id: doc.id,
    corpus: corpusName,
    status: outcome.status,
    action: outcome.action,
    chunks: chunks.length,
    contentSha256: sha,
    trustScore: outcome.trustScore,
    reasons: outcome.reasons,
    signature: signature.state,
    policyVersion: policy.version,
  };
}

/** Mark earlier members of a cluster; quarantine those the guard now refuses (enforcing). Ids quarantined. */
async function flagCluster(s: TenantSession, corpus: string, ids: string[], policy: ActivePolicy): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await s.query<Record<string, unknown>>(
    'select * from tenancy_corpus_documents where corpus = $1 and id = any($2::text[]) and not cluster',
    [corpus, ids],
  );
  const out: string[] = [];
  for (const row of rows) {
    const signals = { ...storedSignals(row, policy, row.markers as string[]), cluster: true };
    const verdict = judge(signals, policy.spec, { forbidden: row.forbidden === true });
    const quarantine = policy.spec.mode === 'enforce' && verdict.refused && row.status === 'indexed';
    await s.query(
      `update tenancy_corpus_documents set cluster = true, trust_score = $3, reasons = $4::text[],
              status = case when $5 then 'quarantined' else status end
        where corpus = $1 and id = $2`,
      [corpus, row.id, verdict.trustScore, verdict.reasons, quarantine],
    );
    if (quarantine) out.push(row.id as string);
  }
  return out;
}
