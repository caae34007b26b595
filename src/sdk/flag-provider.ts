/**
 * An OpenFeature provider (`@openfeature/server-sdk`) serving each tenant's feature flags
 * from its tenant context, so apps use the standard API:
 *
 * ```js
 * OpenFeature.setProvider(new TenancyFlagProvider(tenancy));
 * const flags = OpenFeature.getClient();
 * if (await flags.getBooleanValue('newEditor', false)) …   // inside a request: its tenant
 * ```
 *
 * The tenant is the evaluation context's `targetingKey` (a tenant id), else the current
 * request's. Values, reasons (`STATIC`, `TARGETING_MATCH`, `SPLIT`, `DEFAULT`) and variants
 * come from the control plane, which places percentage rollouts by the tenant id. When the
 * event feed reports a change to a tenant whose flags were evaluated here, the provider
 * reads its context again and emits `ConfigurationChanged` with the flags that changed.
 */
import {
  FlagNotFoundError,
  OpenFeatureEventEmitter,
  ParseError,
  ProviderEvents,
  TargetingKeyMissingError,
  TypeMismatchError,
  type EvaluationContext,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import { currentScope } from './request-context.js';
import type { Tenancy } from './tenancy-sdk.js';
import type { FlagResolution, TenancyEvent, TenantContext } from './types.js';

const TENANT_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Options for {@link TenancyFlagProvider}. */
export interface FlagProviderOptions {
  /** Tenants whose flags are watched for changes (default 10,000; least recently evaluated dropped). */
  maxWatched?: number;
}

/** Serves tenants' feature flags to OpenFeature. */
export class TenancyFlagProvider implements Provider {
  readonly metadata = { name: 'tenancy' } as const;
  readonly runsOn = 'server' as const;
  readonly events = new OpenFeatureEventEmitter();
  /** Last flags seen per tenant (JSON per flag), to tell which ones an event changed. */
  readonly #watched = new Map<string, Map<string, string>>();
  readonly #maxWatched: number;
  #closed = false;

  constructor(
    private readonly tenancy: Tenancy,
    options: FlagProviderOptions = {},
  ) {
    this.#maxWatched = options.maxWatched ?? 10_000;
    tenancy.feed.onEvent((event) => this.#onEvent(event));
    tenancy.feed.onReset(() => {
      if (!this.#closed)
        this.events.emit(ProviderEvents.ConfigurationChanged, {
          message: 'the event feed reconnected; flags may have changed',
        });
    });
  }

  /** Start the event feed (the first evaluation would otherwise). */
  async initialize(): Promise<void> {
    await this.tenancy.start();
  }

  async onClose(): Promise<void> {
    this.#closed = true;
  }

  resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.#resolve(flagKey, defaultValue, context, 'boolean');
  }

  resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.#resolve(flagKey, defaultValue, context, 'string');
  }

  /** A numeric flag is a string flag holding a number (`"25"`); anything else is a type mismatch. */
  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    const details = await this.#resolve<string | number>(flagKey, defaultValue, context, 'string');
    if (typeof details.value === 'number') return details as ResolutionDetails<number>;
    const n = Number(details.value);
    if (details.value.trim() === '' || !Number.isFinite(n))
      throw new TypeMismatchError(`flag ${flagKey} is "${details.value}", not a number`);
    return { ...details, value: n };
  }

  /** An object flag is a string flag holding JSON. */
  async resolveObjectEvaluation<T extends JsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    const details = await this.#resolve<string | T>(flagKey, defaultValue, context, 'string');
    if (typeof details.value !== 'string') return details as ResolutionDetails<T>;
    try {
      return { ...details, value: JSON.parse(details.value) as T };
    } catch {
      throw new ParseError(`flag ${flagKey} does not hold JSON`);
    }
  }

  async #resolve<T>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    type: 'boolean' | 'string',
  ): Promise<ResolutionDetails<T>> {
    const tenant = await this.#tenant(context);
    const flag = flagOf(tenant, flagKey);
    if (!flag) throw new FlagNotFoundError(`tenant ${tenant.id} has no flag ${flagKey}`);
    const flagMetadata = { tenantId: tenant.id, source: flag.source, generation: tenant.generation };
    if (flag.value === undefined)
      return { value: defaultValue, reason: flag.reason, variant: flag.variant, flagMetadata };
    if (typeof flag.value !== type)
      throw new TypeMismatchError(`flag ${flagKey} is a ${typeof flag.value}, not a ${type}`);
    return { value: flag.value as T, reason: flag.reason, variant: flag.variant, flagMetadata };
  }

  /** The tenant the evaluation is for: `targetingKey`, else the current request's. */
  async #tenant(context: EvaluationContext): Promise<TenantContext> {
    const key = context.targetingKey;
    const scope = currentScope();
    let tenant: TenantContext;
    if (key === undefined || key === '') {
      if (!scope)
        throw new TargetingKeyMissingError(
          'no targetingKey and no current request: evaluate inside a request, or pass the tenant id as targetingKey',
        );
      tenant = scope.tenant;
    } else {
      if (!TENANT_ID.test(key))
        throw new TargetingKeyMissingError(`targetingKey "${key.slice(0, 80)}" is not a tenant id`);
      tenant = scope && scope.tenant.id === key ? scope.tenant : await this.tenancy.contexts.get(key);
    }
    this.#watch(tenant);
    return tenant;
  }

  #watch(tenant: TenantContext): void {
    if (this.#watched.has(tenant.id)) {
      // Least recently evaluated first: re-insert to move it to the back.
      const entry = this.#watched.get(tenant.id)!;
      this.#watched.delete(tenant.id);
      this.#watched.set(tenant.id, entry);
      return;
    }
    if (this.#watched.size >= this.#maxWatched) this.#watched.delete(this.#watched.keys().next().value!);
    this.#watched.set(tenant.id, snapshot(tenant));
  }

  #onEvent(event: TenancyEvent): void {
    const id = event.subject;
    if (this.#closed || !id || !this.#watched.has(id) || event.type.startsWith('tenancy.audit.')) return;
    // The Tenancy's own listener dropped the cached context before this one runs.
    void this.tenancy.contexts.get(id).then(
      (tenant) => {
        const before = this.#watched.get(id);
        if (!before) return;
        const after = snapshot(tenant);
        const changed = [...new Set([...before.keys(), ...after.keys()])]
          .filter((k) => before.get(k) !== after.get(k))
          .sort();
        this.#watched.set(id, after);
        if (changed.length > 0)
          this.events.emit(ProviderEvents.ConfigurationChanged, {
            flagsChanged: changed,
            metadata: { tenantId: id, generation: tenant.generation },
          });
      },
      () => {
        // The tenant is gone or the control plane is away: the next evaluation says so.
      },
    );
  }
}

/** The tenant's resolution of a flag; contexts from before reasons existed count as targeted values. */
function flagOf(tenant: TenantContext, key: string): FlagResolution | undefined {
  if (tenant.flags) return Object.hasOwn(tenant.flags, key) ? tenant.flags[key] : undefined;
  return Object.hasOwn(tenant.features, key)
    ? { value: tenant.features[key]!, reason: 'TARGETING_MATCH', variant: 'tenant', source: 'manifest' }
    : undefined;
}

function snapshot(tenant: TenantContext): Map<string, string> {
  if (!tenant.flags) return new Map(Object.entries(tenant.features).map(([k, v]) => [k, JSON.stringify([v])]));
  return new Map(Object.entries(tenant.flags).map(([k, v]) => [k, JSON.stringify([v.value, v.variant])]));
}
