/**
 * Builds the model router from the control plane's services: the catalogue, the budget
 * ledger (the store, or Redis shared by every replica), adapters behind one undici agent
 * whose lookup refuses private addresses unless allowed, breakers, metering and notices.
 */
import type { Kysely } from 'kysely';
import type { Registry } from 'prom-client';
import type { UsageStore } from '../commercial/index.js';
import { TenancyError } from '../errors.js';
import { ReceiverGuard } from '../governance/index.js';
import type { KeyRing } from '../keys/index.js';
import { PlatformSecretStore } from '../keys/index.js';
import type { AuditLog } from '../ledger/index.js';
import type { Schema } from '../schema.js';
import type { TenantRegistry } from '../tenants/index.js';
import { Breakers } from './breakers.js';
import type { BudgetLedger } from './budget-ledger.js';
import { RedisBudgetLedger } from './budget-ledger-redis.js';
import { SqlBudgetLedger } from './budget-ledger-sql.js';
import { BudgetNotices } from './budget-notices.js';
import { ModelCatalogue } from './catalogue.js';
import { RouterMetering } from './metering.js';
import { ModelRouter } from './model-router.js';
import { AnthropicAdapter } from './providers/anthropic.js';
import { MockAdapter } from './providers/mock.js';
import { OpenAiAdapter } from './providers/openai.js';
import { upstreamAgent } from './providers/upstream-http.js';
import { TenantRoutings } from './tenant-routing.js';

/** What the router is built from. */
export interface ModelRouterSetup {
  db: Kysely<Schema>;
  audit: AuditLog;
  keyRing: KeyRing;
  registry: TenantRegistry;
  /** Meters go here (unset: metrics only). */
  usage: UsageStore | undefined;
  metrics: Registry;
  allowPrivate: boolean;
  ledger: 'store' | 'redis';
  redisUrl: string | undefined;
  onError: (error: unknown, what: string) => void;
}

/** A built router and what it owns. */
export interface BuiltModelRouter {
  router: ModelRouter;
  catalogue: ModelCatalogue;
  platformSecrets: PlatformSecretStore;
  metering: RouterMetering;
  close(): Promise<void>;
}

/** Build the router. */
export async function buildModelRouter(setup: ModelRouterSetup): Promise<BuiltModelRouter> {
  const guard = new ReceiverGuard({
    allowPrivate: setup.allowPrivate,
    allowedCidrs: [],
    allowHint: 'TENANCY_ROUTER_ALLOW_PRIVATE',
  });
  const agent = upstreamAgent(guard.lookup);
  let ledger: BudgetLedger;
  if (setup.ledger === 'redis') {
    if (!setup.redisUrl)
      throw new TenancyError('validation_failed', 'TENANCY_ROUTER_LEDGER=redis needs TENANCY_REDIS_URL', {
        errors: [{ path: '/env/TENANCY_REDIS_URL', message: 'must be set for the Redis budget ledger' }],
      });
    ledger = await RedisBudgetLedger.connect(setup.redisUrl);
  } else ledger = new SqlBudgetLedger(setup.db);
  const catalogue = new ModelCatalogue(setup.db, setup.audit, guard);
  const platformSecrets = new PlatformSecretStore(setup.db, setup.keyRing, setup.audit);
  const metering = new RouterMetering(setup.usage, setup.metrics, (e) => setup.onError(e, 'router metering'));
  const router = new ModelRouter({
    catalogue,
    routings: new TenantRoutings(setup.registry),
    ledger,
    breakers: new Breakers(),
    adapters: {
      openai: new OpenAiAdapter(agent),
      'openai-compatible': new OpenAiAdapter(agent),
      anthropic: new AnthropicAdapter(agent),
      mock: new MockAdapter(),
    },
    secrets: platformSecrets,
    metering,
    notices: new BudgetNotices(setup.db, setup.audit, (e) => setup.onError(e, 'router budget notice')),
  });
  return {
    router,
    catalogue,
    platformSecrets,
    metering,
    async close() {
      await router.flushUnheld();
      await metering.close();
      await ledger.close();
      await agent.close();
    },
  };
}
