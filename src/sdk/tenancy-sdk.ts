/**
 * The data-plane pipeline every framework adapter runs: credential -> tenant -> tenant
 * context (cached, invalidated by events) -> phase -> rate limits and quotas. It knows no
 * framework; the adapters translate requests and replies.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { credentialRefusal } from '../contract/index.js';
import { TenancyError } from '../errors.js';
import { AppAuditLogger } from './app-audit.js';
import { TenantContextCache, type ContextCacheOptions } from './context-cache.js';
import { CredentialResolver, type CredentialOptions } from './credentials.js';
import { NatsEventFeed, PollingEventFeed, type EventFeed } from './event-feed.js';
import { refusalError } from './fair-scheduler.js';
import { QuotaGuard, type QuotaGuardOptions } from './quota-guard.js';
import { currentScope, outsideScope, type RequestScope } from './request-context.js';
import { RequestLimiter, type Granted, type RequestLimiterOptions } from './request-limiter.js';
import { retrieve, type RetrieveRequest, type RetrieveResult } from './retrieval.js';
import { TenantObjectsClient } from './tenant-objects.js';
import { UsageMeter, type UsageMeterOptions } from './usage-meter.js';
import { SliRecorder, type SliRecorderOptions } from './sli-recorder.js';
import { TenancyClient } from './tenancy-client.js';
import { TenantDatabases, type TenantDatabasesOptions } from './tenant-db.js';
import { createBaseLogger, type LoggingOptions } from './tenant-logger.js';
import { TenantMetrics, type MetricsOptions } from './tenant-metrics.js';
import type { Principal, TenantContext } from './types.js';

/** Options for {@link createTenancy}. */
export interface TenancyOptions {
  /** The control plane: its URL and the app's own credential (a platform key with `tenant.read` and `event.read`). */
  controlPlane: { url: string; token: string; timeoutMs?: number };
  /** How changes reach the caches: NATS when `natsUrl` is set, else polling `GET /v1/events`. */
  events?: {
    natsUrl?: string;
    subjectPrefix?: string;
    pollIntervalMs?: number;
    maxLagMs?: number;
    onError?: (error: unknown) => void;
  };
  /** JWT checks and API-key caching. */
  credentials?: CredentialOptions;
  /** Platform roles whose credentials may name the tenant with `X-Tenant-ID` (default platform-admin, platform-operator). */
  trustedRoles?: string[];
  contextCache?: ContextCacheOptions;
  limits?: RequestLimiterOptions;
  /** Per-tenant database pools for `tenantDb()`. */
  databases?: TenantDatabasesOptions;
  /** Usage meters: one `requests` meter per admitted request, buffered and flushed to the control plane. */
  usage?: UsageMeterOptions;
  /** SLI events: each admitted request's outcome (5xx: error) and latency, per tenant and minute, flushed to `POST /v1/slis`. */
  slis?: SliRecorderOptions;
  /** Count, size and cost quotas (`maxCostPerMonthUsd` on writes by default). */
  quotas?: QuotaGuardOptions;
  /** The pino logger behind `tenantLogger()`. */
  logging?: LoggingOptions;
  /** Prometheus metrics with a bounded `tenant` label; `false` turns them off. */
  metrics?: MetricsOptions | false;
}

/** A request as the pipeline sees it (adapters build this from their framework's request). */
export interface IncomingRequest {
  method: string;
  /** Path and query; used as the problem's `instance`. */
  url: string;
  header(name: string): string | undefined;
}

