/**
 * The composition root: opens the store, loads the signing keys, wires the modules, makes
 * sure a platform-admin credential exists, starts the controller and the HTTP server, and
 * closes everything cleanly (PGlite checkpoint included) on shutdown.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildModelRouter, embedTexts } from './ai/index.js';
import { buildSlo } from './slo/setup.js';
import { buildRetrieval } from './retrieval/setup.js';
import { ApiKeyStore, Authenticator, ensureAdminKey, TokenService } from './access/index.js';
import { QuotaStore, UsageSampler, UsageStore, parsePriceTable } from './commercial/index.js';
import type { Config } from './config.js';
import type { ControlPlane, StartOptions } from './control-plane-types.js';
import { JobStore, MigrationRuns, TenantController, watchRegistryEvents } from './controller/index.js';
import {
  ApprovalAnnouncer,
  ApprovalGate,
  approvalNotifiersFrom,
  findPolicyConflicts,
  LineageStore,
  PolicyKeyStore,
  PolicyService,
  ReceiverGuard,
  registerPolicyApprovals,
  WebhookDispatcher,
  WebhookStore,
} from './governance/index.js';
import { AuditLog, auditAnchorStores, EventRelay, IdempotencyStore } from './ledger/index.js';
import { connectEventBus } from './infra/bus/index.js';
import { buildServer } from './http/index.js';
import { openDatabase, redactUrl } from './infra/sql/index.js';
import type { Schema } from './schema.js';
import { TenancyError } from './errors.js';
import { connectObjectStore } from './infra/objects/index.js';
import { connectJobQueue } from './infra/queue/index.js';
import {
  isolationContext,
  loadMigrationSet,
  openWarehouse,
  TenantArchiver,
  TenantMigrator,
  TenantObjects,
  TenantResources,
} from './isolation/index.js';
import { LocalKeyRing, SecretStore, loadRootKey, loadSigningKeys } from './keys/index.js';
import { createMetrics } from './observability/index.js';
import { liveTenantIds, registerTenantApprovals, TenantRegistry } from './tenants/index.js';
import { VERSION } from './version.js';

export type { ControlPlane, ServeRole, StartOptions } from './control-plane-types.js';

/** The NATS stream and subject prefix events are published on. */
export const EVENTS_STREAM = 'tenancy-events';
export const EVENTS_SUBJECT_PREFIX = 'tenancy.events';

