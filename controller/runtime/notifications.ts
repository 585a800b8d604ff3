/**
 * The runtime's side of notifications: the events the engine says a committed decision (or a kill switch change)
 * produces are written to the notification outbox in the transaction that commits it, one row per sink whose
 * filter takes the event; the dispatcher is kicked once that transaction has committed.
 */
import type { NotificationSinkConfig } from '../config/serve';
import { eventMatches, type NotificationEvent } from '../engine/events';
import type { NotificationDispatcher, NotificationObserver } from '../notify/dispatcher';
import { sinkTypeSends } from '../notify/sinks';
import type { NotificationOutbox } from '../store/notifications';

export class Notifier {
  constructor(
    private readonly outbox: NotificationOutbox,
    private readonly sinks: readonly NotificationSinkConfig[],
    private readonly afterCommit: (fn: () => void) => void,
    private readonly dispatcher: Pick<NotificationDispatcher, 'kick'> | null,
    private readonly observer?: NotificationObserver,
  ) {}

  /** Call inside the transaction that commits the events' transition. */
  enqueue(events: readonly NotificationEvent[], nowMs: number): void {
    if (events.length === 0 || this.sinks.length === 0) return;
    const items: Array<{ sink: string; event: NotificationEvent }> = [];
    for (const event of events) {
      for (const sink of this.sinks) {
        if (eventMatches(event.type, sink.events) && sinkTypeSends(sink.type, event.type)) items.push({ sink: sink.name, event });
        else this.afterCommit(() => this.observer?.notification(sink.name, 'filtered'));
      }
    }
    this.outbox.enqueue(items, nowMs);
    if (items.length > 0) this.afterCommit(() => this.dispatcher?.kick());
  }
}
