/**
 * Live mode with K real agents (`agent-sim --clock live --agents K`, K <= 50): K instances of the reference agent
 * library (agent/: `Agent`, `FileInstaller`), each polling the controller over HTTP with its own state directory,
 * host id and labels, installing real artifact bytes and switching its `current` symlink. Nothing is simulated but
 * the hosts themselves: the agents run exactly the code `ringmaster-agent run` runs (the scenario's crash and
 * failure effects do not apply here; its regions, OSes, channel, versions and poll interval do).
 *
 * - Host ids `sim-agent-000` ... ; labels `region` and `os` in turn from the scenario's lists; one agent in five
 *   (000, 005, 010, ...) carries `ring: canary`.
 * - State directories: `--agents-dir DIR/<host id>` (kept), else a temp directory removed at the end.
 * - The key: `--pin-key`, else the one the controller serves at start (trust on first use, with a warning line).
 * - One /metrics for all of them (`--metrics-listen`): the agents' own registries summed (prom-client's
 *   AggregatorRegistry), so `sum(ringmaster_agent_hosts{...})` reads as over a fleet of K real agents.
 * - It prints a line when an agent changes version (the agents' own log lines are at error level unless
 *   RINGMASTER_LOG_LEVEL is set), stops on SIGINT/SIGTERM or after --duration, and prints a summary (JSON with --json: the agents' `status` and where their `current` symlink points).
 */
import { setMaxListeners } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import { Agent, AgentMetrics, AgentSetupError, FileInstaller, linksOf, type AgentStatus } from '../agent';
import { HttpClient } from '../controller/http/client';
import type { Logger } from '../controller/telemetry/log';
import { agentTrust, type LiveFlags } from './live';
import type { Scenario } from './scenario';
import { loadScenarioDocuments } from './virtual';

export const MAX_AGENTS = 50;

export interface AgentsFlags extends LiveFlags {
  agents?: string;
  agentsDir?: string;
}

interface Running {
  hostId: string;
  labels: Record<string, string>;
  dir: string;
  agent: Agent;
  metrics: AgentMetrics;
  version: string | null;
}

function fail(msg: string): number {
  process.stderr.write(`agent-sim: ${msg}\n`);
  return 2;
}

