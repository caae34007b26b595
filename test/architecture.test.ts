/**
 * The architecture's rules, checked on the source: no import cycles (type-only imports
 * included), every table queried only by the module that owns it (its `tables.ts` declares
 * it), the SDK and infra free of domain code, no SQL in HTTP routes, no file over 400 lines.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const files = sourceFiles();
const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
const rel = (f: string) => relative(SRC, f).replaceAll('\\', '/');
const moduleOf = (f: string) => (rel(f).includes('/') ? rel(f).split('/')[0]! : rel(f));

/** Relative imports and re-exports of a file, resolved to source files. */
function importsOf(file: string): string[] {
  const out: string[] = [];
  for (const m of text.get(file)!.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g)) {
    const target = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (text.has(target)) out.push(target);
  }
  return out;
}

describe('architecture', () => {
  it('has no import cycles, type-only imports included', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f)]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(f)), f].map(rel).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const g of graph.get(f)!) visit(g, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('lets only the owning module query a table', () => {
    // The owner of a table is the module whose tables.ts declares it (`  name: NameTable;`).
    const owner = new Map<string, string>();
    for (const f of files.filter((f) => f.endsWith('/tables.ts'))) {
      const mod = rel(f).startsWith('infra/') ? 'infra' : moduleOf(f);
      for (const m of text.get(f)!.matchAll(/^\s+([a-z_]+): [A-Z][A-Za-z]*Table;$/gm)) owner.set(m[1]!, mod);
    }
    expect(owner.size).toBeGreaterThan(30);
    const crossings: string[] = [];
    for (const f of files) {
      if (rel(f).includes('/migrations/')) continue;
      const mod = moduleOf(f);
      const body = text.get(f)!;
      const used = new Set<string>();
      for (const m of body.matchAll(
        /\b(?:selectFrom|insertInto|updateTable|deleteFrom|innerJoin|leftJoin|rightJoin|mergeInto)\(\s*'([a-z_]+)/g,
      ))
        used.add(m[1]!);
      for (const m of body.matchAll(/\b(?:from|join|into|update)\s+([a-z_]+)\b/gi)) {
        const inTemplate = (body.slice(0, m.index).match(/`/g) ?? []).length % 2 === 1;
        if (inTemplate && owner.has(m[1]!)) used.add(m[1]!);
      }
      for (const t of used) if (owner.has(t) && owner.get(t) !== mod) crossings.push(`${rel(f)} -> ${t}`);
    }
    expect(crossings).toEqual([]);
  });

  it('keeps the SDK free of server code and infra free of domain code', () => {
    const offenders: string[] = [];
    for (const f of files) {
      const mod = moduleOf(f);
      for (const target of importsOf(f)) {
        const to = moduleOf(target);
        if (mod === 'sdk' && !['sdk', 'contract', 'errors.ts'].includes(to))
          offenders.push(`${rel(f)} -> ${rel(target)}`);
        if (mod === 'infra' && !['infra', 'errors.ts'].includes(to)) offenders.push(`${rel(f)} -> ${rel(target)}`);
        if (mod === 'contract' && !['contract', 'errors.ts'].includes(to))
          offenders.push(`${rel(f)} -> ${rel(target)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('runs no SQL in HTTP routes and has no file over 400 lines', () => {
    const routesWithSql = files.filter(
      (f) =>
        rel(f).startsWith('http/routes/') &&
        /\.(selectFrom|insertInto|updateTable|deleteFrom)\(|sql`/.test(text.get(f)!),
    );
    expect(routesWithSql.map(rel)).toEqual([]);
    const long = files.filter((f) => text.get(f)!.split('\n').length > 401).map(rel);
    expect(long).toEqual([]);
  });
});
