import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRules, compileRules, parseRules } from './policy-engine.js';
import { runSandbox } from './policy-sandbox.js';
import { policyDigest, signPolicy, verifyPolicySignature } from './policy-signature.js';
import { rolloutBucket } from './policy-rollout.js';

const fields = { action: 'string', amount: 'number', user: { role: 'string' }, tags: 'string[]' } as const;
const rules = [
  { id: 'deny-large', effect: 'deny' as const, when: 'request.amount > 1000.0' },
  { id: 'allow-finance', effect: 'allow' as const, when: 'request.user.role == "finance"' },
];

describe('policy engine', () => {
  it('lets the first matching rule decide, else the default', () => {
    const p = compileRules({ fields, defaultEffect: 'deny', rules });
    expect(p.decide({ amount: 5000, user: { role: 'finance' } })).toEqual({
      decision: 'deny',
      rule: 'deny-large',
      errors: [],
    });
    expect(p.decide({ amount: 5, user: { role: 'finance' } })).toEqual({
      decision: 'allow',
      rule: 'allow-finance',
      errors: [],
    });
    expect(p.decide({ amount: 5, user: { role: 'intern' } })).toEqual({ decision: 'deny', rule: null, errors: [] });
    expect(
      compileRules({ fields, defaultEffect: 'allow', rules }).decide({ amount: 5, user: { role: 'x' } }).decision,
    ).toBe('allow');
  });

  it('treats a rule it cannot evaluate on a request as not matching, and says why', () => {
    const p = compileRules({ fields, defaultEffect: 'deny', rules });
    const d = p.decide({ user: { role: 'finance' } });
    expect(d).toMatchObject({ decision: 'allow', rule: 'allow-finance' });
    expect(d.errors).toEqual([{ rule: 'deny-large', message: expect.stringContaining('amount') }]);
    expect(p.decide({ amount: 'lots', user: { role: 'x' } }).errors[0]!.rule).toBe('deny-large');
  });

  it('refuses unknown fields and non-boolean rules at check time, and bad syntax at parse time', () => {
    expect(
      checkRules(fields as never, [
        { when: 'request.user.team == "x"' },
        { when: 'other.x' },
        { when: 'request.amount' },
        { when: 'request.tags.exists(t, t == "a")' },
      ]),
    ).toEqual([
      { path: '/rules/0/when', code: 'policy_unknown_field', message: expect.stringContaining('team') },
      { path: '/rules/1/when', code: 'policy_unknown_field', message: expect.stringContaining('other') },
      { path: '/rules/2/when', code: 'policy_rule_invalid', message: expect.stringContaining('boolean') },
    ]);
    expect(parseRules([{ when: 'request.action ==' }, { when: 'true' }])).toEqual([
      { path: '/rules/0/when', code: 'policy_parse_failed', message: expect.any(String) },
    ]);
  });

  it('has no way out of the expression language', () => {
    for (const when of [
      'require("fs")',
      'process.exit(1)',
      'this.constructor.constructor("return process")()',
      'import("fs")',
    ]) {
      const problems = [...parseRules([{ when }]), ...checkRules(fields as never, [{ when }])];
      expect(problems.length, when).toBeGreaterThan(0);
    }
  });
});

