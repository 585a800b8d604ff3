/**
 * The ring-size census over Prometheus: `sum(ringmaster_agent_hosts{channel="C",ring="R"})`, the hosts (on any
 * version) that report belonging to ring R of the channel's in-flight candidate (docs/metrics.md). An empty vector,
 * NaN or an error is "unknown" (null): the ramp then holds its census wave, and falls back to waves by share.
 */
import { promString } from '../analysis/observe';
import type { MetricsProvider } from '../analysis/provider';
import type { CensusSource } from './types';

export function censusQuery(channel: string, ring: string): string {
  return `sum(ringmaster_agent_hosts{channel=${promString(channel)},ring=${promString(ring)}})`;
}

export function prometheusCensus(provider: MetricsProvider): CensusSource {
  return {
    async ringHosts(channel, ring, now) {
      const r = await provider.query(censusQuery(channel, ring), now);
      return r.kind === 'value' && Number.isFinite(r.value) && r.value >= 0 ? Math.round(r.value) : null;
    },
  };
}
