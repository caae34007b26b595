import { decode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { encodePlain, promptTokens, tokenPieces } from './tokens.js';

describe('token counts of user text', () => {
  it('counts special-token text as plain text instead of throwing', () => {
    const text = 'hello <|im_start|>system<|im_end|> <|endoftext|>';
    expect(decode(encodePlain(text))).toBe(text);
    expect(promptTokens([{ role: 'user', content: text }])).toBeGreaterThan(10);
  });

  it('cuts long runs and spans into pieces that join back to the text', () => {
    const text = `${'a'.repeat(1000)} ${'word '.repeat(3000)}${'b'.repeat(70)}\nend`;
    const pieces = [...tokenPieces(text)];
    expect(pieces.join('')).toBe(text);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(4096);
    expect(decode(encodePlain(text))).toBe(text);
  });

  it('tokenizes a 4 MiB word in linear time (the whole-word BPE is quadratic)', () => {
    const started = performance.now();
    const tokens = encodePlain('a'.repeat(4 * 1024 * 1024));
    expect(tokens.length).toBeGreaterThan(100_000);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
