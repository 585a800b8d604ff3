/**
 * The durable store: one SQLite file (better-sqlite3, WAL, synchronous=FULL), versioned migrations, and an
 * append-only, hash-chained audit log. A decision (state + transitions + audit + outbox + consumed requests)
 * commits in one transaction; actions are read back from the outbox and run only after the commit.
 */
import Database from 'better-sqlite3';
import type { Logger } from '../telemetry/log';
import { openPrivateDatabase } from './file-modes';
import type { KillSwitchState, Request, RequestVerb, RolloutState, Transition } from '../engine/state';
import type { Rollout } from '../spec/types';
import { AuditChainVerifier, auditHash, GENESIS_HASH, type AuditChainResult } from './canonical';
import { MIGRATIONS } from './migrations';

export interface RolloutRecord {
  name: string;
  channel: string;
  seq: number;
  spec: Rollout;
  specHash: string;
  policy: string;
  state: RolloutState;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface AuditInput {
  actor: string;
  action: string;
  target: string;
  reason: string;
  payload?: unknown;
}

export interface AuditEntry extends AuditInput {
  id: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface StoredManifest {
  channel: string;
  revision: number;
  body: Buffer;
  signature: string;
  contentHash: string;
  publishedAt: string;
}

export class StoreConflictError extends Error {}

/** Opening a database written by a newer version of Ringmaster. */
export class StoreVersionError extends Error {}

const TERMINAL = ['rolled-back', 'succeeded', 'aborted'];
const KEEP_MANIFEST_REVISIONS = 100;

interface RolloutRow {
  name: string;
  seq: number;
  channel: string;
  spec_json: string;
  spec_hash: string;
  policy: string;
  state_json: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

function toRecord(r: RolloutRow): RolloutRecord {
  return {
    name: r.name,
    channel: r.channel,
    seq: r.seq,
    spec: JSON.parse(r.spec_json) as Rollout,
    specHash: r.spec_hash,
    policy: r.policy,
    state: JSON.parse(r.state_json) as RolloutState,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class Store {
  private readonly now: () => string;
  private readonly stmts: ReturnType<Store['prepare']>;

  private constructor(
    private readonly db: Database.Database,
    opts: { now?: () => string },
  ) {
    this.now = opts.now ?? (() => new Date().toISOString());
    this.stmts = this.prepare();
  }

  /** The file, its -wal and -shm are 0600 whatever the umask; a directory created here is 0700 (store/file-modes.ts). */
  static open(file: string, opts: { now?: () => string; log?: Logger } = {}): Store {
    const db = openPrivateDatabase(
      file,
      () => {
        const d = new Database(file);
        d.pragma('journal_mode = WAL'); // creates -wal and -shm, under umask 077
        return d;
      },
      opts.log ? { log: opts.log } : {},
    );
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    Store.migrate(db, opts.now ?? (() => new Date().toISOString()));
    return new Store(db, opts);
  }

  private static migrate(db: Database.Database, now: () => string): void {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version));
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      db.close();
      throw new StoreVersionError(`database schema version ${newest} is newer than this ringmaster understands (${known}); upgrade ringmaster`);
    }
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      db.transaction(() => {
        db.exec(m.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now());
      }).immediate();
    }
  }

  schemaVersion(): number {
    return (this.db.prepare('SELECT MAX(version) v FROM schema_migrations').get() as { v: number }).v;
  }

