/**
 * The rule engine: a policy's rules are CEL expressions (`@marcbachmann/cel-js`, a
 * non-Turing-complete expression language with a type checker, no I/O and no `eval`)
 * over one variable, `request`, typed from the policy's declared fields. Rules are tried
 * in order and the first that matches decides; none matching leaves `defaultEffect`.
 *
 * {@link compilePolicy} is self-contained on purpose (it takes the CEL `Environment`
 * class as a parameter and references nothing else in scope), so the sandbox worker can
 * run exactly this code from its source text.
 */
import { Environment } from '@marcbachmann/cel-js';
import type { FieldSchema, PolicyBody } from './policy-schema.js';

/** Parse-time limits on every expression (AST size and depth, literal sizes). */
export const CEL_LIMITS = {
  maxAstNodes: 2000,
  maxDepth: 60,
  maxListElements: 500,
  maxMapEntries: 500,
  maxCallArguments: 16,
};

/** What a compiled rule set answers for one request. */
export interface Decision {
  decision: 'allow' | 'deny';
  /** The id of the rule that decided, or null when no rule matched (the default decided). */
  rule: string | null;
  /** Rules that could not be evaluated on this request (a missing or mistyped field): they do not match. */
  errors: Array<{ rule: string; message: string }>;
}

/** A policy compiled once, evaluated many times. */
export interface CompiledPolicy {
  decide(request: Record<string, unknown>): Decision;
}

/** The policy body fields the engine needs. */
export type EngineInput = Pick<PolicyBody, 'fields' | 'defaultEffect'> & {
  rules: Array<{ id: string; effect: 'allow' | 'deny'; when: string }>;
};

/**
 * Compile a policy. Self-contained (see the module comment): `Env` is the CEL
 * `Environment` class. Throws on an expression that does not parse.
 */
export function compilePolicy(
  Env: typeof Environment,
  policy: EngineInput,
  limits: Record<string, number>,
): CompiledPolicy {
  const toCel = (fields: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [name, type] of Object.entries(fields)) {
      if (typeof type !== 'string') out[name] = toCel(type as Record<string, unknown>);
      else
        out[name] =
          (
            {
              string: 'string',
              number: 'double',
              boolean: 'bool',
              'string[]': 'list<string>',
              'number[]': 'list<double>',
            } as Record<string, string>
          )[type] ?? 'dyn';
    }
    return out;
  };
  const env = new Env({ limits, unlistedVariablesAreDyn: false }).registerVariable({
    name: 'request',
    schema: toCel(policy.fields),
  } as never);
  const rules = policy.rules.map((r) => ({ id: r.id, effect: r.effect, run: env.parse(r.when) }));
  const fallback = policy.defaultEffect;
  return {
    decide(request) {
      const errors: Array<{ rule: string; message: string }> = [];
      const ctx = { request };
      for (const rule of rules) {
        let value: unknown;
        try {
          value = rule.run(ctx);
        } catch (error) {
          errors.push({ rule: rule.id, message: String((error as Error)?.message ?? error).split('\n')[0]! });
          continue;
        }
        if (value === true) return { decision: rule.effect, rule: rule.id, errors };
      }
      return { decision: fallback, rule: null, errors };
    },
  };
}

/** Compile in this thread with the default limits. */
export function compileRules(policy: EngineInput): CompiledPolicy {
  return compilePolicy(Environment, policy, CEL_LIMITS);
}

/** One problem found while checking a policy's rules. */
export interface RuleProblem {
  path: string;
  message: string;
  code: 'policy_parse_failed' | 'policy_unknown_field' | 'policy_rule_invalid';
}

/** Parse every rule's expression (no type check, no execution): the parse stage. */
export function parseRules(rules: Array<{ when: string }>): RuleProblem[] {
  const env = new Environment({ limits: CEL_LIMITS, unlistedVariablesAreDyn: true });
  const problems: RuleProblem[] = [];
  rules.forEach((rule, i) => {
    try {
      env.parse(rule.when);
    } catch (error) {
      problems.push({ path: `/rules/${i}/when`, message: firstLine(error), code: 'policy_parse_failed' });
    }
  });
  return problems;
}

/**
 * Type-check every rule against the declared fields: a reference to an undeclared field
 * is `policy_unknown_field`, any other type error (or a rule that is not boolean)
 * `policy_rule_invalid`. No expression is executed.
 */
export function checkRules(fields: FieldSchema, rules: Array<{ when: string }>): RuleProblem[] {
  const problems: RuleProblem[] = [];
  let env: Environment;
  try {
    env = new Environment({ limits: CEL_LIMITS, unlistedVariablesAreDyn: false }).registerVariable({
      name: 'request',
      schema: toCelSchema(fields),
    } as never);
  } catch (error) {
    return [{ path: '/fields', message: firstLine(error), code: 'policy_rule_invalid' }];
  }
  rules.forEach((rule, i) => {
    const path = `/rules/${i}/when`;
    let result: ReturnType<Environment['check']>;
    try {
      result = env.check(rule.when);
    } catch (error) {
      problems.push({ path, message: firstLine(error), code: 'policy_rule_invalid' });
      return;
    }
    if (!result.valid) {
      const message = firstLine(result.error);
      const unknown = /No such key: (\S+)|Unknown variable: (\S+)/.exec(message);
      problems.push(
        unknown
          ? {
              path,
              message: `references an unknown field ${unknown[1] ?? unknown[2]} (declare it under fields)`,
              code: 'policy_unknown_field',
            }
          : { path, message, code: 'policy_rule_invalid' },
      );
    } else if (result.type !== 'bool' && result.type !== 'dyn') {
      problems.push({
        path,
        message: `must be a boolean expression (it is ${result.type})`,
        code: 'policy_rule_invalid',
      });
    }
  });
  return problems;
}

function toCelSchema(fields: FieldSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(fields)) {
    out[name] =
      typeof type === 'string'
        ? {
            string: 'string',
            number: 'double',
            boolean: 'bool',
            'string[]': 'list<string>',
            'number[]': 'list<double>',
          }[type]
        : toCelSchema(type);
  }
  return out;
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error)
    .split('\n')[0]!
    .trim();
}
