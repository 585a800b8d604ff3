/**
 * Manifest serving, measured from outside (issue 13, item 2): `wrk` (its own process: a C load generator, 1 thread,
 * 100 connections) drives, in alternating rounds under the same noise,
 *   raw          a raw node:http server with the same body and headers (./raw-server.ts): the ceiling;
 *   ringmaster   the real `ringmaster serve` (a child process, temp data dir) with a live rollout: a signed
 *                manifest with a candidate in flight;
 *   nginx-cache  a real nginx with proxy_cache in front of that same `ringmaster serve` (./nginx.ts, the recipe of
 *                docs/scaling.md),
 * once for 200 (plain GETs) and once for 304 (If-None-Match: the current ETag). Then, through the cache: how many
 * requests reached the controller against those the clients sent, and how long the kill switch took to show.
 *
 *   node dist/bench/manifest/main.js          full: 4 rounds of 6 s per server and response (~3 min)
 *   BENCH_QUICK=1 node dist/bench/manifest/main.js    quick: 2 rounds of 3 s, no warm-up, the kill switch at any phase (< 1 min)
 *
 * Writes bench/results/manifest.json and prints the table. Env: MANIFEST_WRK_SECONDS, MANIFEST_ROUNDS,
 * MANIFEST_CACHE_TTL_S (default 5), MANIFEST_STRICT=1 (exit 1 when a target fails).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { MANIFEST_ROUTE } from '../../controller/telemetry/metrics';
import { SoakApi } from '../soak/api';
import { appRoot, cleanupAll, createSandbox, freePort, ROOT, Serve, sleep, track } from '../soak/sandbox';
import { Nginx, nginxVersion, proxyCacheValidS } from './nginx';
import type { RawSpec } from './raw-server';
import {
  counterBy,
  delta,
  dominantResponse,
  cacheStalenessVerdict,
  judgeRows,
  killSwitchVerdict,
  markdownTable,
  parseWrkJson,
  summarize,
  total,
  type ResponseKind,
  type RoundResult,
  type ServerKind,
  type Verdict,
  type WrkStats,
} from './stats';

const QUICK = process.env.BENCH_QUICK === '1';
const envNum = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? dflt : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: not a positive number: ${v}`);
  return n;
};
const CFG = {
  quick: QUICK,
  threads: 1,
  connections: 100,
  wrkSeconds: envNum('MANIFEST_WRK_SECONDS', QUICK ? 3 : 6),
  rounds: Math.round(envNum('MANIFEST_ROUNDS', QUICK ? 2 : 4)),
  /** wrk takes whole seconds; none in quick mode (its budget is a minute). */
  warmupSeconds: QUICK ? 0 : 1,
  /**
   * Engage the kill switch just after a cache refresh (the worst phase of the TTL). Quick mode engages at once, at
   * whatever phase the cache is in, to stay within its minute.
   */
  killSwitchAtWorstPhase: !QUICK,
  cacheTtlS: envNum('MANIFEST_CACHE_TTL_S', 5),
  /** The agents' default poll interval (agent/agent.ts DEFAULTS.pollIntervalMs). */
  agentPollIntervalS: 60,
  killSwitchPollMs: 100,
};
const CHANNEL = 'sensor-content';
const MANIFEST_PATH = `/v1/channels/${CHANNEL}/manifest`;
const ENGAGED = '"killSwitch":{"engaged":true';
const LUA = path.join(ROOT, 'bench/manifest/wrk-manifest.lua');
const OUT = path.join(ROOT, 'bench/results/manifest.json');

/** A live rollout: four rings, long bakes, whole rings at once (the manifest stays the same during the bench). */
const ROLLOUT_YAML = `apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: bench-manifest
spec:
  channel: ${CHANNEL}
  version: 7.16.291
  previousVersion: 7.16.290
  artifact:
    url: https://updates.example.internal/${CHANNEL}/7.16.291.bin
    sha256: ${'c'.repeat(64)}
  policy: open
  rings:
    - { name: canary, selector: { matchLabels: { ring: canary } }, bake: 1h, ramp: none }
    - { name: early, percent: 1, bake: 2h, ramp: none }
    - { name: broad, percent: 10, bake: 1d, ramp: none }
    - { name: full, percent: 100, bake: 1d, ramp: none }
`;

