/**
 * Part 3 of make soak: manifest polls driven by wrk (its own process; Lua script ./manifest-poll.lua) against
 * a real `ringmaster serve` while a rollout moves through its rings, with the kill switch engaged through the
 * API half-way. A separate poller process (./poller.ts) polls the same manifest every SOAK_POLL_MS and
 * shows when the switch became visible: the first poll that starts after the API answered must already see it.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { rng } from '../../test/helpers/api-fuzz';
import { killSwitchOf, SoakApi } from './api';
import type { SoakConfig } from './config';
import { planRollout } from './rollouts';
import { appRoot, createSandbox, freePort, logProblems, ROOT, Serve, sleep, track } from './sandbox';

export interface WrkSoakResult {
  seconds: number;
  connections: number;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  statuses: Record<string, number>;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  /** Socket errors plus every status other than 200 and 304. */
  errors: number;
  killSwitch: {
    sentAtS: number;
    answerMs: number;
    status: number;
    pollIntervalMs: number;
    polls: number;
    /** The first poll that started after the API answered saw `"killSwitch":{"engaged":true`. */
    seenAtNextPoll: boolean;
    /** From the API answer to the answer of the first poll that saw it (negative: seen before the API answer arrived). */
    seenAfterMs: number | null;
    /** From the API answer to the start of that poll: at most one poll interval when it is the next poll. */
    seenPollStartedAfterMs: number | null;
    seenPollTookMs: number | null;
    lastNotEngagedBeforeAnswerMs: number | null;
    persisted: boolean;
    rolloutPhaseAfter: string;
  };
  serverLog: { errorLines: number; stackLines: number };
  /** The server's exit after SIGTERM: its code, or SIGKILL when it was still running 15 s later. */
  exit: string;
  wrkOutput: string;
  durationS: number;
}

interface Poll {
  s: number;
  e: number;
  st: number;
  ks: boolean | null;
  literal?: boolean;
  rev: number | null;
}

function run(cmd: string, args: string[], timeoutMs: number): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; kill: () => void } {
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${e.code === 'ENOENT' ? `${cmd}: not installed (bench/soak/install-wrk.sh installs wrk)` : e.message}` });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGTERM') };
}

export async function runWrkSoak(cfg: SoakConfig, say: (line: string) => void): Promise<WrkSoakResult> {
  const t0 = Date.now();
  const sb = createSandbox('wrk');
  const port = await freePort();
  const serve = new Serve(sb, port, { tick: '100ms', rollbackDrain: '2s' });
  const api = new SoakApi(port, sb.tokens);
  await serve.start();
  // Rings change every fifth of the run, so the manifest changes under load; the switch lands in ring 2.
  const bakeMs = Math.max(1000, Math.ceil((cfg.wrkSeconds * 1000) / 5));
  const plan = planRollout(rng(cfg.seed ^ 0x5eed0005), 'wrk-rollout', 'wrk-ch', { kind: 'bake', bakesMs: [bakeMs, bakeMs, bakeMs, bakeMs] });
  const applied = await api.post('/v1/rollouts', 'deployer', plan.yaml, 'application/yaml');
  if (!applied.ok || applied.status !== 201) throw new Error(`apply wrk-rollout: ${applied.ok ? `${applied.status} ${applied.text.slice(0, 200)}` : applied.error}`);
  const url = `${serve.url}/v1/channels/${plan.channel}/manifest`;

  const poller = run(process.execPath, [path.join(appRoot(), 'dist/bench/soak/poller.js'), String(port), plan.channel, String(cfg.pollMs)], (cfg.wrkSeconds + 120) * 1000);
  await sleep(300);
  say(`soak: part 3: wrk -t1 -c${cfg.wrkConnections} -d${cfg.wrkSeconds}s on ${url}; kill switch at ${cfg.wrkSeconds / 2} s`);
  const wrkStart = Date.now();
  const wrk = run('wrk', ['-t1', `-c${cfg.wrkConnections}`, `-d${cfg.wrkSeconds}s`, '--latency', '-s', path.join(ROOT, 'bench/soak/manifest-poll.lua'), url], (cfg.wrkSeconds + 60) * 1000);
  await sleep((cfg.wrkSeconds * 1000) / 2);
  const sentAt = Date.now();
  const ks = await api.post('/v1/killswitch', 'sre', JSON.stringify({ engaged: true, mode: 'freeze', reason: 'soak: kill switch under manifest load' }));
  const answeredAt = Date.now();
  const w = await wrk.done;
  await sleep(cfg.pollMs * 2);
  poller.kill();
  const p = await poller.done;
  const ksAfter = killSwitchOf(await api.get('/v1/killswitch'));
  const rollout = await api.get(`/v1/rollouts/${plan.name}`);
  const phaseAfter = rollout.ok ? ((rollout.json as { rollout?: { phase?: { kind?: string } } }).rollout?.phase?.kind ?? '?') : rollout.error;
  const exit = String(await serve.stop());
  const logs = logProblems(serve.log());

  const line = /^SOAKJSON (.*)$/m.exec(w.stdout)?.[1];
  if (!line) throw new Error(`wrk did not report (exit ${w.code}): ${w.stderr.trim() || w.stdout.trim()}`);
  const stats = JSON.parse(line) as {
    requests: number;
    durationUs: number;
    p50Us: number;
    p99Us: number;
    maxUs: number;
    statuses: Record<string, number>;
    errors: { connect: number; read: number; write: number; status: number; timeout: number };
  };
  const badStatuses = Object.entries(stats.statuses).filter(([s]) => s !== '200' && s !== '304').reduce((n, [, c]) => n + c, 0);
  const socketErrors = { connect: stats.errors.connect, read: stats.errors.read, write: stats.errors.write, timeout: stats.errors.timeout };
  const polls = p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Poll)
    .sort((a, b) => a.s - b.s);
  const next = polls.find((x) => x.s >= answeredAt);
  const firstSeen = polls.find((x) => x.ks === true && x.literal === true);
  const lastBefore = [...polls].reverse().find((x) => x.s < answeredAt && x.ks === false);
  return {
    seconds: cfg.wrkSeconds,
    connections: cfg.wrkConnections,
    requests: stats.requests,
    reqPerSec: Math.round(stats.requests / (stats.durationUs / 1e6)),
    p50Ms: stats.p50Us / 1000,
    p99Ms: stats.p99Us / 1000,
    maxMs: stats.maxUs / 1000,
    statuses: stats.statuses,
    socketErrors,
    errors: socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout + badStatuses,
    killSwitch: {
      sentAtS: Math.round((sentAt - wrkStart) / 100) / 10,
      answerMs: answeredAt - sentAt,
      status: ks.ok ? ks.status : 0,
      pollIntervalMs: cfg.pollMs,
      polls: polls.length,
      seenAtNextPoll: next?.ks === true && next.literal === true,
      seenAfterMs: firstSeen ? firstSeen.e - answeredAt : null,
      seenPollStartedAfterMs: firstSeen ? firstSeen.s - answeredAt : null,
      seenPollTookMs: firstSeen ? firstSeen.e - firstSeen.s : null,
      lastNotEngagedBeforeAnswerMs: lastBefore ? lastBefore.e - answeredAt : null,
      persisted: ksAfter?.engaged === true,
      rolloutPhaseAfter: phaseAfter,
    },
    serverLog: { errorLines: logs.errorLines.length, stackLines: logs.stackLines.length },
    exit,
    wrkOutput: w.stdout.replace(/^SOAKJSON .*$/m, '').trim(),
    durationS: Math.round((Date.now() - t0) / 1000),
  };
}
