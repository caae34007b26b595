/**
 * Listing tenants: the filters of a tenant list (phase, plan, profile, region, label
 * selector, a cursor) as one query, the label selector's parser, and the count per phase.
 */
import { sql, type Kysely } from 'kysely';
import { validationError, type FieldError } from '../errors.js';
import { json } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import type { Phase } from './lifecycle.js';
import { tenantFromRow, type Tenant } from './tenant.js';

/** Filters for listing tenants. */
export interface TenantListFilter {
  phase?: Phase | undefined;
  plan?: string | undefined;
  profile?: string | undefined;
  region?: string | undefined;
  labelSelector?: LabelRequirement[] | undefined;
  /** Only this tenant (tenant-scoped callers). */
  onlyId?: string | undefined;
  includeDeleted?: boolean | undefined;
  after?: string | undefined;
  limit: number;
}

/** One term of a label selector (`k=v`, `k!=v`, `k`, `!k`). */
export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'exists' | 'absent' };

/** A page of tenants in id order; `next` is the cursor for the following page. */
export async function listTenants(
  db: Kysely<Schema>,
  filter: TenantListFilter,
): Promise<{ items: Tenant[]; next: string | null }> {
  let q = db.selectFrom('tenants').selectAll();
  if (filter.onlyId !== undefined) q = q.where('id', '=', filter.onlyId);
  if (filter.phase !== undefined) q = q.where('phase', '=', filter.phase);
  else if (!filter.includeDeleted) q = q.where('phase', '<>', 'deleted');
  if (filter.plan !== undefined) q = q.where('plan', '=', filter.plan);
  if (filter.profile !== undefined) q = q.where('profile', '=', filter.profile);
  if (filter.region !== undefined) q = q.where('region', '=', filter.region);
  for (const req of filter.labelSelector ?? []) {
    if (req.op === 'eq') q = q.where(sql<boolean>`labels @> ${json({ [req.key]: req.value })}`);
    else if (req.op === 'neq') q = q.where(sql<boolean>`not (labels @> ${json({ [req.key]: req.value })})`);
    else if (req.op === 'exists') q = q.where(sql<boolean>`labels ? ${req.key}`);
    else q = q.where(sql<boolean>`not (labels ? ${req.key})`);
  }
  if (filter.after !== undefined) q = q.where('id', '>', filter.after);
  const rows = await q
    .orderBy('id')
    .limit(filter.limit + 1)
    .execute();
  const page = rows.slice(0, filter.limit);
  const next = rows.length > filter.limit ? page[page.length - 1]!.id : null;
  return { items: page.map(tenantFromRow), next };
}

/** How many tenants are in each lifecycle phase (phases with none are left out). */
export async function countTenantsByPhase(db: Kysely<Schema>): Promise<Array<{ phase: Phase; count: number }>> {
  const rows = await db
    .selectFrom('tenants')
    .select(['phase', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('phase')
    .execute();
  return rows.map((r) => ({ phase: r.phase as Phase, count: Number(r.n) }));
}

/** The tenant's phase, or undefined when there is no such tenant (a cheap read for guards). */
export async function tenantPhase(db: Kysely<Schema>, id: string): Promise<Phase | undefined> {
  const row = await db.selectFrom('tenants').select('phase').where('id', '=', id).executeTakeFirst();
  return row?.phase as Phase | undefined;
}

/** Parse `k=v,k!=v,k,!k`; errors name the query parameter. */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  const errors: FieldError[] = [];
  const keyRe = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
  const valueRe = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
  for (const raw of text.split(',')) {
    const term = raw.trim();
    const m = /^(!)?([^=!]+)(?:(!=|==|=)(.*))?$/.exec(term);
    if (!m || (m[1] && m[3])) {
      errors.push({ path: '/query/labelSelector', message: `cannot parse "${term}" (use k=v, k!=v, k or !k)` });
      continue;
    }
    const key = m[2]!.trim();
    if (!keyRe.test(key)) {
      errors.push({ path: '/query/labelSelector', message: `"${key}" is not a label key` });
      continue;
    }
    if (m[3]) {
      const value = (m[4] ?? '').trim();
      if (!valueRe.test(value)) {
        errors.push({ path: '/query/labelSelector', message: `"${value}" is not a label value` });
        continue;
      }
      out.push({ key, op: m[3] === '!=' ? 'neq' : 'eq', value });
    } else out.push({ key, op: m[1] ? 'absent' : 'exists' });
  }
  if (errors.length > 0) throw validationError('the label selector is invalid', errors, 'invalid_query');
  return out;
}
