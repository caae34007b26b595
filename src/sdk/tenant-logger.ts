/**
 * Logging with the tenant on every line: the SDK's pino logger carries `env`, and inside a
 * request `tenantLogger()` is a child bound to the request's `tenant_id` and `request_id`
 * (made once per request, on first use, and kept with the request's AsyncLocalStorage
 * scope). Code below the middleware logs without threading a tenant through.
 */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { currentScope, type RequestScope } from './request-context.js';

/** Options for the SDK's logger (`createTenancy({ logging })`). */
export interface LoggingOptions {
  /** Use this pino logger as the base (its own bindings and destination are kept). */
  logger?: Logger;
  /** Level of the logger the SDK makes (default `info`); ignored with `logger`. */
  level?: LoggerOptions['level'];
  /** Where the SDK's own logger writes (default stdout); ignored with `logger`. */
  destination?: DestinationStream;
  /** The app's deployment environment on every line (default `NODE_ENV`, else `development`). */
  env?: string;
}

/** The SDK's base logger: `env` bound, no tenant. */
export function createBaseLogger(options: LoggingOptions = {}): Logger {
  const env = options.env ?? process.env.NODE_ENV ?? 'development';
  if (options.logger) return options.logger.child({ env });
  return pino({ level: options.level ?? 'info', base: { pid: process.pid, env } }, options.destination);
}

/** Used outside a request of an app that has no Tenancy yet. */
let fallback: Logger | undefined;
const children = new WeakMap<RequestScope, Logger>();

/** The request's logger child, made on first use. */
export function scopeLogger(scope: RequestScope, base: Logger): Logger {
  let child = children.get(scope);
  if (!child) {
    child = base.child({ tenant_id: scope.tenant.id, request_id: scope.requestId });
    children.set(scope, child);
  }
  return child;
}

/**
 * The logger for the current request: every line carries `tenant_id`, `request_id` and
 * `env`. Outside a request it is the SDK's base logger (background work belongs to no tenant).
 */
export function tenantLogger(): Logger {
  const scope = currentScope();
  const base = scope?.logger ?? (fallback ??= createBaseLogger());
  return scope ? scopeLogger(scope, base) : base;
}