describe('policy sandbox', () => {
  it('decides every request under every policy in a worker', async () => {
    const outcome = await runSandbox(
      [{ fields, defaultEffect: 'deny', rules }],
      [{ amount: 1, user: { role: 'finance' } }, { amount: 5000 }],
      { timeoutMs: 2000, memoryMb: 64 },
    );
    expect(outcome.ok).toBe(true);
    if (outcome.ok) expect(outcome.results.map((r) => r[0]!.rule)).toEqual(['allow-finance', 'deny-large']);
  });

  it('stops a runaway rule at the time limit', async () => {
    const cubic = [
      {
        id: 'cubic',
        effect: 'deny' as const,
        when: 'request.tags.all(a, request.tags.all(b, request.tags.all(c, a + b != c)))',
      },
    ];
    const t = performance.now();
    const outcome = await runSandbox(
      [{ fields, defaultEffect: 'deny', rules: cubic }],
      [{ tags: Array.from({ length: 500 }, (_, i) => `t${i}`) }],
      { timeoutMs: 300, memoryMb: 64 },
    );
    expect(outcome).toMatchObject({ ok: false, reason: 'timeout' });
    expect(performance.now() - t).toBeLessThan(15_000);
  });

  it('stops a rule that exhausts its heap', async () => {
    const blowup = [
      {
        id: 'blowup',
        effect: 'deny' as const,
        when: 'size(request.tags.map(a, request.tags.map(b, request.tags.map(c, a + b + c)))) > 0',
      },
    ];
    const outcome = await runSandbox(
      [{ fields, defaultEffect: 'deny', rules: blowup }],
      [{ tags: Array.from({ length: 400 }, (_, i) => `tag-${i}-${'x'.repeat(20)}`) }],
      { timeoutMs: 60_000, memoryMb: 16 },
    );
    expect(outcome).toMatchObject({ ok: false, reason: 'memory' });
  });
});

describe('policy sandbox reuse', () => {
  it('reuses a warm worker after a normal run, and replaces one that was stopped', async () => {
    const p = { fields, defaultEffect: 'deny' as const, rules };
    const first = await runSandbox([p], [{ amount: 1, user: { role: 'finance' } }], { timeoutMs: 2000, memoryMb: 48 });
    const warm = await runSandbox([p], [{ amount: 1, user: { role: 'finance' } }], { timeoutMs: 2000, memoryMb: 48 });
    expect(first.ok && warm.ok).toBe(true);
    const cubic = [
      {
        id: 'cubic',
        effect: 'deny' as const,
        when: 'request.tags.all(a, request.tags.all(b, request.tags.all(c, a + b != c)))',
      },
    ];
    expect(
      await runSandbox(
        [{ fields, defaultEffect: 'deny', rules: cubic }],
        [{ tags: Array.from({ length: 500 }, (_, i) => `t${i}`) }],
        { timeoutMs: 200, memoryMb: 48 },
      ),
    ).toMatchObject({ ok: false, reason: 'timeout' });
    const after = await runSandbox([p], [{ amount: 5000 }], { timeoutMs: 2000, memoryMb: 48 });
    expect(after.ok && after.results[0]![0]!.rule).toBe('deny-large');
  });
});

describe('policy signatures', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();

  it('verify over the canonical document whatever the key order, and fail on any change', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), {
          maxKeys: 6,
        }),
        (extra) => {
          const doc = { name: 'p', semver: '1.0.0', ...extra };
          const signed = signPolicy(doc, privateKey, 'k1') as Record<string, unknown> & {
            originSignature: { signature: string };
          };
          const reordered = Object.fromEntries(Object.entries(signed).reverse());
          expect(verifyPolicySignature(reordered, pem, signed.originSignature.signature)).toBe(true);
          expect(policyDigest(reordered)).toBe(policyDigest(doc));
          expect(verifyPolicySignature({ ...signed, semver: '1.0.1' }, pem, signed.originSignature.signature)).toBe(
            false,
          );
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('rollout buckets', () => {
  it('are stable, in [0, 100), and about uniform', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (r, k) => {
        // Two calls must agree: the bucket is deterministic.
        const bucket = rolloutBucket(r, k);
        return bucket === rolloutBucket(r, k) && bucket >= 0 && bucket < 100;
      }),
    );
    const n = 20_000;
    let under10 = 0;
    for (let i = 0; i < n; i++) if (rolloutBucket('ro_test', `key-${i}`) < 10) under10++;
    expect(Math.abs(under10 / n - 0.1)).toBeLessThan(0.01);
  });
});
