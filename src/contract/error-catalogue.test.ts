import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TENANT_PHASES } from './tenant-phase.js';
import { ERROR_CATALOGUE, type ErrorEntry } from './error-catalogue.js';
import { renderErrorDocs } from './error-docs.js';
import { problem } from './problem.js';

const entries = Object.entries(ERROR_CATALOGUE as Record<string, ErrorEntry>);

describe('error catalogue', () => {
  it('holds snake_case codes, sorted, each with a client or server status and a title', () => {
    const codes = entries.map(([code]) => code);
    expect(codes).toEqual([...codes].sort());
    for (const [code, entry] of entries) {
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      for (const status of [entry.status, ...(entry.also ?? [])]) expect(status).toBeGreaterThanOrEqual(400);
      expect(new Set([entry.status, ...(entry.also ?? [])]).size).toBe(1 + (entry.also?.length ?? 0));
      expect(entry.title.length).toBeGreaterThan(3);
    }
  });

  it('names every phase a verb can be refused in', () => {
    for (const phase of TENANT_PHASES) expect(ERROR_CATALOGUE).toHaveProperty(`tenant_${phase}`);
  });

  it('gives problem documents the title of their code', () => {
    expect(problem(404, 'tenant_not_found', 'tenant x does not exist')).toMatchObject({
      type: 'urn:tenancy:problem:tenant_not_found',
      title: ERROR_CATALOGUE.tenant_not_found.title,
      status: 404,
    });
    expect(problem(418, 'not_a_known_code', 'from a newer server').title).toBe('Error');
  });

  it('is what docs/errors.md lists (run `npm run docs:errors` after changing it)', () => {
    const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(docs).toBe(renderErrorDocs());
  });
});
