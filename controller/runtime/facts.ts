/**
 * Fact gathering without I/O: everything `decide` needs besides the verdict (which needs Prometheus and is
 * gathered separately, with deadlines). Reads the store and the loaded policies; computes the window with
 * policy/windows and the channel slot with engine/scheduling. Memoised per pass, so that thousands of rollouts
 * on the same policy cost one window evaluation, and per spec, since specs never change.
 */
import { channelSlot, retryLineage, type SlotRollout } from '../engine/scheduling';
import type { EngineConfig, Facts, RingVerdict, WindowStatus } from '../engine/state';
import { TERMINAL_PHASES } from '../engine/state';
import { ringAwaitingStart } from '../engine/decide';
import { isAllowed } from '../policy/windows';
import { POLICY_DEFAULTS } from '../spec/defaults';
import type { PolicySpec } from '../spec/types';
import type { RolloutRecord, StateStore } from '../store/types';
import { engineConfigFor } from './config';
import type { PreflightSource } from './types';

function slotView(r: RolloutRecord): SlotRollout {
  return { name: r.name, seq: r.seq, version: r.spec.spec.version, previousVersion: r.spec.spec.previousVersion, phase: r.state.phase };
}

export class FactSource {
  private readonly configs = new Map<string, { specHash: string; config: EngineConfig }>();
  private windows = new Map<string, WindowStatus>();
  private windowsAt = Number.NaN;

  constructor(
    private readonly store: StateStore,
    private readonly policies: ReadonlyMap<string, PolicySpec>,
    private readonly rollbackDrainMs: number | undefined,
    /** Whether the analysis judges a rollout that declares no metrics (Analyzer.judges). */
    private readonly judges: ((rollout: RolloutRecord['spec']) => boolean) | undefined = undefined,
    /** Results of pre-flight runs (runtime/preflight.ts); without it a rollout in preflight waits. */
    private readonly preflight: PreflightSource | undefined = undefined,
  ) {}

  engineConfig(rec: RolloutRecord): EngineConfig {
    const hit = this.configs.get(rec.name);
    if (hit && hit.specHash === rec.specHash) return hit.config;
    const judged = this.judges?.(rec.spec) ?? false;
    const config = engineConfigFor(rec.spec, this.rollbackDrainMs === undefined ? { judged } : { rollbackDrainMs: this.rollbackDrainMs, judged });
    this.configs.set(rec.name, { specHash: rec.specHash, config });
    return config;
  }

  /** The facts of one rollout at `nowMs`. The kill switch is read here, at the last moment before deciding. */
  facts(rec: RolloutRecord, nowMs: number, verdict?: RingVerdict): Facts {
    const policy = this.policies.get(rec.policy);
    const requests = this.store.pendingRequests(rec.name);
    const facts: Facts = {
      now: new Date(nowMs).toISOString(),
      window: this.window(rec, policy, nowMs),
      channelSlot: this.slot(rec, policy),
      requests,
      killSwitch: this.store.getKillSwitch(),
    };
    if (requests.some((r) => r.verb === 'promote-full')) {
      const last = rec.spec.spec.rings.length - 1;
      facts.lastRingWindow = this.window(rec, policy, nowMs, last);
    }
    if (requests.some((r) => r.verb === 'retry') && TERMINAL_PHASES.has(rec.state.phase.kind)) {
      const others = this.store.listRollouts({ channel: rec.channel, activeOnly: true }).filter((r) => r.name !== rec.name);
      facts.retry = retryLineage(slotView(rec), others.map(slotView), this.store.lineage(rec.channel));
    }
    if (verdict) facts.verdict = verdict;
    const preflight = this.preflight?.result(rec);
    if (preflight) facts.preflight = preflight;
    return facts;
  }

  /** May `ring` (default: the one the phase awaits, engine/decide.ringAwaitingStart) start now? */
  private window(rec: RolloutRecord, policy: PolicySpec | undefined, nowMs: number, ringIndex?: number): WindowStatus {
    const ring = ringIndex ?? ringAwaitingStart(rec.state);
    if (ring === undefined) return { allowed: true };
    if (policy === undefined) return { allowed: false, reasons: [{ kind: 'invalid-policy', message: `policy "${rec.policy}" is not loaded` }] };
    const bakeMs = this.engineConfig(rec).rings[ring]?.bakeMs ?? 0;
    if (this.windowsAt !== nowMs) {
      this.windows = new Map();
      this.windowsAt = nowMs;
    }
    const key = `${rec.policy}\u0000${bakeMs}`;
    let w = this.windows.get(key);
    if (w === undefined) {
      const a = isAllowed(policy, new Date(nowMs), 'ring-start', { bakeMs });
      w = a.allowed ? { allowed: true } : { allowed: false, reasons: a.reasons.map((r) => ({ kind: r.kind, message: r.message })) };
      this.windows.set(key, w);
    }
    return w;
  }

  private slot(rec: RolloutRecord, policy: PolicySpec | undefined): Facts['channelSlot'] {
    const kind = rec.state.phase.kind;
    if (kind !== 'pending' && kind !== 'blocked' && kind !== 'held') return { free: true };
    const others = this.store.listRollouts({ channel: rec.channel, activeOnly: true }).filter((r) => r.name !== rec.name);
    return channelSlot(slotView(rec), others.map(slotView), this.store.lineage(rec.channel), policy?.maxConcurrentRolloutsPerChannel ?? POLICY_DEFAULTS.maxConcurrentRolloutsPerChannel);
  }

  /** The channel's other non-terminal rollouts, as scheduling sees them (for apply-time lineage checks). */
  inFlight(channel: string): SlotRollout[] {
    return this.store.listRollouts({ channel, activeOnly: true }).map(slotView);
  }
}
