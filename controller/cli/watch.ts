/**
 * `ringctl status NAME --watch`: the refresh loop and its frames.
 *
 * On a terminal every refresh redraws the screen in place (cursor home, each line erased to its end, the rest of
 * the screen erased): the header stays at the top, every line is cut to the terminal's width (never wrapped) and
 * the body to its height (render.ts renderScreen), so bake times and the drain count down. Anywhere else (a pipe,
 * a log file, CI) the output is line-oriented: one line per change (a transition, a new verdict, a new waiting
 * reason), each with its time, and no escape codes. With -o json|yaml: one document per change.
 *
 * The watch ends where `ringctl status`'s exit code is final (exit-codes.ts: succeeded, rolled-back, aborted,
 * preflight-failed, halted), at --timeout, or when the signal fires (Ctrl-C). A failed refresh after the first one
 * is shown and retried when it may pass (server unreachable or 5xx); a 4xx (the rollout is gone, the token was
 * revoked) ends the watch.
 *
 * The frames are pure functions of (view, now) and the loop takes its clock, sleep and output as parameters, so
 * both are unit-tested without a terminal or a server.
 */
import type { RolloutView } from '../runtime/service';
import { Aborted, CliError } from './client';
import { statusExit, type ExitCode } from './exit-codes';
import { formatDocument } from './output';
import { displayZone, formatTime, nextHint, phaseLabel, renderScreen, verdictSource, withoutVerdict, type StatusOptions } from './render';
import { formatDuration } from '../spec/duration';

/** ANSI: cursor home, clear screen (kept for callers that want a clean screen first). */
export const CLEAR = '\x1b[H\x1b[2J';
/** ANSI: cursor home; erase to the end of the line; erase to the end of the screen. */
export const HOME = '\x1b[H';
export const ERASE_LINE = '\x1b[K';
export const ERASE_DOWN = '\x1b[J';

/** What counts as a change worth a new line when not on a terminal (not the ticking bake clock). */
export function watchKey(v: RolloutView): string {
  return JSON.stringify([v.revision, v.phase, v.exposedRing, v.waitingReason, v.lastVerdict?.at ?? null, v.history.length]);
}

export interface FrameOptions extends StatusOptions {
  intervalMs: number;
  /** The terminal's size (default 80x24). */
  size?: { columns: number; rows: number };
  /** The last refresh failed with this (one line); the view shown is the last good one. */
  error?: string;
  /** The watch ended: this replaces the refresh footer. */
  ended?: string;
}

/** One screen of the watch on a terminal: redrawn in place, fits the terminal. */
export function renderWatchFrame(v: RolloutView, now: Date, opts: FrameOptions): string {
  const zone = displayZone(v, opts);
  const at = `${formatTime(now.toISOString(), zone, 'short', now)} ${zone}`;
  const footer =
    opts.ended !== undefined
      ? [`(${opts.ended})`]
      : opts.error !== undefined
        ? [opts.error, `(refresh failed at ${at}; retrying every ${opts.intervalMs / 1000}s; Ctrl-C to stop)`]
        : [`(refreshed ${at}, every ${opts.intervalMs / 1000}s; Ctrl-C to stop)`];
  const size = opts.size ?? { columns: 80, rows: 24 };
  // One row stays free for the cursor: the newline after the last frame must not scroll the header off.
  const lines = renderScreen(v, now, { columns: size.columns, rows: size.rows - 1 }, footer, opts);
  return `${HOME}${lines.map((l) => `${l}${ERASE_LINE}`).join('\n')}${ERASE_DOWN}`;
}

function verdictKey(v: RolloutView): string {
  const lv = v.lastVerdict;
  return lv === null ? '' : JSON.stringify([lv.ring, lv.result, lv.metrics.map((m) => [m.metric, m.result])]);
}

/**
 * Not on a terminal: the lines for what changed between two refreshes (all of them for the first), one line per
 * change, each starting with its time (ISO with the zone's offset).
 */
export function changeLines(prev: RolloutView | undefined, v: RolloutView, now: Date, opts: StatusOptions = {}): string[] {
  const zone = displayZone(v, opts);
  const t = (iso: string): string => formatTime(iso, zone, 'iso');
  const lines: string[] = [];
  if (prev === undefined) {
    lines.push(`${t(now.toISOString())} watching ${v.name}: ${v.channel} ${v.previousVersion ?? '?'} -> ${v.version}, policy ${v.policy}, phase ${phaseLabel(v.phase)}${v.ring ? ` (ring ${v.ring.index} ${v.ring.name})` : ''}, rollout revision ${v.revision}`);
  }
  const seen = prev === undefined ? (v.history.at(-1)?.n ?? 0) - 1 : (prev.history.at(-1)?.n ?? 0);
  // The verdict's text is printed once, with the first transition that carries it; later ones point there.
  const verdictText = v.lastVerdict?.reason;
  const first = verdictText === undefined ? undefined : v.history.find((tr) => tr.reason.includes(verdictText));
  for (const tr of v.history) {
    if (tr.n <= seen) continue;
    const reason = first !== undefined && tr.n > first.n ? withoutVerdict(tr.reason, v, `(the verdict of #${first.n})`) : tr.reason;
    lines.push(`${t(tr.at)} #${tr.n} ${tr.from} -> ${tr.to} (${tr.actor}): ${reason}`);
  }
  const lv = v.lastVerdict;
  if (lv !== null && (prev === undefined || verdictKey(prev) !== verdictKey(v))) {
    const metrics = lv.metrics.map((m) => `${m.metric} ${m.result}`).join(', ');
    const why = metrics !== '' ? metrics : first !== undefined ? `see #${first.n}` : lv.reason;
    lines.push(`${t(lv.at)} verdict ${lv.result} (ring ${lv.ring} ${v.spec.spec.rings[lv.ring]?.name ?? '?'}): ${why}${metrics !== '' ? verdictSource(lv.reason) : ''}`);
  }
  // A halt's reason is its transition's (printed above); the next: line follows.
  if (v.waitingReason !== null && v.phase.kind !== 'rolling-back' && v.phase.kind !== 'halted' && (prev === undefined || prev.waitingReason !== v.waitingReason)) {
    lines.push(`${t(now.toISOString())} ${v.phase.kind === 'preflight-failed' ? 'stopped' : 'waiting'}: ${v.waitingReason}`);
  }
  if (v.phase.kind === 'rolling-back' && v.drain && (prev === undefined || prev.phase.kind !== 'rolling-back')) {
    lines.push(`${t(now.toISOString())} rolling back: agents revert; drain ends at ${t(v.drain.endsAt)}, then ${v.phase.end}`);
  }
  const hint = nextHint(v);
  if (hint !== null && (prev === undefined || prev.phase.kind !== v.phase.kind)) lines.push(`${t(now.toISOString())} ${hint}`);
  return lines;
}

