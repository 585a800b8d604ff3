/**
 * The simulator's in-process metrics: the fleet's counters of the agent metrics contract, answered two ways.
 *
 * - As a CountsSource (`counts(channel, version, kind, since, now)`): events, host-hours and hosts of one version
 *   since the ring started. Virtual mode wires this into the controller through observeFromCounts, exactly.
 * - As a MetricsProvider: it answers the built-in metric queries of the contract (exactly the PromQL that
 *   controller/analysis/observe.ts sends to Prometheus), so the Prometheus code path can be checked against the
 *   same counters (the unit tests compare both):
 *
 *   sum(increase(ringmaster_agent_crashes_total{channel,version,kind}[Ws]))  -> events in (now - W, now]
 *   sum(increase(ringmaster_agent_update_failures_total{channel,version}[Ws]))
 *   sum(increase(ringmaster_agent_host_seconds_total{channel,version}[Ws])) / 3600
 *   sum(ringmaster_agent_hosts{channel,version})
 *
 * During a scenario's metrics gap every query is an empty vector (what Prometheus answers when it scraped
 * nothing). Other PromQL is an error: custom metrics need a real Prometheus (live mode).
 */
import type { MetricsProvider, RangeResult } from '../controller/analysis/provider';
import type { CountsSource, EventKind } from '../controller/analysis/observe';
import type { Counts, QueryResult } from '../controller/analysis/types';
import { CANDIDATE, BASELINE, KIND_INDEX, type Fleet } from './fleet';

const LABELS = String.raw`\{channel="([^"]*)",version="([^"]*)"(?:,kind="(crash|bsod)")?\}`;
const EVENTS = new RegExp(String.raw`^sum\(increase\(ringmaster_agent_(crashes|update_failures)_total${LABELS}\[(\d+)s\]\)\)$`);
const EXPOSURE = new RegExp(String.raw`^sum\(increase\(ringmaster_agent_host_seconds_total${LABELS}\[(\d+)s\]\)\) / 3600$`);
const HOSTS = new RegExp(String.raw`^sum\(ringmaster_agent_hosts${LABELS}\)$`);

export class SimMetricsProvider implements MetricsProvider, CountsSource {
  queries = 0;

  constructor(
    private readonly fleet: Fleet,
    private readonly channel: string,
    private readonly versions: { baseline: string; candidate: string },
    /** Absolute [from, to) intervals (ms) without data. */
    private readonly gaps: Array<{ from: number; to: number }>,
  ) {}

  private versionIndex(channel: string, version: string): number | undefined {
    if (channel !== this.channel) return undefined;
    if (version === this.versions.candidate) return CANDIDATE;
    if (version === this.versions.baseline) return BASELINE;
    return undefined;
  }

  private inGap(now: number): boolean {
    return this.gaps.some((g) => now >= g.from && now < g.to);
  }

  /** Events, exposure and hosts of one version over [since, now]; undefined in a metrics gap or for an unknown series. */
  counts(channel: string, version: string, kind: EventKind, since: Date, now: Date): Counts | undefined {
    this.queries++;
    const at = now.getTime();
    if (this.inGap(at)) return undefined;
    const v = this.versionIndex(channel, version);
    if (v === undefined) return undefined;
    const k = KIND_INDEX[kind];
    const nowS = this.fleet.at(at);
    const thenS = this.fleet.at(since.getTime());
    return {
      events: (nowS.events[v as 0 | 1][k] as number) - (thenS.events[v as 0 | 1][k] as number),
      exposureHours: (nowS.hostSeconds[v as 0 | 1] - thenS.hostSeconds[v as 0 | 1]) / 3600,
      hosts: nowS.hosts[v as 0 | 1],
    };
  }

  query(promql: string, at: Date): Promise<QueryResult> {
    this.queries++;
    const now = at.getTime();
    if (this.inGap(now)) return Promise.resolve({ kind: 'no-data', reason: 'empty vector (no series matched): metrics gap' });
    let m = EVENTS.exec(promql);
    if (m) {
      const v = this.versionIndex(m[2] as string, m[3] as string);
      if (v === undefined) return empty();
      const kind = m[1] === 'update_failures' ? KIND_INDEX['update-failure'] : KIND_INDEX[(m[4] ?? 'crash') as 'crash' | 'bsod'];
      const w = Number(m[5]) * 1000;
      const nowS = this.fleet.at(now);
      const thenS = this.fleet.at(now - w);
      return value((nowS.events[v as 0 | 1][kind] as number) - (thenS.events[v as 0 | 1][kind] as number));
    }
    m = EXPOSURE.exec(promql);
    if (m) {
      const v = this.versionIndex(m[1] as string, m[2] as string);
      if (v === undefined) return empty();
      const w = Number(m[4]) * 1000;
      return value((this.fleet.at(now).hostSeconds[v as 0 | 1] - this.fleet.at(now - w).hostSeconds[v as 0 | 1]) / 3600);
    }
    m = HOSTS.exec(promql);
    if (m) {
      const v = this.versionIndex(m[1] as string, m[2] as string);
      if (v === undefined) return empty();
      return value(this.fleet.at(now).hosts[v as 0 | 1]);
    }
    return Promise.resolve({ kind: 'error', message: 'agent-sim: the in-process provider answers only the built-in contract queries (custom PromQL needs Prometheus: use --clock live)' });
  }

  queryRange(): Promise<RangeResult> {
    return Promise.resolve({ kind: 'error', message: 'agent-sim: range queries are not simulated' });
  }

  isOnline(): Promise<true | string> {
    return Promise.resolve(true);
  }
}

const empty = (): Promise<QueryResult> => Promise.resolve({ kind: 'no-data', reason: 'empty vector (no series matched)' });
const value = (v: number): Promise<QueryResult> => Promise.resolve({ kind: 'value', value: v });
