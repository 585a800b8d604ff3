/**
 * The pre-flight runner: runs the checks of a rollout in phase `preflight`, outside the reconcile pass, and hands
 * their result to the engine as a fact (engine/state.ts PreflightResult).
 *
 * A run, in order, stopping at the first failure:
 *   1. fetch the artifact (content/fetch.ts: http(s) through the one HTTP client, or file://; size and time limits);
 *   2. verify its sha256, and its publisher signature against the controller's trusted keys when the rollout's
 *      policy requires signed artifacts (the check is named `artifact` in a result);
 *   3. each check of spec.preflight, in order (content/validators.ts): an inline JSON Schema, an executable of the
 *      operator's allowlist, or a webhook of it (content/allowlist.ts).
 *
 * - Never in a critical path: the reconciler calls `ensure` after it commits a decision, which starts the run and
 *   returns at once; human verbs and the kill switch never wait for it. When a run ends, `onResult` asks the
 *   controller to decide the rollout now (the engine reads the result through `result`).
 * - A run belongs to the preflight phase that began at `since`: a rollout held and resumed runs again, and a
 *   result of an older run never counts. A run whose rollout left the phase is aborted (`release`).
 * - Results live in memory only: a restart mid-preflight runs the checks again (they read, they change nothing).
 */
import type { TrustedKey } from '../crypto/keys';
import { fetchArtifact, sha256Hex, verifyArtifact, type FetchLimits } from '../content/fetch';
import { runValidator, type ContentValidator } from '../content/validators';
import { allowedNames, EMPTY_ALLOWLIST, type PreflightAllowlist } from '../content/allowlist';
import type { PreflightResult } from '../engine/state';
import { POLICY_DEFAULTS, PREFLIGHT_DEFAULTS } from '../spec/defaults';
import { durationMs } from '../spec/duration';
import type { PolicySpec, PreflightCheck, Rollout } from '../spec/types';
import type { RolloutRecord } from '../store/types';
import type { Logger } from '../telemetry/log';
import type { PreflightSource, RuntimeObserver } from './types';

/** The check name of the fetch and verification step in results, metrics and logs. */
export const ARTIFACT_CHECK = 'artifact';

export interface PreflightRunnerOptions {
  allowlist?: PreflightAllowlist;
  trustedKeys: TrustedKey[];
  /** The rollout's policy (requireSignedArtifacts); undefined: not loaded (then signatures are required). */
  policyOf: (rollout: Rollout) => PolicySpec | undefined;
  fetchLimits?: Partial<FetchLimits>;
  /**
   * The bytes behind an artifact URL when the embedding program holds them (the simulator: its scenario's
   * artifactFile, what its agents download); undefined: fetched. They are verified and validated all the same.
   */
  artifactBytes?: (url: string) => Buffer | undefined;
  /** Runs at once; more wait for a free one. Default 4. */
  concurrency?: number;
  log: Logger;
  observer?: RuntimeObserver;
  /** A run ended with a result for `rollout`: decide it now. */
  onResult: (rollout: string) => void;
}

interface Job {
  since: string;
  abort: AbortController;
  result?: PreflightResult;
  /** The run has ended (with a result, aborted, or by a bug that was logged). */
  settled: boolean;
  done: Promise<void>;
}

/** Builds the validators of a rollout's checks; a check naming what the allowlist does not have is a failure. */
export function validatorsOf(checks: readonly PreflightCheck[], allowlist: PreflightAllowlist): { ok: true; validators: ContentValidator[] } | { ok: false; check: string; reason: string } {
  const validators: ContentValidator[] = [];
  for (const c of checks) {
    const timeoutMs = durationMs(c.timeout ?? PREFLIGHT_DEFAULTS.timeout);
    if (c.schema !== undefined) {
      validators.push({ type: 'schema', name: c.name, schema: c.schema });
    } else if (c.exec !== undefined) {
      const e = allowlist.executables.get(c.exec);
      if (!e) return { ok: false, check: c.name, reason: `executable ${JSON.stringify(c.exec)} is not in this controller's pre-flight allowlist (allowed: ${allowedNames(allowlist.executables)})` };
      validators.push({ type: 'exec', name: c.name, command: e.command, args: e.args, timeoutMs, ...(e.maxOutputBytes === undefined ? {} : { maxOutputBytes: e.maxOutputBytes }) });
    } else if (c.webhook !== undefined) {
      const w = allowlist.webhooks.get(c.webhook);
      if (!w) return { ok: false, check: c.name, reason: `webhook ${JSON.stringify(c.webhook)} is not in this controller's pre-flight allowlist (allowed: ${allowedNames(allowlist.webhooks)})` };
      validators.push({ type: 'webhook', name: c.name, url: w.url, secret: w.secret, timeoutMs });
    } else {
      return { ok: false, check: c.name, reason: 'names no schema, exec or webhook' };
    }
  }
  return { ok: true, validators };
}

