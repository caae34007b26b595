/**
 * OpenAPI operations of the events and webhooks area, in the order the document lists them.
 */
import { eventQuerySchema } from '../routes/event-routes.js';
import { deliveryQuerySchema, webhookListQuerySchema } from '../routes/webhook-routes.js';
import type { Operations } from './operation.js';

/** The event feed and webhooks with their deliveries. */
export const eventPaths: Operations = {
  '/v1/events': {
    get: {
      summary:
        'Replay events as CloudEvents 1.0, oldest first (cursor: after = seq); a tenant caller sees its own only',
      tags: ['events'],
      query: eventQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks': {
    post: {
      summary: "Create a webhook endpoint (platform-wide, or one tenant's); the signing secret is shown once",
      tags: ['webhooks'],
      body: 'NewWebhook',
      ok: 201,
      idempotent: true,
    },
    get: {
      summary: 'List webhook endpoints (a tenant caller sees its own only)',
      tags: ['webhooks'],
      query: webhookListQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks/{webhookId}': {
    get: { summary: 'Read a webhook endpoint (never its secret)', tags: ['webhooks'], ok: 200 },
    patch: {
      summary: 'Change url, eventTypes, enabled or description (merge patch)',
      tags: ['webhooks'],
      body: 'WebhookPatch',
      ok: 200,
    },
    delete: { summary: 'Delete a webhook endpoint and its delivery log', tags: ['webhooks'], ok: 200 },
  },
  '/v1/webhooks/{webhookId}/rotate-secret': {
    post: {
      summary: 'New signing secret (shown once); the old one also signs during the overlap',
      tags: ['webhooks'],
      body: 'RotateWebhookSecret',
      ok: 200,
      idempotent: true,
    },
  },
  '/v1/webhooks/{webhookId}/deliveries': {
    get: {
      summary: 'Deliveries with every attempt (status code, duration, error, next retry)',
      tags: ['webhooks'],
      query: deliveryQuerySchema,
      ok: 200,
    },
  },
  '/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver': {
    post: { summary: 'Deliver again now', tags: ['webhooks'], ok: 202, idempotent: true },
  },
};
