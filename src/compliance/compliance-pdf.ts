/**
 * A compliance report as a PDF (pdfkit): the header, then each section's lines in a fixed-width
 * font so that its columns line up.
 */
import PDFDocument from 'pdfkit';
import { complianceReportBlocks } from './compliance-text.js';
import type { ComplianceReport } from './compliance-types.js';

/** Render `report` into a PDF. */
export async function complianceReportPdf(report: ComplianceReport): Promise<Buffer> {
  const [header, ...sections] = complianceReportBlocks(report);
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: {
      Title: header!.title,
      Subject: `Weekly compliance report of tenant ${report.tenant.id}`,
      Creator: 'Tenancy',
    },
  });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  doc.font('Helvetica-Bold').fontSize(18).text(header!.title);
  doc.moveDown(0.5).font('Courier').fontSize(9);
  for (const line of header!.lines) doc.text(line);
  for (const section of sections) {
    doc.moveDown().font('Helvetica-Bold').fontSize(12).text(section.title);
    doc.moveDown(0.3).font('Courier').fontSize(8);
    for (const line of section.lines) doc.text(line === '' ? ' ' : line);
  }
  doc.end();
  return done;
}
