/**
 * Manifest text from users: aliases to unknown or enclosing anchors, alias bombs, deep
 * nesting, floods of documents and keys are refused as `invalid_yaml` with a JSON pointer
 * and `file:line:col`, never thrown as anything else; ordinary YAML and JSON still parse.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { TenancyError } from '../errors.js';
import {
  MAX_YAML_ALIAS_EXPANSION,
  MAX_YAML_ALIASES,
  MAX_YAML_DEPTH,
  MAX_YAML_DOCUMENTS,
  parseManifestText,
} from './manifest-text.js';

/** The error `text` is refused with (fails the test if it parses). */
function refusal(text: string, source = 'm.yaml'): TenancyError {
  try {
    parseManifestText(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(TenancyError);
    return error as TenancyError;
  }
  throw new Error('expected the text to be refused');
}

describe('parseManifestText', () => {
  it('parses YAML documents and JSON, aliases included', () => {
    expect(parseManifestText('a: 1\n---\nb: [x, y]\n', 'm.yaml')).toEqual([{ a: 1 }, { b: ['x', 'y'] }]);
    expect(parseManifestText('{"a": {"b": [1, 2]}}', 'm.json')).toEqual([{ a: { b: [1, 2] } }]);
    const shared = parseManifestText('base: &q {maxUsers: 5}\nspec:\n  quotas: *q\n  copy: *q\n', 'm.yaml');
    expect(shared).toEqual([{ base: { maxUsers: 5 }, spec: { quotas: { maxUsers: 5 }, copy: { maxUsers: 5 } } }]);
    expect(parseManifestText('', 'm.yaml')).toEqual([]);
  });

  it.each([
    ['an alias to no anchor', 'a: *undefined_alias\n', '/a', /m\.yaml:1:4: .*undefined_alias/],
    ['a merge of no anchor', 'x: 1\n<<: *nope\n', '/<<', /m\.yaml:2:5: .*nope/],
    ['an alias deep in a sequence', 'spec:\n  list:\n    - 1\n    - *gone\n', '/spec/list/1', /m\.yaml:4:7: .*gone/],
    ['an alias used before its anchor', 'a: *later\nb: &later 1\n', '/a', /later/],
    ['an alias inside its own anchor', 'a: &a [1, *a]\n', '/a/1', /m\.yaml:1:11: .*a/],
    ['a key with a slash in the path', 'a/b:\n  c: *nope\n', '/a~1b/c', /nope/],
  ])('refuses %s with invalid_yaml at its path', (_name, text, path, message) => {
    const e = refusal(text);
    expect({ code: e.code, status: e.status }).toEqual({ code: 'invalid_yaml', status: 400 });
    expect(e.errors).toHaveLength(1);
    expect(e.errors![0]!.path).toBe(path);
    expect(e.errors![0]!.message).toMatch(message);
    expect(e.errors![0]!.message).not.toContain('\n');
  });

  it('refuses an alias bomb, and more aliases than the limit', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
      ['f', 'e'],
      ['g', 'f'],
    ])
      laughs.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    const bomb = refusal(`${laughs.join('\n')}\n`);
    expect(bomb.code).toBe('invalid_yaml');
    expect(bomb.errors![0]!.message).toContain(`its aliases expand to more than ${MAX_YAML_ALIAS_EXPANSION} copies`);
    const many = `x: &x 1\nl: [${Array(MAX_YAML_ALIASES + 1)
      .fill('*x')
      .join(', ')}]\n`;
    const e = refusal(many);
    expect(e.code).toBe('invalid_yaml');
    expect(e.errors![0]!.message).toContain(`more than ${MAX_YAML_ALIASES} aliases`);
    expect(
      parseManifestText(`x: &x 1\nl: [${Array(MAX_YAML_ALIASES).fill('*x').join(', ')}]\n`, 'm.yaml'),
    ).toHaveLength(1);
  });

  it('refuses nesting deeper than the limit, in flow and in block style, as often as it is sent', () => {
    const flow = '['.repeat(2000) + ']'.repeat(2000);
    const block = `${Array.from({ length: MAX_YAML_DEPTH + 1 }, (_, i) => `${' '.repeat(i)}- `).join('\n')}x\n`;
    const map = `${'{a: '.repeat(1000)}1${'}'.repeat(1000)}`;
    for (let i = 0; i < 3; i++) {
      for (const text of [flow, block, map]) {
        const e = refusal(text);
        expect(e.code).toBe('invalid_yaml');
        expect(e.errors![0]!.message).toContain(`nested more than ${MAX_YAML_DEPTH} levels`);
      }
    }
    const ok = '['.repeat(MAX_YAML_DEPTH) + ']'.repeat(MAX_YAML_DEPTH);
    expect(parseManifestText(ok, 'm.yaml')).toHaveLength(1);
  });

  it('refuses more documents than a bundle may hold', () => {
    const e = refusal('---\na: 1\n'.repeat(MAX_YAML_DOCUMENTS + 1));
    expect(e.code).toBe('invalid_yaml');
    expect(e.errors![0]!.message).toContain(`more than ${MAX_YAML_DOCUMENTS} documents`);
    expect(parseManifestText('---\na: 1\n'.repeat(MAX_YAML_DOCUMENTS), 'm.yaml')).toHaveLength(MAX_YAML_DOCUMENTS);
  });

  it('refuses duplicate keys at their path, and checks many distinct keys in one pass', () => {
    const e = refusal('spec:\n  name: a\n  plan: pro\n  name: b\n');
    expect(e.errors).toEqual([{ path: '/spec/name', message: expect.stringMatching(/^m\.yaml:4:3: .*name/) }]);
    // 40,000 keys: a pairwise duplicate check (800 million comparisons) would not finish in the test's time.
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: v`).join('\n');
    expect(Object.keys(parseManifestText(keys, 'm.yaml')[0] as object)).toHaveLength(40_000);
  }, 30_000);

  it('keeps syntax errors as before: invalid_yaml with file:line:col', () => {
    const e = refusal('spec: {name: [oops', 'tenants/x/tenant.yaml');
    expect(e.code).toBe('invalid_yaml');
    expect(e.detail).toBe('tenants/x/tenant.yaml is not valid YAML or JSON');
    expect(e.errors![0]!.message).toMatch(/^tenants\/x\/tenant\.yaml:1:\d+: /);
  });

  it('answers any text with values or invalid_yaml, never another error', () => {
    const piece = fc.constantFrom(
      ...[
        'a: ',
        'b',
        '*x',
        '&x ',
        '*y',
        '&y ',
        '<<: ',
        '[',
        ']',
        '{',
        '}',
        ', ',
        '- ',
        '\n',
        '  ',
        '? ',
        ': ',
        '---\n',
      ],
      ...['"q"', "'s'", '!!binary ', '!!str ', '#c', '|\n', '1', '~'],
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        try {
          const docs = parseManifestText(pieces.join(''), 'p.yaml');
          JSON.stringify(docs);
        } catch (error) {
          expect(error).toBeInstanceOf(TenancyError);
          expect((error as TenancyError).code).toBe('invalid_yaml');
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const [doc] = parseManifestText(stringify(value), 'p.yaml');
        expect(JSON.stringify(doc ?? null)).toBe(JSON.stringify(value));
      }),
      { numRuns: 300 },
    );
  });
});
