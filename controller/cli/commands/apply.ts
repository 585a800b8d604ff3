/**
 * `ringctl apply -f FILE|DIR|- [-R] [--dry-run=none|client|server] [--json]`: submits Rollout and Policy documents.
 *
 * Every document of every file is applied in order (a directory: its *.yaml and *.yml files, sorted; -R also its
 * subdirectories), one result line each, and apply goes on after a refusal; the exit code is 1 if any document was
 * refused. A Rollout goes to POST /v1/rollouts (role deployer): the controller validates it exactly like
 * `ringctl validate` and checks its policy, artifact signature and lineage; `rollout/NAME created`, `unchanged` (the
 * same name and spec again), or a 409 for a different spec under an existing name. A Policy goes to POST /v1/policies
 * (role admin): in force at once, stored by the controller (docs/policies.md#reload); `policy/NAME created`,
 * `configured` or `unchanged`.
 *
 * --dry-run=server: the controller makes every check apply makes and stores nothing (`?dryRun=true`); the line says
 * what apply would do. --dry-run=client: the documents are only validated here, like `ringctl validate`.
 */
import type { Command } from 'commander';
import type { PolicyView } from '../../runtime/policies';
import type { RolloutView } from '../../runtime/service';
import { formatSpecError, parseDocuments } from '../../spec/load';
import { CliError, Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';
import { documentLabel, expandPaths, inFileLine, readSourceFile, type SourceDocument } from '../documents';
import { phaseLabel } from '../render';

export interface ApplyResponse {
  status: 'created' | 'unchanged';
  dryRun?: boolean;
  rollout: RolloutView;
  /** apply --supersede: the rollouts it withdrew. */
  superseded?: string[];
}

export interface PolicyApplyResponse {
  status: 'created' | 'configured' | 'unchanged';
  dryRun?: boolean;
  policy: PolicyView;
}

type DryRun = 'none' | 'client' | 'server';

export function renderApplyResult(res: ApplyResponse): string {
  const v = res.rollout;
  if (res.dryRun) {
    const what = res.status === 'created' ? `would be created (channel ${v.channel}, ${v.version}, policy ${v.policy}; every check passed)` : `unchanged (phase ${phaseLabel(v.phase)}, channel ${v.channel}, ${v.version})`;
    return `rollout/${v.name} ${what} (server dry run: nothing stored)`;
  }
  const sup = res.superseded === undefined ? '' : res.superseded.length === 0 ? '; nothing in flight to supersede' : `; supersedes ${res.superseded.join(', ')} (withdrawn: it starts once ${res.superseded.length === 1 ? 'that rollback has' : 'those rollbacks have'} drained)`;
  return `rollout/${v.name} ${res.status} (phase ${phaseLabel(v.phase)}, channel ${v.channel}, ${v.version})${sup}`;
}

export function renderPolicyResult(res: PolicyApplyResponse): string {
  const p = res.policy;
  const over = p.file !== null && p.source === 'api' ? `, over the file ${p.file}` : '';
  if (res.dryRun) return `policy/${p.name} ${res.status === 'unchanged' ? 'unchanged' : `would be ${res.status}`} (server dry run: nothing stored${over})`;
  return `policy/${p.name} ${res.status} (${res.status === 'unchanged' ? 'the same spec is in force' : `in force now, stored by the controller${over}`})`;
}

/**
 * The server names positions in the document it was sent (`request:14:16 spec.rings[1].percent: ...`); the user
 * sent a file, so each problem is shown as `FILE:14:16 ...` (the line in the file, also for the second document of a
 * file), one per line, like `ringctl validate`, and the refusal itself (status, code, request id) comes last.
 */
export function inFile(err: unknown, file: string, doc?: Pick<SourceDocument, 'index' | 'of' | 'lineOffset'>): unknown {
  if (!(err instanceof CliError) || err.details.length === 0) return err;
  const d = { file, lineOffset: doc?.lineOffset ?? 0 };
  const lines = err.details.map((l) => inFileLine(l, d));
  const n = err.details.length;
  const label = doc ? documentLabel({ file, index: doc.index, of: doc.of }) : file;
  const summary = err.message.replace(/(\d{3} [a-z_]+): .*?( \(request [^)]*\))?$/, (_m, head: string, id: string | undefined) => `${head}: ${label} refused (${n} ${n === 1 ? 'problem' : 'problems'})${id ?? ''}`);
  return new CliError([...lines, summary].join('\n'), err.exitCode, err.status, err.details);
}

/** The query of POST /v1/rollouts for these options (`?dryRun=true`). */
export function rolloutQuery(opts: { dryRun: DryRun; supersede?: boolean }): string {
  const q: string[] = [];
  if (opts.dryRun === 'server') q.push('dryRun=true');
  if (opts.supersede === true) q.push('supersede=true');
  return q.length > 0 ? `?${q.join('&')}` : '';
}

