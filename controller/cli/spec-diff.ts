/**
 * What differs between two documents, field by field (pure; `ringctl diff`): one line per changed leaf, with its
 * path as the loader names fields (`spec.rings[1].bake`). Arrays are compared by position.
 */
export interface FieldChange {
  path: string;
  kind: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

export function diffValues(before: unknown, after: unknown, base = ''): FieldChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => {
      if (!(k in after)) return [{ path: join(base, k), kind: 'removed' as const, before: before[k] }];
      if (!(k in before)) return [{ path: join(base, k), kind: 'added' as const, after: after[k] }];
      return diffValues(before[k], after[k], join(base, k));
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const out: FieldChange[] = [];
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      if (i >= after.length) out.push({ path: join(base, i), kind: 'removed', before: before[i] });
      else if (i >= before.length) out.push({ path: join(base, i), kind: 'added', after: after[i] });
      else out.push(...diffValues(before[i], after[i], join(base, i)));
    }
    return out;
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [{ path: base, kind: 'changed', before, after }];
}

function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? 'null';
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** `  ~ spec.version: "1.0.1" -> "1.0.2"`, `  + spec.rings[3]: {...}`, `  - spec.rollback: {...}`. */
export function renderChanges(changes: readonly FieldChange[]): string[] {
  return changes.map((c) => {
    if (c.kind === 'added') return `  + ${c.path}: ${shown(c.after)}`;
    if (c.kind === 'removed') return `  - ${c.path}: ${shown(c.before)}`;
    return `  ~ ${c.path}: ${shown(c.before)} -> ${shown(c.after)}`;
  });
}
