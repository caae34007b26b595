/**
 * `report compliance <tenant>`: a tenant's weekly compliance report, printed as text, JSON or
 * YAML, or saved as a PDF (or as JSON) with `--file`.
 */
import { writeFile } from 'node:fs/promises';
import { complianceReportBlocks, type ComplianceReport } from '../../compliance/index.js';
import { CliError, request, type ClientOptions } from '../client.js';
import { outputFormat, structured } from '../output.js';

type Out = (line: string) => void;

const TENANT = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Fetch the PDF; a problem becomes a one-line error. */
async function downloadPdf(client: ClientOptions, path: string): Promise<{ pdf: Buffer; filename?: string }> {
  let response: Response;
  try {
    response = await fetch(client.url + path, {
      headers: { accept: 'application/pdf', ...(client.token ? { authorization: `Bearer ${client.token}` } : {}) },
    });
  } catch (error) {
    throw new CliError(`cannot reach the control plane at ${client.url} (${(error as Error).message})`);
  }
  if (!response.ok) {
    const p = (await response.json().catch(() => ({}))) as {
      detail?: string;
      code?: string;
      errors?: Array<{ path: string; message: string }>;
    };
    const fields = p.errors?.length ? `: ${p.errors.map((e) => `${e.path} ${e.message}`).join('; ')}` : '';
    throw new CliError(`${p.detail ?? `HTTP ${response.status}`}${fields} [${p.code ?? response.status}]`);
  }
  const filename = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1];
  return { pdf: Buffer.from(await response.arrayBuffer()), ...(filename ? { filename } : {}) };
}

/** `report compliance <tenant> [--week 2026-W49] [-o table|json|yaml|pdf] [--file path]`. */
export async function complianceReport(
  client: ClientOptions,
  tenant: string,
  o: { week?: string | undefined; output?: string | undefined; file?: string | undefined },
  out: Out,
): Promise<void> {
  if (!TENANT.test(tenant)) throw new CliError(`"${tenant}" is not a tenant id`);
  const params = new URLSearchParams();
  if (o.week !== undefined) params.set('week', o.week);
  const path = `/v1/tenants/${tenant}/reports/compliance`;
  if (o.output === 'pdf') {
    params.set('format', 'pdf');
    const { pdf, filename } = await downloadPdf(client, `${path}?${params}`);
    const file = o.file ?? filename ?? `compliance-${tenant}.pdf`;
    await writeFile(file, pdf);
    return out(`wrote ${file} (${pdf.length} bytes)`);
  }
  const format = outputFormat(o.output);
  const report = await request<ComplianceReport>(client, 'GET', `${path}?${params}`);
  if (o.file !== undefined) {
    await writeFile(o.file, `${structured(report, format === 'yaml' ? 'yaml' : 'json')}\n`);
    return out(`wrote ${o.file}`);
  }
  if (format !== 'table') return out(structured(report, format));
  complianceReportBlocks(report).forEach((block, i) => {
    if (i > 0) out('');
    out(i === 0 ? block.title : `== ${block.title}`);
    for (const line of block.lines) out(line);
  });
}
