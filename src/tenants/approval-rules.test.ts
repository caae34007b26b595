import { describe, expect, it } from 'vitest';
import { gatedChanges } from './approval-rules.js';
import type { TenantSpec } from './manifest-schema.js';

const spec = (over: Partial<TenantSpec> = {}): TenantSpec => ({
  name: 'T',
  plan: 'pro',
  profile: 'mt-standard',
  region: 'eu-west-1',
  environments: ['prod'],
  governance: { approvals: { require: ['featureEnable', 'budgetIncrease', 'profileMove', 'policyChange'] } },
  ...over,
});
const state = (s: TenantSpec, docFlags: Record<string, boolean | string> = {}) => ({ spec: s, docFlags });

describe('which changes need approval', () => {
  it('detects each kind against effective values, in order of weight', () => {
    expect(gatedChanges(state(spec()), state(spec({ features: { beta: true } })))).toEqual({
      kinds: ['featureEnable'],
      summary: 'enable beta',
    });
    // sso is already on for pro: setting it explicitly enables nothing.
    expect(gatedChanges(state(spec()), state(spec({ features: { sso: true } }))).kinds).toEqual([]);
    // A variant string or a flag turned off is not an enable.
    expect(gatedChanges(state(spec()), state(spec({ features: { sso: false, checkout: 'v2' } }))).kinds).toEqual([]);
    // A TenantFeatures document counts too.
    expect(gatedChanges(state(spec()), state(spec(), { fromDoc: true })).summary).toBe('enable fromDoc');
    expect(gatedChanges(state(spec()), state(spec({ quotas: { maxCostPerMonthUsd: 1000 } }))).kinds).toEqual([]);
    expect(gatedChanges(state(spec()), state(spec({ quotas: { maxCostPerMonthUsd: 1001 } }))).summary).toBe(
      'raise maxCostPerMonthUsd 1000 -> 1001',
    );
    // A plan upgrade raises the effective budget.
    expect(gatedChanges(state(spec()), state(spec({ plan: 'enterprise' })))).toEqual({
      kinds: ['budgetIncrease', 'featureEnable'],
      summary: 'raise maxCostPerMonthUsd 1000 -> 20000; enable dedicatedSupport',
    });
    expect(gatedChanges(state(spec()), state(spec({ billing: { committedSpendUsd: 5 } }))).kinds).toEqual([
      'budgetIncrease',
    ]);
    expect(gatedChanges(state(spec()), state(spec({ profile: 'st-dedicated', features: { x: true } }))).kinds).toEqual([
      'profileMove',
      'featureEnable',
    ]);
    expect(gatedChanges(state(spec()), state(spec({ governance: undefined }))).kinds).toEqual(['policyChange']);
  });

  it("counts the model router's budget: raised or removed limits need budgetIncrease, lowered ones do not", () => {
    const withBudget = (monthlyUsd?: number, dailyUsd?: number) => ({
      ...state(spec()),
      routerBudget: { monthlyUsd, dailyUsd },
    });
    expect(gatedChanges(withBudget(100, 10), withBudget(200, 10))).toEqual({
      kinds: ['budgetIncrease'],
      summary: 'raise router budget.monthlyUsd 100 -> 200',
    });
    expect(gatedChanges(withBudget(100, 10), withBudget(100, undefined)).summary).toBe(
      'raise router budget.dailyUsd 10 -> unlimited',
    );
    expect(gatedChanges(withBudget(100, 10), withBudget(50, 5)).kinds).toEqual([]);
    // From no limit to a limit is a decrease.
    expect(gatedChanges(withBudget(undefined, undefined), withBudget(10, 1)).kinds).toEqual([]);
  });

  it('decides by the stored settings, never the incoming ones', () => {
    const open = spec({ governance: undefined });
    expect(gatedChanges(state(open), state(spec({ features: { beta: true } }))).kinds).toEqual([]);
    const onlyBudget = spec({ governance: { approvals: { require: ['budgetIncrease'] } } });
    expect(
      gatedChanges(state(onlyBudget), state({ ...onlyBudget, profile: 'st-dedicated', governance: undefined })).kinds,
    ).toEqual([]);
  });
});