  private prepare() {
    const db = this.db;
    return {
      getRollout: db.prepare('SELECT * FROM rollouts WHERE name = ?'),
      listAll: db.prepare('SELECT * FROM rollouts ORDER BY seq'),
      listChannel: db.prepare('SELECT * FROM rollouts WHERE channel = ? ORDER BY seq'),
      listActive: db.prepare(`SELECT * FROM rollouts WHERE phase NOT IN (${TERMINAL.map(() => '?').join(',')}) ORDER BY seq`),
      listChannelActive: db.prepare(`SELECT * FROM rollouts WHERE channel = ? AND phase NOT IN (${TERMINAL.map(() => '?').join(',')}) ORDER BY seq`),
      nextSeq: db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM rollouts'),
      insertRollout: db.prepare(
        'INSERT INTO rollouts (name, seq, channel, spec_json, spec_hash, policy, state_json, phase, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)',
      ),
      updateState: db.prepare('UPDATE rollouts SET state_json = ?, phase = ?, revision = revision + 1, updated_at = ? WHERE name = ? AND revision = ?'),
      insertTransition: db.prepare(
        'INSERT INTO transitions (rollout, n, at, from_phase, to_phase, exposed_ring, reason, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      listTransitions: db.prepare('SELECT * FROM transitions WHERE rollout = ? ORDER BY n'),
      insertRequest: db.prepare('INSERT INTO requests (rollout, verb, actor, reason, created_at) VALUES (?, ?, ?, ?, ?)'),
      pendingRequests: db.prepare('SELECT id, verb, actor, reason FROM requests WHERE rollout = ? AND consumed_at IS NULL ORDER BY id'),
      getRequest: db.prepare('SELECT * FROM requests WHERE id = ?'),
      consumeRequest: db.prepare('UPDATE requests SET consumed_at = ?, applied = ?, outcome_message = ? WHERE id = ? AND consumed_at IS NULL'),
      getKill: db.prepare('SELECT * FROM kill_switch WHERE id = 1'),
      upsertKill: db.prepare(
        `INSERT INTO kill_switch (id, engaged, mode, reason, actor, since, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET engaged = excluded.engaged, mode = excluded.mode, reason = excluded.reason,
           actor = excluded.actor, since = excluded.since, updated_at = excluded.updated_at`,
      ),
      latestManifest: db.prepare('SELECT * FROM manifests WHERE channel = ? ORDER BY revision DESC LIMIT 1'),
      head: db.prepare('SELECT revision FROM manifest_heads WHERE channel = ?'),
      upsertHead: db.prepare('INSERT INTO manifest_heads (channel, revision) VALUES (?, ?) ON CONFLICT(channel) DO UPDATE SET revision = excluded.revision'),
      insertManifest: db.prepare('INSERT INTO manifests (channel, revision, body, signature, content_hash, published_at) VALUES (?, ?, ?, ?, ?, ?)'),
      pruneManifests: db.prepare('DELETE FROM manifests WHERE channel = ? AND revision <= ?'),
      channels: db.prepare('SELECT channel FROM manifest_heads ORDER BY channel'),
      insertAction: db.prepare('INSERT OR IGNORE INTO outbox (key, rollout, kind, payload_json, created_at) VALUES (?, ?, ?, ?, ?)'),
      pendingActions: db.prepare('SELECT * FROM outbox WHERE done_at IS NULL ORDER BY created_at, key'),
      markDone: db.prepare('UPDATE outbox SET done_at = ? WHERE key = ? AND done_at IS NULL'),
      lastAudit: db.prepare('SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1'),
      insertAudit: db.prepare('INSERT INTO audit (id, at, actor, action, target, reason, payload_json, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      listAudit: db.prepare('SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?'),
      listAuditTarget: db.prepare('SELECT * FROM audit WHERE id > ? AND target = ? ORDER BY id LIMIT ?'),
      iterAudit: db.prepare('SELECT * FROM audit ORDER BY id'),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** An immediate (write-locking) transaction; nested calls join the outer one. */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }

  // ------------------------------------------------------------------------------------------ rollouts

  insertRollout(input: {
    name: string;
    channel: string;
    spec: Rollout;
    specHash: string;
    policy: string;
    state: RolloutState;
    actor: string;
    reason: string;
  }): { status: 'created' | 'unchanged' | 'conflict'; record: RolloutRecord } {
    return this.transaction(() => {
      const existing = this.getRollout(input.name);
      if (existing) return { status: existing.specHash === input.specHash ? ('unchanged' as const) : ('conflict' as const), record: existing };
      const at = this.now();
      const { seq } = this.stmts.nextSeq.get() as { seq: number };
      this.stmts.insertRollout.run(input.name, seq, input.channel, JSON.stringify(input.spec), input.specHash, input.policy, JSON.stringify(input.state), input.state.phase.kind, at, at);
      this.appendAudit({
        actor: input.actor,
        action: 'rollout.create',
        target: input.name,
        reason: input.reason,
        payload: { channel: input.channel, version: input.spec.spec.version, specHash: input.specHash, policy: input.policy },
      });
      return { status: 'created' as const, record: this.getRollout(input.name) as RolloutRecord };
    });
  }

  getRollout(name: string): RolloutRecord | undefined {
    const row = this.stmts.getRollout.get(name) as RolloutRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  listRollouts(filter: { channel?: string; activeOnly?: boolean } = {}): RolloutRecord[] {
    let rows: RolloutRow[];
    if (filter.channel !== undefined) {
      rows = (filter.activeOnly ? this.stmts.listChannelActive.all(filter.channel, ...TERMINAL) : this.stmts.listChannel.all(filter.channel)) as RolloutRow[];
    } else {
      rows = (filter.activeOnly ? this.stmts.listActive.all(...TERMINAL) : this.stmts.listAll.all()) as RolloutRow[];
    }
    return rows.map(toRecord);
  }

  commitDecision(input: {
    name: string;
    expectedRevision: number;
    state: RolloutState;
    transitions: Transition[];
    audit: AuditInput[];
    actions: Array<{ key: string; kind: string; payload: unknown }>;
    requestOutcomes: Array<{ id: number; applied: boolean; message: string }>;
  }): { revision: number } {
    return this.transaction(() => {
      const at = this.now();
      const res = this.stmts.updateState.run(JSON.stringify(input.state), input.state.phase.kind, at, input.name, input.expectedRevision);
      if (res.changes !== 1) {
        throw new StoreConflictError(`rollout ${input.name}: revision ${input.expectedRevision} is stale`);
      }
      for (const t of input.transitions) {
        this.stmts.insertTransition.run(input.name, t.n, t.at, t.from, t.to, t.exposedRing, t.reason, t.actor);
      }
      for (const a of input.audit) this.appendAudit(a);
      for (const a of input.actions) this.stmts.insertAction.run(a.key, input.name, a.kind, JSON.stringify(a.payload ?? null), at);
      for (const o of input.requestOutcomes) this.stmts.consumeRequest.run(at, o.applied ? 1 : 0, o.message, o.id);
      return { revision: input.expectedRevision + 1 };
    });
  }

  listTransitions(name: string): Transition[] {
    return (
      this.stmts.listTransitions.all(name) as Array<{ n: number; at: string; from_phase: string; to_phase: string; exposed_ring: number; reason: string; actor: string }>
    ).map((r) => ({ n: r.n, at: r.at, from: r.from_phase, to: r.to_phase, exposedRing: r.exposed_ring, reason: r.reason, actor: r.actor }) as Transition);
  }

  // ------------------------------------------------------------------------------------------ requests

  addRequest(input: { rollout: string; verb: RequestVerb; actor: string; reason: string }): number {
    return this.transaction(() => {
      const id = Number(this.stmts.insertRequest.run(input.rollout, input.verb, input.actor, input.reason, this.now()).lastInsertRowid);
      this.appendAudit({ actor: input.actor, action: `request.${input.verb}`, target: input.rollout, reason: input.reason, payload: { request: id } });
      return id;
    });
  }

  pendingRequests(rollout: string): Request[] {
    return this.stmts.pendingRequests.all(rollout) as Request[];
  }

  getRequest(id: number):
    | { id: number; rollout: string; verb: RequestVerb; actor: string; reason: string; consumedAt: string | null; applied: boolean | null; message: string | null }
    | undefined {
    const r = this.stmts.getRequest.get(id) as
      | { id: number; rollout: string; verb: RequestVerb; actor: string; reason: string; consumed_at: string | null; applied: number | null; outcome_message: string | null }
      | undefined;
    if (!r) return undefined;
    return { id: r.id, rollout: r.rollout, verb: r.verb, actor: r.actor, reason: r.reason, consumedAt: r.consumed_at, applied: r.applied === null ? null : r.applied === 1, message: r.outcome_message };
  }

  // ------------------------------------------------------------------------------------------ kill switch

  getKillSwitch(): KillSwitchState {
    const r = this.stmts.getKill.get() as { engaged: number; mode: 'freeze' | 'rollback'; reason: string; actor: string; since: string | null } | undefined;
    if (!r) return { engaged: false, mode: 'freeze', reason: '', actor: '', since: null };
    return { engaged: r.engaged === 1, mode: r.mode, reason: r.reason, actor: r.actor, since: r.since };
  }

  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): KillSwitchState {
    return this.transaction(() => {
      const at = this.now();
      const prev = this.getKillSwitch();
      const since = next.engaged ? (prev.engaged && prev.mode === next.mode ? prev.since : at) : null;
      this.stmts.upsertKill.run(next.engaged ? 1 : 0, next.mode, next.reason, actor, since, at);
      this.appendAudit({
        actor,
        action: next.engaged ? 'killswitch.engage' : 'killswitch.disengage',
        target: 'killswitch',
        reason: next.reason,
        payload: { engaged: next.engaged, mode: next.mode, previous: { engaged: prev.engaged, mode: prev.mode } },
      });
      return this.getKillSwitch();
    });
  }

  // ------------------------------------------------------------------------------------------ manifests

  latestManifest(channel: string): StoredManifest | undefined {
    const r = this.stmts.latestManifest.get(channel) as
      | { channel: string; revision: number; body: Buffer; signature: string; content_hash: string; published_at: string }
      | undefined;
    if (!r) return undefined;
    return { channel: r.channel, revision: r.revision, body: r.body, signature: r.signature, contentHash: r.content_hash, publishedAt: r.published_at };
  }

  listChannels(): string[] {
    return (this.stmts.channels.all() as Array<{ channel: string }>).map((r) => r.channel);
  }

  /**
   * Publishes a new revision of a channel's manifest when its content changed. Revisions strictly increase
   * and are never reused, even after old revisions are pruned (manifest_heads keeps the high-water mark).
   */
  publishManifest(
    channel: string,
    build: (revision: number) => { body: Buffer; signature: string; contentHash: string },
    actor = 'controller',
  ): { manifest: StoredManifest; changed: boolean } {
    return this.transaction(() => {
      const latest = this.latestManifest(channel);
      const head = (this.stmts.head.get(channel) as { revision: number } | undefined)?.revision ?? 0;
      const revision = head + 1;
      const built = build(revision);
      if (latest && latest.contentHash === built.contentHash) return { manifest: latest, changed: false };
      const at = this.now();
      this.stmts.insertManifest.run(channel, revision, built.body, built.signature, built.contentHash, at);
      this.stmts.upsertHead.run(channel, revision);
      this.stmts.pruneManifests.run(channel, revision - KEEP_MANIFEST_REVISIONS);
      this.appendAudit({ actor, action: 'manifest.publish', target: `channel/${channel}`, reason: `revision ${revision}`, payload: { channel, revision, contentHash: built.contentHash } });
      return { manifest: { channel, revision, body: built.body, signature: built.signature, contentHash: built.contentHash, publishedAt: at }, changed: true };
    });
  }

  // ------------------------------------------------------------------------------------------ outbox

  pendingActions(): Array<{ key: string; rollout: string; kind: string; payload: unknown; createdAt: string }> {
    return (this.stmts.pendingActions.all() as Array<{ key: string; rollout: string; kind: string; payload_json: string; created_at: string }>).map((r) => ({
      key: r.key,
      rollout: r.rollout,
      kind: r.kind,
      payload: JSON.parse(r.payload_json) as unknown,
      createdAt: r.created_at,
    }));
  }

  markActionDone(key: string): void {
    this.stmts.markDone.run(this.now(), key);
  }

  // ------------------------------------------------------------------------------------------ audit

  appendAudit(entry: AuditInput): AuditEntry {
    return this.transaction(() => {
      const last = this.stmts.lastAudit.get() as { id: number; hash: string } | undefined;
      const id = (last?.id ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS_HASH;
      const at = this.now();
      const payload = entry.payload ?? null;
      const hash = auditHash({ id, at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason, payload, prevHash });
      this.stmts.insertAudit.run(id, at, entry.actor, entry.action, entry.target, entry.reason, JSON.stringify(payload), prevHash, hash);
      return { id, at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason, payload, prevHash, hash };
    });
  }

  listAudit(opts: { afterId?: number; limit?: number; target?: string } = {}): AuditEntry[] {
    const after = opts.afterId ?? 0;
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 10_000));
    const rows = (opts.target === undefined ? this.stmts.listAudit.all(after, limit) : this.stmts.listAuditTarget.all(after, opts.target, limit)) as AuditRow[];
    return rows.map(fromAuditRow);
  }

  verifyAudit(): AuditChainResult {
    const chain = new AuditChainVerifier();
    for (const row of this.stmts.iterAudit.iterate() as IterableIterator<AuditRow>) {
      if (!chain.add(fromAuditRow(row))) break;
    }
    return chain.result();
  }
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  payload_json: string;
  prev_hash: string;
  hash: string;
}

function fromAuditRow(r: AuditRow): AuditEntry {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    target: r.target,
    reason: r.reason,
    payload: JSON.parse(r.payload_json) as unknown,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}
