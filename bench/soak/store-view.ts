/**
 * What the soak reads straight from the store: the SQLite file, opened read-only with better-sqlite3 (a
 * second connection next to the running server, as WAL allows). It reads what users rely on (rollouts and
 * their phases, transitions, the audit log) and can dump every table for a before/after comparison.
 */
import Database from 'better-sqlite3';

export interface TransitionRow {
  rollout: string;
  n: number;
  at: string;
  from: string;
  to: string;
  exposedRing: number;
  reason: string;
  actor: string;
}

export interface AuditRow {
  id: number;
  actor: string;
  action: string;
  target: string;
  reason: string;
  hash: string;
}

export interface StoreView {
  /** name -> phase kind */
  phases: Map<string, string>;
  transitions: Map<string, TransitionRow[]>;
  audit: AuditRow[];
  killSwitch: { engaged: boolean; mode: string } | null;
}

function open(file: string): Database.Database {
  return new Database(file, { readonly: true, fileMustExist: true });
}

export function readStore(file: string): StoreView {
  const db = open(file);
  try {
    return db.transaction(() => {
      const phases = new Map<string, string>();
      for (const r of db.prepare('SELECT name, phase FROM rollouts ORDER BY seq').all() as Array<{ name: string; phase: string }>) phases.set(r.name, r.phase);
      const transitions = new Map<string, TransitionRow[]>();
      const rows = db
        .prepare('SELECT rollout, n, at, from_phase, to_phase, exposed_ring, reason, actor FROM transitions ORDER BY rollout, n')
        .all() as Array<{ rollout: string; n: number; at: string; from_phase: string; to_phase: string; exposed_ring: number; reason: string; actor: string }>;
      for (const r of rows) {
        const list = transitions.get(r.rollout) ?? [];
        list.push({ rollout: r.rollout, n: r.n, at: r.at, from: r.from_phase, to: r.to_phase, exposedRing: r.exposed_ring, reason: r.reason, actor: r.actor });
        transitions.set(r.rollout, list);
      }
      const audit = db.prepare('SELECT id, actor, action, target, reason, hash FROM audit ORDER BY id').all() as AuditRow[];
      const ks = db.prepare('SELECT engaged, mode FROM kill_switch WHERE id = 1').get() as { engaged: number; mode: string } | undefined;
      return { phases, transitions, audit, killSwitch: ks ? { engaged: ks.engaged === 1, mode: ks.mode } : null };
    })();
  } finally {
    db.close();
  }
}

/** Each rollout's name and phase kind, in creation order (cheap: what the soak's operator looks at). */
export function readPhases(file: string): Array<{ name: string; phase: string }> {
  const db = open(file);
  try {
    return db.prepare('SELECT name, phase FROM rollouts ORDER BY seq').all() as Array<{ name: string; phase: string }>;
  } finally {
    db.close();
  }
}

/** Every row of every table (in one read transaction), as comparable text per table. */
export function dumpTables(file: string): Record<string, string[]> {
  const db = open(file);
  try {
    return db.transaction(() => {
      const out: Record<string, string[]> = {};
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>;
      for (const { name } of tables) {
        const rows = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all() as Array<Record<string, unknown>>;
        out[name] = rows
          .map((r) => JSON.stringify(r, (_k, v: unknown) => (Buffer.isBuffer(v) ? `blob:${v.toString('base64')}` : typeof v === 'bigint' ? v.toString() : v)))
          .sort();
      }
      return out;
    })();
  } finally {
    db.close();
  }
}

/** How two table dumps differ: one line per table that changed (rows only before, only after). */
export function diffTables(before: Record<string, string[]>, after: Record<string, string[]>): string[] {
  const out: string[] = [];
  for (const table of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const b = new Set(before[table] ?? []);
    const a = new Set(after[table] ?? []);
    const gone = [...b].filter((r) => !a.has(r));
    const added = [...a].filter((r) => !b.has(r));
    if (gone.length === 0 && added.length === 0) continue;
    const sample = (added[0] ?? gone[0] ?? '').slice(0, 300);
    out.push(`${table}: ${added.length} row(s) added, ${gone.length} row(s) gone or changed; e.g. ${sample}`);
  }
  return out;
}