export class PreflightRunner implements PreflightSource {
  private readonly jobs = new Map<string, Job>();
  private readonly allowlist: PreflightAllowlist;
  private running = 0;
  private readonly queue: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly opts: PreflightRunnerOptions) {
    this.allowlist = opts.allowlist ?? EMPTY_ALLOWLIST;
  }

  /** The result of the rollout's current run, once it has one. */
  result(rec: RolloutRecord): PreflightResult | undefined {
    const p = rec.state.phase;
    if (p.kind !== 'preflight') return undefined;
    const job = this.jobs.get(rec.name);
    return job && job.since === p.since ? job.result : undefined;
  }

  /** Starts the run of a rollout in `preflight` unless it is under way (or done) for the same phase; returns at once. */
  ensure(rec: RolloutRecord): void {
    const p = rec.state.phase;
    if (p.kind !== 'preflight' || this.stopped) return;
    const existing = this.jobs.get(rec.name);
    if (existing && existing.since === p.since) return;
    existing?.abort.abort();
    const abort = new AbortController();
    const job: Job = { since: p.since, abort, settled: false, done: Promise.resolve() };
    this.jobs.set(rec.name, job);
    job.done = this.slot()
      .then(async () => {
        try {
          if (abort.signal.aborted) return;
          const result = await this.run(rec, p.since, abort.signal);
          if (abort.signal.aborted || this.jobs.get(rec.name) !== job) return;
          job.result = result;
          this.opts.onResult(rec.name);
        } finally {
          this.release1();
        }
      })
      .catch((err: unknown) => {
        this.opts.log.error({ rollout: rec.name, err: err instanceof Error ? err.message : String(err) }, 'pre-flight run failed');
      })
      .finally(() => {
        job.settled = true;
      });
  }

  /** The rollout left its preflight phase (or is gone): its run, if any, is aborted and forgotten. */
  release(name: string): void {
    const job = this.jobs.get(name);
    if (!job) return;
    job.abort.abort();
    this.jobs.delete(name);
  }

  /** Resolves when every run started so far has ended (tests, the simulator's virtual time). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.jobs.values()].filter((j) => !j.settled).map((j) => j.done);
      if (pending.length === 0) return;
      await Promise.all(pending);
    }
  }

  /** Aborts every run (exec checks are killed) and waits for them to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.jobs.values()];
    for (const j of all) j.abort.abort();
    this.jobs.clear();
    for (const wake of this.queue.splice(0)) wake();
    await Promise.all(all.map((j) => j.done));
  }

  private slot(): Promise<void> {
    const limit = this.opts.concurrency ?? 4;
    if (this.running < limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.queue.push(() => {
        this.running++;
        resolve();
      }),
    );
  }

  private release1(): void {
    this.running--;
    this.queue.shift()?.();
  }

  private async run(rec: RolloutRecord, since: string, signal: AbortSignal): Promise<PreflightResult> {
    const spec = rec.spec.spec;
    const log = this.opts.log.child({ rollout: rec.name, channel: rec.channel });
    const started = Date.now();
    const fail = (check: string, reason: string): PreflightResult => {
      this.opts.observer?.preflightCheck?.('failed');
      log.warn({ check, reason, ms: Date.now() - started }, 'pre-flight failed');
      return { since, result: 'failed', check, reason };
    };
    const built = validatorsOf(spec.preflight ?? [], this.allowlist);
    const held = this.opts.artifactBytes?.(spec.artifact.url);
    const fetched = held !== undefined ? { ok: true as const, bytes: held, sha256: sha256Hex(held) } : await fetchArtifact(spec.artifact.url, this.opts.fetchLimits, signal);
    if (!fetched.ok) return fail(ARTIFACT_CHECK, `${fetched.reason}: ${fetched.message}`);
    const policy = this.opts.policyOf(rec.spec);
    const signed = policy?.requireSignedArtifacts ?? POLICY_DEFAULTS.requireSignedArtifacts;
    const verified = verifyArtifact(fetched.bytes, spec.artifact, signed ? this.opts.trustedKeys : null);
    if (!verified.ok) return fail(ARTIFACT_CHECK, `${verified.reason}: ${verified.message}`);
    this.opts.observer?.preflightCheck?.('passed');
    log.info({ check: ARTIFACT_CHECK, bytes: fetched.bytes.length, sha256: fetched.sha256 }, 'pre-flight artifact fetched and verified');
    if (!built.ok) return fail(built.check, built.reason);
    const ctx = { version: spec.version, sha256: fetched.sha256, channel: spec.channel };
    for (const v of built.validators) {
      if (signal.aborted) return { since, result: 'failed', check: v.name, reason: 'aborted' };
      const r = await runValidator(v, fetched.bytes, ctx, signal);
      if (!r.ok) return fail(r.name, r.message);
      this.opts.observer?.preflightCheck?.('passed');
      log.info({ check: r.name, type: v.type }, 'pre-flight check passed');
    }
    log.info({ checks: built.validators.length + 1, ms: Date.now() - started }, 'pre-flight passed');
    return { since, result: 'passed', checks: built.validators.length + 1 };
  }
}
