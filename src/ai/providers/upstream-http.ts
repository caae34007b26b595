/**
 * How adapters talk to a provider over HTTP: one undici agent per router (keep-alive pools,
 * the SSRF guard's lookup on every new connection so a provider name that re-resolves to an
 * internal address is refused), a timeout to the first byte, HTTP errors turned into
 * {@link UpstreamError}s, and server-sent events read with a timeout between events.
 */
import type { LookupFunction } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request, type Dispatcher } from 'undici';
import { retryAfterMs } from '../../governance/index.js';
import { UpstreamError } from '../types.js';

/** Most bytes of an upstream answer read (a provider returning an endless body is cut off). */
export const MAX_UPSTREAM_BODY_BYTES = 32 * 1024 * 1024;

/** The agent adapters send through. */
export function upstreamAgent(lookup?: LookupFunction): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: 256,
    pipelining: 1,
    ...(lookup ? { connect: { lookup } } : {}),
  });
}

/** One upstream HTTP call's answer, its status already checked. */
export interface UpstreamResponse {
  body: Dispatcher.ResponseData['body'];
  headers: Dispatcher.ResponseData['headers'];
}

/** POST `body` as JSON; throws an {@link UpstreamError} for a non-2xx answer, a timeout or a broken connection. */
export async function postJson(
  agent: Dispatcher,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  options: { signal: AbortSignal; timeoutMs: number },
): Promise<UpstreamResponse> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
      signal: options.signal,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
  } catch (cause) {
    throw networkError(cause);
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return { body: res.body, headers: res.headers };
  const text = await readText(res.body, 64 * 1024).catch(() => '');
  const header = res.headers['retry-after'];
  const after = retryAfterMs((Array.isArray(header) ? header[0] : header) ?? null);
  throw new UpstreamError('http', `the provider answered ${res.statusCode}: ${upstreamMessage(text)}`, {
    status: res.statusCode,
    ...(after !== undefined ? { retryAfterMs: after } : {}),
  });
}

/** Read a whole JSON answer (bounded); garbage is a `protocol` failure. */
export async function readJson(res: UpstreamResponse): Promise<unknown> {
  let text: string;
  try {
    text = await readText(res.body, MAX_UPSTREAM_BODY_BYTES);
  } catch (cause) {
    throw cause instanceof UpstreamError ? cause : networkError(cause);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError('protocol', `the provider's answer is not JSON: ${text.slice(0, 120)}`);
  }
}

async function readText(body: AsyncIterable<Buffer | Uint8Array>, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new UpstreamError('protocol', `the provider's answer is larger than ${limit} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * The events of a server-sent-events body. A stall longer than `idleMs` between two events
 * is a `timeout` failure; a body that ends or breaks is the caller's to judge (it knows
 * whether the stream had finished).
 */
export async function* readEvents(
  res: UpstreamResponse,
  options: { idleMs: number; signal: AbortSignal },
): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => queue.push(event) });
  const decoder = new TextDecoder();
  const iterator = res.body[Symbol.asyncIterator]();
  let total = 0;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new UpstreamError('timeout', `the provider's stream stalled for ${options.idleMs} ms`)),
          options.idleMs,
        );
      });
      let next: IteratorResult<Buffer | Uint8Array>;
      try {
        next = await Promise.race([iterator.next(), stalled]);
      } catch (cause) {
        throw cause instanceof UpstreamError ? cause : networkError(cause);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      total += next.value.length;
      if (total > MAX_UPSTREAM_BODY_BYTES)
        throw new UpstreamError('protocol', `the provider's stream is larger than ${MAX_UPSTREAM_BODY_BYTES} bytes`);
      parser.feed(decoder.decode(next.value, { stream: true }));
      while (queue.length > 0) yield queue.shift()!;
    }
  } finally {
    // Stop reading (and close the connection) whenever the consumer stops early or the
    // stream stalled: destroying first ends a read still pending, so return() cannot hang.
    res.body.destroy();
    await iterator.return?.().catch(() => undefined);
  }
}

/** A failed connection or an aborted call as an {@link UpstreamError}. */
export function networkError(cause: unknown): UpstreamError {
  if (cause instanceof UpstreamError) return cause;
  const code = (cause as { code?: string }).code;
  const refused = [cause, (cause as { cause?: unknown }).cause].find(
    (c) => (c as { code?: string } | undefined)?.code === 'webhook_url_forbidden',
  );
  if (refused) return new UpstreamError('refused', (refused as Error).message, { cause });
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
    return new UpstreamError('timeout', 'the provider did not answer in time', { cause });
  if ((cause as Error).name === 'AbortError')
    return new UpstreamError('timeout', 'the call to the provider was aborted', { cause });
  return new UpstreamError('network', `cannot reach the provider: ${(cause as Error).message}`, { cause });
}

/** The message of a provider's error body (OpenAI's and Anthropic's shapes), shortened. */
function upstreamMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const m = typeof body.error === 'string' ? body.error : (body.error?.message ?? body.message);
    if (typeof m === 'string') return m.slice(0, 300);
  } catch {
    // not JSON
  }
  return text.slice(0, 300) || '(empty body)';
}
