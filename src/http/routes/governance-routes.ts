/**
 * Governance routes: approvals (`/v1/approvals`, decisions, the PDF report), the
 * data-sovereignty check, lineage (batch ingest, reads, a streamed JSON Lines export) and
 * the drift map per tenant and across tenants. A tenant caller sees its own tenant only;
 * another tenant's approval answers 404 like one that does not exist.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { checkedId, pageLimit } from '../route-params.js';
import type { Principal } from '../../access/index.js';
import { TenancyError, validationError } from '../../errors.js';
import {
  APPROVAL_ID_PATTERN,
  APPROVAL_STATUSES,
  AT_REST_LEVELS,
  approvalNotFound,
  approvalReportPdf,
  computeDrift,
  evaluateSovereignty,
  lineageBatchSchema,
  type Approval,
  type PolicyConflict,
  type SovereigntyOperation,
  type SovereigntyViolation,
} from '../../governance/index.js';
import { parseOrThrow, sovereigntyFacts, tenantIdSchema, type TenantSpec } from '../../tenants/index.js';
import { actorOf, type Guard, type HttpDeps } from '../context.js';

const regionName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'must be a region name such as eu-west-1');
const datetime = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z' });
const lineageName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'must be a domain or use-case name');

export const approvalListQuerySchema = z.strictObject({
  tenant: tenantIdSchema.optional(),
  status: z.enum(APPROVAL_STATUSES, { error: `must be one of ${APPROVAL_STATUSES.join(', ')}` }).optional(),
  after: z.string().regex(APPROVAL_ID_PATTERN, 'must be an approval id').optional(),
  limit: pageLimit(500, 50),
});

export const decisionSchema = z
  .strictObject({
    reason: z.string().trim().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters').optional(),
  })
  .meta({ id: 'ApprovalDecision' });

export const sovereigntyCheckSchema = z
  .discriminatedUnion(
    'operation',
    [
      z.strictObject({
        operation: z.literal('provision'),
        region: regionName.optional(),
        profile: z.enum(['mt-standard', 'st-dedicated', 'st-byoc']).optional(),
        encryption: z.enum(['standard', 'enhanced']).optional(),
        keyRotationDays: z.number().int().min(1).max(3650).optional(),
      }),
      z.strictObject({
        operation: z.literal('move'),
        region: regionName.optional(),
        profile: z.enum(['mt-standard', 'st-dedicated', 'st-byoc']).optional(),
      }),
      z.strictObject({
        operation: z.literal('delete'),
        dataClass: z.enum(['data', 'logs', 'backups']).default('data'),
        createdAt: datetime.optional(),
      }),
      z.strictObject({
        operation: z.literal('store'),
        region: regionName.optional(),
        atRest: z.enum(AT_REST_LEVELS).optional(),
      }),
      z.strictObject({
        operation: z.literal('transfer'),
        region: regionName,
        url: z.string().max(2048).optional(),
        consent: z.boolean().optional(),
      }),
    ],
    { error: 'operation must be one of provision, move, delete, store, transfer' },
  )
  .meta({
    id: 'SovereigntyCheck',
    description: "A proposed operation; omitted fields take the tenant's current values.",
  });

export const lineageQuerySchema = z.strictObject({
  from: datetime.optional(),
  to: datetime.optional(),
  domain: lineageName.optional(),
  usecase: lineageName.optional(),
  cursor: z.string().min(1).max(200).optional(),
  limit: pageLimit(1000, 100),
});
const exportQuerySchema = lineageQuerySchema.omit({ cursor: true, limit: true });

export const driftListQuerySchema = z.strictObject({
  after: tenantIdSchema.optional(),
  limit: pageLimit(200, 50),
});

function approvalId(raw: string): string {
  return checkedId(raw, APPROVAL_ID_PATTERN, {
    title: 'not an approval id',
    message: 'must be apr_ and 24 hex digits',
    code: 'invalid_approval_id',
  });
}

function encodeCursor(ts: string, id: string): string {
  return Buffer.from(JSON.stringify({ ts, id })).toString('base64url');
}

function decodeCursor(cursor: string): { ts: string; id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { ts?: unknown; id?: unknown };
    if (
      typeof v.ts === 'string' &&
      !Number.isNaN(Date.parse(v.ts)) &&
      typeof v.id === 'string' &&
      /^[0-9a-f-]{36}$/.test(v.id)
    )
      return { ts: v.ts, id: v.id };
  } catch {
    /* reported below */
  }
  throw validationError(
    'the cursor is not valid',
    [{ path: '/query/cursor', message: 'use the "next" value of a previous page' }],
    'invalid_cursor',
  );
}

