/**
 * Apply a bundle of manifests (a GitOps folder, or a list) all or nothing. The plan is the
 * real apply run inside one transaction; a dry run rolls it back, so the plan shown is
 * exactly what applying would do. Any invalid item or illegal transition applies nothing.
 */
import { z } from 'zod';
import { TenancyError, validationError, type FieldError } from '../errors.js';
import type { Transaction } from 'kysely';
import type { Actor } from '../governance/index.js';
import type { Schema } from '../infra/sql/index.js';
import type { FieldChange } from './json-diff.js';
import { nextPhase, type Phase } from './lifecycle.js';
import { DOCUMENT_KINDS, zodFieldErrors, tenantManifestSchema, type DocumentKind, type TenantDocument, type TenantManifest } from './manifest-schema.js';
import type { TenantRegistry } from './tenant-registry.js';

/** Most items one bundle may carry. */
export const MAX_BUNDLE_ITEMS = 1_000;

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
  .meta({ id: 'ApplyBundle', description: 'Manifests to apply together; `source` is the file path inside a GitOps folder.' });

export type Bundle = z.infer<typeof bundleSchema>;

/** What applying did (or would do) to one item. */
export interface PlanItem {
  kind: 'Tenant' | DocumentKind;
  tenant: string;
  name?: string;
  source?: string;
  action: 'create' | 'update' | 'unchanged';
  changes?: FieldChange[];
}

