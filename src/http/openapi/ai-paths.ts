/**
 * OpenAPI operations of the model router's OpenAI-compatible API, in the order the document lists them.
 * Its errors use OpenAI's body (`OpenAiError`), not problem+json.
 */
import type { Operations } from './operation.js';

/** Chat completions, embeddings and models, for the tenant of the credential (or of `X-Tenant-ID`). */
export const aiPaths: Operations = {
  '/v1/ai/chat/completions': {
    post: {
      summary:
        "A chat answer from the tenant's router (model name or auto); with stream: true, server-sent events " +
        'ending with [DONE], or with an error event when the stream is cut; x-tenancy-model names the model',
      tags: ['ai'],
      body: 'ChatCompletionRequest',
      ok: 200,
      openAi: true,
      stream: true,
    },
  },
  '/v1/ai/embeddings': {
    post: {
      summary: "Embeddings from the router's embeddings model (floats, or base64 with encoding_format)",
      tags: ['ai'],
      body: 'EmbeddingsRequest',
      ok: 200,
      openAi: true,
    },
  },
  '/v1/ai/models': {
    get: {
      summary: 'The models the tenant may use: named by its router, in the catalogue, allowed by its sovereignty rules',
      tags: ['ai'],
      ok: 200,
      openAi: true,
    },
  },
  '/v1/ai/models/{model}': {
    get: {
      summary: 'One model the tenant may use (404 model_not_found otherwise)',
      tags: ['ai'],
      ok: 200,
      openAi: true,
    },
  },
};
