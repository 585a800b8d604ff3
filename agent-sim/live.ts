/**
 * Live mode: the fleet in real time against a running controller.
 *
 * - Once per tick (1 s), the sim GETs the channel manifest over HTTP (If-None-Match: a 304 costs nothing) and offers
 *   the bytes to every host whose poll falls due. Each host runs the agent's checks (engine/agent.ts checkManifest,
 *   in fleet.ts): the signature against the keys the agents pinned, the channel, the revision that never goes back
 *   (each host remembers the last it accepted: a replayed older manifest is refused), the maximum age. Refusals are
 *   counted by reason.
 * - The key: `--pin-key BASE64`. Without it the sim trusts the key the controller serves at start, and says so in
 *   a warning line (trust on first use). A manifest signed by a key the agents do not trust makes the sim fetch
 *   `GET /v1/signing-key` and follow its rotation statements from a trusted key (engine applyRotations); without a
 *   chain the agents keep refusing it (`unknown-key`).
 * - It exports the agent metrics contract on /metrics (prom-client) for a real Prometheus to scrape:
 *   ringmaster_agent_hosts, _host_seconds_total, _crashes_total{kind}, _update_failures_total{reason},
 *   _manifest_refusals_total{reason}, _local_rollbacks_total.
 * - It stops on SIGINT/SIGTERM or after --duration, and prints a summary (JSON with --json).
 *
 * Load mode (`--pollers K`): K real HTTP pollers against the manifest endpoint, bounded in count and time,
 * loopback only, reporting requests per second and status codes. Agents mode (`--agents K`, agents.ts): K real
 * reference agents (agent/) instead of the simulated fleet.
 *
 * Both speak HTTP through the one client (controller/http/client.ts, 5 s hard budget per request). stdout is the
 * report for people (or the JSON summary with --json); problems (failed polls, refused manifests) are pino JSON
 * lines on stderr (controller/telemetry/log.ts, level from RINGMASTER_LOG_LEVEL).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { keyIdOfRaw, parsePublicKey } from '../controller/crypto/keys';
import { applyRotations, checkManifest, INITIAL_REPLAY_STATE, type ChannelManifest, type FetchedManifest, type SignedRotation, type TrustedManifestKey } from '../controller/engine/agent';
import { HttpClient } from '../controller/http/client';
import { analysisIntervalMs } from '../controller/runtime/config';
import { parseDuration } from '../controller/spec/duration';
import { createLogger, type Logger } from '../controller/telemetry/log';
import { BASELINE, CANDIDATE, Fleet, MANIFEST_REFUSALS } from './fleet';
import type { Scenario } from './scenario';
import { fetchedOf } from './signed';
import { loadScenarioDocuments } from './virtual';

export interface LiveFlags {
  json?: boolean;
  controller?: string;
  metricsListen?: string;
  duration?: string;
  pinKey?: string;
  pollers?: string;
  /** `--agents K`: K real reference agents instead of the simulated fleet (agents.ts). */
  agents?: string;
  agentsDir?: string;
}

function fail(msg: string): number {
  process.stderr.write(`agent-sim: ${msg}\n`);
  return 2;
}

function loopbackUrl(raw: string): URL | string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `--controller: not a URL: ${JSON.stringify(raw)}`;
  }
  if (u.protocol !== 'http:') return '--controller: must be http://';
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return '--controller: live and load modes target loopback only (127.0.0.1, localhost, [::1])';
  return u;
}

const REQUEST_TIMEOUT_MS = 5000;
/** How often the sim asks for rotation statements while the manifest's key is not trusted. */
const ROTATION_RETRY_MS = 30_000;

/** Logs a problem when it first appears or changes, and once when it clears: a down controller is one line, not one a second. */
function problemLog(log: Logger): (problem: string | undefined, fields?: Record<string, unknown>) => void {
  let current: string | undefined;
  return (problem, fields = {}) => {
    if (problem === current) return;
    if (problem === undefined) log.info(fields, 'manifest polls answer again');
    else log.warn({ ...fields, error: problem }, 'manifest poll failed');
    current = problem;
  };
}

interface SigningKeyAnswer {
  publicKey: string;
  keyId?: string;
  rotations?: SignedRotation[];
}

