/**
 * One simulator-scale run, in its own process (bench/sim/main.ts spawns it with --max-old-space-size):
 *
 *   node dist/bench/sim/child.js SCENARIO.yaml HOSTS HOURS [--compare] [--seed N]
 *
 * Loads the scenario, overrides its host count and its maxDuration (HOURS of virtual time at most), plays it with
 * agent-sim's runVirtual (the real controller in virtual time) and, with --compare, the same scenario all at once.
 * Prints one JSON line: the outcome, the virtual hours played, the wall time of each part, peak RSS (VmHWM of this
 * process, from /proc/self/status, and the kernel's maxRSS), and a digest of the result for same-seed comparisons.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { loadScenario } from '../../agent-sim/scenario';
import { runAllAtOnce, runVirtual } from '../../agent-sim/virtual';
import { vmHwmMB } from './proc';

async function main(argv: string[]): Promise<void> {
  const [file, hostsArg, hoursArg, ...rest] = argv;
  if (!file || !hostsArg || !hoursArg) throw new Error('usage: child.js SCENARIO HOSTS HOURS [--compare] [--seed N]');
  const hosts = Number(hostsArg);
  const hours = Number(hoursArg);
  const seedAt = rest.indexOf('--seed');
  const seed = seedAt >= 0 ? Number(rest[seedAt + 1]) : undefined;
  const sc = loadScenario(file, { hosts, ...(seed === undefined ? {} : { seed }) });
  sc.maxDurationMs = hours * 3_600_000;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await runVirtual(sc);
  const t1 = process.hrtime.bigint();
  // The all-at-once numbers; its per-step timeline (for agent-sim's plot) stays out of the digest and the output.
  const allRun = rest.includes('--compare') ? runAllAtOnce(sc) : null;
  const all = allRun === null ? null : (({ timeline: _timeline, ...numbers }) => numbers)(allRun);
  const t2 = process.hrtime.bigint();
  const { timeline, transitions, ...summary } = r;
  // What must not change between two builds for the same seed: the whole result but wall-clock figures.
  const digest = crypto
    .createHash('sha256')
    .update(JSON.stringify({ summary, timeline, transitions: transitions.map((t) => [t.at, t.from, t.to, t.exposedRing, t.reason]), all }))
    .digest('hex');
  const out = {
    scenario: sc.name,
    hosts: sc.fleet.hosts,
    seed: sc.seed,
    maxVirtualHours: hours,
    virtualHours: r.virtualDurationHours,
    outcome: r.outcome,
    lastRing: r.lastRing,
    hostsUpdated: r.hostsUpdated,
    hostsBricked: r.hostsBricked,
    allAtOnce: all,
    runS: Number(t1 - t0) / 1e9,
    compareS: Number(t2 - t1) / 1e9,
    /** CPU time (user + system) of this process for both parts: on shared cores, wall time can be far more. */
    cpuS: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(cpu0)),
    peakRssMB: vmHwmMB(),
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    digest,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  if (process.env.SIM_CHILD_DUMP) fs.writeFileSync(process.env.SIM_CHILD_DUMP, JSON.stringify({ summary, transitions, all }, null, 1));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`sim child: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
