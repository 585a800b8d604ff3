/**
 * Live mode: the fleet in real time against a running controller.
 *
 * - Once per tick (1 s), the sim GETs the channel manifest over HTTP (If-None-Match: a 304 costs nothing),
 *   verifies its ed25519 signature against the controller key pinned at start (or --pin-key), and hands it to
 *   every host whose poll falls due; hosts verify the artifact's sha256 against the scenario's artifact file.
 * - It exports the agent metrics contract on /metrics (prom-client) for a real Prometheus to scrape:
 *   ringmaster_agent_hosts, _host_seconds_total, _crashes_total{kind}, _update_failures_total{reason}.
 * - It stops on SIGINT/SIGTERM or after --duration, and prints a summary (JSON with --json).
 *
 * Load mode (`--pollers K`): K real HTTP pollers against the manifest endpoint, bounded in count and time,
 * loopback only, reporting requests per second and status codes.
 *
 * Both speak HTTP through the one client (controller/http/client.ts, 5 s hard budget per request). stdout is the
 * report for people (or the JSON summary with --json); problems (failed polls, invalid signatures) are pino JSON
 * lines on stderr (controller/telemetry/log.ts, level from RINGMASTER_LOG_LEVEL).
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { parsePublicKey, verify } from '../controller/crypto/keys';
import type { Exposure } from '../controller/engine/membership';
import { HttpClient } from '../controller/http/client';
import { analysisIntervalMs } from '../controller/runtime/config';
import { channelSalt } from '../controller/runtime/manifest';
import { parseDuration } from '../controller/spec/duration';
import { createLogger, type Logger } from '../controller/telemetry/log';
import { BASELINE, CANDIDATE, Fleet, type ManifestView } from './fleet';
import type { Scenario } from './scenario';
import { loadScenarioDocuments } from './virtual';

export interface LiveFlags {
  json?: boolean;
  controller?: string;
  metricsListen?: string;
  duration?: string;
  pinKey?: string;
  pollers?: string;
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

export async function runLive(sc: Scenario, flags: LiveFlags, log: Logger = createLogger({ base: { component: 'agent-sim' } })): Promise<number> {
  const base = loopbackUrl(flags.controller ?? 'http://127.0.0.1:8080');
  if (typeof base === 'string') return fail(base);
  const durationMs = flags.duration === undefined ? Infinity : parseDuration(flags.duration);
  if (typeof durationMs !== 'number' && !durationMs.ok) return fail(`--duration: ${durationMs.message}`);
  const limitMs = typeof durationMs === 'number' ? durationMs : durationMs.ms;
  if (flags.pollers !== undefined) return runLoad(base, sc, flags, limitMs, log);
  const docs = loadScenarioDocuments(sc);
  const spec = docs.rollout.spec;
  const channel = spec.channel;
  const baseline = spec.previousVersion ?? '0.0.0';

  const api = new HttpClient({ baseUrl: base, timeoutMs: REQUEST_TIMEOUT_MS, connections: 2 });
  // Pin the controller's key: from --pin-key, else fetched once at start (trust on first use).
  let pinnedText = flags.pinKey;
  if (pinnedText === undefined) {
    for (let attempt = 0; ; attempt++) {
      const r = await api.get('/v1/signing-key');
      if (r.ok && r.response.status === 200) {
        try {
          pinnedText = (JSON.parse(r.response.text()) as { publicKey: string }).publicKey;
          break;
        } catch {
          // not the controller's answer: keep trying, then give up below
        }
      }
      if (attempt >= 60) {
        await api.close();
        return fail(`cannot reach ${base.origin}/v1/signing-key (is ringmaster serve running?): ${r.ok ? `HTTP ${r.response.status}` : r.failure.reason}`);
      }
      await new Promise((res) => setTimeout(res, 500));
    }
  }
  const pinned = parsePublicKey(pinnedText);
  if (!pinned.ok) return fail(`pinned key: ${pinned.message}`);
  const artifactOk = docs.artifact === undefined ? true : crypto.createHash('sha256').update(sc.tamper.artifact ? Buffer.concat([docs.artifact, Buffer.from([0])]) : docs.artifact).digest('hex') === spec.artifact.sha256;

  const start = Date.now();
  const fleet = new Fleet(sc, channelSalt(channel), start, { noiseIntervalMs: sc.fleet.noiseIntervalMs ?? analysisIntervalMs(docs.rollout) });
  const registry = new Registry();
  const labelsOf = (v: number): { channel: string; version: string } => ({ channel, version: v === CANDIDATE ? spec.version : baseline });
  const exported = { hostSeconds: [0, 0], events: [[0, 0], [0, 0]], failures: { signature: 0, hash: 0, download: 0, apply: 0 } as Record<string, number> };
  // `ring`: the ring each host is assigned to in the candidate's plan ("" when none): the controller's ring census.
  const hostsG = new Gauge({ name: 'ringmaster_agent_hosts', help: 'Hosts up on that version, by the ring of the candidate plan they belong to', labelNames: ['channel', 'version', 'ring'], registers: [registry] });
  const secondsC = new Counter({ name: 'ringmaster_agent_host_seconds_total', help: 'Host-seconds of exposure per version', labelNames: ['channel', 'version'], registers: [registry] });
  const crashesC = new Counter({ name: 'ringmaster_agent_crashes_total', help: 'Crashes and BSODs per version', labelNames: ['channel', 'version', 'kind'], registers: [registry] });
  const failuresC = new Counter({ name: 'ringmaster_agent_update_failures_total', help: 'Refused or failed updates by reason', labelNames: ['channel', 'version', 'reason'], registers: [registry] });
  // The contract: every series exists from the start, at 0.
  for (const v of [BASELINE, CANDIDATE]) {
    secondsC.inc(labelsOf(v), 0);
    for (const kind of ['crash', 'bsod']) crashesC.inc({ ...labelsOf(v), kind }, 0);
  }
  for (const reason of Object.keys(exported.failures)) failuresC.inc({ ...labelsOf(CANDIDATE), reason }, 0);
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
    return fail(`cannot listen on ${flags.metricsListen ?? '127.0.0.1:9464'} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const addr = server.address() as AddressInfo;
  const say = (line: string): void => {
    if (!flags.json) process.stdout.write(`${line}\n`);
  };
  say(`agent-sim live: ${sc.fleet.hosts.toLocaleString('en-US')} hosts (${fleet.canaryCount} canary) polling ${base.origin}/v1/channels/${channel}/manifest every ${sc.fleet.pollIntervalMs / 1000}s`);
  say(`agent-sim live: agent metrics on http://${addr.address}:${addr.port}/metrics; Ctrl-C stops`);

  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let etag: string | undefined;
  let view: ManifestView | undefined;
  let polls = 0;
  let notModified = 0;
  let errors = 0;
  let lastRevision = -1;
  const tick = 1000;
  let t = start;
  const manifestPath = `/v1/channels/${encodeURIComponent(channel)}/manifest`;
  const problem = problemLog(log);
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
        const signatureOk = verify(pinned.key, res.body, res.header('x-ringmaster-signature') ?? '');
        let body: { revision: number; stable: { version: string } | null; candidates: Array<{ version: string; exposure: Exposure }>; killSwitch: { engaged: boolean } } | undefined;
        try {
          body = JSON.parse(res.text()) as NonNullable<typeof body>;
        } catch {
          errors++;
          problem(`GET ${api.endpoint}${manifestPath}: HTTP 200 with a body that is not JSON`);
        }
        if (body !== undefined) {
          problem(undefined);
          if (signatureOk) etag = res.header('etag') ?? '';
          const cand = body.candidates.find((x) => x.version === spec.version && x.exposure.activeRing >= 0);
          view = { revision: body.revision, candidate: cand ? { version: cand.version, exposure: cand.exposure } : null, killSwitch: body.killSwitch.engaged, signatureOk, artifactOk, stableIsCandidate: body.stable?.version === spec.version };
          if (body.revision !== lastRevision) {
            say(`${new Date().toISOString()} manifest revision ${body.revision}: ${cand ? `${cand.version} ring ${cand.exposure.activeRing}` : 'no candidate in effect'}${body.killSwitch.engaged ? ', KILL SWITCH' : ''}${signatureOk ? '' : ', SIGNATURE INVALID'}`);
            if (!signatureOk) log.warn({ revision: body.revision }, 'manifest signature does not verify against the pinned key: hosts keep what they have');
            lastRevision = body.revision;
          }
        }
      } else if (res.status === 404) problem(undefined);
      else {
        errors++;
        problem(`GET ${api.endpoint}${manifestPath}: HTTP ${res.status}`);
      }
    }
    const now = Date.now();
    fleet.step(t, Math.max(tick, now - t), view);
    t = Math.max(now, t + tick);
    const wait = t + tick - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
  await api.close();
  sync();
  await new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  const c = fleet.counts();
  const summary = { mode: 'live', hosts: sc.fleet.hosts, canaryHosts: fleet.canaryCount, seconds: Math.round((Date.now() - start) / 1000), polls, notModified, errors, lastRevision, hostsUpdated: c.took, hostsUpdatedOutsideCanary: c.tookOutsideCanary, hostsBricked: c.bricked, onCandidate: c.onCandidate, updateFailures: fleet.failures };
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else say(`agent-sim live: stopped after ${summary.seconds}s: ${c.took} hosts took the update (${c.tookOutsideCanary} outside the canary ring), ${c.bricked} bricked, ${polls} manifest fetches (${notModified} not modified)`);
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

