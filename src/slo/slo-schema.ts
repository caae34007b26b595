/**
 * A tenant's SLO (`kind: SLO`, `tenants/<id>/slos.yaml`): what is measured (`objective`),
 * from which traffic (`source`), how good it must be (`target`) over which rolling window.
 * OpenSLO v1 `kind: SLO` documents are read into the same shape (see {@link fromOpenSlo}).
 * A leaf: the manifest schema imports it.
 *
 * - `availability`: the share of events that succeeded, at least `target` (0.999);
 * - `errorRate`: the share of events that failed, at most `target` (0.01), i.e. an
 *   availability of 1 − target;
 * - `latency`: the share of events answered within `thresholdMs`, at least `target`;
 * - `cost`: the share of events that cost at most `thresholdUsd`, at least `target`.
 */
import { z } from 'zod';

export const OBJECTIVES = ['availability', 'latency', 'errorRate', 'cost'] as const;
export const SLI_SOURCES = ['sdk', 'router', 'retrieval', 'external'] as const;
export const SLO_SOURCES = [...SLI_SOURCES, 'all'] as const;
export type SliSource = (typeof SLI_SOURCES)[number];
export const MAX_WINDOW_DAYS = 90;

const WINDOW = /^([1-9][0-9]{0,4})(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A window such as `30d`, `6h`, `90m` in milliseconds; undefined when it is not one. */
export function windowMs(text: string): number | undefined {
  const m = WINDOW.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : undefined;
}

export const sloSpecSchema = z
  .strictObject({
    objective: z.enum(OBJECTIVES, { error: `must be one of ${OBJECTIVES.join(', ')}` }),
    target: z
      .number({ error: 'must be a number between 0 and 1' })
      .gt(0, 'must be between 0 and 1 (exclusive)')
      .lt(1, 'must be between 0 and 1 (exclusive)'),
    thresholdMs: z.number().positive('must be > 0').max(600_000, 'must be at most 600000').optional(),
    thresholdUsd: z.number().positive('must be > 0').max(1_000, 'must be at most 1000').optional(),
    window: z
      .string()
      .default('30d')
      .superRefine((w, ctx) => {
        const ms = windowMs(w);
        if (ms === undefined) ctx.addIssue({ code: 'custom', message: 'must be a duration such as 30d, 7d, 12h' });
        else if (ms < 3_600_000 || ms > MAX_WINDOW_DAYS * 86_400_000)
          ctx.addIssue({ code: 'custom', message: `must be between 1h and ${MAX_WINDOW_DAYS}d` });
      }),
    source: z.enum(SLO_SOURCES, { error: `must be one of ${SLO_SOURCES.join(', ')}` }).default('all'),
    minEvents: z
      .number()
      .int('must be an integer')
      .min(1, 'must be 1..1000000')
      .max(1_000_000, 'must be 1..1000000')
      .default(20)
      .describe('events an alert window needs before it may fire, so one error of little traffic does not page'),
    description: z.string().max(500).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.objective === 'latency' && s.thresholdMs === undefined)
      ctx.addIssue({ code: 'custom', path: ['thresholdMs'], message: 'a latency objective needs thresholdMs' });
    if (s.objective !== 'latency' && s.thresholdMs !== undefined)
      ctx.addIssue({ code: 'custom', path: ['thresholdMs'], message: 'only a latency objective has thresholdMs' });
    if (s.objective === 'cost' && s.thresholdUsd === undefined)
      ctx.addIssue({ code: 'custom', path: ['thresholdUsd'], message: 'a cost objective needs thresholdUsd' });
    if (s.objective !== 'cost' && s.thresholdUsd !== undefined)
      ctx.addIssue({ code: 'custom', path: ['thresholdUsd'], message: 'only a cost objective has thresholdUsd' });
  })
  .meta({ id: 'SloSpec', description: "A tenant's service-level objective." });

export type SloSpec = z.infer<typeof sloSpecSchema>;

/** The share of good events an SLO asks for (errorRate's target is the bad share). */
export function goodTarget(spec: Pick<SloSpec, 'objective' | 'target'>): number {
  return spec.objective === 'errorRate' ? 1 - spec.target : spec.target;
}

/**
 * An OpenSLO v1 `kind: SLO` document as a Tenancy SLO (apiVersion `openslo/v1`): the tenant
 * comes from `metadata.labels.tenant` (or the folder it sits in); the first objective's
 * `target` and, for latency, its `value` in ms with `op: lte` or `lt`; `timeWindow[0].duration`;
 * the indicator's `metadata.name` or `spec.indicatorRef` names the objective (`availability`,
 * `latency`, `errorRate`, `cost`, optionally prefixed `tenancy-`) and `spec.service` the source.
 */
export function fromOpenSlo(doc: Record<string, unknown>): { tenant?: string; name?: string; spec: unknown } {
  const metadata = (doc.metadata ?? {}) as { name?: string; labels?: Record<string, string> };
  const spec = (doc.spec ?? {}) as Record<string, unknown>;
  const indicator =
    (typeof spec.indicatorRef === 'string' ? spec.indicatorRef : undefined) ??
    (spec.indicator as { metadata?: { name?: string } } | undefined)?.metadata?.name ??
    undefined;
  const objective = indicator?.replace(/^tenancy-/, '');
  const objectives = Array.isArray(spec.objectives) ? (spec.objectives as Array<Record<string, unknown>>) : [];
  const first = objectives[0] ?? {};
  const window = Array.isArray(spec.timeWindow) ? (spec.timeWindow[0] as { duration?: string } | undefined) : undefined;
  const out: Record<string, unknown> = {
    objective,
    target: first.target,
    ...(window?.duration ? { window: window.duration } : {}),
    ...(typeof spec.service === 'string' ? { source: spec.service } : {}),
    ...(typeof spec.description === 'string' ? { description: spec.description } : {}),
  };
  if (objective === 'latency' && first.value !== undefined) out.thresholdMs = first.value;
  if (objective === 'cost' && first.value !== undefined) out.thresholdUsd = first.value;
  return {
    ...(metadata.labels?.tenant ? { tenant: metadata.labels.tenant } : {}),
    ...(metadata.name ? { name: metadata.name } : {}),
    spec: out,
  };
}

/** A Tenancy SLO as an OpenSLO v1 document (what `tenancy slo export -o openslo` writes). */
export function toOpenSlo(tenant: string, name: string, spec: SloSpec): Record<string, unknown> {
  const value =
    spec.objective === 'latency' ? spec.thresholdMs : spec.objective === 'cost' ? spec.thresholdUsd : undefined;
  return {
    apiVersion: 'openslo/v1',
    kind: 'SLO',
    metadata: { name, labels: { tenant } },
    spec: {
      ...(spec.description ? { description: spec.description } : {}),
      service: spec.source,
      indicatorRef: `tenancy-${spec.objective}`,
      timeWindow: [{ duration: spec.window, isRolling: true }],
      budgetingMethod: 'Occurrences',
      objectives: [
        {
          displayName: name,
          target: spec.target,
          ...(value !== undefined ? { op: 'lte', value } : {}),
        },
      ],
    },
  };
}
