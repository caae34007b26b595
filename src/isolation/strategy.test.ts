import { describe, expect, it } from 'vitest';
import { PLAN_DEFAULTS } from '../tenants/index.js';
import { computePlan } from './compute-plan.js';
import { strategyFor } from './strategy.js';

const ctx = (tenantId: string, profile: 'mt-standard' | 'st-dedicated' | 'st-byoc') => ({
  tenantId,
  profile,
  region: 'eu-west-1',
  plan: 'pro',
  quotas: PLAN_DEFAULTS.pro.quotas,
});

describe('isolation strategies', () => {
  it('places a shared tenant in the shared warehouse, bucket, stream and namespace', () => {
    expect(strategyFor('mt-standard').resources(ctx('acme-corp', 'mt-standard'))).toEqual({
      strategy: 'shared',
      database: { kind: 'schema', database: 'tenancy_warehouse', schema: 't_acme_corp', role: 't_acme_corp' },
      objects: { bucket: 'shared', prefix: 'tenants/acme-corp/' },
      queue: { stream: 'jobs', subject: 'jobs.acme-corp', consumer: 'acme-corp' },
      compute: { namespace: 'tenants-shared', dedicatedNamespace: false },
    });
  });

  it('gives a dedicated tenant its own database, bucket, stream and namespace', () => {
    for (const profile of ['st-dedicated', 'st-byoc'] as const) {
      expect(strategyFor(profile).resources(ctx('acme-corp', profile))).toEqual({
        strategy: 'dedicated',
        database: { kind: 'database', database: 'warehouse_acme_corp', schema: 'public', role: 't_acme_corp' },
        objects: { bucket: 'data-acme-corp', prefix: '' },
        queue: { stream: 'jobs-acme-corp', subject: 'jobs-acme-corp.>', consumer: 'acme-corp' },
        compute: { namespace: 'tenant-acme-corp', dedicatedNamespace: true },
      });
    }
  });

  it('renders a namespace, quota, limits and default-deny policy for dedicated tenants', () => {
    const c = ctx('acme-corp', 'st-dedicated');
    const objects = computePlan(c, strategyFor('st-dedicated').resources(c)) as Array<{
      kind: string;
      metadata: { name: string; namespace?: string };
      spec?: any;
    }>;
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/tenant-acme-corp',
      'ResourceQuota/tenant-quota',
      'LimitRange/tenant-defaults',
      'NetworkPolicy/default-deny',
      'NetworkPolicy/allow-same-namespace-and-dns',
    ]);
    expect(objects[1]!.spec.hard['limits.cpu']).toBe('8000m');
    expect(objects[3]!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  it('renders a same-tenant-only policy and a quota share for shared tenants', () => {
    const c = ctx('globex', 'mt-standard');
    const objects = computePlan(c, strategyFor('mt-standard').resources(c)) as Array<{
      kind: string;
      metadata: { namespace: string };
      spec?: any;
    }>;
    expect(objects.map((o) => o.kind)).toEqual(['NetworkPolicy', 'ConfigMap']);
    expect(objects.every((o) => o.metadata.namespace === 'tenants-shared')).toBe(true);
    expect(objects[0]!.spec.podSelector).toEqual({ matchLabels: { 'tenancy.io/tenant': 'globex' } });
    expect(objects[0]!.spec.ingress).toEqual([
      { from: [{ podSelector: { matchLabels: { 'tenancy.io/tenant': 'globex' } } }] },
    ]);
  });
});