const T0 = Date.now();
const say = (line: string): void => void process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1)} s] ${line}\n`);

// ------------------------------------------------------------------------------------------ small HTTP helpers

interface Got {
  status: number;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Approximate bytes on the wire: status line, headers, body. */
  wireBytes: number;
  startMs: number;
  endMs: number;
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, p: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Got> {
  const startMs = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers, agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        let wire = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`.length + 2 + body.length;
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) wire += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`.length;
        resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, headers: res.headers, body, wireBytes: wire, startMs, endMs: Date.now() });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${p}: no answer within 5 s`)));
    req.on('error', reject);
  });
}

/** The [name, value] pairs of an answer that a server writes itself (node adds Date, Connection, Keep-Alive). */
function replayable(rawHeaders: string[]): Array<[string, string]> {
  const skip = new Set(['date', 'connection', 'keep-alive', 'x-request-id', 'transfer-encoding']);
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const k = rawHeaders[i] as string;
    if (!skip.has(k.toLowerCase())) out.push([k, rawHeaders[i + 1] as string]);
  }
  return out;
}

async function manifestCounts(port: number): Promise<Record<string, number>> {
  const r = await get(port, '/metrics');
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  return counterBy(r.body.toString('utf8'), 'ringmaster_http_requests_total', { route: MANIFEST_ROUTE }, 'code');
}

// ------------------------------------------------------------------------------------------ wrk

function runWrk(url: string, seconds: number, etag: string | null): Promise<WrkStats> {
  const args = [`-t${CFG.threads}`, `-c${CFG.connections}`, `-d${seconds}s`, '--latency', '-s', LUA, url];
  if (etag !== null) args.push('--', etag);
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`wrk: ${e.message} (bench/manifest/install.sh installs it)`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(parseWrkJson(stdout));
      } catch (e) {
        reject(new Error(`wrk exited ${code}: ${(e as Error).message} ${stderr.trim()}`));
      }
    });
  });
}

function wrkVersion(): string {
  const r = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  return ((r.stdout || r.stderr || '').split('\n')[0] ?? '').trim() || 'unknown';
}

// ------------------------------------------------------------------------------------------ the run

interface KillSwitchResult {
  /** From the API's answer to the first answer through the cache that carried the engaged switch. */
  propagationS: number | null;
  /** The switch was engaged just after the cache refreshed its copy (the worst phase of the TTL). */
  engagedAfterRefresh: boolean;
  /** The bench waited for a refresh before engaging (full mode); quick mode engages at once. */
  aimedAtWorstPhase: boolean;
  refreshStatus: string | null;
  apiStatus: number;
  apiAnswerMs: number;
  /** The controller itself served the engaged switch on the first direct GET after the API answered. */
  directVisibleAtOnce: boolean;
  pollsThroughCache: number;
  cacheStatusesWhilePolling: Record<string, number>;
}

