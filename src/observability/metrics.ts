/**
 * Prometheus metrics for the control plane, on a registry of its own (so several
 * control planes in one process, as in tests, do not collide).
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The control plane's metrics. */
export interface ControlPlaneMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
}

/** Create the registry and the HTTP metrics; `collectGauges` adds state read at scrape time. */
export function createMetrics(): ControlPlaneMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tenancy_process_' });
  const httpRequests = new Counter({
    name: 'tenancy_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'tenancy_http_request_duration_seconds',
    help: 'HTTP request latency by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration };
}
