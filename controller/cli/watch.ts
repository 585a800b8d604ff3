/**
 * `ringctl status NAME --watch`: the refresh loop and its frames.
 *
 * On a terminal every refresh redraws the screen (ANSI home + clear) so bake times count down. Anywhere else
 * (a pipe, a log file, CI) a block is printed only when the rollout changed, each under a timestamp line, so
 * the output is a readable log of what happened. The loop ends when the rollout reaches a terminal phase or
 * when the signal fires (Ctrl-C). A failed refresh after the first one is shown and retried when it may pass
 * (server unreachable or 5xx); a 4xx (the rollout is gone, the token was revoked) ends the watch.
 *
 * The frames are pure functions of (view, now) and the loop takes its clock, sleep and output as
 * parameters, so both are unit-tested without a terminal or a server.
 */
import { TERMINAL_PHASES } from '../engine/state';
import type { RolloutView } from '../runtime/service';
import { Aborted, CliError } from './client';
import { renderStatus } from './render';


/** ANSI: cursor home, clear screen. */
export const CLEAR = '\x1b[H\x1b[2J';

/** What counts as a change worth a new block when not on a terminal (not the ticking bake clock). */
export function watchKey(v: RolloutView): string {
  return JSON.stringify([v.revision, v.phase, v.exposedRing, v.waitingReason, v.lastVerdict?.at ?? null, v.history.length]);
}

export interface FrameOptions {
  tty: boolean;
  intervalMs: number;
  /** The last refresh failed with this (one line); the view shown is the last good one. */
  error?: string;
}

function clock(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** One frame of the watch: a full screen on a terminal, a timestamped block elsewhere. */
export function renderWatchFrame(v: RolloutView, now: Date, opts: FrameOptions): string {
  const body = renderStatus(v, now);
  const err = opts.error === undefined ? '' : `\nrefresh failed at ${clock(now)}: ${opts.error} (retrying)`;
  if (opts.tty) {
    const end = TERMINAL_PHASES.has(v.phase.kind) ? `rollout ${v.phase.kind}; watch ended` : `refreshed ${clock(now)}, every ${opts.intervalMs / 1000}s; Ctrl-C to stop`;
    return `${CLEAR}${body}${err}\n\n(${end})\n`;
  }
  return `== ${clock(now)} ==\n${body}${err}\n\n`;
}

export interface WatchIO {
  fetch(signal: AbortSignal): Promise<RolloutView>;
  write(text: string): void;
  /** Where refresh errors go when not on a terminal (stderr). */
  writeError(line: string): void;
  now(): Date;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  tty: boolean;
  json: boolean;
  intervalMs: number;
  /** Fires on Ctrl-C. */
  signal: AbortSignal;
}

export type WatchEnd = { end: 'terminal'; phase: string } | { end: 'interrupted' };

/** A refresh failure the next refresh may not have: the server is unreachable or failed. */
function transient(err: unknown): err is CliError {
  return err instanceof CliError && err.status !== undefined && (err.status === 0 || err.status >= 500);
}

export async function watchRollout(io: WatchIO): Promise<WatchEnd> {
  const redraw = io.tty && !io.json;
  let last: RolloutView | undefined;
  let lastKey = '';
  let lastError = '';
  while (!io.signal.aborted) {
    let v: RolloutView;
    try {
      v = await io.fetch(io.signal);
    } catch (err) {
      if (err instanceof Aborted || io.signal.aborted) break;
      // The first refresh decides whether there is anything to watch; later ones may ride out an outage.
      if (last === undefined || !transient(err)) throw err;
      if (redraw) io.write(renderWatchFrame(last, io.now(), { tty: true, intervalMs: io.intervalMs, error: err.message }));
      else if (err.message !== lastError) io.writeError(`${err.message} (retrying every ${io.intervalMs / 1000}s)`);
      lastError = err.message;
      await io.sleep(io.intervalMs, io.signal);
      continue;
    }
    lastError = '';
    const key = watchKey(v);
    if (redraw) io.write(renderWatchFrame(v, io.now(), { tty: true, intervalMs: io.intervalMs }));
    else if (key !== lastKey) io.write(io.json ? `${JSON.stringify({ rollout: v })}\n` : renderWatchFrame(v, io.now(), { tty: false, intervalMs: io.intervalMs }));
    last = v;
    lastKey = key;
    if (TERMINAL_PHASES.has(v.phase.kind)) return { end: 'terminal', phase: v.phase.kind };
    await io.sleep(io.intervalMs, io.signal);
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
