/**
 * Embeddings through the router: the model the request names (it must be one the tenant's
 * router names, of kind `embedding`), no fallback; the input is counted and held against the
 * budget like a prompt, and vectors come back as floats or, when asked (the official client
 * asks), base64.
 */
import { TenancyError } from '../errors.js';
import type { EmbeddingsRequestInput } from './chat-schema.js';
import type { Attempt, ModelRouter, WalkState } from './model-router.js';
import { asBase64, codeOf, upstreamFailure } from './router-errors.js';
import { chainFor } from './tenant-routing.js';
import { costMicros, embeddingInputTokens } from './tokens.js';
import { UpstreamError, type EmbeddingsResponse, type ProviderTarget } from './types.js';

/** Embeddings for `tenantId`. */
export async function embed(
  router: ModelRouter,
  tenantId: string,
  input: EmbeddingsRequestInput,
  requestId: string,
): Promise<{ response: EmbeddingsResponse; model: string }> {
  const routing = await router.deps.routings.of(tenantId);
  const catalogue = await router.deps.catalogue.snapshot();
  const [candidate] = chainFor(routing, catalogue, input.model, { downgraded: false, kind: 'embedding' });
  const tokens = embeddingInputTokens(input.input);
  if (tokens > candidate!.model.contextWindow * (Array.isArray(input.input) ? input.input.length : 1))
    throw new TenancyError(
      'context_length_exceeded',
      `the input is longer than ${candidate!.model.name}'s context window`,
      {
        errors: [{ path: '/input', message: `more than ${candidate!.model.contextWindow} tokens per input` }],
      },
    );
  const state: WalkState = { exhausted: [], breakerOpen: [], tooLong: [], lastError: undefined };
  const open = () =>
    new TenancyError(
      'models_unavailable',
      `model ${candidate!.model.name} is failing for this tenant (circuit open); retry later`,
      { headers: { 'retry-after': String(Math.ceil(routing.breaker.cooldownMs / 1000)) } },
    );
  if (!router.deps.breakers.wouldAllow(tenantId, candidate!.model.name)) throw open();
  const reservation = await router.hold(routing, costMicros(candidate!.model, tokens, 0), state);
  if (reservation === null) throw router.failure(routing, state);
  let target: ProviderTarget;
  try {
    target = await router.targetOf(candidate!);
  } catch (error) {
    if (reservation) await router.deps.ledger.settle(reservation.reservation, 0);
    throw error;
  }
  // The breaker's probe is taken only now, just before the call.
  if (!router.deps.breakers.allow(tenantId, candidate!.model.name)) {
    if (reservation) await router.deps.ledger.settle(reservation.reservation, 0);
    throw open();
  }
  const { model: _m, ...rest } = input;
  const attempt: Attempt = {
    candidate: candidate!,
    target,
    reservation: reservation?.reservation,
    body: { model: '', messages: [] },
    maxTokens: 0,
    promptTokens: tokens,
  };
  const started = Date.now();
  try {
    const response = await router.withRetries(routing, candidate!.model.name, () =>
      router.deps.adapters[target.type].embeddings(
        target,
        { ...rest, model: candidate!.model.upstreamModel } as never,
        {
          signal: AbortSignal.timeout(target.timeoutMs * 2),
        },
      ),
    );
    const used = response.usage?.prompt_tokens ?? tokens;
    await router.finish(tenantId, attempt, requestId, started, {
      outcome: 'success',
      tokensIn: used,
      tokensOut: 0,
      stream: false,
    });
    response.model = candidate!.model.name;
    if (input.encoding_format === 'base64') asBase64(response);
    return { response, model: candidate!.model.name };
  } catch (error) {
    await router.finish(tenantId, attempt, requestId, started, {
      outcome: 'error',
      code: codeOf(error),
      tokensIn: 0,
      tokensOut: 0,
      stream: false,
    });
    throw error instanceof UpstreamError ? upstreamFailure(error) : error;
  }
}

/**
 * Float vectors for `input` from `model` through the tenant's router, in input order: the same
 * call as `POST /v1/ai/embeddings` (held against and charged to the tenant's budget, its
 * refusals thrown as they are), for the control plane's own use (a corpus's chunks and queries).
 */
export async function embedTexts(
  router: ModelRouter,
  tenantId: string,
  request: { model: string; input: string[]; dimensions?: number },
  requestId: string,
): Promise<number[][]> {
  const { response } = await embed(
    router,
    tenantId,
    {
      model: request.model,
      input: request.input,
      encoding_format: 'float',
      ...(request.dimensions !== undefined ? { dimensions: request.dimensions } : {}),
    },
    requestId,
  );
  const out: number[][] = [];
  for (const d of response.data) if (Array.isArray(d.embedding)) out[d.index] = d.embedding;
  if (out.length !== request.input.length || out.some((v) => v === undefined))
    throw new TenancyError(
      'upstream_bad_response',
      `model ${request.model} did not answer one float vector per input (${request.input.length} inputs)`,
    );
  return out;
}
