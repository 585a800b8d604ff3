/**
 * A test exporter of the agent metrics contract (docs/metrics.md), built with prom-client on its own
 * registry and a loopback port, for a real Prometheus to scrape. Tests set what the "fleet" reports: hosts per
 * version (and per ring of the census, the `ring` label of `ringmaster_agent_hosts`), crashes, update failures,
 * and agent restarts (every counter of a version back to 0).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';

type Labels = { channel: string; version: string };

export class AgentExporter {
  readonly registry = new Registry();
  private readonly hosts: Gauge<'channel' | 'version' | 'ring'>;
  private readonly hostSeconds: Counter<'channel' | 'version'>;
  private readonly crashes: Counter<'channel' | 'version' | 'kind'>;
  private readonly failures: Counter<'channel' | 'version' | 'reason'>;
  private server: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Hosts per version (their sum over rings); exposure accrues from them in real time. */
  private readonly fleet = new Map<string, { labels: Labels; hosts: number; rings: string[] }>();
  private last = Date.now();

  constructor() {
    const registers = [this.registry];
    this.hosts = new Gauge({ name: 'ringmaster_agent_hosts', help: 'hosts up on that version', labelNames: ['channel', 'version', 'ring'], registers });
    this.hostSeconds = new Counter({ name: 'ringmaster_agent_host_seconds_total', help: 'exposure', labelNames: ['channel', 'version'], registers });
    this.crashes = new Counter({ name: 'ringmaster_agent_crashes_total', help: 'crashes', labelNames: ['channel', 'version', 'kind'], registers });
    this.failures = new Counter({ name: 'ringmaster_agent_update_failures_total', help: 'update failures', labelNames: ['channel', 'version', 'reason'], registers });
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.statusCode = 404;
        res.end();
        return;
      }
      this.accrue();
      this.registry.metrics().then(
        (text) => {
          res.setHeader('Content-Type', this.registry.contentType);
          res.end(text);
        },
        () => {
          res.statusCode = 500;
          res.end();
        },
      );
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.timer = setInterval(() => this.accrue(), 250);
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /**
   * Declares hosts on a version, with every counter initialised at 0 (the contract asks agents to). `hosts` is a
   * number (no ring: `ring=""`, which Prometheus stores as no `ring` label) or hosts per ring name, the census of
   * contracts §4: `{ canary: 40, '': 160 }` exports `ringmaster_agent_hosts{channel,version,ring="canary"} 40` and
   * `ringmaster_agent_hosts{channel,version} 160`.
   */
  setHosts(channel: string, version: string, hosts: number | Record<string, number>): void {
    this.accrue();
    const labels = { channel, version };
    const byRing = typeof hosts === 'number' ? { '': hosts } : hosts;
    const key = `${channel}/${version}`;
    for (const ring of this.fleet.get(key)?.rings ?? []) if (!(ring in byRing)) this.hosts.remove({ ...labels, ring });
    this.fleet.set(key, { labels, hosts: Object.values(byRing).reduce((a, b) => a + b, 0), rings: Object.keys(byRing) });
    for (const [ring, n] of Object.entries(byRing)) this.hosts.set({ ...labels, ring }, n);
    this.initCounters(labels);
  }

  /** Update failures (signature, hash, download, apply) reported by agents on a version. */
  failUpdates(channel: string, version: string, n: number, reason: 'signature' | 'hash' | 'download' | 'apply' = 'apply'): void {
    this.failures.inc({ channel, version, reason }, n);
  }

  /**
   * An agent restart: every counter of the version starts again at 0, at once (no scrape sees the series missing),
   * the hosts gauge unchanged. Prometheus sees a counter reset, which increase() handles.
   */
  restart(channel: string, version: string): void {
    this.accrue();
    const labels = { channel, version };
    this.removeCounters(labels);
    this.initCounters(labels);
  }

  crash(channel: string, version: string, n: number, kind: 'crash' | 'bsod' = 'crash'): void {
    this.crashes.inc({ channel, version, kind }, n);
  }

  /** The hosts gauge reports NaN (a broken exporter), in every ring of the version. */
  setHostsNaN(channel: string, version: string): void {
    for (const ring of this.fleet.get(`${channel}/${version}`)?.rings ?? ['']) this.hosts.set({ channel, version, ring }, NaN);
  }

  /** Removes every series of a version (the empty-vector case). */
  remove(channel: string, version: string): void {
    const key = `${channel}/${version}`;
    for (const ring of this.fleet.get(key)?.rings ?? ['']) this.hosts.remove({ channel, version, ring });
    this.fleet.delete(key);
    this.removeCounters({ channel, version });
  }

  private initCounters(labels: Labels): void {
    this.hostSeconds.inc(labels, 0);
    for (const kind of ['crash', 'bsod']) this.crashes.inc({ ...labels, kind }, 0);
    for (const reason of ['signature', 'hash', 'download', 'apply']) this.failures.inc({ ...labels, reason }, 0);
  }

  private removeCounters(labels: Labels): void {
    this.hostSeconds.remove(labels);
    for (const kind of ['crash', 'bsod']) this.crashes.remove({ ...labels, kind });
    for (const reason of ['signature', 'hash', 'download', 'apply']) this.failures.remove({ ...labels, reason });
  }

  private accrue(): void {
    const now = Date.now();
    const dt = (now - this.last) / 1000;
    this.last = now;
    for (const { labels, hosts } of this.fleet.values()) if (hosts > 0 && dt > 0) this.hostSeconds.inc(labels, hosts * dt);
  }
}
