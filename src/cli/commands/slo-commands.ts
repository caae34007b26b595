/**
 * `slo status <tenant>`, `slo export <tenant> -o openslo|yaml|json` and `slo rules`: a tenant's
 * SLOs now, its SLO documents written back (as OpenSLO v1 or as Tenancy documents), and the
 * Prometheus alerting rules equivalent to the server's, over the gauges on `/metrics`.
 */
import { stringify } from 'yaml';
import { ALERT_RULES } from '../../slo/slo-status.js';
import { type SloSpec, toOpenSlo } from '../../slo/slo-schema.js';
import { CliError, request, type ClientOptions } from '../client.js';
type Out = (line: string) => void;
import { outputFormat, structured, table } from '../output.js';

const TENANT = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

interface StatusAnswer {
  tenantId: string;
  items: Array<{
    name: string;
    spec: SloSpec;
    sli: number | null;
    window: { events: number };
    errorBudget: { status: string; consumedRatio: number; remaining: number; unit: string };
    alerts: Array<{ rule: string }>;
  }>;
  freeze: { frozen: boolean; since: string | null; slos: string[] };
}

async function statusOf(client: ClientOptions, id: string): Promise<StatusAnswer> {
  if (!TENANT.test(id)) throw new CliError(`"${id}" is not a tenant id`);
  return request<StatusAnswer>(client, 'GET', `/v1/tenants/${id}/slos`);
}

/** `slo status <tenant>`. */
export async function sloStatus(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  const s = await statusOf(client, id);
  if (format !== 'table') return out(structured(s, format));
  if (s.items.length === 0) return out(`tenant ${id} has no SLOs (apply kind: SLO documents, see docs/slo.md)`);
  out(
    table(
      ['NAME', 'OBJECTIVE', 'TARGET', 'WINDOW', 'EVENTS', 'SLI', 'BUDGET USED', 'STATUS', 'ALERTS'],
      s.items.map((i) => [
        i.name,
        i.spec.objective,
        i.spec.target,
        i.spec.window,
        i.window.events,
        i.sli === null ? null : i.sli.toFixed(5),
        `${Math.round(i.errorBudget.consumedRatio * 100)}%`,
        i.errorBudget.status,
        i.alerts.map((a) => a.rule).join(',') || null,
      ]),
    ),
  );
  if (s.freeze.frozen) out(`\nfrozen since ${s.freeze.since}: risky changes are refused (${s.freeze.slos.join(', ')})`);
}

/** `slo export <tenant>`: the tenant's SLOs as documents, OpenSLO v1 or Tenancy's. */
export async function sloExport(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = output ?? 'openslo';
  if (!['openslo', 'yaml', 'json'].includes(format))
    throw new CliError(`unknown output format "${format}" (use openslo, yaml or json)`);
  const s = await statusOf(client, id);
  const docs = s.items.map((i) =>
    format === 'openslo'
      ? toOpenSlo(id, i.name, i.spec)
      : { apiVersion: 'tenancy/v1', kind: 'SLO', metadata: { tenant: id, name: i.name }, spec: i.spec },
  );
  if (format === 'json') return out(JSON.stringify(docs, null, 2));
  out(docs.map((d) => stringify(d).trimEnd()).join('\n---\n'));
}

/** The Prometheus rules equivalent to the server's alerting (over its `/metrics` gauges). */
export function prometheusRules(): Record<string, unknown> {
  const burn = (w: string) => `tenancy_slo_burn_rate{window="${w}"}`;
  return {
    groups: [
      {
        name: 'tenancy-slo',
        rules: ALERT_RULES.map((r) => ({
          alert: `TenancySlo${r.name.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase())}`,
          expr:
            `${burn(r.long)} >= ${r.burn} and on (tenant, slo) ${burn(r.short)} >= ${r.burn}` +
            ` and on (tenant, slo) tenancy_slo_window_events{window="${r.long}"}` +
            ` >= on (tenant, slo) tenancy_slo_min_events`,
          labels: { severity: r.severity },
          annotations: {
            summary: `{{ $labels.tenant }}/{{ $labels.slo }} burns its error budget at ${r.burn}x or more over ${r.long} and ${r.short}`,
          },
        })).concat([
          {
            alert: 'TenancySloBudgetExhausted',
            expr: 'tenancy_slo_error_budget_consumed_ratio >= 1',
            labels: { severity: 'ticket' },
            annotations: {
              summary:
                '{{ $labels.tenant }}/{{ $labels.slo }} has exhausted its error budget: risky changes are frozen',
            },
          },
        ]),
      },
    ],
  };
}

/** `slo rules`. */
export function sloRules(out: Out): void {
  out(stringify(prometheusRules()).trimEnd());
}
