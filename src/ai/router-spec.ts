/**
 * A tenant's `router.yaml` (`kind: TenantRouter`): which models answer it, in which order
 * they fall back, how requests are routed by task, use case or domain, its SLA and its
 * budget. The first shape of the document (`defaultModel`, `budgetUsdPerMonth`) is still
 * accepted and read as the current one. A leaf (zod only), so the manifest schema can use it.
 */
import { z } from 'zod';

/** A catalogue model name as a router names it. */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
export const modelName = z
  .string({ error: 'must be a model name' })
  .regex(MODEL_NAME_PATTERN, 'must be a model name: letters, digits, ".", "_", ":", "/", "-" (up to 128)');

const usd = z.number({ error: 'must be an amount in USD' }).min(0, 'must be >= 0').max(1e9, 'must be <= 1e9');
const matchValue = z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters');

export const BUDGET_ACTIONS = ['downgrade_to_fallback', 'deny'] as const;

/** The `spec` of a `TenantRouter` document (current shape). */
export const routerSpecSchema = z
  .strictObject({
    primary: z
      .strictObject({
        model: modelName,
        temperature: z.number({ error: 'must be a number' }).min(0, 'must be 0..2').max(2, 'must be 0..2').optional(),
        maxTokens: z
          .number({ error: 'must be a number of tokens' })
          .int('must be an integer')
          .min(1, 'must be >= 1')
          .max(1_000_000, 'must be <= 1000000')
          .optional(),
      })
      .describe('the model that answers unless a route or the budget says otherwise, with its defaults'),
    fallback: z
      .array(modelName)
      .max(10, 'at most 10 models')
      .default([])
      .describe('models tried in order when the chosen one fails, its breaker is open, or the budget downgrades'),
    routes: z
      .array(
        z.strictObject({
          match: z
            .strictObject({
              task: matchValue.optional(),
              usecase: matchValue.optional(),
              domain: matchValue.optional(),
            })
            .refine((m) => Object.keys(m).length > 0, 'name at least one of task, usecase, domain'),
          model: modelName,
        }),
      )
      .max(100, 'at most 100 routes')
      .default([])
      .describe('the first route whose every key equals the request\'s metadata picks the model (model "auto")'),
    embeddings: z.strictObject({ model: modelName }).optional().describe('the model for /v1/ai/embeddings'),
    sla: z
      .strictObject({
        p95LatencyMs: z.number().int().min(1).max(3_600_000).optional(),
        errorRateMax: z
          .number({ error: 'must be a rate 0..1' })
          .min(0, 'must be a rate 0..1')
          .max(1, 'must be a rate 0..1')
          .optional()
          .describe("also the circuit breaker's failure rate"),
        costPer1kQaUsd: usd.optional(),
      })
      .optional(),
    budget: z
      .strictObject({
        monthlyUsd: usd.optional(),
        dailyUsd: usd.optional(),
        circuitBreaker: z
          .strictObject({
            threshold: z
              .number({ error: 'must be a share 0..1' })
              .min(0, 'must be a share 0..1')
              .max(1, 'must be a share 0..1')
              .default(0.8),
            action: z
              .enum(BUDGET_ACTIONS, { error: `must be one of ${BUDGET_ACTIONS.join(', ')}` })
              .default('downgrade_to_fallback'),
          })
          .optional(),
      })
      .optional(),
    breaker: z
      .strictObject({
        minRequests: z.number().int().min(1).max(10_000).default(5),
        windowSeconds: z.number().int().min(1).max(3600).default(30),
        cooldownSeconds: z.number().int().min(1).max(3600).default(15),
      })
      .optional()
      .describe('circuit breaker per model: opens at sla.errorRateMax (default 0.5) over minRequests in the window'),
  })
  .meta({ id: 'TenantRouterSpec', description: "A tenant's model router." });

export type RouterSpec = z.infer<typeof routerSpecSchema>;

/** Read the first shape (`defaultModel`, `budgetUsdPerMonth`) as the current one; other input is left as is. */
export function upgradeRouterSpec(input: unknown): unknown {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const { defaultModel, budgetUsdPerMonth, ...rest } = input as Record<string, unknown>;
  if (defaultModel === undefined && budgetUsdPerMonth === undefined) return input;
  const out: Record<string, unknown> = { ...rest };
  if (defaultModel !== undefined && out.primary === undefined) out.primary = { model: defaultModel };
  if (budgetUsdPerMonth !== undefined)
    out.budget = { ...((out.budget as Record<string, unknown> | undefined) ?? {}), monthlyUsd: budgetUsdPerMonth };
  return out;
}

/** The schema a `TenantRouter` document's spec is validated with (both shapes). */
export const routerDocumentSpecSchema = z.preprocess(upgradeRouterSpec, routerSpecSchema);

/** A stored spec as the router reads it; undefined when it no longer validates. */
export function readRouterSpec(stored: unknown): RouterSpec | undefined {
  const r = routerDocumentSpecSchema.safeParse(stored);
  return r.success ? r.data : undefined;
}
