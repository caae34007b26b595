// @ts-check
/**
 * The example notes app: a Fastify service guarded by the Tenancy SDK. Every request goes
 * API key -> tenant context -> rate limit -> quota -> handler; handlers never take a tenant
 * id from the request, they read `currentTenant()`. Notes live in the tenant's own
 * database through `tenantDb()` when the control plane has a PostgreSQL warehouse
 * (storage `postgres`), or in this process's memory otherwise (storage `memory`).
 */
import Fastify from 'fastify';
import OpenAI from 'openai';
import { createTenancy, currentTenant, tenancyFastify, tenantDb } from 'tenancy/sdk';

/**
 * @typedef {{ id: number | string, title: string, body: string, createdAt: string }} Note
 * @typedef {{ list(): Promise<Note[]>, add(title: string, body: string): Promise<Note> }} NoteStore
 */

/** Notes in memory, one list per tenant: for the embedded warehouse, which has no URL. @returns {NoteStore} */
function memoryStore() {
  /** @type {Map<string, Note[]>} */
  const notes = new Map();
  return {
    async list() {
      return notes.get(currentTenant().id) ?? [];
    },
    async add(title, body) {
      const list = notes.get(currentTenant().id) ?? [];
      const note = { id: list.length + 1, title, body, createdAt: new Date().toISOString() };
      notes.set(currentTenant().id, [...list, note]);
      return note;
    },
  };
}

/** Notes in the tenant's own schema or database (the `notes` table of ./migrations). @returns {NoteStore} */
function postgresStore() {
  const columns = `id::text as id, title, body, created_at as "createdAt"`;
  return {
    async list() {
      return tenantDb().query(`select ${columns} from notes order by id`);
    },
    async add(title, body) {
      const rows = await tenantDb().query(`insert into notes (title, body) values ($1, $2) returning ${columns}`, [
        title,
        body,
      ]);
      return /** @type {Note} */ (rows[0]);
    },
  };
}

/**
 * Build the app (not listening yet).
 * @param {{ controlPlaneUrl: string, token: string, storage?: 'memory' | 'postgres', limits?: import('tenancy/sdk').RequestLimiterOptions, natsUrl?: string }} options
 */
export async function buildNotesApp(options) {
  const tenancy = await createTenancy({
    controlPlane: { url: options.controlPlaneUrl, token: options.token },
    ...(options.natsUrl ? { events: { natsUrl: options.natsUrl } } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const store = options.storage === 'postgres' ? postgresStore() : memoryStore();
  const app = Fastify();
  tenancyFastify(app, tenancy);
  app.addHook('onClose', async () => tenancy.close());

  app.get('/notes', async () => ({ tenant: currentTenant().id, items: await store.list() }));

  app.post('/notes', async (request, reply) => {
    const input = /** @type {{ title?: unknown, body?: unknown } | null} */ (request.body);
    const title = input?.title;
    const body = input?.body ?? '';
    if (
      typeof title !== 'string' ||
      title.trim() === '' ||
      title.length > 200 ||
      typeof body !== 'string' ||
      body.length > 10_000
    ) {
      return reply
        .code(400)
        .type('application/problem+json')
        .send({
          type: 'urn:tenancy:problem:validation_failed',
          title: 'Bad Request',
          status: 400,
          code: 'validation_failed',
          detail: 'a note needs a title (1..200 characters) and an optional body (string)',
          errors: [{ path: '/title', message: 'must be 1..200 characters' }],
        });
    }
    return reply.code(201).send(await store.add(title.trim(), body));
  });

  // Summarize the tenant's notes with a model, through the control plane's model router and the
  // official OpenAI client: the router picks the tenant's model (route `task: summarize`), holds it
  // to its budget and sovereignty rules, and meters the tokens. The app's platform key names the
  // tenant with X-Tenant-ID; the tenant always comes from the request's context, never its body.
  const models = new OpenAI({ baseURL: `${options.controlPlaneUrl}/v1/ai`, apiKey: options.token, maxRetries: 1 });
  app.post('/notes/summary', async (_request, reply) => {
    const notes = await store.list();
    const text = notes.map((n) => `- ${n.title}: ${n.body}`).join('\n') || '(no notes yet)';
    try {
      const { data, response } = await models.chat.completions
        .create(
          {
            model: 'auto',
            max_tokens: 200,
            messages: [
              { role: 'system', content: 'Summarize these notes in one sentence.' },
              { role: 'user', content: text },
            ],
            // @ts-expect-error routing keys the model router reads (OpenAI's `metadata` field)
            metadata: { task: 'summarize' },
          },
          { headers: { 'x-tenant-id': currentTenant().id } },
        )
        .withResponse();
      return {
        summary: data.choices[0]?.message.content ?? '',
        model: response.headers.get('x-tenancy-model'),
        usage: data.usage,
      };
    } catch (error) {
      const e = /** @type {{ status?: number, code?: string, message: string }} */ (error);
      return reply
        .code(e.status && e.status < 500 ? e.status : 502)
        .type('application/problem+json')
        .send({
          type: `urn:tenancy:problem:${e.code ?? 'model_error'}`,
          title: 'Model call failed',
          status: e.status ?? 502,
          code: e.code ?? 'model_error',
          detail: e.message,
        });
    }
  });

  // The tenant's context as the app sees it (plan, quotas, features), e.g. for a settings page.
  app.get('/me', async () => {
    const { id, plan, region, quotas, features } = currentTenant();
    return { id, plan, region, quotas, features };
  });
  return app;
}
