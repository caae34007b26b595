/**
 * The `tenancy` command. Every command but `serve` talks to a running control plane over
 * HTTP. Any error prints one line to stderr and exits non-zero.
 */
import { Command, CommanderError, Option } from 'commander';
import { isTenancyError } from '../errors.js';
import { VERSION } from '../version.js';
import { clientOptions, CliError } from './client.js';
import { addGovernanceCommands } from './governance-program.js';
import { addReportCommands } from './report-program.js';
import type { CliIo } from './io.js';
import { createKey, listAudit, listKeys, revokeKey, verifyAudit } from './commands/access-commands.js';
import { getJob, migrate } from './commands/job-commands.js';
import { listEvents } from './commands/event-commands.js';
import { showQuotas, showUsage, usageReport } from './commands/usage-commands.js';
import { signPolicyFile } from './commands/policy-commands.js';
import { serve } from './commands/serve.js';
import { verifyIsolation } from './commands/verify-commands.js';
import { apply, describeTenant, getResources, getTenant, getTenants, lifecycle } from './commands/tenant-commands.js';

export type { CliIo };

const defaultIo: CliIo = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** Run the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(
  argv: string[],
  io: CliIo = defaultIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let exitCode = 0;
  const client = () => clientOptions(env);
  const program = new Command('tenancy')
    .description('Tenancy: the multi-tenant control plane')
    .version(VERSION)
    .exitOverride()
    // A command's own options come before its subcommand's (`usage -o` vs `usage report -o csv`).
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      outputError: () => undefined,
    });

  program
    .command('serve')
    .description('run the control plane (state in --data-dir, or PostgreSQL via TENANCY_DATABASE_URL)')
    .option('--port <port>', 'port (TENANCY_PORT, default 7480)')
    .option('--host <host>', 'address to bind (TENANCY_HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'state directory (TENANCY_DATA_DIR, default .tenancy)')
    .option(
      '--role <role>',
      'what to serve: all, or gateway (only the model router API; stateless, for several replicas)',
      'all',
    )
    .action(async (o: { port?: string; host?: string; dataDir?: string; role: string }) => {
      if (o.role !== 'all' && o.role !== 'gateway') {
        io.err(`tenancy: --role must be all or gateway, not "${o.role.slice(0, 40)}"`);
        exitCode = 2;
        return;
      }
      exitCode = await serve({ port: o.port, host: o.host, dataDir: o.dataDir }, io, o.role);
    });

  program
    .command('apply')
    .description('apply manifests from a file or a GitOps folder (prints the plan, then applies)')
    .requiredOption('-f, --filename <path>', 'a YAML/JSON file or a folder such as examples/tenants')
    .option('--dry-run', 'print the plan only')
    .action(async (o: { filename: string; dryRun?: boolean }) =>
      apply(client(), o.filename, o.dryRun ?? false, io.out),
    );

  const output = () => new Option('-o, --output <format>', 'table, json or yaml').default('table');
  const get = program.command('get').description('show resources');
  get
    .command('tenants')
    .description('list tenants')
    .addOption(output())
    .option('--phase <phase>')
    .option('--plan <plan>')
    .option('--profile <profile>')
    .option('--region <region>')
    .option('-l, --selector <selector>', 'label selector such as tier=gold,env!=dev')
    .option('--include-deleted', 'also list deleted tenants')
    .action(
      async (o: {
        output: string;
        phase?: string;
        plan?: string;
        profile?: string;
        region?: string;
        selector?: string;
        includeDeleted?: boolean;
      }) =>
        getTenants(
          client(),
          {
            phase: o.phase,
            plan: o.plan,
            profile: o.profile,
            region: o.region,
            labelSelector: o.selector,
            includeDeleted: o.includeDeleted ? 'true' : undefined,
          },
          o.output,
          io.out,
        ),
    );
  get
    .command('tenant <id>')
    .description('show one tenant')
    .addOption(output())
    .action(async (id: string, o: { output: string }) => getTenant(client(), id, o.output, io.out));

  get
    .command('resources <id>')
    .description("a tenant's isolated resources; -o yaml prints its Kubernetes isolation objects")
    .addOption(output())
    .action(async (id: string, o: { output: string }) => getResources(client(), id, o.output, io.out));

  get
    .command('job <id>')
    .description('a job (migration run, archive, restore): state, progress, attempts, last error')
    .addOption(output())
    .action(async (id: string, o: { output: string }) => getJob(client(), id, o.output, io.out));

  program
    .command('migrate')
    .description("roll the app's migrations out across tenants, in waves")
    .option('--to <version>', 'target version (default: the newest in the folder)')
    .option('--waves <list>', 'cumulative shares of tenants per wave, e.g. 10%,50%,100%')
    .option('--concurrency <n>', 'tenants migrated at once within a wave')
    .option('--tenant <id...>', 'only these tenants')
    .option('--wait', 'wait for the run, showing progress; non-zero exit if a tenant failed')
    .addOption(output())
    .action(
      async (o: {
        to?: string;
        waves?: string;
        concurrency?: string;
        tenant?: string[];
        wait?: boolean;
        output: string;
      }) => migrate(client(), o, io.out),
    );

  program
    .command('describe')
    .description('describe a resource in detail')
    .argument('<kind>', 'tenant')
    .argument('<id>')
    .action(async (kind: string, id: string) => {
      if (kind !== 'tenant' && kind !== 'tenants')
        throw new CliError(`cannot describe "${kind}" (try: describe tenant <id>)`);
      await describeTenant(client(), id, io.out);
    });

  for (const verb of ['suspend', 'resume', 'archive', 'restore', 'delete'] as const) {
    const cmd = program.command(`${verb} <id>`).description(`${verb} a tenant`);
    if (verb === 'suspend') cmd.requiredOption('--reason <text>', 'why (recorded in status and audit)');
    else cmd.option('--reason <text>', 'why (recorded in audit)');
    cmd.action(async (id: string, o: { reason?: string }) => lifecycle(client(), verb, id, o.reason, io.out));
  }

  const keys = program.command('keys').description('API keys');
  keys
    .command('create')
    .description('create an API key (the token is printed once)')
    .option('--tenant <id>', 'bind the key to a tenant (tenant roles); omit for a platform key')
    .requiredOption(
      '--role <role>',
      'owner|admin|operator|auditor|viewer, or platform-admin|platform-operator|platform-auditor',
    )
    .requiredOption('--name <name>', 'a name to recognise the key by')
    .option('--expires-at <datetime>', 'RFC 3339 expiry')
    .action(async (o: { tenant?: string; role: string; name: string; expiresAt?: string }) =>
      createKey(client(), o, io.out),
    );
  keys
    .command('list')
    .option('--tenant <id>', "a tenant's keys; omit for platform keys")
    .addOption(output())
    .action(async (o: { tenant?: string; output: string }) => listKeys(client(), o.tenant, o.output, io.out));
  keys
    .command('revoke <keyId>')
    .option('--tenant <id>', 'the tenant the key belongs to; omit for platform keys')
    .action(async (keyId: string, o: { tenant?: string }) => revokeKey(client(), keyId, o.tenant, io.out));

  const audit = program.command('audit').description('the audit log');
  audit
    .command('list')
    .option('--tenant <id>')
    .option('--actor <actor>')
    .option('--action <action>')
    .option('--since <datetime>')
    .option('--until <datetime>')
    .option('--limit <n>', 'at most this many records', '100')
    .addOption(output())
    .action(
      async (o: {
        tenant?: string;
        actor?: string;
        action?: string;
        since?: string;
        until?: string;
        limit: string;
        output: string;
      }) =>
        listAudit(
          client(),
          { tenant: o.tenant, actor: o.actor, action: o.action, since: o.since, until: o.until, limit: o.limit },
          o.output,
          io.out,
        ),
    );
  audit
    .command('verify')
    .description('verify the hash chain and signed checkpoints; non-zero exit when broken')
    .addOption(output())
    .action(async (o: { output: string }) => verifyAudit(client(), o.output, io.out));

  const events = program.command('events').description('events (CloudEvents) from the outbox');
  events
    .command('list')
    .description('replay events, oldest first')
    .option('--tenant <id>', "one tenant's events")
    .option('--type <type>', 'a type such as tenancy.tenant.created, or a prefix such as tenancy.tenant.*')
    .option('--after <seq>', 'only events after this sequence number')
    .option('--limit <n>', 'at most this many events', '100')
    .addOption(output())
    .action(async (o: { tenant?: string; type?: string; after?: string; limit: string; output: string }) =>
      listEvents(client(), { tenant: o.tenant, type: o.type, after: o.after, limit: o.limit }, o.output, io.out),
    );

  const usage = program
    .command('usage')
    .description(
      "a tenant's metered usage; `usage report` for the monthly cost allocation, `usage quotas <id>` for its quotas",
    )
    .argument('[id]', 'the tenant')
    .enablePositionalOptions()
    .option('--from <datetime>', 'start (RFC 3339; default: 24 hours, or 30 days per day, before --to)')
    .option('--to <datetime>', 'end, exclusive (RFC 3339; default: now)')
    .option('--granularity <unit>', 'hour or day', 'hour')
    .option('--resource <name>', 'only this resource, such as requests')
    .addOption(output())
    .action(
      async (
        id: string | undefined,
        o: { from?: string; to?: string; granularity?: string; resource?: string; output: string },
      ) => {
        if (id === undefined)
          throw new CliError('name a tenant: tenancy usage <id> (or tenancy usage report --month YYYY-MM)');
        await showUsage(client(), id, o, io.out);
      },
    );
  usage
    .command('report')
    .description('the monthly cost-allocation report per tenant')
    .option('--month <YYYY-MM>', 'the month (default: the current one, UTC)')
    .option('--tenant <id>', 'only this tenant')
    .addOption(new Option('-o, --output <format>', 'table, json, yaml or csv').default('table'))
    .action(async (o: { month?: string; tenant?: string; output: string }) => usageReport(client(), o, io.out));
  usage
    .command('quotas <id>')
    .description("a tenant's quotas: limit, current use, where each is enforced")
    .addOption(output())
    .action(async (id: string, o: { output: string }) => showQuotas(client(), id, o.output, io.out));
  const commands = { client, io, output, setExitCode: (code: number) => (exitCode = code) };
  addGovernanceCommands(program, commands);
  addReportCommands(program, commands);

  const verify = program.command('verify').description('check a running deployment');
  verify
    .command('isolation')
    .description('attack two throw-away tenants from each other over the API and the database; report every probe')
    .addOption(output())
    .action(async (o: { output: string }) => verifyIsolation(client(), o.output, io.out));

  const policy = program.command('policy').description('policies');
  policy
    .command('sign')
    .description(
      'sign a policy file with an Ed25519 private key (locally); prints the signed YAML, or rewrites the file with --write',
    )
    .requiredOption('-f, --filename <file>', 'a TenantPolicy document or a plain policy (YAML or JSON)')
    .requiredOption('--key <file>', 'the Ed25519 private key (PEM)')
    .option('--key-id <id>', 'the id the public key is registered under (default: its RFC 7638 thumbprint)')
    .option('-w, --write', 'rewrite the file in place')
    .action(async (o: { filename: string; key: string; keyId?: string; write?: boolean }) =>
      signPolicyFile(o.filename, o.key, o.keyId, o.write ?? false, io.out),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version')
        return 0;
      io.err(`tenancy: ${error.message.replace(/^error: /, '').split('\n')[0]}`);
      return 2;
    }
    if (error instanceof CliError) {
      io.err(`tenancy: ${error.message}`);
      return error.exitCode;
    }
    if (isTenancyError(error)) {
      io.err(`tenancy: ${error.detail}`);
      return 1;
    }
    io.err(`tenancy: unexpected error: ${(error as Error).message}`);
    return 1;
  }
}