/** The result of an apply. */
export interface ApplyResult {
  dryRun: boolean;
  applied: boolean;
  items: PlanItem[];
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

/** Options of {@link applyBundle}. */
export interface ApplyOptions {
  committers?: Partial<Record<DocumentKind, DocumentCommitter>>;
}

class DryRunRollback extends Error {}

type ParsedItem = { index: number; source?: string; tenant: TenantManifest } | { index: number; source?: string; document: TenantDocument };

/** Parse and validate every item; throws one 400 listing every problem in the bundle. */
export function parseBundle(input: unknown): { dryRun: boolean; items: ParsedItem[] } {
  const shape = bundleSchema.safeParse(input);
  if (!shape.success) throw validationError('the bundle is invalid', zodFieldErrors(shape.error), 'invalid_bundle');
  const errors: FieldError[] = [];
  const items: ParsedItem[] = [];
  const seen = new Map<string, number>();
  shape.data.items.forEach((item, index) => {
    const prefix = ['items', index, 'manifest'];
    const m = item.manifest as { kind?: unknown } | null;
    const kind = typeof m === 'object' && m !== null ? m.kind : undefined;
    let parsed: ParsedItem | undefined;
    if (kind === 'Tenant') {
      const r = tenantManifestSchema.safeParse(item.manifest);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else parsed = { index, tenant: r.data, ...(item.source ? { source: item.source } : {}) };
    } else if (typeof kind === 'string' && kind in DOCUMENT_KINDS) {
      const r = DOCUMENT_KINDS[kind as DocumentKind].schema.safeParse(item.manifest);
      if (!r.success) errors.push(...zodFieldErrors(r.error, prefix));
      else {
        const doc: TenantDocument = { kind: kind as DocumentKind, tenant: r.data.metadata.tenant, name: r.data.metadata.name ?? 'default', spec: r.data.spec as Record<string, unknown> };
        if (item.source) doc.source = item.source;
        parsed = { index, document: doc, ...(item.source ? { source: item.source } : {}) };
      }
    } else {
      errors.push({ path: `/items/${index}/manifest/kind`, message: `must be one of Tenant, ${Object.keys(DOCUMENT_KINDS).join(', ')}` });
    }
    if (!parsed) return;
    const tenantId = 'tenant' in parsed ? parsed.tenant.metadata.id : parsed.document.tenant;
    const idPath = 'tenant' in parsed ? 'metadata/id' : 'metadata/tenant';
    if (item.source) {
      const folder = /(?:^|[\\/])tenants[\\/]([^\\/]+)[\\/]/.exec(item.source)?.[1];
      if (folder !== undefined && folder !== tenantId) {
        errors.push({ path: `/items/${index}/manifest/${idPath}`, message: `tenant id "${tenantId}" disagrees with its folder tenants/${folder}/ (${item.source})` });
      }
    }
    const key = 'tenant' in parsed ? `Tenant/${tenantId}` : `${parsed.document.kind}/${tenantId}/${parsed.document.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      errors.push({ path: `/items/${index}/manifest/${idPath}`, message: `duplicate ${key} (first at /items/${first})` });
      return;
    }
    seen.set(key, index);
    items.push(parsed);
  });
  if (errors.length > 0) throw validationError(`the bundle has ${errors.length} invalid field(s); nothing was applied`, errors, 'invalid_bundle');
  return { dryRun: shape.data.dryRun, items };
}

/** Apply (or plan) a bundle in one transaction. */
export async function applyBundle(registry: TenantRegistry, actor: Actor, input: unknown, options: ApplyOptions = {}): Promise<ApplyResult> {
  const { dryRun, items } = parseBundle(input);
  const plan: PlanItem[] = [];
  const touched = new Set<string>();
  // Documents with their own pipeline are checked before the transaction; any refusal applies nothing.
  const prepared = new Map<number, unknown>();
  const refusals: TenancyError[] = [];
  const refusedPaths: FieldError[] = [];
  for (const item of items) {
    if (!('document' in item)) continue;
    const committer = options.committers?.[item.document.kind];
    if (!committer) continue;
    const bundled = items.find((i) => 'tenant' in i && i.tenant.metadata.id === item.document.tenant);
    try {
      prepared.set(item.index, await committer.prepare(item.document, bundled && 'tenant' in bundled ? (bundled.tenant.spec as Record<string, unknown>) : undefined));
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      refusals.push(error);
      const base = `/items/${item.index}/manifest/spec`;
      for (const e of error.errors ?? [{ path: '', message: error.detail }]) refusedPaths.push({ path: e.path === '/name' ? `/items/${item.index}/manifest/metadata/name` : `${base}${e.path}`, message: e.message });
    }
  }
  if (refusals.length > 0) {
    const first = refusals[0]!;
    throw new TenancyError(first.code, first.status, `${refusals.length} document(s) of the bundle were refused (first: ${first.detail}); nothing was applied`, { errors: refusedPaths, extensions: first.extensions });
  }
  const committedTenants = new Set<string>();
  try {
    await registry.db.transaction().execute(async (trx) => {
      const errors: FieldError[] = [];
      const bundleTenants = new Set(items.flatMap((i) => ('tenant' in i ? [i.tenant.metadata.id] : [])));
      for (const item of items) {
        if (!('tenant' in item)) continue;
        const id = item.tenant.metadata.id;
        const exists = await trx.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst();
        try {
          if (!exists) {
            await registry.insertTenant(trx, actor, item.tenant);
            plan.push({ kind: 'Tenant', tenant: id, action: 'create', ...(item.source ? { source: item.source } : {}) });
            touched.add(id);
          } else {
            const { changes } = await registry.replaceSpec(trx, actor, item.tenant);
            plan.push({ kind: 'Tenant', tenant: id, action: changes.length > 0 ? 'update' : 'unchanged', ...(changes.length > 0 ? { changes } : {}), ...(item.source ? { source: item.source } : {}) });
            if (changes.length > 0) touched.add(id);
          }
        } catch (error) {
          if (!(error instanceof TenancyError)) throw error;
          errors.push({ path: `/items/${item.index}`, message: error.detail });
        }
      }
      for (const item of items) {
        if (!('document' in item)) continue;
        const doc = item.document;
        const row = await trx.selectFrom('tenants').select('phase').where('id', '=', doc.tenant).executeTakeFirst();
        if (!row) {
          if (!bundleTenants.has(doc.tenant)) errors.push({ path: `/items/${item.index}/manifest/metadata/tenant`, message: `tenant ${doc.tenant} does not exist and is not in the bundle` });
          continue;
        }
        try {
          nextPhase('update', row.phase as Phase, doc.tenant);
        } catch (error) {
          if (!(error instanceof TenancyError)) throw error;
          errors.push({ path: `/items/${item.index}`, message: error.detail });
          continue;
        }
        const committer = options.committers?.[doc.kind];
        if (committer) {
          const action = await committer.commit(trx, actor, prepared.get(item.index));
          plan.push({ kind: doc.kind, tenant: doc.tenant, name: doc.name, action, ...(item.source ? { source: item.source } : {}) });
          if (action !== 'unchanged') committedTenants.add(doc.tenant);
          continue;
        }
        const { created, updated } = await registry.putDocuments(trx, actor, doc.tenant, [doc]);
        plan.push({ kind: doc.kind, tenant: doc.tenant, name: doc.name, action: created > 0 ? 'create' : updated > 0 ? 'update' : 'unchanged', ...(item.source ? { source: item.source } : {}) });
        if (created + updated > 0) touched.add(doc.tenant);
      }
      if (errors.length > 0) {
        throw new TenancyError('apply_conflict', 409, `${errors.length} item(s) cannot be applied in the tenants' current state; nothing was applied`, { errors });
      }
      if (dryRun) throw new DryRunRollback();
    });
  } catch (error) {
    if (!(error instanceof DryRunRollback)) throw error;
    return { dryRun: true, applied: false, items: plan };
  }
  for (const id of touched) registry.notify(id);
  if (committedTenants.size > 0) for (const c of Object.values(options.committers ?? {})) c?.committed?.([...committedTenants]);
  return { dryRun: false, applied: true, items: plan };
}
