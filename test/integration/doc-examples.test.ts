/**
 * The docs' offline examples are the program's real output. Every fenced `$ CMD` line of README.md and docs/*.md
 * whose command runs offline and deterministically from the repository (ringctl validate and plan on repository
 * files, the bucket arithmetic with sha256sum and python3) is run, and its combined stdout and stderr must equal
 * the lines printed under it in the doc, up to the next `$ ` or the closing fence. A command continued with a
 * trailing `\` takes its next lines; an output line `...` (or one starting with `... `) stands for lines the doc
 * leaves out, and the parts around it must appear in that order. Examples on scratch files (/tmp, .tmp, a file made
 * in the doc's session) or against a running server or Prometheus are not run here; the count below says how many are.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.resolve(__dirname, '../..');
const OFFLINE = /^(npx tsc -p tsconfig\.build\.json && )?(npx ringctl|ringctl|node bin\/ringctl\.js) (validate|plan) |^printf .*\| sha256sum|^python3 -c /;

interface Example {
  file: string;
  line: number;
  cmd: string;
  expected: string[];
}

/** True when every path-like argument is inside the repository (examples/, policies/, test/), not a scratch file. */
function repositoryFilesOnly(cmd: string): boolean {
  if (/\/tmp\/|\.tmp\/|https?:\/\/|\$\(/.test(cmd)) return false;
  return !/\s[\w.-]+\.ya?ml(\s|$)/.test(cmd.replace(/(examples|policies|test)\/\S+/g, ''));
}

function examples(): Example[] {
  const files = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const found: Example[] = [];
  for (const file of files) {
    let inFence = false;
    let cur: Example | null = null;
    let continued = false;
    const flush = (): void => {
      if (cur !== null) found.push(cur);
      cur = null;
    };
    fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').forEach((l, i) => {
      if (/^\s*```/.test(l)) {
        flush();
        inFence = !inFence;
      } else if (inFence && l.startsWith('$ ')) {
        flush();
        const cmd = l.slice(2);
        continued = cmd.endsWith('\\');
        if (OFFLINE.test(cmd)) cur = { file, line: i + 1, cmd, expected: [] };
      } else if (inFence && continued) {
        continued = l.endsWith('\\');
        if (cur !== null) cur.cmd = `${cur.cmd.slice(0, -1)} ${l.trim()}`;
      } else if (inFence && cur !== null) {
        cur.expected.push(l);
      }
    });
    flush();
  }
  return found.filter((e) => repositoryFilesOnly(e.cmd));
}

const ALL = examples();

beforeAll(() => ensureBuilt());

test('the docs hold offline examples to check (a change that hides them all fails here)', () => {
  expect(ALL.length).toBeGreaterThanOrEqual(9);
});

test.each(ALL.map((e) => [`${e.file}:${e.line} ${e.cmd.slice(0, 90)}`, e] as const))('%s', (_title, e) => {
  const cmd = e.cmd
    .replace(/^npx tsc -p tsconfig\.build\.json && /, '')
    .replace(/^(npx ringctl|ringctl) /, 'node bin/ringctl.js ');
  const r = spawnSync('bash', ['-c', `${cmd} 2>&1`], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', TZ: 'UTC' } });
  const got = r.stdout.replace(/\n$/, '').split('\n');
  if (!e.expected.some(isElision)) {
    expect(got).toEqual(e.expected);
    return;
  }
  // Each run of lines between elisions must appear whole, in order, after the previous one.
  let from = 0;
  for (const part of parts(e.expected)) {
    const at = indexOfRun(got, part, from);
    expect({ missing: part, at }).toEqual({ missing: part, at: expect.any(Number) });
    from = (at as number) + part.length;
  }
});

function isElision(line: string): boolean {
  return line === '...' || line.startsWith('... ');
}

function parts(lines: string[]): string[][] {
  const out: string[][] = [[]];
  for (const l of lines) {
    if (isElision(l)) out.push([]);
    else (out[out.length - 1] as string[]).push(l);
  }
  return out.filter((p) => p.length > 0);
}

function indexOfRun(lines: string[], run: string[], from: number): number | null {
  for (let i = from; i + run.length <= lines.length; i++) if (run.every((l, j) => lines[i + j] === l)) return i;
  return null;
}
