/**
 * The audit log when a controller opens its store: verify it, refuse a broken chain or record that an operator
 * accepted the break, then keep publishing the head where someone who can write the SQLite file cannot
 * rewrite the past (one log line per signed checkpoint, /metrics gauges, GET /v1/audit/checkpoints).
 *
 *   const audit = verifyAuditOnOpen(store, { log, acceptBroken });   // 'ok' | 'accepted' | 'broken'
 *
 * `openServeAudit` is what `ringmaster serve` runs before it opens the controller: DATA_DIR/audit.key (created
 * 0600 on first start), its own store handle, verifyAuditOnOpen, and an AuditPublisher over that handle.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { KeyFileError } from '../crypto/keys';
import type { Logger } from '../telemetry/log';
import { checkpointEveryFromEnv, loadOrCreateAuditSigner, type AuditCheckpoint, type AuditKeyInfo } from './audit-key';
import { describeBreak, describeVerdict, type AuditVerdict } from './audit-verify';
import { auditHash } from './canonical';
import { Store } from './store';

export { attachAuditSource } from './audit-source';

export type AuditOpenResult =
  | { status: 'ok'; verdict: AuditVerdict; ms: number }
  /** Broken, and started anyway: `entry` is the audit.break-accepted entry that records who and why. */
  | { status: 'accepted'; verdict: AuditVerdict; ms: number; line: string; entry: number }
  /** Broken: `line` names the break, for a one-line refusal. */
  | { status: 'broken'; verdict: AuditVerdict; ms: number; line: string };

export interface AuditOpenOptions {
  log: Logger;
  /** Start on a broken chain: the breaks are recorded as accepted by `actor`, with `reason`. */
  acceptBroken?: { actor: string; reason: string } | undefined;
}

/**
 * The full verify of the chain the store holds (every entry re-hashed, every checkpoint signature checked). On
 * success the head is checkpointed when it moved since the last checkpoint (entries written before a crash).
 */
export function verifyAuditOnOpen(store: Store, opts: AuditOpenOptions): AuditOpenResult {
  const t0 = performance.now();
  const verdict = store.verifyAuditLog();
  const ms = Math.round(performance.now() - t0);
  const summary = { entries: verdict.entries, head: verdict.head, checkpoints: verdict.checkpoints.valid, ms };
  if (verdict.ok) {
    if (store.auditKey()) store.checkpointAudit('open');
    for (const a of verdict.accepted) {
      opts.log.warn({ entry: a.entry, by: a.by, at: a.at, reason: a.reason, accepts: a.accepts, signed: a.signed }, a.signed ? 'audit chain: a break accepted earlier' : 'audit chain: an unsigned audit.break-accepted entry (accepts nothing)');
    }
    opts.log.info(summary, 'audit chain verified');
    return { status: 'ok', verdict, ms };
  }
  const line = `audit ${describeVerdict(verdict)}`;
  if (!opts.acceptBroken) return { status: 'broken', verdict, ms, line };
  const entry = store.acceptAuditBreaks({
    actor: opts.acceptBroken.actor,
    reason: opts.acceptBroken.reason,
    breaks: verdict.breaks.flatMap((b) => [b.key, ...(b.covers ?? [])].map((key) => ({ kind: b.kind, at: b.at, key, message: describeBreak(b) }))),
    head: verdict.head,
  });
  opts.log.error(
    { ...summary, breaks: verdict.breaks.map(describeBreak), acceptedBy: opts.acceptBroken.actor, reason: opts.acceptBroken.reason, entry: entry.id },
    `${line}; started anyway (--accept-broken-audit), recorded as audit entry ${entry.id}`,
  );
  return { status: 'accepted', verdict, ms, line, entry: entry.id };
}

/** What the publisher shows as /metrics gauges (telemetry/metrics.ts watchAudit). */
export interface AuditSample {
  headSequence: number;
  lastCheckpointSequence: number;
  chainOk: boolean;
}

/**
 * Publishes the audit head as it moves: each new signed checkpoint as one log line (seq, hash, signature,
 * key id), and the gauges on every scrape. It also re-checks each new entry's link and hash and that the head
 * never moves back, so a break made under a running server turns chain_ok to 0 with an error line.
 */
export class AuditPublisher {
  private timer: NodeJS.Timeout | undefined;
  private lastRow = 0;
  private chainOk: boolean;
  private head: { seq: number; hash: string } | null;

  constructor(
    readonly store: Store,
    private readonly log: Logger,
    opened: AuditOpenResult,
  ) {
    this.chainOk = opened.status === 'ok';
    this.head = store.auditHead();
    // The stream starts with the latest checkpoint, so every run's log states the head it started from.
    this.lastRow = Math.max(0, store.lastAuditCheckpointRow() - 1);
  }

  sample(): AuditSample {
    const head = this.store.auditHead();
    return { headSequence: head?.seq ?? 0, lastCheckpointSequence: this.store.lastAuditCheckpoint()?.seq ?? 0, chainOk: this.chainOk };
  }

  key(): AuditKeyInfo | undefined {
    return this.store.auditKey();
  }

