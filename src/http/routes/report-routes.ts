/**
 * `GET /v1/tenants/{id}/reports/compliance`: a tenant's weekly compliance report for an ISO
 * week (default: the last complete one), as JSON, or as a PDF with `?format=pdf` or
 * `Accept: application/pdf`. Whoever may read the tenant's audit log may read it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ComplianceReports, complianceReportPdf, lastCompleteWeek, parseIsoWeek } from '../../compliance/index.js';
import { parseOrThrow } from '../../tenants/index.js';
import type { Guard, HttpDeps } from '../context.js';

export const complianceQuerySchema = z.strictObject({
  week: z
    .string()
    .transform((text, ctx) => {
      const week = parseIsoWeek(text);
      if ('error' in week) {
        ctx.addIssue({ code: 'custom', message: week.error });
        return z.NEVER;
      }
      if (week.from.getTime() > Date.now()) {
        ctx.addIssue({ code: 'custom', message: `${week.id} has not begun yet` });
        return z.NEVER;
      }
      return week;
    })
    .optional()
    .describe('ISO week such as 2026-W49 (default: the last complete week, UTC); the current week reports so far'),
  format: z.enum(['json', 'pdf'], { error: 'must be json or pdf' }).optional(),
});

/** Whether the caller asked for the PDF (`?format=pdf`, or `Accept: application/pdf` without a preference for JSON). */
function wantsPdf(request: FastifyRequest, format: 'json' | 'pdf' | undefined): boolean {
  if (format !== undefined) return format === 'pdf';
  const accept = request.headers.accept ?? '';
  return /\bapplication\/pdf\b/.test(accept) && !/\bapplication\/json\b/.test(accept);
}

/** Register the report routes. */
export function reportRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const reports = new ComplianceReports({
    db: deps.store.db,
    registry: deps.tenants.registry,
    audit: deps.ledger.audit,
    retrieval: deps.retrieval.store,
    slo: deps.slo.service,
    version: deps.server.version,
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/reports/compliance', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'audit.read', id);
    const q = parseOrThrow(complianceQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const week = q.week ?? lastCompleteWeek(Date.now());
    const report = await reports.build(id, week);
    if (!wantsPdf(request, q.format)) return report;
    return reply
      .type('application/pdf')
      .header('Content-Disposition', `attachment; filename="compliance-${id}-${week.id}.pdf"`)
      .header('Cache-Control', 'no-store')
      .send(await complianceReportPdf(report));
  });
}
