/**
 * OpenAPI operations of the reports area.
 */
import { complianceQuerySchema } from '../routes/report-routes.js';
import type { Operations } from './operation.js';

/** A tenant's weekly compliance report. */
export const reportPaths: Operations = {
  '/v1/tenants/{id}/reports/compliance': {
    get: {
      summary:
        "The tenant's weekly compliance report: SLO attainment and error budgets, denials, data-sovereignty refusals, the audit chain's verification, quarantined documents (JSON, or PDF with format=pdf or Accept: application/pdf)",
      tags: ['reports'],
      query: complianceQuerySchema,
      ok: 200,
      pdf: true,
    },
  },
};
