import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TenancyError } from '../errors.js';
import { parseOrThrow, tenantIdSchema, tenantManifestSchema, TENANT_ID_PATTERN } from './manifest-schema.js';

const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/);

describe('tenant ids', () => {
  it('accepts every DNS label and nothing else', () => {
    fc.assert(fc.property(dnsLabel, (id) => tenantIdSchema.safeParse(id).success));
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const ok = s.length >= 1 && s.length <= 63 && /^[a-z]/.test(s) && /[a-z0-9]$/.test(s) && /^[a-z0-9-]+$/.test(s);
        expect(tenantIdSchema.safeParse(s).success).toBe(ok);
      }),
    );
  });

  it.each(['Acme', 'a_b', '../x', 'a'.repeat(64), '', '-a', 'a-', '9lives', 'é'])('refuses %j', (id) => {
    expect(TENANT_ID_PATTERN.test(id) && id.length <= 63).toBe(false);
  });
});

describe('manifest parsing', () => {
  const base = {
    apiVersion: 'tenancy/v1',
    kind: 'Tenant',
    metadata: { id: 'acme' },
    spec: { name: 'Acme', plan: 'pro' },
  };

  it('fills profile, region and environments defaults', () => {
    const m = parseOrThrow(tenantManifestSchema, base, 'm');
    expect(m.spec).toMatchObject({ profile: 'mt-standard', region: 'default', environments: ['prod'] });
  });

  it('reports every problem with a JSON pointer, and only TenancyErrors escape', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        try {
          parseOrThrow(tenantManifestSchema, value, 'm');
        } catch (error) {
          expect(error).toBeInstanceOf(TenancyError);
          const e = error as TenancyError;
          expect(e.status).toBe(400);
          for (const fe of e.errors ?? []) expect(fe.path === '' || fe.path.startsWith('/')).toBe(true);
        }
      }),
    );
  });

  it('escapes pointer segments', () => {
    try {
      parseOrThrow(tenantManifestSchema, { ...base, spec: { ...base.spec, 'a/b~c': 1 } }, 'm');
      expect.unreachable();
    } catch (error) {
      expect((error as TenancyError).errors).toEqual([{ path: '/spec/a~1b~0c', message: 'unknown field' }]);
    }
  });
});

describe('docs/manifests.md', () => {
  it('shows the plan table that the code applies', async () => {
    const { readFile } = await import('node:fs/promises');
    const { PLAN_DEFAULTS } = await import('./plans.js');
    const text = await readFile(new URL('../../docs/manifests.md', import.meta.url), 'utf8');
    const plans = Object.keys(PLAN_DEFAULTS) as Array<keyof typeof PLAN_DEFAULTS>;
    const row = (name: string) =>
      text
        .split('\n')
        .find((l) => l.startsWith(`| \`${name}\` |`))
        ?.split('|')
        .slice(2, -1)
        .map((c) => c.trim());
    for (const key of Object.keys(PLAN_DEFAULTS.free.quotas) as Array<keyof typeof PLAN_DEFAULTS.free.quotas>) {
      expect(row(`quotas.${key}`), key).toEqual(plans.map((p) => String(PLAN_DEFAULTS[p].quotas[key])));
    }
    for (const key of Object.keys(PLAN_DEFAULTS.free.features)) {
      expect(row(`features.${key}`), key).toEqual(plans.map((p) => String(PLAN_DEFAULTS[p].features[key])));
    }
    expect(row('config.retentionDays')).toEqual(plans.map((p) => String(PLAN_DEFAULTS[p].retentionDays)));
  });
});
