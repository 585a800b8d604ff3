/**
 * The reference agent: the shell around the engine's agent decisions (controller/engine/agent.ts). It gathers
 * facts (the manifest's bytes, the clock, the host's labels, its durable state), calls the engine, and performs
 * what the engine says: nothing here decides which version a host runs, whether a manifest may be believed,
 * how the trusted keys rotate, or when to fall back.
 *
 * One poll (`pollOnce`):
 *   1. GET the channel manifest with If-None-Match (a 304 reuses the last accepted manifest, still held to the
 *      maximum age);
 *   2. `checkManifest` with the trusted keys and the replay state; on `unknown-key`, GET /v1/signing-key and
 *      `applyRotations` (only statements chained from a key already trusted), persist the new keys, check the same
 *      bytes once more. A refusal is counted (`manifest_refusals_total{reason}`) and logged; the host keeps what it
 *      runs. A signature refusal also counts `update_failures_total{reason="signature"}` against the candidate
 *      version(s) the unverified body names, so that a tampered manifest halts the rollout;
 *   3. `desiredVersion` (with the host's bad marks, `isMarkedBad`);
 *   4. when that is another artifact: fetch it (content/fetch.ts), check its sha256 and publisher signature, run
 *      the local validators (content/validators.ts; a refusal marks the artifact bad), install it, persist the
 *      boot marker (`installedVersion`), switch (Installer.activate), and start it.
 *
 * Every start goes through `beginStart`, its state persisted before the start runs: a failed start is followed by
 * another until `maxFailedStarts` are used up, then the engine's `revert` switches back to last-known-good, marks
 * the version bad and counts `local_rollbacks_total`. `startHealthy` clears the marker after the healthy period.
 * A process start of the agent in a new boot of the host (the kernel's boot id) is a start of the active version;
 * an agent restart within the same boot, after that version started, is not.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import {
  applyRotations,
  beginStart,
  censusRing,
  checkManifest,
  DEFAULT_BOOT_RULES,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MANIFEST_MAX_AGE_MS,
  desiredVersion,
  installedVersion,
  isMarkedBad,
  markBad,
  refusedUpdateVersions,
  startHealthy,
  type AgentHost,
  type BootRules,
  type BootState,
  type ChannelManifest,
  type Desired,
  type FetchedManifest,
  type InstalledVersion,
  type ManifestArtifact,
  type ManifestCheck,
  type ManifestRefusal,
  type TrustedManifestKey,
} from '../controller/engine/agent';
import { fetchArtifact, verifyArtifact, type FetchLimits } from '../controller/content/fetch';
import type { TrustedKey } from '../controller/crypto/keys';
import { runValidator, type ContentValidator } from '../controller/content/validators';
import { backoffDelay } from '../controller/http/backoff';
import type { HttpClientOptions } from '../controller/http/client';
import { silentLogger, type Logger } from '../controller/telemetry/log';
import { InstallError, type Installer } from './installer';
import { AgentMetrics, type UpdateFailureReason } from './metrics';
import { initialState, StateError, StateStore, type AgentState, type LastStart, type StoredManifest } from './state';
import { statusOf, type AgentStatus } from './status';
import { ControllerTransport } from './transport';

export interface AgentOptions {
  /** The controller's base URL (http:// or https://). */
  controller: string;
  channel: string;
  hostId: string;
  labels?: Record<string, string>;
  /** The state directory (state.json; the FileInstaller keeps versions/, current and previous there too). */
  dir: string;
  installer: Installer;
  /** Manifest keys to trust on the first run (no trust on first use): required when the state has none. */
  pinKeys?: TrustedManifestKey[];
  /** Publisher keys: when given, an artifact must carry a signature that verifies against one of them. */
  publisherKeys?: TrustedKey[] | null;
  /** Local content validators, run on a downloaded artifact before it is activated. */
  validators?: ContentValidator[];
  /** Default 60 s, with ±`pollJitter` (default 0.2) of it at random. */
  pollIntervalMs?: number;
  pollJitter?: number;
  /** One manifest request. Default 10 s. */
  requestTimeoutMs?: number;
  /** Backoff after failed polls: full jitter under min(max, base·2^(n-1)). Defaults 1 s and 5 min. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** checkManifest's rules. Defaults 24 h and 5 min. */
  maxAgeMs?: number;
  clockSkewMs?: number;
  boot?: Partial<BootRules>;
  fetchLimits?: Partial<FetchLimits>;
  bearerToken?: string;
  /** TLS and other options of the one HTTP client (ca, caFile, insecureSkipVerify). */
  http?: Partial<HttpClientOptions>;
  metrics?: AgentMetrics;
  log?: Logger;
  now?: () => number;
  random?: () => number;
  /** The host's boot id (new at each boot); default the kernel's, null when unknown (then every agent start is a boot). */
  bootId?: () => string | null;
}

