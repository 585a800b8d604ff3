/**
 * `ringctl policies [--json]`: the policies in force (GET /v1/policies): where each comes from (a file of --policies,
 * or applied through the API, which wins over a file of the same name), who applied it and when, its zone and its
 * freezes. Role viewer.
 */
import type { Command } from 'commander';
import type { PolicyView } from '../../runtime/policies';
import { Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { renderTable as table } from '../table';

export function renderPolicies(policies: readonly PolicyView[]): string {
  if (policies.length === 0) return 'no policies';
  const rows = [['NAME', 'SOURCE', 'TIMEZONE', 'FREEZES', 'FROM']];
  for (const p of policies) {
    const from = p.source === 'api' ? `applied by ${p.appliedBy ?? '?'} at ${p.appliedAt ?? '?'}${p.file ? `, over ${p.file}` : ''}` : (p.file ?? '-');
    const freezes = p.spec.freezes ?? [];
    rows.push([p.name, p.source, p.spec.timezone, freezes.length === 0 ? '-' : freezes.map((f) => f.reason).join('; '), from]);
  }
  return table(rows);
}

export function registerPolicies(program: Command): void {
  remoteOptions(program.command('policies').description('the policies in force: source (file or api), zone, freezes, who applied them'))
    .option('--json', 'print the API document (GET /v1/policies) as JSON')
    .action((opts: RemoteOptions & { json?: boolean }) =>
      runVerb(async () => {
        const { policies } = await new Client('policies', opts).get<{ policies: PolicyView[] }>('/v1/policies');
        out(opts.json ? JSON.stringify({ policies }) : renderPolicies(policies));
      }),
    );
}
