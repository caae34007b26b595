/**
 * Token counts and costs. Prompts are counted with a real BPE tokenizer (`gpt-tokenizer`,
 * o200k_base), so a reservation is the request's true worst case for OpenAI models and a
 * close one for others; costs are integer micro-dollars, rounded up.
 */
import { countTokens } from 'gpt-tokenizer';
import type { CatalogueModel, ChatMessage, EmbeddingsRequest } from './types.js';

/** Tokens an image part is counted as (OpenAI's low-detail figure). */
const IMAGE_TOKENS = 85;

function contentTokens(content: ChatMessage['content']): number {
  if (content === null) return 0;
  if (typeof content === 'string') return countTokens(content);
  let n = 0;
  for (const part of content) {
    if (typeof part.text === 'string') n += countTokens(part.text);
    else n += IMAGE_TOKENS;
  }
  return n;
}

/** Tokens of a chat prompt: each message's content and framing, and the answer's priming. */
export function promptTokens(messages: ChatMessage[], tools?: unknown[]): number {
  let n = 3;
  for (const m of messages) {
    n += 4 + contentTokens(m.content);
    if (m.name) n += 1 + countTokens(m.name);
    if (m.tool_calls) n += countTokens(JSON.stringify(m.tool_calls));
  }
  if (tools && tools.length > 0) n += countTokens(JSON.stringify(tools));
  return n;
}

/** Tokens of a piece of streamed text. */
export function textTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

/** Tokens of an embeddings input (token arrays count as they are). */
export function embeddingInputTokens(input: EmbeddingsRequest['input']): number {
  if (typeof input === 'string') return countTokens(input);
  let n = 0;
  for (const item of input as unknown[]) {
    if (typeof item === 'string') n += countTokens(item);
    else if (typeof item === 'number') n += 1;
    else if (Array.isArray(item)) n += item.length;
  }
  return n;
}

/** The cost of a call in micro-dollars (prices are USD per million tokens, so micro-dollars per token). */
export function costMicros(
  model: Pick<CatalogueModel, 'inputUsdPerMTok' | 'outputUsdPerMTok'>,
  tokensIn: number,
  tokensOut: number,
): number {
  return Math.ceil(tokensIn * model.inputUsdPerMTok + tokensOut * model.outputUsdPerMTok);
}
