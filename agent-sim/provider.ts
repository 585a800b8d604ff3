/**
 * The simulator's in-process metrics: the fleet's counters of the agent metrics contract, answered two ways.
 *
 * - As a CountsSource (`counts(channel, version, kind, from, to)`): events and host-hours of one version over
 *   (from, to] (exact counter differences) and its hosts at `to`. Virtual mode wires this into the controller
 *   through observeFromCounts, which asks it for every aligned analysis interval.
 * - As a MetricsProvider: it answers the built-in metric queries of the contract, instant and range (exactly the
 *   PromQL that controller/analysis/observe.ts sends to Prometheus), so the Prometheus code path can be checked
 *   against the same counters (the unit tests compare both):
 *
 *   sum(increase(ringmaster_agent_crashes_total{channel,version,kind}[D]))  -> events in (t - D, t]
 *   sum(increase(ringmaster_agent_update_failures_total{channel,version}[D]))
 *   sum(increase(ringmaster_agent_host_seconds_total{channel,version}[D])) / 3600
 *   sum(ringmaster_agent_hosts{channel,version})
 *   sum(ringmaster_agent_hosts{channel,ring})                              -> the ring census, hosts of ring R now
 *
 *   with D in seconds (`60s`) or milliseconds (`1500ms`); a range query evaluates them at start, start + step, ...
 *   up to end, like Prometheus, and differences are exact (no extrapolation).
 *
 * A version's series exist from the first instant a host ran it (the baseline's from the start; the candidate's
 * once a host has taken it); before that every query of it is empty, as in Prometheus. During a scenario's metrics
 * gap every instant query is an empty vector and a range query has no point there (what Prometheus answers when it
 * scraped nothing). Other PromQL is an error: custom metrics need a real Prometheus (live mode).
 */
import type { MetricsProvider, RangeResult } from '../controller/analysis/provider';
import type { CountsSource, EventKind } from '../controller/analysis/observe';
import type { Counts, QueryResult } from '../controller/analysis/types';
import { CANDIDATE, BASELINE, KIND_INDEX, type Fleet } from './fleet';

const LABELS = String.raw`\{channel="([^"]*)",version="([^"]*)"(?:,kind="(crash|bsod)")?\}`;
const DURATION = String.raw`\[(\d+)(ms|s)\]`;
const EVENTS = new RegExp(String.raw`^sum\(increase\(ringmaster_agent_(crashes|update_failures)_total${LABELS}${DURATION}\)\)$`);
const EXPOSURE = new RegExp(String.raw`^sum\(increase\(ringmaster_agent_host_seconds_total${LABELS}${DURATION}\)\) / 3600$`);
const HOSTS = new RegExp(String.raw`^sum\(ringmaster_agent_hosts${LABELS}\)$`);
/** The ring census (controller/runtime/census.ts): hosts, on any version, that belong to ring R of the candidate's plan. */
const CENSUS = /^sum\(ringmaster_agent_hosts\{channel="([^"]*)",ring="([^"]*)"\}\)$/;

/** A parsed contract query: what to read from the fleet at an instant t (undefined: no sample at t). */
type Reader = { version: string; channel: string; read: (t: number) => number };

export class SimMetricsProvider implements MetricsProvider, CountsSource {
  queries = 0;

  constructor(
    private readonly fleet: Fleet,
    private readonly channel: string,
    private readonly versions: { baseline: string; candidate: string },
    /** Absolute [from, to) intervals (ms) without data. */
    private readonly gaps: Array<{ from: number; to: number }>,
  ) {}

  private versionIndex(channel: string, version: string): 0 | 1 | undefined {
    if (channel !== this.channel) return undefined;
    if (version === this.versions.candidate) return CANDIDATE as 1;
    if (version === this.versions.baseline) return BASELINE as 0;
    return undefined;
  }

  private inGap(now: number): boolean {
    return this.gaps.some((g) => now >= g.from && now < g.to);
  }

  /** Whether the series of version index `v` exist at t: some host has run it by then. */
  private exists(v: 0 | 1, t: number): boolean {
    const s = this.fleet.at(t);
    return s.hosts[v] > 0 || s.hostSeconds[v] > 0;
  }

