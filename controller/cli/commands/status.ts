/**
 * `ringctl status NAME [--json] [--watch] [--interval 2s]`: phase, each ring with its progress marker and
 * bake time elapsed and left, the waiting reason, the last verdict with its numbers per metric, and the last
 * transitions. --watch refreshes until the rollout reaches a terminal phase or Ctrl-C (see ../watch.ts).
 * Role viewer.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { parseDuration } from '../../spec/duration';
import { CliError, Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { renderStatus } from '../render';
import { sleep, watchRollout } from '../watch';

const MIN_INTERVAL_MS = 200;

export function registerStatus(program: Command): void {
  remoteOptions(program.command('status').description('show a rollout: rings, bake time left, waiting reason, verdict, history').argument('<name>', 'rollout name'))
    .option('--json', 'print JSON (with --watch: one line per change)')
    .option('-w, --watch', 'refresh until the rollout succeeds, rolls back or is aborted (Ctrl-C stops)')
    .option('--interval <duration>', 'refresh interval with --watch', '2s')
    .action((name: string, opts: RemoteOptions & { json?: boolean; watch?: boolean; interval: string }) =>
      runVerb(async () => {
        const interval = parseDuration(opts.interval);
        if (!interval.ok || interval.ms < MIN_INTERVAL_MS) {
          throw new CliError(`ringctl status: invalid --interval ${JSON.stringify(opts.interval)} (a duration like 2s, at least ${MIN_INTERVAL_MS}ms)`, 2);
        }
        const client = new Client('status', opts);
        const fetchView = async (signal?: AbortSignal): Promise<RolloutView> => (await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`, signal)).rollout;
        if (!opts.watch) {
          const v = await fetchView();
          out(opts.json ? JSON.stringify({ rollout: v }) : renderStatus(v, new Date()));
          return;
        }
        const stop = new AbortController();
        const onSigint = (): void => stop.abort();
        process.once('SIGINT', onSigint);
        try {
          const tty = process.stdout.isTTY === true;
          const end = await watchRollout({
            fetch: fetchView,
            write: (t) => process.stdout.write(t),
            writeError: (l) => process.stderr.write(`${l}\n`),
            now: () => new Date(),
            sleep,
            tty,
            json: opts.json === true,
            intervalMs: interval.ms,
            signal: stop.signal,
          });
          // Ctrl-C is a normal way to stop watching: leave the prompt on a fresh line, exit 0.
          if (end.end === 'interrupted' && tty) process.stdout.write('\n');
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
}
