import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initialState } from '../../controller/engine/state';
import type { Rollout } from '../../controller/spec/types';
import { MIGRATIONS } from '../../controller/store/migrations';
import { Store, StoreConflictError, StoreVersionError } from '../../controller/store/store';

const file = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rm-store-')), 'ringmaster.db');
const spec = (version = '1.0.1'): Rollout => ({
  apiVersion: 'ringmaster.dev/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'r1' },
  spec: { channel: 'c', version, artifact: { url: 'https://x/a', sha256: 'a'.repeat(64) }, rings: [{ name: 'all', percent: 100, bake: '1m' }] },
});

function seed(s: Store): void {
  s.insertRollout({ name: 'r1', channel: 'c', spec: spec(), specHash: 'h1', policy: 'default', state: initialState(), actor: 'alice', reason: 'apply' });
}

describe('store', () => {
  it('applies migrations once, records them, and keeps data across reopen', () => {
    const f = file();
    const a = Store.open(f);
    expect(a.schemaVersion()).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    seed(a);
    a.close();
    const b = Store.open(f);
    expect(b.getRollout('r1')?.spec.spec.version).toBe('1.0.1');
    const raw = new Database(f);
    expect(raw.prepare('SELECT COUNT(*) n FROM schema_migrations').get()).toEqual({ n: MIGRATIONS.length });
    raw.close();
    b.close();
  });

  it('refuses a database from a newer version with a one-line error', () => {
    const f = file();
    Store.open(f).close();
    const raw = new Database(f);
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
    raw.close();
    expect(() => Store.open(f)).toThrow(StoreVersionError);
  });

  it('insertRollout is idempotent for the same spec and reports a conflict for a different one', () => {
    const s = Store.open(file());
    seed(s);
    expect(s.insertRollout({ name: 'r1', channel: 'c', spec: spec(), specHash: 'h1', policy: 'default', state: initialState(), actor: 'a', reason: '' }).status).toBe('unchanged');
    expect(s.insertRollout({ name: 'r1', channel: 'c', spec: spec('2.0.0'), specHash: 'h2', policy: 'default', state: initialState(), actor: 'a', reason: '' }).status).toBe('conflict');
    expect(s.listAudit().filter((e) => e.action === 'rollout.create')).toHaveLength(1);
    s.close();
  });

  it('a decision commits atomically: a failure half-way leaves nothing of it behind', () => {
    const s = Store.open(file());
    seed(s);
    const state = { ...initialState(), transitions: 1 };
    const t = { n: 1, at: 'now', from: 'pending' as const, to: 'progressing' as const, exposedRing: 0, reason: 'go', actor: 'controller' };
    s.commitDecision({ name: 'r1', expectedRevision: 0, state, transitions: [t], audit: [{ actor: 'controller', action: 'rollout.transition', target: 'r1', reason: 'go' }], actions: [{ key: 'k1', kind: 'publish-manifest', payload: {} }], requestOutcomes: [] });
    const auditBefore = s.listAudit({ limit: 1000 }).length;
    // Transition n=1 again violates the primary key after the state update and the audit entry were written.
    expect(() =>
      s.commitDecision({ name: 'r1', expectedRevision: 1, state: { ...state, transitions: 2 }, transitions: [{ ...t }], audit: [{ actor: 'x', action: 'y', target: 'r1', reason: 'z' }], actions: [{ key: 'k2', kind: 'notify', payload: {} }], requestOutcomes: [] }),
    ).toThrow();
    expect(s.getRollout('r1')?.revision).toBe(1);
    expect(s.getRollout('r1')?.state.transitions).toBe(1);
    expect(s.listAudit({ limit: 1000 })).toHaveLength(auditBefore);
    expect(s.pendingActions().map((a) => a.key)).toEqual(['k1']);
    s.close();
  });

  it('a stale revision is refused (optimistic concurrency)', () => {
    const s = Store.open(file());
    seed(s);
    expect(() => s.commitDecision({ name: 'r1', expectedRevision: 5, state: initialState(), transitions: [], audit: [], actions: [], requestOutcomes: [] })).toThrow(StoreConflictError);
    s.close();
  });

  it('outbox actions are idempotent by key and marked done once', () => {
    const s = Store.open(file());
    seed(s);
    s.commitDecision({ name: 'r1', expectedRevision: 0, state: initialState(), transitions: [], audit: [], actions: [{ key: 'same', kind: 'notify', payload: {} }, { key: 'same', kind: 'notify', payload: {} }], requestOutcomes: [] });
    expect(s.pendingActions()).toHaveLength(1);
    s.markActionDone('same');
    expect(s.pendingActions()).toHaveLength(0);
    s.close();
  });

  it('the audit chain verifies, refuses UPDATE and DELETE, and detects tampering at the right entry', () => {
    const f = file();
    const s = Store.open(f);
    seed(s);
    for (let i = 0; i < 5; i++) s.appendAudit({ actor: 'bob', action: 'test', target: 't', reason: `r${i}`, payload: { i } });
    expect(s.verifyAudit()).toMatchObject({ ok: true, entries: 6 });
    s.close();
    const raw = new Database(f);
    expect(() => raw.prepare("UPDATE audit SET reason = 'x' WHERE id = 3").run()).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM audit WHERE id = 3').run()).toThrow(/append-only/);
    raw.exec('DROP TRIGGER audit_no_update');
    raw.prepare("UPDATE audit SET actor = 'mallory' WHERE id = 4").run();
    raw.close();
    const again = Store.open(f);
    expect(again.verifyAudit()).toMatchObject({ ok: false, brokenAt: 4 });
    again.close();
  });

  it('manifest revisions strictly increase across reopen, and unchanged content keeps its revision', () => {
    const f = file();
    const s = Store.open(f);
    const build = (hash: string) => (rev: number) => ({ body: Buffer.from(`{"revision":${rev}}`), signature: 'sig', contentHash: hash });
    expect(s.publishManifest('c', build('a')).manifest.revision).toBe(1);
    expect(s.publishManifest('c', build('a'))).toMatchObject({ changed: false, manifest: { revision: 1 } });
    expect(s.publishManifest('c', build('b')).manifest.revision).toBe(2);
    s.close();
    const t = Store.open(f);
    expect(t.latestManifest('c')?.revision).toBe(2);
    expect(t.publishManifest('c', build('c')).manifest.revision).toBe(3);
    expect(t.listChannels()).toEqual(['c']);
    t.close();
  });

  it('the kill switch persists across reopen and every change is audited with the actor', () => {
    const f = file();
    const s = Store.open(f);
    s.setKillSwitch({ engaged: true, mode: 'rollback', reason: 'incident' }, 'sre-carol');
    s.close();
    const t = Store.open(f);
    expect(t.getKillSwitch()).toMatchObject({ engaged: true, mode: 'rollback', actor: 'sre-carol' });
    expect(t.listAudit().map((e) => [e.action, e.actor])).toContainEqual(['killswitch.engage', 'sre-carol']);
    t.close();
  });

  it('requests are consumed with their outcome', () => {
    const s = Store.open(file());
    seed(s);
    const id = s.addRequest({ rollout: 'r1', verb: 'pause', actor: 'alice', reason: 'look' });
    expect(s.pendingRequests('r1')).toEqual([{ id, verb: 'pause', actor: 'alice', reason: 'look' }]);
    s.commitDecision({ name: 'r1', expectedRevision: 0, state: initialState(), transitions: [], audit: [], actions: [], requestOutcomes: [{ id, applied: false, message: 'no' }] });
    expect(s.pendingRequests('r1')).toEqual([]);
    expect(s.getRequest(id)).toMatchObject({ applied: false, message: 'no' });
    s.close();
  });
});
