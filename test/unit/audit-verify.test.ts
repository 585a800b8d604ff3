/**
 * The audit verifier on chains built here (store/audit-verify.ts), the store's checkpoint signing on real SQLite
 * files, accepted breaks (signed, forged, off-box), and the fast canonical hashing against the reference form.
 */
import Database from 'better-sqlite3';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyPair } from '../../controller/crypto/keys';
import { loadOrCreateAuditSigner, signerFor, type AuditCheckpoint, type AuditSigner } from '../../controller/store/audit-key';
import { verifyAuditOnOpen } from '../../controller/store/audit-open';
import { BREAK_ACCEPTED_ACTION, describeVerdict, parseHead, verifyAuditEntries } from '../../controller/store/audit-verify';
import { auditCanonical, auditHash, canonicalJson, GENESIS_HASH, type AuditChainEntry } from '../../controller/store/canonical';
import { Store } from '../../controller/store/store';
import { memoryLogger } from '../../controller/telemetry/log';

const signer = signerFor(generateKeyPair());
const key = { keyId: signer.keyId, key: signer.publicKey };

function chain(n: number, edit: (e: Omit<AuditChainEntry, 'hash'>) => Omit<AuditChainEntry, 'hash'> = (e) => e): AuditChainEntry[] {
  const out: AuditChainEntry[] = [];
  let prev = GENESIS_HASH;
  for (let id = 1; id <= n; id++) {
    const e = edit({ id, at: new Date(Date.UTC(2026, 11, 1, 0, 0, id)).toISOString(), actor: 'controller', action: 'manifest.publish', target: 'channel/c', reason: `revision ${id}`, payload: { revision: id }, prevHash: prev });
    prev = auditHash(e);
    out.push({ ...e, hash: prev });
  }
  return out;
}

/** Re-links every entry from index i on (what someone who rewrites history does). */
function rechainFrom(entries: AuditChainEntry[], i: number): AuditChainEntry[] {
  const out = entries.slice(0, i);
  let prev = i === 0 ? GENESIS_HASH : (entries[i - 1] as AuditChainEntry).hash;
  for (const e of entries.slice(i)) {
    const next = { ...e, prevHash: prev };
    prev = auditHash(next);
    out.push({ ...next, hash: prev });
  }
  return out;
}

const checkpointsOf = (entries: AuditChainEntry[], every: number, s: AuditSigner = signer): AuditCheckpoint[] =>
  entries.filter((e) => e.id % every === 0).map((e) => s.sign({ seq: e.id, hash: e.hash, at: '2026-12-01T00:00:00.000Z', reason: `every ${every}` }));