/** An admitted request: run the handler inside `run`, add `headers`, call `release` when the response ends. */
export interface Admission {
  scope: RequestScope;
  headers: Record<string, string>;
  release(): void;
  /** The response went out with `status` (counted for the tenant's SLIs); not called for an aborted request. */
  finished(status: number): void;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const TENANT_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const READS = new Set(['GET', 'HEAD', 'OPTIONS', 'get', 'head', 'options']);
/** Lifecycle events after which a tenant's database logins or password may have changed. */
const POOL_EVENTS = new Set(
  ['suspended', 'resumed', 'archived', 'restored', 'deleting', 'deleted', 'purged'].map((e) => `tenancy.tenant.${e}`),
);

/** A request's correlation id and trace. */
export interface Correlation {
  requestId: string;
  traceparent: string | undefined;
}

/** The correlation id and trace of a request, taken as the control plane takes them. */
export function correlationOf(request: Pick<IncomingRequest, 'header'>): Correlation {
  const given = request.header('x-request-id');
  const tp = request.header('traceparent');
  const m = tp ? TRACEPARENT.exec(tp) : null;
  const requestId = given && REQUEST_ID.test(given) ? given : m ? m[1]! : randomUUID();
  return { requestId, traceparent: m ? tp : undefined };
}

/** What a step of the pipeline answers: an admission, a refusal, or a promise of either. */
type Step = Admission | TenancyError | Promise<Admission | TenancyError>;

/** The SDK: one per app instance. */
export class Tenancy {
  readonly client: TenancyClient;
  readonly feed: EventFeed;
  readonly contexts: TenantContextCache;
  readonly credentials: CredentialResolver;
  readonly limiter: RequestLimiter;
  readonly databases: TenantDatabases;
  /** Usage recorder: `tenancy.usage.record(tenantId, 'tokens_in', n)` for the app's own meters. */
  readonly usage: UsageMeter;
  /** SLI recorder: outcome and latency of every admitted request (the SDK source of SLOs). */
  readonly slis: SliRecorder;
  /** Counted quotas (`reserve`, `release`, `admit`) and the monthly cost cap. */
  readonly quotas: QuotaGuard;
  /** The current tenant's objects, held to its storage quota. */
  readonly objects: TenantObjectsClient;
  /** The base logger (`env` bound); `tenantLogger()` binds it to each request. */
  readonly logger: Logger;
  /** Request metrics; undefined with `metrics: false`. */
  readonly metrics: TenantMetrics | undefined;
  /** Where `auditEvent()` writes. */
  readonly audit: AppAuditLogger;
  readonly #trusted: Set<string>;
  #ready: Promise<void> | undefined;
  /** The feed has started: requests skip waiting for it. */
  #started = false;

  constructor(options: TenancyOptions, limiter: RequestLimiter) {
    this.client = new TenancyClient(options.controlPlane);
    const ev = options.events ?? {};
    this.feed = ev.natsUrl
      ? new NatsEventFeed(
          { url: ev.natsUrl, ...(ev.subjectPrefix ? { subjectPrefix: ev.subjectPrefix } : {}) },
          this.client,
        )
      : new PollingEventFeed(this.client, {
          ...(ev.pollIntervalMs !== undefined ? { intervalMs: ev.pollIntervalMs } : {}),
          ...(ev.maxLagMs !== undefined ? { maxLagMs: ev.maxLagMs } : {}),
          ...(ev.onError ? { onError: ev.onError } : {}),
        });
    this.contexts = new TenantContextCache(this.client, this.feed, options.contextCache);
    this.credentials = new CredentialResolver(this.client, options.credentials);
    this.limiter = limiter;
    this.databases = new TenantDatabases(this.client, options.databases);
    this.usage = new UsageMeter(this.client, options.usage);
    this.slis = new SliRecorder(this.client, options.slis);
    this.quotas = new QuotaGuard(this.client, this.feed, options.quotas);
    this.objects = new TenantObjectsClient(options.controlPlane);
    this.logger = createBaseLogger(options.logging);
    this.metrics = options.metrics === false ? undefined : new TenantMetrics(options.metrics);
    this.audit = new AppAuditLogger(this.client);
    this.#trusted = new Set(options.trustedRoles ?? ['platform-admin', 'platform-operator']);
    this.feed.onEvent((event) => {
      // App audit events change nothing about the tenant: they must not empty the cache.
      if (event.subject && !event.type.startsWith('tenancy.audit.')) this.contexts.invalidate(event.subject);
      if (event.subject && POOL_EVENTS.has(event.type)) void this.databases.evict(event.subject);
      if (event.type === 'tenancy.apikey.revoked') {
        const id = (event.data as { id?: unknown } | null)?.id;
        if (typeof id === 'string') this.credentials.revoke(id, Date.parse(event.time));
      }
    });
    this.feed.onReset(() => this.contexts.clear());
  }

