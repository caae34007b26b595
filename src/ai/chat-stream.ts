/**
 * A streamed chat answer. Nothing reaches the client until the provider sent its first
 * chunk with content (or tool calls, or a finish), so a provider that fails, stalls or ends
 * before that is retried or replaced by the next model of the chain as for a whole answer.
 * Once bytes went out, a failure ends the stream with an error event and never with
 * `[DONE]`, so a client cannot take a cut answer for a whole one. Output is counted as it
 * streams; a stream that would pass its budget hold is cut off with a `budget_exhausted`
 * error event. The provider's reported usage settles the hold; a stream that ends without
 * one is charged what was counted.
 */
import { TenancyError } from '../errors.js';
import type { ChatRequestInput } from './chat-schema.js';
import type { Attempt, ModelRouter } from './model-router.js';
import { upstreamFailure } from './router-errors.js';
import { costMicros, textTokens } from './tokens.js';
import { ClientGone, UpstreamError, type ChatChunk } from './types.js';

/** Where a stream goes (the HTTP response). */
export interface StreamSink {
  /** Headers go out with the first chunk. */
  begin(meta: { model: string; fallback: boolean }): void;
  send(chunk: ChatChunk): void;
  /** End with an error event (no `[DONE]`). */
  fail(error: TenancyError): void;
  /** End with `[DONE]`. */
  end(): void;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}

function meaningful(chunk: ChatChunk): boolean {
  return (
    chunk.choices.some(
      (c) =>
        (c.delta.content !== undefined && c.delta.content !== null && c.delta.content !== '') ||
        c.delta.tool_calls !== undefined ||
        c.finish_reason !== null,
    ) ||
    (chunk.choices.length === 0 && chunk.usage !== undefined && chunk.usage !== null)
  );
}

function chunkTokens(chunk: ChatChunk): number {
  let n = 0;
  for (const c of chunk.choices) {
    if (typeof c.delta.content === 'string') n += textTokens(c.delta.content);
    if (c.delta.tool_calls) n += textTokens(JSON.stringify(c.delta.tool_calls));
  }
  return n;
}

/** Stream a chat answer for `tenantId` into `sink`. Errors before the first byte throw (the caller answers them). */
export async function streamChat(
  router: ModelRouter,
  tenantId: string,
  input: ChatRequestInput,
  requestId: string,
  sink: StreamSink,
): Promise<void> {
  const routing = await router.deps.routings.of(tenantId);
  const includeUsage = input.stream_options?.include_usage === true;
  const started = Date.now();
  await router.walk(tenantId, input, async (a: Attempt) => {
    const name = a.candidate.model.name;
    const upstream = new AbortController();
    const onClientGone = () => upstream.abort();
    sink.signal.addEventListener('abort', onClientGone, { once: true });
    const adapter = router.deps.adapters[a.target.type];
    let opened: { it: AsyncIterator<ChatChunk>; buffered: ChatChunk[]; done: boolean };
    try {
      opened = await router.withRetries(routing, name, async () => {
        if (sink.signal.aborted) throw new ClientGone();
        const it = adapter
          .chatStream(a.target, { ...a.body, stream: true }, { signal: upstream.signal })
          [Symbol.asyncIterator]();
        const buffered: ChatChunk[] = [];
        for (;;) {
          const next = await it.next();
          if (next.done) {
            if (buffered.some(meaningful)) return { it, buffered, done: true };
            throw new UpstreamError('protocol', 'the provider ended the stream without an answer');
          }
          buffered.push(next.value);
          if (meaningful(next.value)) return { it, buffered, done: false };
        }
      });
    } catch (caught) {
      sink.signal.removeEventListener('abort', onClientGone);
      // A client gone before the first byte ends the walk; nothing counts against the model.
      const error = sink.signal.aborted ? new ClientGone() : caught;
      await router.finish(tenantId, a, requestId, started, {
        outcome: 'error',
        code: error instanceof ClientGone ? 'client_closed' : 'upstream_error',
        tokensIn: 0,
        tokensOut: 0,
        stream: true,
      });
      throw error;
    }
    sink.begin({ model: name, fallback: a.candidate.fallback });
    let tokensOut = 0;
    let usage: ChatChunk['usage'];
    const hold = a.reservation?.amountMicros;
    const deliver = (chunk: ChatChunk): 'ok' | 'cut' => {
      tokensOut += chunkTokens(chunk);
      if (hold !== undefined && costMicros(a.candidate.model, a.promptTokens, tokensOut) > hold) return 'cut';
      if (chunk.usage) usage = chunk.usage;
      chunk.model = name;
      if (chunk.choices.length === 0) {
        if (includeUsage && chunk.usage) sink.send(chunk);
        return 'ok';
      }
      if (!includeUsage && 'usage' in chunk) delete chunk.usage;
      sink.send(chunk);
      return 'ok';
    };
    const close = async (outcome: 'success' | 'error', code?: string) => {
      sink.signal.removeEventListener('abort', onClientGone);
      await router.finish(tenantId, a, requestId, started, {
        outcome,
        ...(code ? { code } : {}),
        tokensIn: usage?.prompt_tokens ?? a.promptTokens,
        tokensOut: usage?.completion_tokens ?? tokensOut,
        stream: true,
      });
    };
    const cut = async () => {
      upstream.abort();
      await opened.it.return?.().catch(() => undefined);
      await close('error', 'budget_exhausted');
      sink.fail(
        new TenancyError('budget_exhausted', 'the answer would pass the budget held for it; the stream was cut off'),
      );
    };
    try {
      for (const chunk of opened.buffered) if (deliver(chunk) === 'cut') return cut();
      if (!opened.done)
        for (;;) {
          const next = await opened.it.next();
          if (next.done) break;
          if (deliver(next.value) === 'cut') return cut();
        }
    } catch (error) {
      if (sink.signal.aborted) return close('error', 'client_closed');
      const e = error instanceof UpstreamError ? error : new UpstreamError('network', (error as Error).message);
      router.deps.breakers.record(tenantId, name, !e.countsAsFailure, routing.breaker);
      await close('error', e.kind === 'timeout' ? 'upstream_timeout' : 'stream_cut');
      const failure = upstreamFailure(e);
      sink.fail(new TenancyError('stream_cut', `the provider failed after the answer began: ${failure.detail}`));
      return;
    }
    await close('success');
    sink.end();
  });
}
