/**
 * What every route needs: the services, the caller's principal, and `authorize`, which
 * applies the permission matrix, the tenant scope (another tenant's id answers 404) and
 * the tenant's phase (a suspended tenant's credentials get 403), auditing every denial.
 */
import type { FastifyRequest } from 'fastify';
import type { SelfTestDeps } from '../verify/index.js';
import type { Kysely } from 'kysely';
import type { ControlPlaneMetrics } from '../observability/index.js';
import {
  can,
  isPlatformRole,
  type Action,
  type ApiKeyStore,
  type Authenticator,
  type Principal,
  type TokenService,
} from '../access/index.js';
import { TenancyError, validationError } from '../errors.js';
import type {
  ApprovalGate,
  LineageStore,
  PolicyConflictSource,
  PolicyKeyStore,
  PolicyService,
  WebhookStore,
} from '../governance/index.js';
import type { Actor, AuditLog, IdempotencyStore } from '../ledger/index.js';
import type { SqlEngine } from '../infra/sql/index.js';
import type { Schema } from '../schema.js';
import type { KeyRing, PlatformSecretStore, SecretStore, SigningKeys } from '../keys/index.js';
import type { ModelCatalogue, ModelRouter } from '../ai/index.js';
import type { BatchIngest, RetrievalStore } from '../retrieval/index.js';
import type { SloService } from '../slo/index.js';
import type { TenantObjects, TenantResources } from '../isolation/index.js';
import type { QuotaStore, UsageStore } from '../commercial/index.js';
import type { JobStore, MigrationRuns } from '../controller/index.js';
import { credentialRefusal, tenantIdSchema, type Phase, type TenantRegistry } from '../tenants/index.js';

/**
 * Services the HTTP layer is built from, one group per module, so a route file names the
 * module it talks to (`deps.governance.webhooks`). Getters are services wired after the server.
 */
export interface HttpDeps {
  /** The control plane's own store (route helpers of other modules take it). */
  store: { db: Kysely<Schema>; engine: SqlEngine };
  tenants: { registry: TenantRegistry };
  ledger: {
    audit: AuditLog;
    /** Stored answers of idempotent POSTs. */
    idempotency: IdempotencyStore;
    /** CloudEvents `source` of this installation (`/tenancy/<instance>`). */
    eventSource: string;
  };
  access: { apiKeys: ApiKeyStore; tokens: TokenService; authenticator: Authenticator; signingKeys: SigningKeys };
  keys: {
    keyRing: KeyRing;
    secrets: SecretStore;
    /** The root key's file, when file-based (root rotation rewrites it). */
    rootKeyFile: string | undefined;
  };
  isolation: {
    /** The tenants' resources (objects, queue, databases). */
    resources: () => TenantResources;
    /** Tenant object handles (storage quota applied). */
    tenantObjects: () => TenantObjects;
    /** What the isolation self-test needs beyond the API: the warehouse, the store's URL, whether migrations are set. */
    isolationSelfTest: () => Omit<SelfTestDeps, 'api'>;
  };
  controller: { jobs: JobStore; migrations: () => MigrationRuns };
  governance: {
    webhooks: WebhookStore;
    policies: PolicyService;
    policyKeys: PolicyKeyStore;
    approvals: ApprovalGate;
    lineage: LineageStore;
    /** Conflicts between tenant policies for the drift map (the policy service); unset = none known. */
    policyConflicts?: PolicyConflictSource | undefined;
    /** Called after a manual redelivery commits (wakes the delivery worker). */
    onRedeliver?: () => void;
    /** Called after an approval is requested or decided (wakes the notice worker). */
    onApprovalChange?: () => void;
  };
  commercial: {
    /** Meters, rollups and the cost report. */
    usage: UsageStore;
    /** Quota accounting (counts, storage, monthly cost). */
    quotas: QuotaStore;
  };
  ai: {
    router: ModelRouter;
    catalogue: ModelCatalogue;
    platformSecrets: PlatformSecretStore;
  };
  retrieval: { store: RetrievalStore; batches: BatchIngest };
  slo: { service: SloService };
  server: {
    metrics: ControlPlaneMetrics;
    version: string;
    /** `gateway`: only the model router's API (and health, metrics) is served. */
    role?: 'all' | 'gateway';
    /** Body limit for most endpoints, and for `POST /v1/apply`. */
    bodyLimitBytes?: number;
    applyBodyLimitBytes?: number;
    /** Longest a client may take to send one request, headers and body (default five minutes). */
    requestTimeoutMs?: number;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /** Route needs no credentials. */
    public?: boolean;
  }
}

/** The audit actor for a request. */
export function actorOf(request: FastifyRequest): Actor {
  return { id: request.principal?.actorId ?? 'anonymous', correlationId: request.id };
}

