/**
 * The adapter for Anthropic's Messages API: OpenAI chat requests go out as `POST /messages`,
 * answers and event streams come back in OpenAI's shape (translation in `anthropic-translate.ts`).
 * Anthropic has no embeddings API, so embeddings are `unsupported`.
 */
import type { Dispatcher } from 'undici';
import {
  type CallOptions,
  type ChatChunk,
  type ChatCompletion,
  type ChatRequest,
  type EmbeddingsRequest,
  type EmbeddingsResponse,
  type ProviderAdapter,
  type ProviderTarget,
  UpstreamError,
} from '../types.js';
import {
  ANTHROPIC_VERSION,
  type AnthropicRequest,
  AnthropicStream,
  fromAnthropicMessage,
  toAnthropicRequest,
} from './anthropic-translate.js';
import { postJson, readEvents, readJson, type UpstreamResponse } from './upstream-http.js';

/** Calls Anthropic-type providers through the router's agent. */
export class AnthropicAdapter implements ProviderAdapter {
  readonly #agent: Dispatcher;

  constructor(agent: Dispatcher) {
    this.#agent = agent;
  }

  /** One whole answer. */
  async chat(target: ProviderTarget, body: ChatRequest, options: CallOptions): Promise<ChatCompletion> {
    const res = await this.#post(target, toAnthropicRequest(body, false), options);
    return fromAnthropicMessage(await readJson(res), body.model);
  }

  /**
   * The answer as OpenAI chunks, the last one (no choices) carrying the usage. A stream that
   * ends before `message_stop` is a `protocol` failure: the answer may be cut short.
   */
  async *chatStream(target: ProviderTarget, body: ChatRequest, options: CallOptions): AsyncIterable<ChatChunk> {
    const res = await this.#post(target, toAnthropicRequest(body, true), options);
    const stream = new AnthropicStream(body.model);
    for await (const event of readEvents(res, { idleMs: target.timeoutMs, signal: options.signal })) {
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        throw new UpstreamError(
          'protocol',
          `the provider's stream has an event that is not JSON: ${event.data.slice(0, 120)}`,
        );
      }
      yield* stream.read(data);
      if (stream.done) return;
    }
    throw new UpstreamError('protocol', "the provider's stream ended before its end marker");
  }

  /** Always fails: Anthropic offers no embeddings. */
  async embeddings(
    _target: ProviderTarget,
    _body: EmbeddingsRequest,
    _options: CallOptions,
  ): Promise<EmbeddingsResponse> {
    throw new UpstreamError('unsupported', 'anthropic providers have no embeddings API');
  }

  #post(target: ProviderTarget, request: AnthropicRequest, options: CallOptions): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
    if (target.apiKey) headers['x-api-key'] = target.apiKey;
    return postJson(this.#agent, `${target.baseUrl.replace(/\/+$/, '')}/messages`, headers, request, {
      signal: options.signal,
      timeoutMs: target.timeoutMs,
    });
  }
}