export interface WatchIO {
  fetch(signal: AbortSignal): Promise<RolloutView>;
  write(text: string): void;
  /** Where refresh errors go when not on a terminal (stderr). */
  writeError(line: string): void;
  now(): Date;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  tty: boolean;
  /** -o json|yaml: one document per change instead of text. */
  format?: 'text' | 'json' | 'yaml' | 'wide';
  /** Kept for callers of the first version: true is format json. */
  json?: boolean;
  intervalMs: number;
  /** --timeout: give up after this long (ms); undefined or 0: wait until the end. */
  timeoutMs?: number;
  /** The terminal's size now (it may change between frames). */
  size?: () => { columns: number; rows: number };
  utc?: boolean;
  /** Fires on Ctrl-C. */
  signal: AbortSignal;
}

export type WatchEnd =
  /** A phase where status's exit code is final (see exit-codes.ts). */
  | { end: 'final'; phase: string; code: ExitCode; view: RolloutView }
  | { end: 'timeout'; phase: string; view: RolloutView }
  | { end: 'interrupted' };

/** A refresh failure the next refresh may not have: the server is unreachable or failed. */
function transient(err: unknown): err is CliError {
  return err instanceof CliError && err.status !== undefined && (err.status === 0 || err.status >= 500);
}

export async function watchRollout(io: WatchIO): Promise<WatchEnd> {
  const format = io.format ?? (io.json ? 'json' : 'text');
  const doc = format === 'json' || format === 'yaml' ? format : null;
  const redraw = io.tty && doc === null;
  const opts: StatusOptions = { ...(io.utc ? { utc: true } : {}), ...(format === 'wide' ? { wide: true } : {}) };
  const started = io.now().getTime();
  const deadline = io.timeoutMs !== undefined && io.timeoutMs > 0 ? started + io.timeoutMs : null;
  const frame = (v: RolloutView, extra: Partial<FrameOptions> = {}): void => {
    io.write(renderWatchFrame(v, io.now(), { ...opts, intervalMs: io.intervalMs, ...(io.size ? { size: io.size() } : {}), ...extra }));
  };
  let last: RolloutView | undefined;
  let lastKey = '';
  let lastError = '';
  while (!io.signal.aborted) {
    let v: RolloutView | undefined;
    try {
      v = await io.fetch(io.signal);
    } catch (err) {
      if (err instanceof Aborted || io.signal.aborted) break;
      // The first refresh decides whether there is anything to watch; later ones may ride out an outage.
      if (last === undefined || !transient(err)) throw err;
      if (redraw) frame(last, { error: err.message });
      else if (err.message !== lastError) io.writeError(`${err.message} (retrying every ${io.intervalMs / 1000}s)`);
      lastError = err.message;
    }
    if (v !== undefined) {
      lastError = '';
      const key = watchKey(v);
      const exit = statusExit(v.phase);
      const ended = exit.final ? `rollout ${v.phase.kind}; watch ended (exit ${exit.code})` : undefined;
      if (redraw) frame(v, ended === undefined ? {} : { ended });
      else if (key !== lastKey) {
        if (doc !== null) io.write(`${formatDocument(doc, { rollout: v })}\n`);
        else {
          const lines = changeLines(last, v, io.now(), opts);
          if (ended !== undefined) lines.push(`${formatTime(io.now().toISOString(), displayZone(v, opts), 'iso')} ${ended}`);
          if (lines.length > 0) io.write(`${lines.join('\n')}\n`);
        }
      }
      last = v;
      lastKey = key;
      if (exit.final) return { end: 'final', phase: v.phase.kind, code: exit.code, view: v };
    }
    const now = io.now().getTime();
    if (deadline !== null && now >= deadline && last !== undefined) {
      const ended = `timed out after ${formatDuration(io.timeoutMs ?? 0)} in phase ${last.phase.kind}; watch ended (exit 6)`;
      if (redraw) frame(last, { ended });
      else if (doc === null) io.write(`${formatTime(new Date(now).toISOString(), displayZone(last, opts), 'iso')} ${ended}\n`);
      return { end: 'timeout', phase: last.phase.kind, view: last };
    }
    await io.sleep(deadline === null ? io.intervalMs : Math.max(1, Math.min(io.intervalMs, deadline - now)), io.signal);
  }
  return { end: 'interrupted' };
}

/** setTimeout that resolves early (without error) when the signal fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
