/**
 * make bench, simulator section: agent-sim at the incident's scale.
 *
 *   node dist/bench/sim/main.js            (full: 1M and 10M hosts; BENCH_QUICK=1: 1M only)
 *
 * Each row is one child process (`node --max-old-space-size=... dist/bench/sim/child.js SCENARIO HOSTS 72`): the
 * scenario played by agent-sim's runVirtual (the real controller in virtual time, the simulated fleet polling the
 * signed manifest) with its maxDuration set to 72 h of virtual time. A run ends earlier when the rollout is over
 * (rolled back and drained, or succeeded and every agent has polled the final manifest): `virtualHours` is what was
 * played. The catastrophic scenario also plays its all-at-once comparison (the same fleet and seed without rings).
 *
 * Figures: wall time (the parent's clock around the child), peak RSS (VmHWM: the child's own report from
 * /proc/self/status, and the parent's last sample of /proc/<pid>/status), and the ratio of each 10M row to the 1M row
 * of the same scenario in the same run (ratios count; these 2 cores are shared). Target (issue 13): 10M hosts x 72 h
 * in under 60 s and under 1 GB. Writes bench/results/sim.json (BENCH_OUT names another file).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { procStatusMB } from './proc';
import { judgeTarget, ratioRows, type SimRow } from './report';

const QUICK = process.env.BENCH_QUICK === '1';
const repo = path.resolve(__dirname, '../../..');
const SCENARIOS = [
  { key: 'catastrophic', file: 'examples/scenarios/bad-content-update.yaml', compare: true },
  { key: 'healthy', file: 'examples/scenarios/healthy-noisy.yaml', compare: false },
];
const HOSTS = QUICK ? [1_000_000] : [1_000_000, 10_000_000];
const VIRTUAL_HOURS = 72;
const TARGET = { hosts: 10_000_000, virtualHours: VIRTUAL_HOURS, wallS: 60, peakRssMB: 1024 };
/** The heap limit given to each child: the fleet's per-host state is in typed arrays (outside the heap). */
const HEAP_MB = 4096;
const CHILD_TIMEOUT_S = QUICK ? 120 : 480;

const log = (line: string): void => void process.stderr.write(`sim-bench: ${line}\n`);

interface ChildReport {
  scenario: string;
  hosts: number;
  seed: number;
  maxVirtualHours: number;
  virtualHours: number;
  outcome: string;
  lastRing: number;
  hostsUpdated: number;
  hostsBricked: number;
  allAtOnce: { hostsUpdated: number; hostsBricked: number } | null;
  runS: number;
  compareS: number;
  cpuS: number;
  peakRssMB: number | null;
  maxRssMB: number;
  digest: string;
}

