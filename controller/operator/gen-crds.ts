/**
 * `make crds`: writes the CustomResourceDefinitions generated from controller/spec/schema.ts (operator/crd.ts) to
 * charts/ringmaster/crds/, where Helm installs them before the chart's templates. `--check` writes nothing and
 * exits 1 when a checked-in file is missing or differs from a fresh generation (CI, and the unit test).
 *
 *   node dist/controller/operator/gen-crds.js [--check] [--dir DIR]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { allCrds } from './crd';

export const HEADER = '# Generated from controller/spec/schema.ts by make crds. Do not edit.\n';

/** The repository root: the nearest directory above this file with a package.json (works from dist/ too). */
export function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`gen-crds: no package.json above ${from}`);
  }
}

export const CRD_DIR = path.join('charts', 'ringmaster', 'crds');

/** The files as they are written: header, then the CRD as YAML (no folded lines). */
export function renderCrds(schemas: Parameters<typeof allCrds>[0] = {}): Array<{ file: string; text: string }> {
  return allCrds(schemas).map(({ file, crd }) => ({ file, text: HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false }) }));
}

/** The rendered files that are missing from dir or differ from it. */
export function staleCrds(dir: string, rendered = renderCrds()): string[] {
  return rendered
    .filter(({ file, text }) => {
      const p = path.join(dir, file);
      return !fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text;
    })
    .map(({ file }) => file);
}

export function main(argv: string[], out: { write(s: string): unknown } = process.stdout, err: { write(s: string): unknown } = process.stderr): number {
  let check = false;
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--dir' && argv[i + 1] !== undefined) dir = argv[++i];
    else {
      err.write(`gen-crds: unknown argument ${JSON.stringify(a)} (usage: gen-crds [--check] [--dir DIR])\n`);
      return 2;
    }
  }
  const root = repoRoot();
  const target = dir === undefined ? path.join(root, CRD_DIR) : path.resolve(dir);
  const shown = (file: string) => path.relative(process.cwd(), path.join(target, file)) || file;
  const rendered = renderCrds();
  if (check) {
    const stale = staleCrds(target, rendered);
    if (stale.length === 0) return 0;
    err.write(`gen-crds: ${stale.map(shown).join(', ')} ${stale.length === 1 ? 'is' : 'are'} stale (controller/spec/schema.ts changed): run make crds\n`);
    return 1;
  }
  fs.mkdirSync(target, { recursive: true });
  for (const { file, text } of rendered) {
    fs.writeFileSync(path.join(target, file), text);
    out.write(`gen-crds: wrote ${shown(file)}\n`);
  }
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