async function killSwitchThroughCache(api: SoakApi, controllerPort: number, nginxPort: number): Promise<KillSwitchResult> {
  const statuses: Record<string, number> = {};
  const REFRESH = new Set(['MISS', 'EXPIRED', 'STALE', 'UPDATING', 'REVALIDATED']);
  let polls = 0;
  const poll = async (): Promise<Got> => {
    const g = await get(nginxPort, MANIFEST_PATH, {}, keepAlive);
    polls++;
    const st = String(g.headers['x-cache-status'] ?? '-');
    statuses[st] = (statuses[st] ?? 0) + 1;
    return g;
  };
  // Wait for the cache to refresh its copy, then engage: the copy it holds is then as young as it gets, and the
  // switch must wait for it to expire (the worst case: about one TTL).
  let refreshStatus: string | null = null;
  const alignDeadline = CFG.killSwitchAtWorstPhase ? Date.now() + (CFG.cacheTtlS + 3) * 1000 : 0;
  while (Date.now() < alignDeadline) {
    const g = await poll();
    const st = String(g.headers['x-cache-status'] ?? '-');
    if (REFRESH.has(st)) {
      refreshStatus = st;
      break;
    }
    await sleep(CFG.killSwitchPollMs);
  }
  await sleep(50); // the background refresh (a 304 from the controller on loopback) is done by then
  const sentAt = Date.now();
  const ks = await api.post('/v1/killswitch', 'sre', JSON.stringify({ engaged: true, mode: 'freeze', reason: 'bench/manifest: kill switch through the cache' }));
  const answeredAt = Date.now();
  const direct = await get(controllerPort, MANIFEST_PATH);
  let propagationS: number | null = null;
  const deadline = answeredAt + (CFG.cacheTtlS + 15) * 1000;
  let next = Date.now();
  while (Date.now() < deadline) {
    const g = await poll();
    if (g.status === 200 && g.body.toString('utf8').includes(ENGAGED)) {
      propagationS = Math.round((g.endMs - answeredAt) / 10) / 100;
      break;
    }
    next += CFG.killSwitchPollMs;
    await sleep(Math.max(0, next - Date.now()));
  }
  return {
    propagationS,
    engagedAfterRefresh: refreshStatus !== null,
    aimedAtWorstPhase: CFG.killSwitchAtWorstPhase,
    refreshStatus,
    apiStatus: ks.ok ? ks.status : 0,
    apiAnswerMs: answeredAt - sentAt,
    directVisibleAtOnce: direct.status === 200 && direct.body.toString('utf8').includes(ENGAGED),
    pollsThroughCache: polls,
    cacheStatusesWhilePolling: statuses,
  };
}

/** A raw-server child answering from `spec`; resolves once it listens. */
async function startRaw(dir: string, name: string, spec: RawSpec): Promise<{ port: number; child: ChildProcess }> {
  const specFile = path.join(dir, `${name}-spec.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const child = track(spawn(process.execPath, [path.join(appRoot(), 'dist/bench/manifest/raw-server.js'), specFile], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`raw-server ${name} exited ${code}`)));
  });
  return { port, child };
}

interface AgentRun {
  /** The revision the agent accepted on this poll, or null. */
  accepted: number | null;
  /** Why it refused the manifest (signature, replay, ...), or null. */
  refused: string | null;
  /** The accepted manifest has the kill switch engaged (from the agent's state). */
  sawKillSwitch: boolean | null;
}

/** One poll of the real reference agent (`ringmaster-agent run --once`), the controller's key pinned. */
function runAgent(port: number, stateDir: string, key: string): Promise<AgentRun> {
  const args = [path.join(appRoot(), 'bin/ringmaster-agent.js'), 'run', '--once', '--controller', `http://127.0.0.1:${port}`, '--channel', CHANNEL, '--host-id', 'bench-host-1', '--pin-key', key, '--dir', stateDir];
  return new Promise((resolve) => {
    const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      const acc = /"msg":"manifest revision (\d+) accepted"/.exec(out);
      const ref = /manifest refused \(([a-z-]+)\)/.exec(out);
      let sawKillSwitch: boolean | null = null;
      try {
        const st = JSON.parse(fs.readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as { manifest?: { body?: string } };
        sawKillSwitch = st.manifest?.body === undefined ? null : st.manifest.body.includes(ENGAGED);
      } catch {
        sawKillSwitch = null;
      }
      resolve({ accepted: acc ? Number(acc[1]) : null, refused: ref ? (ref[1] as string) : null, sawKillSwitch });
    });
  });
}

interface AgentChecks {
  /** The agent accepted the manifest served from nginx's cache (signature verified). */
  throughCache: AgentRun;
  /** A cache that rewrote the body (the candidate's version), keeping the signature header: refused. */
  forgedBody: AgentRun;
  /** After the kill switch: the agent accepted the new revision, with the switch, through the cache. */
  afterKillSwitch: AgentRun;
  /** A stale cache answering the older (genuinely signed) revision to an agent that has the newer: refused. */
  staleReplay: AgentRun;
  pass: boolean;
}

