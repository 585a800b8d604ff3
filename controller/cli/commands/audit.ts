/**
 * `ringctl audit [--limit N] [--json]`: the last N audit entries (default 50), oldest first.
 *
 * `ringctl audit --verify [--audit-key KEY] [--checkpoints FILE] [--expect-head SEQ:HASH] [--json]`: fetches the
 * whole log page by page (GET /v1/audit?after=ID&limit=1000) and the server's signed checkpoints
 * (GET /v1/audit/checkpoints), and verifies here with the store's own code (store/audit-verify.ts): every entry
 * re-hashed, every checkpoint's ed25519 signature checked against the audit key, every anchor compared. The
 * anchors are the server's checkpoints, those of a previous `ringctl audit export` (--checkpoints, its head
 * included) and --expect-head from any external record (a log line, a ticket). Truncation, re-chaining, a
 * deleted entry and an edited entry are each named in one line on stderr, exit 1. Nothing the server computed
 * is trusted, its key included unless nothing else is given: --audit-key, else the export's key, else the
 * server's (then the output says the key is not pinned).
 *
 * `ringctl audit export [--out FILE] [--audit-key KEY]`: the signed checkpoints, the head and the audit key,
 * for storage off the box; refuses to write checkpoints whose signatures do not verify. Role viewer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { AuditEntryView } from '../../runtime/service';
import { checkpointSignatureOk, publicKeyFromInfo, type AuditCheckpoint, type AuditKeyInfo, type AuditPublicKey } from '../../store/audit-key';
import type { AuditExport } from '../../store/audit-source';
import { AuditLogVerifier, describeBreak, parseHead, type AuditAnchor, type AuditVerdict } from '../../store/audit-verify';
import { CliError, Client, out, remoteOptions, runVerb, type RemoteOptions } from '../client';

export const AUDIT_PAGE = 1000;
export const EXPORT_FORMAT = 'ringmaster-audit-checkpoints/v1';

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

/** An export file as written by `ringctl audit export`. */
export interface AuditExportFile extends AuditExport {
  format: typeof EXPORT_FORMAT;
  exportedAt: string;
  server: string;
}

function isCheckpoint(c: unknown): c is AuditCheckpoint {
  const x = c as Partial<AuditCheckpoint> | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    Number.isSafeInteger(x.seq) &&
    typeof x.hash === 'string' &&
    typeof x.at === 'string' &&
    typeof x.reason === 'string' &&
    typeof x.keyId === 'string' &&
    typeof x.signature === 'string'
  );
}

function isKeyInfo(k: unknown): k is AuditKeyInfo {
  const x = k as Partial<AuditKeyInfo> | null;
  return x !== null && typeof x === 'object' && x.algorithm === 'ed25519' && typeof x.keyId === 'string' && typeof x.publicKey === 'string';
}

function isHead(h: unknown): h is { seq: number; hash: string } {
  const x = h as { seq?: unknown; hash?: unknown } | null;
  return x !== null && typeof x === 'object' && Number.isSafeInteger(x.seq) && typeof x.hash === 'string' && /^[0-9a-f]{64}$/.test(x.hash);
}

/** Checks the shape of a checkpoints document (the API's answer or an export file); `where` names it in errors. */
function checkExport(doc: unknown, where: string): AuditExport {
  const d = doc as Partial<AuditExport> | null;
  if (d === null || typeof d !== 'object' || !Array.isArray(d.checkpoints)) throw new CliError(`ringctl audit: ${where}: not an audit checkpoints document (expected {"key", "head", "checkpoints": [...]})`);
  const bad = d.checkpoints.findIndex((c) => !isCheckpoint(c));
  if (bad >= 0) throw new CliError(`ringctl audit: ${where}: checkpoints[${bad}]: expected {seq, hash, at, reason, keyId, signature}`);
  if (d.key !== null && d.key !== undefined && !isKeyInfo(d.key)) throw new CliError(`ringctl audit: ${where}: key: expected {algorithm: "ed25519", keyId, publicKey}`);
  if (d.head !== null && d.head !== undefined && !isHead(d.head)) throw new CliError(`ringctl audit: ${where}: head: expected {seq, hash}`);
  return { key: d.key ?? null, head: (d.head as AuditExport['head']) ?? null, checkpoints: d.checkpoints };
}

