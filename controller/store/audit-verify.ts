/**
 * Verification of the audit log against its signed checkpoints and external records (pure: no I/O).
 *
 * The hash chain alone proves that no entry was changed *unless every later hash was recomputed*, and says
 * nothing about entries cut off the end. Anchors close both holes: a signed checkpoint (or a head recorded
 * off the box, `--expect-head SEQ:HASH`) fixes the hash of entry SEQ. The verifier walks the whole log once,
 * re-hashing every entry, and names what it finds:
 *
 *   edited       an entry does not match its hash, or was re-hashed and the next entry still links to the old one
 *   deleted      ids jump: entries are missing from the middle
 *   rechained    the chain links, but an anchor's entry has another hash: entries were rewritten and re-hashed
 *   truncated    the log ends before an anchor's entry
 *   bad-signature / wrong-key   a checkpoint that does not verify against the audit key
 *
 * It does not stop at the first problem (up to MAX_BREAKS), so that an accepted break can be recognised on a
 * later start: `ringmaster serve --accept-broken-audit` appends an `audit.break-accepted` entry listing the
 * keys of the breaks it accepts, signed with the audit key (audit-key.ts acceptanceMessage). An entry of that
 * action without a valid signature accepts nothing: someone who can write the file but not read the key
 * cannot accept their own edit.
 */
import { auditHash, GENESIS_HASH, type AuditChainEntry } from './canonical';
import { verify } from '../crypto/keys';
import { acceptanceMessage, checkpointSignatureOk, type AuditCheckpoint, type AuditPublicKey, type BreakAcceptance } from './audit-key';

export const BREAK_ACCEPTED_ACTION = 'audit.break-accepted';
const MAX_BREAKS = 100;

export type AuditBreakKind = 'edited' | 'deleted' | 'rechained' | 'truncated' | 'bad-signature' | 'wrong-key';

/** The upper-case name of a break, as the one-line error shows it. */
export const BREAK_NAMES: Record<AuditBreakKind, string> = {
  edited: 'chain ENTRY EDITED',
  deleted: 'chain ENTRY DELETED',
  rechained: 'chain RE-CHAINED',
  truncated: 'chain TRUNCATED',
  'bad-signature': 'checkpoint BAD SIGNATURE',
  'wrong-key': 'checkpoint WRONG KEY',
};

export interface AuditBreak {
  kind: AuditBreakKind;
  /** The entry id the break is about (for anchor breaks, the anchor's seq). */
  at: number;
  /** One line, without the kind's name. */
  detail: string;
  /**
   * Stable identity, recorded by an accepted break: `edited@57`, `anchor 100:<hash>`. Breaks against external
   * records are keyed `external 100:<hash>`, which no accepted break ever lists (see Options.external).
   */
  key: string;
  /** Further keys the same break stands for (a truncation past several checkpoints). */
  covers?: string[];
  /** Entries before the break that verify (chain breaks only). */
  verifiedBefore?: number;
}

/** A fixed point: entry seq has this hash. `source` says where it came from, for the message. */
export interface AuditAnchor {
  seq: number;
  hash: string;
  source: string;
}

export interface AcceptedBreak {
  entry: number;
  /** False when the entry's signature does not verify: it then accepts nothing. */
  signed: boolean;
  by: string;
  at: string;
  reason: string;
  accepts: string[];
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  checkpoints: { total: number; valid: number; matched: number; lastMatched: number | null };
  /** Breaks not covered by an accepted break, in log order. */
  breaks: AuditBreak[];
  /** Breaks that an authentic `audit.break-accepted` entry covers. */
  tolerated: AuditBreak[];
  accepted: AcceptedBreak[];
}

interface Options {
  /** The store's own checkpoints. */
  checkpoints?: readonly AuditCheckpoint[];
  /**
   * Signed checkpoints kept off the box (a previous export). Checked like the store's, but a mismatch with them
   * is never excused by an accepted break: whoever holds the box's key could sign an acceptance, and an
   * off-box record exists to catch exactly that.
   */
  externalCheckpoints?: readonly AuditCheckpoint[];
  /** Needed to use checkpoints; without it every checkpoint is a wrong-key break. */
  key?: AuditPublicKey | undefined;
  /** External records trusted as given (`--expect-head`, an export's head); never excused either. */
  anchors?: readonly AuditAnchor[];
}

const anchorKey = (seq: number, hash: string, external = false): string => `${external ? 'external' : 'anchor'} ${seq}:${hash}`;
const short = (hash: string): string => `${hash.slice(0, 12)}…`;

/** Feed every entry in id order with add(), then call finish(). Memory: the anchors and accepted breaks only. */
export class AuditLogVerifier {
  private readonly anchors = new Map<number, Array<AuditAnchor & { checkpoint: boolean; external: boolean }>>();
  private readonly breaks: AuditBreak[] = [];
  private readonly acceptances: Array<AcceptedBreak> = [];
  private readonly matchedCheckpoints: number[] = [];
  private readonly checkpointStats = { total: 0, valid: 0 };
  private readonly key: AuditPublicKey | undefined;
  private prev = GENESIS_HASH;
  private prevEntry: AuditChainEntry | undefined;
  private expectedId = 1;
  private count = 0;
  /** The last entry whose hash an anchor confirmed, per kind of record (the box's, off the box). */
  private readonly lastMatched = { internal: null as number | null, external: null as number | null };
  private walkBroken = false;

