/**
 * Data sovereignty: the rules of a tenant's `data-sovereignty.yaml` (where its data may
 * live, how long it must be kept, how it must be encrypted) and one evaluator that every
 * enforcement point and `POST /v1/tenants/{id}/sovereignty/check` share, so what the check
 * endpoint answers is exactly what an operation would meet.
 */
import picomatch from 'picomatch';
import { z } from 'zod';
import { TenancyError, type FieldError } from '../../errors.js';

/** Region globs: lowercase letters, digits and "-", with `*`, `?`, `[a-z]` classes and `{a,b}` alternatives. */
const REGION_GLOB = /^[a-z0-9*?[\]{},-]{1,64}$/;
const REGION_NAME = /^[a-z][a-z0-9-]{0,62}$/;

function globProblem(glob: string): string | undefined {
  if (!REGION_GLOB.test(glob))
    return 'must be a region glob of lowercase letters, digits, "-", "*", "?", "[...]" and "{a,b}" (up to 64 characters)';
  let depthSquare = 0;
  let depthCurly = 0;
  for (const ch of glob) {
    if (ch === '[') depthSquare += 1;
    else if (ch === ']') depthSquare -= 1;
    else if (ch === '{') depthCurly += 1;
    else if (ch === '}') depthCurly -= 1;
    if (depthSquare < 0 || depthCurly < 0 || depthSquare > 1 || depthCurly > 1)
      return 'has unbalanced or nested brackets';
  }
  if (depthSquare !== 0 || depthCurly !== 0) return 'has unbalanced brackets';
  try {
    picomatch.makeRe(glob, { strictBrackets: true });
  } catch (error) {
    return `is not a valid glob (${(error as Error).message})`;
  }
  return undefined;
}

const regionGlob = z.string().superRefine((g, ctx) => {
  const why = globProblem(g);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});
const days = (max: number) =>
  z
    .number({ error: 'must be a number of days' })
    .int('must be an integer')
    .min(0, 'must be >= 0')
    .max(max, `must be <= ${max}`);

/** At-rest encryption levels, weakest first. */
export const AT_REST_LEVELS = ['standard', 'enhanced', 'tenant-key'] as const;
export type AtRestLevel = (typeof AT_REST_LEVELS)[number];

/** The `spec` of a `DataSovereignty` document. */
export const sovereigntySpecSchema = z
  .strictObject({
    region: z
      .string()
      .regex(REGION_NAME, 'must be a region name such as eu-west-1')
      .optional()
      .describe('the home region; transfers out of it follow crossBorderTransfer'),
    allowedRegions: z
      .array(regionGlob)
      .min(1, 'needs at least one region or glob')
      .max(64, 'at most 64 entries')
      .optional(),
    forbiddenRegions: z.array(regionGlob).max(64, 'at most 64 entries').optional(),
    residency: z.string().min(1).max(64).optional(),
    crossBorderTransfer: z
      .enum(['deny', 'allow', 'with-consent'], { error: 'must be deny, allow or with-consent' })
      .optional(),
    retention: z
      .strictObject({
        logsDays: days(36_500).optional(),
        dataDays: days(36_500).optional(),
        backupsDays: days(36_500).optional(),
      })
      .optional(),
    encryption: z
      .strictObject({
        atRest: z.enum(AT_REST_LEVELS, { error: `must be one of ${AT_REST_LEVELS.join(', ')}` }).optional(),
        inTransit: z.boolean({ error: 'must be true (TLS required) or false' }).optional(),
        keyRotationDays: z
          .number({ error: 'must be a number of days' })
          .int('must be an integer')
          .min(1, 'must be >= 1')
          .max(3650, 'must be <= 3650')
          .optional(),
      })
      .optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.region === undefined) return;
    const forbidden = (spec.forbiddenRegions ?? []).findIndex(
      (g) => globProblem(g) === undefined && picomatch.isMatch(spec.region!, g),
    );
    if (forbidden >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['region'],
        message: `the home region ${spec.region} matches forbiddenRegions[${forbidden}] "${spec.forbiddenRegions![forbidden]}"`,
      });
    if (
      spec.allowedRegions &&
      !spec.allowedRegions.some((g) => globProblem(g) === undefined && picomatch.isMatch(spec.region!, g))
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['region'],
        message: `the home region ${spec.region} is not in allowedRegions`,
      });
    }
  })
  .meta({
    id: 'DataSovereigntySpec',
    description: "Where a tenant's data may live, how long it is kept, how it is encrypted.",
  });

