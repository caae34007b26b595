/**
 * An approval as a PDF report (pdfkit): what was asked, by whom, what was decided, by whom
 * and when, the change itself, and the audit trail of the approval.
 */
import PDFDocument from 'pdfkit';
import type { Approval } from './approval-model.js';
import type { AuditRecord } from '../../ledger/audit-log.js';

/** Render `approval` and its audit records into a PDF. */
export async function approvalReportPdf(
  approval: Approval,
  trail: readonly AuditRecord[],
  generatedAt = new Date(),
): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: { Title: `Approval ${approval.id}`, Subject: approval.summary.slice(0, 200), Creator: 'Tenancy' },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.fontSize(18).text(`Approval report ${approval.id}`);
  doc.moveDown(0.5).fontSize(9).fillColor('#555').text(`Generated ${generatedAt.toISOString()}`).fillColor('black');
  doc.moveDown();
  const rows: Array<[string, string]> = [
    ['Tenant', approval.tenantId],
    ['Kind', approval.kinds.join(', ')],
    ['Status', approval.status],
    ['Summary', approval.summary],
    ['Requested by', approval.requestedBy],
    ['Requested at', approval.requestedAt],
    ['Decision', approval.status === 'pending' ? 'none yet' : approval.status],
    ['Decided by', approval.decidedBy ?? '-'],
    ['Decided at', approval.decidedAt ?? '-'],
    ['Reason', approval.reason ?? '-'],
    ['Approver roles', approval.approverRoles.join(', ')],
  ];
  doc.fontSize(11);
  for (const [k, v] of rows) doc.font('Helvetica-Bold').text(`${k}: `, { continued: true }).font('Helvetica').text(v);
  doc
    .moveDown()
    .font('Helvetica-Bold')
    .text('Proposed change')
    .font('Courier')
    .fontSize(8)
    .text(JSON.stringify(approval.change, null, 2).slice(0, 20_000));
  if (approval.result)
    doc
      .moveDown()
      .font('Helvetica-Bold')
      .fontSize(11)
      .text('Result')
      .font('Courier')
      .fontSize(8)
      .text(JSON.stringify(approval.result, null, 2).slice(0, 10_000));
  doc.moveDown().font('Helvetica-Bold').fontSize(11).text('Audit trail');
  doc.font('Helvetica').fontSize(9);
  for (const r of trail)
    doc.text(`#${r.seq}  ${r.ts}  ${r.action}  ${r.actor}  ${r.outcome}  hash ${r.hash.slice(0, 16)}…`);
  if (trail.length === 0) doc.text('no records');
  doc.end();
  return done;
}