/** Before the kill switch: the agent through the cache, and a forging cache. */
async function agentsBefore(dir: string, controllerPort: number, nginxPort: number, spec: RawSpec): Promise<{ key: string; throughCache: AgentRun; forgedBody: AgentRun }> {
  const key = (JSON.parse((await get(controllerPort, '/v1/signing-key')).body.toString('utf8')) as { publicKey?: string }).publicKey;
  if (key === undefined) throw new Error('GET /v1/signing-key: no publicKey');
  const forgedText = Buffer.from(spec.bodyBase64, 'base64').toString('utf8').replace('"7.16.291"', '"7.16.666"');
  const forged = await startRaw(dir, 'forged', { ...spec, bodyBase64: Buffer.from(forgedText, 'utf8').toString('base64') });
  // Two agents with their own state dirs: independent, so they run side by side.
  const [throughCache, forgedBody] = await Promise.all([runAgent(nginxPort, path.join(dir, 'agent'), key), runAgent(forged.port, path.join(dir, 'agent-forged'), key)]);
  forged.child.kill('SIGTERM');
  return { key, throughCache, forgedBody };
}

/** After the kill switch: the same agent through the cache (the new revision), then a stale cache (the old one). */
async function agentsAfter(dir: string, key: string, nginxPort: number, stalePort: number, before: { throughCache: AgentRun; forgedBody: AgentRun }): Promise<AgentChecks> {
  const afterKillSwitch = await runAgent(nginxPort, path.join(dir, 'agent'), key);
  const staleReplay = await runAgent(stalePort, path.join(dir, 'agent'), key);
  const { throughCache, forgedBody } = before;
  return {
    throughCache,
    forgedBody,
    afterKillSwitch,
    staleReplay,
    pass:
      throughCache.accepted !== null &&
      forgedBody.accepted === null &&
      forgedBody.refused !== null &&
      afterKillSwitch.accepted !== null &&
      afterKillSwitch.accepted > (throughCache.accepted ?? 0) &&
      afterKillSwitch.sawKillSwitch === true &&
      staleReplay.refused === 'replay',
  };
}