describe('audit verify', () => {
  const good = chain(50);
  const cps = checkpointsOf(good, 10);

  test('a valid chain with signed checkpoints verifies', () => {
    const v = verifyAuditEntries(good, { checkpoints: cps, key });
    expect(v).toMatchObject({ ok: true, entries: 50, head: { seq: 50, hash: good[49]?.hash }, checkpoints: { total: 5, valid: 5, matched: 5, lastMatched: 50 }, breaks: [] });
  });

  test('an edited entry is named, with the count of entries before it that verify', () => {
    const edited = good.map((e) => (e.id === 23 ? { ...e, actor: 'mallory' } : e));
    const v = verifyAuditEntries(edited, { checkpoints: cps, key });
    expect(v.ok).toBe(false);
    expect(describeVerdict(v)).toMatch(/^chain ENTRY EDITED: entry 23 does not match its hash \[#23 \S+ mallory manifest\.publish channel\/c: revision 23\]; the 22 entries before it verify$/);
  });

  test('an entry edited and re-hashed alone is named: the next entry still links to its old hash', () => {
    const e23 = { ...(good[22] as AuditChainEntry), reason: 'nothing to see' };
    const edited = good.map((e) => (e.id === 23 ? { ...e23, hash: auditHash(e23) } : e));
    expect(describeVerdict(verifyAuditEntries(edited, { checkpoints: cps, key }))).toMatch(/^chain ENTRY EDITED: entry 23 was changed and re-hashed: entry 24 still links to its old hash \[#23 .*: nothing to see\]; the 22 entries before it verify/);
  });

  test('a deleted middle entry is named', () => {
    const v = verifyAuditEntries(
      good.filter((e) => e.id !== 17),
      { checkpoints: cps, key },
    );
    expect(v.breaks.map((b) => [b.kind, b.at])).toEqual([['deleted', 17]]);
    expect(describeVerdict(v)).toMatch(/^chain ENTRY DELETED: entry 17 is missing \(entry 16 is followed by entry 18\) \[#18 .*\]; the 16 entries before it verify$/);
  });

  test('re-chaining passes the hash chain alone, and is caught by the first checkpoint after the edit', () => {
    const edited = good.map((e) => (e.id === 23 ? { ...e, reason: 'rewritten' } : e));
    const rechained = rechainFrom(edited, 22);
    expect(verifyAuditEntries(rechained, {}).ok).toBe(true); // what `ringctl audit --verify` measured on main
    const v = verifyAuditEntries(rechained, { checkpoints: cps, key });
    expect(v.breaks.map((b) => [b.kind, b.at])).toEqual([
      ['rechained', 30],
      ['rechained', 40],
      ['rechained', 50],
    ]);
    expect(describeVerdict(v)).toMatch(/^chain RE-CHAINED: entry 30 has hash [0-9a-f]{12}…, but checkpoint 30 \(signed 2026-12-01T00:00:00\.000Z\) says [0-9a-f]{12}…: entries 21\.\.30 were rewritten and re-hashed \(entry 20 still matches its checkpoint\) \(and 2 more problems\)$/);
  });

  test('truncation is one problem, named by the furthest checkpoint past the end', () => {
    const v = verifyAuditEntries(good.slice(0, 26), { checkpoints: cps, key });
    expect(v.breaks).toHaveLength(1);
    expect(describeVerdict(v)).toBe('chain TRUNCATED: the log ends at entry 26 but checkpoint 50 (signed 2026-12-01T00:00:00.000Z) exists: at least 24 entries are gone');
    expect(verifyAuditEntries(good.slice(0, 26), {}).ok).toBe(true);
    // An external head is enough on its own.
    const head = { seq: 50, hash: good[49]?.hash as string, source: 'the expected head 50 (--expect-head)' };
    expect(describeVerdict(verifyAuditEntries(good.slice(0, 48), { anchors: [head] }))).toBe('chain TRUNCATED: the log ends at entry 48 but the expected head 50 (--expect-head) exists: at least 2 entries are gone');
    expect(describeVerdict(verifyAuditEntries([], { checkpoints: cps, key }))).toMatch(/^chain TRUNCATED: the log is empty but checkpoint 50 /);
  });

  test('a bad signature, another key and a missing key are each named', () => {
    const forged = cps.map((c) => (c.seq === 20 ? { ...c, hash: 'f'.repeat(64) } : c));
    expect(describeVerdict(verifyAuditEntries(good, { checkpoints: forged, key }))).toMatch(/^checkpoint BAD SIGNATURE: checkpoint 20 \(signed \S+\) does not verify against audit key [0-9a-f]{16}$/);
    const flipped = cps.map((c) => (c.seq === 10 ? { ...c, signature: Buffer.from(Buffer.from(c.signature, 'base64').map((b, i) => (i === 5 ? b ^ 1 : b))).toString('base64') } : c));
    expect(verifyAuditEntries(good, { checkpoints: flipped, key }).breaks.map((b) => [b.kind, b.at])).toEqual([['bad-signature', 10]]);
    const other = signerFor(generateKeyPair());
    expect(describeVerdict(verifyAuditEntries(good, { checkpoints: checkpointsOf(good, 25, other), key }))).toMatch(
      new RegExp(`^checkpoint WRONG KEY: checkpoint 25 \\(signed \\S+\\) is signed by key id ${other.keyId}, not by the audit key ${signer.keyId} \\(and 1 more problem\\)$`),
    );
    expect(describeVerdict(verifyAuditEntries(good, { checkpoints: cps }))).toMatch(/^checkpoint WRONG KEY: checkpoint 10 .* not by the audit key \(none available\)/);
  });

  test('a signed acceptance excuses the breaks it lists; a forged one excuses nothing; off-box records are never excused', () => {
    const truncated = good.slice(0, 26);
    const broken = verifyAuditEntries(truncated, { checkpoints: cps, key });
    const accepts = broken.breaks.flatMap((b) => [b.key, ...(b.covers ?? [])]);
    const head = { seq: 26, hash: (truncated[25] as AuditChainEntry).hash };
    const acceptance = (signature: string): AuditChainEntry[] => {
      const e = { id: 27, at: '2026-12-01T01:00:00.000Z', actor: 'local:ops', action: BREAK_ACCEPTED_ACTION, target: 'audit', reason: 'restored a backup', payload: { accepts, head, keyId: signer.keyId, signature }, prevHash: head.hash };
      return [...truncated, { ...e, hash: auditHash(e) }];
    };
    const signed = acceptance(signer.signAcceptance({ actor: 'local:ops', reason: 'restored a backup', accepts, head }));
    const ok = verifyAuditEntries(signed, { checkpoints: cps, key });
    expect(ok).toMatchObject({ ok: true, breaks: [], accepted: [{ entry: 27, signed: true, by: 'local:ops', reason: 'restored a backup' }] });
    expect(ok.tolerated.map((b) => b.kind)).toEqual(['truncated']);
    // Written by someone without the key (or with the signature of another acceptance): accepts nothing.
    const forged = acceptance(signer.signAcceptance({ actor: 'local:ops', reason: 'something else', accepts, head }));
    expect(verifyAuditEntries(forged, { checkpoints: cps, key })).toMatchObject({ ok: false, accepted: [{ signed: false }] });
    // The same checkpoints kept off the box are not excused.
    const offBox = verifyAuditEntries(signed, { checkpoints: cps, externalCheckpoints: cps, key });
    expect(offBox.ok).toBe(false);
    expect(describeVerdict(offBox)).toMatch(/^chain TRUNCATED: the log ends at entry 27 but exported checkpoint 50 /);
  });

  test('parseHead', () => {
    const h = 'a'.repeat(64);
    expect(parseHead(`12:${h}`)).toEqual({ seq: 12, hash: h });
    expect(parseHead('12')).toMatch(/^expected SEQ:HASH/);
    expect(parseHead(`0:${h}`)).toBe('SEQ must be 1 or more');
    expect(parseHead(`12:${h.toUpperCase()}`)).toMatch(/^expected SEQ:HASH/);
  });
});

describe('canonical hashing', () => {
  /** The canonical form as first written (map/filter/join): the fast one must produce the same bytes. */
  function reference(value: unknown): string {
    if (value === null || typeof value !== 'object') {
      if (value === undefined) return 'null';
      if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
      return JSON.stringify(value);
    }
    if (Array.isArray(value)) return `[${value.map((v) => reference(v)).join(',')}]`;
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`).join(',')}}`;
  }

  function random(rng: () => number, depth: number): unknown {
    const pick = Math.floor(rng() * (depth > 3 ? 6 : 9));
    const str = (): string => ['', 'a', 'Zz', 'é', '"q"', '\\', '\n', '\u2028', '😀', 'key'][Math.floor(rng() * 10)] as string;
    switch (pick) {
      case 0:
        return null;
      case 1:
        return undefined;
      case 2:
        return [0, -1, 1.5, 1e21, NaN, Infinity, -0][Math.floor(rng() * 7)];
      case 3:
        return rng() < 0.5;
      case 4:
      case 5:
        return str() + str();
      case 6:
      case 7:
        return Object.fromEntries(Array.from({ length: Math.floor(rng() * 5) }, () => [str() + str(), random(rng, depth + 1)]));
      default:
        return Array.from({ length: Math.floor(rng() * 4) }, () => random(rng, depth + 1));
    }
  }

  test('canonicalJson and auditCanonical give the reference bytes on 5,000 random values', () => {
    let seed = 42;
    const rng = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const v = random(rng, 0);
      expect(canonicalJson(v)).toBe(reference(v));
      const e = { id: i, at: String(random(rng, 5)), actor: String(random(rng, 5)), action: 'x', target: 't', reason: String(random(rng, 5)), payload: v, prevHash: GENESIS_HASH };
      expect(auditCanonical(e)).toBe(reference({ ...e, payload: e.payload ?? null }));
    }
    // Wrong types (a lying server's entry) take the generic path: same bytes as the reference.
    const odd = { id: '7', at: 1, actor: null, action: undefined, target: 't', reason: 'r', prevHash: GENESIS_HASH } as unknown as AuditChainEntry;
    expect(auditCanonical(odd)).toBe(reference({ ...odd, payload: null }));
    expect(auditHash(odd)).toBe(crypto.createHash('sha256').update(reference({ ...odd, payload: null })).digest('hex'));
  });
});

describe('store checkpoints (real SQLite files)', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-audit-unit-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const fill = (s: Store, n: number): void => {
    for (let i = 0; i < n; i++) s.appendAudit({ actor: 'bob', action: 'test', target: 't', reason: `r${i}`, payload: { i } });
  };

  test('a checkpoint every N entries and one at close; audit.key beside the file is picked up by default', () => {
    const dir = tmp();
    const auditSigner = loadOrCreateAuditSigner(dir);
    expect(fs.statSync(path.join(dir, 'audit.key')).mode & 0o777).toBe(0o600);
    const file = path.join(dir, 'ringmaster.db');
    const s = Store.open(file, { audit: { signer: auditSigner, every: 10 } });
    fill(s, 35);
    expect(s.listAuditCheckpoints().map((c) => [c.seq, c.reason])).toEqual([
      [10, 'every 10'],
      [20, 'every 10'],
      [30, 'every 10'],
    ]);
    s.close();
    const again = Store.open(file); // default: DATA_DIR/audit.key, every 100 (RINGMASTER_AUDIT_CHECKPOINT_EVERY)
    expect(again.auditKey()).toEqual(auditSigner.info());
    expect(again.listAuditCheckpoints().map((c) => [c.seq, c.reason])).toEqual([
      [10, 'every 10'],
      [20, 'every 10'],
      [30, 'every 10'],
      [35, 'shutdown'],
    ]);
    expect(again.verifyAuditLog()).toMatchObject({ ok: true, entries: 35, checkpoints: { valid: 4, matched: 4 } });
    again.close(); // nothing new: no second shutdown checkpoint
    const third = Store.open(file, { audit: false });
    expect(third.listAuditCheckpoints()).toHaveLength(4);
    expect(third.auditKey()).toBeUndefined();
    third.close();
  });

  test('verifyAuditOnOpen: truncation refused with a one-line reason; --accept-broken-audit records it, and the next open starts', () => {
    const dir = tmp();
    const auditSigner = loadOrCreateAuditSigner(dir);
    const file = path.join(dir, 'ringmaster.db');
    const s = Store.open(file, { audit: { signer: auditSigner, every: 10 } });
    fill(s, 24);
    s.close(); // shutdown checkpoint at 24
    const raw = new Database(file);
    raw.exec('DROP TRIGGER audit_no_delete');
    raw.prepare('DELETE FROM audit WHERE id > 20').run();
    raw.close();

    const { log, lines } = memoryLogger('info');
    const t = Store.open(file, { audit: { signer: auditSigner, every: 10 } });
    const refused = verifyAuditOnOpen(t, { log });
    expect(refused.status).toBe('broken');
    expect(refused.status === 'broken' && refused.line).toMatch(/^audit chain TRUNCATED: the log ends at entry 20 but checkpoint 24 \(signed \S+\) exists: at least 4 entries are gone$/);
    expect(t.listAuditCheckpoints()).toHaveLength(3); // refusing signs nothing
    const accepted = verifyAuditOnOpen(t, { log, acceptBroken: { actor: 'local:ops', reason: 'INC-1: restored from backup' } });
    expect(accepted).toMatchObject({ status: 'accepted', entry: 21 });
    expect(t.listAudit({ afterId: 20 })).toEqual([expect.objectContaining({ id: 21, actor: 'local:ops', action: BREAK_ACCEPTED_ACTION, reason: 'INC-1: restored from backup' })]);
    expect(lines.find((l) => l.level === 'error')?.msg).toMatch(/^audit chain TRUNCATED: .*; started anyway \(--accept-broken-audit\), recorded as audit entry 21$/);
    // New entries reach ids the old checkpoint 24 signed: still excused, since the acceptance listed it.
    fill(t, 10);
    t.close();
    const u = Store.open(file, { audit: { signer: auditSigner, every: 10 } });
    expect(verifyAuditOnOpen(u, { log })).toMatchObject({ status: 'ok', verdict: { ok: true, entries: 31, accepted: [{ entry: 21, signed: true }] } });
    u.close();
  });

  test('an acceptance row written offline (no key) lets nothing start', () => {
    const dir = tmp();
    const auditSigner = loadOrCreateAuditSigner(dir);
    const file = path.join(dir, 'ringmaster.db');
    const s = Store.open(file, { audit: { signer: auditSigner, every: 5 } });
    fill(s, 12);
    s.close();
    const raw = new Database(file);
    raw.exec('DROP TRIGGER audit_no_update');
    raw.prepare("UPDATE audit SET reason = 'hidden' WHERE id = 3").run();
    raw.close();
    const noKey = Store.open(file, { audit: false });
    // The attacker appends a well-formed acceptance of their edit, without the key.
    noKey.appendAudit({ actor: 'local:mallory', action: BREAK_ACCEPTED_ACTION, target: 'audit', reason: 'fine', payload: { accepts: ['edited@3'], head: null, keyId: auditSigner.keyId, signature: 'A'.repeat(88) } });
    noKey.close();
    const t = Store.open(file, { audit: { signer: auditSigner, every: 5 } });
    const r = verifyAuditOnOpen(t, { log: memoryLogger().log });
    expect(r.status).toBe('broken');
    expect(r.status === 'broken' && r.line).toMatch(/^audit chain ENTRY EDITED: entry 3 does not match its hash \[#3 .*: hidden\]; the 2 entries before it verify$/);
    t.close({ checkpoint: false });
  });
});
