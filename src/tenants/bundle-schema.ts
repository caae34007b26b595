/**
 * A bundle of manifests as it arrives (a GitOps folder, or a list): its schema, its parsed
 * and validated items, the plan line each item yields, and the interface of a document kind
 * committed through its own pipeline. Parsing lists every problem of the bundle at once.
 */
import type { Transaction } from 'kysely';
import { z } from 'zod';
import { validationError, type FieldError } from '../errors.js';
import type { ApprovalKind } from '../governance/index.js';
import type { Actor } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { FieldChange } from './json-diff.js';
import { fromOpenSlo } from '../slo/slo-schema.js';
import {
  DOCUMENT_KINDS,
  zodFieldErrors,
  tenantManifestSchema,
  type DocumentKind,
  type TenantDocument,
  type TenantManifest,
} from './manifest-schema.js';

/** Most items one bundle may carry. */
export const MAX_BUNDLE_ITEMS = 1_000;

/** The request body of a bundle apply. */
export const bundleSchema = z
  .strictObject({
    dryRun: z.boolean().default(false),
    items: z
      .array(
        z.strictObject({
          source: z.string().min(1).max(1024).optional(),
          manifest: z.unknown(),
        }),
      )
      .min(1, 'a bundle needs at least one item')
      .max(MAX_BUNDLE_ITEMS, `a bundle holds at most ${MAX_BUNDLE_ITEMS} items`),
  })
  .meta({
    id: 'ApplyBundle',
    description: 'Manifests to apply together; `source` is the file path inside a GitOps folder.',
  });

/** A bundle as its schema parsed it. */
export type Bundle = z.infer<typeof bundleSchema>;

/** What applying did (or would do) to one item. */
export interface PlanItem {
  kind: 'Tenant' | DocumentKind;
  tenant: string;
  name?: string;
  source?: string;
  action: 'create' | 'update' | 'unchanged';
  changes?: FieldChange[];
  /** Kinds of change that wait for an approver (the bundle was stored as an approval, not applied). */
  approvalRequired?: ApprovalKind[];
}

/**
 * Commits one kind of document through its own pipeline instead of storing it as a plain
 * folder document (`TenantPolicy` goes through the policy service's four stages).
 * `prepare` runs before the bundle's transaction (it may be slow: the sandbox) and throws
 * a `TenancyError` when the document is refused; `commit` runs inside the transaction.
 */
export interface DocumentCommitter {
  prepare(doc: TenantDocument, tenantSpec: Record<string, unknown> | undefined): Promise<unknown>;
  commit(trx: Transaction<Schema>, actor: Actor, prepared: unknown): Promise<'create' | 'update' | 'unchanged'>;
  /** Called after the bundle committed, with the tenants whose documents it committed. */
  committed?(tenantIds: string[]): void;
}

/** The document kinds a bundle commits through their own pipeline, with their committers. */
export type Committers = Partial<Record<DocumentKind, DocumentCommitter>>;

/** One validated bundle item. */
export type ParsedItem =
  | { index: number; source?: string; tenant: TenantManifest }
  | { index: number; source?: string; document: TenantDocument };

/** Parse and validate every item; throws one 400 listing every problem in the bundle. */
export function parseBundle(input: unknown): { dryRun: boolean; items: ParsedItem[]; bundle: Bundle } {
  const shape = bundleSchema.safeParse(input);
  if (!shape.success) throw validationError('the bundle is invalid', zodFieldErrors(shape.error), 'invalid_bundle');
  const errors: FieldError[] = [];
  const items: ParsedItem[] = [];
  const seen = new Map<string, number>();
  shape.data.items.forEach((item, index) => {
    const prefix = ['items', index, 'manifest'];
    let m = item.manifest as { kind?: unknown; apiVersion?: unknown } | null;
    if (typeof m === 'object' && m !== null && m.apiVersion === 'openslo/v1') {
      // OpenSLO v1: an SLO read into Tenancy's shape; its tenant from a label or its folder.
      if (m.kind !== 'SLO') {
        errors.push({ path: `/items/${index}/manifest/kind`, message: 'of OpenSLO v1, only kind SLO is read' });
        return;
      }
      const converted = fromOpenSlo(m as Record<string, unknown>);
      const folder = item.source ? /(?:^|[\\/])tenants[\\/]([^\\/]+)[\\/]/.exec(item.source)?.[1] : undefined;
      m = {
        apiVersion: 'tenancy/v1',
        kind: 'SLO',
        metadata: { tenant: converted.tenant ?? folder, name: converted.name },
        spec: converted.spec,
      } as typeof m;
    }
    const kind = typeof m === 'object' && m !== null ? m.kind : undefined;
    let parsed: ParsedItem | undefined;
    if (kind === 'Tenant') {
      const r = tenantManifestSchema.safeParse(m);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else parsed = { index, tenant: r.data, ...(item.source ? { source: item.source } : {}) };
    } else if (typeof kind === 'string' && kind in DOCUMENT_KINDS) {
      const r = DOCUMENT_KINDS[kind as DocumentKind].schema.safeParse(m);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else {
        const doc: TenantDocument = {
          kind: kind as DocumentKind,
          tenant: r.data.metadata.tenant,
          name: r.data.metadata.name ?? 'default',
          spec: r.data.spec as Record<string, unknown>,
        };
        if (item.source) doc.source = item.source;
        parsed = { index, document: doc, ...(item.source ? { source: item.source } : {}) };
      }
    } else {
      errors.push({
        path: `/items/${index}/manifest/kind`,
        message: `must be one of Tenant, ${Object.keys(DOCUMENT_KINDS).join(', ')}`,
      });
    }
    if (!parsed) return;
    const tenantId = 'tenant' in parsed ? parsed.tenant.metadata.id : parsed.document.tenant;
    const idPath = 'tenant' in parsed ? 'metadata/id' : 'metadata/tenant';
    if (item.source) {
      const folder = /(?:^|[\\/])tenants[\\/]([^\\/]+)[\\/]/.exec(item.source)?.[1];
      if (folder !== undefined && folder !== tenantId) {
        errors.push({
          path: `/items/${index}/manifest/${idPath}`,
          message: `tenant id "${tenantId}" disagrees with its folder tenants/${folder}/ (${item.source})`,
        });
      }
    }
    const key =
      'tenant' in parsed ? `Tenant/${tenantId}` : `${parsed.document.kind}/${tenantId}/${parsed.document.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push({
        path: `/items/${index}/manifest/${idPath}`,
        message: `duplicate ${key} (first at /items/${first})`,
      });
      return;
    }
    seen.set(key, index);
    items.push(parsed);
  });
  if (errors.length > 0)
    throw validationError(
      `the bundle has ${errors.length} invalid field(s); nothing was applied`,
      errors,
      'invalid_bundle',
    );
  return { dryRun: shape.data.dryRun, items, bundle: shape.data };
}
