/**
 * `ringctl history CHANNEL [--json]`: the channel's lineage (GET /v1/channels/CHANNEL), oldest first: each version
 * that founded the channel, became stable, or was rolled back or aborted, with its rollout, when and why; `*` marks
 * the stable version the channel runs now. Rollouts that have not finished follow, with their phase. Role viewer.
 */
import type { Command } from 'commander';
import type { ChannelView } from '../../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { renderTable as table } from '../table';

const OUTCOME: Record<ChannelView['history'][number]['event'], string> = {
  initial: 'initial',
  stable: 'succeeded',
  'rolled-back': 'rolled-back',
  aborted: 'aborted',
  retried: 'retried',
};

/** `2026-12-02T17:04:05.123Z` as `2026-12-02 17:04:05Z`. */
function when(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function renderHistory(c: ChannelView): string {
  const rows = [['', 'VERSION', 'ROLLOUT', 'OUTCOME', 'WHEN', 'REASON']];
  // The stable marker goes on the last entry that made the current stable version stable.
  let stableRow = -1;
  c.history.forEach((h, i) => {
    if (c.stable && h.version === c.stable.version && (h.event === 'stable' || h.event === 'initial')) stableRow = i;
  });
  // An initial entry names the rollout whose previousVersion founded the channel; that rollout did not make it.
  c.history.forEach((h, i) => rows.push([i === stableRow ? '*' : '', h.version, h.event === 'initial' ? '-' : (h.rollout ?? '-'), OUTCOME[h.event], when(h.at), h.reason]));
  const inHistory = new Set(c.history.filter((h) => h.event !== 'initial').map((h) => h.rollout).filter((r): r is string => r !== null));
  const open = c.rollouts.filter((r) => !inHistory.has(r.name) && r.phase !== 'succeeded' && r.phase !== 'rolled-back' && r.phase !== 'aborted');
  for (const r of open) rows.push(['', r.version, r.name, r.phase, '-', 'not finished']);
  const head = c.stable ? `channel ${c.channel}: stable ${c.stable.version} (${c.stable.rollout ?? 'founding version'}, since ${when(c.stable.since)})` : `channel ${c.channel}: no stable version yet`;
  if (rows.length === 1) return `${head}\nno history yet`;
  return `${head}\n${table(rows)}\n* = the stable version agents get outside a rollout`;
}

export function registerHistory(program: Command): void {
  remoteOptions(program.command('history').description("a channel's lineage: versions, rollouts, outcomes, when, and the stable one").argument('<channel>', 'channel name'))
    .option('--json', 'print the channel document (GET /v1/channels/CHANNEL) as JSON')
    .action((channel: string, opts: RemoteOptions & { json?: boolean }) =>
      runVerb(async () => {
        const { channel: view } = await new Client('history', opts).get<{ channel: ChannelView }>(`/v1/channels/${enc(channel)}`);
        out(opts.json ? JSON.stringify({ channel: view }) : renderHistory(view));
      }),
    );
}