/** Validate a tenant id taken from the URL. */
export function tenantIdParam(value: string, path = '/path/id'): string {
  const r = tenantIdSchema.safeParse(value);
  if (!r.success)
    throw validationError(
      `"${value.slice(0, 80)}" is not a valid tenant id`,
      [{ path, message: r.error.issues[0]!.message }],
      'invalid_tenant_id',
    );
  return r.data;
}

/** Authorization with a short phase cache (cleared on every registry change in this process). */
export class Guard {
  readonly #phases = new Map<string, { phase: Phase | undefined; until: number }>();

  constructor(private readonly deps: HttpDeps) {
    deps.tenants.registry.onChange((id) => this.#phases.delete(id));
  }

  async #phaseOf(id: string): Promise<Phase | undefined> {
    const now = Date.now();
    const hit = this.#phases.get(id);
    if (hit && hit.until > now) return hit.phase;
    const phase = await this.deps.tenants.registry.phaseOf(id);
    if (this.#phases.size > 50_000) this.#phases.clear();
    this.#phases.set(id, { phase, until: now + 2_000 });
    return phase;
  }

  /**
   * The principal, if it may do `action` (on `tenantId` when given). A platform caller may
   * name the tenant by `X-Tenant-ID`; a tenant caller is always pinned to its own tenant.
   */
  async authorize(request: FastifyRequest, action: Action, tenantId?: string): Promise<Principal> {
    const principal = request.principal;
    if (!principal) throw new TenancyError('unauthenticated', 'this endpoint needs credentials');
    const deny = async (error: TenancyError, reason: string): Promise<never> => {
      await this.deps.ledger.audit.record(actorOf(request), {
        action,
        target: tenantId ? `tenant/${tenantId}` : (request.routeOptions.url ?? request.url),
        tenantId: principal.tenantId ?? tenantId ?? null,
        outcome: 'denied',
        details: { reason, role: principal.role, method: request.method, path: request.url.split('?')[0] },
      });
      throw error;
    };
    if (principal.tenantId !== null && tenantId !== undefined && tenantId !== principal.tenantId) {
      return deny(new TenancyError('tenant_not_found', `tenant ${tenantId} not found`), 'cross_tenant');
    }
    if (!can(principal.role, action)) {
      return deny(
        new TenancyError('forbidden', `role ${principal.role} may not ${action}`, {
          extensions: { role: principal.role, action },
        }),
        'role',
      );
    }
    if (principal.tenantId !== null) {
      const phase = await this.#phaseOf(principal.tenantId);
      const refusal =
        phase === undefined
          ? { code: 'tenant_deleted' as const, detail: 'the tenant is gone' }
          : credentialRefusal(phase);
      if (refusal)
        return deny(
          new TenancyError(refusal.code, `${refusal.detail}; its credentials are refused`, {
            status: 403,
            extensions: { phase: phase ?? 'deleted' },
          }),
          refusal.code,
        );
    }
    return principal;
  }

  /**
   * Refuse a tenant caller an object it may not see, whether it belongs to another tenant,
   * to the platform, or does not exist: the same audited denial (reason `not_visible`),
   * then `error`. Callers reach this from a lookup scoped to the caller's tenant, so an
   * existing foreign id and an unknown one take the same path, answer and work.
   */
  async hidden(request: FastifyRequest, action: Action, target: string, error: TenancyError): Promise<never> {
    const principal = request.principal;
    if (principal && principal.tenantId !== null) {
      await this.deps.ledger.audit.record(actorOf(request), {
        action,
        target,
        tenantId: principal.tenantId,
        outcome: 'denied',
        details: {
          reason: 'not_visible',
          role: principal.role,
          method: request.method,
          path: request.url.split('?')[0],
        },
      });
    }
    throw error;
  }

  /**
   * The tenant a tenant-less route (list, audit) is scoped to: a tenant caller's own, or
   * the platform caller's `X-Tenant-ID` (validated), or none.
   */
  scopeOf(request: FastifyRequest, principal: Principal): string | undefined {
    if (principal.tenantId !== null) return principal.tenantId;
    const header = request.headers['x-tenant-id'];
    if (header === undefined) return undefined;
    if (Array.isArray(header))
      throw validationError(
        'X-Tenant-ID may appear once',
        [{ path: '/headers/x-tenant-id', message: 'repeated' }],
        'invalid_header',
      );
    return tenantIdParam(header, '/headers/x-tenant-id');
  }

  /** A path tenant id, checked against `X-Tenant-ID` when a platform caller sends both. */
  pathTenant(request: FastifyRequest, raw: string): string {
    const id = tenantIdParam(raw);
    const header = request.headers['x-tenant-id'];
    if (typeof header === 'string' && header !== id) {
      throw validationError(
        'X-Tenant-ID names a different tenant than the path',
        [{ path: '/headers/x-tenant-id', message: `is "${header.slice(0, 63)}" but the path names "${id}"` }],
        'tenant_mismatch',
      );
    }
    return id;
  }
}

export { isPlatformRole };
