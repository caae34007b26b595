/**
 * What `POST /v1/tenants/{id}/slis` accepts: SLI events from outside the control plane, with
 * timestamps that may lie in the past (within 90 days) but not in the future (5 minutes of
 * clock skew allowed); at most 10,000 per batch. And the SDK's pre-aggregated minute
 * buckets (`POST /v1/slis`).
 */
import { z } from 'zod';
import { BUCKETS } from '../contract/latency-histogram.js';
import { MAX_WINDOW_DAYS, SLI_SOURCES } from './slo-schema.js';

export const MAX_SLI_EVENTS = 10_000;
export const SLI_FUTURE_SKEW_MS = 5 * 60_000;

const timestamp = z.iso
  .datetime({ offset: true, error: 'must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z' })
  .refine((t) => Date.parse(t) <= Date.now() + SLI_FUTURE_SKEW_MS, 'must not be in the future')
  .refine(
    (t) => Date.parse(t) >= Date.now() - MAX_WINDOW_DAYS * 86_400_000,
    `must be within the last ${MAX_WINDOW_DAYS} days`,
  );

export const sliBatchSchema = z
  .strictObject({
    events: z
      .array(
        z.strictObject({
          ts: timestamp,
          outcome: z.enum(['success', 'error'], { error: 'must be success or error' }),
          latencyMs: z.number().min(0, 'must be >= 0').max(86_400_000, 'must be at most 86400000'),
          costUsd: z.number().min(0, 'must be >= 0').max(1_000_000).optional(),
          source: z.enum(SLI_SOURCES, { error: `must be one of ${SLI_SOURCES.join(', ')}` }).default('external'),
        }),
      )
      .min(1, 'needs at least one event')
      .max(MAX_SLI_EVENTS, `at most ${MAX_SLI_EVENTS} events per batch`),
  })
  .meta({ id: 'SliBatch', description: "SLI events of the tenant's traffic, measured outside the control plane." });

const histogram = z
  .array(z.number().int().min(0))
  .max(BUCKETS, `at most ${BUCKETS} buckets`)
  .describe('counts per latency bucket (see docs/slo.md)');

export const sliBucketsSchema = z
  .strictObject({
    buckets: z
      .array(
        z.strictObject({
          tenantId: z.string().min(1).max(63),
          source: z.enum(SLI_SOURCES).default('sdk'),
          minute: timestamp,
          total: z.number().int().min(1).max(1e9),
          errors: z.number().int().min(0).max(1e9),
          latency: histogram,
          cost: histogram.optional(),
          costMicros: z.number().int().min(0).optional(),
        }),
      )
      .min(1)
      .max(MAX_SLI_EVENTS),
  })
  .meta({ id: 'SliBuckets', description: 'Minute buckets of SLI events aggregated by an SDK.' });
