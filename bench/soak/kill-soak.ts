/**
 * Part 1 of make soak: `kill -9` of a real `ringmaster serve` at random points, many times, on one SQLite data
 * dir, while rollouts progress and a scripted operator approves, pauses, resumes, aborts, rolls back and
 * flips the kill switch. Some kills are aimed: while an approve, another verb or a kill-switch call is in
 * flight, during a rollback drain, or while the server is starting. After every restart the store (read-only
 * SQLite) is checked against everything seen before and everything the API acknowledged (./invariants.ts),
 * and `ringctl audit --verify` must say ok. At the end the operator drives every rollout to a terminal phase.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rng } from '../../test/helpers/api-fuzz';
import { killSwitchOf, SoakApi, type CallResult } from './api';
import type { SoakConfig } from './config';
import { acked, checkStore, fateOf, Seen, type Op, type Violation } from './invariants';
import { planRollout, type RolloutKind, type RolloutPlan } from './rollouts';
import { appRoot, createSandbox, freePort, logProblems, Serve, sleep, type SoakRole } from './sandbox';
import { readPhases, readStore, type StoreView } from './store-view';

export const KILL_MODES = ['random', 'approve', 'verb', 'killswitch', 'drain', 'startup'] as const;
export type KillMode = (typeof KILL_MODES)[number];
const MODE_WEIGHTS: Record<KillMode, number> = { random: 0.42, approve: 0.2, verb: 0.14, killswitch: 0.08, drain: 0.1, startup: 0.06 };
const TERMINAL = new Set(['succeeded', 'rolled-back', 'aborted']);
const FINISH_TIMEOUT_MS = 180_000;

export interface KillSoakResult {
  kills: number;
  killsByMode: Record<string, number>;
  restartsDuringApproval: number;
  restartsDuringDrain: number;
  restartsDuringVerb: number;
  restartsDuringKillSwitchCall: number;
  restartsWhileKillSwitchEngaged: number;
  inFlightAtKill: { verbs: number; recorded: number; applied: number; killSwitchCalls: number; applies: number };
  checks: number;
  lost: number;
  duplicated: number;
  skipped: number;
  phantom: number;
  killSwitchStateLost: number;
  violations: string[];
  /** withPinnedKey: runs that checked the signed checkpoints against the key first written to the data dir. */
  auditVerify: { runs: number; ok: number; withPinnedKey: number; failures: string[]; lastOutput: string };
  rollouts: { total: number; byKind: Record<RolloutKind, number>; terminal: Record<string, number>; notTerminal: string[] };
  transitions: number;
  auditEntries: number;
  calls: { verbs: number; verbsApplied: number; verbsRefused: number; killSwitch: number; applies: number; statuses: Record<string, number>; serverErrors: number };
  restartMs: { p50: number; max: number };
  cleanShutdown: string;
  serverLog: { errorLines: number; stackLines: number; samples: string[] };
  durationS: number;
}

function pickMode(r: () => number): KillMode {
  let x = r();
  for (const m of KILL_MODES) {
    x -= MODE_WEIGHTS[m];
    if (x < 0) return m;
  }
  return 'random';
}

