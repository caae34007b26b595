/**
 * Token counts and costs. Prompts are counted with a real BPE tokenizer (`gpt-tokenizer`,
 * o200k_base), so a reservation is the request's true worst case for OpenAI models and a
 * close one for others; costs are integer micro-dollars, rounded up.
 */
import { countTokens as countWithSpecials, encode } from 'gpt-tokenizer';
import type { CatalogueModel, ChatMessage, EmbeddingsRequest } from './types.js';

/**
 * Special-token text (`<|im_start|>`, `<|endoftext|>`) in a user's input is counted as the
 * plain text it is: the tokenizer's default throws on it, which would turn a user's string
 * into a server error.
 */
export const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Longest run without whitespace handed to the tokenizer at once (BPE is quadratic in a word's length). */
const MAX_RUN = 64;
/** Longest ordinary span handed to it at once. */
const MAX_SPAN = 4096;

/**
 * The pieces a text is tokenized in: spans of at most {@link MAX_SPAN} characters cut at
 * whitespace, and runs without whitespace longer than {@link MAX_RUN} cut into pieces of
 * that length. So a document or prompt of one 4 MiB "word" costs linear time, not minutes
 * of CPU. The tokens of the pieces, concatenated, decode to the text exactly; their count is
 * within a token or two per cut of the whole text's.
 */
export function* tokenPieces(text: string): Generator<string> {
  const runs = /\S{65,}/g;
  let at = 0;
  const spans = function* (from: number, to: number): Generator<string> {
    while (from < to) {
      let end = Math.min(to, from + MAX_SPAN);
      if (end < to) {
        const space = text.lastIndexOf(' ', end);
        if (space > from) end = space;
      }
      yield text.slice(from, end);
      from = end;
    }
  };
  for (const m of text.matchAll(runs)) {
    yield* spans(at, m.index);
    for (let k = 0; k < m[0].length; k += MAX_RUN) yield m[0].slice(k, k + MAX_RUN);
    at = m.index + m[0].length;
  }
  yield* spans(at, text.length);
}

/** Tokens of `text` as plain text, in linear time. */
export function encodePlain(text: string): number[] {
  if (text.length <= MAX_RUN) return encode(text, PLAIN_TEXT);
  const out: number[] = [];
  for (const piece of tokenPieces(text)) for (const t of encode(piece, PLAIN_TEXT)) out.push(t);
  return out;
}

function countTokens(text: string): number {
  if (text.length <= MAX_SPAN && !/\S{65}/.test(text)) return countWithSpecials(text, PLAIN_TEXT);
  let n = 0;
  for (const piece of tokenPieces(text)) n += countWithSpecials(piece, PLAIN_TEXT);
  return n;
}

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
