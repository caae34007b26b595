/**
 * The model router's OpenAI-compatible API, so apps use the official `openai` client with
 * `baseURL` set to `<control plane>/v1/ai`:
 *
 * - `POST /v1/ai/chat/completions` (with `stream: true` as server-sent events),
 * - `POST /v1/ai/embeddings`,
 * - `GET /v1/ai/models`, `GET /v1/ai/models/{model}` (the models this tenant may use).
 *
 * The tenant is the credential's own, or the one a platform credential names with
 * `X-Tenant-ID`. Errors here use OpenAI's body (`{"error": {message, type, param, code}}`)
 * with the project's codes, so OpenAI clients parse them. Answers carry `x-tenancy-model`
 * (the model that answered) and `x-tenancy-fallback: true` when a fallback answered.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  chatRequestSchema,
  embed,
  embeddingsRequestSchema,
  streamChat,
  tenantModels,
  type ModelRouter,
  type StreamSink,
} from '../../ai/index.js';
import type { Action } from '../../access/index.js';
import type { Problem } from '../../contract/index.js';
import { TenancyError } from '../../errors.js';
import { parseOrThrow } from '../../tenants/index.js';
import type { Guard, HttpDeps } from '../context.js';
import { problemFor } from '../problem.js';

/** Largest request body of the model routes (long prompts, many embeddings inputs). */
export const AI_BODY_LIMIT_BYTES = 8 * 1024 * 1024;

/** OpenAI's error `type` for a status. */
function errorType(status: number, code: string): string {
  if (code === 'budget_exhausted' || code === 'budget_threshold_reached') return 'insufficient_quota';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** `/messages/0/role` as OpenAI names parameters (`messages[0].role`). */
function paramOf(pointer: string | undefined): string | null {
  if (!pointer || pointer === '' || pointer.startsWith('/headers') || pointer.startsWith('/path')) return null;
  return pointer
    .slice(1)
    .split('/')
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/** A problem document as OpenAI's error body. */
export function openAiErrorBody(p: Problem): {
  error: { message: string; type: string; param: string | null; code: string };
} {
  const fields = p.errors ?? [];
  const message =
    fields.length > 0 ? `${p.detail}: ${fields.map((e) => `${e.path} ${e.message}`).join('; ')}` : p.detail;
  // Extension members (a budget window's limit, spend and reset) ride along; clients ignore what they do not know.
  const { type: _t, title: _ti, status: _s, detail: _d, code: _c, instance: _i, errors: _e, ...extensions } = p;
  return {
    error: { message, type: errorType(p.status, p.code), param: paramOf(fields[0]?.path), code: p.code, ...extensions },
  };
}

function sendOpenAiError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { body, headers } = problemFor(error, request, true);
  if (body.status >= 500 && body.status !== 502 && body.status !== 504 && body.status !== 503)
    request.log.error({ err: error }, 'model route failed');
  return reply.code(body.status).headers(headers).type('application/json; charset=utf-8').send(openAiErrorBody(body));
}

/** The tenant a model call is for, authorized for `action`. */
async function callerTenant(request: FastifyRequest, guard: Guard, action: Action): Promise<string> {
  const principal = request.principal;
  if (!principal) throw new TenancyError('unauthenticated', 'this endpoint needs credentials');
  const named = request.headers['x-tenant-id'];
  if (principal.tenantId !== null && typeof named === 'string' && named !== principal.tenantId)
    // A tenant credential naming another tenant: the same answer as for a tenant that does not exist.
    return guard.hidden(
      request,
      action,
      `tenant/${named.slice(0, 63)}`,
      new TenancyError('tenant_not_found', `tenant ${named.slice(0, 63)} not found`),
    );
  const tenantId = guard.scopeOf(request, principal);
  if (tenantId === undefined)
    throw new TenancyError('tenant_required', 'a platform credential must name the tenant with X-Tenant-ID', {
      errors: [{ path: '/headers/x-tenant-id', message: 'required with a platform credential' }],
    });
  await guard.authorize(request, action, tenantId);
  return tenantId;
}

/** Server-sent events into the raw response; headers go out with the first chunk. */
function sseSink(request: FastifyRequest, reply: FastifyReply): StreamSink & { begun: boolean } {
  const gone = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) gone.abort();
  });
  const write = (data: string) => {
    if (!reply.raw.destroyed) reply.raw.write(`data: ${data}\n\n`);
  };
  const sink = {
    begun: false,
    signal: gone.signal,
    begin(meta: { model: string; fallback: boolean }) {
      sink.begun = true;
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
        'x-tenancy-model': meta.model,
        ...(meta.fallback ? { 'x-tenancy-fallback': 'true' } : {}),
      });
    },
    send(chunk: unknown) {
      write(JSON.stringify(chunk));
    },
    fail(error: TenancyError) {
      const { body } = problemFor(error, request, true);
      write(JSON.stringify(openAiErrorBody(body)));
      reply.raw.end();
    },
    end() {
      write('[DONE]');
      reply.raw.end();
    },
  };
  return sink;
}

