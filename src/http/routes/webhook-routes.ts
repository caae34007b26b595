/**
 * `/v1/webhooks`: endpoints (platform-wide, or one tenant's), their delivery log, manual
 * redelivery and secret rotation. A tenant caller sees and manages its own tenant's
 * endpoints only; another tenant's endpoint, or a platform-wide one, answers 404 exactly
 * like one that does not exist, and both attempts are audited as denied the same way.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkedId, pageLimit } from '../route-params.js';
import type { Action, Principal } from '../../access/index.js';
import { TenancyError, validationError } from '../../errors.js';
import {
  DELIVERY_ID_PATTERN,
  WEBHOOK_ID_PATTERN,
  sovereigntyRefusal,
  transitViolations,
  webhookNotFound,
  type WebhookInfo,
} from '../../governance/index.js';
import { TYPE_FILTER_PATTERN } from '../../ledger/index.js';
import { parseOrThrow, tenantIdSchema } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

const urlSchema = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine(
    (v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol),
    'must be an absolute http:// or https:// URL',
  )
  .refine(
    (v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''),
    'must not carry credentials (user:password@)',
  );
const eventTypesSchema = z
  .array(
    z
      .string()
      .max(200, 'must be at most 200 characters')
      .regex(
        TYPE_FILTER_PATTERN,
        'must be *, a type such as tenancy.tenant.created, or a prefix such as tenancy.tenant.*',
      ),
  )
  .min(1, 'must name at least one type')
  .max(50, 'must have at most 50 entries');
const descriptionSchema = z.string().max(500, 'must be at most 500 characters');

export const createWebhookSchema = z
  .strictObject({
    tenantId: tenantIdSchema.optional(),
    url: urlSchema,
    eventTypes: eventTypesSchema.default(['*']),
    enabled: z.boolean().default(true),
    description: descriptionSchema.optional(),
  })
  .meta({ id: 'NewWebhook' });
export const updateWebhookSchema = z
  .strictObject({
    url: urlSchema.optional(),
    eventTypes: eventTypesSchema.optional(),
    enabled: z.boolean().optional(),
    description: descriptionSchema.nullable().optional(),
  })
  .meta({ id: 'WebhookPatch' });
export const rotateSecretSchema = z
  .strictObject({
    overlapSeconds: z
      .number()
      .int('must be an integer')
      .min(0, 'must be >= 0')
      .max(30 * 86_400, 'must be <= 2592000')
      .optional(),
  })
  .meta({ id: 'RotateWebhookSecret' });
export const webhookListQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  scope: z.enum(['platform', 'tenant', 'all'], { error: 'must be platform, tenant or all' }).default('all'),
  after: z.string().regex(WEBHOOK_ID_PATTERN, 'must be a webhook id').optional(),
  limit: pageLimit(500, 100),
});
export const deliveryQuerySchema = z.strictObject({
  status: z
    .enum(['pending', 'succeeded', 'failed', 'dead'], { error: 'must be pending, succeeded, failed or dead' })
    .optional(),
  after: z.string().regex(DELIVERY_ID_PATTERN, 'must be a delivery id').optional(),
  limit: pageLimit(500, 50),
});

function webhookId(raw: string): string {
  return checkedId(raw, WEBHOOK_ID_PATTERN, {
    title: 'not a webhook id',
    message: 'must be wh_ and 24 hex digits',
    code: 'invalid_webhook_id',
  });
}

/** Register webhook routes. */
export function webhookRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { webhooks } = deps.governance;
  const { registry } = deps.tenants;

  /**
   * The endpoint if the caller may see it. A tenant caller looks only among its tenant's, so
   * another tenant's endpoint (or a platform one) is the same audited 404 as an unknown id.
   */
  const visible = async (
    request: FastifyRequest,
    principal: Principal,
    action: Action,
    id: string,
  ): Promise<WebhookInfo> => {
    const hook = await webhooks.find(id, principal.tenantId ?? undefined);
    if (!hook && principal.tenantId === null) throw webhookNotFound(id);
    if (!hook) return guard.hidden(request, action, `webhook/${id}`, webhookNotFound(id));
    if (hook.tenantId !== null) await guard.authorize(request, action, hook.tenantId);
    return hook;
  };

  /** A tenant's endpoints change only while the tenant (and its keys) exist. */
  const writableTenant = async (tenantId: string | null) => {
    if (tenantId === null) return;
    const phase = await registry.phaseOf(tenantId);
    if (phase === undefined) throw new TenancyError('tenant_not_found', `tenant ${tenantId} not found`);
    if (phase === 'deleting' || phase === 'deleted')
      throw new TenancyError(`tenant_${phase}`, `tenant ${tenantId} is ${phase}; its webhooks cannot change`);
  };

  /** A tenant whose data-sovereignty rules require encryption in transit takes https receivers only. */
  const transitAllowed = async (tenantId: string | null, url: string | undefined) => {
    if (tenantId === null || url === undefined) return;
    const violations = (await registry.sovereigntyRules(deps.store.db, tenantId)).flatMap((rules) =>
      transitViolations(rules, url),
    );
    if (violations.length > 0) throw sovereigntyRefusal(violations, () => '/url', 'this webhook');
  };

  app.post('/v1/webhooks', async (request, reply) => {
    const principal = await guard.authorize(request, 'webhook.manage');
    const body = parseOrThrow(createWebhookSchema, request.body, 'the webhook');
    if (principal.tenantId !== null && body.tenantId !== undefined && body.tenantId !== principal.tenantId)
      await guard.authorize(request, 'webhook.manage', body.tenantId);
    const tenantId = principal.tenantId ?? body.tenantId ?? null;
    await writableTenant(tenantId);
    await transitAllowed(tenantId, body.url);
    const created = await webhooks.create(actorOf(request), {
      tenantId,
      url: body.url,
      eventTypes: body.eventTypes,
      enabled: body.enabled,
      description: body.description ?? null,
    });
    return reply
      .code(201)
      .header('Location', `/v1/webhooks/${created.id}`)
      .header('Cache-Control', 'no-store')
      .send(created);
  });

  app.get('/v1/webhooks', async (request) => {
    const principal = await guard.authorize(request, 'webhook.read');
    const q = parseOrThrow(webhookListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    if (principal.tenantId !== null && q.tenant !== undefined && q.tenant !== principal.tenantId)
      await guard.authorize(request, 'webhook.read', q.tenant);
    const tenant = principal.tenantId ?? q.tenant ?? guard.scopeOf(request, principal);
    const tenantId = tenant !== undefined ? tenant : q.scope === 'platform' ? null : undefined;
    let items = await webhooks.list({ tenantId, after: q.after, limit: q.limit });
    if (tenant === undefined && q.scope === 'tenant') items = items.filter((w) => w.tenantId !== null);
    const last = items[items.length - 1];
    return { items, next: items.length === q.limit && last ? last.id : null };
  });

  app.get<{ Params: { id: string } }>('/v1/webhooks/:id', async (request) => {
    const principal = await guard.authorize(request, 'webhook.read');
    return visible(request, principal, 'webhook.read', webhookId(request.params.id));
  });

  app.patch<{ Params: { id: string } }>('/v1/webhooks/:id', async (request) => {
    const principal = await guard.authorize(request, 'webhook.manage');
    const id = webhookId(request.params.id);
    const body = parseOrThrow(updateWebhookSchema, request.body, 'the webhook patch');
    const hook = await visible(request, principal, 'webhook.manage', id);
    await writableTenant(hook.tenantId);
    await transitAllowed(hook.tenantId, body.url);
    return webhooks.update(actorOf(request), id, body);
  });

  app.delete<{ Params: { id: string } }>('/v1/webhooks/:id', async (request) => {
    const principal = await guard.authorize(request, 'webhook.manage');
    const id = webhookId(request.params.id);
    await visible(request, principal, 'webhook.manage', id);
    return webhooks.remove(actorOf(request), id);
  });

  app.post<{ Params: { id: string } }>('/v1/webhooks/:id/rotate-secret', async (request, reply) => {
    const principal = await guard.authorize(request, 'webhook.manage');
    const id = webhookId(request.params.id);
    const body = parseOrThrow(rotateSecretSchema, request.body ?? {}, 'the request');
    const hook = await visible(request, principal, 'webhook.manage', id);
    await writableTenant(hook.tenantId);
    return reply
      .header('Cache-Control', 'no-store')
      .send(await webhooks.rotateSecret(actorOf(request), id, body.overlapSeconds));
  });

  app.get<{ Params: { id: string } }>('/v1/webhooks/:id/deliveries', async (request) => {
    const principal = await guard.authorize(request, 'webhook.read');
    const id = webhookId(request.params.id);
    const q = parseOrThrow(deliveryQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await visible(request, principal, 'webhook.read', id);
    const items = await webhooks.deliveries(id, q);
    const last = items[items.length - 1];
    return { items, next: items.length === q.limit && last ? last.id : null };
  });

  app.post<{ Params: { id: string; deliveryId: string } }>(
    '/v1/webhooks/:id/deliveries/:deliveryId/redeliver',
    async (request, reply) => {
      const principal = await guard.authorize(request, 'webhook.manage');
      const id = webhookId(request.params.id);
      if (!DELIVERY_ID_PATTERN.test(request.params.deliveryId))
        throw validationError(
          'not a delivery id',
          [{ path: '/path/deliveryId', message: 'must be a UUIDv7' }],
          'invalid_delivery_id',
        );
      await visible(request, principal, 'webhook.manage', id);
      const delivery = await webhooks.redeliver(actorOf(request), id, request.params.deliveryId);
      deps.governance.onRedeliver?.();
      return reply.code(202).send(delivery);
    },
  );
}
