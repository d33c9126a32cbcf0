import type { Command } from 'commander';
import { verifyAuditChains } from '../../audit/index.ts';
import { CliExit, type RunCommand } from '../runtime.ts';

export function registerAuditCommands(program: Command, run: RunCommand): void {
  const audit = program.command('audit').description('inspect the append-only audit log');
  audit
    .command('verify')
    .description('recompute every audit hash chain (or one tenant’s) and report broken links')
    .option('--tenant <id>', 'verify only this tenant’s chain')
    .action((opts: { tenant?: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const chains = await verifyAuditChains(await rt.db(), opts.tenant);
        const ok = chains.every((c) => c.ok);
        if (!ok) process.exitCode = 1;
        return { ok, chains };
      }),
    );
  audit
    .command('export')
    .description('write audit events as JSON lines (oldest first)')
    .option('--tenant <id>', 'only this tenant’s events')
    .option('--since <iso>', 'only events at or after this time')
    .option('--limit <n>', 'at most this many events', '10000')
    .action((opts: { tenant?: string; since?: string; limit: string }, cmd: Command) =>
      run(cmd, async (rt) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliExit('--limit must be a positive integer', 2);
        if (opts.since && Number.isNaN(Date.parse(opts.since))) throw new CliExit('--since must be an ISO-8601 time', 2);
        const db = await rt.db();
        const q = db('audit_events')
          .select(
            'id',
            'occurred_at',
            'tenant_id',
            'actor_type',
            'actor_id',
            'action',
            'target_type',
            'target_id',
            'outcome',
            'request_id',
            'details',
            'chain_seq',
          )
          .select(db.raw("encode(hash, 'hex') as hash"))
          .orderBy([{ column: 'occurred_at' }, { column: 'chain_seq' }])
          .limit(limit);
        if (opts.tenant) q.where({ tenant_id: opts.tenant });
        if (opts.since) q.where('occurred_at', '>=', opts.since);
        return q;
      }),
    );
}
