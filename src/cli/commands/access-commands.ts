/**
 * `keys create|list|revoke` and `audit list|verify`.
 */
import type { ApiKeyInfo } from '../../access/index.js';
import type { AnchorCheck, AuditRecord, AuditVerification } from '../../ledger/index.js';
import { request, CliError, type ClientOptions } from '../client.js';
import { filterParams, showList } from '../command-helpers.js';
import { outputFormat, structured } from '../output.js';

type Out = (line: string) => void;

const base = (tenant: string | undefined) =>
  tenant ? `/v1/tenants/${encodeURIComponent(tenant)}/api-keys` : '/v1/api-keys';

/** `keys create`. */
export async function createKey(
  client: ClientOptions,
  opts: { tenant?: string; role: string; name: string; expiresAt?: string },
  out: Out,
): Promise<void> {
  const created = await request<ApiKeyInfo & { token: string }>(client, 'POST', base(opts.tenant), {
    name: opts.name,
    role: opts.role,
    ...(opts.expiresAt ? { expiresAt: opts.expiresAt } : {}),
  });
  out(
    `created key ${created.id} (${created.role}${created.tenantId ? ` for tenant ${created.tenantId}` : ''}); the token is shown once:`,
  );
  out(created.token);
}

/** `keys list`. */
export async function listKeys(
  client: ClientOptions,
  tenant: string | undefined,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showList<ApiKeyInfo>(client, base(tenant), format, out, {
    empty: 'no keys',
    headers: ['ID', 'NAME', 'ROLE', 'TENANT', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
    row: (k) => [k.id, k.name, k.role, k.tenantId, k.createdAt, k.expiresAt, k.lastUsedAt, k.revokedAt],
  });
}

/** `keys revoke`. */
export async function revokeKey(
  client: ClientOptions,
  keyId: string,
  tenant: string | undefined,
  out: Out,
): Promise<void> {
  const key = await request<ApiKeyInfo>(client, 'DELETE', `${base(tenant)}/${encodeURIComponent(keyId)}`);
  out(`revoked key ${key.id}`);
}

/** `audit list`. */
export async function listAudit(
  client: ClientOptions,
  filters: Record<string, string | undefined>,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showList<AuditRecord>(client, `/v1/audit?${filterParams(filters)}`, format, out, {
    empty: 'no audit records',
    headers: ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME'],
    row: (r) => [r.seq, r.ts, r.actor, r.action, r.target, r.outcome],
  });
}

/** `audit verify`: exit non-zero when the chain is broken; says which anchors outside the database it was checked against. */
export async function verifyAudit(client: ClientOptions, output: string | undefined, out: Out): Promise<void> {
  const format = outputFormat(output);
  const result = await request<AuditVerification>(client, 'GET', '/v1/audit/verify');
  if (format !== 'table') out(structured(result, format));
  if (!result.ok) {
    if (format === 'table') for (const line of anchorLines(result.anchors ?? [])) out(line);
    throw new CliError(`audit log verification FAILED at seq ${result.seq}: ${result.reason}`);
  }
  if (format !== 'table') return;
  out(
    `audit log ok: ${result.records} records, head ${result.head ? `${result.head.seq} ${result.head.hash}` : '(empty)'}, ${result.checkpoints} signed checkpoints`,
  );
  for (const line of anchorLines(result.anchors ?? [])) out(line);
}

/** What the chain was compared with outside the database, one line per anchor store. */
function anchorLines(anchors: AnchorCheck[]): string[] {
  if (anchors.length === 0) return ['anchors: none configured (checked against the database alone)'];
  return anchors.map(
    (a) => `anchors: ${a.count} in ${a.where}${a.newestSeq === null ? '' : `, newest at seq ${a.newestSeq}`}`,
  );
}
