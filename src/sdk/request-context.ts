/**
 * The per-request tenant context, carried by AsyncLocalStorage: whatever runs below the
 * middleware (services, repositories, outbound calls) reads it with `currentTenant()`
 * instead of threading a tenant id through every signature.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'pino';
import { TenancyError } from '../errors.js';
import type { AppAuditEvent, AppAuditRecord, Principal, TenantContext, TenantDb } from './types.js';

/** What the middleware knows about the request it admitted. */
export interface RequestScope {
  tenant: TenantContext;
  principal: Principal;
  /** The correlation id: the caller's `X-Request-Id`, or the trace id of its `traceparent`, or a new UUID. */
  requestId: string;
  /** The caller's W3C `traceparent`, when it sent a valid one. */
  traceparent: string | undefined;
  /** The app's per-tenant pools, which `tenantDb()` draws from. */
  databases: { forTenant(tenantId: string): TenantDb };
  /** The SDK's base logger, which `tenantLogger()` binds to this request. */
  logger?: Logger;
  /** Where `auditEvent()` writes. */
  audit?: { record(event: AppAuditEvent): Promise<AppAuditRecord> };
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Run `fn` with `scope` as the current request. */
export function runInScope<T>(scope: RequestScope, fn: () => T): T {
  return storage.run(scope, fn);
}

/** Run `fn` outside any request's scope (background work must not inherit a caller's tenant). */
export function outsideScope<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** The current request's scope, or undefined outside a request admitted by the middleware. */
export function currentScope(): RequestScope | undefined {
  return storage.getStore();
}

/**
 * The tenant of the current request. Throws outside a request: code that needs a tenant
 * and has none is a bug, and guessing one would be a cross-tenant leak.
 */
export function currentTenant(): TenantContext {
  const scope = storage.getStore();
  if (!scope)
    throw new TenancyError(
      'no_tenant_context',
      'currentTenant() was called outside a request admitted by the Tenancy middleware',
    );
  return scope.tenant;
}