function parseDryRun(value: string | boolean | undefined): DryRun {
  if (value === undefined || value === false) return 'none';
  // A bare --dry-run is the server's, the one that checks everything.
  if (value === true) return 'server';
  if (value === 'none' || value === 'client' || value === 'server') return value;
  throw new CliError(`ringctl apply: --dry-run must be none, client or server (got ${JSON.stringify(value)})`, 2);
}

/** Applies one document; a refusal is printed (named after its file and document) and reported as false. */
async function applyDocument(client: Client, d: SourceDocument, opts: { dryRun: DryRun; supersede: boolean; json: boolean; many: boolean }): Promise<boolean> {
  const label = documentLabel(d);
  const fail = (err: unknown): false => {
    if (!(err instanceof CliError)) throw err;
    const placed = inFile(err, d.file, d) as CliError;
    // A refusal without details (409, 403) names the document when there is more than one.
    const text = placed.details.length === 0 && opts.many ? placed.message.replace(/^ringctl apply: /, `ringctl apply: ${label}${d.name ? ` (${d.kind.toLowerCase()}/${d.name})` : ''}: `) : placed.message;
    process.stderr.write(`${text}\n`);
    return false;
  };
  if (d.kind !== 'Rollout' && d.kind !== 'Policy') {
    const got = d.kind === '' ? 'no kind' : `kind ${JSON.stringify(d.kind)}`;
    process.stderr.write(`${d.file}:${d.lineOffset + 1}:1 kind: apply takes Rollout and Policy documents (${label} has ${got})\n`);
    return false;
  }
  if (opts.dryRun === 'client') {
    const local = parseDocuments(d.text, d.file);
    if (local.errors.length > 0) {
      for (const e of local.errors) process.stderr.write(`${inFileLine(formatSpecError({ ...e, file: 'request' }), d)}\n`);
      process.stderr.write(`ringctl apply: ${label} is invalid (${local.errors.length} problem${local.errors.length === 1 ? '' : 's'})\n`);
      return false;
    }
    out(opts.json ? JSON.stringify({ status: 'valid', dryRun: 'client', kind: d.kind, name: d.name }) : `${d.kind.toLowerCase()}/${d.name} valid (client dry run: checked here, nothing sent${d.kind === 'Rollout' ? '; --dry-run=server also checks policy, signature and lineage' : ''})`);
    return true;
  }
  try {
    if (d.kind === 'Rollout') {
      const res = await client.post<ApplyResponse>(`/v1/rollouts${rolloutQuery(opts)}`, d.text, 'application/yaml');
      out(opts.json ? JSON.stringify(res) : renderApplyResult(res));
    } else {
      const res = await client.post<PolicyApplyResponse>(`/v1/policies${opts.dryRun === 'server' ? '?dryRun=true' : ''}`, d.text, 'application/yaml');
      out(opts.json ? JSON.stringify(res) : renderPolicyResult(res));
    }
    return true;
  } catch (err) {
    return fail(err);
  }
}

export function registerApply(program: Command): void {
  remoteOptions(
    program
      .command('apply')
      .description('submit Rollout and Policy documents (a file, a directory or "-"); idempotent for the same name and spec')
      .requiredOption('-f, --file <file>', 'a YAML or JSON file, a directory of *.yaml/*.yml files, or "-" for stdin'),
  )
    .option('-R, --recursive', 'with a directory: also the files of its subdirectories')
    .option('--dry-run [mode]', 'server: the controller checks everything apply would and stores nothing; client: validate here only')
    .option('--supersede', 'replace the version in flight on the channel: it is rolled back, this one starts after the drain')
    .option('--json', 'print each server response as one JSON line')
    .action((opts: RemoteOptions & { file: string; recursive?: boolean; dryRun?: string | boolean; supersede?: boolean; json?: boolean }) =>
      runVerb(async () => {
        const dryRun = parseDryRun(opts.dryRun);
        const files = expandPaths('apply', opts.file, opts.recursive === true);
        const sources = files.map(readSourceFile);
        // One unreadable file given by name is a usage error, as before; inside a directory it is one refusal among others.
        const first = sources[0];
        if (sources.length === 1 && first && !first.ok && first.usage) throw new CliError(`ringctl apply: ${first.lines.join('; ')}`, 2);
        const client = dryRun === 'client' ? undefined : new Client('apply', opts);
        const many = sources.length > 1 || sources.some((s) => s.ok && s.docs.length > 1);
        let failed = 0;
        let total = 0;
        for (const s of sources) {
          if (!s.ok) {
            total++;
            failed++;
            for (const l of s.lines) process.stderr.write(`${l}\n`);
            process.stderr.write(`ringctl apply: ${s.file} refused (${s.lines.length} problem${s.lines.length === 1 ? '' : 's'})\n`);
            continue;
          }
          for (const d of s.docs) {
            total++;
            if (!(await applyDocument(client as Client, d, { dryRun, supersede: opts.supersede === true, json: opts.json === true, many }))) failed++;
          }
        }
        if (failed > 0) {
          if (many) process.stderr.write(`ringctl apply: ${failed} of ${total} documents refused\n`);
          process.exitCode = 1;
        }
      }),
    );
}
