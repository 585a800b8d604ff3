/**
 * A test exporter of the agent metrics contract (docs/metrics.md), built with prom-client on its own
 * registry and a loopback port, for a real Prometheus to scrape. Tests set what the "fleet" reports.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';

type Labels = { channel: string; version: string };

export class AgentExporter {
  readonly registry = new Registry();
  private readonly hosts: Gauge<'channel' | 'version'>;
  private readonly hostSeconds: Counter<'channel' | 'version'>;
  private readonly crashes: Counter<'channel' | 'version' | 'kind'>;
  private readonly failures: Counter<'channel' | 'version' | 'reason'>;
  private server: http.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Hosts per version; exposure accrues from them in real time. */
  private readonly fleet = new Map<string, { labels: Labels; hosts: number }>();
  private last = Date.now();

  constructor() {
    const registers = [this.registry];
    this.hosts = new Gauge({ name: 'ringmaster_agent_hosts', help: 'hosts up on that version', labelNames: ['channel', 'version'], registers });
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

  /** Declares hosts on a version, with every counter initialised at 0 (the contract asks agents to). */
  setHosts(channel: string, version: string, hosts: number): void {
    this.accrue();
    const labels = { channel, version };
    this.fleet.set(`${channel}/${version}`, { labels, hosts });
    this.hosts.set(labels, hosts);
    this.hostSeconds.inc(labels, 0);
    for (const kind of ['crash', 'bsod']) this.crashes.inc({ ...labels, kind }, 0);
    for (const reason of ['signature', 'hash', 'download', 'apply']) this.failures.inc({ ...labels, reason }, 0);
  }

  crash(channel: string, version: string, n: number, kind: 'crash' | 'bsod' = 'crash'): void {
    this.crashes.inc({ channel, version, kind }, n);
  }

  /** The hosts gauge reports NaN (a broken exporter). */
  setHostsNaN(channel: string, version: string): void {
    this.hosts.set({ channel, version }, NaN);
  }

  /** Removes every series of a version (the empty-vector case). */
  remove(channel: string, version: string): void {
    this.fleet.delete(`${channel}/${version}`);
    this.hosts.remove({ channel, version });
    this.hostSeconds.remove({ channel, version });
    for (const kind of ['crash', 'bsod']) this.crashes.remove({ channel, version, kind });
    for (const reason of ['signature', 'hash', 'download', 'apply']) this.failures.remove({ channel, version, reason });
  }

  private accrue(): void {
    const now = Date.now();
    const dt = (now - this.last) / 1000;
    this.last = now;
    for (const { labels, hosts } of this.fleet.values()) if (hosts > 0 && dt > 0) this.hostSeconds.inc(labels, hosts * dt);
  }
}
