/**
 * `usage <id>`, `usage report` and `usage quotas <id>`: a tenant's metered usage, the
 * monthly cost-allocation report (table, JSON, YAML or CSV) and a tenant's quotas.
 */
import type { CostReport, QuotaState, UsagePoint } from '../../commercial/index.js';
import { CliError, request, type ClientOptions } from '../client.js';
import { showList } from '../command-helpers.js';
import { outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

const TENANT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function tenantArg(id: string): string {
  if (!TENANT.test(id)) throw new CliError(`"${id}" is not a tenant id`);
  return id;
}

/** `usage <id>`: the series and totals per resource. */
export async function showUsage(
  client: ClientOptions,
  id: string,
  o: {
    from?: string | undefined;
    to?: string | undefined;
    granularity?: string | undefined;
    resource?: string | undefined;
    output?: string | undefined;
  },
  out: Out,
): Promise<void> {
  const format = outputFormat(o.output);
  const params = new URLSearchParams();
  for (const k of ['from', 'to', 'granularity', 'resource'] as const) if (o[k] !== undefined) params.set(k, o[k]!);
  const usage = await request<{
    tenantId: string;
    granularity: string;
    from: string;
    to: string;
    totals: Array<{ resource: string; amount: number; events: number }>;
    items: UsagePoint[];
  }>(client, 'GET', `/v1/tenants/${tenantArg(id)}/usage?${params}`);
  if (format !== 'table') return out(structured(usage, format));
  out(`tenant ${usage.tenantId}, ${usage.from} .. ${usage.to}, per ${usage.granularity}`);
  if (usage.items.length === 0) return out('no usage');
  out(
    table(
      ['START', 'RESOURCE', 'AMOUNT', 'EVENTS', 'MAX'],
      usage.items.map((p) => [p.start, p.resource, p.amount, p.events, p.max]),
    ),
  );
  out('');
  out(
    table(
      ['RESOURCE', 'TOTAL', 'EVENTS'],
      usage.totals.map((t) => [t.resource, t.amount, t.events]),
    ),
  );
}

/** `usage report`: the monthly cost allocation (all tenants, or one). */
export async function usageReport(
  client: ClientOptions,
  o: { month?: string | undefined; tenant?: string | undefined; output?: string | undefined },
  out: Out,
): Promise<void> {
  const params = new URLSearchParams();
  if (o.month !== undefined) params.set('month', o.month);
  if (o.tenant !== undefined) params.set('tenant', tenantArg(o.tenant));
  if (o.output === 'csv') {
    params.set('format', 'csv');
    const csv = await request<string>(client, 'GET', `/v1/usage/report?${params}`, undefined, { accept: 'text/csv' });
    return out(String(csv).trimEnd());
  }
  const format = outputFormat(o.output);
  const report = await request<CostReport>(client, 'GET', `/v1/usage/report?${params}`);
  if (format !== 'table') return out(structured(report, format));
  out(`cost allocation ${report.month}${report.partial ? ' (month in progress)' : ''}, USD`);
  if (report.tenants.length === 0) return out('no usage');
  const rows = report.tenants.flatMap((t) =>
    t.lines.map((l) => [t.tenantId, t.plan, l.resource, l.quantity, l.unit, l.unitPriceUsd, l.costUsd]),
  );
  out(table(['TENANT', 'PLAN', 'RESOURCE', 'QUANTITY', 'UNIT', 'UNIT PRICE', 'COST'], rows));
  out('');
  out(
    table(
      ['TENANT', 'TOTAL USD'],
      [...report.tenants.map((t) => [t.tenantId, t.totalUsd]), ['(all)', report.totalUsd]],
    ),
  );
}

/** `usage quotas <id>`: every quota with its limit and current use. */
export async function showQuotas(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showList<QuotaState>(client, `/v1/tenants/${tenantArg(id)}/quotas`, format, out, {
    headers: ['QUOTA', 'LIMIT', 'CURRENT', 'UNIT', 'EXCEEDED', 'ENFORCED BY', 'RESETS'],
    row: (q) => [q.quota, q.limit, q.current, q.unit, q.exceeded ? 'yes' : 'no', q.enforcedBy, q.resetsAt],
  });
}
