/**
 * The durable store: one SQLite file (better-sqlite3, WAL, synchronous=FULL), versioned migrations, and an
 * append-only, hash-chained audit log. A decision (state + transitions + audit + outbox + consumed requests)
 * commits in one transaction; actions are read back from the outbox and run only after the commit.
 */
import Database from 'better-sqlite3';
import * as path from 'node:path';
import type { Logger } from '../telemetry/log';
import { openPrivateDatabase } from './file-modes';
import { SqliteNotificationOutbox } from './notifications';
import { lineageEvents, lineageOfRecord, type ChannelLineage } from '../engine/scheduling';
import type { KillSwitchState, Request, RequestVerb, RolloutState, Transition } from '../engine/state';
import { ALL_PHASES, TERMINAL_PHASES } from '../engine/state';
import type { PolicySpec, Rollout } from '../spec/types';
import { auditHash, GENESIS_HASH, type AuditChainResult } from './canonical';
import { checkpointEveryFromEnv, loadAuditSigner, type AuditCheckpoint, type AuditCheckpointing, type AuditKeyInfo, type AuditPublicKey } from './audit-key';
import { AuditLogVerifier, BREAK_ACCEPTED_ACTION, describeVerdict, type AuditAnchor, type AuditVerdict } from './audit-verify';
import { MIGRATIONS } from './migrations';
import { assertWellFormed, assertWellFormedDeep } from '../spec/text';
import { WalCheckpointer } from './wal-checkpointer';
import type { AuditEntry, AuditInput, ChannelRecord, DecisionCommit, ManifestArtifactRef, RequestRecord, RolloutRecord, StateStore, StoredManifest, StoredPolicy } from './types';

export type { AuditEntry, AuditInput, ChannelRecord, RolloutRecord, StateStore, StoredManifest } from './types';

export class StoreConflictError extends Error {}

/** The audit entry of a channel's stable artifact seeded from a rollout's previousArtifact (every store writes this one). */
export function stableArtifactAudit(channel: string, version: string, artifact: ManifestArtifactRef, rollout: string, actor: string): AuditInput {
  return {
    actor,
    action: 'channel.stable-artifact',
    target: channel,
    reason: `previousArtifact of ${rollout}: the artifact of ${channel}'s stable version ${version}`,
    payload: { version, url: artifact.url, sha256: artifact.sha256, signed: artifact.signature !== undefined, rollout },
  };
}

/** Opening a database written by a newer version of Ringmaster. */
export class StoreVersionError extends Error {}

/** Non-terminal phases, as an IN list (the phase index answers it without reading terminal rows). */
const ACTIVE = ALL_PHASES.filter((p) => !TERMINAL_PHASES.has(p));
const KEEP_MANIFEST_REVISIONS = 100;

interface PolicyRow {
  name: string;
  spec_json: string;
  spec_hash: string;
  actor: string;
  created_at: string;
  updated_at: string;
}

function toStoredPolicy(r: PolicyRow): StoredPolicy {
  return { name: r.name, spec: JSON.parse(r.spec_json) as PolicySpec, specHash: r.spec_hash, actor: r.actor, createdAt: r.created_at, updatedAt: r.updated_at };
}

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
  archived_at?: string | null;
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
    ...(r.archived_at ? { archivedAt: r.archived_at } : {}),
  };
}

export class Store implements StateStore {
  private readonly now: () => string;
  private readonly stmts: ReturnType<Store['prepare']>;
  /** Parsed records by name, valid while the stored revision is the same (specs never change; states by revision). */
  private readonly records = new Map<string, RolloutRecord>();
  /**
   * Names of the non-terminal rollouts in creation order, kept in memory (this process is the only writer) so a
   * reconcile pass lists 10,000 rollouts without a query. Loaded on first use; dropped when a transaction rolls back.
   */
  private activeIndex: Set<string> | undefined;
  private walCheckpointer: WalCheckpointer | undefined;
  /** Callbacks waiting for the outermost transaction to commit. */
  private readonly committed: Array<() => void> = [];
  /** This process is the store's only writer: the kill switch is read from memory, and written through. */
  private killSwitchCache: KillSwitchState | undefined;
  /** Channel lineage records, read through; dropped when lineage is written or a transaction rolls back. */
  private readonly channelCache = new Map<string, ChannelRecord | null>();
  /** Transitions by rollout, read through (the only writer appends them in commitDecision); dropped with the rest. */
  private readonly transitionsCache = new Map<string, readonly Transition[]>();

