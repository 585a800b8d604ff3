/**
 * The notification outbox: a table of its own in the SQLite file (migration 4), kept out of StateStore so that the
 * operator's store (operator/cluster-store.ts) needs none. One row per event and sink. Rows are written in the
 * transaction in progress (the decision's or the kill switch's), so an event exists iff its transition committed.
 */
import type Database from 'better-sqlite3';
import type { NotificationEvent } from '../engine/events';

export type NotificationStatus = 'pending' | 'delivered' | 'dead';

export interface NotificationRow {
  eventId: string;
  sink: string;
  type: string;
  event: NotificationEvent;
  createdAt: string;
  status: NotificationStatus;
  attempts: number;
  /** Unix ms of the next attempt. */
  nextAt: number;
  lastError: string | null;
  doneAt: string | null;
}

export interface NotificationOutbox {
  /** Adds one row per (event, sink); a row that exists already is left as it is (the id is the idempotency key). */
  enqueue(items: ReadonlyArray<{ sink: string; event: NotificationEvent }>, nowMs: number): void;
  /** Pending rows due at nowMs, oldest first. */
  due(nowMs: number, limit: number): NotificationRow[];
  markDelivered(eventId: string, sink: string, at: string): void;
  /** One more failed attempt: retried at nextAt, or dead when `dead`. */
  markFailed(eventId: string, sink: string, error: string, next: { dead: true; at: string } | { dead: false; nextAt: number }): void;
  list(filter?: { status?: NotificationStatus; limit?: number }): NotificationRow[];
  pendingCounts(): Map<string, number>;
  /** The earliest next attempt of a pending row (unix ms); null when none is pending. */
  nextDue(): number | null;
}

interface Raw {
  event_id: string;
  sink: string;
  type: string;
  event_json: string;
  created_at: string;
  status: NotificationStatus;
  attempts: number;
  next_at: number;
  last_error: string | null;
  done_at: string | null;
}

export class SqliteNotificationOutbox implements NotificationOutbox {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      insert: db.prepare('INSERT OR IGNORE INTO notifications (event_id, sink, type, event_json, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?)'),
      due: db.prepare("SELECT * FROM notifications WHERE status = 'pending' AND next_at <= ? ORDER BY next_at, created_at, event_id LIMIT ?"),
      delivered: db.prepare("UPDATE notifications SET status = 'delivered', attempts = attempts + 1, done_at = ?, last_error = NULL WHERE event_id = ? AND sink = ? AND status = 'pending'"),
      retry: db.prepare("UPDATE notifications SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE event_id = ? AND sink = ? AND status = 'pending'"),
      dead: db.prepare("UPDATE notifications SET status = 'dead', attempts = attempts + 1, done_at = ?, last_error = ? WHERE event_id = ? AND sink = ? AND status = 'pending'"),
      listAll: db.prepare('SELECT * FROM notifications ORDER BY created_at, event_id, sink LIMIT ?'),
      listStatus: db.prepare('SELECT * FROM notifications WHERE status = ? ORDER BY created_at, event_id, sink LIMIT ?'),
      pending: db.prepare("SELECT sink, COUNT(*) n FROM notifications WHERE status = 'pending' GROUP BY sink"),
      nextDue: db.prepare("SELECT MIN(next_at) t FROM notifications WHERE status = 'pending'"),
    };
  }

  enqueue(items: ReadonlyArray<{ sink: string; event: NotificationEvent }>, nowMs: number): void {
    if (items.length === 0) return;
    const created = new Date(nowMs).toISOString();
    // Joins the transaction in progress (a savepoint), or is one of its own.
    this.db.transaction(() => {
      for (const { sink, event } of items) this.s.insert.run(event.id, sink, event.type, JSON.stringify(event), created, nowMs);
    })();
  }

  due(nowMs: number, limit: number): NotificationRow[] {
    return (this.s.due.all(nowMs, limit) as Raw[]).map(toRow);
  }

  markDelivered(eventId: string, sink: string, at: string): void {
    this.s.delivered.run(at, eventId, sink);
  }

  markFailed(eventId: string, sink: string, error: string, next: { dead: true; at: string } | { dead: false; nextAt: number }): void {
    if (next.dead) this.s.dead.run(next.at, error, eventId, sink);
    else this.s.retry.run(next.nextAt, error, eventId, sink);
  }

  list(filter: { status?: NotificationStatus; limit?: number } = {}): NotificationRow[] {
    const limit = filter.limit ?? 1000;
    const rows = filter.status ? this.s.listStatus.all(filter.status, limit) : this.s.listAll.all(limit);
    return (rows as Raw[]).map(toRow);
  }

  pendingCounts(): Map<string, number> {
    return new Map((this.s.pending.all() as Array<{ sink: string; n: number }>).map((r) => [r.sink, r.n]));
  }

  nextDue(): number | null {
    return (this.s.nextDue.get() as { t: number | null }).t;
  }
}

function toRow(r: Raw): NotificationRow {
  return {
    eventId: r.event_id,
    sink: r.sink,
    type: r.type,
    event: JSON.parse(r.event_json) as NotificationEvent,
    createdAt: r.created_at,
    status: r.status,
    attempts: r.attempts,
    nextAt: r.next_at,
    lastError: r.last_error,
    doneAt: r.done_at,
  };
}