export async function runAgents(base: URL, sc: Scenario, flags: AgentsFlags, limitMs: number, log: Logger): Promise<number> {
  const k = Number(flags.agents);
  if (!Number.isInteger(k) || k < 1 || k > MAX_AGENTS) return fail(`--agents must be an integer between 1 and ${MAX_AGENTS} (got ${JSON.stringify(flags.agents)})`);
  const channel = loadScenarioDocuments(sc).rollout.spec.channel;
  const say = (line: string): void => {
    if (!flags.json) process.stdout.write(`${line}\n`);
  };
  const api = new HttpClient({ baseUrl: base, timeoutMs: 5000, connections: 1 });
  const pinned = await agentTrust(api, base, flags.pinKey, log);
  await api.close();
  if (typeof pinned === 'string') return fail(pinned);

  const keep = flags.agentsDir !== undefined;
  const root = keep ? path.resolve(flags.agentsDir as string) : fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sim-agents-'));
  const running: Running[] = [];
  const stopAll = new AbortController();
  // Every agent sleeps on this signal between polls.
  setMaxListeners(4 * MAX_AGENTS + 16, stopAll.signal);
  // The agents' own lines (each poll's problems, each install) at error level unless RINGMASTER_LOG_LEVEL says
  // otherwise: with K agents they would drown the driver's one line per version change.
  const agentLog = process.env.RINGMASTER_LOG_LEVEL ? log : log.child({}, { level: 'error' });
  let server: http.Server | undefined;
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 });
    for (let i = 0; i < k; i++) {
      const hostId = `sim-agent-${String(i).padStart(3, '0')}`;
      const labels: Record<string, string> = { region: sc.fleet.regions[i % sc.fleet.regions.length] as string, os: sc.fleet.oses[i % sc.fleet.oses.length] as string };
      if (i % 5 === 0) labels.ring = 'canary';
      const dir = path.join(root, hostId);
      const metrics = new AgentMetrics(channel);
      const agent = await Agent.open({
        controller: base.origin,
        channel,
        hostId,
        labels,
        dir,
        installer: new FileInstaller(dir, { log }),
        pinKeys: pinned.trust,
        pollIntervalMs: sc.fleet.pollIntervalMs,
        metrics,
        log: agentLog.child({ host: hostId }),
      });
      running.push({ hostId, labels, dir, agent, metrics, version: agent.status().version });
    }
    // One exporter: the K agents' registries summed.
    server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.statusCode = 404;
        res.end('not found\n');
        return;
      }
      Promise.all(
        running.map((r) => {
          r.metrics.accrue();
          return r.metrics.registry.getMetricsAsJSON();
        }),
      ).then(
        async (all) => {
          const merged = AggregatorRegistry.aggregate(all);
          res.setHeader('Content-Type', merged.contentType);
          res.end(await merged.metrics());
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    });
    const listen = flags.metricsListen ?? '127.0.0.1:9464';
    const [host, portText] = listen.split(/:(?=\d+$)/);
    try {
      await new Promise<void>((resolve, reject) => {
        server?.once('error', reject);
        server?.listen(Number(portText), host, () => resolve());
      });
    } catch (err) {
      for (const r of running) await r.agent.close();
      return fail(`cannot listen on ${listen} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const addr = server.address() as AddressInfo;
    const canaries = running.filter((r) => r.labels.ring === 'canary').length;
    say(`agent-sim live: ${k} reference agents (${canaries} canary) polling ${base.origin}/v1/channels/${channel}/manifest every ${sc.fleet.pollIntervalMs / 1000}s, state in ${root}${keep ? '' : ' (removed at the end)'}, manifest key ${pinned.trust[0]?.keyId}${pinned.tofu ? ' (trusted on first use)' : ' (pinned)'}`);
    say(`agent-sim live: agent metrics on http://${addr.address}:${addr.port}/metrics; Ctrl-C stops`);

    const stop = (): void => stopAll.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const timer = Number.isFinite(limitMs) ? setTimeout(stop, limitMs) : undefined;
    const loops = running.map((r) =>
      r.agent.run(stopAll.signal).catch((err: unknown) => {
        log.error({ host: r.hostId, error: (err as Error).message }, 'agent stopped on an error');
      }),
    );
    // Who runs what: a line when an agent changes version.
    while (!stopAll.signal.aborted) {
      for (const r of running) {
        const v = r.agent.status().version;
        if (v !== r.version) {
          say(`${new Date().toISOString()} ${r.hostId}${r.labels.ring === 'canary' ? ' (canary)' : ''}: ${r.version ?? 'nothing'} -> ${v ?? 'nothing'}`);
          r.version = v;
        }
      }
      await new Promise<void>((res) => {
        const t = setTimeout(res, 250);
        stopAll.signal.addEventListener('abort', () => {
          clearTimeout(t);
          res();
        }, { once: true });
      });
    }
    if (timer !== undefined) clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await Promise.all(loops);
    const agents = running.map((r) => {
      const s: AgentStatus = r.agent.status();
      return { hostId: r.hostId, labels: r.labels, version: s.version, revision: s.revision, previous: s.previous, bad: s.bad.length, links: linksOf(r.dir) };
    });
    const byVersion: Record<string, number> = {};
    for (const a of agents) byVersion[a.version ?? ''] = (byVersion[a.version ?? ''] ?? 0) + 1;
    const summary = { mode: 'agents', agents: k, canaryAgents: canaries, dir: keep ? root : null, trustOnFirstUse: pinned.tofu, byVersion, statuses: agents };
    if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else say(`agent-sim live: stopped: ${Object.entries(byVersion).map(([v, n]) => `${n} on ${v || 'nothing'}`).join(', ')}`);
    return 0;
  } catch (err) {
    if (err instanceof AgentSetupError) return fail(err.message);
    throw err;
  } finally {
    stopAll.abort();
    for (const r of running) await r.agent.close();
    if (server !== undefined) {
      const s = server;
      await new Promise<void>((res) => {
        s.closeAllConnections();
        s.close(() => res());
      });
    }
    if (!keep) fs.rmSync(root, { recursive: true, force: true });
  }
}
