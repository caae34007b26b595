/**
 * The `ModelProvider` document (platform level): a provider of the model catalogue, where it
 * is reached, in which region it processes data, the platform secret holding its API key,
 * and the models it serves with their prices and context windows.
 */
import { z } from 'zod';
import { modelName } from './router-spec.js';
import { PROVIDER_TYPES } from './types.js';

/** A provider's name: a DNS-label-like lowercase name. */
export const PROVIDER_NAME = /^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/;
const price = z
  .number({ error: 'must be a price in USD per million tokens' })
  .min(0, 'must be >= 0')
  .max(100_000, 'must be <= 100000');

/** Default base URLs of the hosted providers. */
export const DEFAULT_BASE_URLS: Partial<Record<(typeof PROVIDER_TYPES)[number], string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
};

export const catalogueModelSchema = z.strictObject({
  name: modelName,
  upstreamModel: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters').optional(),
  inputUsdPerMTok: price,
  outputUsdPerMTok: price.default(0),
  contextWindow: z
    .number({ error: 'must be a number of tokens' })
    .int('must be an integer')
    .min(16, 'must be >= 16')
    .max(100_000_000, 'must be <= 100000000'),
  kind: z.enum(['chat', 'embedding'], { error: 'must be chat or embedding' }).default('chat'),
});

export const providerSpecSchema = z
  .strictObject({
    type: z.enum(PROVIDER_TYPES, { error: `must be one of ${PROVIDER_TYPES.join(', ')}` }),
    baseUrl: z.string().max(2048, 'must be at most 2048 characters').optional(),
    apiKeySecret: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'must be a platform secret name')
      .optional()
      .describe("the platform secret holding the provider's API key"),
    region: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a region name such as eu-west-1'),
    timeoutMs: z
      .number({ error: 'must be a number of milliseconds' })
      .int('must be an integer')
      .min(100, 'must be >= 100')
      .max(600_000, 'must be <= 600000')
      .default(60_000)
      .describe('longest wait for the first byte of an answer, and between two streamed chunks'),
    mock: z
      .strictObject({
        latencyMs: z.number().int().min(0).max(60_000).default(0),
        failureRate: z.number().min(0, 'must be a rate 0..1').max(1, 'must be a rate 0..1').default(0),
        seed: z.string().max(64).optional(),
      })
      .optional()
      .describe('type mock only: added latency and the share of calls that fail'),
    models: z
      .array(catalogueModelSchema)
      .min(1, 'a provider serves at least one model')
      .max(200, 'at most 200 models')
      .refine((ms) => new Set(ms.map((m) => m.name)).size === ms.length, 'model names must be unique'),
  })
  .superRefine((spec, ctx) => {
    if (spec.mock && spec.type !== 'mock')
      ctx.addIssue({ code: 'custom', path: ['mock'], message: 'applies to type mock only' });
    const url = spec.baseUrl ?? DEFAULT_BASE_URLS[spec.type];
    if (spec.type !== 'mock' && url === undefined)
      ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: `type ${spec.type} needs a baseUrl` });
    if (spec.baseUrl !== undefined) {
      let parsed: URL | undefined;
      try {
        parsed = new URL(spec.baseUrl);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'must be an absolute http:// or https:// URL' });
      }
      if (parsed && parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
        ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: 'must be an http:// or https:// URL' });
      if (parsed && (parsed.username || parsed.password))
        ctx.addIssue({
          code: 'custom',
          path: ['baseUrl'],
          message: 'must not carry credentials; put the API key in a platform secret (apiKeySecret)',
        });
    }
  })
  .meta({ id: 'ModelProviderSpec', description: 'A provider of the model catalogue.' });

export const modelProviderDocumentSchema = z
  .strictObject({
    apiVersion: z.literal('tenancy/v1'),
    kind: z.literal('ModelProvider'),
    metadata: z.strictObject({
      name: z.string().regex(PROVIDER_NAME, 'must be a lowercase name of letters, digits, "." and "-"'),
    }),
    spec: providerSpecSchema,
  })
  .meta({ id: 'ModelProvider', description: 'A `ModelProvider` document (platform level).' });

export type ProviderSpec = z.infer<typeof providerSpecSchema>;
export type ModelProviderDocument = z.infer<typeof modelProviderDocumentSchema>;
