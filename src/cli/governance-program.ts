/**
 * The governance commands of the `tenancy` CLI: approvals (list, get, approve, reject,
 * report), the data-sovereignty check and the lineage export.
 */
import type { Command, Option } from 'commander';
import type { ClientOptions } from './client.js';
import {
  approvalReport,
  decideApproval,
  exportLineage,
  getApproval,
  listApprovals,
  sovereigntyCheck,
} from './commands/governance-commands.js';
import type { CliIo } from './io.js';
import { sloExport, sloRules, sloStatus } from './commands/slo-commands.js';

/** What a group of commands takes from `main`: the client, the output, the `-o` option and the exit code. */
export interface CommandContext {
  client: () => ClientOptions;
  io: CliIo;
  output: () => Option;
  setExitCode: (code: number) => void;
}

/** Add `approvals`, `sovereignty check`, `lineage export` and `slo` to `program`. */
export function addGovernanceCommands(program: Command, ctx: CommandContext): void {
  const slo = program.command('slo').description("a tenant's SLOs, their documents, Prometheus rules");
  slo
    .command('status <tenant>')
    .description("the tenant's SLOs now: SLI, error budget, alerts, and its freeze")
    .addOption(ctx.output())
    .action(async (id: string, o: { output: string }) => sloStatus(ctx.client(), id, o.output, ctx.io.out));
  slo
    .command('export <tenant>')
    .description("the tenant's SLO documents: OpenSLO v1 (default) or Tenancy's")
    .option('-o, --output <format>', 'openslo, yaml or json', 'openslo')
    .action(async (id: string, o: { output: string }) => sloExport(ctx.client(), id, o.output, ctx.io.out));
  slo
    .command('rules')
    .description("Prometheus alerting rules equivalent to the server's, over the tenancy_slo_* gauges on /metrics")
    .action(() => sloRules(ctx.io.out));
  const approvals = program.command('approvals').description('changes waiting for (or decided by) an approver');
  approvals
    .command('list')
    .description('approvals, newest first')
    .option('--tenant <id>', "one tenant's approvals")
    .option('--status <status>', 'pending, approved, rejected or stale')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(ctx.output())
    .action(async (o: { tenant?: string; status?: string; limit: string; output: string }) =>
      listApprovals(ctx.client(), { tenant: o.tenant, status: o.status, limit: o.limit }, o.output, ctx.io.out),
    );
  approvals
    .command('get <id>')
    .description('one approval and the change it holds')
    .addOption(ctx.output())
    .action(async (id: string, o: { output: string }) => getApproval(ctx.client(), id, o.output, ctx.io.out));
  for (const decision of ['approve', 'reject'] as const) {
    approvals
      .command(`${decision} <id>`)
      .description(
        decision === 'approve'
          ? 'approve and apply the change'
          : 'reject the change (the requester may reject to withdraw it)',
      )
      .option('--reason <text>', 'why')
      .action(async (id: string, o: { reason?: string }) =>
        decideApproval(ctx.client(), id, decision, o.reason, ctx.io.out),
      );
  }
  approvals
    .command('report <id>')
    .description('save the approval as a PDF report')
    .requiredOption('-f, --file <path>', 'where to write the PDF')
    .action(async (id: string, o: { file: string }) => approvalReport(ctx.client(), id, o.file, ctx.io.out));

  program
    .command('sovereignty')
    .description('data-sovereignty rules')
    .command('check <tenant>')
    .description("would an operation meet the tenant's data-sovereignty rules? (exit 1 when not)")
    .requiredOption('--operation <op>', 'provision, move, delete, store or transfer')
    .option('--region <region>', 'the region the operation targets')
    .option('--profile <profile>', 'provision/move: the profile')
    .option('--url <url>', 'transfer: where the data goes')
    .option('--data-class <class>', 'delete: data, logs or backups')
    .option('--created-at <time>', 'delete: when the data was created (RFC 3339)')
    .addOption(ctx.output())
    .action(
      async (
        tenant: string,
        o: {
          operation: string;
          region?: string;
          profile?: string;
          url?: string;
          dataClass?: string;
          createdAt?: string;
          output: string;
        },
      ) => {
        const body: Record<string, unknown> = { operation: o.operation };
        for (const [k, v] of Object.entries({
          region: o.region,
          profile: o.profile,
          url: o.url,
          dataClass: o.dataClass,
          createdAt: o.createdAt,
        }))
          if (v !== undefined) body[k] = v;
        ctx.setExitCode(await sovereigntyCheck(ctx.client(), tenant, body, o.output, ctx.io.out));
      },
    );

  program
    .command('lineage')
    .description('lineage records')
    .command('export <tenant>')
    .description("the tenant's lineage records as JSON Lines")
    .option('--from <time>', 'from this time (RFC 3339, inclusive)')
    .option('--to <time>', 'until this time (exclusive)')
    .option('--domain <domain>', 'one domain')
    .option('--usecase <usecase>', 'one use case')
    .option('-f, --file <path>', 'write to a file instead of stdout')
    .action(
      async (tenant: string, o: { from?: string; to?: string; domain?: string; usecase?: string; file?: string }) =>
        exportLineage(
          ctx.client(),
          tenant,
          { from: o.from, to: o.to, domain: o.domain, usecase: o.usecase },
          o.file,
          ctx.io.out,
        ),
    );
}
