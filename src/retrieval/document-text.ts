/**
 * A document's text: plain text and Markdown as they are, HTML through `html-to-text`
 * (scripts, styles and images left out); base64 content must be valid UTF-8 and not binary.
 * Chunks are windows of the corpus's size in tokens (the router's tokenizer), overlapping
 * by its overlap, cut at whitespace where one is near.
 */
import { createHash } from 'node:crypto';
import { decode } from 'gpt-tokenizer';
import { convert } from 'html-to-text';
import { encodePlain } from '../ai/tokens.js';
import { TenancyError } from '../errors.js';
import { MAX_DOCUMENT_BYTES, type DocumentInput } from './corpus-schema.js';

function invalid(message: string, path = '/content'): TenancyError {
  return new TenancyError('invalid_document', `the document cannot be read: ${message}`, {
    errors: [{ path, message }],
  });
}

/**
 * The document's text and the SHA-256 of its bytes as sent (the UTF-8 of `text`, or the
 * decoded `content`): what a source signs. Or a 4xx naming why it has none.
 */
export function documentText(d: DocumentInput): { text: string; sha256: string; bytes: Buffer } {
  let raw: string;
  let bytes: Buffer;
  if (d.text !== undefined) {
    if (Buffer.byteLength(d.text, 'utf8') > MAX_DOCUMENT_BYTES)
      throw new TenancyError('payload_too_large', `a document holds at most ${MAX_DOCUMENT_BYTES} bytes of text`, {
        errors: [{ path: '/text', message: `larger than ${MAX_DOCUMENT_BYTES} bytes` }],
      });
    raw = d.text;
    bytes = Buffer.from(raw, 'utf8');
  } else {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(d.content!.replace(/\s+/g, ''))) throw invalid('content is not base64');
    bytes = Buffer.from(d.content!, 'base64');
    if (bytes.length > MAX_DOCUMENT_BYTES)
      throw new TenancyError('payload_too_large', `a document holds at most ${MAX_DOCUMENT_BYTES} bytes`, {
        errors: [{ path: '/content', message: `larger than ${MAX_DOCUMENT_BYTES} bytes` }],
      });
    try {
      raw = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw invalid('content is not valid UTF-8');
    }
  }
  let controls = 0;
  for (let k = 0; k < raw.length; k++) {
    const c = raw.charCodeAt(k);
    if (c === 0) throw invalid('content looks binary', d.text !== undefined ? '/text' : '/content');
    if (c < 9 || (c > 13 && c < 32)) controls++;
  }
  if (controls > raw.length / 100) throw invalid('content looks binary', d.text !== undefined ? '/text' : '/content');
  const text =
    d.contentType === 'text/html'
      ? convert(raw, {
          wordwrap: false,
          selectors: [
            { selector: 'a', options: { ignoreHref: true } },
            { selector: 'img', format: 'skip' },
          ],
        })
      : raw;
  const trimmed = text.replace(/\r\n?/g, '\n').trim();
  if (trimmed === '') throw invalid('the document has no text', d.text !== undefined ? '/text' : '/content');
  return { text: trimmed, sha256: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** Split `text` into windows of `size` tokens overlapping by `overlap`. */
export function chunkText(text: string, size: number, overlap: number): string[] {
  const tokens = encodePlain(text);
  if (tokens.length <= size) return [text];
  const out: string[] = [];
  const step = size - overlap;
  for (let start = 0; start < tokens.length; start += step) {
    const piece = decode(tokens.slice(start, start + size))
      .replace(/\uFFFD/g, '')
      .trim();
    if (piece) out.push(piece);
    if (start + size >= tokens.length) break;
  }
  return out;
}
