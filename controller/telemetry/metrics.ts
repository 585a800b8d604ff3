/**
 * The controller's own metrics (prom-client), served at GET /metrics.
 *
 * `Telemetry` satisfies the runtime's RuntimeObserver (rollout phases, transitions, reconcile duration,
 * verdicts, kill switch, no-data time) and the API's ApiMetrics (requests by route pattern and code).
 * Labels stay low-cardinality: route patterns, never raw URLs; transition reasons are the target phase.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ALL_PHASES } from '../engine/state';

/** The route label of the manifest fast path. */
export const MANIFEST_ROUTE = '/v1/channels/:channel/manifest';

/** The minimum a rollout needs to be shown in the phase/ring gauges. */
export interface RolloutPhaseSample {
  name: string;
  channel: string;
  phase: { kind: string };
  exposedRing: number;
}

export class Telemetry {
  readonly registry: Registry;
  private readonly phase: Gauge<'rollout' | 'channel' | 'phase'>;
  private readonly ring: Gauge<'rollout' | 'channel'>;
  private readonly killSwitchEngaged: Gauge;
  private readonly breakGlassUses: Counter<'credential'>;
  private readonly noData: Gauge<'rollout' | 'channel' | 'ring'>;
  private readonly verdicts: Counter<'rollout' | 'metric' | 'result'>;
  private readonly verdictLatencySeconds: Histogram;
  private readonly transitions: Counter<'reason'>;
  private readonly reconcileSeconds: Histogram;
  private readonly preflightChecks: Counter<'result'>;
  private readonly notifications: Counter<'sink' | 'result'>;
  private readonly notificationsPendingGauge: Gauge<'sink'>;
  private readonly httpRequests: Counter<'route' | 'code'>;
  /** Fast-path manifest responses by status code: plain integers, folded into httpRequests on scrape. */
  private readonly manifestCounts = new Map<number, number>();
  private readonly manifestFlushed = new Map<number, number>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    this.phase = new Gauge({
      name: 'ringmaster_rollout_phase',
      help: 'Phase of each rollout: 1 for the current phase, 0 for the others',
      labelNames: ['rollout', 'channel', 'phase'],
      registers,
    });
    this.ring = new Gauge({
      name: 'ringmaster_rollout_ring',
      help: 'Index of the last ring exposed to agents (-1: none)',
      labelNames: ['rollout', 'channel'],
      registers,
    });
    this.killSwitchEngaged = new Gauge({ name: 'ringmaster_killswitch_engaged', help: '1 while the global kill switch is engaged', registers });
    this.breakGlassUses = new Counter({ name: 'ringmaster_break_glass_uses_total', help: 'Kill switch engagements made with a break-glass credential, by credential name', labelNames: ['credential'], registers });
    this.noData = new Gauge({
      name: 'ringmaster_analysis_no_data_seconds',
      help: 'How long the ring has been without usable analysis data (0 while data flows)',
      labelNames: ['rollout', 'channel', 'ring'],
      registers,
    });
    this.verdicts = new Counter({
      name: 'ringmaster_analysis_verdicts_total',
      help: 'Analysis verdicts per rollout, metric and result',
      labelNames: ['rollout', 'metric', 'result'],
      registers,
    });
    this.verdictLatencySeconds = new Histogram({
      name: 'ringmaster_verdict_latency_seconds',
      help: 'Time from a ring start to its first decisive (pass or fail) verdict',
      buckets: [60, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400, 172_800],
      registers,
    });
    this.transitions = new Counter({
      name: 'ringmaster_transitions_total',
      help: 'Rollout transitions by reason (the phase entered)',
      labelNames: ['reason'],
      registers,
    });
    this.reconcileSeconds = new Histogram({
      name: 'ringmaster_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass over all rollouts',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.preflightChecks = new Counter({
      name: 'ringmaster_preflight_checks_total',
      help: "Pre-flight checks run before ring 0, by result (the artifact's fetch and verification counts as one check)",
      labelNames: ['result'],
      registers,
    });
    for (const result of ['passed', 'failed']) this.preflightChecks.inc({ result }, 0);
    this.notifications = new Counter({
      name: 'ringmaster_notifications_total',
      help: 'Notification deliveries by sink and result (delivered, retried, dead-lettered, filtered)',
      labelNames: ['sink', 'result'],
      registers,
    });
    this.notificationsPendingGauge = new Gauge({
      name: 'ringmaster_notifications_pending',
      help: 'Notification events waiting for delivery, by sink',
      labelNames: ['sink'],
      registers,
    });
    const counts = this.manifestCounts;
    const flushed = this.manifestFlushed;
    this.httpRequests = new Counter({
      name: 'ringmaster_http_requests_total',
      help: 'HTTP requests by route pattern and status code',
      labelNames: ['route', 'code'],
      registers,
      collect() {
        for (const [code, n] of counts) {
          const delta = n - (flushed.get(code) ?? 0);
          if (delta > 0) {
            this.inc({ route: MANIFEST_ROUTE, code: String(code) }, delta);
            flushed.set(code, n);
          }
        }
      },
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  // ------------------------------------------------------------------------------------------ runtime

  rolloutPhase(rollout: string, channel: string, phase: string, ring: number): void {
    for (const p of ALL_PHASES) this.phase.set({ rollout, channel, phase: p }, p === phase ? 1 : 0);
    this.ring.set({ rollout, channel }, ring);
  }

  transition(toPhase: string): void {
    this.transitions.inc({ reason: toPhase });
  }

  reconcileDuration(seconds: number): void {
    this.reconcileSeconds.observe(seconds);
  }

  verdict(rollout: string, metric: string, result: string): void {
    this.verdicts.inc({ rollout, metric, result });
  }

  verdictLatency(seconds: number): void {
    this.verdictLatencySeconds.observe(seconds);
  }

  killSwitch(engaged: boolean): void {
    this.killSwitchEngaged.set(engaged ? 1 : 0);
  }

  /** A break-glass credential engaged the kill switch; `actor` is `break-glass:<name>`. */
  breakGlass(actor: string): void {
    this.breakGlassUses.inc({ credential: actor.replace(/^break-glass:/, '') });
  }

  noDataSeconds(rollout: string, channel: string, ring: number, seconds: number): void {
    this.noData.set({ rollout, channel, ring: String(ring) }, seconds);
  }

  preflightCheck(result: 'passed' | 'failed'): void {
    this.preflightChecks.inc({ result });
  }

  /** A notification attempt's outcome (sink names come from the config, never a URL or secret). */
  notification(sink: string, result: 'delivered' | 'retried' | 'dead-lettered' | 'filtered'): void {
    this.notifications.inc({ sink, result });
  }

  notificationsPending(sink: string, pending: number): void {
    this.notificationsPendingGauge.set({ sink }, pending);
  }

  /** Refreshes the phase and ring gauges of every rollout (the API calls it before each scrape). */
  syncRollouts(rollouts: readonly RolloutPhaseSample[]): void {
    for (const r of rollouts) this.rolloutPhase(r.name, r.channel, r.phase.kind, r.exposedRing);
  }

  /**
   * Registers the audit gauges, served from `read` on each scrape (store/audit-open.ts AuditPublisher): only a
   * server that watches its audit log shows them, so a 0 always means what it says.
   */
  watchAudit(read: () => { headSequence: number; lastCheckpointSequence: number; chainOk: boolean }): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, value: (a: ReturnType<typeof read>) => number): void => {
      this.registry.removeSingleMetric(name);
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    };
    gauge('ringmaster_audit_head_sequence', 'Id of the last audit log entry (the chain head)', (a) => a.headSequence);
    gauge('ringmaster_audit_checkpoint_sequence', 'Entry id covered by the last signed audit checkpoint', (a) => a.lastCheckpointSequence);
    gauge('ringmaster_audit_chain_ok', '1 when the audit chain verified at start and since; 0 when broken (started with --accept-broken-audit)', (a) => (a.chainOk ? 1 : 0));
  }

  /** The operator's gauges and counters, read from `read` on each scrape (controller/operator): leader, conflicts, restarts. */
  watchOperator(read: () => { leader: boolean; statusConflicts: number; statusWrites: number; informerRestarts: number; events: number }): void {
    const registers = [this.registry];
    this.registry.removeSingleMetric('ringmaster_operator_leader');
    new Gauge({
      name: 'ringmaster_operator_leader',
      help: '1 while this replica holds the leader Lease and reconciles',
      registers,
      collect() {
        this.set(read().leader ? 1 : 0);
      },
    });
    const counter = (name: string, help: string, value: (r: ReturnType<typeof read>) => number): void => {
      this.registry.removeSingleMetric(name);
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(value(read()));
        },
      });
    };
    counter('ringmaster_operator_status_writes_total', 'Rollout status writes (merge patch on /status) by this replica', (r) => r.statusWrites);
    counter('ringmaster_operator_status_conflicts_total', 'Status writes answered 409 Conflict: re-read and decided again', (r) => r.statusConflicts);
    counter('ringmaster_operator_informer_restarts_total', 'Informers started again after a watch or list error', (r) => r.informerRestarts);
    counter('ringmaster_operator_events_total', 'Kubernetes Events written by this replica', (r) => r.events);
  }

  // ------------------------------------------------------------------------------------------ http

  httpRequest(route: string, code: number): void {
    this.httpRequests.inc({ route, code: String(code) });
  }

  /** The manifest fast path: one map update, no label hashing. */
  manifestRequest(code: number): void {
    this.manifestCounts.set(code, (this.manifestCounts.get(code) ?? 0) + 1);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
