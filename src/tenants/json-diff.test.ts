import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diff, jsonEqual, mergePatch } from './json-diff.js';

describe('merge patch (RFC 7396)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j + %j = %j', (target, patch, result) => {
    expect(mergePatch(target, patch)).toEqual(result);
  });
});

describe('diff', () => {
  it('is empty exactly when values are equal, and names changed leaves', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3 }),
        fc.jsonValue({ maxDepth: 3 }),
        (a, b) => (diff(a, b).length === 0) === jsonEqual(a, b),
      ),
    );
    expect(diff({ spec: { plan: 'free', q: { a: 1 } } }, { spec: { plan: 'pro', q: {} } })).toEqual([
      { path: '/spec/plan', op: 'replace', from: 'free', to: 'pro' },
      { path: '/spec/q/a', op: 'remove', from: 1 },
    ]);
  });
});