function gitCommit(): { commit: string; dirty: boolean } {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const st = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: head.stdout.trim() || 'unknown', dirty: st.stdout.trim() !== '' };
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const git = gitCommit(); // the code that runs: read before others commit during the run
  const loadStart = os.loadavg();
  const inst = spawnSync('bash', [path.join(ROOT, 'bench/manifest/install.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (inst.status !== 0) throw new Error('bench/manifest/install.sh failed: wrk and nginx are needed');

  // 1. ringmaster serve, with a live rollout.
  const sb = createSandbox('manifest');
  const port = await freePort();
  const serve = new Serve(sb, port, { tick: '1s', rollbackDrain: '2s' });
  await serve.start();
  const api = new SoakApi(port, sb.tokens);
  const applied = await api.post('/v1/rollouts', 'deployer', ROLLOUT_YAML, 'application/yaml');
  if (!applied.ok || applied.status !== 201) throw new Error(`apply: ${applied.ok ? `${applied.status} ${applied.text.slice(0, 300)}` : applied.error}`);
  let first: Got | null = null;
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
    const g = await get(port, MANIFEST_PATH);
    const m = g.status === 200 ? (JSON.parse(g.body.toString('utf8')) as { candidates?: Array<{ version: string }> }) : null;
    if (m?.candidates?.some((c) => c.version === '7.16.291')) {
      first = g;
      break;
    }
  }
  if (!first) throw new Error(`no manifest with the candidate 7.16.291 within 15 s: ${serve.tail()}`);
  await sleep(500); // the manifest of the first ring is the one that stays (checked again after the rounds)
  const ok = await get(port, MANIFEST_PATH);
  const etag = String(ok.headers.etag ?? '');
  if (ok.status !== 200 || etag === '' || ok.headers['x-ringmaster-signature'] === undefined) throw new Error(`manifest: HTTP ${ok.status}, ETag ${etag}, signature ${String(ok.headers['x-ringmaster-signature'])}`);
  const nm = await get(port, MANIFEST_PATH, { 'If-None-Match': etag });
  if (nm.status !== 304) throw new Error(`If-None-Match ${etag}: HTTP ${nm.status}, not 304`);
  const manifest = JSON.parse(ok.body.toString('utf8')) as { revision: number; candidates: Array<{ version: string; state?: string }> };
  say(`manifest: ${ok.body.length} bytes, revision ${manifest.revision}, ETag ${etag}, candidates ${manifest.candidates.map((c) => `${c.version} (${c.state ?? '?'})`).join(', ')}`);

  // 2. the raw node:http server, same body and headers.
  const spec: RawSpec = { etag, bodyBase64: ok.body.toString('base64'), ok: replayable(ok.rawHeaders), notModified: replayable(nm.rawHeaders) };
  const raw = await startRaw(sb.dir, 'raw', spec);
  const rawPort = raw.port;
  const rawOk = await get(rawPort, MANIFEST_PATH);
  const rawNm = await get(rawPort, MANIFEST_PATH, { 'If-None-Match': etag });
  if (!rawOk.body.equals(ok.body) || rawOk.headers['x-ringmaster-signature'] !== ok.headers['x-ringmaster-signature'] || rawNm.status !== 304) throw new Error('raw-server does not answer as ringmaster does');

  // 3. nginx with proxy_cache in front of ringmaster serve.
  const nginxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-bench-nginx-'));
  const nginxPort = await freePort();
  const nginx = new Nginx({ dir: nginxDir, listenPort: nginxPort, upstreamPort: port, ttlS: CFG.cacheTtlS, workers: 1 });
  const onExit = (): void => {
    nginx.stopNow();
    fs.rmSync(nginxDir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  await nginx.start(async () => {
    try {
      return (await get(nginxPort, MANIFEST_PATH)).status === 200;
    } catch {
      return false;
    }
  });
  const viaCache = await get(nginxPort, MANIFEST_PATH);
  const viaCache304 = await get(nginxPort, MANIFEST_PATH, { 'If-None-Match': etag });
  const cacheCheck = {
    bodyIdentical: viaCache.body.equals(ok.body),
    etagPassed: viaCache.headers.etag === etag,
    signaturePassed: viaCache.headers['x-ringmaster-signature'] === ok.headers['x-ringmaster-signature'],
    revisionPassed: viaCache.headers['x-ringmaster-revision'] === ok.headers['x-ringmaster-revision'],
    keyIdPassed: viaCache.headers['x-ringmaster-key-id'] === ok.headers['x-ringmaster-key-id'],
    cacheStatus: String(viaCache.headers['x-cache-status'] ?? '-'),
    notModifiedToClients: viaCache304.status === 304,
    notModifiedCacheStatus: String(viaCache304.headers['x-cache-status'] ?? '-'),
    managementApiHidden: (await get(nginxPort, '/v1/rollouts')).status === 404,
  };
  say(`nginx: ${JSON.stringify(cacheCheck)}`);
  if (!cacheCheck.bodyIdentical || !cacheCheck.etagPassed || !cacheCheck.signaturePassed || !cacheCheck.notModifiedToClients) throw new Error(`the cache does not pass the manifest through: ${JSON.stringify(cacheCheck)} ${nginx.errors()}`);

  // 4. warm-up (JIT, connections), then alternating rounds.
  const urls: Record<ServerKind, string> = {
    raw: `http://127.0.0.1:${rawPort}${MANIFEST_PATH}`,
    ringmaster: `http://127.0.0.1:${port}${MANIFEST_PATH}`,
    'nginx-cache': `http://127.0.0.1:${nginxPort}${MANIFEST_PATH}`,
  };
  const order: ServerKind[] = ['raw', 'ringmaster', 'nginx-cache'];
  if (CFG.warmupSeconds > 0) for (const s of order) await runWrk(urls[s], CFG.warmupSeconds, null);
  const sizes = { '200': ok.wireBytes, '304': nm.wireBytes };
  const results: RoundResult[] = [];
  const logFrom = nginx.accessLogSize();
  for (let round = 0; round < CFG.rounds; round++) {
    for (const response of ['200', '304'] as ResponseKind[]) {
      for (const server of order) {
        const before = server === 'raw' ? null : await manifestCounts(port);
        const stats = await runWrk(urls[server], CFG.wrkSeconds, response === '304' ? etag : null);
        const after = server === 'raw' ? null : await manifestCounts(port);
        const upstream = before && after ? total(delta(before, after)) : undefined;
        const r: RoundResult = { round, server, response, stats, seen: dominantResponse(stats, sizes['200'], sizes['304']), ...(upstream === undefined ? {} : { upstream }) };
        results.push(r);
        say(`round ${round + 1}/${CFG.rounds} ${server} ${response}: ${Math.round(stats.requests / (stats.durationUs / 1e6))} req/s, p99 ${stats.p99Us / 1000} ms, answers ${r.seen}${upstream === undefined ? '' : `, ${upstream} reached the controller`}`);
      }
    }
  }
  const etagAfter = String((await get(port, MANIFEST_PATH)).headers.etag ?? '');
  // nginx flushes its access log buffer every second; the agents' first checks run meanwhile.
  const [, before] = await Promise.all([sleep(1100), agentsBefore(sb.dir, port, nginxPort, spec)]);
  /** How nginx answered the wrk requests ($upstream_cache_status): only wrk went through nginx during the rounds. */
  const cacheStatuses = nginx.cacheStatuses(logFrom);

  say(`agents before the kill switch: ${JSON.stringify(before)}`);

  // 5. the kill switch, through the cache.
  say(`kill switch: engage ${CFG.killSwitchAtWorstPhase ? 'just after a cache refresh' : 'at once (quick mode)'}, then poll through nginx every ${CFG.killSwitchPollMs} ms`);
  const ks = await killSwitchThroughCache(api, port, nginxPort);
  say(`kill switch: ${JSON.stringify(ks)}`);

  // 6. the real agent through the cache after the switch, and against a stale cache.
  const agents = await agentsAfter(sb.dir, before.key, nginxPort, raw.port, before);
  say(`agents: ${JSON.stringify(agents)}`);

  await nginx.stop();
  raw.child.kill('SIGTERM');
  const serveExit = await serve.stop();

  // 7. report.
  const rows = summarize(results).map((row) => {
    const mine = results.filter((r) => r.server === row.server && r.response === row.response);
    const counted = mine.every((r) => r.upstream !== undefined) ? mine.reduce((n, r) => n + (r.upstream ?? 0), 0) : null;
    return row.server === 'nginx-cache'
      ? { ...row, clientRequests: row.requests, upstreamRequests: counted }
      : row.server === 'ringmaster'
        ? { ...row, controllerCounted: counted }
        : row;
  });
  const nginxRuns = results.filter((r) => r.server === 'nginx-cache');
  const clientRequests = nginxRuns.reduce((n, r) => n + r.stats.requests, 0);
  const upstreamRequests = nginxRuns.reduce((n, r) => n + (r.upstream ?? 0), 0);
  const nginxSeconds = nginxRuns.reduce((n, r) => n + r.stats.durationUs / 1e6, 0);
  const verdicts: Verdict[] = [
    ...judgeRows(rows),
    killSwitchVerdict(ks.propagationS, CFG.cacheTtlS, CFG.agentPollIntervalS),
    cacheStalenessVerdict(ks.propagationS, CFG.cacheTtlS, CFG.killSwitchPollMs),
    {
      name: 'the real agent through the cache: accepts the signed manifest, refuses a forged body and a stale (older) revision',
      pass: agents.pass,
      detail: `accepted r${agents.throughCache.accepted ?? '-'}, forged: ${agents.forgedBody.refused ?? 'ACCEPTED'}, after the switch: r${agents.afterKillSwitch.accepted ?? '-'} (switch ${agents.afterKillSwitch.sawKillSwitch ? 'engaged' : 'NOT seen'}), stale r${manifest.revision}: ${agents.staleReplay.refused ?? 'ACCEPTED'}`,
    },
  ];
  const cpus = os.cpus();
  const out = {
    bench: 'manifest',
    date: new Date().toISOString(),
    commit: git.commit,
    dirtyTree: git.dirty,
    mode: QUICK ? 'quick' : 'full',
    command: `${QUICK ? 'BENCH_QUICK=1 ' : ''}node dist/bench/manifest/main.js`,
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      loadAverageStart: loadStart.map((x) => Math.round(x * 100) / 100),
      loadAverageEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      wrk: wrkVersion(),
      nginx: nginxVersion(),
    },
    wrk: { threads: CFG.threads, connections: CFG.connections, seconds: CFG.wrkSeconds, rounds: CFG.rounds, order: `per round: 200 then 304, each ${order.join(' -> ')}` },
    manifest: { bytes: ok.body.length, revision: manifest.revision, etag, etagUnchangedDuringRounds: etagAfter === etag, candidates: manifest.candidates, response200Bytes: sizes['200'], response304Bytes: sizes['304'] },
    rows,
    cacheTtlS: CFG.cacheTtlS,
    proxyCacheValidS: proxyCacheValidS(CFG.cacheTtlS),
    agentPollIntervalS: CFG.agentPollIntervalS,
    clientRequests,
    upstreamRequests,
    upstreamShare: clientRequests > 0 ? upstreamRequests / clientRequests : null,
    upstreamPerSecond: nginxSeconds > 0 ? Math.round((upstreamRequests / nginxSeconds) * 1000) / 1000 : null,
    cacheStatuses,
    cacheCheck,
    killSwitchPropagationS: ks.propagationS,
    killSwitchBoundS: CFG.cacheTtlS + CFG.agentPollIntervalS,
    killSwitch: ks,
    agents,
    verdicts,
    serveExit: String(serveExit),
    durationS: Math.round((Date.now() - t0) / 1000),
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(out, null, 2)}\n`);

  const lines = [
    `## Manifest serving (wrk -t${CFG.threads} -c${CFG.connections} -d${CFG.wrkSeconds}s, ${CFG.rounds} alternating rounds, ${out.mode})`,
    '',
    markdownTable(rows),
    '',
    `Manifest: ${ok.body.length} bytes, signed, candidate ${manifest.candidates.map((c) => c.version).join(', ')} in flight; a 200 is ${sizes['200']} bytes on the wire, a 304 ${sizes['304']}.`,
    `Cache (nginx proxy_cache, 1 worker; a copy is served for less than ${CFG.cacheTtlS} s: proxy_cache_valid ${proxyCacheValidS(CFG.cacheTtlS)}s): ${clientRequests} client requests, ${upstreamRequests} reached the controller (${out.upstreamPerSecond} req/s over ${Math.round(nginxSeconds)} s of load).`,
    `Kill switch through the cache: ${ks.propagationS ?? 'never'} s (engaged ${ks.engagedAfterRefresh ? `just after a cache refresh (${ks.refreshStatus}), the worst phase` : ks.aimedAtWorstPhase ? 'without seeing a refresh' : 'at once, at any phase of the TTL (quick mode)'}; direct from the controller at once: ${ks.directVisibleAtOnce ? 'yes' : 'NO'}).`,
    `Machine: ${cpus.length} × ${out.machine.cpuModel}, load average ${out.machine.loadAverageStart.join(' ')} at start, ${out.machine.loadAverageEnd.join(' ')} at end; ${out.machine.wrk}; ${out.machine.nginx}; node ${process.version}.`,
    '',
    ...verdicts.map((v) => `${v.pass ? 'PASS' : 'FAIL'}  ${v.name}: ${v.detail}`),
    '',
    `(${out.durationS} s; wrote ${path.relative(ROOT, OUT)})`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (process.env.MANIFEST_STRICT === '1' && verdicts.some((v) => !v.pass)) process.exitCode = 1;
}

process.on('exit', () => {
  cleanupAll();
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main()
  .catch((err: unknown) => {
    process.stderr.write(`bench/manifest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1); // the exit handlers stop nginx, the servers and wrk, and remove the temp dirs
  })
  .finally(() => {
    keepAlive.destroy();
  });
