/**
 * The controller watches the registry through the published event stream as well as its own
 * resync, so a change made on another replica (events over NATS) is reconciled here at once.
 */
import type { EventBus } from '../infra/bus/index.js';

/** Registry changes that need a reconcile (as published: CloudEvents types). */
const REGISTRY_EVENTS = new Set(
  ['created', 'updated', 'suspended', 'resumed', 'archived', 'restored', 'deleting', 'document_changed'].map(
    (t) => `tenancy.tenant.${t}`,
  ),
);

/** Enqueue the tenant of every registry event published under `subjectPrefix`; returns the unsubscribe. */
export async function watchRegistryEvents(
  bus: EventBus,
  subjectPrefix: string,
  controller: { enqueue(tenantId: string): void },
): Promise<() => Promise<void>> {
  return bus.subscribe(`${subjectPrefix}.>`, (message) => {
    try {
      const event = JSON.parse(message.data.toString('utf8')) as { type?: string; subject?: string };
      if (event.subject && REGISTRY_EVENTS.has(event.type ?? '')) controller.enqueue(event.subject);
    } catch {
      /* not a CloudEvent of ours: nothing to reconcile */
    }
  });
}
