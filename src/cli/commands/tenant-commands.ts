/**
 * Tenant commands: `apply`, `get`, `describe` and the lifecycle verbs.
 */
import { readManifestPath, type ApplyResult, type Tenant } from '../../tenants/index.js';
import { request, CliError, type ClientOptions } from '../client.js';
import { filterParams, showOne } from '../command-helpers.js';
import { age, outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

function planLines(result: ApplyResult): string[] {
  return result.items.map((i) => {
    const what =
      i.kind === 'Tenant'
        ? `tenant/${i.tenant}`
        : i.tenant === undefined
          ? `${i.kind}/${i.name}`
          : `${i.kind}/${i.tenant}/${i.name}`;
    const changes = i.changes?.length ? ` (${i.changes.map((c) => c.path).join(', ')})` : '';
    const approval = i.approvalRequired?.length ? ` [needs approval: ${i.approvalRequired.join(', ')}]` : '';
    return `  ${i.action.padEnd(9)} ${what}${changes}${approval}`;
  });
}

/** `apply -f`: print the plan (a dry run on the server), then apply it unless `--dry-run`. */
export async function apply(client: ClientOptions, path: string, dryRun: boolean, out: Out): Promise<void> {
  let items;
  try {
    items = await readManifestPath(path);
  } catch (error) {
    const e = error as { detail?: string; errors?: Array<{ message: string }> };
    throw new CliError(
      e.errors?.length ? e.errors.map((x) => x.message).join('; ') : (e.detail ?? (error as Error).message),
    );
  }
  const plan = await request<ApplyResult>(client, 'POST', '/v1/apply', { dryRun: true, items });
  out(`plan (${items.length} document${items.length === 1 ? '' : 's'} from ${path}):`);
  for (const line of planLines(plan)) out(line);
  if (dryRun) {
    out('dry run: nothing applied');
    return;
  }
  if (plan.items.every((i) => i.action === 'unchanged')) {
    out('nothing to change');
    return;
  }
  const result = await request<ApplyResult>(client, 'POST', '/v1/apply', { dryRun: false, items });
  if (result.approval) {
    out(
      `waiting for approval ${result.approval.id} (${result.approval.kinds.join(', ')}: ${result.approval.summary}); nothing applied yet`,
    );
    out(`  tenancy approvals approve ${result.approval.id}`);
    return;
  }
  const counts = { create: 0, update: 0, unchanged: 0 };
  for (const i of result.items) counts[i.action] += 1;
  out(`applied: ${counts.create} created, ${counts.update} updated, ${counts.unchanged} unchanged`);
}

const tenantRow = (t: Tenant) => [
  t.metadata.id,
  t.spec.name,
  t.spec.plan,
  t.spec.profile,
  t.spec.region,
  t.status.phase,
  t.metadata.generation,
  age(t.metadata.createdAt),
];
const TENANT_HEADERS = ['ID', 'NAME', 'PLAN', 'PROFILE', 'REGION', 'PHASE', 'GEN', 'AGE'];

/** `get tenants` with filters; follows cursors to the end. */
export async function getTenants(
  client: ClientOptions,
  filters: Record<string, string | undefined>,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  const items: Tenant[] = [];
  let cursor: string | null = null;
  do {
    const params = filterParams(filters);
    params.set('limit', '500');
    if (cursor) params.set('cursor', cursor);
    const page: { items: Tenant[]; next: string | null } = await request(client, 'GET', `/v1/tenants?${params}`);
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  if (format !== 'table') return out(structured(format === 'json' ? { items } : items, format));
  if (items.length === 0) return out('no tenants');
  out(table(TENANT_HEADERS, items.map(tenantRow)));
}

/** `get tenant <id>`. */
export async function getTenant(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showOne<Tenant>(client, `/v1/tenants/${encodeURIComponent(id)}`, format, out, (tenant) =>
    out(table(TENANT_HEADERS, [tenantRow(tenant)])),
  );
}

/** `describe tenant <id>`: spec, effective context, conditions and documents. */
export async function describeTenant(client: ClientOptions, id: string, out: Out): Promise<void> {
  const path = `/v1/tenants/${encodeURIComponent(id)}`;
  const tenant = await request<Tenant>(client, 'GET', path);
  const context = await request<{ quotas: Record<string, number>; features: Record<string, unknown> }>(
    client,
    'GET',
    `${path}/context`,
  );
  const docs = await request<{ items: Array<{ kind: string; name: string; source?: string }> }>(
    client,
    'GET',
    `${path}/documents`,
  );
  const labels =
    Object.entries(tenant.metadata.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ') || '-';
  out(`Name:          ${tenant.metadata.id} (${tenant.spec.name})`);
  out(`UID:           ${tenant.metadata.uid}`);
  out(`Plan:          ${tenant.spec.plan}`);
  out(`Profile:       ${tenant.spec.profile}`);
  out(`Region:        ${tenant.spec.region}`);
  out(`Environments:  ${tenant.spec.environments.join(', ')}`);
  out(`Labels:        ${labels}`);
  out(`Phase:         ${tenant.status.phase}${tenant.status.reason ? ` (${tenant.status.reason})` : ''}`);
  out(`Generation:    ${tenant.metadata.generation} (observed ${tenant.status.observedGeneration})`);
  out(`Created:       ${tenant.metadata.createdAt}`);
  if (tenant.status.purgeAfter) out(`Purge after:   ${tenant.status.purgeAfter}`);
  out('Quotas (effective):');
  for (const [k, v] of Object.entries(context.quotas)) out(`  ${k.padEnd(24)} ${v}`);
  out('Features (effective):');
  for (const [k, v] of Object.entries(context.features)) out(`  ${k.padEnd(24)} ${String(v)}`);
  out('Conditions:');
  out(
    table(
      ['  TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
      tenant.status.conditions.map((c) => [`  ${c.type}`, c.status, c.reason, age(c.lastTransitionTime), c.message]),
    ),
  );
  out(`Documents:     ${docs.items.length === 0 ? '-' : docs.items.map((d) => `${d.kind}/${d.name}`).join(', ')}`);
}

/** Lifecycle verbs. */
export async function lifecycle(
  client: ClientOptions,
  verb: 'suspend' | 'resume' | 'archive' | 'restore' | 'delete',
  id: string,
  reason: string | undefined,
  out: Out,
): Promise<void> {
  if (verb === 'suspend' && !reason) throw new CliError('suspend needs --reason "<why>"');
  const path = `/v1/tenants/${encodeURIComponent(id)}`;
  const tenant =
    verb === 'delete'
      ? await request<Tenant>(client, 'DELETE', path)
      : await request<Tenant>(client, 'POST', `${path}/${verb}`, reason ? { reason } : {});
  out(
    `tenant/${tenant.metadata.id} ${verb === 'delete' ? 'deleting' : verb === 'restore' ? 'restoring' : tenant.status.phase}`,
  );
}

/** `get resources <id>`: a summary, the whole plan as JSON, or the Kubernetes objects as YAML to apply. */
export async function getResources(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  const plan = await request<{
    strategy: string;
    database: Record<string, string>;
    objects: { bucket: string; prefix: string };
    queue: { stream: string; subject: string };
    compute: { namespace: string };
    kubernetes: unknown[];
  }>(client, 'GET', `/v1/tenants/${encodeURIComponent(id)}/resources`);
  if (format === 'json') return out(structured(plan, 'json'));
  if (format === 'yaml') return out(plan.kubernetes.map((o) => structured(o, 'yaml')).join('\n---\n'));
  out(
    table(
      ['RESOURCE', 'PLACEMENT'],
      [
        ['strategy', plan.strategy],
        [
          'database',
          plan.database.kind === 'schema'
            ? `schema ${plan.database.schema} in ${plan.database.database} (role ${plan.database.role})`
            : `database ${plan.database.database} (role ${plan.database.role})`,
        ],
        ['objects', `bucket ${plan.objects.bucket}${plan.objects.prefix ? `, prefix ${plan.objects.prefix}` : ''}`],
        ['queue', `stream ${plan.queue.stream}, subject ${plan.queue.subject}`],
        ['compute', `namespace ${plan.compute.namespace} (${plan.kubernetes.length} objects; -o yaml to export)`],
      ],
    ),
  );
}
