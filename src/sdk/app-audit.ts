/**
 * The app's audit logger: app events (an invoice paid, a document shared) appended to the
 * current tenant's audit stream on the control plane, in the same hash chain as the
 * control plane's own records (`POST /v1/tenants/{id}/audit-events`). The tenant is the
 * request's, never an argument, so one tenant's request cannot write into another's stream.
 */
import { TenancyError } from '../errors.js';
import { currentScope } from './request-context.js';
import type { TenancyClient } from './tenancy-client.js';
import type { AppAuditEvent, AppAuditRecord } from './types.js';

export type { AppAuditEvent, AppAuditRecord } from './types.js';

/** Writes app events for the current request's tenant. */
export class AppAuditLogger {
  constructor(private readonly client: TenancyClient) {}

  /** Append `event` to the current tenant's audit stream; throws `no_tenant_context` outside a request. */
  async record(event: AppAuditEvent): Promise<AppAuditRecord> {
    const scope = currentScope();
    if (!scope)
      throw new TenancyError(
        'no_tenant_context',
        'auditEvent() was called outside a request admitted by the Tenancy middleware',
      );
    const body = { ...event, subject: event.subject ?? scope.principal.keyId };
    return this.client.request<AppAuditRecord>(
      'POST',
      `/v1/tenants/${encodeURIComponent(scope.tenant.id)}/audit-events`,
      { body },
    );
  }
}

/**
 * Append an app event to the current request's tenant's audit stream (with the app's
 * credential; the correlation id is the request's). Throws outside a request.
 */
export function auditEvent(event: AppAuditEvent): Promise<AppAuditRecord> {
  const scope = currentScope();
  if (!scope?.audit)
    throw new TenancyError(
      'no_tenant_context',
      'auditEvent() was called outside a request admitted by the Tenancy middleware',
    );
  return scope.audit.record(event);
}
