/**
 * Live updates for GET /v1/events (Server-Sent Events) and the evidence series of GET /v1/rollouts/NAME/evidence.
 *
 * The hub never runs inside the reconcile loop: a timer of its own (every `intervalMs`, default 500 ms) reads the
 * service's in-memory views (listRollouts, getKillSwitch, the newest audit entry) and diffs them against the last
 * look. Each change becomes one event written to every connected client; a client whose socket does not drain
 * (more than `maxBufferedBytes` queued) is dropped rather than buffered without bound. At most `maxClients` streams.
 *
 * The evidence series is what the hub saw of each rollout's lastVerdict (one point per new verdict time and metric),
 * kept in memory, at most `maxPoints` per rollout: it starts when the server starts (the state keeps only totals).
 */
import type * as http from 'node:http';
import type { AuditEntryView, ControllerService, RolloutView } from '../runtime/service';

export interface EvidencePoint {
  at: string;
  metric: string;
  result: string;
  candidateRate: number | null;
  baselineRate: number | null;
  candidateHosts: number | null;
  ratio: number | null;
  /** ln e-process of the relative test and its boundary ln(1/alpha); null when the metric has no relative test. */
  statistic: number | null;
  boundary: number | null;
}

export interface HubOptions {
  intervalMs?: number;
  heartbeatMs?: number;
  maxClients?: number;
  maxBufferedBytes?: number;
  maxPoints?: number;
}

interface Client {
  res: http.ServerResponse;
}

interface Sent {
  id: number;
  text: string;
}

/** The part of a view the stream reports on (phase, ring, wave, verdict): a change of any of it is an event. */
export function viewKey(v: RolloutView): string {
  return JSON.stringify([v.phase, v.exposedRing, v.ring, v.wave, v.lastVerdict?.at ?? null, v.lastVerdict?.result ?? null, v.waitingReason, v.revision]);
}

export class EventHub {
  private readonly clients = new Set<Client>();
  private readonly keys = new Map<string, string>();
  private readonly series = new Map<string, EvidencePoint[]>();
  private readonly seenVerdict = new Map<string, string>();
  private killKey = '';
  private auditHead = 0;
  private seq = 0;
  /** The last events, for Last-Event-ID resume. */
  private readonly recent: Sent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly o: Required<HubOptions>;

  constructor(
    private readonly service: ControllerService,
    opts: HubOptions = {},
  ) {
    this.o = { intervalMs: opts.intervalMs ?? 500, heartbeatMs: opts.heartbeatMs ?? 15_000, maxClients: opts.maxClients ?? 64, maxBufferedBytes: opts.maxBufferedBytes ?? 1 << 20, maxPoints: opts.maxPoints ?? 2000 };
  }

  /** Starts the timers (unref'd: they never keep the process alive). */
  start(): void {
    if (this.timer) return;
    this.look(true);
    this.timer = setInterval(() => this.look(false), this.o.intervalMs);
    this.timer.unref();
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), this.o.heartbeatMs);
    this.heartbeat.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  full(): boolean {
    return this.clients.size >= this.o.maxClients;
  }

  evidence(name: string): EvidencePoint[] {
    return this.series.get(name) ?? [];
  }

  /** Takes over the response as an event stream; replays what came after lastEventId when it is still kept. */
  attach(res: http.ServerResponse, lastEventId: string | undefined): void {
    this.start();
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    const client: Client = { res };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    const last = lastEventId !== undefined && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : undefined;
    const oldest = this.recent[0];
    if (last !== undefined && oldest !== undefined && last >= oldest.id - 1 && last <= this.seq) {
      for (const e of this.recent) if (e.id > last) res.write(e.text);
    } else {
      // A fresh start (or too old to resume): one snapshot event, then the changes.
      res.write(this.format('snapshot', { rollouts: this.service.listRollouts().map((v) => v.name), killswitch: this.service.getKillSwitch(), auditHead: this.auditHead }, false));
    }
    res.write(`retry: 2000\n\n`);
  }

  /** One diff of the service's views; cheap (in-memory reads), never awaits. */
  look(initial: boolean): void {
    try {
      this.diff(initial);
    } catch {
      // the service is starting or closing: the next look tries again
    }
  }

  private diff(initial: boolean): void {
    const views: RolloutView[] = this.service.listRollouts();
    for (const v of views) {
      this.sample(v);
      const k = viewKey(v);
      if (this.keys.get(v.name) === k) continue;
      this.keys.set(v.name, k);
      if (!initial) this.emit('rollout', { name: v.name, phase: v.phase, exposedRing: v.exposedRing, ring: v.ring, wave: v.wave, waitingReason: v.waitingReason, lastVerdict: v.lastVerdict ? { at: v.lastVerdict.at, result: v.lastVerdict.result, reason: v.lastVerdict.reason } : null, revision: v.revision });
    }
    const ks = this.service.getKillSwitch();
    const kk = JSON.stringify(ks);
    if (kk !== this.killKey) {
      this.killKey = kk;
      if (!initial) this.emit('killswitch', ks);
    }
    const newest: AuditEntryView[] = this.service.listAudit({ afterId: this.auditHead, limit: 100 });
    const head = newest[newest.length - 1];
    if (head) {
      if (!initial) for (const e of newest) this.emit('audit', { id: e.id, at: e.at, actor: e.actor, action: e.action, target: e.target });
      this.auditHead = head.id;
    }
  }

  private sample(v: RolloutView): void {
    const verdict = v.lastVerdict;
    if (!verdict || this.seenVerdict.get(v.name) === verdict.at) return;
    this.seenVerdict.set(v.name, verdict.at);
    const points = this.series.get(v.name) ?? [];
    for (const m of verdict.metrics) {
      points.push({
        at: m.at || verdict.at,
        metric: m.metric,
        result: m.result,
        candidateRate: m.candidate?.rate ?? null,
        baselineRate: m.baseline?.rate ?? null,
        candidateHosts: m.candidate?.hosts ?? null,
        ratio: m.ratio,
        statistic: m.relative ? m.relative.logE : null,
        boundary: m.relative ? m.relative.threshold : null,
      });
    }
    if (points.length > this.o.maxPoints) points.splice(0, points.length - this.o.maxPoints);
    this.series.set(v.name, points);
  }

  private emit(type: string, data: unknown): void {
    this.write(this.format(type, data, true));
  }

  private format(type: string, data: unknown, numbered: boolean): string {
    if (!numbered) return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    const id = ++this.seq;
    const text = `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    this.recent.push({ id, text });
    if (this.recent.length > 500) this.recent.shift();
    return text;
  }

  private write(text: string): void {
    for (const c of this.clients) {
      if (c.res.writableLength > this.o.maxBufferedBytes) {
        c.res.destroy();
        this.clients.delete(c);
        continue;
      }
      c.res.write(text);
    }
  }
}