function timeRange(q: { from?: string | undefined; to?: string | undefined }): { from?: Date; to?: Date } {
  const from = q.from ? new Date(q.from) : undefined;
  const to = q.to ? new Date(q.to) : undefined;
  if (from && to && from > to)
    throw validationError(
      'the time range is empty',
      [{ path: '/query/from', message: 'must not be after "to"' }],
      'invalid_query',
    );
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/** Conflicts as a tenant caller may see them: only those involving it, the other tenant withheld. */
function conflictsFor(
  conflicts: PolicyConflict[],
  tenantId: string,
  principal: Principal,
): Array<PolicyConflict | Omit<PolicyConflict, 'detail'>> {
  const mine = conflicts.filter((c) => c.tenants.includes(tenantId));
  if (principal.tenantId === null) return mine;
  return mine.map((c) => ({
    tenants: [tenantId, '(another tenant)'] as [string, string],
    domainId: c.domainId,
    usecaseId: c.usecaseId,
    rule: c.rule,
  }));
}

/** Register the governance routes. */
export function governanceRoutes(app: FastifyInstance, deps: HttpDeps, guard: Guard): void {
  const { approvals, lineage } = deps.governance;
  const { registry } = deps.tenants;

  /**
   * The approval if the caller may see it. A tenant caller looks only among its tenant's, so
   * another tenant's approval is the same audited 404 as an unknown id.
   */
  const visible = async (
    request: FastifyRequest,
    principal: Principal,
    action: 'approval.read' | 'approval.decide',
    id: string,
  ): Promise<Approval> => {
    const approval = await approvals.find(id, principal.tenantId ?? undefined);
    if (!approval && principal.tenantId === null) throw approvalNotFound(id);
    if (!approval) return guard.hidden(request, action, `approval/${id}`, approvalNotFound(id));
    await guard.authorize(request, action, approval.tenantId);
    return approval;
  };

  app.get('/v1/approvals', async (request) => {
    const principal = await guard.authorize(request, 'approval.read');
    const q = parseOrThrow(approvalListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    if (principal.tenantId !== null && q.tenant !== undefined && q.tenant !== principal.tenantId)
      await guard.authorize(request, 'approval.read', q.tenant);
    const tenantId = principal.tenantId ?? q.tenant ?? guard.scopeOf(request, principal);
    const items = await approvals.list({ tenantId, status: q.status, after: q.after, limit: q.limit });
    const last = items[items.length - 1];
    return { items, next: items.length === q.limit && last ? last.id : null };
  });

  app.get<{ Params: { id: string } }>('/v1/approvals/:id', async (request) => {
    const principal = await guard.authorize(request, 'approval.read');
    return visible(request, principal, 'approval.read', approvalId(request.params.id));
  });

  for (const decision of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: string } }>(`/v1/approvals/:id/${decision}`, async (request) => {
      const principal = await guard.authorize(request, 'approval.decide');
      const id = approvalId(request.params.id);
      const body = parseOrThrow(decisionSchema, request.body ?? {}, 'the decision');
      await visible(request, principal, 'approval.decide', id);
      const decided = await approvals.decide(
        { ...actorOf(request), role: principal.role, tenantId: principal.tenantId },
        id,
        decision,
        body.reason,
      );
      deps.governance.onApprovalChange?.();
      return decided;
    });
  }

  app.get<{ Params: { id: string } }>('/v1/approvals/:id/report.pdf', async (request, reply) => {
    const principal = await guard.authorize(request, 'approval.read');
    const approval = await visible(request, principal, 'approval.read', approvalId(request.params.id));
    const trail = await deps.ledger.audit.list({ target: `approval/${approval.id}`, limit: 1000 });
    const pdf = await approvalReportPdf(approval, trail);
    return reply
      .type('application/pdf')
      .header('Content-Disposition', `attachment; filename="${approval.id}.pdf"`)
      .header('Cache-Control', 'no-store')
      .send(pdf);
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/sovereignty/check', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'sovereignty.check', id);
    const body = parseOrThrow(sovereigntyCheckSchema, request.body, 'the check');
    const tenant = await registry.get(id);
    const spec: TenantSpec = tenant.spec;
    const current = sovereigntyFacts(spec);
    let op: SovereigntyOperation;
    switch (body.operation) {
      case 'provision':
        op = {
          operation: 'provision',
          facts: {
            region: body.region ?? current.region,
            profile: body.profile ?? current.profile,
            encryption: body.encryption ?? current.encryption,
            keyRotationDays: body.keyRotationDays ?? current.keyRotationDays,
          },
        };
        break;
      case 'move':
        op = {
          operation: 'move',
          facts: { ...current, region: body.region ?? current.region, profile: body.profile ?? current.profile },
        };
        break;
      case 'delete':
        op = {
          operation: 'delete',
          dataClass: body.dataClass,
          createdAt: body.createdAt ? new Date(body.createdAt) : new Date(tenant.metadata.createdAt),
        };
        break;
      case 'store':
        op = { operation: 'store', region: body.region ?? current.region, atRest: body.atRest, facts: current };
        break;
      case 'transfer':
        op = { operation: 'transfer', region: body.region, url: body.url, consent: body.consent };
        break;
    }
    const rules = await registry.sovereigntyRules(deps.store.db, id);
    const violations: SovereigntyViolation[] = rules.flatMap((r) => evaluateSovereignty(r, op));
    const pathOf = (v: SovereigntyViolation) =>
      v.field === 'createdAt' && !(body.operation === 'delete' && body.createdAt)
        ? '/metadata/createdAt'
        : `/${v.field}`;
    return {
      tenantId: id,
      operation: body.operation,
      allowed: violations.length === 0,
      rulesFound: rules.length > 0,
      violations: violations.map((v) => ({ code: v.code, path: pathOf(v), rule: v.rule, detail: v.detail })),
    };
  });

  app.post<{ Params: { id: string } }>('/v1/tenants/:id/lineage', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'lineage.write', id);
    const body = parseOrThrow(lineageBatchSchema, request.body, 'the lineage batch');
    const phase = await registry.phaseOf(id);
    if (phase === undefined) throw new TenancyError('tenant_not_found', `tenant ${id} not found`);
    if (phase === 'deleting' || phase === 'deleted')
      throw new TenancyError(`tenant_${phase}`, `tenant ${id} is ${phase}; it takes no new lineage`);
    const stored = await lineage.record(actorOf(request), id, body.records);
    return reply.code(201).send(stored);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/lineage', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'lineage.read', id);
    const q = parseOrThrow(lineageQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await registry.get(id);
    const items = await lineage.list({
      tenantId: id,
      ...timeRange(q),
      domain: q.domain,
      usecase: q.usecase,
      after: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: q.limit,
    });
    const last = items[items.length - 1];
    return { items, next: items.length === q.limit && last ? encodeCursor(last.timestamp, last.id) : null };
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/lineage/export', async (request, reply) => {
    const id = guard.pathTenant(request, request.params.id);
    await guard.authorize(request, 'lineage.read', id);
    const q = parseOrThrow(exportQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    await registry.get(id);
    const records = lineage.all({ tenantId: id, ...timeRange(q), domain: q.domain, usecase: q.usecase });
    const lines = Readable.from(
      (async function* () {
        for await (const r of records) yield `${JSON.stringify(r)}\n`;
      })(),
    );
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="lineage-${id}.jsonl"`)
      .header('Cache-Control', 'no-store')
      .send(lines);
  });

  app.get<{ Params: { id: string } }>('/v1/tenants/:id/governance/drift', async (request) => {
    const id = guard.pathTenant(request, request.params.id);
    const principal = await guard.authorize(request, 'governance.drift.read', id);
    await registry.get(id);
    const [drift] = await computeDrift(deps.store.db, [id]);
    const conflicts = deps.governance.policyConflicts
      ? conflictsFor(await deps.governance.policyConflicts.findPolicyConflicts({ tenantId: id }), id, principal)
      : [];
    return { ...drift!, conflicts, conflictsAvailable: deps.governance.policyConflicts !== undefined };
  });

  app.get('/v1/governance/drift', async (request) => {
    const principal = await guard.authorize(request, 'governance.drift.read');
    const q = parseOrThrow(driftListQuerySchema, request.query, 'the query', ['query'], 'invalid_query');
    const only = guard.scopeOf(request, principal);
    const page = await registry.list({ onlyId: only, after: q.after, limit: q.limit });
    const ids = page.items.map((t) => t.metadata.id);
    const now = new Date();
    const items = await computeDrift(deps.store.db, ids, now);
    let conflicts: Array<PolicyConflict | Omit<PolicyConflict, 'detail'>> = [];
    if (deps.governance.policyConflicts) {
      const all = await deps.governance.policyConflicts.findPolicyConflicts(
        only !== undefined ? { tenantId: only } : {},
      );
      conflicts = only !== undefined ? conflictsFor(all, only, principal) : all;
    }
    return {
      generatedAt: now.toISOString(),
      items,
      conflicts,
      conflictsAvailable: deps.governance.policyConflicts !== undefined,
      next: page.next,
    };
  });
}