/** The server's checkpoints; null when it publishes none (404: an older server, or one without an audit key). */
async function fetchCheckpoints(client: Client): Promise<AuditExport | null> {
  try {
    return checkExport(await client.get<unknown>('/v1/audit/checkpoints'), `${client.base.origin}/v1/audit/checkpoints`);
  } catch (err) {
    if (err instanceof CliError && err.status === 404) return null;
    throw err;
  }
}

/** --audit-key: base64 of the raw 32 bytes, a PEM, or a file holding either (audit.pub, an export's key). */
function readPinnedKey(text: string): AuditPublicKey {
  let value = text;
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(text.trim()) && fs.existsSync(text)) {
    try {
      value = fs.readFileSync(text, 'utf8');
    } catch (err) {
      throw new CliError(`ringctl audit: --audit-key ${text}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
    }
  }
  const key = publicKeyFromInfo({ publicKey: value });
  if (typeof key === 'string') throw new CliError(`ringctl audit: --audit-key: ${key}`, 2);
  return key;
}

function readExportFile(file: string): AuditExportFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`ringctl audit: --checkpoints ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CliError(`ringctl audit: --checkpoints ${file}: not JSON (write it with ringctl audit export --out FILE)`, 2);
  }
  const format = (doc as { format?: unknown } | null)?.format;
  if (format !== EXPORT_FORMAT) throw new CliError(`ringctl audit: --checkpoints ${file}: format: expected "${EXPORT_FORMAT}" (got ${JSON.stringify(format)})`, 2);
  const d = doc as Partial<AuditExportFile>;
  return { ...checkExport(doc, file), format: EXPORT_FORMAT, exportedAt: String(d.exportedAt ?? ''), server: String(d.server ?? '') };
}

interface VerifyOptions {
  auditKey?: string;
  checkpoints?: string;
  expectHead?: string;
}

/** What --verify checks against, and how the key came to be trusted. */
interface Trust {
  key: AuditPublicKey | undefined;
  keySource: string;
  /** The server's checkpoints. */
  checkpoints: AuditCheckpoint[];
  /** The export file's: off-box, never excused by an accepted break. */
  externalCheckpoints: AuditCheckpoint[];
  anchors: AuditAnchor[];
  serverPublishes: boolean;
}

async function gatherTrust(client: Client, opts: VerifyOptions): Promise<Trust> {
  const anchors: AuditAnchor[] = [];
  if (opts.expectHead !== undefined) {
    const h = parseHead(opts.expectHead);
    if (typeof h === 'string') throw new CliError(`ringctl audit: --expect-head: ${h}`, 2);
    anchors.push({ ...h, source: `the expected head ${h.seq}:${h.hash.slice(0, 12)}… (--expect-head)` });
  }
  const file = opts.checkpoints === undefined ? undefined : readExportFile(opts.checkpoints);
  const pinned = opts.auditKey === undefined ? undefined : readPinnedKey(opts.auditKey);
  const server = await fetchCheckpoints(client);
  let key = pinned;
  let keySource = 'pinned by --audit-key';
  const fileName = opts.checkpoints === undefined ? '' : path.basename(opts.checkpoints);
  if (file?.key) {
    const k = publicKeyFromInfo(file.key);
    if (typeof k === 'string') throw new CliError(`ringctl audit: --checkpoints ${opts.checkpoints}: key: ${k}`, 2);
    if (key && key.keyId !== k.keyId) throw new CliError(`ringctl audit: --checkpoints ${opts.checkpoints} was exported with audit key ${k.keyId}, not the pinned key ${key.keyId}`);
    if (!key) {
      key = k;
      keySource = `pinned by the export ${fileName}`;
    }
  }
  if (!key && server?.key) {
    const k = publicKeyFromInfo(server.key);
    if (typeof k === 'string') throw new CliError(`ringctl audit: the server's audit key: ${k}`);
    key = k;
    keySource = "the server's key, NOT pinned: pass --audit-key or --checkpoints";
  }
  if (file?.head) anchors.push({ ...file.head, source: `the head ${file.head.seq} recorded in ${fileName} (exported ${file.exportedAt})` });
  const checkpoints = server?.checkpoints ?? [];
  const externalCheckpoints = file?.checkpoints ?? [];
  if (pinned && checkpoints.length + externalCheckpoints.length === 0) throw new CliError('ringctl audit: --audit-key given, but there is no signed checkpoint to check (the server publishes none, and no --checkpoints file)');
  return { key, keySource, checkpoints, externalCheckpoints, anchors, serverPublishes: server !== null };
}

export async function verifyAudit(client: Client, opts: VerifyOptions): Promise<{ verdict: AuditVerdict; trust: Trust }> {
  const trust = await gatherTrust(client, opts);
  const v = new AuditLogVerifier({ checkpoints: trust.checkpoints, externalCheckpoints: trust.externalCheckpoints, key: trust.key, anchors: trust.anchors });
  await forEachAuditEntry(client, (e) => {
    v.add(e);
    return true;
  });
  return { verdict: v.finish(), trust };
}

/** `audit chain ok: N entries, head H; 12 signed checkpoints verify (audit key id K, pinned by ...), the last at entry 1200`. */
export function renderVerified(v: AuditVerdict, t: Trust): string {
  const parts = [`audit chain ok: ${v.entries} entries, head ${v.head?.hash ?? '(empty log)'}`];
  const c = v.checkpoints;
  if (c.valid > 0 && t.key) {
    parts.push(`${c.valid} signed checkpoint${c.valid === 1 ? ' verifies' : 's verify'} (audit key id ${t.key.keyId}, ${t.keySource})${c.lastMatched === null ? '' : `, the last at entry ${c.lastMatched}`}`);
  } else if (!t.serverPublishes && t.checkpoints.length + t.externalCheckpoints.length === 0) {
    parts.push('no signed checkpoints (the server publishes none): truncation and re-chaining cannot be detected without --expect-head or --checkpoints');
  } else if (c.total === 0) {
    parts.push('no signed checkpoint yet');
  }
  for (const a of t.anchors) if (a.source.includes('--expect-head') || a.source.includes('recorded in')) parts.push(`matches ${a.source}`);
  const signed = v.accepted.filter((a) => a.signed);
  if (signed.length > 0) {
    parts.push(`${signed.length === 1 ? 'a break was accepted' : `${signed.length} breaks were accepted`} earlier (${signed.map((a) => `entry ${a.entry} by ${a.by} at ${a.at}: ${a.reason}`).join('; ')})`);
  }
  return parts.join('; ');
}

function renderBroken(v: AuditVerdict): string {
  const first = v.breaks[0];
  const more = v.breaks.length - 1;
  const accepted = v.accepted.filter((a) => a.signed);
  const note = accepted.length === 0 ? '' : `; the server recorded ${accepted.length === 1 ? 'an accepted break' : `${accepted.length} accepted breaks`} (${accepted.map((a) => `entry ${a.entry} by ${a.by}: ${a.reason}`).join('; ')}), which does not excuse a mismatch with an off-box record`;
  return `ringctl audit: ${first ? describeBreak(first) : 'chain BROKEN'}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : ''}${note}`;
}

function verdictJson(v: AuditVerdict, t: Trust): Record<string, unknown> {
  const first = v.breaks[0];
  const base = { ok: v.ok, entries: v.entries, head: v.head?.hash ?? null, headSeq: v.head?.seq ?? null, checkpoints: v.checkpoints, key: t.key ? { keyId: t.key.keyId, source: t.keySource } : null };
  if (v.ok) return { ...base, accepted: v.accepted };
  return { ...base, brokenAt: first?.at ?? null, kind: first?.kind ?? null, message: first ? describeBreak(first) : null, breaks: v.breaks };
}

async function exportCheckpoints(client: Client, opts: { out?: string; auditKey?: string }): Promise<void> {
  const doc = await fetchCheckpoints(client);
  if (!doc) throw new CliError(`ringctl audit export: ${client.base.origin} publishes no audit checkpoints (404 on /v1/audit/checkpoints)`);
  if (!doc.key) throw new CliError(`ringctl audit export: ${client.base.origin} published checkpoints without a key`);
  const serverKey = publicKeyFromInfo(doc.key);
  if (typeof serverKey === 'string') throw new CliError(`ringctl audit export: the server's audit key: ${serverKey}`);
  const pinned = opts.auditKey === undefined ? undefined : readPinnedKey(opts.auditKey);
  if (pinned && pinned.keyId !== serverKey.keyId) throw new CliError(`ringctl audit export: the server signs with audit key ${serverKey.keyId}, not the pinned key ${pinned.keyId}`);
  const bad = doc.checkpoints.find((c) => c.keyId !== serverKey.keyId || !checkpointSignatureOk(c, serverKey));
  if (bad) throw new CliError(`ringctl audit export: checkpoint ${bad.seq} (signed ${bad.at}) does not verify against audit key ${serverKey.keyId}; nothing written`);
  const file: AuditExportFile = { format: EXPORT_FORMAT, exportedAt: new Date().toISOString(), server: client.base.origin, key: doc.key, head: doc.head, checkpoints: doc.checkpoints };
  const text = `${JSON.stringify(file, null, 2)}\n`;
  if (opts.out === undefined) {
    out(text);
    return;
  }
  const tmp = `${opts.out}.tmp-${process.pid}`;
  try {
    fs.writeFileSync(tmp, text, { mode: 0o644 });
    fs.renameSync(tmp, opts.out);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new CliError(`ringctl audit export: --out ${opts.out}: cannot write (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const last = doc.checkpoints[doc.checkpoints.length - 1];
  const head = doc.head ? `head ${doc.head.seq}:${doc.head.hash}` : 'an empty log';
  out(
    `wrote ${doc.checkpoints.length} signed checkpoint${doc.checkpoints.length === 1 ? '' : 's'}${last ? ` (the last at entry ${last.seq}, signed ${last.at})` : ''} and ${head} to ${opts.out} (audit key id ${serverKey.keyId}${pinned ? ', pinned' : ''})`,
  );
}

export function registerAudit(program: Command): void {
  const audit = remoteOptions(program.command('audit').description('show the audit log, verify it against its signed checkpoints, or export them'))
    .option('--verify', 'fetch the whole log and verify it here (hash chain, checkpoint signatures, anchors); exit 1 if it is broken')
    .option('--audit-key <key>', 'with --verify: the audit public key to trust (base64, PEM, or a file such as DATA_DIR/audit.pub)')
    .option('--checkpoints <file>', 'with --verify: the file of a previous `ringctl audit export` (its checkpoints and head are anchors)')
    .option('--expect-head <seq:hash>', 'with --verify: an entry id and hash recorded elsewhere (a checkpoint log line, a ticket)')
    .option('--limit <n>', 'entries to show (the last N)', '50')
    .option('--json', 'print JSON')
    .action((opts: RemoteOptions & VerifyOptions & { verify?: boolean; limit: string; json?: boolean }) =>
      runVerb(async () => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError(`ringctl audit: --limit must be a positive integer (got ${JSON.stringify(opts.limit)})`, 2);
        if (!opts.verify) {
          for (const [flag, v] of [['--audit-key', opts.auditKey], ['--checkpoints', opts.checkpoints], ['--expect-head', opts.expectHead]] as const) {
            if (v !== undefined) throw new CliError(`ringctl audit: ${flag} needs --verify`, 2);
          }
        }
        const client = new Client('audit', opts);
        if (opts.verify) {
          const { verdict, trust } = await verifyAudit(client, opts);
          if (opts.json) out(JSON.stringify(verdictJson(verdict, trust)));
          if (verdict.ok) {
            if (!opts.json) out(renderVerified(verdict, trust));
            return;
          }
          if (!opts.json) process.stderr.write(`${renderBroken(verdict)}\n`);
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
  remoteOptions(audit.command('export').description('write the signed audit checkpoints, the head and the audit key for off-box storage'))
    .option('--out <file>', 'write to FILE (default: standard output)')
    .option('--audit-key <key>', 'refuse unless the server signs with this audit public key (base64, PEM, or a file)')
    .action((opts: RemoteOptions & { out?: string; auditKey?: string }) => runVerb(() => exportCheckpoints(new Client('audit export', opts), opts)));
}