export type SovereigntyRules = z.infer<typeof sovereigntySpecSchema>;

/** What the evaluator knows about the tenant (its spec, or a proposed one). */
export interface SovereigntyFacts {
  region: string;
  profile: string;
  /** `spec.config.encryption`, else the plan's. */
  encryption: 'standard' | 'enhanced';
  /** The tenant's effective key rotation period. */
  keyRotationDays: number;
}

/** The operations rules are checked for. */
export type SovereigntyOperation =
  | { operation: 'provision' | 'move'; facts: SovereigntyFacts }
  | { operation: 'delete'; dataClass: 'data' | 'logs' | 'backups'; createdAt: Date; now?: Date }
  | { operation: 'store'; region: string; atRest?: AtRestLevel | undefined; facts: SovereigntyFacts }
  | { operation: 'transfer'; region: string; url?: string | undefined; consent?: boolean | undefined };

/** One broken rule: `field` names the operation's input, `rule` points into the sovereignty document. */
export interface SovereigntyViolation {
  code: 'sovereignty_violation' | 'retention_violation' | 'encryption_mismatch';
  field: 'region' | 'profile' | 'encryption' | 'keyRotationDays' | 'atRest' | 'url' | 'createdAt';
  rule: string;
  detail: string;
}

const DAY_MS = 86_400_000;

/** The at-rest level a tenant gets: `tenant-key` needs `enhanced` on a dedicated profile (its own key ring and database). */
export function atRestLevelOf(facts: Pick<SovereigntyFacts, 'encryption' | 'profile'>): AtRestLevel {
  if (facts.encryption !== 'enhanced') return 'standard';
  return facts.profile === 'st-dedicated' || facts.profile === 'st-byoc' ? 'tenant-key' : 'enhanced';
}

function placement(rules: SovereigntyRules, region: string, field: 'region'): SovereigntyViolation[] {
  const out: SovereigntyViolation[] = [];
  (rules.forbiddenRegions ?? []).forEach((g, i) => {
    if (picomatch.isMatch(region, g))
      out.push({
        code: 'sovereignty_violation',
        field,
        rule: `/spec/forbiddenRegions/${i}`,
        detail: `region ${region} is forbidden by "${g}"`,
      });
  });
  if (rules.allowedRegions && !rules.allowedRegions.some((g) => picomatch.isMatch(region, g))) {
    out.push({
      code: 'sovereignty_violation',
      field,
      rule: '/spec/allowedRegions',
      detail: `region ${region} is not in allowedRegions (${rules.allowedRegions.join(', ')})`,
    });
  }
  return out;
}

function encryption(rules: SovereigntyRules, facts: SovereigntyFacts, atRest?: AtRestLevel): SovereigntyViolation[] {
  const out: SovereigntyViolation[] = [];
  const required = rules.encryption?.atRest;
  if (required) {
    const have = atRest ?? atRestLevelOf(facts);
    if (AT_REST_LEVELS.indexOf(have) < AT_REST_LEVELS.indexOf(required)) {
      const field =
        atRest !== undefined
          ? 'atRest'
          : required === 'tenant-key' && facts.encryption === 'enhanced'
            ? 'profile'
            : 'encryption';
      out.push({
        code: 'encryption_mismatch',
        field,
        rule: '/spec/encryption/atRest',
        detail: `at-rest encryption must be ${required} but is ${have}${required === 'tenant-key' ? ' (tenant-key needs config.encryption enhanced on st-dedicated or st-byoc)' : ''}`,
      });
    }
  }
  const rotation = rules.encryption?.keyRotationDays;
  if (rotation !== undefined && facts.keyRotationDays > rotation) {
    out.push({
      code: 'encryption_mismatch',
      field: 'keyRotationDays',
      rule: '/spec/encryption/keyRotationDays',
      detail: `keys must rotate at least every ${rotation} days but rotate every ${facts.keyRotationDays}`,
    });
  }
  return out;
}

