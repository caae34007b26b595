/**
 * The built-in `mock` provider, for demos, tests and benchmarks: no network, deterministic
 * answers (the same request gets the same words), a configurable latency, and a failure rate
 * that fails a fixed, repeatable share of calls with a 503. Usage is counted with the real
 * tokenizer, so budgets and metering behave as with a hosted provider.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promptTokens, textTokens } from '../tokens.js';
import {
  UpstreamError,
  type CallOptions,
  type ChatChunk,
  type ChatCompletion,
  type ChatMessage,
  type ChatRequest,
  type EmbeddingsRequest,
  type EmbeddingsResponse,
  type ProviderAdapter,
  type ProviderTarget,
} from '../types.js';

const WORDS = [
  'the',
  'answer',
  'is',
  'grounded',
  'in',
  'your',
  'own',
  'data',
  'and',
  'stays',
  'inside',
  'its',
  'tenant',
];

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) return m.content.map((p) => (typeof p.text === 'string' ? p.text : '')).join(' ');
  }
  return '';
}

/** The words of the mock answer: an echo of the question, then words picked by its hash, up to `max` tokens. */
function answerFor(body: ChatRequest): string {
  const question = lastUserText(body.messages).replace(/\s+/g, ' ').trim().slice(0, 80);
  const digest = createHash('sha256').update(`${body.model}\n${question}`).digest();
  const words = [`Mock answer from ${body.model} to "${question}":`];
  for (let i = 0; i < 12; i++) words.push(WORDS[digest[i]! % WORDS.length]!);
  let text = `${words.join(' ')}.`;
  const max = body.max_tokens ?? 4096;
  while (textTokens(text) > max) text = text.split(' ').slice(0, -1).join(' ');
  return text;
}

/** The built-in deterministic provider. */
export class MockAdapter implements ProviderAdapter {
  #calls = new Map<string, number>();

  async #begin(target: ProviderTarget, signal: AbortSignal): Promise<void> {
    const mock = target.mock ?? { latencyMs: 0, failureRate: 0 };
    const n = (this.#calls.get(target.name) ?? 0) + 1;
    this.#calls.set(target.name, n);
    if (mock.latencyMs > 0)
      await sleep(mock.latencyMs, undefined, { signal }).catch(() => {
        throw new UpstreamError('timeout', 'the call to the provider was aborted');
      });
    if (mock.failureRate > 0) {
      // Fails the calls whose index falls in the failing share: repeatable for a given seed.
      const h =
        createHash('sha256')
          .update(`${mock.seed ?? target.name}:${n}`)
          .digest()
          .readUInt32BE(0) /
        2 ** 32;
      if (h < mock.failureRate)
        throw new UpstreamError('http', 'the mock provider failed this call (failureRate)', { status: 503 });
    }
  }

  async chat(target: ProviderTarget, body: ChatRequest, options: CallOptions): Promise<ChatCompletion> {
    await this.#begin(target, options.signal);
    const content = answerFor(body);
    const prompt = promptTokens(body.messages, body.tools);
    const completion = textTokens(content);
    return {
      id: `chatcmpl-mock-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    };
  }

  async *chatStream(target: ProviderTarget, body: ChatRequest, options: CallOptions): AsyncGenerator<ChatChunk> {
    await this.#begin(target, options.signal);
    const id = `chatcmpl-mock-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatChunk['choices'][0]['delta'], finish: string | null): ChatChunk => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    yield chunk({ role: 'assistant', content: '' }, null);
    const content = answerFor(body);
    const words = content.split(' ');
    for (let i = 0; i < words.length; i++) yield chunk({ content: i === 0 ? words[i]! : ` ${words[i]}` }, null);
    yield chunk({}, 'stop');
    const prompt = promptTokens(body.messages, body.tools);
    const completion = textTokens(content);
    yield {
      id,
      object: 'chat.completion.chunk',
      created,
      model: body.model,
      choices: [],
      usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
    };
  }

  async embeddings(target: ProviderTarget, body: EmbeddingsRequest, options: CallOptions): Promise<EmbeddingsResponse> {
    await this.#begin(target, options.signal);
    const inputs =
      typeof body.input === 'string' ? [body.input] : (body.input as unknown[]).map((x) => JSON.stringify(x));
    const dims = body.dimensions ?? 16;
    let tokens = 0;
    const data = inputs.map((text, index) => {
      tokens += typeof text === 'string' ? textTokens(text) : 0;
      const vector: number[] = [];
      for (let i = 0; vector.length < dims; i++) {
        const d = createHash('sha256').update(`${body.model}\n${i}\n${text}`).digest();
        for (let j = 0; j + 4 <= d.length && vector.length < dims; j += 4) vector.push(d.readInt32BE(j) / 2 ** 31);
      }
      const norm = Math.hypot(...vector) || 1;
      return { object: 'embedding' as const, index, embedding: vector.map((v) => v / norm) };
    });
    return { object: 'list', data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  }
}
