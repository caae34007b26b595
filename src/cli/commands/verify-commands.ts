/**
 * `verify isolation`: run the isolation self-test on the control plane and print every
 * probe (failures first); exits non-zero when any probe failed.
 */
import type { IsolationReport } from '../../verify/index.js';
import { request, CliError, type ClientOptions } from '../client.js';
import { outputFormat, structured, table } from '../output.js';

type Out = (line: string) => void;

const ORDER = { fail: 0, warn: 1, skip: 2, pass: 3 } as const;

/** `verify isolation [-o table|json|yaml]`. */
export async function verifyIsolation(client: ClientOptions, output: string | undefined, out: Out): Promise<void> {
  const format = outputFormat(output);
  if (format === 'table') out('running the isolation self-test (two throw-away tenants; this takes a minute)…');
  const report = await request<IsolationReport>(client, 'POST', '/v1/verify/isolation', {});
  if (format !== 'table') out(structured(report, format));
  else {
    const rows = [...report.probes].sort((a, b) => ORDER[a.outcome] - ORDER[b.outcome]);
    out(
      table(
        ['RESULT', 'AREA', 'PROBE', 'DETAIL'],
        rows.map((p) => [p.outcome.toUpperCase(), p.area, p.title, p.outcome === 'pass' ? '' : (p.detail ?? '')]),
      ),
    );
    const s = report.summary;
    out(
      `${report.ok ? 'ok' : 'FAILED'}: ${s.pass} passed, ${s.fail} failed, ${s.warn} warnings, ${s.skip} skipped (${report.engine} warehouse, ${(report.durationMs / 1000).toFixed(1)} s)`,
    );
  }
  if (!report.ok) throw new CliError(`isolation self-test: ${report.summary.fail} probe(s) failed`);
}
