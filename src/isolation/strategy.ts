/**
 * The isolation strategy seam: given a tenant's context, a strategy names the resources
 * the tenant should have. `shared` (mt-standard) places tenants side by side with a
 * schema, a prefix and a subject each; `dedicated` (st-dedicated, st-byoc) gives each its
 * own database, bucket and stream. Callers ask {@link strategyFor}; adding a strategy
 * changes no caller.
 */
import { effectiveQuotas, type EffectiveQuotas, type Profile, type TenantSpec } from '../tenants/index.js';
import { tenantIdentifier } from './identifiers.js';

/** What a strategy needs to know about a tenant. */
export interface IsolationContext {
  tenantId: string;
  profile: Profile;
  region: string;
  plan: string;
  quotas: EffectiveQuotas;
  /** st-byoc: the tenant secret holding its own database's URL. */
  byocDatabaseSecret?: string;
}

/**
 * The isolation context of a tenant, from its spec; `placedProfile` (where its resources
 * are, when known) wins over the spec's profile, which differs only while a move is due.
 */
export function isolationContext(
  tenantId: string,
  spec: Pick<TenantSpec, 'plan' | 'profile' | 'region' | 'quotas' | 'byoc'>,
  placedProfile?: string | null,
): IsolationContext {
  return {
    tenantId,
    profile: (placedProfile as Profile | null | undefined) ?? spec.profile,
    region: spec.region,
    plan: spec.plan,
    quotas: effectiveQuotas(spec),
    ...(spec.byoc ? { byocDatabaseSecret: spec.byoc.databaseSecret } : {}),
  };
}

/** Where a tenant's relational data lives. */
export type DatabasePlacement =
  | { kind: 'schema'; database: string; schema: string; role: string }
  | { kind: 'database'; database: string; schema: 'public'; role: string };

/** Every resource a tenant should have, by kind. */
export interface ResourcePlan {
  strategy: string;
  database: DatabasePlacement;
  objects: { bucket: string; prefix: string };
  queue: { stream: string; subject: string; consumer: string };
  compute: { namespace: string; dedicatedNamespace: boolean };
}

/** Who runs the server a tenant's database is on: the installation's warehouse, or the tenant (st-byoc). */
export type DatabaseHost = 'platform' | 'tenant';

/** Names the resources for a tenant. */
export interface IsolationStrategy {
  readonly name: 'shared' | 'dedicated';
  /** How the plan places the tenant's relational data (`resources(ctx).database.kind`). */
  readonly databaseKind: DatabasePlacement['kind'];
  /** Whose server that database is on. */
  readonly databaseHost: DatabaseHost;
  resources(ctx: IsolationContext): ResourcePlan;
}

/** Settings strategies share (names of the shared places). */
export interface StrategySettings {
  warehouseDatabase: string;
  sharedBucket: string;
  sharedStream: string;
  sharedNamespace: string;
  identifierPrefix: string;
}

export const DEFAULT_STRATEGY_SETTINGS: StrategySettings = {
  warehouseDatabase: 'tenancy_warehouse',
  sharedBucket: 'shared',
  sharedStream: 'jobs',
  sharedNamespace: 'tenants-shared',
  identifierPrefix: '',
};

/** mt-standard: one warehouse, one bucket, one stream, one namespace, partitioned by tenant. */
export function sharedStrategy(settings: StrategySettings = DEFAULT_STRATEGY_SETTINGS): IsolationStrategy {
  return {
    name: 'shared',
    databaseKind: 'schema',
    databaseHost: 'platform',
    resources(ctx) {
      const ident = tenantIdentifier(ctx.tenantId, settings.identifierPrefix);
      return {
        strategy: 'shared',
        database: { kind: 'schema', database: settings.warehouseDatabase, schema: ident, role: ident },
        objects: { bucket: settings.sharedBucket, prefix: `tenants/${ctx.tenantId}/` },
        queue: {
          stream: settings.sharedStream,
          subject: `${settings.sharedStream}.${ctx.tenantId}`,
          consumer: ctx.tenantId,
        },
        compute: { namespace: settings.sharedNamespace, dedicatedNamespace: false },
      };
    },
  };
}

/**
 * st-dedicated and st-byoc: a database, a bucket, a stream and a namespace of the tenant's
 * own; the database on the platform's warehouse, or (`databaseHost: 'tenant'`, st-byoc) on
 * the tenant's own server.
 */
export function dedicatedStrategy(
  settings: StrategySettings = DEFAULT_STRATEGY_SETTINGS,
  databaseHost: DatabaseHost = 'platform',
): IsolationStrategy {
  return {
    name: 'dedicated',
    databaseKind: 'database',
    databaseHost,
    resources(ctx) {
      const ident = tenantIdentifier(ctx.tenantId, settings.identifierPrefix);
      return {
        strategy: 'dedicated',
        database: {
          kind: 'database',
          database: `warehouse_${ident.replace(/^t_/, '')}`.slice(0, 63),
          schema: 'public',
          role: ident,
        },
        objects: { bucket: `data-${ctx.tenantId}`.slice(0, 63).replace(/-+$/, ''), prefix: '' },
        queue: { stream: `jobs-${ctx.tenantId}`, subject: `jobs-${ctx.tenantId}.>`, consumer: ctx.tenantId },
        compute: { namespace: `tenant-${ctx.tenantId}`.slice(0, 63).replace(/-+$/, ''), dedicatedNamespace: true },
      };
    },
  };
}

/** The strategy for a profile: the one place a profile name is turned into a placement. */
export function strategyFor(
  profile: Profile,
  settings: StrategySettings = DEFAULT_STRATEGY_SETTINGS,
): IsolationStrategy {
  if (profile === 'mt-standard') return sharedStrategy(settings);
  return dedicatedStrategy(settings, profile === 'st-byoc' ? 'tenant' : 'platform');
}

/** The strategies of the default settings, by profile: what the warehouses ask on every call. */
const DEFAULT_STRATEGIES = new Map<Profile, IsolationStrategy>();

/**
 * How a tenant's database is placed under its strategy: `kind` (a schema in a shared
 * database, or a database of its own) and `host` (the platform's warehouse, or the
 * tenant's server). Warehouses branch on this, never on a profile name.
 */
export function databaseLayout(ctx: Pick<IsolationContext, 'profile'>): {
  kind: DatabasePlacement['kind'];
  host: DatabaseHost;
} {
  let strategy = DEFAULT_STRATEGIES.get(ctx.profile);
  if (!strategy) DEFAULT_STRATEGIES.set(ctx.profile, (strategy = strategyFor(ctx.profile)));
  return { kind: strategy.databaseKind, host: strategy.databaseHost };
}