/** Start the control plane described by `config`. */
export async function startControlPlane(config: Config, options: StartOptions = {}): Promise<ControlPlane> {
  await mkdir(config.dataDir, { recursive: true });
  const signingKeys = await loadSigningKeys(config.signingKeyFile);
  const rootKey = await loadRootKey({
    env: config.rootKey,
    file: config.rootKeyFile,
    defaultFile: join(config.dataDir, 'root.key'),
  });
  const prices = parsePriceTable(config.usagePrices);
  const migrationSet = config.appMigrations ? await loadMigrationSet(config.appMigrations) : undefined;
  const database = await openDatabase<Schema>(
    config.databaseUrl
      ? { url: config.databaseUrl, ownerUrl: config.databaseOwnerUrl }
      : { dataDir: options.inMemory ? undefined : join(config.dataDir, 'pglite') },
  );
  const { db } = database;
  const audit = new AuditLog(db, signingKeys);
  try {
    const keyRing = await LocalKeyRing.open(db, rootKey);
    const secrets = new SecretStore(db, keyRing, audit);
    const registry = new TenantRegistry(db, audit);
    const apiKeys = new ApiKeyStore(db, audit);
    const tokens = new TokenService(signingKeys);
    const authenticator = new Authenticator(apiKeys, tokens);
    const adminKeyFile = await ensureAdminKey(apiKeys, { adminToken: config.adminToken, dataDir: config.dataDir });
    const metrics = createMetrics();
    const usage = new UsageStore(db, audit, { prices, rawRetentionDays: config.usageRawRetentionDays });
    const quotas = new QuotaStore(db, audit, usage);
    const jobs = new JobStore(db);
    const eventSource = `/tenancy/${config.instance}`;
    const receivers = new ReceiverGuard({
      allowPrivate: config.webhookAllowPrivate,
      allowedCidrs: config.webhookAllowedCidrs,
    });
    const webhooks = new WebhookStore(db, keyRing, audit, receivers, config.webhookSecretOverlapSeconds);
    const dispatcher = new WebhookDispatcher(db, webhooks, audit, receivers, {
      timeoutMs: config.webhookTimeoutMs,
      retryScheduleMs: config.webhookRetryScheduleMs,
      userAgent: `Tenancy-Webhooks/${VERSION}`,
      ...(options.webhookPollIntervalMs !== undefined ? { pollIntervalMs: options.webhookPollIntervalMs } : {}),
      onError: (error) => app.log.warn({ err: error }, 'webhook worker error; will retry'),
    });
    const policyKeys = new PolicyKeyStore(db, audit);
    const policies = new PolicyService(db, audit, policyKeys, {
      sandbox: { timeoutMs: config.policySandboxTimeoutMs, memoryMb: config.policySandboxMemoryMb },
    });
    const approvals = new ApprovalGate(db, audit);
    registerTenantApprovals(approvals, registry);
    registerPolicyApprovals(approvals, policies);
    const lineage = new LineageStore(db, audit);
    const notifiers =
      options.approvalNotifiers ??
      approvalNotifiersFrom(
        {
          webhookUrl: config.approvalsWebhookUrl,
          webhookSecret: config.approvalsWebhookSecret,
          webhookTimeoutMs: config.webhookTimeoutMs,
          smtpUrl: config.smtpUrl,
          from: config.approvalsFrom,
          alwaysTo: config.approvalsTo,
          userAgent: `Tenancy-Approvals/${VERSION}`,
        },
        receivers,
      );
    let publicUrl = config.publicUrl;
    const announcer = new ApprovalAnnouncer(approvals, notifiers, {
      get baseUrl() {
        return publicUrl;
      },
      ...(options.approvalNoticeRetryScheduleMs ? { retryScheduleMs: options.approvalNoticeRetryScheduleMs } : {}),
      onError: (error, approvalId) => app.log.warn({ err: error, approvalId }, 'approval notice failed; will retry'),
    });
    approvals.onDecided(() => announcer.wake());
    const { retrieval, batches, retrievalLineage, retrievalCache } = await buildRetrieval({
      db,
      audit,
      registry,
      lineage,
      approvals,
      jobs,
      config,
      warehouse: () => resources.databases,
      objects: () => tenantObjects,
      embedder: (tenantId, r) => embedTexts(ai.router, tenantId, r, r.requestId), // per request: `ai` exists by then
      log: (error, what) => app.log.warn({ err: error }, `${what} failed; will retry`),
    });
    const slo = buildSlo(
      { db, audit, registry, config, metrics: metrics.registry, options: options.slo },
      (error, what) => app.log.warn({ err: error }, `${what} failed; will retry`),
    );
    retrieval.onRetrieve((tenantId, ok, latencyMs) => slo.record(tenantId, 'retrieval', { ok, latencyMs }));
    registry.useFreeze(slo);
    const role = options.role ?? 'all';
    const ai = await buildModelRouter({
      db,
      audit,
      keyRing,
      registry,
      usage,
      metrics: metrics.registry,
      allowPrivate: config.routerAllowPrivate,
      ledger: config.routerLedger,
      redisUrl: config.redisUrl,
      onError: (error, what) => app.log.warn({ err: error }, `${what} failed; will retry`),
    });
    ai.metering.onCall((call) =>
      slo.record(call.tenantId, 'router', {
        ok: call.outcome === 'success',
        latencyMs: call.latencyMs,
        costMicros: call.costMicros,
      }),
    );
    const app = buildServer(
      {
        store: { db, engine: database.engine },
        tenants: { registry },
        ledger: { audit, idempotency: new IdempotencyStore(db, keyRing), eventSource },
        access: { apiKeys, tokens, authenticator, signingKeys },
        keys: { keyRing, secrets, rootKeyFile: rootKey.file },
        isolation: {
          resources: () => resources,
          tenantObjects: () => tenantObjects,
          isolationSelfTest: () => ({
            databases,
            storeUrl: config.databaseUrl,
            migrations: migrator !== undefined,
            prefix: installation?.warehousePrefix ?? '',
          }),
        },
        controller: { jobs, migrations: () => migrations },
        governance: {
          webhooks,
          policies,
          policyKeys,
          approvals,
          lineage,
          policyConflicts: options.policyConflicts ?? {
            findPolicyConflicts: (filter) => findPolicyConflicts(db, { ...filter, liveTenantIds: liveTenantIds(db) }),
          },
          onRedeliver: () => dispatcher.wake(),
          onApprovalChange: () => announcer.wake(),
        },
        commercial: { usage, quotas },
        ai: { router: ai.router, catalogue: ai.catalogue, platformSecrets: ai.platformSecrets },
        retrieval: { store: retrieval, batches },
        slo: { service: slo },
        server: { metrics, version: VERSION, requestTimeoutMs: config.requestTimeoutMs, role },
      },
      options.logger ?? false,
    );
    const objects = connectObjectStore({ s3Url: config.s3Url, dataDir: config.dataDir });
    await audit.startAnchoring({
      stores: auditAnchorStores({ dataDir: config.dataDir, objects, instance: config.instance }),
      ...(options.auditAnchorIntervalMs !== undefined ? { intervalMs: options.auditAnchorIntervalMs } : {}),
      onError: (error) => app.log.error({ err: error }, 'audit anchor failed; will retry'),
    });
    const queue = await connectJobQueue({ natsUrl: config.natsUrl, db });
    const bus = await connectEventBus({
      natsUrl: config.natsUrl,
      stream: EVENTS_STREAM,
      subjectPrefix: EVENTS_SUBJECT_PREFIX,
    });
    const relay = new EventRelay(db, bus, {
      source: eventSource,
      subjectPrefix: EVENTS_SUBJECT_PREFIX,
      ...(options.relayPollIntervalMs !== undefined ? { pollIntervalMs: options.relayPollIntervalMs } : {}),
      onError: (error, event) =>
        app.log.warn(
          { err: error, eventId: event?.id, tenantId: event?.tenantId },
          'event relay: publish failed; will retry',
        ),
    });
    relay.onPublished(dispatcher.enqueue);
    relay.onCommitted(() => dispatcher.wake());
    const { warehouse: databases, installation } = await openWarehouse({
      warehouseUrl: config.warehouseUrl,
      store: db,
      storeUrl: config.databaseUrl,
      keyRing,
      secrets,
      dataDir: options.inMemory ? undefined : join(config.dataDir, 'warehouse'),
      rolePrefix: config.warehouseRolePrefix,
      tenantStatementTimeoutMs: config.tenantStatementTimeoutSeconds * 1000,
      byocAllowPrivate: config.byocAllowPrivate,
    });
    try {
      for (const warning of [...database.warnings, ...(await databases.prepare())]) app.log.warn(warning);
    } catch (cause) {
      await databases.close();
      throw new TenancyError(
        'warehouse_unavailable',
        `cannot prepare the warehouse at ${config.warehouseUrl ? redactUrl(config.warehouseUrl) : 'the data dir'}: ${(cause as Error).message}`,
        { cause },
      );
    }
    const migrator = migrationSet ? new TenantMigrator(db, databases, migrationSet, config.environment) : undefined;
    const archiver = new TenantArchiver(db, databases, objects, jobs, migrator);
    const resources = new TenantResources(objects, queue, databases, migrator, archiver);
    const migrations = new MigrationRuns(db, jobs, migrator, audit, (error) =>
      app.log.warn({ err: error }, 'migration run failed'),
    );
    const tenantObjects = new TenantObjects(objects, quotas, (id) => registry.get(id));
    const sampler = new UsageSampler(db, usage, quotas, {
      finishedJobs: (since) => jobs.finishedSince(since),
      intervalMs: config.usageSampleIntervalSeconds * 1000,
      // The tenant's tables, measured as its own role in its own place.
      databaseBytes: async (id) => {
        const tenant = await registry.get(id);
        if (tenant.status.phase !== 'active' && tenant.status.phase !== 'suspended') return undefined;
        // Not while the controller has work on the tenant's place (a move, a profile change),
        // and not by opening an embedded dedicated instance just to measure it: those are
        // few (at most 4 open at once) and the controller's work needs them.
        const placed = tenant.status.placement?.profile;
        if (!placed || tenant.status.placement?.movingFrom || placed !== tenant.spec.profile) return undefined;
        const ctx = isolationContext(id, tenant.spec, placed);
        if (!databases.samplable(ctx)) return undefined;
        return databases.sizeBytes(ctx);
      },
      onError: (error) => app.log.warn({ err: error }, 'usage sampling failed; will retry'),
    });
    const controller = new TenantController(db, registry, audit, apiKeys, keyRing, secrets, {
      resources,
      concurrency: config.controllerConcurrency,
      resyncIntervalMs: options.controllerResyncMs ?? config.resyncIntervalSeconds * 1000,
      onError: (tenantId, error) => app.log.warn({ err: error, tenantId }, 'reconcile failed; will retry'),
    });
    // A gateway serves the model router's API only: the controller, relay and workers run elsewhere.
    let unwatch = async (): Promise<void> => undefined;
    if (role === 'all') {
      controller.start();
      await migrations.resume();
      await batches.resume();
      slo.start();
      unwatch = await watchRegistryEvents(bus, EVENTS_SUBJECT_PREFIX, controller);
      await options.subscribe?.(bus);
      relay.start();
      dispatcher.start();
      if (!options.manualSampler) sampler.start();
      if (notifiers.length > 0) announcer.start();
    }
    let url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
    if (options.listen !== false) {
      const address = await app.listen({ port: config.port, host: config.host });
      url = address.replace('0.0.0.0', '127.0.0.1');
    } else {
      await app.ready();
    }
    publicUrl ??= url;
    let closing: Promise<void> | undefined;
    return {
      role,
      modelRouter: ai.router,
      modelCatalogue: ai.catalogue,
      platformSecrets: ai.platformSecrets,
      app,
      database,
      registry,
      audit,
      apiKeys,
      controller,
      keyRing,
      secrets,
      objects,
      queue,
      jobs,
      migrations,
      resources,
      bus,
      relay,
      webhooks,
      policies,
      policyKeys,
      dispatcher,
      usage,
      quotas,
      sampler,
      tenantObjects,
      slo,
      retrieval,
      approvals,
      announcer,
      lineage,
      url,
      adminKeyFile,
      close() {
        closing ??= (async () => {
          await app.close();
          await migrations.stop();
          await batches.stop();
          await slo.stop().catch(() => undefined);
          await controller.stop();
          await unwatch().catch(() => undefined);
          await relay.stop();
          await dispatcher.stop();
          await sampler.stop();
          await announcer.stop();
          await ai.close().catch(() => undefined);
          await retrievalLineage.close().catch(() => undefined);
          await retrievalCache?.close().catch(() => undefined);
          for (const n of notifiers) await (n as { close?: () => unknown }).close?.();
          await audit.close().catch((error) => app.log.error({ err: error }, 'audit anchor at shutdown failed'));
          await bus.close().catch(() => undefined);
          await queue.close().catch(() => undefined);
          await objects.close().catch(() => undefined);
          await databases.close().catch(() => undefined);
          await database.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await audit.close().catch(() => undefined);
    await database.close();
    throw error;
  }
}
