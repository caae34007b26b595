import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  atRestLevelOf,
  evaluateSovereignty,
  sovereigntySpecSchema,
  transitViolations,
  type SovereigntyFacts,
} from './sovereignty.js';

const facts = (over: Partial<SovereigntyFacts> = {}): SovereigntyFacts => ({
  region: 'eu-west-1',
  profile: 'mt-standard',
  encryption: 'standard',
  keyRotationDays: 90,
  ...over,
});
const paths = (r: ReturnType<typeof sovereigntySpecSchema.safeParse>) =>
  r.success ? [] : r.error.issues.map((i) => i.path.join('/'));

describe('data-sovereignty rules', () => {
  it('accepts the documented fields and refuses malformed globs, negative days and unknown fields with their paths', () => {
    expect(
      sovereigntySpecSchema.safeParse({
        region: 'eu-west-1',
        allowedRegions: ['eu-*'],
        forbiddenRegions: ['cn-*', 'ru-{east,west}-?'],
        retention: { logsDays: 30, dataDays: 365, backupsDays: 90 },
        encryption: { atRest: 'tenant-key', inTransit: true, keyRotationDays: 30 },
      }).success,
    ).toBe(true);
    expect(paths(sovereigntySpecSchema.safeParse({ forbiddenRegions: ['cn-['] }))).toEqual(['forbiddenRegions/0']);
    expect(paths(sovereigntySpecSchema.safeParse({ allowedRegions: ['EU West'] }))).toEqual(['allowedRegions/0']);
    expect(paths(sovereigntySpecSchema.safeParse({ retention: { dataDays: -1 } }))).toEqual(['retention/dataDays']);
    expect(paths(sovereigntySpecSchema.safeParse({ encryption: { atRest: 'rot13' } }))).toEqual(['encryption/atRest']);
    expect(paths(sovereigntySpecSchema.safeParse({ retension: {} }))).toEqual(['']);
    expect(paths(sovereigntySpecSchema.safeParse({ region: 'cn-north-1', forbiddenRegions: ['cn-*'] }))).toEqual([
      'region',
    ]);
    expect(paths(sovereigntySpecSchema.safeParse({ region: 'us-east-1', allowedRegions: ['eu-*'] }))).toEqual([
      'region',
    ]);
  });

  it('never throws on arbitrary glob text: it is valid or a field error', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 70 }), (g) => {
        const r = sovereigntySpecSchema.safeParse({ forbiddenRegions: [g] });
        if (!r.success) expect(r.error.issues[0]!.path).toEqual(['forbiddenRegions', 0]);
      }),
    );
  });

  it('refuses forbidden and not-allowed regions for provision and move', () => {
    const rules = { allowedRegions: ['eu-*', 'us-east-1'], forbiddenRegions: ['eu-east-*'] };
    expect(evaluateSovereignty(rules, { operation: 'provision', facts: facts() })).toEqual([]);
    expect(evaluateSovereignty(rules, { operation: 'move', facts: facts({ region: 'us-east-1' }) })).toEqual([]);
    const forbidden = evaluateSovereignty(rules, { operation: 'move', facts: facts({ region: 'eu-east-2' }) });
    expect(forbidden).toEqual([
      expect.objectContaining({ code: 'sovereignty_violation', field: 'region', rule: '/spec/forbiddenRegions/0' }),
    ]);
    const outside = evaluateSovereignty(rules, { operation: 'provision', facts: facts({ region: 'ap-south-1' }) });
    expect(outside).toEqual([expect.objectContaining({ code: 'sovereignty_violation', rule: '/spec/allowedRegions' })]);
  });

  it('refuses deleting data younger than its retention, per class', () => {
    const rules = { retention: { dataDays: 30, logsDays: 7 } };
    const now = new Date('2026-03-01T00:00:00Z');
    const young = new Date('2026-02-20T00:00:00Z');
    expect(evaluateSovereignty(rules, { operation: 'delete', dataClass: 'data', createdAt: young, now })).toEqual([
      expect.objectContaining({ code: 'retention_violation', rule: '/spec/retention/dataDays' }),
    ]);
    expect(evaluateSovereignty(rules, { operation: 'delete', dataClass: 'logs', createdAt: young, now })).toEqual([]);
    expect(evaluateSovereignty(rules, { operation: 'delete', dataClass: 'backups', createdAt: young, now })).toEqual(
      [],
    );
    expect(
      evaluateSovereignty(rules, {
        operation: 'delete',
        dataClass: 'data',
        createdAt: new Date('2026-01-01T00:00:00Z'),
        now,
      }),
    ).toEqual([]);
  });

  it('checks at-rest level, key rotation and transport encryption', () => {
    expect(atRestLevelOf({ encryption: 'enhanced', profile: 'st-dedicated' })).toBe('tenant-key');
    expect(atRestLevelOf({ encryption: 'enhanced', profile: 'mt-standard' })).toBe('enhanced');
    const rules = { encryption: { atRest: 'tenant-key' as const, keyRotationDays: 30, inTransit: true } };
    const v = evaluateSovereignty(rules, {
      operation: 'provision',
      facts: facts({ encryption: 'enhanced', keyRotationDays: 90 }),
    });
    expect(v.map((x) => [x.code, x.field])).toEqual([
      ['encryption_mismatch', 'profile'],
      ['encryption_mismatch', 'keyRotationDays'],
    ]);
    expect(
      evaluateSovereignty(rules, {
        operation: 'provision',
        facts: facts({ encryption: 'enhanced', profile: 'st-dedicated', keyRotationDays: 30 }),
      }),
    ).toEqual([]);
    expect(transitViolations(rules, 'http://hooks.example.com/x')).toHaveLength(1);
    expect(transitViolations(rules, 'https://hooks.example.com/x')).toEqual([]);
    expect(transitViolations(rules, 'postgres://u@db.example.com/x?sslmode=require')).toEqual([]);
    expect(transitViolations(rules, 'postgres://u@db.example.com/x')).toHaveLength(1);
  });

  it('applies crossBorderTransfer to transfers out of the home region', () => {
    expect(
      evaluateSovereignty(
        { region: 'eu-west-1', crossBorderTransfer: 'deny' },
        { operation: 'transfer', region: 'us-east-1' },
      ),
    ).toHaveLength(1);
    expect(
      evaluateSovereignty(
        { region: 'eu-west-1', crossBorderTransfer: 'deny' },
        { operation: 'transfer', region: 'eu-west-1' },
      ),
    ).toEqual([]);
    expect(
      evaluateSovereignty(
        { region: 'eu-west-1', crossBorderTransfer: 'with-consent' },
        { operation: 'transfer', region: 'us-east-1', consent: true },
      ),
    ).toEqual([]);
    expect(
      evaluateSovereignty(
        { region: 'eu-west-1', crossBorderTransfer: 'with-consent' },
        { operation: 'transfer', region: 'us-east-1' },
      ),
    ).toHaveLength(1);
  });
});