  constructor(opts: Options) {
    this.key = opts.key;
    const all = [...(opts.checkpoints ?? []).map((cp) => ({ cp, external: false })), ...(opts.externalCheckpoints ?? []).map((cp) => ({ cp, external: true }))];
    // The same checkpoint from the server and from an export is counted once.
    const seen = new Set<string>();
    for (const { cp, external } of all) {
      const fresh = !seen.has(cp.signature);
      seen.add(cp.signature);
      if (fresh) this.checkpointStats.total++;
      const signed = `${external ? 'exported ' : ''}checkpoint ${cp.seq} (signed ${cp.at})`;
      const key = anchorKey(cp.seq, cp.hash, external);
      if (!opts.key || cp.keyId !== opts.key.keyId) {
        this.push({ kind: 'wrong-key', at: cp.seq, key, detail: `${signed} is signed by key id ${cp.keyId}, not by the audit key${opts.key ? ` ${opts.key.keyId}` : ' (none available)'}` });
      } else if (!checkpointSignatureOk(cp, opts.key)) {
        this.push({ kind: 'bad-signature', at: cp.seq, key, detail: `${signed} does not verify against audit key ${opts.key.keyId}` });
      } else {
        if (fresh) this.checkpointStats.valid++;
        this.addAnchor({ seq: cp.seq, hash: cp.hash, source: signed }, true, external);
      }
    }
    for (const a of opts.anchors ?? []) this.addAnchor(a, false, true);
  }

  private addAnchor(a: AuditAnchor, checkpoint: boolean, external: boolean): void {
    const list = this.anchors.get(a.seq) ?? [];
    if (!list.some((x) => x.hash === a.hash && x.external === external)) list.push({ ...a, checkpoint, external });
    this.anchors.set(a.seq, list);
  }

  private push(b: AuditBreak): void {
    if (this.breaks.length >= MAX_BREAKS || this.breaks.some((x) => x.kind === b.kind && x.key === b.key)) return;
    this.breaks.push(b);
  }

  /** A chain break found while walking; only the first one says how many entries before it verify. */
  private pushWalk(b: AuditBreak, before: number): void {
    this.push(this.walkBroken ? b : { ...b, verifiedBefore: before });
    this.walkBroken = true;
  }

  add(e: AuditChainEntry): void {
    this.count++;
    const before = this.count - 1;
    const rehashOk = auditHash(e) === e.hash;
    if (e.id < this.expectedId) {
      this.pushWalk({ kind: 'edited', at: e.id, key: `edited@${e.id}`, detail: `entry ${e.id} comes after entry ${this.expectedId - 1} (ids out of order) [${render(e)}]` }, before);
    } else if (e.id > this.expectedId) {
      const missing = e.id - this.expectedId === 1 ? `entry ${this.expectedId} is missing` : `entries ${this.expectedId}..${e.id - 1} are missing`;
      const follows = this.expectedId === 1 ? 'the log starts at' : `entry ${this.expectedId - 1} is followed by`;
      this.pushWalk({ kind: 'deleted', at: this.expectedId, key: `deleted@${this.expectedId}`, detail: `${missing} (${follows} entry ${e.id}) [${render(e)}]` }, before);
      if (!rehashOk) this.pushWalk({ kind: 'edited', at: e.id, key: `edited@${e.id}`, detail: `entry ${e.id} does not match its hash [${render(e)}]` }, before);
    } else if (e.prevHash !== this.prev) {
      const p = this.prevEntry;
      if (!rehashOk || !p) {
        this.pushWalk({ kind: 'edited', at: e.id, key: `edited@${e.id}`, detail: `entry ${e.id} does not link to entry ${e.id - 1} and does not match its hash [${render(e)}]` }, before);
      } else {
        this.pushWalk({ kind: 'edited', at: p.id, key: `edited@${p.id}`, detail: `entry ${p.id} was changed and re-hashed: entry ${e.id} still links to its old hash [${render(p)}]` }, before - 1);
      }
    } else if (!rehashOk) {
      this.pushWalk({ kind: 'edited', at: e.id, key: `edited@${e.id}`, detail: `entry ${e.id} does not match its hash [${render(e)}]` }, before);
    }
    for (const a of this.anchors.get(e.id) ?? []) {
      const cls = a.external ? 'external' : 'internal';
      if (a.hash === e.hash) {
        if (a.checkpoint) this.matchedCheckpoints.push(e.id);
        this.lastMatched[cls] = e.id;
        continue;
      }
      const matched = this.lastMatched[cls];
      const from = matched === null ? 1 : matched + 1;
      const since = matched === null ? `no earlier ${a.external ? 'off-box record' : 'checkpoint'} matches` : `entry ${matched} still matches its ${a.external ? 'off-box record' : 'checkpoint'}`;
      this.pushWalk(
        {
          kind: 'rechained',
          at: e.id,
          key: anchorKey(a.seq, a.hash, a.external),
          detail: `entry ${e.id} has hash ${short(e.hash)}, but ${a.source} says ${short(a.hash)}: entries ${from}..${e.id} were rewritten and re-hashed (${since})`,
        },
        -1,
      );
    }
    if (e.action === BREAK_ACCEPTED_ACTION) this.acceptances.push(this.acceptance(e));
    this.prev = e.hash;
    this.prevEntry = e;
    this.expectedId = e.id + 1;
  }

