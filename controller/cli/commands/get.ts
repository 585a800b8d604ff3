/**
 * `ringctl get [NAME] [-o json|yaml|wide]`: a table of rollouts (name, channel, version, phase, ring, waiting
 * reason; wide adds the previous version, policy, exposed ring, revisions and age), or one rollout. -o json (or
 * --json) prints the API's document: `{"rollouts":[RolloutView...]}` or `{"rollout":RolloutView}`; -o yaml the
 * same as YAML. Role viewer.
 */
import type { Command } from 'commander';
import type { RolloutView } from '../../runtime/service';
import { Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { formatDocument, outputFormat, outputOptions, type OutputOptions } from '../output';
import { renderList } from '../render';

export function registerGet(program: Command): void {
  outputOptions(remoteOptions(program.command('get').description('list rollouts (or one): name, channel, version, phase, ring, waiting reason').argument('[name]', 'rollout name')))
    .option('-A, --archived', 'also list rollouts deleted with ringctl delete (archived)')
    .action((name: string | undefined, opts: RemoteOptions & OutputOptions & { archived?: boolean }) =>
      runVerb(async () => {
        const format = outputFormat('get', opts);
        const client = new Client('get', opts);
        const doc = name === undefined ? await client.get<{ rollouts: RolloutView[] }>(opts.archived ? '/v1/rollouts?archived=true' : '/v1/rollouts') : await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`);
        if (format === 'json' || format === 'yaml') {
          out(formatDocument(format, 'rollouts' in doc ? { rollouts: doc.rollouts } : { rollout: doc.rollout }));
          return;
        }
        out(renderList('rollouts' in doc ? doc.rollouts : [doc.rollout], { wide: format === 'wide' }));
      }),
    );
}
