/**
 * The policies in force: Policy documents from the --policies directory (YAML, through the same loader as
 * `ringctl validate`) and Policies applied through the API (stored in SQLite, role admin).
 *
 * Precedence (docs/policies.md#reload): an API-applied policy wins over a file of the same name, whenever the
 * directory is read (start, SIGHUP). An emergency freeze applied with `ringctl apply -f` therefore survives a restart
 * and a reload of an unchanged directory; `ringctl delete policy/NAME` removes the API copy and the file is in force
 * again.
 *
 * The live map is one object, shared by reference with the fact source, the publisher and the pre-flight runner:
 * a reload replaces its entries in place, so every part sees the new policies from its next read (the next tick).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatSpecError, InputError } from '../spec/errors';
import { loadFiles } from '../spec/load';
import type { PolicySpec } from '../spec/types';
import type { StoredPolicy } from '../store/types';

export interface FilePolicy {
  spec: PolicySpec;
  file: string;
}

/** A policy as GET /v1/policies shows it. */
export interface PolicyView {
  name: string;
  /** Where the one in force comes from. */
  source: 'file' | 'api';
  /** The file it was read from (source file), or the file it overrides (source api), if any. */
  file: string | null;
  /** API-applied: who applied it, and when. */
  appliedBy: string | null;
  appliedAt: string | null;
  spec: PolicySpec;
}

/** Every Policy document in `dir` (*.yaml, *.yml), by metadata.name. */
export function loadPolicies(dir: string): Map<string, PolicySpec> {
  return new Map([...loadPolicyFiles(dir)].map(([name, p]) => [name, p.spec]));
}

/** Every Policy document in `dir`, by name, with the file each came from; a problem anywhere is an InputError. */
export function loadPolicyFiles(dir: string): Map<string, FilePolicy> {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new InputError([`${dir}: cannot read policies directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const { docs, errors } = loadFiles(entries.map((f) => path.join(dir, f)));
  if (errors.length > 0) throw new InputError(errors.map(formatSpecError));
  const out = new Map<string, FilePolicy>();
  for (const d of docs) {
    if (d.kind !== 'Policy') continue;
    if (out.has(d.doc.metadata.name)) throw new InputError([`${d.file}: policy "${d.doc.metadata.name}" is defined twice in ${dir}`]);
    out.set(d.doc.metadata.name, { spec: d.doc.spec, file: d.file });
  }
  return out;
}

export class PolicySet {
  /** What the runtime reads: files, then API-applied policies over them. */
  readonly live = new Map<string, PolicySpec>();
  private files: Map<string, FilePolicy>;
  private api: Map<string, StoredPolicy>;

  constructor(
    files: ReadonlyMap<string, FilePolicy>,
    api: readonly StoredPolicy[],
    /** The --policies directory SIGHUP re-reads; undefined when the policies were given in-process (tests, simulator). */
    readonly dir: string | undefined,
  ) {
    this.files = new Map(files);
    this.api = new Map(api.map((p) => [p.name, p]));
    this.rebuild();
  }

  /** The names a set would have with these files (or API policies) in place of the current ones. */
  namesWith(change: { files?: ReadonlyMap<string, FilePolicy>; put?: string; remove?: string }): Set<string> {
    const names = new Set([...(change.files ?? this.files).keys(), ...this.api.keys()]);
    if (change.put !== undefined) names.add(change.put);
    if (change.remove !== undefined && !this.files.has(change.remove)) names.delete(change.remove);
    return names;
  }

  replaceFiles(files: ReadonlyMap<string, FilePolicy>): void {
    this.files = new Map(files);
    this.rebuild();
  }

  putApi(p: StoredPolicy): void {
    this.api.set(p.name, p);
    this.rebuild();
  }

  removeApi(name: string): void {
    this.api.delete(name);
    this.rebuild();
  }

  /** The policies read from the directory (whether an API copy overrides them or not). */
  fileSpecs(): ReadonlyMap<string, FilePolicy> {
    return this.files;
  }

  hasApi(name: string): boolean {
    return this.api.has(name);
  }

  /** The policies in force, by name. */
  views(): PolicyView[] {
    const names = [...new Set([...this.files.keys(), ...this.api.keys()])].sort();
    return names.map((name) => {
      const f = this.files.get(name);
      const a = this.api.get(name);
      if (a) return { name, source: 'api', file: f?.file ?? null, appliedBy: a.actor, appliedAt: a.updatedAt, spec: a.spec };
      const file = f as FilePolicy;
      return { name, source: 'file', file: file.file, appliedBy: null, appliedAt: null, spec: file.spec };
    });
  }

  private rebuild(): void {
    const next = new Map<string, PolicySpec>();
    for (const [name, f] of this.files) next.set(name, f.spec);
    for (const [name, a] of this.api) next.set(name, a.spec);
    // In place: the map is shared by reference (see the top of this file).
    for (const name of [...this.live.keys()]) if (!next.has(name)) this.live.delete(name);
    for (const [name, spec] of next) this.live.set(name, spec);
  }
}
