/**
 * Cross-tenant policy conflicts. Two tenants conflict in a domain and use case when their
 * active (stable) policies there decide the same request oppositely. The requests tried
 * are the shapes both tenants recorded: each tenant's samples (recorded, and those in its
 * policies) are decided under both tenants' policy sets, in the sandbox (a tenant's
 * sample never runs unbounded against another tenant's rules): one run per domain and
 * use case, every tenant's requests under every tenant's policies.
 */
import type { Kysely, SelectQueryBuilder } from 'kysely';
import type { Schema } from '../../schema.js';
import type { Decision } from './policy-engine.js';
import { DEFAULT_SANDBOX_LIMITS, runSandbox, type SandboxLimits } from './policy-sandbox.js';
import type { PolicyBody } from './policy-schema.js';

/** Two tenants whose active policies decide the same request oppositely. */
export interface PolicyConflict {
  tenants: [string, string];
  domainId: string;
  usecaseId: string;
  /** The deciding rules, `<policy>/<rule>` of the first tenant, then of the second (`default` when no rule matched). */
  rule: string;
  /** What differs, naming the sample request and each side's decision. */
  detail: string;
}

interface ActivePolicy {
  tenantId: string;
  name: string;
  body: PolicyBody;
}

/**
 * Conflicts among active policies, optionally only those involving `tenantId`. One
 * conflict is reported per tenant pair and namespace (the first differing request).
 */
export async function findPolicyConflicts(
  database: { db: Kysely<Schema> } | Kysely<Schema>,
  opts: {
    /** The tenants whose policies count: a subquery of ids the tenants module gives (`liveTenantIds`). */
    liveTenantIds: SelectQueryBuilder<Schema, keyof Schema, { id: string }>;
    tenantId?: string;
    sandbox?: SandboxLimits;
  },
): Promise<PolicyConflict[]> {
  const db = 'db' in database && !('selectFrom' in database) ? database.db : (database as Kysely<Schema>);
  let q = db
    .selectFrom('policy_heads as h')
    .innerJoin('policy_versions as v', (j) =>
      j
        .onRef('v.tenant_id', '=', 'h.tenant_id')
        .onRef('v.name', '=', 'h.name')
        .onRef('v.version', '=', 'h.stable_version'),
    )
    .select(['h.tenant_id', 'h.name', 'h.domain_id', 'h.usecase_id', 'v.body'])
    .where('h.tenant_id', 'in', opts.liveTenantIds);
  if (opts.tenantId !== undefined) {
    const mine = db.selectFrom('policy_heads').select(['domain_id']).where('tenant_id', '=', opts.tenantId);
    q = q.where('h.domain_id', 'in', mine);
  }
  const rows = await q
    .orderBy('h.domain_id')
    .orderBy('h.usecase_id')
    .orderBy('h.tenant_id')
    .orderBy('h.name')
    .execute();
  const namespaces = new Map<string, Map<string, ActivePolicy[]>>();
  for (const r of rows) {
    const ns = `${r.domain_id}/${r.usecase_id}`;
    const byTenant = namespaces.get(ns) ?? new Map<string, ActivePolicy[]>();
    const list = byTenant.get(r.tenant_id) ?? [];
    list.push({ tenantId: r.tenant_id, name: r.name, body: r.body as unknown as PolicyBody });
    byTenant.set(r.tenant_id, list);
    namespaces.set(ns, byTenant);
  }
  const out: PolicyConflict[] = [];
  for (const [ns, byTenant] of namespaces) {
    const [domainId, usecaseId] = ns.split('/') as [string, string];
    const tenants = [...byTenant.keys()];
    if (tenants.length < 2) continue;
    const samples = new Map<string, Array<{ name: string; request: Record<string, unknown> }>>();
    for (const tenantId of tenants) {
      const recorded = await db
        .selectFrom('policy_samples')
        .select(['name', 'request'])
        .where('tenant_id', '=', tenantId)
        .where('domain_id', '=', domainId)
        .where('usecase_id', '=', usecaseId)
        .orderBy('name')
        .execute();
      const own = byTenant
        .get(tenantId)!
        .flatMap((p) => (p.body.samples ?? []).map((s) => ({ name: `${p.name}/${s.name}`, request: s.request })));
      samples.set(tenantId, [...own, ...recorded.map((r) => ({ name: r.name, request: r.request }))]);
    }
    // One sandbox run per namespace: every tenant's requests under every tenant's policies.
    const policies = tenants.flatMap((t) => byTenant.get(t)!);
    const requests = tenants.flatMap((t) => samples.get(t)!.map((s) => ({ ...s, owner: t })));
    if (requests.length === 0) continue;
    const outcome = await runSandbox(
      policies.map((p) => ({
        fields: p.body.fields,
        defaultEffect: p.body.defaultEffect ?? 'deny',
        rules: p.body.rules,
      })),
      requests.map((r) => r.request),
      opts.sandbox ?? DEFAULT_SANDBOX_LIMITS,
    );
    if (!outcome.ok) continue;
    const offsets = new Map<string, number>();
    let offset = 0;
    for (const t of tenants) {
      offsets.set(t, offset);
      offset += byTenant.get(t)!.length;
    }
    const answer = (tenant: string, r: number) => {
      const own = byTenant.get(tenant)!;
      const start = offsets.get(tenant)!;
      return combine(own, outcome.results[r]!.slice(start, start + own.length));
    };
    for (let i = 0; i < tenants.length; i++) {
      for (let j = i + 1; j < tenants.length; j++) {
        const a = tenants[i]!;
        const b = tenants[j]!;
        if (opts.tenantId !== undefined && a !== opts.tenantId && b !== opts.tenantId) continue;
        for (let r = 0; r < requests.length; r++) {
          const req = requests[r]!;
          if (req.owner !== a && req.owner !== b) continue;
          const da = answer(a, r);
          const db2 = answer(b, r);
          if (da.decision === db2.decision) continue;
          out.push({
            tenants: [a, b],
            domainId,
            usecaseId,
            rule: `${da.policy}/${da.rule ?? 'default'} vs ${db2.policy}/${db2.rule ?? 'default'}`,
            detail: `sample ${req.name} of ${req.owner}: ${a} decides ${da.decision} (${da.policy}/${da.rule ?? 'default'}), ${b} decides ${db2.decision} (${db2.policy}/${db2.rule ?? 'default'})`,
          });
          break;
        }
      }
    }
  }
  return out;
}

/** A tenant's combined answer: a deny from any policy decides, else the first policy's allow. */
function combine(
  policies: ActivePolicy[],
  decisions: Decision[],
): { decision: 'allow' | 'deny'; policy: string; rule: string | null } {
  const i = Math.max(
    0,
    decisions.findIndex((d) => d.decision === 'deny'),
  );
  return { decision: decisions[i]!.decision, policy: policies[i]!.name, rule: decisions[i]!.rule };
}
