/** Versioned schema migrations, applied in order, each in its own transaction, recorded in schema_migrations. */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE rollouts (
        name TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        channel TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        spec_hash TEXT NOT NULL,
        policy TEXT NOT NULL,
        state_json TEXT NOT NULL,
        phase TEXT NOT NULL,
        revision INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX rollouts_channel ON rollouts(channel, seq);
      CREATE TABLE transitions (
        rollout TEXT NOT NULL REFERENCES rollouts(name),
        n INTEGER NOT NULL,
        at TEXT NOT NULL,
        from_phase TEXT NOT NULL,
        to_phase TEXT NOT NULL,
        exposed_ring INTEGER NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY (rollout, n)
      );
      CREATE TABLE requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout TEXT NOT NULL REFERENCES rollouts(name),
        verb TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL,
        consumed_at TEXT,
        applied INTEGER,
        outcome_message TEXT
      );
      CREATE INDEX requests_pending ON requests(rollout, consumed_at);
      CREATE TABLE kill_switch (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        engaged INTEGER NOT NULL,
        mode TEXT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        since TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE manifests (
        channel TEXT NOT NULL,
        revision INTEGER NOT NULL,
        body BLOB NOT NULL,
        signature TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        published_at TEXT NOT NULL,
        PRIMARY KEY (channel, revision)
      );
      CREATE TABLE manifest_heads (
        channel TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
      );
      CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        rollout TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        done_at TEXT
      );
      CREATE INDEX outbox_pending ON outbox(done_at);
      CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    name: 'channel-lineage',
    sql: `
      CREATE TABLE channels (
        channel TEXT PRIMARY KEY,
        stable_version TEXT NOT NULL,
        stable_artifact_json TEXT NOT NULL,
        stable_rollout TEXT,
        stable_since TEXT NOT NULL
      );
      CREATE TABLE channel_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        version TEXT NOT NULL,
        event TEXT NOT NULL,
        rollout TEXT,
        at TEXT NOT NULL,
        reason TEXT NOT NULL
      );
      CREATE INDEX channel_history_channel ON channel_history(channel, id);
      CREATE INDEX rollouts_phase ON rollouts(phase, seq);
    `,
  },
  {
    version: 3,
    name: 'audit-checkpoints',
    // Signed checkpoints of the audit chain head (store/audit-key.ts). seq is not unique: after an accepted
    // truncation, a later checkpoint may sign a new entry with the same id. Append-only, like the audit table.
    sql: `
      CREATE TABLE audit_checkpoints (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        at TEXT NOT NULL,
        reason TEXT NOT NULL,
        key_id TEXT NOT NULL,
        signature TEXT NOT NULL
      );
      CREATE INDEX audit_checkpoints_seq ON audit_checkpoints(seq);
      CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
      CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
    `,
  },
  {
    version: 4,
    name: 'notifications',
    // The notification outbox (store/notifications.ts): one row per event and sink, written in the transaction that
    // commits the event's transition; the dispatcher (notify/dispatcher.ts) delivers it and marks it delivered or dead.
    sql: `
      CREATE TABLE notifications (
        event_id TEXT NOT NULL,
        sink TEXT NOT NULL,
        type TEXT NOT NULL,
        event_json TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        last_error TEXT,
        done_at TEXT,
        PRIMARY KEY (event_id, sink)
      );
      CREATE INDEX notifications_due ON notifications(status, next_at);
    `,
  },
  {
    version: 5,
    name: 'policies-and-archive',
    // Policies applied through the API (POST /v1/policies, role admin): they survive restarts and win over a file of
    // the same name in --policies (docs/policies.md#reload). archived_at: `ringctl delete` of a terminal rollout; the
    // row, its transitions and its audit entries stay, lists leave it out unless asked.
    sql: `
      CREATE TABLE policies (
        name TEXT PRIMARY KEY,
        spec_json TEXT NOT NULL,
        spec_hash TEXT NOT NULL,
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      ALTER TABLE rollouts ADD COLUMN archived_at TEXT;
    `,
  },
];
