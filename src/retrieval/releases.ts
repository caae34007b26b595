/**
 * Releasing a quarantined document is an approval (`retrievalRelease`): whoever may write the
 * corpus asks, one of the tenant's approver roles (by default platform admin, owner, admin;
 * the requester never) decides. An approved release is stored by document id and content
 * hash, so the released content, and only it, becomes retrievable; a document changed
 * since the request is refused as stale.
 */
import type { Kysely } from 'kysely';
import { approvalStale, type Approval, type ApprovalGate, type Decider } from '../governance/index.js';
import type { Actor, AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { TenantRegistry } from '../tenants/index.js';
import type { RetrievalStore } from './retrieval-store.js';

export const RELEASE_KIND = 'retrievalRelease';

interface ReleaseChange {
  corpus: string;
  documentId: string;
  contentSha256: string;
  reasons: string[];
}

/** Ask for a release; the pending approval. */
export async function requestRelease(
  deps: { db: Kysely<Schema>; gate: ApprovalGate; registry: TenantRegistry; store: RetrievalStore },
  actor: Actor & { role?: string },
  tenantId: string,
  corpus: string,
  documentId: string,
  reason: string | undefined,
): Promise<Approval> {
  const doc = await deps.store.releasable(tenantId, corpus, documentId);
  const tenant = await deps.registry.get(tenantId);
  const approverRoles = tenant.spec.governance?.approvals?.approverRoles;
  const change: ReleaseChange = { corpus, documentId, contentSha256: doc.contentSha256, reasons: doc.reasons };
  return deps.db.transaction().execute((trx) =>
    deps.gate.requestApproval(trx, actor, {
      tenantId,
      kind: RELEASE_KIND,
      summary: `Release document ${documentId} of corpus ${corpus} from quarantine (${doc.reasons.join(', ') || 'no reasons'})${reason ? `: ${reason}` : ''}`,
      payload: { ...change, ...(reason ? { reason } : {}) },
      base: { contentSha256: doc.contentSha256 },
      ...(approverRoles ? { approverRoles } : {}),
      ...(tenant.spec.governance?.approvals?.notify ? { notify: tenant.spec.governance.approvals.notify } : {}),
      ...(actor.role ? { requestedRole: actor.role } : {}),
    }),
  );
}

/** Register the applier of releases with the approval gate. */
export function registerRetrievalReleases(gate: ApprovalGate, store: RetrievalStore, audit: AuditLog): void {
  gate.onApproved<ReleaseChange>(RELEASE_KIND, {
    // The document lives in the tenant's place: read it before the decision's transaction opens.
    prepare: async (approval: Approval, _decider: Decider) => {
      const change = approval.change as unknown as ReleaseChange;
      const doc = await store.getDocument(approval.tenantId, change.corpus, change.documentId).catch(() => undefined);
      if (!doc) throw approvalStale(`document ${change.documentId} no longer exists`);
      if (doc.contentSha256 !== change.contentSha256)
        throw approvalStale(`document ${change.documentId} changed after the release was requested`);
      return change;
    },
    apply: async (trx, approval, actor, change) => {
      const now = new Date().toISOString();
      await trx
        .insertInto('corpus_releases')
        .values({
          tenant_id: approval.tenantId,
          corpus: change.corpus,
          document_id: change.documentId,
          content_sha256: change.contentSha256,
          approval_id: approval.id,
          released_by: actor.id,
          released_at: now,
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'corpus', 'document_id']).doUpdateSet({
            content_sha256: change.contentSha256,
            approval_id: approval.id,
            released_by: actor.id,
            released_at: now,
          }),
        )
        .execute();
      await audit.recordChange(trx, {
        actor,
        action: 'corpus.release',
        target: `tenant/${approval.tenantId}/corpus/${change.corpus}/document/${change.documentId}`,
        tenantId: approval.tenantId,
        outcome: 'success',
        details: { ...change, approvalId: approval.id },
        event: {
          type: 'corpus.document_released',
          tenantId: approval.tenantId,
          payload: { corpus: change.corpus, document: change.documentId, approvalId: approval.id },
        },
      });
      return { result: { corpus: change.corpus, document: change.documentId, released: true }, tenants: [] };
    },
  });
  gate.onDecided((approval) => {
    if (approval.kind !== RELEASE_KIND) return;
    const change = approval.change as unknown as ReleaseChange;
    void store.invalidate(approval.tenantId, change.corpus).catch(() => undefined);
  });
}
