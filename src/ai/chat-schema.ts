/**
 * The request bodies of the OpenAI-compatible routes, validated before anything is reserved
 * or sent: what OpenAI's API accepts, with its limits. Fields this schema does not name are
 * passed to OpenAI-compatible providers as they are (new OpenAI parameters keep working).
 */
import { z } from 'zod';

const content = z.union([z.string().max(4_000_000), z.array(z.record(z.string(), z.unknown())).max(1000), z.null()], {
  error: 'must be a string, an array of content parts, or null',
});
const tokens = z
  .number({ error: 'must be a number of tokens' })
  .int('must be an integer')
  .min(1, 'must be >= 1')
  .max(10_000_000);

export const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], {
    error: 'must be system, developer, user, assistant or tool',
  }),
  content: content.optional(),
  name: z.string().max(256).optional(),
  tool_calls: z.array(z.record(z.string(), z.unknown())).max(128).optional(),
  tool_call_id: z.string().max(256).optional(),
});

export const chatRequestSchema = z
  .looseObject({
    model: z.string({ error: 'must be a model name, or "auto"' }).min(1, 'must not be empty').max(256),
    messages: z
      .array(chatMessageSchema, { error: 'must be an array of messages' })
      .min(1, 'needs at least one message')
      .max(2048),
    max_tokens: tokens.optional(),
    max_completion_tokens: tokens.optional(),
    temperature: z.number({ error: 'must be a number' }).min(0, 'must be 0..2').max(2, 'must be 0..2').optional(),
    top_p: z.number({ error: 'must be a number' }).min(0, 'must be 0..1').max(1, 'must be 0..1').optional(),
    n: z.number().int('must be an integer').min(1, 'must be 1..8').max(8, 'must be 1..8').optional(),
    stream: z.boolean({ error: 'must be true or false' }).optional(),
    stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
    stop: z
      .union([z.string().max(1024), z.array(z.string().max(1024)).max(4, 'at most 4 stop sequences')])
      .nullable()
      .optional(),
    metadata: z
      .record(z.string().max(64), z.string().max(512), { error: 'must be an object of strings' })
      .refine((m) => Object.keys(m).length <= 16, 'at most 16 keys')
      .optional()
      .describe('routing keys: task, usecase, domain pick the route when model is "auto"'),
    tools: z.array(z.record(z.string(), z.unknown())).max(128).optional(),
    user: z.string().max(256).optional(),
  })
  .meta({ id: 'ChatCompletionRequest' });

export type ChatRequestInput = z.infer<typeof chatRequestSchema>;

export const embeddingsRequestSchema = z
  .looseObject({
    model: z.string({ error: 'must be a model name' }).min(1, 'must not be empty').max(256),
    input: z.union(
      [
        z.string().min(1, 'must not be empty'),
        z.array(z.string()).min(1, 'needs at least one input').max(2048, 'at most 2048 inputs'),
        z.array(z.number().int()).min(1).max(100_000),
        z.array(z.array(z.number().int()).max(100_000)).min(1).max(2048),
      ],
      { error: 'must be a string, an array of strings, or token arrays' },
    ),
    encoding_format: z.enum(['float', 'base64'], { error: 'must be float or base64' }).optional(),
    dimensions: z.number().int().min(1).max(16_384).optional(),
    user: z.string().max(256).optional(),
  })
  .meta({ id: 'EmbeddingsRequest' });

export type EmbeddingsRequestInput = z.infer<typeof embeddingsRequestSchema>;
