/**
 * `ringctl diff -f FILE|DIR|- [-R]`: what applying these documents would change, against what the controller has
 * (GET /v1/rollouts/NAME, GET /v1/policies), field by field; "new" for a name it does not have. The documents are
 * validated here first, with the same loader as `ringctl validate`. A rollout is immutable once applied, so any
 * change to a stored rollout means apply would refuse it (409): the line says so. Role viewer.
 *
 * Exit codes, like `kubectl diff`: 0 nothing would change; 1 something would (a change, or a new document); 2 the
 * diff itself failed (a file that cannot be read or is invalid, a controller that refuses or cannot be reached).
 */
import type { Command } from 'commander';
import type { PolicyView } from '../../runtime/policies';
import type { RolloutView } from '../../runtime/service';
import { formatSpecError, parseDocuments } from '../../spec/load';
import { CliError, Client, enc, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { documentLabel, expandPaths, inFileLine, readSourceFile } from '../documents';
import { diffValues, renderChanges } from '../spec-diff';

export function registerDiff(program: Command): void {
  remoteOptions(
    program
      .command('diff')
      .description('show what apply -f would change against the controller (field by field, or "new"); exit 1 when something would')
      .requiredOption('-f, --file <file>', 'a YAML or JSON file, a directory of *.yaml/*.yml files, or "-" for stdin'),
  )
    .option('-R, --recursive', 'with a directory: also the files of its subdirectories')
    .action((opts: RemoteOptions & { file: string; recursive?: boolean }) =>
      runVerb(async () => {
        const files = expandPaths('diff', opts.file, opts.recursive === true);
        const client = new Client('diff', opts);
        let differs = false;
        let policies: PolicyView[] | undefined;
        try {
          for (const f of files) {
            const s = readSourceFile(f);
            if (!s.ok) throw new CliError([...s.lines, `ringctl diff: ${s.file} cannot be read as documents`].join('\n'), 2);
            for (const d of s.docs) {
              const label = documentLabel(d);
              const local = parseDocuments(d.text, d.file);
              const doc = local.docs[0];
              if (local.errors.length > 0 || !doc) {
                const lines = local.errors.map((e) => inFileLine(formatSpecError({ ...e, file: 'request' }), d));
                throw new CliError([...lines, `ringctl diff: ${label} is invalid (ringctl validate shows the same)`].join('\n'), 2);
              }
              const name = doc.doc.metadata.name;
              if (doc.kind === 'Rollout') {
                let stored: RolloutView | undefined;
                try {
                  stored = (await client.get<{ rollout: RolloutView }>(`/v1/rollouts/${enc(name)}`)).rollout;
                } catch (err) {
                  if (!(err instanceof CliError) || err.status !== 404) throw err;
                }
                if (!stored) {
                  differs = true;
                  out(`rollout/${name}: new (apply would create it: channel ${doc.doc.spec.channel}, ${doc.doc.spec.version}, ${doc.doc.spec.rings.length} rings)`);
                  continue;
                }
                const changes = diffValues(stored.spec, doc.doc);
                if (changes.length === 0) {
                  out(`rollout/${name}: unchanged${stored.archivedAt ? ` (deleted: archived at ${stored.archivedAt}; apply refuses the name)` : ''}`);
                  continue;
                }
                differs = true;
                out([`rollout/${name}: ${changes.length === 1 ? '1 field differs' : `${changes.length} fields differ`} from the stored rollout (apply would refuse: a rollout is immutable, apply the change under a new name)`, ...renderChanges(changes)].join('\n'));
              } else {
                policies ??= (await client.get<{ policies: PolicyView[] }>('/v1/policies')).policies;
                const inForce = policies.find((p) => p.name === name);
                if (!inForce) {
                  differs = true;
                  out(`policy/${name}: new (apply would create it, as admin)`);
                  continue;
                }
                const changes = diffValues(inForce.spec, doc.doc.spec, 'spec');
                if (changes.length === 0) {
                  out(`policy/${name}: unchanged`);
                  continue;
                }
                differs = true;
                const from = inForce.source === 'api' ? `applied through the API by ${inForce.appliedBy ?? '?'}` : `from ${inForce.file ?? 'a file'}`;
                out([`policy/${name}: ${changes.length === 1 ? '1 field differs' : `${changes.length} fields differ`} from the policy in force (${from})`, ...renderChanges(changes)].join('\n'));
              }
            }
          }
        } catch (err) {
          // A diff that could not be made is exit 2 (1 means "differs").
          if (err instanceof CliError) throw new CliError(err.message, 2, err.status, err.details);
          throw err;
        }
        if (differs) process.exitCode = 1;
      }),
    );
}
