/**
 * The agent metrics contract (docs/metrics.md) for one host, on its own prom-client Registry, and the /metrics
 * listener. Labels stay low-cardinality: never a host id.
 *
 * Every counter series of a version is initialised at 0 when the agent starts on it or learns of it as a candidate
 * (`touch`): the controller reads `increase()`, which cannot see the first increment of a series that appears
 * with it. A tampered manifest counted as an update failure of the candidate must move a series that exists.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ManifestRefusal } from '../controller/engine/agent';

export const UPDATE_FAILURE_REASONS = ['signature', 'hash', 'download', 'apply', 'validation'] as const;
export type UpdateFailureReason = (typeof UPDATE_FAILURE_REASONS)[number];
export const CRASH_KINDS = ['crash', 'bsod'] as const;
export type CrashKind = (typeof CRASH_KINDS)[number];
export const MANIFEST_REFUSALS: readonly ManifestRefusal[] = ['unknown-key', 'signature', 'malformed', 'channel', 'replay', 'stale', 'future'];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly hosts: Gauge<'channel' | 'version' | 'ring'>;
  private readonly hostSeconds: Counter<'channel' | 'version'>;
  private readonly crashes: Counter<'channel' | 'version' | 'kind'>;
  private readonly failures: Counter<'channel' | 'version' | 'reason'>;
  private readonly rollbacks: Counter<'channel' | 'version'>;
  private readonly refusals: Counter<'channel' | 'reason'>;
  private readonly touched = new Set<string>();
  private running: { version: string; ring: string } | null = null;
  private lastAccrual: number;

  constructor(
    readonly channel: string,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [this.registry];
    this.hosts = new Gauge({ name: 'ringmaster_agent_hosts', help: 'Hosts up on that version (1 on this host for the version it runs), by census ring', labelNames: ['channel', 'version', 'ring'], registers });
    this.hostSeconds = new Counter({ name: 'ringmaster_agent_host_seconds_total', help: 'Seconds of host uptime on that version', labelNames: ['channel', 'version'], registers });
    this.crashes = new Counter({ name: 'ringmaster_agent_crashes_total', help: 'Crashes (failed starts: crash) and unclean reboots under a boot marker (bsod)', labelNames: ['channel', 'version', 'kind'], registers });
    this.failures = new Counter({ name: 'ringmaster_agent_update_failures_total', help: 'Updates refused or failed', labelNames: ['channel', 'version', 'reason'], registers });
    this.rollbacks = new Counter({ name: 'ringmaster_agent_local_rollbacks_total', help: 'Reverts to last-known-good by the boot-loop safety net, by the version reverted from', labelNames: ['channel', 'version'], registers });
    this.refusals = new Counter({ name: 'ringmaster_agent_manifest_refusals_total', help: 'Manifests refused (signature, replay, max age, ...)', labelNames: ['channel', 'reason'], registers });
    for (const reason of MANIFEST_REFUSALS) this.refusals.inc({ channel, reason }, 0);
    this.lastAccrual = now();
  }

  /** Initialises every counter series of `version` at 0 (once). */
  touch(version: string): void {
    if (this.touched.has(version)) return;
    this.touched.add(version);
    const labels = { channel: this.channel, version };
    this.hostSeconds.inc(labels, 0);
    for (const kind of CRASH_KINDS) this.crashes.inc({ ...labels, kind }, 0);
    for (const reason of UPDATE_FAILURE_REASONS) this.failures.inc({ ...labels, reason }, 0);
    this.rollbacks.inc(labels, 0);
  }

  /** The host runs `version` (null: nothing) in census ring `ring`: the hosts gauge is 1 for it and only it. */
  setRunning(version: string | null, ring: string): void {
    this.accrue();
    if (this.running !== null && (this.running.version !== version || this.running.ring !== ring)) {
      this.hosts.remove({ channel: this.channel, version: this.running.version, ring: this.running.ring });
    }
    this.running = version === null ? null : { version, ring };
    if (version !== null) {
      this.touch(version);
      this.hosts.set({ channel: this.channel, version, ring }, 1);
    }
  }

  updateFailure(version: string, reason: UpdateFailureReason): void {
    this.touch(version);
    this.failures.inc({ channel: this.channel, version, reason });
  }

  crash(version: string, kind: CrashKind): void {
    this.touch(version);
    this.crashes.inc({ channel: this.channel, version, kind });
  }

  localRollback(version: string): void {
    this.touch(version);
    this.rollbacks.inc({ channel: this.channel, version });
  }

  manifestRefused(reason: ManifestRefusal): void {
    this.refusals.inc({ channel: this.channel, reason });
  }

  /** Adds the uptime since the last accrual to the running version's host seconds. */
  accrue(): void {
    const t = this.now();
    const dt = (t - this.lastAccrual) / 1000;
    this.lastAccrual = t;
    if (this.running !== null && dt > 0) this.hostSeconds.inc({ channel: this.channel, version: this.running.version }, dt);
  }

  async text(): Promise<string> {
    this.accrue();
    return this.registry.metrics();
  }

  /** Serves GET /metrics on host:port (port 0: any free port). Resolves to the listening address and a close function. */
  async listen(host: string, port: number): Promise<{ address: string; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.statusCode = 404;
        res.end('not found\n');
        return;
      }
      this.text().then(
        (body) => {
          res.setHeader('Content-Type', this.registry.contentType);
          res.end(body);
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as AddressInfo;
    return {
      address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }
}