  private constructor(
    private readonly db: Database.Database,
    opts: { now?: () => string },
  ) {
    this.now = opts.now ?? (() => new Date().toISOString());
    this.stmts = this.prepare();
    this.backfillLineage();
  }

  /** The file, its -wal and -shm are 0600 whatever the umask; a directory created here is 0700 (store/file-modes.ts). */
  /**
   * `audit`: checkpoint signing (store/audit-key.ts). By default the store signs with `audit.key` beside the
   * database file when that key exists (`ringmaster serve` creates it), every RINGMASTER_AUDIT_CHECKPOINT_EVERY
   * (default 100) entries and at close; `false` signs nothing.
   */
  static open(file: string, opts: { now?: () => string; log?: Logger; audit?: AuditCheckpointing | false; backgroundCheckpoints?: boolean } = {}): Store {
    const checkpointing = opts.audit === undefined ? defaultCheckpointing(file) : opts.audit || undefined;
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
    const store = new Store(db, opts);
    store.checkpointing = checkpointing;
    if (opts.backgroundCheckpoints) {
      // WAL checkpoints in a worker thread (wal-checkpointer.ts): a commit never pays for one on the event loop.
      db.pragma('wal_autocheckpoint = 0');
      store.walCheckpointer = new WalCheckpointer(file);
    }
    return store;
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

  /** The notification outbox on this file (its own table; not part of StateStore). */
  notificationOutbox(): SqliteNotificationOutbox {
    this.notifications ??= new SqliteNotificationOutbox(this.db);
    return this.notifications;
  }

  private notifications: SqliteNotificationOutbox | undefined;

  schemaVersion(): number {
    return (this.db.prepare('SELECT MAX(version) v FROM schema_migrations').get() as { v: number }).v;
  }

  private prepare() {
    const db = this.db;
    return {
      getRollout: db.prepare('SELECT * FROM rollouts WHERE name = ?'),
      rolloutRevision: db.prepare('SELECT revision, updated_at FROM rollouts WHERE name = ?'),
      listAll: db.prepare('SELECT * FROM rollouts ORDER BY seq'),
      listChannel: db.prepare('SELECT * FROM rollouts WHERE channel = ? ORDER BY seq'),
      listActive: db.prepare(`SELECT name, revision FROM rollouts WHERE phase IN (${ACTIVE.map(() => '?').join(',')}) ORDER BY seq`),
      listChannelActive: db.prepare(`SELECT name, revision FROM rollouts WHERE channel = ? AND phase IN (${ACTIVE.map(() => '?').join(',')}) ORDER BY seq`),
      getChannel: db.prepare('SELECT * FROM channels WHERE channel = ?'),
      channelHistory: db.prepare('SELECT * FROM channel_history WHERE channel = ? ORDER BY id'),
      upsertChannel: db.prepare(
        `INSERT INTO channels (channel, stable_version, stable_artifact_json, stable_rollout, stable_since) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(channel) DO UPDATE SET stable_version = excluded.stable_version, stable_artifact_json = excluded.stable_artifact_json,
           stable_rollout = excluded.stable_rollout, stable_since = excluded.stable_since`,
      ),
      insertHistory: db.prepare('INSERT INTO channel_history (channel, version, event, rollout, at, reason) VALUES (?, ?, ?, ?, ?, ?)'),
      allChannels: db.prepare('SELECT channel FROM manifest_heads UNION SELECT channel FROM channels UNION SELECT DISTINCT channel FROM rollouts ORDER BY channel'),
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
      applierOf: db.prepare("SELECT actor FROM audit WHERE action = 'rollout.create' AND target = ? ORDER BY id LIMIT 1"),
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
      archive: db.prepare('UPDATE rollouts SET archived_at = ? WHERE name = ? AND archived_at IS NULL'),
      listPolicies: db.prepare('SELECT * FROM policies ORDER BY name'),
      getPolicy: db.prepare('SELECT * FROM policies WHERE name = ?'),
      upsertPolicy: db.prepare(
        `INSERT INTO policies (name, spec_json, spec_hash, actor, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(name) DO UPDATE SET spec_json = excluded.spec_json, spec_hash = excluded.spec_hash, actor = excluded.actor, updated_at = excluded.updated_at`,
      ),
      deletePolicy: db.prepare('DELETE FROM policies WHERE name = ?'),
    };
  }

  /**
   * Signs a checkpoint of the audit head first (when signing, and the head moved since the last one), unless
   * `checkpoint: false` (a server that refuses to start on a broken chain signs nothing over it).
   */
  close(opts: { checkpoint?: boolean } = {}): void {
    if (!this.db.open) return;
    try {
      if (this.checkpointing && opts.checkpoint !== false && !this.db.readonly) this.checkpointAudit('shutdown');
    } finally {
      void this.walCheckpointer?.stop();
      this.walCheckpointer = undefined;
      this.db.close();
    }
  }

  /** An immediate (write-locking) transaction; nested calls join the outer one. */
  transaction<T>(fn: () => T): T {
    // Nested calls run in a savepoint: a failure rolls back only their own writes, and the outer work goes on.
    if (this.db.inTransaction) {
      try {
        return this.db.transaction(fn)();
      } catch (err) {
        this.forgetCaches(); // the savepoint's writes are gone; read again
        throw err;
      }
    }
    let out: T;
    try {
      out = this.db.transaction(fn).immediate();
    } catch (err) {
      this.committed.length = 0;
      this.forgetCaches();
      throw err;
    }
    const callbacks = this.committed.splice(0);
    for (const cb of callbacks) cb();
    return out;
  }

  private forgetCaches(): void {
    this.killSwitchCache = undefined;
    this.channelCache.clear();
    this.transitionsCache.clear();
    this.records.clear();
    this.activeIndex = undefined;
  }

  private activeNames(): Set<string> {
    this.activeIndex ??= new Set((this.stmts.listActive.all(...ACTIVE) as Array<{ name: string }>).map((r) => r.name));
    return this.activeIndex;
  }

  /** Runs fn once the outermost transaction in progress has committed (at once when none is). Dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.db.inTransaction) this.committed.push(fn);
    else fn();
  }

  // ------------------------------------------------------------------------------------------ rollouts

  insertRollout(input: Parameters<StateStore['insertRollout']>[0]): ReturnType<StateStore['insertRollout']> {
    return this.transaction(() => {
      const existing = this.getRollout(input.name);
      if (existing) return { status: existing.specHash === input.specHash ? ('unchanged' as const) : ('conflict' as const), record: existing };
      const at = this.now();
      const { seq } = this.stmts.nextSeq.get() as { seq: number };
      this.stmts.insertRollout.run(input.name, seq, input.channel, JSON.stringify(input.spec), input.specHash, input.policy, JSON.stringify(input.state), input.state.phase.kind, at, at);
      this.foundChannel(input.channel, input.spec.spec.previousVersion, input.name, at);
      if (!TERMINAL_PHASES.has(input.state.phase.kind)) this.activeIndex?.add(input.name);
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
    const hit = this.records.get(name);
    if (hit) {
      const v = this.stmts.rolloutRevision.get(name) as { revision: number; updated_at: string } | undefined;
      if (v && v.revision === hit.revision && v.updated_at === hit.updatedAt) return hit;
    }
    const row = this.stmts.getRollout.get(name) as RolloutRow | undefined;
    return row ? this.cached(row) : undefined;
  }

  /** The parsed record of a row, reusing the cached one while its revision is unchanged. */
  private cached(row: RolloutRow): RolloutRecord {
    const hit = this.records.get(row.name);
    if (hit && hit.revision === row.revision && hit.updatedAt === row.updated_at) return hit;
    const rec = toRecord(row);
    this.records.set(row.name, rec);
    return rec;
  }

  listRollouts(filter: { channel?: string; activeOnly?: boolean } = {}): RolloutRecord[] {
    if (filter.activeOnly) {
      // Names and revisions only (the phase index answers it); a row is read and parsed again only when it moved.
      const out: RolloutRecord[] = [];
      if (filter.channel === undefined) {
        for (const name of this.activeNames()) {
          const rec = this.records.get(name) ?? this.getRollout(name);
          if (rec) out.push(rec);
        }
        return out;
      }
      const light = this.stmts.listChannelActive.all(filter.channel, ...ACTIVE);
      for (const r of light as Array<{ name: string; revision: number }>) {
        const hit = this.records.get(r.name);
        const rec = hit && hit.revision === r.revision ? hit : this.getRollout(r.name);
        if (rec) out.push(rec);
      }
      return out;
    }
    let rows: RolloutRow[];
    if (filter.channel !== undefined) {
      rows = this.stmts.listChannel.all(filter.channel) as RolloutRow[];
    } else {
      rows = this.stmts.listAll.all() as RolloutRow[];
    }
    return rows.map((r) => this.cached(r));
  }

  commitDecision(input: DecisionCommit): { revision: number } {
    return this.transaction(() => {
      const at = this.now();
      const res = this.stmts.updateState.run(JSON.stringify(input.state), input.state.phase.kind, at, input.name, input.expectedRevision);
      if (res.changes !== 1) {
        throw new StoreConflictError(`rollout ${input.name}: revision ${input.expectedRevision} is stale`);
      }
      // Write through: the cache holds what was just written (a rollback drops every cache).
      const prev = this.records.get(input.name);
      if (prev && prev.revision === input.expectedRevision) this.records.set(input.name, { ...prev, state: input.state, revision: input.expectedRevision + 1, updatedAt: at });
      else this.records.delete(input.name);
      if (TERMINAL_PHASES.has(input.state.phase.kind)) this.activeIndex?.delete(input.name);
      else this.activeIndex?.add(input.name); // a retried rollout comes back from a final phase
      if (input.transitions.length > 0) this.transitionsCache.delete(input.name);
      for (const t of input.transitions) {
        this.stmts.insertTransition.run(input.name, t.n, t.at, t.from, t.to, t.exposedRing, t.reason, t.actor);
      }
      for (const a of input.audit) this.appendAudit(a);
      for (const a of input.actions) this.stmts.insertAction.run(a.key, input.name, a.kind, JSON.stringify(a.payload ?? null), at);
      for (const o of input.requestOutcomes) this.stmts.consumeRequest.run(at, o.applied ? 1 : 0, o.message, o.id);
      if (input.lineage && input.lineage.length > 0) this.applyLineage(input.name, input.lineage);
      return { revision: input.expectedRevision + 1 };
    });
  }

  // ------------------------------------------------------------------------------------------ channels

  getChannel(channel: string): ChannelRecord | undefined {
    const hit = this.channelCache.get(channel);
    if (hit !== undefined) return hit ?? undefined;
    const rec = this.readChannel(channel);
    this.channelCache.set(channel, rec ?? null);
    return rec;
  }

  private readChannel(channel: string): ChannelRecord | undefined {
    const r = this.stmts.getChannel.get(channel) as ChannelRow | undefined;
    if (!r) return undefined;
    const history = (this.stmts.channelHistory.all(channel) as HistoryRow[]).map((h) => ({
      version: h.version,
      event: h.event as ChannelRecord['history'][number]['event'],
      rollout: h.rollout,
      at: h.at,
      reason: h.reason,
    }));
    return {
      channel,
      stable: { version: r.stable_version, artifact: JSON.parse(r.stable_artifact_json) as ManifestArtifactRef | null, rollout: r.stable_rollout, since: r.stable_since },
      history,
    };
  }

  seedStableArtifact(channel: string, version: string, artifact: ManifestArtifactRef, rollout: string, actor: string): boolean {
    return this.transaction(() => {
      const rec = this.getChannel(channel);
      if (!rec || rec.stable.version !== version || rec.stable.artifact !== null) return false;
      this.channelCache.delete(channel);
      this.stmts.upsertChannel.run(channel, version, JSON.stringify(artifact), rec.stable.rollout, rec.stable.since);
      this.appendAudit(stableArtifactAudit(channel, version, artifact, rollout, actor));
      return true;
    });
  }

  lineage(channel: string): ChannelLineage | null {
    const rec = this.getChannel(channel);
    if (!rec) return null;
    return lineageOfRecord(rec);
  }

  /**
   * The first rollout on a channel founds its lineage: the channel runs the rollout's previousVersion (its
   * artifact is not known to the controller). Called in the transaction that inserts the rollout.
   */
  private foundChannel(channel: string, previousVersion: string | undefined, rollout: string, at: string): void {
    if (previousVersion === undefined || this.stmts.getChannel.get(channel) !== undefined) return;
    this.channelCache.delete(channel);
    this.stmts.upsertChannel.run(channel, previousVersion, 'null', null, at);
    this.stmts.insertHistory.run(channel, previousVersion, 'initial', rollout, at, `previousVersion of the first rollout, ${rollout}`);
  }

  private applyLineage(name: string, events: NonNullable<DecisionCommit['lineage']>): void {
    const rec = this.getRollout(name);
    if (!rec) return;
    this.channelCache.delete(rec.channel);
    const spec = rec.spec.spec;
    for (const e of events) {
      if (e.event === 'stable') {
        const artifact: ManifestArtifactRef = { url: spec.artifact.url, sha256: spec.artifact.sha256 };
        if (spec.artifact.signature !== undefined) artifact.signature = spec.artifact.signature;
        this.stmts.upsertChannel.run(rec.channel, e.version, JSON.stringify(artifact), name, e.at);
      }
      this.stmts.insertHistory.run(rec.channel, e.version, e.event, name, e.at, e.reason);
    }
  }

  /**
   * Databases written before channel lineage existed (schema 1): each channel's stable version is its last
   * succeeded rollout's version, or its first rollout's previousVersion; rolled-back versions are withdrawn.
   */
  private backfillLineage(): void {
    const channels = this.db.prepare('SELECT DISTINCT channel FROM rollouts WHERE channel NOT IN (SELECT channel FROM channels)').all() as Array<{ channel: string }>;
    if (channels.length === 0) return;
    this.transaction(() => {
      for (const { channel } of channels) {
        const rows = (this.stmts.listChannel.all(channel) as RolloutRow[]).map(toRecord);
        const first = rows[0];
        if (first?.spec.spec.previousVersion !== undefined) this.foundChannel(channel, first.spec.spec.previousVersion, first.name, first.createdAt);
        const done = rows.filter((r) => TERMINAL_PHASES.has(r.state.phase.kind)).sort((a, b) => (a.updatedAt < b.updatedAt ? -1 : a.updatedAt > b.updatedAt ? 1 : a.seq - b.seq));
        for (const r of done) {
          const ts = this.listTransitions(r.name);
          const last = ts[ts.length - 1];
          if (!last) continue;
          // The engine says what the final transition meant for the channel, as it does for live commits.
          const events = lineageEvents(r.spec.spec.version, [last]).map((e) => ({ ...e, reason: `${e.reason} (backfilled)` }));
          if (events.length > 0) this.applyLineage(r.name, events);
        }
      }
    });
  }

  listTransitions(name: string): Transition[] {
    const hit = this.transitionsCache.get(name);
    if (hit !== undefined) return hit.map((t) => ({ ...t }));
    const ts = (
      this.stmts.listTransitions.all(name) as Array<{ n: number; at: string; from_phase: string; to_phase: string; exposed_ring: number; reason: string; actor: string }>
    ).map((r) => ({ n: r.n, at: r.at, from: r.from_phase, to: r.to_phase, exposedRing: r.exposed_ring, reason: r.reason, actor: r.actor }) as Transition);
    this.transitionsCache.set(name, ts.map((t) => ({ ...t })));
    return ts;
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

  getRequest(id: number): RequestRecord | undefined {
    const r = this.stmts.getRequest.get(id) as
      | { id: number; rollout: string; verb: RequestVerb; actor: string; reason: string; consumed_at: string | null; applied: number | null; outcome_message: string | null }
      | undefined;
    if (!r) return undefined;
    return { id: r.id, rollout: r.rollout, verb: r.verb, actor: r.actor, reason: r.reason, consumedAt: r.consumed_at, applied: r.applied === null ? null : r.applied === 1, message: r.outcome_message };
  }

  /**
   * Archives a rollout (`ringctl delete`): the row, its transitions and its audit entries stay; lists leave it out
   * unless asked. Whether it may be archived is the engine's call (engine/archive.ts); this only records it, audited.
   * False when it was archived already.
   */
  archiveRollout(name: string, actor: string, reason: string): boolean {
    return this.transaction(() => {
      const at = this.now();
      const changed = this.stmts.archive.run(at, name).changes === 1;
      if (!changed) return false;
      this.records.delete(name);
      this.afterCommit(() => this.records.delete(name));
      const rec = this.getRollout(name);
      this.appendAudit({ actor, action: 'rollout.archive', target: name, reason, payload: { phase: rec?.state.phase.kind ?? null, channel: rec?.channel ?? null } });
      return true;
    });
  }

  // ------------------------------------------------------------------------------------------ policies (API-applied)

  /** Policies applied through the API, by name (they win over files of the same name: runtime/policies.ts). */
  listStoredPolicies(): StoredPolicy[] {
    return (this.stmts.listPolicies.all() as PolicyRow[]).map(toStoredPolicy);
  }

  /** Stores (or replaces) an API-applied policy, audited; 'unchanged' when the same spec is stored already. */
  putPolicy(input: { name: string; spec: PolicySpec; specHash: string; actor: string; reason: string }): { status: 'created' | 'configured' | 'unchanged'; policy: StoredPolicy } {
    return this.transaction(() => {
      const prev = this.stmts.getPolicy.get(input.name) as PolicyRow | undefined;
      if (prev && prev.spec_hash === input.specHash) return { status: 'unchanged' as const, policy: toStoredPolicy(prev) };
      const at = this.now();
      this.stmts.upsertPolicy.run(input.name, JSON.stringify(input.spec), input.specHash, input.actor, at, at);
      this.appendAudit({
        actor: input.actor,
        action: 'policy.apply',
        target: `policy/${input.name}`,
        reason: input.reason,
        payload: { specHash: input.specHash, previousSpecHash: prev?.spec_hash ?? null },
      });
      return { status: prev ? ('configured' as const) : ('created' as const), policy: toStoredPolicy(this.stmts.getPolicy.get(input.name) as PolicyRow) };
    });
  }

  /** Removes an API-applied policy (the file of that name, if any, is in force again), audited. False when none. */
  deleteStoredPolicy(name: string, actor: string, reason: string): boolean {
    return this.transaction(() => {
      const prev = this.stmts.getPolicy.get(name) as PolicyRow | undefined;
      if (!prev) return false;
      this.stmts.deletePolicy.run(name);
      this.appendAudit({ actor, action: 'policy.delete', target: `policy/${name}`, reason, payload: { specHash: prev.spec_hash } });
      return true;
    });
  }

  // ------------------------------------------------------------------------------------------ kill switch

  /** Who applied a rollout: the actor of its rollout.create audit entry (the chain is append-only). */
  applierOf(name: string): string | undefined {
    const r = this.stmts.applierOf.get(name) as { actor: string } | undefined;
    return r?.actor;
  }

  getKillSwitch(): KillSwitchState {
    this.killSwitchCache ??= this.readKillSwitch();
    return this.killSwitchCache;
  }

  private readKillSwitch(): KillSwitchState {
    const r = this.stmts.getKill.get() as { engaged: number; mode: 'freeze' | 'rollback'; reason: string; actor: string; since: string | null } | undefined;
    if (!r) return { engaged: false, mode: 'freeze', reason: '', actor: '', since: null };
    return { engaged: r.engaged === 1, mode: r.mode, reason: r.reason, actor: r.actor, since: r.since };
  }

  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): KillSwitchState {
    return this.transaction(() => {
      const at = this.now();
      const prev = this.readKillSwitch();
      const since = next.engaged ? (prev.engaged && prev.mode === next.mode ? prev.since : at) : null;
      this.stmts.upsertKill.run(next.engaged ? 1 : 0, next.mode, next.reason, actor, since, at);
      this.killSwitchCache = undefined;
      // A rolled-back transaction must not leave the cache ahead of the file.
      this.afterCommit(() => (this.killSwitchCache = undefined));
      this.appendAudit({
        actor,
        action: next.engaged ? 'killswitch.engage' : 'killswitch.disengage',
        target: 'killswitch',
        reason: next.reason,
        payload: { engaged: next.engaged, mode: next.mode, previous: { engaged: prev.engaged, mode: prev.mode } },
      });
      return this.readKillSwitch();
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
    return (this.stmts.allChannels.all() as Array<{ channel: string }>).map((r) => r.channel);
  }

  /**
   * Publishes a new revision of a channel's manifest when its content changed. Revisions strictly increase
   * and are never reused, even after old revisions are pruned (manifest_heads keeps the high-water mark).
   */
  publishManifest(
    channel: string,
    build: (revision: number) => { body: Buffer; signature: string; contentHash: string },
    actor = 'controller',
    opts: { reissue?: string } = {},
  ): { manifest: StoredManifest; changed: boolean } {
    return this.transaction(() => {
      const latest = this.latestManifest(channel);
      const head = (this.stmts.head.get(channel) as { revision: number } | undefined)?.revision ?? 0;
      const revision = head + 1;
      const built = build(revision);
      if (latest && latest.contentHash === built.contentHash && opts.reissue === undefined) return { manifest: latest, changed: false };
      const at = this.now();
      this.stmts.insertManifest.run(channel, revision, built.body, built.signature, built.contentHash, at);
      this.stmts.upsertHead.run(channel, revision);
      this.stmts.pruneManifests.run(channel, revision - KEEP_MANIFEST_REVISIONS);
      const reason = opts.reissue === undefined ? `revision ${revision}` : `revision ${revision} (re-issued: ${opts.reissue})`;
      this.appendAudit({ actor, action: 'manifest.publish', target: `channel/${channel}`, reason, payload: { channel, revision, contentHash: built.contentHash } });
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

  private checkpointing: AuditCheckpointing | undefined;
  private auditStatements: ReturnType<Store['prepareAudit']> | undefined;

  private get auditStmts(): ReturnType<Store['prepareAudit']> {
    this.auditStatements ??= this.prepareAudit();
    return this.auditStatements;
  }

  private prepareAudit() {
    const db = this.db;
    return {
      lastCheckpoint: db.prepare('SELECT * FROM audit_checkpoints ORDER BY id DESC LIMIT 1'),
      checkpointsAfter: db.prepare('SELECT * FROM audit_checkpoints WHERE id > ? ORDER BY id LIMIT 1000'),
      listCheckpoints: db.prepare('SELECT * FROM audit_checkpoints ORDER BY id'),
      insertCheckpoint: db.prepare('INSERT INTO audit_checkpoints (seq, hash, at, reason, key_id, signature) VALUES (?, ?, ?, ?, ?, ?)'),
      head: db.prepare('SELECT id, hash, at FROM audit ORDER BY id DESC LIMIT 1'),
      // Raw rows: the full verify of 100k entries spends its time hashing, not building row objects.
      iterRaw: db.prepare('SELECT id, at, actor, action, target, reason, payload_json, prev_hash, hash FROM audit ORDER BY id').raw(true),
    };
  }

  /** Appends an entry to the hash chain; signs a checkpoint when CHECKPOINT_EVERY entries passed since the last. */
  appendAudit(entry: AuditInput): AuditEntry {
    // The hash must cover exactly what SQLite will give back: a lone surrogate would come back as U+FFFD.
    for (const f of ['actor', 'action', 'target', 'reason'] as const) assertWellFormed(entry[f], `audit ${f}`);
    assertWellFormedDeep(entry.payload ?? null, 'audit payload');
    return this.transaction(() => {
      const last = this.stmts.lastAudit.get() as { id: number; hash: string } | undefined;
      const id = (last?.id ?? 0) + 1;
      const prevHash = last?.hash ?? GENESIS_HASH;
      const at = this.now();
      const payload = entry.payload ?? null;
      const hash = auditHash({ id, at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason, payload, prevHash });
      this.stmts.insertAudit.run(id, at, entry.actor, entry.action, entry.target, entry.reason, JSON.stringify(payload), prevHash, hash);
      const cp = this.checkpointing;
      if (cp && id - (this.lastAuditCheckpoint()?.seq ?? 0) >= cp.every) this.insertCheckpoint(id, hash, `every ${cp.every}`);
      return { id, at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason, payload, prevHash, hash };
    });
  }

  listAudit(opts: { afterId?: number; limit?: number; target?: string } = {}): AuditEntry[] {
    const after = opts.afterId ?? 0;
    const limit = Math.max(1, Math.min(opts.limit ?? 100, 10_000));
    const rows = (opts.target === undefined ? this.stmts.listAudit.all(after, limit) : this.stmts.listAuditTarget.all(after, opts.target, limit)) as AuditRow[];
    return rows.map(fromAuditRow);
  }

  /** The last entry of the chain, or null when the log is empty. */
  auditHead(): { seq: number; hash: string; at: string } | null {
    const r = this.auditStmts.head.get() as { id: number; hash: string; at: string } | undefined;
    return r ? { seq: r.id, hash: r.hash, at: r.at } : null;
  }

  /** The audit public key the store signs with, if it signs. */
  auditKey(): AuditKeyInfo | undefined {
    return this.checkpointing?.signer.info();
  }

  listAuditCheckpoints(): AuditCheckpoint[] {
    return (this.auditStmts.listCheckpoints.all() as CheckpointRow[]).map(fromCheckpointRow);
  }

  /** Checkpoints stored after row `afterRow` (their table position), for whoever publishes them as they come. */
  auditCheckpointsAfter(afterRow: number): Array<{ row: number; checkpoint: AuditCheckpoint }> {
    return (this.auditStmts.checkpointsAfter.all(afterRow) as CheckpointRow[]).map((r) => ({ row: r.id, checkpoint: fromCheckpointRow(r) }));
  }

  /** The table position of the last checkpoint (0: none). */
  lastAuditCheckpointRow(): number {
    return (this.auditStmts.lastCheckpoint.get() as CheckpointRow | undefined)?.id ?? 0;
  }

  lastAuditCheckpoint(): AuditCheckpoint | undefined {
    const r = this.auditStmts.lastCheckpoint.get() as CheckpointRow | undefined;
    return r ? fromCheckpointRow(r) : undefined;
  }

  /** Signs a checkpoint of the head now, unless the last checkpoint already covers it. Needs a signer. */
  checkpointAudit(reason: string): AuditCheckpoint | undefined {
    if (!this.checkpointing) throw new Error('checkpointAudit: this store has no audit signer');
    return this.transaction(() => {
      const head = this.auditHead();
      const last = this.lastAuditCheckpoint();
      if (!head || (last && last.seq === head.seq && last.hash === head.hash)) return undefined;
      return this.insertCheckpoint(head.seq, head.hash, reason);
    });
  }

  private insertCheckpoint(seq: number, hash: string, reason: string): AuditCheckpoint {
    const signer = (this.checkpointing as AuditCheckpointing).signer;
    const cp = signer.sign({ seq, hash, at: this.now(), reason });
    this.auditStmts.insertCheckpoint.run(cp.seq, cp.hash, cp.at, cp.reason, cp.keyId, cp.signature);
    return cp;
  }

  /**
   * Records breaks an operator accepted (`ringmaster serve --accept-broken-audit`): an `audit.break-accepted`
   * entry whose payload is signed with the audit key, then a checkpoint over it. Needs a signer.
   */
  acceptAuditBreaks(input: { actor: string; reason: string; breaks: Array<{ kind: string; at: number; key: string; message: string }>; head: { seq: number; hash: string } | null }): AuditEntry {
    const signer = this.checkpointing?.signer;
    if (!signer) throw new Error('acceptAuditBreaks: this store has no audit signer');
    return this.transaction(() => {
      const accepts = input.breaks.map((b) => b.key);
      const signature = signer.signAcceptance({ actor: input.actor, reason: input.reason, accepts, head: input.head });
      const entry = this.appendAudit({
        actor: input.actor,
        action: BREAK_ACCEPTED_ACTION,
        target: 'audit',
        reason: input.reason,
        payload: { accepts, head: input.head, breaks: input.breaks.map((b) => ({ kind: b.kind, at: b.at, message: b.message })), keyId: signer.keyId, signature },
      });
      this.checkpointAudit('break-accepted');
      return entry;
    });
  }

  /** What `ringctl audit export` stores off the box: the key, the head and every signed checkpoint. */
  auditExport(): { key: AuditKeyInfo | null; head: { seq: number; hash: string; at: string } | null; checkpoints: AuditCheckpoint[] } {
    return this.transaction(() => ({ key: this.auditKey() ?? null, head: this.auditHead(), checkpoints: this.listAuditCheckpoints() }));
  }

  /**
   * The full verify: every entry re-hashed, every checkpoint's signature checked against the store's audit key
   * (or `key`), every anchor compared (audit-verify.ts). Reads the log in one pass.
   */
  verifyAuditLog(opts: { anchors?: readonly AuditAnchor[]; key?: AuditPublicKey } = {}): AuditVerdict {
    const signer = this.checkpointing?.signer;
    const key = opts.key ?? (signer ? { keyId: signer.keyId, key: signer.publicKey } : undefined);
    const v = new AuditLogVerifier({ checkpoints: this.listAuditCheckpoints(), key, anchors: opts.anchors ?? [] });
    for (const r of this.auditStmts.iterRaw.iterate() as IterableIterator<[number, string, string, string, string, string, string, string, string]>) {
      v.add({ id: r[0], at: r[1], actor: r[2], action: r[3], target: r[4], reason: r[5], payload: JSON.parse(r[6]) as unknown, prevHash: r[7], hash: r[8] });
    }
    return v.finish();
  }

  /** verifyAuditLog in the shape GET /v1/audit/verify has always answered. */
  verifyAudit(): AuditChainResult {
    const v = this.verifyAuditLog();
    const first = v.breaks[0];
    if (v.ok || !first) return { ok: true, entries: v.entries, head: v.head?.hash ?? GENESIS_HASH };
    return { ok: false, entries: v.entries, brokenAt: first.at, message: describeVerdict(v) };
  }
}

/** Signing with DATA_DIR/audit.key when it exists beside the database (see Store.open). */
function defaultCheckpointing(file: string): AuditCheckpointing | undefined {
  const signer = loadAuditSigner(path.dirname(path.resolve(file)));
  return signer ? { signer, every: checkpointEveryFromEnv() } : undefined;
}

interface CheckpointRow {
  id: number;
  seq: number;
  hash: string;
  at: string;
  reason: string;
  key_id: string;
  signature: string;
}

function fromCheckpointRow(r: CheckpointRow): AuditCheckpoint {
  return { seq: r.seq, hash: r.hash, at: r.at, reason: r.reason, keyId: r.key_id, signature: r.signature };
}

interface ChannelRow {
  channel: string;
  stable_version: string;
  stable_artifact_json: string;
  stable_rollout: string | null;
  stable_since: string;
}

interface HistoryRow {
  id: number;
  channel: string;
  version: string;
  event: string;
  rollout: string | null;
  at: string;
  reason: string;
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
