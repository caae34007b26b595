/**
 * OpenAI and OpenAI-compatible providers (vLLM, Ollama, LiteLLM, Azure-style gateways): the
 * request goes through as it is, with the upstream model name and the provider's key. A
 * streamed answer must end with `data: [DONE]`; a body that ends before it, an `error` event
 * or a chunk that is not JSON is a failure, never a clean end.
 */
import type { Dispatcher } from 'undici';
import {
  UpstreamError,
  type CallOptions,
  type ChatChunk,
  type ChatCompletion,
  type ChatRequest,
  type EmbeddingsRequest,
  type EmbeddingsResponse,
  type ProviderAdapter,
  type ProviderTarget,
} from '../types.js';
import { postJson, readEvents, readJson } from './upstream-http.js';

/** OpenAI's own API takes `max_completion_tokens` (its reasoning models refuse `max_tokens`); compatible servers take `max_tokens`. */
function forTarget(target: ProviderTarget, body: ChatRequest): ChatRequest {
  if (target.type !== 'openai' || body.max_tokens === undefined) return body;
  const { max_tokens, ...rest } = body;
  return { ...rest, max_completion_tokens: max_tokens } as ChatRequest;
}

function headers(target: ProviderTarget): Record<string, string> {
  return target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {};
}

function isCompletion(body: unknown): body is ChatCompletion {
  const b = body as ChatCompletion | null;
  return (
    typeof b === 'object' &&
    b !== null &&
    Array.isArray(b.choices) &&
    b.choices.every((c) => typeof c === 'object' && c !== null && typeof c.message === 'object' && c.message !== null)
  );
}

/** The adapter for `openai` and `openai-compatible` providers. */
export class OpenAiAdapter implements ProviderAdapter {
  constructor(private readonly agent: Dispatcher) {}

  async chat(target: ProviderTarget, body: ChatRequest, options: CallOptions): Promise<ChatCompletion> {
    const res = await postJson(
      this.agent,
      `${target.baseUrl}/chat/completions`,
      headers(target),
      { ...forTarget(target, body), stream: false },
      {
        signal: options.signal,
        timeoutMs: target.timeoutMs,
      },
    );
    const answer = await readJson(res);
    if (!isCompletion(answer))
      throw new UpstreamError('protocol', 'the provider answered something that is not a chat completion');
    return answer;
  }

  async *chatStream(target: ProviderTarget, body: ChatRequest, options: CallOptions): AsyncGenerator<ChatChunk> {
    const res = await postJson(
      this.agent,
      `${target.baseUrl}/chat/completions`,
      headers(target),
      { ...forTarget(target, body), stream: true, stream_options: { include_usage: true } },
      { signal: options.signal, timeoutMs: target.timeoutMs },
    );
    for await (const event of readEvents(res, { idleMs: target.timeoutMs, signal: options.signal })) {
      if (event.data === '[DONE]') return;
      let chunk: unknown;
      try {
        chunk = JSON.parse(event.data);
      } catch {
        throw new UpstreamError(
          'protocol',
          `the provider streamed a chunk that is not JSON: ${event.data.slice(0, 80)}`,
        );
      }
      const error = (chunk as { error?: { message?: unknown; code?: unknown } }).error;
      if (error !== undefined && error !== null)
        throw new UpstreamError('http', `the provider failed mid-stream: ${String(error.message ?? 'error')}`, {
          status: 500,
        });
      if (typeof chunk !== 'object' || chunk === null || !Array.isArray((chunk as ChatChunk).choices))
        throw new UpstreamError('protocol', 'the provider streamed a chunk that is not a chat completion chunk');
      yield chunk as ChatChunk;
    }
    throw new UpstreamError('protocol', "the provider's stream ended before [DONE]");
  }

  async embeddings(target: ProviderTarget, body: EmbeddingsRequest, options: CallOptions): Promise<EmbeddingsResponse> {
    const res = await postJson(this.agent, `${target.baseUrl}/embeddings`, headers(target), body, {
      signal: options.signal,
      timeoutMs: target.timeoutMs,
    });
    const answer = (await readJson(res)) as EmbeddingsResponse | null;
    if (typeof answer !== 'object' || answer === null || !Array.isArray(answer.data))
      throw new UpstreamError('protocol', 'the provider answered something that is not an embeddings list');
    return answer;
  }
}
