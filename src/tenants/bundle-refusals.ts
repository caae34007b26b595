/**
 * The refusals of a bundle, each collected over every item so one answer names them all:
 * documents their own pipeline refuses (checked before the transaction), data-sovereignty
 * violations of the tenants the bundle touched, and a bundle an approval cannot hold as
 * one unit. Any of them applies nothing.
 */
import type { Transaction } from 'kysely';
import { TenancyError, toPointer, type FieldError } from '../errors.js';
import {
  evaluateSovereignty,
  sovereigntyRefusal,
  type ApprovalKind,
  type SovereigntyViolation,
} from '../governance/index.js';
import type { Schema } from '../schema.js';
import type { Committers, ParsedItem } from './bundle-schema.js';
import type { TenantSpec } from './manifest-schema.js';
import { sovereigntyFacts, SOVEREIGNTY_SPEC_PATH, type TenantRegistry } from './tenant-registry.js';

/** A tenant's changes that wait for an approver, with its spec before the bundle. */
export interface GatedTenant {
  kinds: ApprovalKind[];
  summary: string;
  spec: TenantSpec;
}

/**
 * Run each committer's `prepare` on its documents (with the bundle's spec of their tenant);
 * the prepared values by item index, or one refusal listing every refused document.
 */
export async function prepareDocuments(
  items: ParsedItem[],
  committers: Committers | undefined,
): Promise<Map<number, unknown>> {
  const prepared = new Map<number, unknown>();
  const refusals: TenancyError[] = [];
  const refusedPaths: FieldError[] = [];
  for (const item of items) {
    if (!('document' in item)) continue;
    const committer = committers?.[item.document.kind];
    if (!committer) continue;
    const bundled = items.find((i) => 'tenant' in i && i.tenant.metadata.id === item.document.tenant);
    try {
      prepared.set(
        item.index,
        await committer.prepare(
          item.document,
          bundled && 'tenant' in bundled ? (bundled.tenant.spec as Record<string, unknown>) : undefined,
        ),
      );
    } catch (error) {
      if (!(error instanceof TenancyError)) throw error;
      refusals.push(error);
      const base = `/items/${item.index}/manifest/spec`;
      for (const e of error.errors ?? [{ path: '', message: error.detail }])
        refusedPaths.push({
          path: e.path === '/name' ? `/items/${item.index}/manifest/metadata/name` : `${base}${e.path}`,
          message: e.message,
        });
    }
  }
  if (refusals.length > 0) {
    const first = refusals[0]!;
    throw new TenancyError(
      first.code,
      `${refusals.length} document(s) of the bundle were refused (first: ${first.detail}); nothing was applied`,
      { status: first.status, errors: refusedPaths, extensions: first.extensions },
    );
  }
  return prepared;
}

/**
 * Data sovereignty: every touched tenant's final spec (read in `trx`) against its final
 * rules; a move when its region changed from `before`. Refuses with every violation, each
 * pointing at the bundle item that caused it.
 */
export async function assertSovereign(
  trx: Transaction<Schema>,
  registry: TenantRegistry,
  items: ParsedItem[],
  touched: ReadonlySet<string>,
  before: ReadonlyMap<string, { spec: TenantSpec }>,
): Promise<void> {
  const violations: Array<{ tenant: string; v: SovereigntyViolation }> = [];
  const rulesOf = await registry.sovereigntyRulesOf(trx, [...touched]);
  for (const [id, rules] of rulesOf) {
    const row = await trx.selectFrom('tenants').select('spec').where('id', '=', id).executeTakeFirstOrThrow();
    const spec = row.spec as unknown as TenantSpec;
    const previous = before.get(id);
    const operation = previous && previous.spec.region !== spec.region ? 'move' : 'provision';
    for (const r of rules)
      for (const v of evaluateSovereignty(r, { operation, facts: sovereigntyFacts(spec) }))
        violations.push({ tenant: id, v });
  }
  if (violations.length === 0) return;
  const pathOf = (tenant: string, v: SovereigntyViolation): string => {
    const tenantItem = items.find((i) => 'tenant' in i && i.tenant.metadata.id === tenant);
    if (tenantItem) return toPointer(['items', tenantItem.index, 'manifest', ...SOVEREIGNTY_SPEC_PATH[v.field]]);
    const docItem = items.find(
      (i) => 'document' in i && i.document.tenant === tenant && i.document.kind === 'DataSovereignty',
    );
    if (docItem) return `${toPointer(['items', docItem.index, 'manifest'])}${v.rule}`;
    return '/items';
  };
  const refusal = sovereigntyRefusal(
    violations.map((x) => x.v),
    (v) => pathOf(violations.find((x) => x.v === v)!.tenant, v),
    'the bundle',
  );
  throw new TenancyError(refusal.code, `${refusal.detail}; nothing was applied`, {
    status: refusal.status,
    errors: refusal.errors ?? [],
    extensions: refusal.extensions,
  });
}

/**
 * The one tenant whose gated changes the bundle's approval holds. Refuses with
 * `approval_split_required` when gated changes span tenants, or when the bundle also holds
 * documents committed through their own pipeline (that pipeline cannot run later, inside
 * the approval's transaction).
 */
export function approvalTenant(
  gated: ReadonlyMap<string, GatedTenant>,
  items: ParsedItem[],
  committers: Committers | undefined,
): [string, GatedTenant] {
  const [first, ...others] = [...gated.entries()];
  if (others.length > 0) {
    throw new TenancyError(
      'approval_split_required',
      `the bundle changes tenants ${[first![0], ...others.map((o) => o[0])].join(', ')} in ways their governance puts behind approvals; apply each of those tenants in its own bundle`,
      {
        errors: [first!, ...others].map(([t, g]) => ({ path: '/items', message: `tenant ${t}: ${g.summary}` })),
      },
    );
  }
  const own = items.filter((i) => 'document' in i && committers?.[i.document.kind]);
  if (own.length > 0) {
    // An approved bundle is applied later, inside the approval's transaction, where a
    // document's own pipeline (the policy sandbox) cannot run: keep those apart.
    throw new TenancyError(
      'approval_split_required',
      `the bundle changes tenant ${first![0]} in ways its governance puts behind an approval, and also holds documents committed through their own pipeline (${[...new Set(own.map((i) => ('document' in i ? i.document.kind : '')))].join(', ')}); apply those in a bundle of their own`,
      {
        errors: own.map((i) => ({
          path: `/items/${i.index}`,
          message: 'apply this document in a bundle of its own',
        })),
      },
    );
  }
  return first!;
}