function runChild(file: string, hosts: number, compare: boolean): Promise<{ report: ChildReport; wallS: number; sampledPeakMB: number | null }> {
  return new Promise((resolve, reject) => {
    const args = [`--max-old-space-size=${HEAP_MB}`, path.join(__dirname, 'child.js'), path.join(repo, file), String(hosts), String(VIRTUAL_HOURS), ...(compare ? ['--compare'] : [])];
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sampled: number | null = null;
    const sample = setInterval(() => {
      if (child.pid !== undefined) sampled = procStatusMB(child.pid, 'VmHWM') ?? sampled;
    }, 100);
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_S * 1000);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearInterval(sample);
      clearTimeout(timer);
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${path.basename(file)} at ${hosts} hosts: child ${signal ? `killed (${signal}${signal === 'SIGKILL' ? `, timeout ${CHILD_TIMEOUT_S} s` : ''})` : `exited ${code}`}: ${err.trim().slice(-500)}`));
      try {
        resolve({ report: JSON.parse(out.trim().split('\n').pop() ?? '') as ChildReport, wallS, sampledPeakMB: sampled });
      } catch (e) {
        reject(new Error(`${path.basename(file)} at ${hosts} hosts: unreadable child output: ${out.slice(0, 200)} (${String(e)})`));
      }
    });
  });
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const fmtInt = (n: number): string => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = os.loadavg();
  const rows: SimRow[] = [];
  const failures: string[] = [];
  for (const hosts of HOSTS) {
    for (const s of SCENARIOS) {
      log(`${s.key} (${path.basename(s.file)}) at ${fmtInt(hosts)} hosts, ${VIRTUAL_HOURS} h at most${s.compare ? ', with the all-at-once comparison' : ''}`);
      try {
        const { report: c, wallS, sampledPeakMB } = await runChild(s.file, hosts, s.compare);
        const peak = c.peakRssMB ?? sampledPeakMB;
        const row: SimRow = {
          hosts,
          virtualHours: r1(c.virtualHours),
          maxVirtualHours: VIRTUAL_HOURS,
          wallS: r1(wallS),
          runS: r1(c.runS),
          compareS: r1(c.compareS),
          cpuS: r1(c.cpuS),
          peakRssMB: peak === null ? null : Math.round(peak),
          scenario: s.key,
          scenarioName: c.scenario,
          seed: c.seed,
          outcome: c.outcome,
          lastRing: c.lastRing,
          hostsUpdated: c.hostsUpdated,
          hostsBricked: c.hostsBricked,
          allAtOnce: c.allAtOnce === null ? null : { hostsUpdated: c.allAtOnce.hostsUpdated, hostsBricked: c.allAtOnce.hostsBricked },
          resultDigest: c.digest,
        };
        log(`  ${row.outcome} after ${row.virtualHours} virtual h: ${row.wallS} s wall, ${row.cpuS} s CPU (${row.runS} s run + ${row.compareS} s all at once), peak RSS ${row.peakRssMB} MB`);
        rows.push(row);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        log(`  FAILED: ${msg}`);
        failures.push(msg);
      }
    }
  }
  const ratios = ratioRows(rows);
  const verdicts = SCENARIOS.map((s) => judgeTarget(rows.find((r) => r.scenario === s.key && r.hosts === TARGET.hosts), TARGET, s.key));
  const lines: string[] = [];
  lines.push(`simulator scale (${QUICK ? 'BENCH_QUICK' : 'full'}): agent-sim virtual time, one child process per row (--max-old-space-size=${HEAP_MB}), ${VIRTUAL_HOURS} h of virtual time at most`);
  lines.push(`machine: ${os.cpus().length} cpus, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}, load average ${r1(loadStart[0] as number)} at start, ${r1(os.loadavg()[0] as number)} at end`);
  lines.push('| scenario | hosts | virtual h played | wall s | CPU s | of which all at once s | peak RSS MB | outcome | hosts updated (bricked) | all at once: updated (bricked) | wall / 1M row | RSS / 1M row |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|');
  for (const r of rows) {
    const q = ratios.find((x) => x.scenario === r.scenario && x.hosts === r.hosts);
    const all = r.allAtOnce ? `${fmtInt(r.allAtOnce.hostsUpdated)} (${fmtInt(r.allAtOnce.hostsBricked)})` : '-';
    lines.push(
      `| ${r.scenario} (${r.scenarioName}) | ${fmtInt(r.hosts)} | ${r.virtualHours} | ${r.wallS} | ${r.cpuS} | ${r.allAtOnce ? r.compareS : '-'} | ${r.peakRssMB ?? '-'} | ${r.outcome} (last ring ${r.lastRing}) | ${fmtInt(r.hostsUpdated)} (${fmtInt(r.hostsBricked)}) | ${all} | ${q?.wallRatio ?? '-'} | ${q?.rssRatio ?? '-'} |`,
    );
  }
  for (const line of lines) console.log(line);
  for (const v of verdicts) console.log(`${v.pass === null ? 'N/A ' : v.pass ? 'PASS' : 'FAIL'}  ${v.target}: ${v.measured}`);
  for (const f of failures) console.log(`FAILED  ${f}`);

  const outDir = path.join(repo, 'bench/results');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, process.env.BENCH_OUT ?? 'sim.json');
  const result = {
    at: new Date().toISOString(),
    quick: QUICK,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadavgStart: loadStart.map(r1), loadavgEnd: os.loadavg().map(r1) },
    config: { hosts: HOSTS, virtualHours: VIRTUAL_HOURS, heapMB: HEAP_MB, childTimeoutS: CHILD_TIMEOUT_S, scenarios: SCENARIOS },
    target: TARGET,
    wallSeconds: Math.round((Date.now() - started) / 1000),
    rows,
    ratios,
    verdicts,
    failures,
    table: lines,
  };
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out)} (${result.wallSeconds} s)`);
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`sim-bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