  counts(channel: string, version: string, kind: EventKind, from: Date, to: Date): Counts | 'no-data' | 'absent' {
    this.queries++;
    const at = to.getTime();
    if (this.inGap(at)) return 'no-data';
    const v = this.versionIndex(channel, version);
    const k = KIND_INDEX[kind];
    // The update-failure counter exists once an agent refused the version, even if no host ever ran it.
    if (v === undefined || !(this.exists(v, at) || (kind === 'update-failure' && (this.fleet.at(at).events[v][k] as number) > 0))) return 'absent';
    const nowS = this.fleet.at(at);
    const thenS = this.fleet.at(from.getTime());
    return {
      events: (nowS.events[v][k] as number) - (thenS.events[v][k] as number),
      exposureHours: (nowS.hostSeconds[v] - thenS.hostSeconds[v]) / 3600,
      hosts: nowS.hosts[v],
    };
  }

  query(promql: string, at: Date): Promise<QueryResult> {
    this.queries++;
    const census = CENSUS.exec(promql);
    if (census) {
      if (census[1] !== this.channel || this.inGap(at.getTime())) return Promise.resolve({ kind: 'no-data', reason: 'empty vector (no series matched)' });
      return Promise.resolve({ kind: 'value', value: this.fleet.ringHosts(census[2] as string) });
    }
    const r = this.parse(promql);
    if (typeof r === 'string') return Promise.resolve({ kind: 'error', message: r });
    const t = at.getTime();
    if (this.inGap(t)) return Promise.resolve({ kind: 'no-data', reason: 'empty vector (no series matched): metrics gap' });
    const v = this.versionIndex(r.channel, r.version);
    if (v === undefined || !this.exists(v, t)) return Promise.resolve({ kind: 'no-data', reason: 'empty vector (no series matched)' });
    return Promise.resolve({ kind: 'value', value: r.read(t) });
  }

  queryRange(promql: string, start: Date, end: Date, stepSeconds: number): Promise<RangeResult> {
    this.queries++;
    const r = this.parse(promql);
    if (typeof r === 'string') return Promise.resolve({ kind: 'error', message: r });
    const stepMs = stepSeconds * 1000;
    if (!(stepMs > 0)) return Promise.resolve({ kind: 'error', message: 'agent-sim: range query step must be positive' });
    const v = this.versionIndex(r.channel, r.version);
    const points: Array<[number, number]> = [];
    if (v !== undefined) {
      const n = Math.floor((end.getTime() - start.getTime()) / stepMs + 1e-9);
      for (let i = 0; i <= n; i++) {
        const t = Math.round(start.getTime() + i * stepMs);
        if (!this.inGap(t) && this.exists(v, t)) points.push([t / 1000, r.read(t)]);
      }
    }
    if (points.length === 0) return Promise.resolve({ kind: 'no-data', reason: 'empty matrix (no series matched)' });
    return Promise.resolve({ kind: 'series', series: [{ labels: {}, points }] });
  }

  isOnline(): Promise<true | string> {
    return Promise.resolve(true);
  }

  /** A contract query as a reader of the fleet's counters, or the error for anything else. */
  private parse(promql: string): Reader | string {
    let m = EVENTS.exec(promql);
    if (m) {
      const [, family, channel, version, kindLabel, n, unit] = m as unknown as [string, string, string, string, string | undefined, string, string];
      const k = family === 'update_failures' ? KIND_INDEX['update-failure'] : KIND_INDEX[(kindLabel ?? 'crash') as 'crash' | 'bsod'];
      const w = Number(n) * (unit === 's' ? 1000 : 1);
      const v = this.versionIndex(channel, version) ?? 0;
      return { channel, version, read: (t) => (this.fleet.at(t).events[v][k] as number) - (this.fleet.at(t - w).events[v][k] as number) };
    }
    m = EXPOSURE.exec(promql);
    if (m) {
      const [, channel, version, , n, unit] = m as unknown as [string, string, string, string | undefined, string, string];
      const w = Number(n) * (unit === 's' ? 1000 : 1);
      const v = this.versionIndex(channel, version) ?? 0;
      return { channel, version, read: (t) => (this.fleet.at(t).hostSeconds[v] - this.fleet.at(t - w).hostSeconds[v]) / 3600 };
    }
    m = HOSTS.exec(promql);
    if (m) {
      const [, channel, version] = m as unknown as [string, string, string];
      const v = this.versionIndex(channel, version) ?? 0;
      return { channel, version, read: (t) => this.fleet.at(t).hosts[v] };
    }
    return 'agent-sim: the in-process provider answers only the built-in contract queries (custom PromQL needs Prometheus: use --clock live)';
  }
}
