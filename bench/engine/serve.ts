/**
 * Out-of-process half of the engine benchmark: the manifest latency of a real `ringmaster serve` (bin/ringmaster.js,
 * its own process, real-time 1 s ticks) over a data dir pre-populated with N active rollouts, while `wrk` (its own
 * process) polls one channel's manifest and an open-loop poller (probe.ts, its own process) measures what an agent
 * polling on its own schedule would see. The ticks' own durations come from the server's /metrics histogram,
 * scraped just before and just after the load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { request } from 'undici';
import { bucketQuantileBound, histogramDelta, parseHistogram, parseWrk, type Histogram, type WrkResult } from './parse';
import type { Summary } from './stats';
import { round } from './stats';
import { procStatusMB } from '../sim/proc';

const RECONCILE_HISTOGRAM = 'ringmaster_reconcile_duration_seconds';

export interface ServeRun {
  activeRollouts: number;
  polledChannel: string;
  manifestBytes: number;
  serveStartupSeconds: number;
  /** 1-minute load average of the machine when the load started (other work on the same 2 cores). */
  loadavg1: number;
  wrk: WrkResult;
  /** What an agent polling on its own schedule sees (open loop, from the due time). */
  openLoop: { ratePerS: number; sent: number; ok: number; failed: number; latencyMs: Summary };
  /** The server's ticks during the load, from its /metrics. Quantiles are bucket upper bounds (s). */
  ticks: { count: number; meanMs: number; p50AtMostS: number; p99AtMostS: number; buckets: Histogram['buckets'] };
  /** The serve process's memory (/proc/<pid>/status): resident once ready, and its peak (VmHWM) after the load, MB. */
  serverMemory: { readyRssMB: number | null; peakRssMB: number | null };
}

interface Serve {
  child: ChildProcess;
  base: string;
  logFile: string;
}

/** Children still running; an interrupted bench (Ctrl-C) ends them instead of leaving a server behind. */
const live = new Set<ChildProcess>();
let hooked = false;
function track<C extends ChildProcess>(child: C): C {
  if (!hooked) {
    hooked = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        for (const c of live) c.kill('SIGKILL');
        process.exit(130);
      });
    }
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

function startServe(bin: string, dataDir: string, policiesDir: string, logFile: string): Promise<Serve> {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    const child = track(spawn(process.execPath, [bin, 'serve', '--data', dataDir, '--policies', policiesDir, '--listen', '127.0.0.1:0', '--tick', '1s'], {
      stdio: ['ignore', 'pipe', log],
    }));
    fs.closeSync(log);
    let out = '';
    const onExit = (code: number | null): void => reject(new Error(`ringmaster serve exited ${code} before listening; see ${logFile}:\n${tail(logFile)}`));
    child.once('exit', onExit);
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        child.off('exit', onExit);
        resolve({ child, base: m[1] as string, logFile });
      }
    });
  });
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function stopServe(s: Serve): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  return { status: res.statusCode, text: await res.body.text() };
}

async function scrape(base: string): Promise<Histogram> {
  const r = await getText(`${base}/metrics`);
  if (r.status !== 200) throw new Error(`GET /metrics: ${r.status}`);
  return parseHistogram(r.text, RECONCILE_HISTOGRAM);
}

/** Runs `cmd args` to completion; its stdout, or an error with its stderr. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} exited ${code}: ${err.trim() || out.trim()}`))));
  });
}

function wrk(url: string, durationS: number): Promise<string> {
  // --timeout 30s: wrk leaves requests slower than its timeout (2 s by default) out of the latency figures.
  return run('wrk', ['--latency', '-t1', '-c50', `-d${durationS}s`, '--timeout', '30s', url]);
}

/**
 * Starts serve on dataDir, waits for it to have ticked twice, warms up, then runs wrk and the open-loop poller
 * together for durationS, scraping the tick histogram before and after.
 */
export async function measureServe(opts: {
  bin: string;
  dataDir: string;
  policiesDir: string;
  activeRollouts: number;
  channel: string;
  durationS: number;
  probeRatePerS: number;
  probeScript: string;
  logFile: string;
  startupBudgetS: number;
}): Promise<ServeRun> {
  const t0 = Date.now();
  const s = await startServe(opts.bin, opts.dataDir, opts.policiesDir, opts.logFile);
  try {
    const url = `${s.base}/v1/channels/${opts.channel}/manifest`;
    // Ready once the loop has run (open reconciles once; the loop's ticks follow every second).
    for (;;) {
      const h = await scrape(s.base);
      if (h.count >= 3) break;
      if (Date.now() - t0 > opts.startupBudgetS * 1000) throw new Error(`serve did not tick 3 times within ${opts.startupBudgetS} s (${h.count} ticks)`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const serveStartupSeconds = round((Date.now() - t0) / 1000);
    const readyRssMB = s.child.pid === undefined ? null : procStatusMB(s.child.pid, 'VmRSS');
    const first = await getText(url);
    if (first.status !== 200) throw new Error(`GET ${url}: ${first.status} ${first.text.slice(0, 200)}`);
    await wrk(url, 2); // warm-up, not recorded
    const before = await scrape(s.base);
    const loadavg1 = round(os.loadavg()[0] as number);
    const [wrkOut, probeOut] = await Promise.all([wrk(url, opts.durationS), run(process.execPath, [opts.probeScript, url, String(opts.probeRatePerS), String(opts.durationS)])]);
    const after = await scrape(s.base);
    const peakRssMB = s.child.pid === undefined ? null : procStatusMB(s.child.pid, 'VmHWM');
    const d = histogramDelta(before, after);
    const probe = JSON.parse(probeOut) as ServeRun['openLoop'];
    return {
      activeRollouts: opts.activeRollouts,
      polledChannel: opts.channel,
      manifestBytes: Buffer.byteLength(first.text),
      serveStartupSeconds,
      loadavg1,
      wrk: parseWrk(wrkOut),
      openLoop: probe,
      ticks: { count: d.count, meanMs: round(d.count > 0 ? (d.sum / d.count) * 1000 : NaN), p50AtMostS: bucketQuantileBound(d, 0.5), p99AtMostS: bucketQuantileBound(d, 0.99), buckets: d.buckets },
      serverMemory: { readyRssMB: readyRssMB === null ? null : round(readyRssMB), peakRssMB: peakRssMB === null ? null : round(peakRssMB) },
    };
  } finally {
    await stopServe(s);
  }
}
