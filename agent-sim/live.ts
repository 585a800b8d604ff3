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
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { parsePublicKey, verify } from '../controller/crypto/keys';
import type { Exposure } from '../controller/engine/membership';
import { channelSalt } from '../controller/runtime/manifest';
import { parseDuration } from '../controller/spec/duration';
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

function get(url: URL, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function runLive(sc: Scenario, flags: LiveFlags): Promise<number> {
  const base = loopbackUrl(flags.controller ?? 'http://127.0.0.1:8080');
  if (typeof base === 'string') return fail(base);
  const durationMs = flags.duration === undefined ? Infinity : parseDuration(flags.duration);
  if (typeof durationMs !== 'number' && !durationMs.ok) return fail(`--duration: ${durationMs.message}`);
  const limitMs = typeof durationMs === 'number' ? durationMs : durationMs.ms;
  if (flags.pollers !== undefined) return runLoad(base, sc, flags, limitMs);
  const docs = loadScenarioDocuments(sc);
  const spec = docs.rollout.spec;
  const channel = spec.channel;
  const baseline = spec.previousVersion ?? '0.0.0';

  // Pin the controller's key: from --pin-key, else fetched once at start (trust on first use).
  let pinnedText = flags.pinKey;
  if (pinnedText === undefined) {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await get(new URL('/v1/signing-key', base));
        if (r.status === 200) {
          pinnedText = (JSON.parse(r.body.toString()) as { publicKey: string }).publicKey;
          break;
        }
      } catch {
        // not up yet
      }
      if (attempt >= 60) return fail(`cannot reach ${base.origin}/v1/signing-key (is ringmaster serve running?)`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const pinned = parsePublicKey(pinnedText);
  if (!pinned.ok) return fail(`pinned key: ${pinned.message}`);
  const artifactOk = docs.artifact === undefined ? true : crypto.createHash('sha256').update(sc.tamper.artifact ? Buffer.concat([docs.artifact, Buffer.from([0])]) : docs.artifact).digest('hex') === spec.artifact.sha256;

  const start = Date.now();
  const fleet = new Fleet(sc, channelSalt(channel), start);
  const registry = new Registry();
  const labelsOf = (v: number): { channel: string; version: string } => ({ channel, version: v === CANDIDATE ? spec.version : baseline });
  const exported = { hostSeconds: [0, 0], events: [[0, 0], [0, 0]], failures: { signature: 0, hash: 0, download: 0, apply: 0 } as Record<string, number> };
  const hostsG = new Gauge({ name: 'ringmaster_agent_hosts', help: 'Hosts up on that version', labelNames: ['channel', 'version'], registers: [registry] });
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
    for (const v of [BASELINE, CANDIDATE] as const) {
      hostsG.set(labelsOf(v), s.hosts[v]);
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
  while (!stopping && Date.now() - start < limitMs) {
    try {
      const r = await get(new URL(`/v1/channels/${encodeURIComponent(channel)}/manifest`, base), etag ? { 'If-None-Match': etag } : {});
      polls++;
      if (r.status === 304) notModified++;
      else if (r.status === 200) {
        const sig = String(r.headers['x-ringmaster-signature'] ?? '');
        const signatureOk = verify(pinned.key, r.body, sig);
        const body = JSON.parse(r.body.toString()) as { revision: number; candidates: Array<{ version: string; exposure: Exposure }>; killSwitch: { engaged: boolean } };
        if (signatureOk) etag = String(r.headers.etag ?? '');
        const cand = body.candidates.find((x) => x.version === spec.version && x.exposure.activeRing >= 0);
        view = { revision: body.revision, candidate: cand ? { version: cand.version, exposure: cand.exposure } : null, killSwitch: body.killSwitch.engaged, signatureOk, artifactOk };
        if (body.revision !== lastRevision) {
          say(`${new Date().toISOString()} manifest revision ${body.revision}: ${cand ? `${cand.version} ring ${cand.exposure.activeRing}` : 'no candidate in effect'}${body.killSwitch.engaged ? ', KILL SWITCH' : ''}${signatureOk ? '' : ', SIGNATURE INVALID'}`);
          lastRevision = body.revision;
        }
      } else if (r.status !== 404) errors++;
    } catch {
      errors++;
    }
    const now = Date.now();
    fleet.step(t, Math.max(tick, now - t), view);
    t = Math.max(now, t + tick);
    const wait = t + tick - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
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
async function runLoad(base: URL, sc: Scenario, flags: LiveFlags, limitMs: number): Promise<number> {
  const k = Number(flags.pollers);
  if (!Number.isInteger(k) || k < 1 || k > 1000) return fail('--pollers must be an integer between 1 and 1000');
  const ms = Number.isFinite(limitMs) ? Math.min(limitMs, 120_000) : 10_000;
  const docs = loadScenarioDocuments(sc);
  const url = new URL(`/v1/channels/${encodeURIComponent(docs.rollout.spec.channel)}/manifest`, base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: k });
  const codes = new Map<number, number>();
  let errors = 0;
  const until = Date.now() + ms;
  const worker = async (): Promise<void> => {
    let etag: string | undefined;
    while (Date.now() < until) {
      try {
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.get(url, { agent, headers: etag ? { 'If-None-Match': etag } : {}, timeout: 5000 }, (res) => {
            if (res.statusCode === 200 && typeof res.headers.etag === 'string') etag = res.headers.etag;
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', reject);
        });
        codes.set(status, (codes.get(status) ?? 0) + 1);
      } catch {
        errors++;
      }
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: k }, () => worker()));
  agent.destroy();
  const seconds = (Date.now() - t0) / 1000;
  const total = [...codes.values()].reduce((a, b) => a + b, 0);
  const out = { mode: 'load', pollers: k, seconds: Number(seconds.toFixed(2)), requests: total, requestsPerSecond: Math.round(total / seconds), codes: Object.fromEntries(codes), errors };
  process.stdout.write(flags.json ? `${JSON.stringify(out)}\n` : `agent-sim load: ${k} pollers, ${total} requests in ${out.seconds}s = ${out.requestsPerSecond} req/s, codes ${JSON.stringify(out.codes)}, errors ${errors}\n`);
  return errors > total / 100 ? 1 : 0;
}

