/**
 * Governance from the command line: `approvals list|get|approve|reject|report`,
 * `sovereignty check` and `lineage export`.
 */
import { writeFile } from 'node:fs/promises';
import type { Approval } from '../../governance/index.js';
import { CliError, request, type ClientOptions } from '../client.js';
import { filterParams, showList, showOne } from '../command-helpers.js';
import { age, outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

/** `approvals list`. */
export async function listApprovals(
  client: ClientOptions,
  filters: { tenant?: string | undefined; status?: string | undefined; limit?: string | undefined },
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showList<Approval>(client, `/v1/approvals?${filterParams(filters)}`, format, out, {
    empty: 'no approvals',
    headers: ['ID', 'TENANT', 'KIND', 'STATUS', 'REQUESTED BY', 'AGE', 'SUMMARY'],
    row: (a) => [a.id, a.tenantId, a.kinds.join(','), a.status, a.requestedBy, age(a.requestedAt), a.summary],
  });
}

/** `approvals get <id>`. */
export async function getApproval(
  client: ClientOptions,
  id: string,
  output: string | undefined,
  out: Out,
): Promise<void> {
  const format = outputFormat(output);
  await showOne<Approval>(client, `/v1/approvals/${encodeURIComponent(id)}`, format, out, (a) => {
    out(
      table(
        ['ID', 'TENANT', 'KIND', 'STATUS', 'REQUESTED BY', 'DECIDED BY'],
        [[a.id, a.tenantId, a.kinds.join(','), a.status, a.requestedBy, a.decidedBy ?? '-']],
      ),
    );
    out(`summary: ${a.summary}`);
    out(structured({ change: a.change }, 'yaml').trimEnd());
  });
}

/** `approvals approve|reject <id>`. */
export async function decideApproval(
  client: ClientOptions,
  id: string,
  decision: 'approve' | 'reject',
  reason: string | undefined,
  out: Out,
): Promise<void> {
  const a = await request<Approval>(
    client,
    'POST',
    `/v1/approvals/${encodeURIComponent(id)}/${decision}`,
    reason ? { reason } : {},
  );
  out(`approval ${a.id} ${a.status}${a.status === 'approved' ? `: ${a.summary}` : ''}`);
}

async function download(client: ClientOptions, path: string): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(client.url + path, {
      headers: client.token ? { authorization: `Bearer ${client.token}` } : {},
    });
  } catch (error) {
    throw new CliError(`cannot reach the control plane at ${client.url} (${(error as Error).message})`);
  }
  if (!response.ok) {
    const p = (await response.json().catch(() => ({}))) as { detail?: string; code?: string };
    throw new CliError(`${p.detail ?? `HTTP ${response.status}`} [${p.code ?? response.status}]`);
  }
  return response;
}

/** `approvals report <id> -f out.pdf`. */
export async function approvalReport(client: ClientOptions, id: string, file: string, out: Out): Promise<void> {
  const response = await download(client, `/v1/approvals/${encodeURIComponent(id)}/report.pdf`);
  const pdf = Buffer.from(await response.arrayBuffer());
  await writeFile(file, pdf);
  out(`wrote ${file} (${pdf.length} bytes)`);
}

/** `sovereignty check <tenant> --operation …`: prints the verdict; exits 1 when not allowed. */
export async function sovereigntyCheck(
  client: ClientOptions,
  tenant: string,
  body: Record<string, unknown>,
  output: string | undefined,
  out: Out,
): Promise<number> {
  const format = outputFormat(output);
  const res = await request<{
    allowed: boolean;
    violations: Array<{ code: string; path: string; rule: string; detail: string }>;
  }>(client, 'POST', `/v1/tenants/${encodeURIComponent(tenant)}/sovereignty/check`, body);
  if (format !== 'table') out(structured(res, format));
  else if (res.allowed) out('allowed');
  else
    out(
      table(
        ['CODE', 'PATH', 'RULE', 'DETAIL'],
        res.violations.map((v) => [v.code, v.path, v.rule, v.detail]),
      ),
    );
  return res.allowed ? 0 : 1;
}

/** `lineage export <tenant>`: JSON Lines to stdout (or a file). */
export async function exportLineage(
  client: ClientOptions,
  tenant: string,
  filters: Record<string, string | undefined>,
  file: string | undefined,
  out: Out,
): Promise<void> {
  const params = filterParams(filters);
  const response = await download(client, `/v1/tenants/${encodeURIComponent(tenant)}/lineage/export?${params}`);
  const text = await response.text();
  if (file) {
    await writeFile(file, text);
    out(`wrote ${file} (${text === '' ? 0 : text.trimEnd().split('\n').length} records)`);
  } else if (text !== '') out(text.trimEnd());
}
