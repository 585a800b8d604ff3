/**
 * `ringctl status NAME [-o json|yaml|wide] [--watch [--timeout D]] [--interval 2s] [--utc]`: phase, each ring with
 * its progress marker, hosts and bake time elapsed and left, the waiting reason and what to do next, the last
 * verdict (one line per metric), and the last transitions, with times in the policy's time zone (--utc: UTC).
 * --watch refreshes until the rollout's outcome is final or Ctrl-C (see ../watch.ts); --timeout D gives up after D
 * (and implies --watch, like `kubectl argo rollouts status --timeout`). The exit code says how the rollout stands
 * (../exit-codes.ts, docs/cli.md#exit-codes). Role viewer.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { formatDuration, parseDuration } from '../../spec/duration';
import { CliError, Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { EXIT, statusExit } from '../exit-codes';
import { formatDocument, outputFormat, outputOptions, type OutputOptions } from '../output';
import { renderStatus } from '../render';
import { sleep, watchRollout } from '../watch';

const MIN_INTERVAL_MS = 200;

type StatusFlags = RemoteOptions & OutputOptions & { watch?: boolean; interval: string; timeout?: string; utc?: boolean };

export function registerStatus(program: Command): void {
  outputOptions(remoteOptions(program.command('status').description('show a rollout: rings, hosts, bake time left, waiting reason, next step, verdict, history; exit code: how it stands').argument('<name>', 'rollout name')), 'print JSON (same as -o json; with --watch: one line per change)')
    .option('-w, --watch', 'refresh until the rollout succeeds, halts, rolls back or is aborted (Ctrl-C stops)')
    .option('-t, --timeout <duration>', 'with --watch (implied): give up after this long, exit 6 (0: wait forever)')
    .option('--interval <duration>', 'refresh interval with --watch', '2s')
    .option('--utc', "show times in UTC instead of the policy's time zone")
    .addHelpText('after', '\nExit codes: 0 succeeded (without --watch: also still in progress), 1 request failed, 2 bad usage,\n3 rolled-back, 4 aborted, 5 halted, 6 --timeout passed, 7 preflight-failed (docs/cli.md#exit-codes).')
    .action((name: string, opts: StatusFlags) =>
      runVerb(async () => {
        const format = outputFormat('status', opts);
        const interval = parseDuration(opts.interval);
        if (!interval.ok || interval.ms < MIN_INTERVAL_MS) {
          throw new CliError(`ringctl status: invalid --interval ${JSON.stringify(opts.interval)} (a duration like 2s, at least ${MIN_INTERVAL_MS}ms)`, 2);
        }
        let timeoutMs: number | undefined;
        if (opts.timeout !== undefined) {
          const t = opts.timeout === '0' ? ({ ok: true, ms: 0 } as const) : parseDuration(opts.timeout);
          if (!t.ok) throw new CliError(`ringctl status: invalid --timeout ${JSON.stringify(opts.timeout)} (a duration like 30m, or 0 for no limit)`, 2);
          timeoutMs = t.ms;
        }
        const client = new Client('status', opts);
        const fetchView = async (signal?: AbortSignal): Promise<RolloutView> => (await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`, signal)).rollout;
        if (!opts.watch && timeoutMs === undefined) {
          const v = await fetchView();
          out(format === 'json' || format === 'yaml' ? formatDocument(format, { rollout: v }) : renderStatus(v, new Date(), { ...(opts.utc ? { utc: true } : {}), ...(format === 'wide' ? { wide: true } : {}) }));
          process.exitCode = statusExit(v.phase).code;
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
            format,
            intervalMs: interval.ms,
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            size: () => ({ columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 }),
            ...(opts.utc ? { utc: true } : {}),
            signal: stop.signal,
          });
          if (tty && format !== 'json' && format !== 'yaml') process.stdout.write('\n');
          // Ctrl-C is a normal way to stop watching: exit 0.
          if (end.end === 'final') process.exitCode = end.code;
          if (end.end === 'timeout') {
            process.stderr.write(`ringctl status: timed out after ${formatDuration(timeoutMs ?? 0)}: rollout ${name} is ${end.phase}${end.view.ring ? ` (ring ${end.view.ring.index} ${end.view.ring.name})` : ''}\n`);
            process.exitCode = EXIT.timedOut;
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
      }),
    );
}