  /** Start following events; the first request waits for it, so calling this is optional. */
  start(): Promise<void> {
    // Started outside any request's scope, so the feed's timers never carry a caller's tenant.
    this.usage.start();
    this.slis.start();
    this.#ready ??= outsideScope(() => this.feed.start()).catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Run the pipeline; rejects with a `TenancyError` (401/403/404/429/503) when the request may not proceed. */
  async admit(request: IncomingRequest, correlation = correlationOf(request)): Promise<Admission> {
    return this.enter(request, correlation);
  }

  /**
   * {@link admit} for adapters on the hot path: answers synchronously when every step can
   * answer from memory (a started feed, a cached credential and context, a cost that needs
   * no read, in-memory limits, a free slot), so an admitted request costs no promise and no
   * microtask; otherwise a promise. A refusal is thrown (synchronous) or rejected (promise).
   */
  enter(request: IncomingRequest, correlation = correlationOf(request)): Admission | Promise<Admission> {
    const result = this.decide(request, correlation);
    if (result instanceof TenancyError) throw result;
    return result;
  }

  /**
   * {@link enter} without throwing: a refusal known at once is returned as the
   * `TenancyError` (a promise still rejects with it). For adapters: throwing is costly in
   * V8 (every throw walks the stack for the message's location, even when caught), and a
   * tenant flooding past its limit is refused on every request it sends.
   */
  decide(
    request: IncomingRequest,
    correlation = correlationOf(request),
  ): Admission | TenancyError | Promise<Admission> {
    const known: { tenantId?: string } = {};
    let result: Step;
    try {
      result = this.#admit(request, correlation, known);
    } catch (error) {
      // A step that threw (the cost cap's refusal, or a bug): counted, and a refusal answered as a value.
      this.#refused(known, error);
      if (error instanceof TenancyError) return error;
      throw error;
    }
    if (result instanceof TenancyError) {
      this.#refused(known, result);
      return result;
    }
    if (result instanceof Promise) {
      return result.then(
        (admission) => {
          if (admission instanceof TenancyError) {
            this.#refused(known, admission);
            throw admission;
          }
          return this.#metered(admission);
        },
        (error: unknown) => {
          this.#refused(known, error);
          throw error;
        },
      );
    }
    return this.#metered(result);
  }

  #refused(known: { tenantId?: string }, error: unknown): void {
    this.metrics?.refused(known.tenantId, error instanceof TenancyError ? error.code : 'internal');
  }

  /** Count an admitted request, and time it until its release. */
  #metered(admission: Admission): Admission {
    const metrics = this.metrics;
    if (!metrics) return admission;
    const done = metrics.admitted(admission.scope.tenant.id);
    const release = admission.release;
    let ended = false;
    admission.release = () => {
      if (ended) return;
      ended = true;
      done();
      release();
    };
    return admission;
  }

  /**
   * The pipeline, one step after another. Each step answers from memory when it can, and
   * returns a refusal rather than throwing it; the first step that has to wait turns the
   * rest into a promise chain (which resolves to an admission or a refusal).
   */
  #admit(request: IncomingRequest, correlation: Correlation, known: { tenantId?: string }): Step {
    if (!this.#started) {
      return this.start().then(
        () => {
          this.#started = true;
          return this.#admit(request, correlation, known);
        },
        (cause: unknown) => {
          throw new TenancyError('control_plane_unavailable', 'the Tenancy event feed could not start', {
            cause,
            headers: { 'Retry-After': '1' },
          });
        },
      );
    }
    const authorization = request.header('authorization');
    const principal = this.credentials.peek(authorization);
    if (principal === undefined)
      return this.credentials.resolve(authorization).then((p) => this.#forPrincipal(request, correlation, known, p));
    return this.#forPrincipal(request, correlation, known, principal);
  }

