/**
 * Part 2 of make soak: thousands of generated malformed requests (./fuzz-cases.ts) against a running
 * `ringmaster serve` over raw loopback sockets, with rollouts in several phases in its store. Figures: no 5xx,
 * no stack trace or server path in any answer, none in the server's log, and no state change: every table of
 * the SQLite file, the kill switch, the rollouts and the signed manifests compared before and after. The server
 * is first watched idle for a while, so that a difference can only come from the inputs.
 */
import { DEFAULT_MAX_BODY_BYTES } from '../../controller/api/body';
import { rng } from '../../test/helpers/api-fuzz';
import { rolloutsOf, SoakApi } from './api';
import type { SoakConfig } from './config';
import { generateSoakCases, type SoakCase } from './fuzz-cases';
import { rawExchange } from './raw';
import { planRollout } from './rollouts';
import { createSandbox, freePort, logProblems, Serve, sleep } from './sandbox';
import { diffTables, dumpTables } from './store-view';

const CONCURRENCY = 8;
const IDLE_WATCH_MS = 2000;

export interface FuzzSoakResult {
  inputs: number;
  families: Record<string, number>;
  statuses: Record<string, number>;
  responses5xx: number;
  stackTraces: number;
  /** Answers of a must-be-refused case that were not 4xx (2xx/3xx). */
  unexpectedAccepts: number;
  /** Closed without an answer where one was due (a timeout, or a reset). */
  noAnswer: number;
  /** Bodies shorter than their Content-Length that got no answer (allowed). */
  closedOnTruncation: number;
  /** 4xx bodies that are not the documented {error:{code,message,requestId}} with a one-line message. */
  nonConformingErrors: number;
  stateChanged: boolean;
  stateDiff: string[];
  idleDrift: string[];
  serverLog: { errorLines: number; stackLines: number; samples: string[] };
  /** A valid viewer token after the bad credentials: its status (429 = locked out by the failed-auth limiter). */
  validTokenAfterBadAuth: number;
  healthzAfter: number;
  /** The server's exit after SIGTERM: its code, or SIGKILL when it was still running 15 s later. */
  exit: string;
  failures: string[];
  durationS: number;
}

const STACK_RE = /\n\s+at |\bat [^\s()]+ \([^)]*:\d+:\d+\)|node_modules|\/work\/|[\w/-]+\.(ts|js):\d+/;

/** The state a caller could change: every table, plus what the API serves (rollouts, kill switch, manifests). */
async function snapshot(api: SoakApi, dbFile: string, channels: readonly string[]): Promise<{ tables: Record<string, string[]>; served: Record<string, string> }> {
  const served: Record<string, string> = {};
  const rollouts = await api.get('/v1/rollouts');
  served.rollouts = rollouts.ok ? `${rollouts.status} ${rollouts.text}` : rollouts.error;
  const ks = await api.get('/v1/killswitch');
  served.killswitch = ks.ok ? `${ks.status} ${ks.text}` : ks.error;
  for (const ch of channels) {
    const m = await api.call('GET', `/v1/channels/${ch}/manifest`, null);
    served[`manifest ${ch}`] = m.ok ? `${m.status} ${m.text}` : m.error;
  }
  return { tables: dumpTables(dbFile), served };
}

function diffSnapshots(a: Awaited<ReturnType<typeof snapshot>>, b: Awaited<ReturnType<typeof snapshot>>): string[] {
  const out = diffTables(a.tables, b.tables);
  for (const k of Object.keys({ ...a.served, ...b.served })) {
    if (a.served[k] !== b.served[k]) out.push(`${k}: served ${String(a.served[k]).slice(0, 120)} ... then ${String(b.served[k]).slice(0, 120)}`);
  }
  return out;
}

function conformingError(body: string): boolean {
  try {
    const e = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error;
    return typeof e?.code === 'string' && typeof e.message === 'string' && typeof e.requestId === 'string' && !e.message.includes('\n');
  } catch {
    return false;
  }
}

