import { describe, expect, it } from 'vitest';
import { readRouterSpec, routerDocumentSpecSchema } from './router-spec.js';

describe('TenantRouter spec', () => {
  it('reads the first shape (defaultModel, budgetUsdPerMonth) as the current one', () => {
    const spec = readRouterSpec({
      defaultModel: 'small-fast',
      budgetUsdPerMonth: 5000,
      routes: [{ match: { task: 'code' }, model: 'large-reasoning' }],
    });
    expect(spec).toMatchObject({
      primary: { model: 'small-fast' },
      fallback: [],
      budget: { monthlyUsd: 5000 },
      routes: [{ match: { task: 'code' }, model: 'large-reasoning' }],
    });
  });

  it('fills defaults and refuses unknown fields, empty matches and bad shares with paths', () => {
    const spec = readRouterSpec({ primary: { model: 'm' }, budget: { dailyUsd: 1, circuitBreaker: {} } });
    expect(spec?.budget?.circuitBreaker).toEqual({ threshold: 0.8, action: 'downgrade_to_fallback' });
    const bad = routerDocumentSpecSchema.safeParse({
      primary: { model: 'm', colour: 'red' },
      routes: [{ match: {}, model: 'x' }],
      budget: { circuitBreaker: { threshold: 2, action: 'panic' } },
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('/'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'primary',
        'routes/0/match',
        'budget/circuitBreaker/threshold',
        'budget/circuitBreaker/action',
      ]),
    );
    expect(readRouterSpec({ nothing: true })).toBeUndefined();
  });
});
