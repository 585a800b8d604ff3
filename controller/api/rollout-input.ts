/**
 * The body of POST /v1/rollouts -> a validated Rollout, or the error lines `ringctl validate` would print.
 * YAML and JSON bodies go through the same loader as `ringctl validate` (JSON is YAML), so errors carry the
 * line:col of the request body and the same field paths and messages.
 *
 * No body holds the event loop: the loader's budgets (spec/yaml.ts) bound the work of any body, and a body
 * larger than INLINE_MAX_BYTES is loaded in a worker thread (rollout-worker.ts), so that /healthz, manifests
 * and the kill switch keep answering while it is read. A small body, which is every real rollout, is loaded
 * in place: that costs less than handing it over.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { formatSpecError, type PathSegment, type SpecError } from '../spec/errors';
import { parseRolloutText } from '../spec/load';
import { parseYaml, positionOf } from '../spec/yaml';
import type { Rollout } from '../spec/types';

/** The file name shown in error lines: the request body, never a server path. */
export const BODY_SOURCE = 'request';

/** Bodies up to this size are loaded on the event loop (a few milliseconds at most, whatever their shape). */
export const INLINE_MAX_BYTES = 16 * 1024;
/** A body that takes longer than this in the worker is refused, and the worker replaced. */
export const WORKER_TIMEOUT_MS = 10_000;

export type RolloutInput = { ok: true; rollout: Rollout } | { ok: false; lines: string[] };

/** What the loader returns, as it crosses from the worker. */
export type LoadedRollout = { ok: true; doc: Rollout } | { ok: false; errors: SpecError[] };

/** Loads a body on the calling thread. */
export function parseRolloutBody(text: string): RolloutInput {
  return toInput(loadInPlace(text));
}

/** Loads a body without holding the event loop: in place when small, else in the worker thread. */
export async function loadRolloutBody(text: string): Promise<RolloutInput> {
  if (Buffer.byteLength(text) <= INLINE_MAX_BYTES || !workerFile()) return parseRolloutBody(text);
  return toInput(await pool.load(text));
}

export function loadInPlace(text: string): LoadedRollout {
  try {
    return parseRolloutText(text, BODY_SOURCE);
  } catch (err) {
    // The loader turns bad input into values; a pathological body that still throws (a stack overflow in the
    // YAML library on a shape the budgets let through) is the input's fault, not a 500.
    const why = err instanceof RangeError ? 'the document is nested too deeply' : 'the document cannot be loaded';
    return { ok: false, errors: [{ file: BODY_SOURCE, line: 1, col: 1, path: '', message: why }] };
  }
}

function toInput(r: LoadedRollout): RolloutInput {
  return r.ok ? { ok: true, rollout: r.doc } : { ok: false, lines: r.errors.map(formatSpecError) };
}

/**
 * Places the controller's own findings about an accepted body (an unknown policy, a signature, a pre-flight name not
 * in the allowlist: errors without a position) at the field's line and column in the body, as the loader's are.
 * The body already loaded, so parsing it again is bounded the same way.
 */
export function locateInBody(text: string, errors: readonly SpecError[]): SpecError[] {
  if (errors.every((e) => e.line > 0)) return [...errors];
  let parsed: ReturnType<typeof parseYaml>;
  try {
    parsed = parseYaml(text, BODY_SOURCE);
  } catch {
    return [...errors];
  }
  const first = parsed.docs[0];
  if (first === undefined) return [...errors];
  return errors.map((e) => {
    if (e.line > 0) return e;
    const pos = positionOf(first.doc, parsed.lineCounter, pathSegments(e.path), 'value');
    return { ...e, line: pos.line, col: pos.col };
  });
}

/** `spec.preflight[1].exec` -> ['spec', 'preflight', 1, 'exec'] (the inverse of formatPath for plain keys). */
function pathSegments(text: string): PathSegment[] {
  const out: PathSegment[] = [];
  for (const m of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

function refused(message: string): LoadedRollout {
  return { ok: false, errors: [{ file: BODY_SOURCE, line: 1, col: 1, path: '', message }] };
}

// ------------------------------------------------------------------------------------------ the worker

let resolvedWorkerFile: string | null | undefined;

/** The compiled worker (dist/); under ts-jest there is none and every body is loaded in place. */
function workerFile(): string | null {
  if (resolvedWorkerFile === undefined) {
    const f = path.join(__dirname, 'rollout-worker.js');
    resolvedWorkerFile = fs.existsSync(f) ? f : null;
  }
  return resolvedWorkerFile;
}

interface Job {
  resolve: (r: LoadedRollout) => void;
  timer: NodeJS.Timeout;
}

/**
 * One worker thread, started on first use and kept (unref'd: it never keeps the process alive). Bodies queue
 * in its message port and load one at a time. A worker that dies or overruns fails its jobs with a one-line
 * refusal and is replaced on the next body.
 */
class RolloutWorkerPool {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;

  load(text: string): Promise<LoadedRollout> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<LoadedRollout>((resolve) => {
      const timer = setTimeout(() => this.fail(worker, `the document took longer than ${WORKER_TIMEOUT_MS / 1000} s to load`), WORKER_TIMEOUT_MS);
      timer.unref();
      this.jobs.set(id, { resolve, timer });
      worker.postMessage({ id, text });
    });
  }

  private start(): Worker {
    const worker = new Worker(workerFile() as string, { resourceLimits: { maxOldGenerationSizeMb: 256 } });
    worker.on('message', (m: { id: number; result: LoadedRollout }) => {
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      clearTimeout(job.timer);
      job.resolve(m.result);
    });
    worker.on('error', () => this.fail(worker, 'the document cannot be loaded'));
    worker.on('exit', () => this.fail(worker, 'the document cannot be loaded'));
    // After the listeners: adding a 'message' listener refs the worker again, and a ref'd idle worker would keep
    // `ringmaster serve` alive after SIGTERM (found by make soak).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** Every job of this worker is refused with `message`; the worker goes, and the next body starts a new one. */
  private fail(worker: Worker, message: string): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    void worker.terminate();
    for (const [id, job] of this.jobs) {
      clearTimeout(job.timer);
      job.resolve(refused(message));
      this.jobs.delete(id);
    }
  }
}

const pool = new RolloutWorkerPool();