  private acceptance(e: AuditChainEntry): AcceptedBreak {
    const p = (e.payload ?? {}) as { accepts?: unknown; head?: unknown; keyId?: unknown; signature?: unknown };
    const accepts = Array.isArray(p.accepts) ? p.accepts.filter((k): k is string => typeof k === 'string') : [];
    const head = (p.head ?? null) as BreakAcceptance['head'];
    const signed =
      this.key !== undefined &&
      p.keyId === this.key.keyId &&
      typeof p.signature === 'string' &&
      verify(this.key.key, acceptanceMessage({ actor: e.actor, reason: e.reason, accepts, head }), p.signature);
    return { entry: e.id, signed, by: e.actor, at: e.at, reason: e.reason, accepts };
  }

  finish(): AuditVerdict {
    const last = this.prevEntry;
    const end = last?.id ?? 0;
    // One truncation per kind of record, named by the furthest anchor past the end (external first: it cannot be excused).
    for (const external of [true, false]) {
      const beyond = [...this.anchors.values()].flat().filter((a) => a.seq > end && a.external === external).sort((a, b) => b.seq - a.seq);
      const top = beyond[0];
      if (!top) continue;
      const ends = end === 0 ? 'the log is empty' : `the log ends at entry ${end}`;
      const gone = top.seq - end;
      this.push({
        kind: 'truncated',
        at: end + 1,
        key: anchorKey(top.seq, top.hash, external),
        covers: beyond.slice(1).map((a) => anchorKey(a.seq, a.hash, external)),
        detail: `${ends} but ${top.source} exists: at least ${gone} entr${gone === 1 ? 'y is' : 'ies are'} gone`,
      });
    }
    const accepted = this.acceptances;
    const tolerated = new Set(accepted.filter((a) => a.signed).flatMap((a) => a.accepts.filter((k) => !k.startsWith('external '))));
    const excused = (b: AuditBreak): boolean => tolerated.has(b.key);
    const sorted = [...this.breaks].sort((x, y) => x.at - y.at);
    return {
      ok: sorted.every(excused),
      entries: this.count,
      head: last ? { seq: last.id, hash: last.hash } : null,
      checkpoints: { ...this.checkpointStats, matched: this.matchedCheckpoints.length, lastMatched: this.matchedCheckpoints.length ? Math.max(...this.matchedCheckpoints) : null },
      breaks: sorted.filter((b) => !excused(b)),
      tolerated: sorted.filter(excused),
      accepted,
    };
  }
}

export function verifyAuditEntries(entries: Iterable<AuditChainEntry>, opts: Options): AuditVerdict {
  const v = new AuditLogVerifier(opts);
  for (const e of entries) v.add(e);
  return v.finish();
}

function render(e: AuditChainEntry): string {
  return `#${e.id} ${e.at} ${e.actor} ${e.action} ${e.target}: ${e.reason}`;
}

/** The one line of a break: `chain TRUNCATED: the log ends at entry 96 but checkpoint 100 (signed ...) exists ...`. */
export function describeBreak(b: AuditBreak): string {
  const before = b.verifiedBefore;
  const tail = before === undefined || before < 0 ? '' : `; ${before <= 0 ? 'no entry before it verifies' : `the ${before} entr${before === 1 ? 'y' : 'ies'} before it verify`}`;
  return `${BREAK_NAMES[b.kind]}: ${b.detail}${tail}`;
}

/** The first break's line, with a count of the others. */
export function describeVerdict(v: AuditVerdict): string {
  const first = v.breaks[0];
  if (!first) return `audit chain ok: ${v.entries} entries`;
  const more = v.breaks.length - 1;
  return `${describeBreak(first)}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : ''}`;
}

/** `SEQ:HASH` (a 64-hex sha256), as printed by `ringctl audit --verify` and the checkpoint log lines. */
export function parseHead(text: string): { seq: number; hash: string } | string {
  const m = /^([0-9]{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) return `expected SEQ:HASH, an entry id and its 64-hex hash (got ${JSON.stringify(text.length > 90 ? `${text.slice(0, 87)}...` : text)})`;
  const seq = Number(m[1]);
  if (seq < 1) return 'SEQ must be 1 or more';
  return { seq, hash: m[2] as string };
}
