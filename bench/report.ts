/**
 * The last step of `make bench` / `make bench-quick`: regenerates docs/benchmarks.md from the run's JSON
 * (bench/results/{decisions,manifest,engine,sim}.json). The prose of docs/benchmarks.md is written by hand; each
 * benchmark's figures sit between the markers `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, and only those
 * regions are rewritten: the table of that benchmark's JSON (its own `table` when it has one, else its `rows`), the
 * command, the commit, the date and the machine. A benchmark that did not run this time keeps its previous figures,
 * and the run header says which ones are new.
 *
 *   node dist/bench/report.js [--quick]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const DOC = path.join(ROOT, 'docs', 'benchmarks.md');
export const BENCHES = ['decisions', 'manifest', 'engine', 'sim'] as const;
export type BenchName = (typeof BENCHES)[number];

export interface Machine {
  cpus: number;
  model: string;
  memoryGiB: number;
  loadAverage: number[];
  node: string;
  platform: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

type Cell = string | number | boolean | null | undefined;

/** A markdown table of rows (objects), with the given columns or every key of the first row. */
export function markdownTable(rows: Array<Record<string, unknown>>, columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0] as object).filter((k) => rows.some((r) => isScalar(r[k])));
  const fmt = (v: unknown): string => {
    if (v === null || v === undefined) return '-';
    if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : String(Math.round(v * 1000) / 1000);
    return String(v).replace(/\|/g, '\\|');
  };
  const numeric = cols.map((c) => rows.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'number'));
  return [
    `| ${cols.join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${cols.map((c) => fmt(r[c] as Cell)).join(' | ')} |`),
  ].join('\n');
}

function isScalar(v: unknown): boolean {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

/** Columns shown for each benchmark's rows, when its JSON carries no table of its own. */
const COLUMNS: Partial<Record<BenchName, string[]>> = {
  manifest: ['server', 'response', 'reqPerSec', 'p50ms', 'p99ms', 'ratioToRaw', 'errors'],
  sim: ['scenario', 'hosts', 'virtualHours', 'wallS', 'peakRssMB', 'outcome'],
};

/** Scalars of a benchmark's JSON worth a line under its table. */
const NOTES: Partial<Record<BenchName, string[]>> = {
  manifest: ['cacheTtlS', 'agentPollIntervalS', 'clientRequests', 'upstreamRequests', 'upstreamShare', 'killSwitchPropagationS', 'killSwitchBoundS'],
};

/**
 * The figures of one benchmark's JSON: its own markdown `table` when it has one; else the markdown file it wrote
 * beside it (bench/results/NAME.md, when written in the same run); else a table of its `rows`. Then its verdicts.
 */
export function figuresOf(json: Record<string, unknown>, name?: BenchName, sideTable?: string): string {
  const parts: string[] = [];
  if (typeof json.table === 'string' && json.table.trim() !== '') parts.push(json.table.trim());
  else if (Array.isArray(json.table) && json.table.every((l) => typeof l === 'string') && json.table.length > 0) parts.push((json.table as string[]).join('\n').trim());
  else if (Array.isArray(json.tables)) parts.push((json.tables as unknown[]).filter((t): t is string => typeof t === 'string').join('\n\n'));
  else if (sideTable !== undefined && sideTable.trim() !== '') parts.push(sideTable.replace(/^# .*\n+/, '').trim());
  else if (Array.isArray(json.rows)) parts.push(markdownTable(json.rows as Array<Record<string, unknown>>, name ? COLUMNS[name] : undefined));
  else parts.push('(this benchmark wrote no table)');
  const notes = (name ? (NOTES[name] ?? []) : []).filter((k) => isScalar(json[k]) && json[k] !== undefined).map((k) => `${k} ${String(json[k])}`);
  if (notes.length > 0) parts.push(notes.join(' · '));
  if (Array.isArray(json.verdicts)) {
    // Two shapes: {name, pass, detail} and {target, measured, pass} (pass null: not evaluated in this run).
    const lines = (json.verdicts as Array<{ name?: unknown; target?: unknown; pass?: unknown; detail?: unknown; measured?: unknown; note?: unknown }>).map(
      (v) => `- ${v.pass === true ? 'PASS' : v.pass === null ? 'NOT EVALUATED' : 'FAIL'} ${String(v.name ?? v.target ?? '')}: ${String(v.detail ?? v.measured ?? '')}${typeof v.note === 'string' ? ` (${v.note})` : ''}`,
    );
    if (lines.length > 0) parts.push(lines.join('\n'));
  }
  return parts.join('\n\n');
}

/** Replaces the region between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` (appends the region when absent). */
export function replaceRegion(doc: string, name: string, body: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const i = doc.indexOf(open);
  const j = doc.indexOf(close);
  const region = `${open}\n${body.trim()}\n${close}`;
  if (i < 0 || j < i) return `${doc.trimEnd()}\n\n${region}\n`;
  return `${doc.slice(0, i)}${region}${doc.slice(j + close.length)}`;
}

function main(): number {
  const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const started = process.env.BENCH_STARTED_AT ? Date.parse(process.env.BENCH_STARTED_AT) : Number.NaN;
  let doc = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : '# Benchmarks\n';
  const m = machine();
  const fresh: string[] = [];
  for (const name of BENCHES) {
    const file = path.join(ROOT, 'bench', 'results', `${name}.json`);
    if (!fs.existsSync(file)) continue;
    const st = fs.statSync(file);
    if (!Number.isNaN(started) && st.mtimeMs < started) continue;
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      process.stderr.write(`bench report: ${file}: not JSON (${(err as Error).message}); its section is left as it was\n`);
      continue;
    }
    fresh.push(name);
    const side = path.join(ROOT, 'bench', 'results', `${name}.md`);
    const sideTable = fs.existsSync(side) && Math.abs(fs.statSync(side).mtimeMs - st.mtimeMs) < 120_000 ? fs.readFileSync(side, 'utf8') : undefined;
    const when = new Date(st.mtimeMs).toISOString().replace(/\.\d+Z$/, 'Z');
    const body = [
      `Run ${when} at \`${commit()}\` with \`make ${quick ? 'bench-quick' : 'bench'}\` (JSON: \`bench/results/${name}.json\`).`,
      '',
      figuresOf(json, name, sideTable),
    ].join('\n');
    doc = replaceRegion(doc, name, body);
  }
  const header = [
    `Last run: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, \`make ${quick ? 'bench-quick' : 'bench'}\` at \`${commit()}\`; regenerated: ${fresh.join(', ') || 'nothing'}.`,
    `Machine: ${m.cpus} × ${m.model}, ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; load average at the end ${m.loadAverage.join(' / ')}.`,
  ].join('\n');
  doc = replaceRegion(doc, 'run', header);
  fs.writeFileSync(DOC, doc);
  process.stdout.write(`bench report: docs/benchmarks.md regenerated (${fresh.join(', ') || 'no fresh results'})\n`);
  return 0;
}

if (require.main === module) process.exitCode = main();
