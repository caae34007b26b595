import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TenancyError } from '../errors.js';
import { inRollout, resolveFeatureFlags, rolloutBucket } from './feature-flags.js';
import { parseOrThrow, tenantManifestSchema, featuresDocumentSchema } from './manifest-schema.js';
import { PLAN_DEFAULTS } from './plans.js';

const tenantId = fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/);

describe('percentage rollouts', () => {
  it('place a tenant by a stable hash: same answer every time, and a tenant inside stays inside as the percentage grows', () => {
    fc.assert(
      fc.property(
        tenantId,
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (id, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          expect(inRollout('newEditor', id, lo)).toBe(inRollout('newEditor', id, lo));
          if (inRollout('newEditor', id, lo)) expect(inRollout('newEditor', id, hi)).toBe(true);
        },
      ),
    );
    expect(inRollout('x', 'acme', 0)).toBe(false);
    expect(inRollout('x', 'acme', 100)).toBe(true);
  });

  it('give about the percentage of tenants, and a different seed picks different tenants', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `tenant-${i}`);
    const inside = ids.filter((id) => inRollout('newEditor', id, 25));
    expect(inside.length / ids.length).toBeGreaterThan(0.22);
    expect(inside.length / ids.length).toBeLessThan(0.28);
    const other = new Set(ids.filter((id) => inRollout('other-seed', id, 25)));
    const overlap = inside.filter((id) => other.has(id)).length / inside.length;
    expect(overlap).toBeGreaterThan(0.15);
    expect(overlap).toBeLessThan(0.35);
    expect(rolloutBucket('newEditor', 'acme')).toBeGreaterThanOrEqual(0);
    expect(rolloutBucket('newEditor', 'acme')).toBeLessThan(10_000);
  });
});

describe('resolveFeatureFlags', () => {
  const plan = PLAN_DEFAULTS.pro.features;
  const insider = Array.from({ length: 200 }, (_, i) => `t-${i}`).find((id) => inRollout('beta', id, 50))!;
  const outsider = Array.from({ length: 200 }, (_, i) => `t-${i}`).find((id) => !inRollout('beta', id, 50))!;

  it('layers plan < manifest < document, with reasons and sources', () => {
    const { features, flags } = resolveFeatureFlags('acme', plan, { sso: false, theme: 'dark' }, { theme: 'light' });
    expect(features).toMatchObject({ sso: false, theme: 'light', auditExport: true });
    expect(flags.auditExport).toEqual({ value: true, reason: 'STATIC', variant: 'plan', source: 'plan' });
    expect(flags.sso).toEqual({ value: false, reason: 'TARGETING_MATCH', variant: 'tenant', source: 'manifest' });
    expect(flags.theme).toEqual({ value: 'light', reason: 'TARGETING_MATCH', variant: 'tenant', source: 'document' });
  });

  it('a rollout gives SPLIT inside; outside, the layer below (DEFAULT) or false, or an explicit otherwise (SPLIT)', () => {
    expect(resolveFeatureFlags(insider, plan, { beta: { rollout: 50 } }).flags.beta).toEqual({
      value: true,
      reason: 'SPLIT',
      variant: 'rollout-in',
      source: 'manifest',
    });
    expect(resolveFeatureFlags(outsider, plan, { beta: { rollout: 50 } }).flags.beta).toEqual({
      value: false,
      reason: 'DEFAULT',
      variant: 'default',
      source: 'manifest',
    });
    expect(
      resolveFeatureFlags(outsider, { ...plan, beta: true }, { beta: { rollout: 50, value: false } }).flags.beta,
    ).toEqual({ value: true, reason: 'DEFAULT', variant: 'default', source: 'plan' });
    expect(
      resolveFeatureFlags(outsider, plan, {}, { beta: { rollout: 50, value: 'v2', otherwise: 'v1' } }).flags.beta,
    ).toEqual({ value: 'v1', reason: 'SPLIT', variant: 'rollout-out', source: 'document' });
    const noValue = resolveFeatureFlags(outsider, plan, { beta: { rollout: 50, value: 'v2' } });
    expect(noValue.flags.beta).toEqual({ reason: 'DEFAULT', variant: 'default', source: 'manifest' });
    expect(noValue.features).not.toHaveProperty('beta');
  });
});

describe('rollouts in manifests', () => {
  const manifest = (features: unknown) => ({
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id: 'acme' },
    spec: { name: 'Acme', plan: 'pro', features },
  });
  const errorsOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return (error as TenancyError).errors;
    }
    throw new Error('accepted');
  };

  it('accepts values and rollouts', () => {
    const m = parseOrThrow(
      tenantManifestSchema,
      manifest({
        a: true,
        b: 'x',
        c: { rollout: 12.5 },
        d: { rollout: 50, value: 'v2', otherwise: 'v1', seed: 'd-2026' },
      }),
      'the manifest',
    );
    expect(m.spec.features?.c).toEqual({ rollout: 12.5 });
  });

  it('refuses bad rollout specs with a JSON pointer to the field', () => {
    expect(
      errorsOf(() => parseOrThrow(tenantManifestSchema, manifest({ a: { rollout: 150 } }), 'the manifest')),
    ).toEqual([{ path: '/spec/features/a/rollout', message: 'must be a percentage 0..100' }]);
    expect(
      errorsOf(() => parseOrThrow(tenantManifestSchema, manifest({ a: { rollout: '10' } }), 'the manifest')),
    ).toEqual([
      { path: '/spec/features/a', message: 'must be true, false, a string, or a rollout such as { rollout: 25 }' },
    ]);
    expect(
      errorsOf(() => parseOrThrow(tenantManifestSchema, manifest({ a: { rollout: 10, bogus: 1 } }), 'the manifest')),
    ).toEqual([{ path: '/spec/features/a/bogus', message: 'unknown field' }]);
    expect(
      errorsOf(() =>
        parseOrThrow(
          tenantManifestSchema,
          manifest({ a: { rollout: 10, value: 'x', otherwise: false } }),
          'the manifest',
        ),
      ),
    ).toEqual([{ path: '/spec/features/a/otherwise', message: 'must have the same type as value' }]);
    expect(
      errorsOf(() =>
        parseOrThrow(tenantManifestSchema, manifest({ a: { rollout: 10, seed: 'has space' } }), 'the manifest'),
      ),
    ).toEqual([{ path: '/spec/features/a/seed', message: 'must be 1..64 letters, digits, ".", "_", "-"' }]);
    expect(errorsOf(() => parseOrThrow(tenantManifestSchema, manifest({ a: 5 }), 'the manifest'))).toEqual([
      { path: '/spec/features/a', message: 'must be true, false, a string, or a rollout such as { rollout: 25 }' },
    ]);
    const doc = {
      apiVersion: 'tenancy/v1',
      kind: 'TenantFeatures',
      metadata: { tenant: 'acme' },
      spec: { flags: { a: { rollout: -1 } } },
    };
    expect(errorsOf(() => parseOrThrow(featuresDocumentSchema, doc, 'the document'))).toEqual([
      { path: '/spec/flags/a/rollout', message: 'must be a percentage 0..100' },
    ]);
  });
});
