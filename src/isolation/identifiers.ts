/**
 * Tenant-derived database identifiers, made in one place. Tenant ids are DNS labels, so
 * mapping "-" to "_" is one-to-one; names longer than PostgreSQL's 63-byte limit keep a
 * readable head and end in a hash of the whole id, so two tenants never share a name.
 */
import { createHash } from 'node:crypto';
import { TENANT_ID_PATTERN } from '../tenants/index.js';
import { validationError } from '../errors.js';

const PG_MAX = 63;

function fitIdentifier(name: string, id: string): string {
  if (name.length <= PG_MAX) return name;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 10);
  return `${name.slice(0, PG_MAX - hash.length - 1)}_${hash}`;
}

/** `acme-corp` -> `t_acme_corp` (with an optional prefix, e.g. per warehouse): schema and role name. */
export function tenantIdentifier(tenantId: string, prefix = ''): string {
  if (!TENANT_ID_PATTERN.test(tenantId) || tenantId.length > 63) {
    throw validationError(
      `"${tenantId.slice(0, 70)}" is not a tenant id`,
      [{ path: '/tenantId', message: 'must be a DNS label' }],
      'invalid_tenant_id',
    );
  }
  if (!/^([a-z][a-z0-9_]{0,20})?$/.test(prefix)) throw new Error(`invalid identifier prefix "${prefix}"`);
  return fitIdentifier(`${prefix}t_${tenantId.replace(/-/g, '_')}`, `${prefix}:${tenantId}`);
}

/**
 * The tenant's maintenance role (`m_<id>`, prefixed like the tenant's): the login the control
 * plane uses to work in the tenant's place as the tenant, without the tenant's password and
 * while the tenant's own role cannot log in (suspended, archiving, moving).
 */
export function maintenanceIdentifier(tenantId: string, prefix = ''): string {
  tenantIdentifier(tenantId, prefix);
  return fitIdentifier(`${prefix}m_${tenantId.replace(/-/g, '_')}`, `${prefix}:maintenance:${tenantId}`);
}