/** Register the model routes (in their own scope: their errors are OpenAI-shaped). */
export function aiRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const router = (): ModelRouter => deps.ai.router;
  void app.register(
    async (scope) => {
      scope.setErrorHandler(sendOpenAiError);
      scope.setNotFoundHandler((request, reply) =>
        sendOpenAiError(
          new TenancyError('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`),
          request,
          reply,
        ),
      );

      scope.post('/chat/completions', { bodyLimit: AI_BODY_LIMIT_BYTES }, async (request, reply) => {
        const tenantId = await callerTenant(request, guard, 'ai.invoke');
        const input = parseOrThrow(chatRequestSchema, request.body, 'the chat completion request');
        if (input.stream === true) {
          const sink = sseSink(request, reply);
          try {
            await streamChat(router(), tenantId, input, request.id, sink);
          } catch (error) {
            if (sink.signal.aborted && !sink.begun) {
              // The client left before the answer began: nothing to answer.
              reply.hijack();
              reply.raw.destroy();
              return reply;
            }
            if (!sink.begun) throw error;
            request.log.error({ err: error }, 'model stream failed after it began');
            sink.fail(error instanceof TenancyError ? error : new TenancyError('stream_cut', 'the stream failed'));
          }
          return reply;
        }
        const answer = await router().chat(tenantId, input, request.id);
        reply.header('x-tenancy-model', answer.model);
        if (answer.fallback) reply.header('x-tenancy-fallback', 'true');
        return answer.completion;
      });

      scope.post('/embeddings', { bodyLimit: AI_BODY_LIMIT_BYTES }, async (request, reply) => {
        const tenantId = await callerTenant(request, guard, 'ai.invoke');
        const input = parseOrThrow(embeddingsRequestSchema, request.body, 'the embeddings request');
        const answer = await embed(router(), tenantId, input, request.id);
        reply.header('x-tenancy-model', answer.model);
        return answer.response;
      });

      scope.get('/models', async (request) => {
        const tenantId = await callerTenant(request, guard, 'ai.invoke');
        const models = await tenantModels(router(), tenantId);
        return {
          object: 'list',
          data: models.map((m) => ({
            id: m.id,
            object: 'model',
            created: 0,
            owned_by: m.provider,
            kind: m.kind,
            region: m.region,
            context_window: m.contextWindow,
          })),
        };
      });

      scope.get<{ Params: { model: string } }>('/models/:model', async (request) => {
        const tenantId = await callerTenant(request, guard, 'ai.invoke');
        const m = (await tenantModels(router(), tenantId)).find((x) => x.id === request.params.model);
        if (!m)
          throw new TenancyError(
            'model_not_found',
            `model ${request.params.model.slice(0, 128)} is not available to this tenant`,
          );
        return {
          id: m.id,
          object: 'model',
          created: 0,
          owned_by: m.provider,
          kind: m.kind,
          region: m.region,
          context_window: m.contextWindow,
        };
      });
    },
    { prefix: '/v1/ai' },
  );
}
