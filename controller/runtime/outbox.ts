/**
 * The action runner: performs the actions of committed decisions, read back from the store's outbox, and marks
 * each one done. An action runs only after its transition is durable; after a crash the runner replays what was
 * committed but not marked done. Every action is idempotent (publishing rebuilds from the store; a notification
 * is keyed by rollout, revision and transition), so a replay repeats nothing that matters.
 */
import type { StateStore } from '../store/types';
import type { Logger } from '../telemetry/log';
import type { ManifestSink } from './publisher';

export class ActionRunner {
  constructor(
    private readonly store: StateStore,
    private readonly publisher: Pick<ManifestSink, 'publish'>,
    private readonly log: Logger,
  ) {}

  /**
   * Performs every pending action, inside the transaction in progress when there is one, so that a batch of
   * decisions and the manifests they publish commit together (one fsync). Whatever leaves the process (a
   * manifest served to agents, a notification) happens only after that commit.
   */
  runPending(): void {
    this.store.transaction(() => this.runAll());
  }

  private runAll(): void {
    for (const a of this.store.pendingActions()) {
      const payload = a.payload as { channel?: string; message?: string; severity?: string };
      try {
        if (a.kind === 'publish-manifest' && payload.channel) this.publisher.publish(payload.channel, 'controller');
        else if (a.kind === 'notify') {
          const level = payload.severity === 'critical' ? 'warn' : 'info';
          this.store.afterCommit(() => this.log[level]({ rollout: a.rollout, key: a.key }, `notify: ${payload.message ?? ''}`));
        }
      } catch (err) {
        // Left pending: retried after the next commit, and at the next start.
        this.log.error({ rollout: a.rollout, key: a.key, kind: a.kind, err: (err as Error).message }, 'action failed; it stays in the outbox');
        continue;
      }
      this.store.markActionDone(a.key);
    }
  }
}
