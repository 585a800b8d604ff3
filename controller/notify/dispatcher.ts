/**
 * The notification dispatcher: delivers the outbox's pending rows in the background, at least once. Nothing awaits
 * it (not the reconcile loop, not an API handler): a pass picks the due rows, sends each one (a timeout per
 * request, a few at a time per sink), and marks it delivered, or schedules a retry after an exponential backoff
 * with full jitter (http/backoff.ts), or, after the sink's maxAttempts, dead-letters it (a warn log line without
 * secrets, and the metric). Pending rows survive a restart: the next start delivers them with the same id.
 */
import type { NotificationSinkConfig } from '../config/serve';
import { HttpClient } from '../http/client';
import { backoffDelay } from '../http/backoff';
import type { NotificationOutbox, NotificationRow } from '../store/notifications';
import type { Logger } from '../telemetry/log';
import { render } from './sinks';

export type NotificationResult = 'delivered' | 'retried' | 'dead-lettered' | 'filtered';

export interface NotificationObserver {
  notification(sink: string, result: NotificationResult): void;
  notificationsPending(sink: string, pending: number): void;
}

export interface DispatcherOptions {
  log: Logger;
  observer?: NotificationObserver;
  now?: () => number;
  random?: () => number;
  /** Cap of the first retry delay (default 1 s); it doubles per attempt up to retryMaxMs (default 5 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How often due rows are looked for when nothing kicks the dispatcher (default 1 s). */
  pollMs?: number;
  /** Requests in flight per sink (default 4). */
  concurrency?: number;
}

export class NotificationDispatcher {
  private readonly sinks: Map<string, NotificationSinkConfig>;
  private readonly clients = new Map<string, HttpClient>();
  private readonly inflight = new Set<string>();
  private readonly perSink = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private running: Promise<void> | null = null;
  private again = false;
  private readonly work = new Set<Promise<void>>();

  constructor(
    private readonly outbox: NotificationOutbox,
    sinks: readonly NotificationSinkConfig[],
    private readonly opts: DispatcherOptions,
  ) {
    this.sinks = new Map(sinks.map((s) => [s.name, s]));
    for (const s of sinks) {
      const u = new URL(s.url);
      this.clients.set(s.name, new HttpClient({ baseUrl: u.origin, timeoutMs: s.timeoutMs, connectTimeoutMs: Math.min(s.timeoutMs, 5000), retries: 0, connections: opts.concurrency ?? 4 }));
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.publishPending();
    this.kick();
  }

  /** Looks for due rows soon (after a commit that enqueued some). Never blocks the caller. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = Promise.resolve().then(() => this.pass()).finally(() => {
      this.running = null;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.kick();
      } else this.schedule();
    });
  }

  private schedule(): void {
    const poll = this.opts.pollMs ?? 1000;
    const next = this.outbox.nextDue();
    const wait = next === null ? poll : Math.min(poll, Math.max(0, next - this.now()));
    this.timer = setTimeout(() => this.kick(), wait);
    this.timer.unref();
  }

  /** Starts the sends of every due row; does not wait for their answers (a hung receiver holds only its own slots). */
  private pass(): void {
    const limit = (this.opts.concurrency ?? 4) * Math.max(1, this.sinks.size) * 4;
    for (const row of this.outbox.due(this.now(), limit)) {
      const key = `${row.sink}\u0000${row.eventId}`;
      if (this.inflight.has(key)) continue;
      const sink = this.sinks.get(row.sink);
      if (!sink) {
        // A sink removed from the config: its rows wait (they are delivered if it comes back); not retried now.
        continue;
      }
      if ((this.perSink.get(sink.name) ?? 0) >= (this.opts.concurrency ?? 4)) continue;
      this.inflight.add(key);
      this.perSink.set(sink.name, (this.perSink.get(sink.name) ?? 0) + 1);
      const p = this.deliver(sink, row).finally(() => {
        this.inflight.delete(key);
        this.perSink.set(sink.name, (this.perSink.get(sink.name) ?? 1) - 1);
        this.work.delete(p);
        this.publishPending();
        this.kick();
      });
      this.work.add(p);
    }
  }

  private async deliver(sink: NotificationSinkConfig, row: NotificationRow): Promise<void> {
    const client = this.clients.get(sink.name) as HttpClient;
    const u = new URL(sink.url);
    const { body, headers } = render(sink.type, row.event, { ...(sink.secret === undefined ? {} : { secret: sink.secret }), nowS: Math.floor(this.now() / 1000) });
    let error: string;
    try {
      const r = await client.post(u.pathname + u.search, body, { headers, contentType: 'application/json', idempotent: false, timeoutMs: sink.timeoutMs });
      if (this.stopped) return; // the answer of a send cut by stop: the row stays as it was, and is sent again at the next start
      if (r.ok && r.response.status >= 200 && r.response.status < 300) {
        this.outbox.markDelivered(row.eventId, sink.name, new Date(this.now()).toISOString());
        this.opts.observer?.notification(sink.name, 'delivered');
        this.opts.log.debug({ sink: sink.name, event: row.eventId, attempts: row.attempts + 1 }, 'notification delivered');
        return;
      }
      // Our own words: the client's message names the URL, and a Slack URL is a secret.
      error = r.ok ? `HTTP ${r.response.status}` : `${r.failure.kind}: ${scrub(r.failure.reason, sink)}`;
    } catch (err) {
      error = scrub(err instanceof Error ? err.message : String(err), sink);
    }
    if (this.stopped) return;
    const attempts = row.attempts + 1;
    if (attempts >= sink.maxAttempts) {
      this.outbox.markFailed(row.eventId, sink.name, error, { dead: true, at: new Date(this.now()).toISOString() });
      this.opts.observer?.notification(sink.name, 'dead-lettered');
      this.opts.log.warn({ sink: sink.name, event: row.eventId, type: row.type, attempts, error }, 'notification dead-lettered');
      return;
    }
    const delay = backoffDelay(attempts, { baseMs: this.opts.retryBaseMs ?? 1000, maxMs: this.opts.retryMaxMs ?? 300_000, ...(this.opts.random ? { random: this.opts.random } : {}) });
    this.outbox.markFailed(row.eventId, sink.name, error, { dead: false, nextAt: this.now() + delay });
    this.opts.observer?.notification(sink.name, 'retried');
    this.opts.log.info({ sink: sink.name, event: row.eventId, attempts, retryInMs: delay, error }, 'notification not delivered; retried later');
  }

  private publishPending(): void {
    const obs = this.opts.observer;
    if (!obs) return;
    const counts = this.outbox.pendingCounts();
    for (const name of this.sinks.keys()) obs.notificationsPending(name, counts.get(name) ?? 0);
  }

  /** Stops looking for rows; sends in flight are left to finish or time out, and their rows are sent again at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Resolves when no send is in flight (tests). */
  async idle(): Promise<void> {
    while (this.work.size > 0 || this.running) await Promise.race([...this.work, this.running ?? Promise.resolve()]);
  }
}

function scrub(text: string, sink: NotificationSinkConfig): string {
  let out = text;
  for (const s of [sink.secret, sink.shownUrl === 'urlFile' ? sink.url : undefined]) if (s) out = out.split(s).join('[secret]');
  return out;
}