/** Every rule `op` breaks (empty: allowed). */
export function evaluateSovereignty(rules: SovereigntyRules, op: SovereigntyOperation): SovereigntyViolation[] {
  switch (op.operation) {
    case 'provision':
    case 'move':
      return [...placement(rules, op.facts.region, 'region'), ...encryption(rules, op.facts)];
    case 'store':
      return [...placement(rules, op.region, 'region'), ...encryption(rules, op.facts, op.atRest)];
    case 'delete': {
      const keep =
        op.dataClass === 'logs'
          ? rules.retention?.logsDays
          : op.dataClass === 'backups'
            ? rules.retention?.backupsDays
            : rules.retention?.dataDays;
      if (keep === undefined) return [];
      const now = op.now ?? new Date();
      const ageDays = (now.getTime() - op.createdAt.getTime()) / DAY_MS;
      if (ageDays >= keep) return [];
      const until = new Date(op.createdAt.getTime() + keep * DAY_MS).toISOString();
      return [
        {
          code: 'retention_violation',
          field: 'createdAt',
          rule: `/spec/retention/${op.dataClass}Days`,
          detail: `${op.dataClass} created ${op.createdAt.toISOString()} must be kept ${keep} days (until ${until})`,
        },
      ];
    }
    case 'transfer': {
      const out = placement(rules, op.region, 'region');
      const home = rules.region;
      if (home !== undefined && op.region !== home) {
        if (rules.crossBorderTransfer === 'deny')
          out.push({
            code: 'sovereignty_violation',
            field: 'region',
            rule: '/spec/crossBorderTransfer',
            detail: `transfers out of ${home} are denied`,
          });
        if (rules.crossBorderTransfer === 'with-consent' && op.consent !== true)
          out.push({
            code: 'sovereignty_violation',
            field: 'region',
            rule: '/spec/crossBorderTransfer',
            detail: `transfers out of ${home} need the data subject's consent (consent: true)`,
          });
      }
      if (op.url !== undefined) out.push(...transitViolations(rules, op.url));
      return out;
    }
  }
}

/** Whether `url` may carry the tenant's data: with `encryption.inTransit`, only TLS schemes. */
export function transitViolations(rules: SovereigntyRules, url: string): SovereigntyViolation[] {
  if (rules.encryption?.inTransit !== true) return [];
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return [
      {
        code: 'encryption_mismatch',
        field: 'url',
        rule: '/spec/encryption/inTransit',
        detail: 'the URL cannot be parsed, so TLS cannot be confirmed',
      },
    ];
  }
  if (['https:', 'wss:', 'smtps:'].includes(protocol)) return [];
  if (
    (protocol === 'postgres:' || protocol === 'postgresql:') &&
    /[?&]sslmode=(require|verify-ca|verify-full)\b/.test(url)
  )
    return [];
  return [
    {
      code: 'encryption_mismatch',
      field: 'url',
      rule: '/spec/encryption/inTransit',
      detail: `data in transit must be encrypted, but ${protocol}// is not a TLS connection`,
    },
  ];
}

const STATUS: Record<SovereigntyViolation['code'], number> = {
  retention_violation: 409,
  sovereignty_violation: 422,
  encryption_mismatch: 422,
};
const PRIORITY: SovereigntyViolation['code'][] = [
  'retention_violation',
  'sovereignty_violation',
  'encryption_mismatch',
];

/**
 * The refusal for `violations`: the most serious code (retention, then placement, then
 * encryption), every violation in `errors[]` with `pathOf(field)` as its JSON pointer.
 */
export function sovereigntyRefusal(
  violations: SovereigntyViolation[],
  pathOf: (v: SovereigntyViolation) => string,
  what = 'the operation',
): TenancyError {
  const code = PRIORITY.find((c) => violations.some((v) => v.code === c))!;
  const errors: FieldError[] = violations.map((v) => ({
    path: pathOf(v),
    message: `${v.detail} (data-sovereignty ${v.rule})`,
  }));
  return new TenancyError(
    code,
    `${what} breaks the tenant's data-sovereignty rules: ${violations.map((v) => v.detail).join('; ')}`,
    {
      status: STATUS[code],
      errors,
      extensions: {
        violations: violations.map((v) => ({ code: v.code, path: pathOf(v), rule: v.rule, detail: v.detail })),
      },
    },
  );
}