  /** Polls every intervalMs (default 1 s); logs what is new at once. */
  start(intervalMs = 1000): void {
    this.poll();
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Logs what the controller's close wrote (its shutdown checkpoint), then closes this handle. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.poll();
    // The writer (the controller's store) signs the shutdown checkpoint; this handle only reads.
    this.store.close({ checkpoint: false });
  }

  poll(): void {
    this.watchChain();
    for (;;) {
      const batch = this.store.auditCheckpointsAfter(this.lastRow);
      for (const { row, checkpoint } of batch) {
        this.logCheckpoint(checkpoint);
        this.lastRow = row;
      }
      if (batch.length < 1000) return;
    }
  }

  private logCheckpoint(c: AuditCheckpoint): void {
    this.log.info({ seq: c.seq, hash: c.hash, signature: c.signature, keyId: c.keyId, signedAt: c.at, reason: c.reason, head: `${c.seq}:${c.hash}` }, 'audit checkpoint');
  }

  private watchChain(): void {
    if (!this.chainOk) return;
    const now = this.store.auditHead();
    const prev = this.head;
    const broken = (message: string): void => {
      this.chainOk = false;
      this.log.error({ previousHead: prev, head: now }, `audit ${message} (while running)`);
    };
    if (prev && (!now || now.seq < prev.seq)) return broken(`chain TRUNCATED: the log ends at entry ${now?.seq ?? 0} but it had reached entry ${prev.seq}`);
    let last = prev;
    for (;;) {
      const entries = this.store.listAudit({ afterId: last?.seq ?? 0, limit: 10_000 });
      for (const e of entries) {
        const expected = (last?.seq ?? 0) + 1;
        if (e.id !== expected) return broken(`chain ENTRY DELETED: entry ${expected} is missing`);
        if (last && e.prevHash !== last.hash) return broken(`chain ENTRY EDITED: entry ${e.id} does not link to entry ${last.seq}`);
        if (auditHash(e) !== e.hash) return broken(`chain ENTRY EDITED: entry ${e.id} does not match its hash`);
        last = { seq: e.id, hash: e.hash };
      }
      if (entries.length < 10_000) break;
    }
    this.head = last;
  }
}

/** `local:<user>`: who accepted a break from the host (the OS user that ran the server with the flag). */
export function localActor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry: keep 'unknown'
  }
  return `local:${user}`;
}

/** The line `ringmaster serve` prints about the audit key, beside the manifest key's. */
export function auditKeyLine(key: AuditKeyInfo): string {
  return `ringmaster: audit checkpoint key ed25519 ${key.publicKey} (key id ${key.keyId}); pin it: ringctl audit --verify --audit-key ${key.publicKey}`;
}

/**
 * `ringmaster serve`: the audit key (DATA_DIR/audit.key, created on first start), a store handle that signs with
 * it, the verify on open and its publisher. A broken chain without `acceptBroken` closes the handle, signing
 * nothing, and returns the one line to refuse with.
 */
export function openServeAudit(opts: { dataDir: string; acceptBroken?: string | undefined; log: Logger }): { ok: true; publisher: AuditPublisher; opened: AuditOpenResult; created: boolean } | { ok: false; line: string } {
  if (opts.acceptBroken !== undefined) {
    const r = opts.acceptBroken.trim();
    // eslint-disable-next-line no-control-regex
    if (r === '' || [...r].length > 512 || /[\u0000-\u001f\u007f\u2028\u2029]/.test(r)) {
      return { ok: false, line: '--accept-broken-audit: give the reason in one line of 1-512 characters (it goes to the audit log)' };
    }
  }
  let store: Store;
  let created: boolean;
  try {
    const signer = loadOrCreateAuditSigner(opts.dataDir);
    created = signer.created;
    store = Store.open(path.join(opts.dataDir, 'ringmaster.db'), { audit: { signer, every: checkpointEveryFromEnv() }, log: opts.log });
  } catch (err) {
    if (err instanceof KeyFileError) return { ok: false, line: err.message };
    if (err instanceof Error && err.message.startsWith('RINGMASTER_AUDIT_CHECKPOINT_EVERY')) return { ok: false, line: err.message };
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EROFS' || code === 'EPERM') return { ok: false, line: `${opts.dataDir}: cannot use the data directory (${code})` };
    throw err;
  }
  if (created) opts.log.info({ keyId: store.auditKey()?.keyId }, 'audit key created');
  const acceptBroken = opts.acceptBroken === undefined ? undefined : { actor: localActor(), reason: opts.acceptBroken.trim() };
  const opened = verifyAuditOnOpen(store, { log: opts.log, acceptBroken });
  if (opened.status === 'broken') {
    store.close({ checkpoint: false });
    return { ok: false, line: `${opened.line}; refusing to start (ringmaster serve --accept-broken-audit "<reason>" records the break in the audit log and starts)` };
  }
  if (opened.status === 'ok' && opts.acceptBroken !== undefined) opts.log.warn('--accept-broken-audit: the audit chain verifies, nothing to accept');
  return { ok: true, publisher: new AuditPublisher(store, opts.log, opened), opened, created };
}