/** A setup problem (no pinned key, a state directory of another channel, an unreadable state): one line. */
export class AgentSetupError extends Error {}

export type ManifestOutcome = 'accepted' | 'unchanged' | 'not-modified' | 'refused' | 'error';

export type Action =
  /** No verified manifest to act on. */
  | { kind: 'none' }
  | { kind: 'keep'; version: string | null; why: 'kill-switch' | 'no-stable' | 'marked-bad' }
  | { kind: 'on-desired'; version: string }
  | { kind: 'installed'; version: string; started: boolean; reverted: boolean }
  | { kind: 'failed'; version: string; reason: UpdateFailureReason | 'no-artifact'; message: string };

export interface PollReport {
  manifest: ManifestOutcome;
  /** The last accepted revision after this poll. */
  revision: number;
  refusal?: { reason: ManifestRefusal; message: string };
  error?: string;
  action: Action;
  /** The host runs what the manifest wants for it (or there is nothing to do): `--once` exits 0. */
  onDesired: boolean;
}

export interface StartReport {
  started: boolean;
  reverted: boolean;
  stuck: boolean;
}

const DEFAULTS = {
  pollIntervalMs: 60_000,
  pollJitter: 0.2,
  requestTimeoutMs: 10_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 5 * 60_000,
};

export function kernelBootId(): string | null {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export class Agent {
  readonly metrics: AgentMetrics;
  private readonly store: StateStore;
  private readonly transport: ControllerTransport;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly rules: BootRules;
  private readonly bootIdNow: string | null;
  private booted = false;
  private manifest: ChannelManifest | null;

  private constructor(
    private readonly opts: AgentOptions,
    private state: AgentState,
    store: StateStore,
  ) {
    this.store = store;
    this.log = (opts.log ?? silentLogger).child({ channel: opts.channel });
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.rules = { ...DEFAULT_BOOT_RULES, ...opts.boot };
    this.bootIdNow = (opts.bootId ?? kernelBootId)();
    this.metrics = opts.metrics ?? new AgentMetrics(opts.channel, this.now);
    this.transport = new ControllerTransport(opts.controller, opts.channel, {
      timeoutMs: opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      ...(opts.bearerToken === undefined ? {} : { bearerToken: opts.bearerToken }),
      ...(opts.http === undefined ? {} : { http: opts.http }),
    });
    this.manifest = parseStored(state.manifest);
    this.refreshGauge();
  }

  /**
   * Opens the state directory (creating the state from `pinKeys` on the first run) and repairs what a crash left
   * half done: the installer is made to agree with state.json, which is the truth about what is active.
   */
  static async open(opts: AgentOptions): Promise<Agent> {
    const store = new StateStore(opts.dir);
    let state: AgentState | null;
    try {
      state = store.load();
    } catch (err) {
      if (err instanceof StateError) throw new AgentSetupError(err.message);
      throw err;
    }
    const log = opts.log ?? silentLogger;
    if (state === null) {
      if (opts.pinKeys === undefined || opts.pinKeys.length === 0) {
        throw new AgentSetupError(`${store.file}: no trusted manifest key yet: the first run needs --pin-key (the controller prints its key at start; GET /v1/signing-key)`);
      }
      state = initialState(opts.channel, dedupeKeys(opts.pinKeys));
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      store.save(state);
    } else {
      if (state.channel !== opts.channel) throw new AgentSetupError(`${store.file}: this state directory belongs to channel ${JSON.stringify(state.channel)}, not ${JSON.stringify(opts.channel)}`);
      const extra = (opts.pinKeys ?? []).filter((k) => !state?.trust.some((t) => t.keyId === k.keyId));
      if (extra.length > 0) log.info({ channel: opts.channel, ignored: extra.map((k) => k.keyId) }, 'the state directory already trusts its own keys (rotations followed); --pin-key is only read on the first run');
    }
    store.sweep();
    const agent = new Agent(opts, state, store);
    await agent.repair();
    return agent;
  }

  /** What the host runs and remembers (status --json). */
  status(): AgentStatus {
    return statusOf(this.state);
  }

  /** The state as persisted (read-only copy). */
  get persisted(): AgentState {
    return structuredClone(this.state);
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * The agent's process start: a start of the active version when this is a new boot of the host, or when the
   * version did not start (or its start never finished) in this boot. Called by pollOnce and run when needed.
   */
  async boot(): Promise<StartReport> {
    this.booted = true;
    const cur = this.state.boot.current;
    if (cur === null) return { started: false, reverted: false, stuck: false };
    const last = this.state.lastStart;
    const sameBoot = this.bootIdNow !== null && last !== null && last.bootId === this.bootIdNow;
    if (sameBoot && last.ok === true && sameArtifact(last, cur)) return { started: true, reverted: false, stuck: false };
    const marker = this.state.boot.boot;
    if (!sameBoot && marker !== null && marker.attempts > 0 && sameArtifact(marker, cur) && last?.ok !== false) {
      // The host came back up under a boot marker: the last start of this version did not survive the healthy period.
      this.metrics.crash(cur.version, 'bsod');
      this.log.warn({ version: cur.version, attempts: marker.attempts }, `version ${cur.version}: the host restarted ${marker.attempts} start(s) into the healthy period`);
    }
    return this.startLoop();
  }

  /** One poll and what follows from it (see the module comment). */
  async pollOnce(signal?: AbortSignal): Promise<PollReport> {
    if (!this.booted) await this.boot();
    this.markHealthy();
    const got = await this.transport.manifest(this.state.etag, signal);
    if (got.kind === 'error') {
      this.log.warn({ error: got.message }, `manifest poll failed: ${got.message}`);
      return this.report('error', { kind: 'none' }, { error: got.message });
    }
    if (got.kind === 'not-modified') {
      const stored = this.state.manifest;
      if (stored === null) {
        this.state = { ...this.state, etag: null };
        this.save();
        return this.report('error', { kind: 'none' }, { error: 'the controller answered 304 but no manifest is stored: polling again without If-None-Match' });
      }
      // The last accepted manifest, checked again (the same bytes: only its age can refuse it now).
      const body = Buffer.from(stored.body, 'utf8');
      const again = this.check({ body, signature: stored.signature ?? undefined, keyId: stored.keyId ?? undefined, bodySha256: sha256(body) });
      if (!again.ok) {
        // The next poll asks for the whole manifest.
        this.state = { ...this.state, etag: null };
        this.save();
        return this.refused(again, null);
      }
      return this.report('not-modified', await this.act(again.manifest, signal));
    }
    let check = this.check(got.fetched);
    if (!check.ok && check.reason === 'unknown-key') check = await this.followRotations(got.fetched, check, signal);
    if (!check.ok) return this.refused(check, got.fetched);
    const f = got.fetched;
    this.state = { ...this.state, replay: check.replay, etag: got.etag, manifest: { body: f.body.toString('utf8'), signature: f.signature ?? null, keyId: f.keyId ?? null } };
    this.save();
    this.manifest = check.manifest;
    for (const c of check.manifest.candidates) this.metrics.touch(c.version);
    if (!check.unchanged) this.log.info({ revision: check.manifest.revision, candidates: check.manifest.candidates.map((c) => `${c.version} (${c.state})`) }, `manifest revision ${check.manifest.revision} accepted`);
    return this.report(check.unchanged ? 'unchanged' : 'accepted', await this.act(check.manifest, signal));
  }

  /** Polls until `signal` aborts: the poll interval with jitter, exponential backoff with full jitter on errors. */
  async run(signal: AbortSignal): Promise<void> {
    if (!this.booted) await this.boot();
    let errors = 0;
    const interval = this.opts.pollIntervalMs ?? DEFAULTS.pollIntervalMs;
    const jitter = this.opts.pollJitter ?? DEFAULTS.pollJitter;
    while (!signal.aborted) {
      const r = await this.pollOnce(signal);
      if (signal.aborted) break;
      errors = r.manifest === 'error' ? errors + 1 : 0;
      const delay =
        errors > 0
          ? backoffDelay(errors, { baseMs: this.opts.backoffBaseMs ?? DEFAULTS.backoffBaseMs, maxMs: this.opts.backoffMaxMs ?? DEFAULTS.backoffMaxMs, random: this.random })
          : Math.round(interval * (1 + jitter * (2 * this.random() - 1)));
      await sleep(delay, signal);
    }
  }

  // ---------------------------------------------------------------------------------------- manifests

  private check(f: FetchedManifest): ManifestCheck {
    return checkManifest(
      this.state.trust,
      this.state.replay,
      f,
      { channel: this.opts.channel, maxAgeMs: this.opts.maxAgeMs ?? DEFAULT_MANIFEST_MAX_AGE_MS, clockSkewMs: this.opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS },
      this.now(),
    );
  }

  /** On `unknown-key`: the served rotation statements, applied by the engine from the keys already trusted. */
  private async followRotations(f: FetchedManifest, first: ManifestCheck, signal: AbortSignal | undefined): Promise<ManifestCheck> {
    const served = await this.transport.rotations(signal);
    if (!served.ok) {
      this.log.warn({ error: served.message }, `cannot read the rotation statements: ${served.message}`);
      return first;
    }
    const r = applyRotations(this.state.trust, served.rotations);
    for (const line of r.refused) this.log.warn({ refused: line }, `rotation statement refused: ${line}`);
    if (r.accepted.length === 0) return first;
    const from = this.state.trust.map((k) => k.keyId);
    this.state = { ...this.state, trust: r.trust };
    this.save();
    this.log.info({ from, to: r.trust.map((k) => k.keyId) }, `manifest-signing key rotated to ${r.accepted.join(', ')} (a statement signed by a trusted key)`);
    return this.check(f);
  }

  private refused(check: Extract<ManifestCheck, { ok: false }>, f: FetchedManifest | null): PollReport {
    this.metrics.manifestRefused(check.reason);
    this.log.warn({ reason: check.reason }, `manifest refused (${check.reason}): ${check.message}; keeping ${this.state.boot.current?.version ?? 'nothing'}`);
    // Unverified: only used to say which candidate the refused update was about (docs/agent.md, the caveat).
    if (f !== null) for (const v of refusedUpdateVersions(check.reason, f.body)) this.metrics.updateFailure(v, 'signature');
    return this.report('refused', { kind: 'none' }, { refusal: { reason: check.reason, message: check.message } });
  }

  // ---------------------------------------------------------------------------------------- acting on a manifest

  private host(): AgentHost {
    const bad = this.state.boot.bad;
    return {
      id: this.opts.hostId,
      labels: this.opts.labels ?? {},
      current: this.state.boot.current?.version ?? null,
      isBad: (version, sha256, rollout) => isMarkedBad(bad, version, sha256, rollout),
    };
  }

  private async act(m: ChannelManifest, signal: AbortSignal | undefined): Promise<Action> {
    const d = desiredVersion(m, this.host());
    this.refreshGauge();
    if (d.kind === 'keep') return { kind: 'keep', version: d.version, why: d.why };
    const cur = this.state.boot.current;
    if (cur !== null && cur.version === d.version && (d.artifact === null || cur.sha256 === d.artifact.sha256)) {
      if (!this.running()) await this.startLoop();
      return { kind: 'on-desired', version: d.version };
    }
    if (d.artifact === null) {
      const message = `the channel's stable version ${d.version} has no artifact in the manifest: nothing to install`;
      this.log.warn({ version: d.version }, message);
      return { kind: 'failed', version: d.version, reason: 'no-artifact', message };
    }
    const target: InstalledVersion = { version: d.version, sha256: d.artifact.sha256, rollout: d.kind === 'candidate' ? d.rollout : null };
    return this.install(target, d, d.artifact, signal);
  }

  private async install(target: InstalledVersion, d: Exclude<Desired, { kind: 'keep' }>, artifact: ManifestArtifact, signal: AbortSignal | undefined): Promise<Action> {
    const installer = this.opts.installer;
    this.metrics.touch(target.version);
    const fail = (reason: UpdateFailureReason, message: string): Action => {
      this.metrics.updateFailure(target.version, reason);
      this.log.warn({ version: target.version, reason }, `update to ${target.version} failed (${reason}): ${message}; keeping ${this.state.boot.current?.version ?? 'nothing'}`);
      return { kind: 'failed', version: target.version, reason, message };
    };
    if (!(await installer.has(target))) {
      const got = await fetchArtifact(artifact.url, this.opts.fetchLimits ?? {}, signal);
      if (!got.ok) return fail('download', got.message);
      const v = verifyArtifact(got.bytes, artifact, this.opts.publisherKeys ?? null);
      if (!v.ok) return fail(v.reason, v.message);
      for (const validator of this.opts.validators ?? []) {
        const r = await runValidator(validator, got.bytes, { version: target.version, sha256: target.sha256, channel: this.opts.channel }, signal);
        if (r.ok) continue;
        this.state = {
          ...this.state,
          boot: markBad(this.state.boot, { version: target.version, sha256: target.sha256, rollout: target.rollout, revision: this.state.replay.revision, at: this.iso(), reason: 'validation' }),
        };
        this.save();
        return fail('validation', `validator ${r.name}: ${r.message} (marked bad on this host)`);
      }
      try {
        await installer.install(target, got.bytes);
      } catch (err) {
        return fail('apply', errorLine(err));
      }
    }
    const before: BootState = this.state.boot;
    // The boot marker is durable before the switch: a crash after it counts as a start of the new version.
    this.state = { ...this.state, boot: installedVersion(before, target, this.iso()) };
    this.save();
    try {
      await installer.activate(this.state.boot.current, this.state.boot.previous);
    } catch (err) {
      this.state = { ...this.state, boot: before };
      this.save();
      await installer.activate(before.current, before.previous).catch(() => undefined);
      return fail('apply', errorLine(err));
    }
    this.refreshGauge();
    this.log.info({ version: target.version, previous: before.current?.version ?? null, kind: d.kind }, `installed ${target.version} (${d.kind}), previous ${before.current?.version ?? 'none'}`);
    const started = await this.startLoop();
    await installer.prune?.([this.state.boot.current, this.state.boot.previous].filter((x): x is InstalledVersion => x !== null)).catch(() => undefined);
    return { kind: 'installed', version: target.version, started: started.started, reverted: started.reverted };
  }

  // ---------------------------------------------------------------------------------------- starts and the safety net

  /** Starts the active version through beginStart until it starts, reverts and starts, or is stuck. */
  private async startLoop(): Promise<StartReport> {
    let reverted = false;
    for (;;) {
      const cur = this.state.boot.current;
      if (cur === null) return { started: false, reverted, stuck: false };
      const d = beginStart(this.state.boot, this.rules, this.iso(), this.state.replay.revision);
      if (d.kind === 'revert') {
        this.state = { ...this.state, boot: d.state };
        this.save();
        this.metrics.localRollback(d.marked.version);
        this.log.error(
          { version: d.marked.version, to: d.state.current?.version ?? null, failedStarts: this.rules.maxFailedStarts },
          `version ${d.marked.version} failed ${this.rules.maxFailedStarts} starts: reverted to last-known-good ${d.state.current?.version ?? 'none'} and marked it bad`,
        );
        try {
          await this.opts.installer.activate(this.state.boot.current, this.state.boot.previous);
        } catch (err) {
          this.log.error({ error: errorLine(err) }, `cannot switch back: ${errorLine(err)} (retried at the next start)`);
        }
        this.refreshGauge();
        reverted = true;
        continue;
      }
      if (d.kind === 'stuck') {
        this.state = { ...this.state, boot: d.state };
        this.save();
        this.log.error({ version: cur.version }, `version ${cur.version} failed ${this.rules.maxFailedStarts} starts and there is no last-known-good to revert to: marked bad, left as it is`);
        return { started: false, reverted, stuck: true };
      }
      const underMarker = d.state.boot !== null;
      const begun: LastStart = { version: cur.version, sha256: cur.sha256, bootId: this.bootIdNow, at: this.iso(), ok: null };
      this.state = { ...this.state, boot: d.state, lastStart: begun };
      this.save();
      let ok: boolean;
      try {
        ok = await this.opts.installer.start(cur);
      } catch {
        ok = false;
      }
      this.state = { ...this.state, lastStart: { ...begun, ok } };
      this.save();
      if (ok) return { started: true, reverted, stuck: false };
      this.metrics.crash(cur.version, 'crash');
      this.log.warn({ version: cur.version, attempt: d.state.boot?.attempts ?? null }, `start of ${cur.version} failed`);
      // Without a marker (a version already proven good) there is nothing to count towards: retry at the next poll.
      if (!underMarker) return { started: false, reverted, stuck: false };
    }
  }

  /** The boot marker is cleared once the running version has been up for the healthy period. */
  private markHealthy(): void {
    if (!this.running()) return;
    const next = startHealthy(this.state.boot, this.rules, this.now());
    if (next === this.state.boot) return;
    this.state = { ...this.state, boot: next };
    this.save();
    this.log.info({ version: next.current?.version }, `version ${next.current?.version ?? ''} ran for the healthy period: boot marker cleared`);
  }

  /** Whether the active version's last start, in this boot, succeeded. */
  private running(): boolean {
    const cur = this.state.boot.current;
    const last = this.state.lastStart;
    if (cur === null || last === null || last.ok !== true || !sameArtifact(last, cur)) return false;
    return this.bootIdNow === null ? this.booted : last.bootId === this.bootIdNow;
  }

  /** Makes the installer agree with state.json (a crash between the state write and the switch). */
  private async repair(): Promise<void> {
    const installer = this.opts.installer;
    let { current, previous } = this.state.boot;
    if (current !== null && !(await installer.has(current))) {
      this.log.error({ version: current.version }, `version ${current.version} is in state.json but its artifact is missing or altered: the host runs nothing known`);
      current = null;
    }
    if (previous !== null && !(await installer.has(previous))) previous = null;
    if (current !== this.state.boot.current || previous !== this.state.boot.previous) {
      this.state = { ...this.state, boot: { ...this.state.boot, current, previous, boot: current === null ? null : this.state.boot.boot } };
      this.save();
    }
    try {
      await installer.activate(current, previous);
    } catch (err) {
      throw new AgentSetupError(`${this.opts.dir}: cannot repair the active version (${errorLine(err)})`);
    }
    await installer.prune?.([current, previous].filter((x): x is InstalledVersion => x !== null)).catch(() => undefined);
    this.refreshGauge();
  }

  // ---------------------------------------------------------------------------------------- helpers

  private refreshGauge(): void {
    const m = this.manifest;
    this.metrics.setRunning(this.state.boot.current?.version ?? null, m === null ? '' : censusRing(m, this.host()));
  }

  private report(manifest: ManifestOutcome, action: Action, extra: { refusal?: PollReport['refusal']; error?: string } = {}): PollReport {
    let onDesired = false;
    const m = this.manifest;
    if (manifest !== 'error' && manifest !== 'refused' && m !== null) {
      const d = desiredVersion(m, this.host());
      const cur = this.state.boot.current;
      onDesired = d.kind === 'keep' || (cur !== null && cur.version === d.version && (d.artifact === null || d.artifact.sha256 === cur.sha256) && this.running());
    }
    return { manifest, revision: this.state.replay.revision, action, onDesired, ...extra };
  }

  private save(): void {
    this.store.save(this.state);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

function sameArtifact(a: { version: string; sha256: string }, b: { version: string; sha256: string }): boolean {
  return a.version === b.version && a.sha256 === b.sha256;
}

function parseStored(stored: StoredManifest | null): ChannelManifest | null {
  if (stored === null) return null;
  try {
    return JSON.parse(stored.body) as ChannelManifest;
  } catch {
    return null;
  }
}

/** The candidate versions an unverified body names (best effort; never trusted for anything but a count). */
function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function dedupeKeys(keys: TrustedManifestKey[]): TrustedManifestKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => (seen.has(k.keyId) ? false : (seen.add(k.keyId), true)));
}

function errorLine(err: unknown): string {
  if (err instanceof InstallError) return err.message;
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? 'error';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
