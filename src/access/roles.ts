/**
 * Roles and the permission matrix. Platform roles act on every tenant; tenant roles are
 * bound to one tenant and see nothing else. docs/permissions.md prints this table, and a
 * test checks every cell through the HTTP API.
 */

export const PLATFORM_ROLES = ['platform-admin', 'platform-operator', 'platform-auditor'] as const;
export const TENANT_ROLES = ['owner', 'admin', 'operator', 'auditor', 'viewer'] as const;
export const ROLES = [...PLATFORM_ROLES, ...TENANT_ROLES] as const;

export type PlatformRole = (typeof PLATFORM_ROLES)[number];
export type TenantRole = (typeof TENANT_ROLES)[number];
export type Role = PlatformRole | TenantRole;

export const ACTIONS = [
  'tenant.create',
  'tenant.list',
  'tenant.read',
  'tenant.update',
  'tenant.suspend',
  'tenant.resume',
  'tenant.archive',
  'tenant.restore',
  'tenant.delete',
  'tenant.apply',
  'apikey.create',
  'apikey.list',
  'apikey.revoke',
  'platform_apikey.manage',
  'audit.read',
  'audit.write',
  'audit.verify',
  'token.create',
  'secret.list',
  'secret.read',
  'secret.write',
  'key.read',
  'key.rotate',
  'root_key.rotate',
  'connection.read',
  'job.read',
  'migration.run',
  'event.read',
  'webhook.read',
  'webhook.manage',
  'usage.read',
  'usage.write',
  'object.read',
  'object.write',
  'approval.read',
  'approval.decide',
  'sovereignty.check',
  'lineage.write',
  'lineage.read',
  'governance.drift.read',
  'policy.read',
  'policy.write',
  'policy.evaluate',
  'policy.rollout',
  'policy.conflicts',
  'policy_key.manage',
  'isolation.verify',
  'ai.invoke',
  'router.read',
  'model_provider.read',
  'model_provider.manage',
  'platform_secret.manage',
  'corpus.read',
  'corpus.write',
  'slo.read',
  'sli.write',
  'slo.freeze_override',
] as const;
export type Action = (typeof ACTIONS)[number];

const ALL = new Set<Action>(ACTIONS);
const READ: Action[] = ['tenant.list', 'tenant.read', 'token.create', 'job.read', 'slo.read'];

/** What a tenant's admin may do; an owner may also rotate the tenant's keys and manage its policy signing keys. */
const TENANT_ADMIN: readonly Action[] = [
  'tenant.update',
  'apikey.create',
  'apikey.list',
  'apikey.revoke',
  'audit.read',
  'audit.write',
  'secret.list',
  'secret.read',
  'secret.write',
  'key.read',
  'connection.read',
  'event.read',
  'webhook.read',
  'webhook.manage',
  'usage.read',
  'object.read',
  'object.write',
  'approval.read',
  'approval.decide',
  'sovereignty.check',
  'lineage.write',
  'lineage.read',
  'governance.drift.read',
  'policy.read',
  'policy.write',
  'policy.evaluate',
  'policy.rollout',
  'ai.invoke',
  'router.read',
  'corpus.read',
  'corpus.write',
  'sli.write',
];

/** The matrix: role -> actions it may perform. */
export const PERMISSIONS: Record<Role, ReadonlySet<Action>> = {
  'platform-admin': ALL,
  'platform-operator': new Set<Action>([
    ...READ,
    'tenant.create',
    'tenant.update',
    'tenant.suspend',
    'tenant.resume',
    'tenant.archive',
    'tenant.restore',
    'tenant.apply',
    'apikey.create',
    'apikey.list',
    'apikey.revoke',
    'audit.read',
    'audit.write',
    'secret.list',
    'secret.write',
    'key.read',
    'key.rotate',
    'connection.read',
    'migration.run',
    'event.read',
    'webhook.read',
    'webhook.manage',
    'usage.read',
    'usage.write',
    'object.read',
    'object.write',
    'approval.read',
    'sovereignty.check',
    'lineage.write',
    'lineage.read',
    'governance.drift.read',
    'policy.read',
    'policy.write',
    'policy.evaluate',
    'policy.rollout',
    'policy.conflicts',
    'ai.invoke',
    'router.read',
    'model_provider.read',
    'corpus.read',
    'corpus.write',
    'sli.write',
  ]),
  'platform-auditor': new Set<Action>([
    ...READ,
    'apikey.list',
    'audit.read',
    'audit.verify',
    'secret.list',
    'key.read',
    'event.read',
    'webhook.read',
    'usage.read',
    'approval.read',
    'sovereignty.check',
    'lineage.read',
    'governance.drift.read',
    'policy.read',
    'policy.conflicts',
    'router.read',
    'model_provider.read',
  ]),
  owner: new Set<Action>([...READ, ...TENANT_ADMIN, 'key.rotate', 'policy_key.manage', 'slo.freeze_override']),
  admin: new Set<Action>([...READ, ...TENANT_ADMIN]),
  operator: new Set<Action>([
    ...READ,
    'audit.write',
    'secret.list',
    'secret.read',
    'connection.read',
    'event.read',
    'usage.read',
    'object.read',
    'object.write',
    'sovereignty.check',
    'lineage.write',
    'lineage.read',
    'policy.read',
    'policy.evaluate',
    'ai.invoke',
    'router.read',
    'corpus.read',
    'corpus.write',
    'sli.write',
  ]),
  auditor: new Set<Action>([
    ...READ,
    'apikey.list',
    'audit.read',
    'secret.list',
    'key.read',
    'event.read',
    'webhook.read',
    'usage.read',
    'approval.read',
    'sovereignty.check',
    'lineage.read',
    'governance.drift.read',
    'policy.read',
    'router.read',
    'corpus.read',
  ]),
  viewer: new Set<Action>([...READ]),
};

/** Spec fields only a platform role may change (commercial and placement decisions). */
export const PLATFORM_ONLY_SPEC_FIELDS = [
  'plan',
  'profile',
  'region',
  'quotas',
  'billing',
  'byoc',
  'governance',
] as const;

const TENANT_RANK: Record<TenantRole, number> = { owner: 5, admin: 4, operator: 3, auditor: 2, viewer: 1 };

/** Whether `role` may perform `action` (tenant scope is checked separately). */
export function can(role: Role, action: Action): boolean {
  return PERMISSIONS[role].has(action);
}

export function isPlatformRole(role: string): role is PlatformRole {
  return (PLATFORM_ROLES as readonly string[]).includes(role);
}

export function isTenantRole(role: string): role is TenantRole {
  return (TENANT_ROLES as readonly string[]).includes(role);
}

/** Whether a holder of `granter` may mint a key with `role`: never above its own rank. */
export function mayGrant(granter: Role, role: Role): boolean {
  if (granter === 'platform-admin') return true;
  if (isPlatformRole(granter)) return isTenantRole(role);
  if (!isTenantRole(role)) return false;
  return TENANT_RANK[role] <= TENANT_RANK[granter];
}