  #forPrincipal(
    request: IncomingRequest,
    correlation: Correlation,
    known: { tenantId?: string },
    principal: Principal,
  ): Step {
    const named = request.header('x-tenant-id');
    if (named !== undefined && !TENANT_ID.test(named)) {
      return new TenancyError('invalid_header', 'X-Tenant-ID is not a valid tenant id', {
        errors: [{ path: '/headers/x-tenant-id', message: 'must be a DNS label' }],
      });
    }
    let tenantId: string;
    if (principal.tenantId !== null) {
      // A tenant credential is its tenant; a header naming another is refused without
      // looking that tenant up, so the answer says nothing about whether it exists.
      if (named !== undefined && named !== principal.tenantId)
        return new TenancyError('tenant_mismatch', 'X-Tenant-ID names a different tenant than the credential', {
          status: 403,
        });
      tenantId = principal.tenantId;
    } else {
      if (!this.#trusted.has(principal.role))
        return new TenancyError('forbidden', `role ${principal.role} may not act for tenants here`, {
          extensions: { role: principal.role },
        });
      if (named === undefined)
        return new TenancyError('tenant_required', 'a platform credential must name the tenant with X-Tenant-ID');
      tenantId = named;
    }
    const tenant = this.contexts.peek(tenantId);
    if (tenant === undefined)
      return this.contexts.get(tenantId).then((t) => this.#forTenant(request, correlation, known, principal, t));
    return this.#forTenant(request, correlation, known, principal, tenant);
  }

  #forTenant(
    request: IncomingRequest,
    correlation: Correlation,
    known: { tenantId?: string },
    principal: Principal,
    tenant: TenantContext,
  ): Step {
    // Labelled only once the tenant exists: a trusted caller's typo is no metric label.
    known.tenantId = tenant.id;
    const refused = credentialRefusal(tenant.phase);
    if (refused)
      return refusalError(refused.code, `${refused.detail}; its requests are refused`, {
        status: 403,
        extensions: { phase: tenant.phase },
      });
    const write = !READS.has(request.method);
    const cost = this.quotas.checkCost(tenant, write);
    if (cost) return cost.then(() => this.#limit(correlation, principal, tenant, write));
    return this.#limit(correlation, principal, tenant, write);
  }

  #limit(correlation: Correlation, principal: Principal, tenant: TenantContext, write: boolean): Step {
    const granted = this.limiter.admit(tenant, principal, write);
    if (granted instanceof TenancyError) return granted;
    if (granted instanceof Promise) return granted.then((g) => this.#grant(correlation, principal, tenant, g));
    return this.#grant(correlation, principal, tenant, granted);
  }

  #grant(correlation: Correlation, principal: Principal, tenant: TenantContext, granted: Granted): Admission {
    this.usage.request(tenant.id);
    const { requestId, traceparent } = correlation;
    granted.headers['X-Request-Id'] = requestId;
    const started = performance.now();
    const slis = this.slis;
    return {
      finished: (status: number) => slis.record(tenant.id, status, performance.now() - started),
      scope: {
        tenant,
        principal,
        requestId,
        traceparent,
        databases: this.databases,
        logger: this.logger,
        audit: this.audit,
      },
      headers: granted.headers,
      release: granted.release,
    };
  }

  /**
   * Search a corpus of the current request's tenant (`POST /v1/tenants/{id}/retrieve`, with the
   * app's credential, which needs `corpus.read`); rejects with `no_tenant_context` outside a
   * request.
   */
  retrieve(request: RetrieveRequest): Promise<RetrieveResult> {
    return retrieve(this.client, request);
  }

  /** Flush usage, stop following events and close the limiter's store. */
  async close(): Promise<void> {
    await this.usage.close();
    await this.slis.close();
    await this.feed.close();
    await this.limiter.close();
    await this.databases.close();
    this.metrics?.close();
    this.client.close();
  }
}

/** Create the SDK for one app instance (connects to Redis when a Redis URL is given). */
export async function createTenancy(options: TenancyOptions): Promise<Tenancy> {
  return new Tenancy(options, await RequestLimiter.create(options.limits));
}

export { currentScope };
