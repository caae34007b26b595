import { describe, expect, it } from 'vitest';
import { TenancyError } from '../errors.js';
import { nextPhase, PHASES, TRANSITIONS, VERBS } from './lifecycle.js';

describe('lifecycle', () => {
  it('allows exactly the documented transitions and names the blocking phase otherwise', () => {
    for (const verb of VERBS) {
      for (const phase of PHASES) {
        const allowed = TRANSITIONS[verb].from.includes(phase);
        if (allowed) expect(() => nextPhase(verb, phase, 't')).not.toThrow();
        else {
          try {
            nextPhase(verb, phase, 't');
            expect.unreachable();
          } catch (error) {
            expect(error).toBeInstanceOf(TenancyError);
            expect((error as TenancyError).status).toBe(409);
            expect((error as TenancyError).code).toBe(`tenant_${phase}`);
          }
        }
      }
    }
  });

  it('cannot resume an archived tenant nor update a deleted one', () => {
    expect(() => nextPhase('resume', 'archived', 't')).toThrow(/archived/);
    expect(() => nextPhase('update', 'deleted', 't')).toThrow(/deleted/);
    expect(nextPhase('restore', 'archived', 't')).toBe('provisioning');
    expect(nextPhase('delete', 'suspended', 't')).toBe('deleting');
  });
});
