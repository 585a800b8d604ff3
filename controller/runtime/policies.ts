/** Loading Policy documents from a directory (YAML, through the same loader as `ringctl validate`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatSpecError, InputError } from '../spec/errors';
import { loadFiles } from '../spec/load';
import type { PolicySpec } from '../spec/types';

/** Every Policy document in `dir` (*.yaml, *.yml), by metadata.name. */
export function loadPolicies(dir: string): Map<string, PolicySpec> {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch (err) {
    throw new InputError([`${dir}: cannot read policies directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const { docs, errors } = loadFiles(entries.map((f) => path.join(dir, f)));
  if (errors.length > 0) throw new InputError(errors.map(formatSpecError));
  const out = new Map<string, PolicySpec>();
  for (const d of docs) {
    if (d.kind !== 'Policy') continue;
    if (out.has(d.doc.metadata.name)) throw new InputError([`${d.file}: policy "${d.doc.metadata.name}" is defined twice in ${dir}`]);
    out.set(d.doc.metadata.name, d.doc.spec);
  }
  return out;
}

