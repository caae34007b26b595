/**
 * The report commands of the `tenancy` CLI: `report compliance`, a tenant's weekly compliance
 * report.
 */
import { Option, type Command } from 'commander';
import { complianceReport } from './commands/report-commands.js';
import type { CommandContext } from './governance-program.js';

/** Add `report compliance` to `program`. */
export function addReportCommands(program: Command, ctx: CommandContext): void {
  program
    .command('report')
    .description('reports')
    .command('compliance <tenant>')
    .description(
      "a tenant's weekly compliance report: SLOs, denials, sovereignty refusals, audit chain, quarantined documents",
    )
    .option('--week <week>', 'an ISO week such as 2026-W49 (default: the last complete week, UTC)')
    .addOption(new Option('-o, --output <format>', 'table, json, yaml or pdf').default('table'))
    .option(
      '-f, --file <path>',
      'write the report to a file (the PDF goes to compliance-<tenant>-<week>.pdf without it)',
    )
    .action(async (tenant: string, o: { week?: string; output: string; file?: string }) =>
      complianceReport(ctx.client(), tenant, o, ctx.io.out),
    );
}