export async function runFuzzSoak(cfg: SoakConfig, say: (line: string) => void): Promise<FuzzSoakResult> {
  const t0 = Date.now();
  const sb = createSandbox('fuzz');
  const port = await freePort();
  const serve = new Serve(sb, port, { tick: '100ms', rollbackDrain: '2s' });
  const api = new SoakApi(port, sb.tokens);
  const r = rng(cfg.seed ^ 0x5eed0004);
  await serve.start();

  // Rollouts in phases that stay put: baking for an hour, awaiting approval, paused, halted, succeeded.
  const hour = [3_600_000, 3_600_000, 3_600_000, 3_600_000];
  const baking = planRollout(r, 'fuzz-baking', 'fuzz-ch-baking', { kind: 'bake', bakesMs: hour });
  const setup = [
    baking,
    planRollout(r, 'fuzz-approval', 'fuzz-ch-approval', { kind: 'approval', approvalRing: 0, bakesMs: hour }),
    planRollout(r, 'fuzz-paused', 'fuzz-ch-paused', { kind: 'bake', bakesMs: hour }),
    planRollout(r, 'fuzz-halted', 'fuzz-ch-halted', { kind: 'metrics', bakesMs: hour }),
    planRollout(r, 'fuzz-done', 'fuzz-ch-done', { kind: 'bake', bakesMs: [1000, 1000, 1000, 1000] }),
  ];
  for (const p of setup) {
    const res = await api.post('/v1/rollouts', 'deployer', p.yaml, 'application/yaml');
    if (!res.ok || res.status !== 201) throw new Error(`setup: apply ${p.name}: ${res.ok ? `${res.status} ${res.text.slice(0, 200)}` : res.error}`);
  }
  const paused = await api.post('/v1/rollouts/fuzz-paused/pause', 'sre', JSON.stringify({ reason: 'soak: a paused rollout for the fuzz' }));
  if (!paused.ok || paused.status !== 200) throw new Error(`setup: pause fuzz-paused: ${paused.ok ? paused.status : paused.error}`);
  const want: Record<string, string> = { 'fuzz-baking': 'progressing', 'fuzz-approval': 'awaiting-approval', 'fuzz-paused': 'paused', 'fuzz-halted': 'halted', 'fuzz-done': 'succeeded' };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const list = rolloutsOf(await api.get('/v1/rollouts')) ?? [];
    const wrong = Object.entries(want).filter(([n, phase]) => list.find((x) => x.name === n)?.phase.kind !== phase);
    if (wrong.length === 0) break;
    if (Date.now() > deadline) throw new Error(`setup: rollouts did not reach their phases: ${wrong.map(([n, p]) => `${n} is ${list.find((x) => x.name === n)?.phase.kind} (want ${p})`).join(', ')}`);
    await sleep(200);
  }
  const channels = setup.map((p) => p.channel);

  // The idle server must not change by itself, or a before/after comparison would mean nothing.
  const idle0 = await snapshot(api, sb.dbFile, channels);
  await sleep(IDLE_WATCH_MS);
  const before = await snapshot(api, sb.dbFile, channels);
  const idleDrift = diffSnapshots(idle0, before);

  const cases = generateSoakCases(cfg.seed, { tokens: { deployer: sb.tokens.deployer, sre: sb.tokens.sre, viewer: sb.tokens.viewer, approver: sb.tokens.approver }, existing: baking.name, existingYaml: baking.yaml, channel: baking.channel }, cfg.inputs, DEFAULT_MAX_BODY_BYTES);
  // Seeded shuffle of everything but the bad credentials, which go last (the failed-auth limiter).
  const first = cases.filter((c) => !c.last);
  for (let i = first.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [first[i], first[j]] = [first[j] as SoakCase, first[i] as SoakCase];
  }
  const ordered = [...first, ...cases.filter((c) => c.last)];
  say(`soak: part 2: ${ordered.length} malformed inputs (${cases.length - first.length} with bad credentials, sent last)`);

  const families: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  const fail = (s: string): void => {
    if (failures.length < 40) failures.push(s);
  };
  let responses5xx = 0;
  let stackTraces = 0;
  let unexpectedAccepts = 0;
  let noAnswer = 0;
  let closedOnTruncation = 0;
  let nonConformingErrors = 0;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < ordered.length) {
      const c = ordered[next++] as SoakCase;
      families[c.family] = (families[c.family] ?? 0) + 1;
      try {
        const res = await rawExchange(port, c.raw, { timeoutMs: 20_000, halfClose: c.mayClose === true });
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status >= 500) {
          responses5xx++;
          fail(`${c.family}: ${c.name}: ${res.status} ${res.body.slice(0, 160)}`);
        }
        if (STACK_RE.test(res.body)) {
          stackTraces++;
          fail(`${c.family}: ${c.name}: body leaks internals: ${res.body.slice(0, 200)}`);
        }
        if (res.status < 400 && !c.may2xx) {
          unexpectedAccepts++;
          fail(`${c.family}: ${c.name}: answered ${res.status} ${res.body.slice(0, 160)}`);
        }
        const head = c.raw.subarray(0, 5).toString('latin1') === 'HEAD ';
        if (res.status >= 400 && !head && !conformingError(res.body)) nonConformingErrors++;
      } catch (err) {
        if (c.mayClose) closedOnTruncation++;
        else {
          noAnswer++;
          fail(`${c.family}: ${c.name}: ${(err as Error).message}`);
        }
      }
      if (++done % 2000 === 0) say(`soak: part 2: ${done}/${ordered.length}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  const validAfter = await api.get('/v1/rollouts', 'viewer');
  const healthz = await api.call('GET', '/healthz', null);
  const after = await snapshot(api, sb.dbFile, channels);
  const stateDiff = diffSnapshots(before, after);
  const exit = String(await serve.stop());
  await sleep(500); // what the process logs after "stopped" counts too
  const logs = logProblems(serve.log());
  return {
    exit,
    inputs: ordered.length,
    families,
    statuses,
    responses5xx,
    stackTraces,
    unexpectedAccepts,
    noAnswer,
    closedOnTruncation,
    nonConformingErrors,
    stateChanged: stateDiff.length > 0,
    stateDiff: stateDiff.slice(0, 20),
    idleDrift: idleDrift.slice(0, 10),
    serverLog: { errorLines: logs.errorLines.length, stackLines: logs.stackLines.length, samples: [...logs.errorLines, ...logs.stackLines].slice(0, 5).map((l) => l.slice(0, 300)) },
    validTokenAfterBadAuth: validAfter.ok ? validAfter.status : 0,
    healthzAfter: healthz.ok ? healthz.status : 0,
    failures,
    durationS: Math.round((Date.now() - t0) / 1000),
  };
}
