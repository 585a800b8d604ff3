/**
 * `ringctl audit [--limit N] [--json]`: the last N audit entries (default 50), oldest first.
 * `ringctl audit --verify [--json]`: fetches the whole log page by page (GET /v1/audit?after=ID&limit=1000)
 * and re-computes the hash chain here with the store's own canonical hashing (../../store/canonical.ts):
 * ids from 1 without gaps, each prevHash the hash of the entry before (the genesis hash first), each hash
 * the sha256 of the entry's canonical JSON. Nothing the server computed is trusted. Prints
 * `audit chain ok: N entries, head <hash>`, or the first broken entry on stderr and exit 1. Role viewer.
 */
import type { Command } from 'commander';
import type { AuditEntryView } from '../../runtime/service';
import { AuditChainVerifier, type AuditChainResult } from '../../store/canonical';
import { CliError, Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';

export const AUDIT_PAGE = 1000;

/** Pages through GET /v1/audit from the first entry; stops early when fn returns false. */
export async function forEachAuditEntry(client: Client, fn: (e: AuditEntryView) => boolean): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await client.get<{ entries?: unknown; next?: unknown }>(`/v1/audit?after=${after}&limit=${AUDIT_PAGE}`);
    if (!Array.isArray(page.entries) || !(page.next === null || typeof page.next === 'number')) {
      throw new CliError(`ringctl audit: ${client.base.origin} did not answer with an audit page ({"entries":[...],"next":...})`);
    }
    for (const e of page.entries as AuditEntryView[]) if (!fn(e)) return;
    if (page.next === null || page.entries.length === 0) return;
    if (page.next <= after) throw new CliError('ringctl audit: the server returned a page cursor that does not advance');
    after = page.next;
  }
}

export function renderAuditEntry(e: AuditEntryView): string {
  return `#${e.id} ${e.at} ${e.actor} ${e.action} ${e.target}: ${e.reason}`;
}

/** Verifies the chain as it streams in; returns the result and the first entry that broke it. */
export async function verifyAuditChain(client: Client): Promise<{ result: AuditChainResult; broken?: AuditEntryView }> {
  const chain = new AuditChainVerifier();
  let broken: AuditEntryView | undefined;
  await forEachAuditEntry(client, (e) => {
    if (chain.add(e)) return true;
    broken = e;
    return false;
  });
  const result = chain.result();
  return broken === undefined ? { result } : { result, broken };
}

export function renderBrokenChain(result: AuditChainResult & { ok: false }, broken: AuditEntryView | undefined): string {
  const what = broken === undefined ? '' : ` [${renderAuditEntry(broken)}]`;
  const before = result.entries - 1;
  return `ringctl audit: chain BROKEN: ${result.message}${what}; ${before === 0 ? 'no entry before it verifies' : `the ${before} entr${before === 1 ? 'y' : 'ies'} before it verify`}`;
}

export function registerAudit(program: Command): void {
  remoteOptions(program.command('audit').description('show the audit log, or verify its hash chain client-side'))
    .option('--verify', 'fetch the whole log and re-compute its hash chain here; exit 1 if it is broken')
    .option('--limit <n>', 'entries to show (the last N)', '50')
    .option('--json', 'print JSON')
    .action((opts: RemoteOptions & { verify?: boolean; limit: string; json?: boolean }) =>
      runVerb(async () => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError(`ringctl audit: --limit must be a positive integer (got ${JSON.stringify(opts.limit)})`, 2);
        const client = new Client('audit', opts);
        if (opts.verify) {
          const { result, broken } = await verifyAuditChain(client);
          if (opts.json) out(JSON.stringify(result));
          if (result.ok) {
            if (!opts.json) out(`audit chain ok: ${result.entries} entries, head ${result.head}`);
            return;
          }
          if (!opts.json) process.stderr.write(`${renderBrokenChain(result, broken)}\n`);
          process.exitCode = 1;
          return;
        }
        const last: AuditEntryView[] = [];
        await forEachAuditEntry(client, (e) => {
          last.push(e);
          if (last.length > limit) last.shift();
          return true;
        });
        if (opts.json) out(JSON.stringify({ entries: last }));
        else out(last.map(renderAuditEntry).join('\n') || 'audit log is empty');
      }),
    );
}
