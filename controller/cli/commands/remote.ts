/**
 * The ringctl verbs that talk to a controller over its HTTP API:
 *
 *   apply -f FILE | get [NAME] | status NAME [--watch] | pause|resume|approve|abort|rollback NAME
 *   kill --reason R [--mode freeze|rollback] | unkill --reason R | audit [--verify] [--limit N]
 *
 * Server and token: --server/--token or RINGMASTER_URL/RINGMASTER_TOKEN. Read verbs take --json.
 * Exit codes: 0 done; 1 the server refused or failed (one line: status, code, message, request id);
 * 2 bad usage. `audit --verify` re-computes the hash chain here, trusting nothing the server computed.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { KillSwitchState } from '../../engine/state';
import type { AuditEntryView, RolloutView } from '../../runtime/service';
import { AuditChainVerifier } from '../../store/canonical';
import { parseDuration } from '../../spec/duration';
import { CliError, Client, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { renderList, renderStatus } from '../render';

type ReadOptions = RemoteOptions & { json?: boolean };

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

const enc = encodeURIComponent;
const TERMINAL = new Set(['succeeded', 'rolled-back', 'aborted']);

export function registerRemote(program: Command): void {
  remoteOptions(
    program
      .command('apply')
      .description('submit a Rollout (YAML or JSON); idempotent for the same name and spec')
      .requiredOption('-f, --file <file>', 'rollout document ("-" reads stdin)'),
  )
    .option('--json', 'print the server response as JSON')
    .action((opts: ReadOptions & { file: string }) =>
      runVerb(async () => {
        let text: string;
        try {
          text = fs.readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
        } catch (err) {
          throw new CliError(`ringctl apply: ${opts.file}: cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
        }
        const client = new Client('apply', opts);
        const res = await client.post<{ status: string; rollout: RolloutView }>('/v1/rollouts', text, 'application/yaml');
        if (opts.json) out(JSON.stringify(res));
        else out(`rollout/${res.rollout.name} ${res.status} (phase ${res.rollout.phase.kind}, channel ${res.rollout.channel}, ${res.rollout.version})`);
      }),
    );

  remoteOptions(program.command('get').description('list rollouts, or show one').argument('[name]', 'rollout name'))
    .option('--json', 'print JSON')
    .action((name: string | undefined, opts: ReadOptions) =>
      runVerb(async () => {
        const client = new Client('get', opts);
        const views = name === undefined ? (await client.get<{ rollouts: RolloutView[] }>('/v1/rollouts')).rollouts : [(await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`)).rollout];
        out(opts.json ? JSON.stringify(name === undefined ? { rollouts: views } : { rollout: views[0] }) : renderList(views));
      }),
    );

  remoteOptions(program.command('status').description('show a rollout: rings, bake time left, waiting reason, verdict, history').argument('<name>', 'rollout name'))
    .option('--json', 'print JSON')
    .option('-w, --watch', 'redraw live until the rollout ends (Ctrl-C stops)')
    .option('--interval <duration>', 'refresh interval with --watch', '2s')
    .action((name: string, opts: ReadOptions & { watch?: boolean; interval: string }) =>
      runVerb(async () => {
        const client = new Client('status', opts);
        const fetchView = async (): Promise<RolloutView> => (await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`)).rollout;
        if (!opts.watch) {
          const v = await fetchView();
          out(opts.json ? JSON.stringify({ rollout: v }) : renderStatus(v, new Date()));
          return;
        }
        const interval = parseDuration(opts.interval);
        if (!interval.ok || interval.ms < 200) throw new CliError(`ringctl status: invalid --interval ${JSON.stringify(opts.interval)} (a duration like 2s, at least 200ms)`, 2);
        await watch(fetchView, interval.ms, opts.json === true);
      }),
    );

  for (const verb of ['pause', 'resume', 'approve', 'abort', 'rollback'] as const) {
    remoteOptions(program.command(verb).description(`${verb} a rollout`).argument('<name>', 'rollout name'))
      .option('--reason <text>', 'why (goes to the audit log)')
      .option('--json', 'print the server response as JSON')
      .action((name: string, opts: ReadOptions & { reason?: string }) =>
        runVerb(async () => {
          const client = new Client(verb, opts);
          const res = await client.post<{ outcome: string; message: string; rollout: RolloutView }>(`/v1/rollouts/${enc(name)}/${verb}`, opts.reason === undefined ? {} : { reason: opts.reason });
          out(opts.json ? JSON.stringify(res) : `rollout/${name} ${verb}: ${res.message} (phase ${res.rollout.phase.kind})`);
        }),
      );
  }

  remoteOptions(program.command('kill').description('engage the global kill switch: no rollout starts or advances'))
    .requiredOption('--reason <text>', 'why (required; goes to the audit log)')
    .option('--mode <mode>', 'freeze (hold everything) or rollback (also roll back every in-flight rollout)', 'freeze')
    .option('--json', 'print JSON')
    .action((opts: ReadOptions & { reason: string; mode: string }) =>
      runVerb(async () => {
        if (opts.mode !== 'freeze' && opts.mode !== 'rollback') throw new CliError(`ringctl kill: --mode must be freeze or rollback (got ${JSON.stringify(opts.mode)})`, 2);
        const ks = await new Client('kill', opts).post<KillSwitchState>('/v1/killswitch', { engaged: true, mode: opts.mode, reason: opts.reason });
        out(opts.json ? JSON.stringify(ks) : `kill switch ENGAGED (mode ${ks.mode}) by ${ks.actor} at ${ks.since ?? '?'}: ${ks.reason}`);
      }),
    );

  remoteOptions(program.command('unkill').description('release the global kill switch'))
    .requiredOption('--reason <text>', 'why (required; goes to the audit log)')
    .option('--json', 'print JSON')
    .action((opts: ReadOptions & { reason: string }) =>
      runVerb(async () => {
        const ks = await new Client('unkill', opts).post<KillSwitchState>('/v1/killswitch', { engaged: false, reason: opts.reason });
        out(opts.json ? JSON.stringify(ks) : `kill switch released by ${ks.actor}: ${ks.reason}`);
      }),
    );

  remoteOptions(program.command('audit').description('show the audit log, or verify its hash chain'))
    .option('--verify', 'fetch the whole log and re-compute its hash chain here')
    .option('--limit <n>', 'entries to show (the last N)', '50')
    .option('--json', 'print JSON')
    .action((opts: ReadOptions & { verify?: boolean; limit: string }) =>
      runVerb(async () => {
        const client = new Client('audit', opts);
        if (opts.verify) {
          const chain = new AuditChainVerifier();
          await forEachAuditEntry(client, (e) => chain.add(e));
          const r = chain.result();
          if (opts.json) out(JSON.stringify(r));
          else if (r.ok) out(`audit chain ok: ${r.entries} entries, head ${r.head}`);
          if (!r.ok) {
            if (!opts.json) process.stderr.write(`ringctl audit: chain BROKEN: ${r.message}\n`);
            process.exitCode = 1;
          }
          return;
        }
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError(`ringctl audit: --limit must be a positive integer (got ${JSON.stringify(opts.limit)})`, 2);
        const last: AuditEntryView[] = [];
        await forEachAuditEntry(client, (e) => {
          last.push(e);
          if (last.length > limit) last.shift();
          return true;
        });
        if (opts.json) out(JSON.stringify({ entries: last }));
        else out(last.map((e) => `#${e.id} ${e.at} ${e.actor} ${e.action} ${e.target}: ${e.reason}`).join('\n') || 'audit log is empty');
      }),
    );
}

/** Pages through GET /v1/audit from the first entry; stops early when fn returns false. */
async function forEachAuditEntry(client: Client, fn: (e: AuditEntryView) => boolean): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await client.get<{ entries: AuditEntryView[]; next: number | null }>(`/v1/audit?after=${after}&limit=1000`);
    for (const e of page.entries) if (!fn(e)) return;
    if (page.next === null || page.entries.length === 0) return;
    if (page.next <= after) throw new CliError('ringctl audit: the server returned a page cursor that does not advance');
    after = page.next;
  }
}

/** Redraws on a TTY; elsewhere prints a block only when something changed. Ends at a terminal phase or Ctrl-C. */
async function watch(fetchView: () => Promise<RolloutView>, intervalMs: number, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true && !json;
  let stopped = false;
  let wake: (() => void) | undefined;
  const onSigint = (): void => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', onSigint);
  let lastKey = '';
  try {
    while (!stopped) {
      const v = await fetchView();
      const key = JSON.stringify([v.revision, v.phase, v.lastVerdict?.at, v.waitingReason]);
      if (tty) out(`\x1b[H\x1b[2J${renderStatus(v, new Date())}\n\n(watching every ${intervalMs / 1000}s; Ctrl-C to stop)`);
      else if (key !== lastKey) out(json ? JSON.stringify({ rollout: v }) : `${renderStatus(v, new Date())}\n`);
      lastKey = key;
      if (TERMINAL.has(v.phase.kind)) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