export async function runKillSoak(cfg: SoakConfig, say: (line: string) => void): Promise<KillSoakResult> {
  const t0 = Date.now();
  const sb = createSandbox('kill');
  const port = await freePort();
  const serve = new Serve(sb, port, { tick: '100ms', rollbackDrain: '2s' });
  const api = new SoakApi(port, sb.tokens, 10_000);
  const rSchedule = rng(cfg.seed ^ 0x5eed0001);
  const rOp = rng(cfg.seed ^ 0x5eed0002);
  const rRollout = rng(cfg.seed ^ 0x5eed0003);
  // Every kind of kill early on (a seeded order), so that a quick run covers each; weighted draws after that.
  const modes: KillMode[] = [...KILL_MODES].map((m) => [m, rSchedule()] as const).sort((a, b) => a[1] - b[1]).map(([m]) => m);
  modes.splice(cfg.kills);
  while (modes.length < cfg.kills) modes.push(pickMode(rSchedule));
  if (modes[0] === 'startup') modes.push(modes.shift() as KillMode);
  const delays = Array.from({ length: cfg.kills }, () => ({ aliveMs: 150 + Math.floor(rSchedule() * 2350), offsetMs: Math.floor(rSchedule() * 20), drainMs: 100 + Math.floor(rSchedule() * 1500) }));

  const plans = new Map<string, RolloutPlan>();
  const ops: Op[] = [];
  const seen = new Seen();
  const violations = new Map<string, Violation>();
  const statuses: Record<string, number> = {};
  const restartMs: number[] = [];
  const auditVerify = { runs: 0, ok: 0, withPinnedKey: 0, failures: [] as string[], lastOutput: '' };
  const res = {
    killsByMode: Object.fromEntries(KILL_MODES.map((m) => [m, 0])) as Record<string, number>,
    restartsDuringApproval: 0,
    restartsDuringDrain: 0,
    restartsDuringVerb: 0,
    restartsDuringKillSwitchCall: 0,
    restartsWhileKillSwitchEngaged: 0,
    inFlightAtKill: { verbs: 0, recorded: 0, applied: 0, killSwitchCalls: 0, applies: 0 },
    checks: 0,
    killSwitchStateLost: 0,
  };
  let cycle = 0;
  let opSeq = 0;
  let rolloutSeq = 0;
  /** The kill-switch state the store must hold: the last acknowledged call's, or unknown after an unanswered one. */
  let ksExpected: { engaged: boolean; mode: string } | 'unknown' = { engaged: false, mode: 'freeze' };
  let engagedSince: number | null = null;
  let unresolved: Op[] = [];
  /** The `ringctl audit --verify` of the last restart, running next to the operator. */
  let auditRun: Promise<void> = Promise.resolve();
  /** A copy of the audit public key as first written to the data dir: every later verify trusts only it. */
  let pinnedKey: string | undefined;

  // ---------------------------------------------------------------------------------------- calls

  const record = (op: Op, r: CallResult): void => {
    op.answeredAt = Date.now();
    if (r.ok) {
      op.status = r.status;
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      if (op.kind === 'verb') op.applied = acked(op) && (r.json as { outcome?: unknown } | undefined)?.outcome === 'applied';
    } else {
      op.error = r.error;
      statuses.none = (statuses.none ?? 0) + 1;
    }
  };
  const newOp = (fields: Omit<Op, 'id' | 'tag' | 'reason' | 'cycle' | 'sentAt'>): Op => {
    const id = ++opSeq;
    const tag = `t${cfg.seed}-${id}`;
    const op: Op = { ...fields, id, tag, reason: `soak ${tag}`, cycle, sentAt: Date.now() };
    ops.push(op);
    return op;
  };
  const verb = async (rollout: string, name: string, role: SoakRole): Promise<Op> => {
    const op = newOp({ kind: 'verb', rollout, verb: name, actor: sb.actors[role] });
    record(op, await api.post(`/v1/rollouts/${rollout}/${name}`, role, JSON.stringify({ reason: op.reason })));
    return op;
  };
  const killSwitch = async (engaged: boolean, mode: 'freeze' | 'rollback'): Promise<Op> => {
    const op = newOp({ kind: 'killswitch', engaged, mode, actor: sb.actors.sre });
    ksExpected = 'unknown';
    record(op, await api.post('/v1/killswitch', 'sre', JSON.stringify({ engaged, mode, reason: op.reason })));
    if (acked(op)) ksExpected = { engaged, mode };
    return op;
  };
  const apply = async (): Promise<Op> => {
    const seq = ++rolloutSeq;
    const plan = planRollout(rRollout, `soak-${String(seq).padStart(3, '0')}`, `soak-ch-${seq}`);
    plans.set(plan.name, plan);
    const op = newOp({ kind: 'apply', rollout: plan.name, actor: sb.actors.deployer });
    record(op, await api.post('/v1/rollouts', 'deployer', plan.yaml, 'application/yaml'));
    if (op.status !== undefined && op.status !== 201 && op.status !== 200) say(`soak: apply ${plan.name} answered ${op.status}`);
    return op;
  };

  // ---------------------------------------------------------------------------------------- the operator

  const phaseSince = new Map<string, { kind: string; since: number }>();
  let stopOperator = false;
  /** What the operator looks at: every rollout's phase, read from the store (the API's list grows with every rollout). */
  const listRollouts = (): Array<{ name: string; phase: { kind: string } }> | undefined => {
    try {
      return readPhases(sb.dbFile).map((r) => ({ name: r.name, phase: { kind: r.phase } }));
    } catch {
      return undefined;
    }
  };

  /** One look at the rollouts and the kill switch, and the calls a (scripted, seeded) operator makes. */
  const step = async (finish: boolean): Promise<ReturnType<typeof listRollouts>> => {
    const list = listRollouts();
    const ks = killSwitchOf(await api.get('/v1/killswitch'));
    if (!list || !ks || stopOperator) return list;
    const now = Date.now();
    if (ks.engaged) {
      engagedSince ??= now;
      if (finish || now - engagedSince > 2500) {
        await killSwitch(false, 'freeze');
        return list;
      }
    } else {
      engagedSince = null;
      // Now and then the SRE stops everything (freeze, or roll back what is exposed).
      if (!finish && rOp() < 0.01) {
        await killSwitch(true, rOp() < 0.7 ? 'freeze' : 'rollback');
        return list;
      }
    }
    for (const r of list) {
      if (stopOperator) return list;
      const plan = plans.get(r.name);
      if (!plan) continue;
      const prev = phaseSince.get(r.name);
      if (prev?.kind !== r.phase.kind) phaseSince.set(r.name, { kind: r.phase.kind, since: now });
      const inPhaseMs = now - (phaseSince.get(r.name)?.since ?? now);
      const x = rOp();
      if (ks.engaged) continue;
      switch (r.phase.kind) {
        case 'awaiting-approval':
          if (finish || x < 0.35) await verb(r.name, 'approve', 'approver');
          break;
        case 'halted':
          if (finish || x < 0.4) {
            const y = rOp();
            if (plan.kind === 'metrics') await verb(r.name, y < 0.5 ? 'rollback' : 'abort', 'sre');
            else await verb(r.name, y < 0.7 ? 'resume' : 'rollback', y < 0.35 ? 'deployer' : 'sre');
          }
          break;
        case 'paused':
          if (finish || x < 0.3) await verb(r.name, 'resume', 'deployer');
          break;
        case 'progressing':
          if (!finish) {
            if (x < 0.012) await verb(r.name, 'pause', 'deployer');
            else if (x < 0.018) await verb(r.name, 'abort', 'sre');
            else if (x < 0.024) await verb(r.name, 'rollback', 'sre');
          }
          break;
        case 'rolling-back':
        case 'waiting-for-window':
        case 'succeeded':
        case 'rolled-back':
        case 'aborted':
          break;
        default:
          // pending, or a phase this soak does not know (a held phase): a human resumes it once it has waited.
          if (inPhaseMs > 5000 && (finish || x < 0.2)) await verb(r.name, 'resume', 'deployer');
      }
    }
    if (!finish && !ks.engaged && !stopOperator) {
      const active = list.filter((r) => !TERMINAL.has(r.phase.kind)).length;
      if (active < cfg.active) await apply();
    }
    return list;
  };

  const operate = async (): Promise<void> => {
    while (!stopOperator) {
      await step(false);
      await sleep(100 + Math.floor(rOp() * 150));
    }
  };

  // ---------------------------------------------------------------------------------------- kills

  const inFlight = (killAt: number): Op[] => ops.filter((o) => o.sentAt <= killAt && (o.answeredAt === undefined || o.answeredAt > killAt) && o.status === undefined);

  /** Kills now, after reading the store (what must survive); classifies the moment of the kill. */
  const kill = async (mode: KillMode, before: StoreView | null): Promise<void> => {
    const view = before ?? safeRead(sb.dbFile);
    if (view) seen.add(view);
    const killAt = Date.now();
    await serve.kill9();
    await sleep(5); // let answers already in the socket buffers arrive
    const flying = inFlight(killAt);
    for (const o of flying) o.inFlightAtKill = true;
    unresolved.push(...flying);
    res.killsByMode[mode] = (res.killsByMode[mode] ?? 0) + 1;
    const phases = view ? [...view.phases.values()] : [];
    if (phases.includes('awaiting-approval') || flying.some((o) => o.verb === 'approve')) res.restartsDuringApproval++;
    if (phases.includes('rolling-back')) res.restartsDuringDrain++;
    if (flying.some((o) => o.kind === 'verb')) res.restartsDuringVerb++;
    if (flying.some((o) => o.kind === 'killswitch')) res.restartsDuringKillSwitchCall++;
    if (view?.killSwitch?.engaged) res.restartsWhileKillSwitchEngaged++;
  };

  type Listed = NonNullable<ReturnType<typeof listRollouts>>[number];
  const waitFor = async (pred: (list: Listed[]) => Listed | undefined, ms: number): Promise<Listed | undefined> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const list = listRollouts();
      const hit = list ? pred(list) : undefined;
      if (hit) return hit;
      await sleep(80);
    }
    return undefined;
  };

  /** Lives for a while with the operator running, then kills the server the way `mode` says. */
  const liveAndKill = async (mode: KillMode, d: { aliveMs: number; offsetMs: number; drainMs: number }): Promise<void> => {
    stopOperator = false;
    const running = operate();
    await sleep(d.aliveMs);
    // The audit chain check of this restart finishes before the next kill (it talks to this server).
    await auditRun;
    if (mode === 'random' || mode === 'startup') {
      // The operator may be mid-call: that call is in flight at the kill.
      stopOperator = true;
      await kill('random', null);
      await running;
      return;
    }
    stopOperator = true;
    await running;
    if (mode === 'approve') {
      const target = await waitFor((l) => l.find((r) => r.phase.kind === 'awaiting-approval' && plans.has(r.name)), 4000);
      if (!target) return kill('random', null);
      const before = safeRead(sb.dbFile);
      const call = verb(target.name, 'approve', 'approver');
      await sleep(d.offsetMs);
      await kill('approve', before);
      await call;
      return;
    }
    if (mode === 'verb') {
      const list = listRollouts() ?? [];
      const live = list.filter((r) => plans.has(r.name) && !TERMINAL.has(r.phase.kind));
      const target = live[Math.floor(rOp() * live.length)];
      if (!target) return kill('random', null);
      const k = target.phase.kind;
      const x = rOp();
      const name =
        x < 0.15 ? 'abort' : x < 0.3 ? 'rollback' : k === 'paused' || k === 'halted' ? 'resume' : k === 'awaiting-approval' ? 'approve' : 'pause';
      const role: SoakRole = name === 'approve' ? 'approver' : x < 0.5 ? 'sre' : 'deployer';
      const before = safeRead(sb.dbFile);
      const call = verb(target.name, name, role);
      await sleep(d.offsetMs);
      await kill('verb', before);
      await call;
      return;
    }
    if (mode === 'killswitch') {
      const ks = killSwitchOf(await api.get('/v1/killswitch'));
      const before = safeRead(sb.dbFile);
      const call = killSwitch(!(ks?.engaged ?? false), rOp() < 0.7 ? 'freeze' : 'rollback');
      await sleep(d.offsetMs);
      await kill('killswitch', before);
      await call;
      return;
    }
    // drain: a rollout in rolling-back (started here by a rollback if none is), killed part-way through its 2 s drain
    let draining = await waitFor((l) => l.find((r) => r.phase.kind === 'rolling-back' && plans.has(r.name)), 300);
    if (!draining) {
      const list = listRollouts() ?? [];
      const target = list.find((r) => plans.has(r.name) && r.phase.kind === 'progressing');
      if (target) {
        await verb(target.name, 'rollback', 'sre');
        draining = await waitFor((l) => l.find((r) => r.name === target.name && r.phase.kind === 'rolling-back'), 1000);
      }
    }
    if (draining) await sleep(d.drainMs);
    await kill(draining ? 'drain' : 'random', null);
  };

  // ---------------------------------------------------------------------------------------- checks

  const violationsBefore = (): number => violations.size;
  const afterRestart = async (label: string): Promise<void> => {
    res.checks++;
    const view = readStore(sb.dbFile);
    for (const x of checkStore(view, seen, ops, plans)) if (!violations.has(x.key)) violations.set(x.key, x);
    // The calls in flight at the last kill: what became of them (either is fine; twice is not, checked above).
    for (const op of unresolved) {
      const fate = fateOf(view, op);
      if (op.kind === 'verb') {
        res.inFlightAtKill.verbs++;
        if (fate.recorded > 0) res.inFlightAtKill.recorded++;
        if (fate.applied > 0) res.inFlightAtKill.applied++;
      } else if (op.kind === 'killswitch') res.inFlightAtKill.killSwitchCalls++;
      else res.inFlightAtKill.applies++;
    }
    unresolved = [];
    const ks = killSwitchOf(await api.get('/v1/killswitch'));
    if (ks === undefined) throw new Error('GET /v1/killswitch failed right after a restart');
    if (ksExpected === 'unknown') ksExpected = ks;
    else if (ks.engaged !== ksExpected.engaged || (ks.engaged && ks.mode !== ksExpected.mode)) {
      res.killSwitchStateLost++;
      const key = `killswitch after ${label}`;
      violations.set(key, { kind: 'lost', key, message: `${label}: kill switch is ${JSON.stringify(ks)}, the last acknowledged call set ${JSON.stringify(ksExpected)}` });
      ksExpected = ks;
    }
    // ringctl runs next to the operator (it is a node process of its own); its verdict is awaited before the next kill.
    // It pins the audit key first seen on disk, and the last entry seen before this restart as an external head.
    const args: string[] = [];
    const keyFile = path.join(sb.dataDir, 'audit.pub');
    if (pinnedKey === undefined && fs.existsSync(keyFile)) {
      pinnedKey = path.join(sb.dir, 'audit.pub.pinned');
      fs.copyFileSync(keyFile, pinnedKey);
    }
    // ringctl refuses --audit-key while the server has signed no checkpoint yet (a young log): then the chain alone.
    const cps = await api.get('/v1/audit/checkpoints');
    const signed = cps.ok && cps.status === 200 && ((cps.json as { checkpoints?: unknown[] } | undefined)?.checkpoints?.length ?? 0) > 0;
    if (pinnedKey !== undefined && signed) {
      args.push('--audit-key', pinnedKey);
      auditVerify.withPinnedKey++;
    }
    const headId = Math.max(0, ...seen.audit.keys());
    const headHash = seen.audit.get(headId);
    if (headHash !== undefined) args.push('--expect-head', `${headId}:${headHash}`);
    auditRun = ringctlAuditVerify(serve.url, sb.tokens.viewer, args).then((audit) => {
      auditVerify.runs++;
      auditVerify.lastOutput = audit.output;
      if (audit.ok) auditVerify.ok++;
      else if (auditVerify.failures.length < 10) auditVerify.failures.push(`${label}: ${audit.output}`);
    });
    seen.add(view);
  };

  // ---------------------------------------------------------------------------------------- the run

  let kills = 0;
  try {
    restartMs.push(await serve.start());
    for (;;) {
      const before = violationsBefore();
      await afterRestart(`restart ${kills}`);
      if (violations.size > before) say(`soak: kill ${kills}: ${violations.size - before} new violation(s): ${[...violations.values()].slice(before).map((x) => x.message).join('; ').slice(0, 400)}`);
      if (kills >= cfg.kills) break;
      cycle++;
      const mode = modes[kills] as KillMode;
      await liveAndKill(mode === 'startup' ? 'random' : mode, delays[kills] as { aliveMs: number; offsetMs: number; drainMs: number });
      kills++;
      // Kills while the server is starting (store open, recovery, first reconcile), before or after it is ready.
      while (kills < cfg.kills && modes[kills] === 'startup') {
        serve.spawn();
        await sleep(30 + Math.floor(rSchedule() * 500));
        await kill('startup', null);
        kills++;
      }
      restartMs.push(await serve.start());
      if (kills % 20 === 0) say(`soak: part 1: ${kills}/${cfg.kills} kills, ${plans.size} rollouts, ${violations.size} violation(s), ${Math.round((Date.now() - t0) / 1000)} s`);
    }

    // Finish: the operator drives every rollout to a terminal phase (no new rollouts, no random verbs).
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    stopOperator = false;
    while (Date.now() < deadline) {
      const list = await step(true);
      if (list && list.every((r) => TERMINAL.has(r.phase.kind))) {
        const ks = killSwitchOf(await api.get('/v1/killswitch'));
        if (ks && !ks.engaged) break;
      }
      await sleep(200);
    }
    await afterRestart('end of run');
    await auditRun;
  } finally {
    stopOperator = true;
  }
  const shutdown = await serve.stop();
  // After a clean shutdown nothing may be lost either.
  const final = readStore(sb.dbFile);
  for (const x of checkStore(final, seen, ops, plans)) if (!violations.has(x.key)) violations.set(x.key, x);

  const byKind = { bake: 0, approval: 0, metrics: 0 } as Record<RolloutKind, number>;
  const terminal: Record<string, number> = {};
  const notTerminal: string[] = [];
  for (const [name, phase] of final.phases) {
    const plan = plans.get(name);
    if (plan) byKind[plan.kind]++;
    if (TERMINAL.has(phase)) terminal[phase] = (terminal[phase] ?? 0) + 1;
    else notTerminal.push(`${name} (${phase})`);
  }
  const logs = logProblems(serve.log());
  const all = [...violations.values()];
  const count = (k: Violation['kind']): number => all.filter((x) => x.kind === k).length;
  const verbs = ops.filter((o) => o.kind === 'verb');
  const sorted = [...restartMs].sort((a, b) => a - b);
  return {
    kills,
    ...res,
    lost: count('lost'),
    duplicated: count('duplicated'),
    skipped: count('skipped'),
    phantom: count('phantom'),
    violations: all.slice(0, 40).map((x) => `${x.kind}: ${x.message}`),
    auditVerify,
    rollouts: { total: final.phases.size, byKind, terminal, notTerminal },
    transitions: [...final.transitions.values()].reduce((n, l) => n + l.length, 0),
    auditEntries: final.audit.length,
    calls: {
      verbs: verbs.length,
      verbsApplied: verbs.filter((o) => o.applied).length,
      verbsRefused: verbs.filter((o) => o.status === 409).length,
      killSwitch: ops.filter((o) => o.kind === 'killswitch').length,
      applies: ops.filter((o) => o.kind === 'apply').length,
      statuses,
      serverErrors: Object.entries(statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0),
    },
    restartMs: { p50: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted[sorted.length - 1] ?? 0 },
    cleanShutdown: String(shutdown),
    serverLog: { errorLines: logs.errorLines.length, stackLines: logs.stackLines.length, samples: [...logs.errorLines, ...logs.stackLines].slice(0, 5).map((l) => l.slice(0, 300)) },
    durationS: Math.round((Date.now() - t0) / 1000),
  };
}

function safeRead(file: string): StoreView | null {
  try {
    return readStore(file);
  } catch {
    return null;
  }
}

/** `ringctl audit --verify` against the server: the chain re-computed client-side. */
export function ringctlAuditVerify(url: string, token: string, args: readonly string[] = []): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(appRoot(), 'bin/ringctl.js'), 'audit', '--verify', '--server', url, ...args],
      { env: { ...process.env, RINGMASTER_TOKEN: token }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`.trim().split('\n').slice(-2).join(' | ');
        resolve({ ok: err === null && /audit chain ok/.test(stdout), output });
      },
    );
  });
}