/** GET /v1/signing-key (retried for up to 30 s at start: the controller may still be starting). */
async function signingKey(api: HttpClient, attempts: number): Promise<SigningKeyAnswer | string> {
  for (let attempt = 0; ; attempt++) {
    const r = await api.get('/v1/signing-key');
    if (r.ok && r.response.status === 200) {
      try {
        const a = JSON.parse(r.response.text()) as SigningKeyAnswer;
        if (typeof a.publicKey === 'string') return a;
      } catch {
        // not the controller's answer: keep trying, then give up below
      }
    }
    if (attempt + 1 >= attempts) return r.ok ? `HTTP ${r.response.status}` : r.failure.reason;
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** "7.16.291 ring 0" for each candidate in effect (what the bytes say, before anyone believes them). */
function describe(body: Buffer): string {
  try {
    const m = JSON.parse(body.toString('utf8')) as ChannelManifest;
    const inEffect = m.candidates.filter((c) => c.exposure.activeRing >= 0);
    const what = inEffect.length === 0 ? 'no candidate in effect' : inEffect.map((c) => `${c.version} ring ${c.exposure.activeRing}`).join(', ');
    return `manifest revision ${m.revision}: ${what}${m.killSwitch.engaged ? ', KILL SWITCH' : ''}`;
  } catch {
    return 'manifest: a body that is not JSON';
  }
}

/**
 * The key the agents pin: --pin-key, else the one the controller serves now (trust on first use, said aloud in a
 * warning line on stderr and in the log). A string is the one-line problem.
 */
export async function agentTrust(api: HttpClient, base: URL, pinKey: string | undefined, log: Logger): Promise<{ trust: TrustedManifestKey[]; tofu: boolean } | string> {
  let pinnedText = pinKey?.trim();
  const tofu = pinnedText === undefined;
  if (pinnedText === undefined) {
    const k = await signingKey(api, 60);
    if (typeof k === 'string') return `cannot reach ${base.origin}/v1/signing-key (is ringmaster serve running?): ${k}`;
    pinnedText = k.publicKey;
  }
  const parsed = parsePublicKey(pinnedText);
  if (!parsed.ok) return `--pin-key: ${parsed.message}`;
  const key: TrustedManifestKey = { keyId: keyIdOfRaw(pinnedText), publicKey: pinnedText };
  if (tofu) {
    process.stderr.write(`agent-sim live: WARNING: no --pin-key: the agents trust the key ${base.origin}/v1/signing-key serves now (${key.keyId}), trust on first use; pin it with --pin-key ${pinnedText}\n`);
    log.warn({ keyId: key.keyId }, 'trust on first use: no --pin-key, the agents pinned the key the controller serves');
  }
  return { trust: [key], tofu };
}

export async function runLive(sc: Scenario, flags: LiveFlags, log: Logger = createLogger({ base: { component: 'agent-sim' } })): Promise<number> {
  const base = loopbackUrl(flags.controller ?? 'http://127.0.0.1:8080');
  if (typeof base === 'string') return fail(base);
  const durationMs = flags.duration === undefined ? Infinity : parseDuration(flags.duration);
  if (typeof durationMs !== 'number' && !durationMs.ok) return fail(`--duration: ${durationMs.message}`);
  const limitMs = typeof durationMs === 'number' ? durationMs : durationMs.ms;
  if (flags.pollers !== undefined) return runLoad(base, sc, flags, limitMs, log);
  if (flags.agents !== undefined) {
    const { runAgents } = await import('./agents');
    return runAgents(base, sc, flags, limitMs, log);
  }
  const docs = loadScenarioDocuments(sc);
  const spec = docs.rollout.spec;
  const channel = spec.channel;
  const baseline = spec.previousVersion ?? '0.0.0';
  const say = (line: string): void => {
    if (!flags.json) process.stdout.write(`${line}\n`);
  };

  const api = new HttpClient({ baseUrl: base, timeoutMs: REQUEST_TIMEOUT_MS, connections: 2 });
  const pinned = await agentTrust(api, base, flags.pinKey, log);
  if (typeof pinned === 'string') {
    await api.close();
    return fail(pinned);
  }
  const { trust, tofu } = pinned;

  const start = Date.now();
  const registry = new Registry();
  const labelsOf = (v: number): { channel: string; version: string } => ({ channel, version: v === CANDIDATE ? spec.version : baseline });
  const exported = { hostSeconds: [0, 0], events: [[0, 0], [0, 0]], failures: { signature: 0, hash: 0, download: 0, apply: 0 } as Record<string, number>, refusals: {} as Record<string, number>, localRollbacks: 0 };
  // The first refusal of each fetched manifest for each reason: one line (the counts are on /metrics).
  let fetched: FetchedManifest | undefined;
  const refused = (reason: string, message: string): void => {
    say(`${new Date().toISOString()} hosts refuse the manifest (${reason}): ${message}`);
    log.warn({ reason, revision: fetched?.revisionHeader === undefined ? null : Number(fetched.revisionHeader) }, `hosts refuse the manifest: ${message}`);
  };
  const fleet = new Fleet(sc, { channel, trust, versions: { baseline, candidate: spec.version }, artifact: docs.artifact }, start, { noiseIntervalMs: sc.fleet.noiseIntervalMs ?? analysisIntervalMs(docs.rollout), onRefusal: refused });
  // `ring`: the ring each host is assigned to in the candidate's plan ("" when none): the controller's ring census.
  const hostsG = new Gauge({ name: 'ringmaster_agent_hosts', help: 'Hosts up on that version, by the ring of the candidate plan they belong to', labelNames: ['channel', 'version', 'ring'], registers: [registry] });
  const secondsC = new Counter({ name: 'ringmaster_agent_host_seconds_total', help: 'Host-seconds of exposure per version', labelNames: ['channel', 'version'], registers: [registry] });
  const crashesC = new Counter({ name: 'ringmaster_agent_crashes_total', help: 'Crashes and BSODs per version', labelNames: ['channel', 'version', 'kind'], registers: [registry] });
  const failuresC = new Counter({ name: 'ringmaster_agent_update_failures_total', help: 'Refused or failed updates by reason', labelNames: ['channel', 'version', 'reason'], registers: [registry] });
  const refusalsC = new Counter({ name: 'ringmaster_agent_manifest_refusals_total', help: 'Manifests refused (signature, replay, max age, ...)', labelNames: ['channel', 'reason'], registers: [registry] });
  const rollbacksC = new Counter({ name: 'ringmaster_agent_local_rollbacks_total', help: 'Reverts to last-known-good by the boot-loop safety net', labelNames: ['channel', 'version'], registers: [registry] });
  // The contract: every series exists from the start, at 0.
  for (const v of [BASELINE, CANDIDATE]) {
    secondsC.inc(labelsOf(v), 0);
    for (const kind of ['crash', 'bsod']) crashesC.inc({ ...labelsOf(v), kind }, 0);
  }
  for (const reason of Object.keys(exported.failures)) failuresC.inc({ ...labelsOf(CANDIDATE), reason }, 0);
  for (const reason of MANIFEST_REFUSALS) refusalsC.inc({ channel, reason }, 0);
  rollbacksC.inc(labelsOf(CANDIDATE), 0);
  const sync = (): void => {
    const s = fleet.latest();
    hostsG.reset();
    for (const h of fleet.hostsByVersionAndRing()) hostsG.set({ ...labelsOf(h.version), ring: h.ring }, h.hosts);
    for (const v of [BASELINE, CANDIDATE] as const) {
      secondsC.inc(labelsOf(v), s.hostSeconds[v] - (exported.hostSeconds[v] as number));
      exported.hostSeconds[v] = s.hostSeconds[v];
      ['crash', 'bsod'].forEach((kind, k) => {
        const ev = exported.events[v] as number[];
        crashesC.inc({ ...labelsOf(v), kind }, (s.events[v][k] as number) - (ev[k] as number));
        ev[k] = s.events[v][k] as number;
      });
    }
    for (const [reason, n] of Object.entries(fleet.failures)) {
      failuresC.inc({ ...labelsOf(CANDIDATE), reason }, n - (exported.failures[reason] ?? 0));
      exported.failures[reason] = n;
    }
    for (const [reason, n] of Object.entries(fleet.refusals)) {
      refusalsC.inc({ channel, reason }, n - (exported.refusals[reason] ?? 0));
      exported.refusals[reason] = n;
    }
    rollbacksC.inc(labelsOf(CANDIDATE), fleet.localRollbacks - exported.localRollbacks);
    exported.localRollbacks = fleet.localRollbacks;
  };
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end('not found\n');
      return;
    }
    sync();
    registry.metrics().then(
      (text) => {
        res.setHeader('Content-Type', registry.contentType);
        res.end(text);
      },
      () => {
        res.statusCode = 500;
        res.end();
      },
    );
  });
  const [host, portText] = (flags.metricsListen ?? '127.0.0.1:9464').split(/:(?=\d+$)/);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(portText), host, () => resolve());
    });
  } catch (err) {
    await api.close();
    return fail(`cannot listen on ${flags.metricsListen ?? '127.0.0.1:9464'} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const addr = server.address() as AddressInfo;
  say(`agent-sim live: ${sc.fleet.hosts.toLocaleString('en-US')} hosts (${fleet.canaryCount} canary) polling ${base.origin}/v1/channels/${channel}/manifest every ${sc.fleet.pollIntervalMs / 1000}s, manifest key ${trust[0]?.keyId}${tofu ? ' (trusted on first use)' : ' (pinned)'}`);
  say(`agent-sim live: agent metrics on http://${addr.address}:${addr.port}/metrics; Ctrl-C stops`);

  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let etag: string | undefined;
  let polls = 0;
  let notModified = 0;
  let errors = 0;
  let lastRevision = -1;
  let lastBody = '';
  const rotationTried = new Map<string, number>();
  const tick = 1000;
  let t = start;
  const manifestPath = `/v1/channels/${encodeURIComponent(channel)}/manifest`;
  const problem = problemLog(log);
  /** A manifest signed by a key the agents do not trust: follow the controller's rotation statements (engine applyRotations). */
  const followRotation = async (keyId: string): Promise<void> => {
    const last = rotationTried.get(keyId);
    if (last !== undefined && Date.now() - last < ROTATION_RETRY_MS) return;
    rotationTried.set(keyId, Date.now());
    const k = await signingKey(api, 1);
    if (typeof k === 'string') {
      log.warn({ keyId, error: k }, 'cannot fetch the rotation statements');
      return;
    }
    const r = applyRotations(fleet.trusted(), k.rotations ?? []);
    for (const line of r.refused) log.warn({ keyId }, `rotation statement refused: ${line}`);
    if (r.accepted.length > 0) {
      fleet.setTrust(r.trust);
      say(`${new Date().toISOString()} agents follow the key rotation: they now trust ${r.trust.map((x) => x.keyId).join(', ')} (accepted ${r.accepted.join(', ')})`);
      log.info({ accepted: r.accepted }, `agents follow the key rotation: they now trust ${r.trust.map((x) => x.keyId).join(', ')}`);
    } else if (!fleet.trusted().some((x) => x.keyId === keyId)) {
      say(`${new Date().toISOString()} the manifest is signed by key ${keyId}: no rotation statement from a key the agents trust leads to it, they refuse it`);
      log.warn({ keyId }, `the manifest is signed by key ${keyId}: no rotation statement from a key the agents trust leads to it`);
    }
  };
  while (!stopping && Date.now() - start < limitMs) {
    const r = await api.get(manifestPath, etag ? { headers: { 'If-None-Match': etag } } : {});
    if (!r.ok) {
      errors++;
      problem(r.failure.message, { kind: r.failure.kind });
    } else {
      polls++;
      const res = r.response;
      if (res.status === 304) {
        notModified++;
        problem(undefined);
      } else if (res.status === 200) {
        problem(undefined);
        const f = fetchedOf(res.body, res.header('x-ringmaster-signature'), res.header('x-ringmaster-key-id'), res.header('x-ringmaster-revision'));
        // What an agent that never accepted a manifest makes of the bytes: the signature and key (replay is per host).
        let fresh = checkManifest(fleet.trusted(), INITIAL_REPLAY_STATE, f, fleet.rules, Date.now());
        if (!fresh.ok && fresh.reason === 'unknown-key' && f.keyId !== undefined) {
          await followRotation(f.keyId);
          fresh = checkManifest(fleet.trusted(), INITIAL_REPLAY_STATE, f, fleet.rules, Date.now());
        }
        // Only bytes whose signature verifies are worth a 304 later (a refused answer is fetched again).
        const signed = fresh.ok || !['unknown-key', 'signature', 'malformed'].includes(fresh.reason);
        etag = signed ? res.header('etag') : undefined;
        if (f.bodySha256 !== lastBody) {
          lastBody = f.bodySha256;
          say(`${new Date().toISOString()} ${describe(f.body)}${fresh.ok ? '' : `, ${fresh.reason.toUpperCase()}: ${fresh.message}`}`);
          const revision = Number(f.revisionHeader);
          if (Number.isSafeInteger(revision)) lastRevision = revision;
        }
        fetched = f;
      } else if (res.status === 404) problem(undefined);
      else {
        errors++;
        problem(`GET ${api.endpoint}${manifestPath}: HTTP ${res.status}`);
      }
    }
    const now = Date.now();
    fleet.step(t, Math.max(tick, now - t), fetched);
    t = Math.max(now, t + tick);
    const wait = t + tick - Date.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
  }
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await api.close();
  sync();
  await new Promise<void>((res) => {
    server.closeAllConnections();
    server.close(() => res());
  });
  const c = fleet.counts();
  const summary = {
    mode: 'live',
    hosts: sc.fleet.hosts,
    canaryHosts: fleet.canaryCount,
    seconds: Math.round((Date.now() - start) / 1000),
    polls,
    notModified,
    errors,
    lastRevision,
    trustOnFirstUse: tofu,
    trustedKeys: fleet.trusted().map((k) => k.keyId),
    hostsUpdated: c.took,
    hostsUpdatedOutsideCanary: c.tookOutsideCanary,
    hostsBricked: c.bricked,
    hostsRecoveredLocally: c.recoveredLocally,
    localRollbacks: c.localRollbacks,
    onCandidate: c.onCandidate,
    updateFailures: fleet.failures,
    manifestRefusals: fleet.refusals,
  };
  const refusals = Object.entries(fleet.refusals).filter(([, n]) => n > 0);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    say(
      `agent-sim live: stopped after ${summary.seconds}s: ${c.took} hosts took the update (${c.tookOutsideCanary} outside the canary ring), ${c.bricked} bricked, ${c.recoveredLocally} recovered locally, ${polls} manifest fetches (${notModified} not modified), ` +
        `manifests refused ${refusals.length === 0 ? '0' : refusals.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    );
  }
  return 0;
}

/** K concurrent pollers with ETags against the manifest endpoint, for --duration (default 10s, max 120s). */
async function runLoad(base: URL, sc: Scenario, flags: LiveFlags, limitMs: number, log: Logger): Promise<number> {
  const k = Number(flags.pollers);
  if (!Number.isInteger(k) || k < 1 || k > 1000) return fail('--pollers must be an integer between 1 and 1000');
  const ms = Number.isFinite(limitMs) ? Math.min(limitMs, 120_000) : 10_000;
  const docs = loadScenarioDocuments(sc);
  const manifestPath = `/v1/channels/${encodeURIComponent(docs.rollout.spec.channel)}/manifest`;
  const api = new HttpClient({ baseUrl: base, timeoutMs: REQUEST_TIMEOUT_MS, connections: k });
  const codes = new Map<number, number>();
  let errors = 0;
  const seen = new Set<string>();
  const until = Date.now() + ms;
  const worker = async (): Promise<void> => {
    let etag: string | undefined;
    while (Date.now() < until) {
      const r = await api.get(manifestPath, etag ? { headers: { 'If-None-Match': etag } } : {});
      if (!r.ok) {
        errors++;
        // Each distinct failure once: K pollers against a dead server are one line, not K per second.
        if (!seen.has(r.failure.reason)) log.warn({ error: r.failure.message, kind: r.failure.kind }, 'load poll failed');
        seen.add(r.failure.reason);
        await new Promise((res) => setTimeout(res, 10)); // no busy loop against a dead server
        continue;
      }
      const status = r.response.status;
      if (status === 200) etag = r.response.header('etag') ?? etag;
      codes.set(status, (codes.get(status) ?? 0) + 1);
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: k }, () => worker()));
  await api.close();
  const seconds = (Date.now() - t0) / 1000;
  const total = [...codes.values()].reduce((a, b) => a + b, 0);
  const out = { mode: 'load', pollers: k, seconds: Number(seconds.toFixed(2)), requests: total, requestsPerSecond: Math.round(total / seconds), codes: Object.fromEntries(codes), errors };
  process.stdout.write(flags.json ? `${JSON.stringify(out)}\n` : `agent-sim load: ${k} pollers, ${total} requests in ${out.seconds}s = ${out.requestsPerSecond} req/s, codes ${JSON.stringify(out.codes)}, errors ${errors}\n`);
  return errors > total / 100 ? 1 : 0;
}

