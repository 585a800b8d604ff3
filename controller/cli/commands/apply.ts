/**
 * `ringctl apply -f FILE [--json]`: submits a Rollout document (YAML or JSON, `-` for stdin) with
 * POST /v1/rollouts. The controller validates it exactly like `ringctl validate` and checks its policy and
 * artifact signature. Prints `rollout/NAME created` or `rollout/NAME unchanged` (the same name and spec again);
 * a different spec under an existing name is a 409. Role deployer.
 */
import { decodeUtf8 } from '../../spec/text';
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { CliError, Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { phaseLabel } from '../render';

export interface ApplyResponse {
  status: 'created' | 'unchanged';
  rollout: RolloutView;
  /** apply --supersede: the rollouts it withdrew. */
  superseded?: string[];
}

export function renderApplyResult(res: ApplyResponse): string {
  const v = res.rollout;
  const sup = res.superseded === undefined ? '' : res.superseded.length === 0 ? '; nothing in flight to supersede' : `; supersedes ${res.superseded.join(', ')} (withdrawn: it starts once ${res.superseded.length === 1 ? 'that rollback has' : 'those rollbacks have'} drained)`;
  return `rollout/${v.name} ${res.status} (phase ${phaseLabel(v.phase)}, channel ${v.channel}, ${v.version})${sup}`;
}

/**
 * The server names positions in the body it was sent (`request:14:16 spec.rings[1].percent: ...`); the user
 * sent a file, so each problem is shown as `FILE:14:16 ...`, one per line, like `ringctl validate`, and the
 * refusal itself (status, code, request id) comes last.
 */
export function inFile(err: unknown, file: string): unknown {
  if (!(err instanceof CliError) || err.details.length === 0) return err;
  const lines = err.details.map((d) => d.replace(/^request(?=:\d+:\d+ |: )/, file));
  const n = err.details.length;
  const summary = err.message.replace(/(\d{3} [a-z_]+): .*?( \(request [^)]*\))?$/, (_m, head: string, id: string | undefined) => `${head}: ${file} refused (${n} ${n === 1 ? 'problem' : 'problems'})${id ?? ''}`);
  return new CliError([...lines, summary].join('\n'), err.exitCode, err.status, err.details);
}

export function registerApply(program: Command): void {
  remoteOptions(
    program
      .command('apply')
      .description('submit a Rollout (YAML or JSON); idempotent for the same name and spec')
      .requiredOption('-f, --file <file>', 'rollout document ("-" reads stdin)'),
  )
    .option('--json', 'print the server response as JSON')
    .option('--supersede', 'replace the version in flight on the channel: it is rolled back, this one starts after the drain')
    .action((opts: RemoteOptions & { file: string; json?: boolean; supersede?: boolean }) =>
      runVerb(async () => {
        let text: string;
        try {
          const decoded = decodeUtf8(fs.readFileSync(opts.file === '-' ? 0 : opts.file));
          if (!decoded.ok) throw new CliError(`ringctl apply: ${opts.file}: ${decoded.message}`, 2);
          text = decoded.text;
        } catch (err) {
          if (err instanceof CliError) throw err;
          throw new CliError(`ringctl apply: ${opts.file}: cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
        }
        const client = new Client('apply', opts);
        let res: ApplyResponse;
        try {
          res = await client.post<ApplyResponse>(opts.supersede === true ? '/v1/rollouts?supersede=true' : '/v1/rollouts', text, 'application/yaml');
        } catch (err) {
          throw inFile(err, opts.file === '-' ? '<stdin>' : opts.file);
        }
        out(opts.json ? JSON.stringify(res) : renderApplyResult(res));
      }),
    );
}
