/**
 * Content validators: checks of an artifact's bytes before anything activates them. The controller runs a
 * rollout's `spec.preflight` with them before ring 0 (runtime/preflight.ts), and the reference agent runs its
 * local validator with them before it activates a download (agent/).
 *
 * - `schema`: the content parsed as JSON (or YAML when it is not JSON, with the bounded parser of spec/yaml.ts),
 *   validated by a JSON Schema with ajv. The message names the path and the reason:
 *   `templates[0].fields: must NOT have more than 20 items`.
 * - `exec`: an executable in a child process, never through a shell: `spawn(command, args, {shell: false})`, the
 *   environment `PATH=/usr/bin:/bin` and nothing else, the content on stdin. In `args`, `{artifact}` becomes the
 *   path of a temporary file (0600) holding the content, and `{version}`, `{sha256}` and `{channel}` the
 *   artifact's; each is one argument whatever it holds. The child leads its own process group, and the timeout
 *   kills the whole group with SIGKILL. stdout and stderr together are kept up to `maxOutputBytes` (default
 *   64 KiB; the rest is read and dropped). Exit 0 passes; otherwise the message is the first line of its output.
 * - `webhook`: a POST of JSON `{channel, version, sha256, size, content}` (content in base64) through the one HTTP
 *   client, with a timeout, signed with `X-Ringmaster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
 *   "<t>.<body>")>`. A 2xx passes; otherwise the message is the status and the first line of the reply. The secret
 *   is used for the HMAC and nowhere else.
 *
 * A result is a value and never throws; a failure's message is one printable line of at most MAX_MESSAGE_CHARS.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpClient } from '../http/client';
import { printable } from '../spec/text';
import { compileContentSchema, parseContent, schemaFailure } from './schema';

export { compileContentSchema, parseContent } from './schema';

export type ContentValidator =
  | { type: 'schema'; name: string; schema: object }
  | { type: 'exec'; name: string; command: string; args?: string[]; timeoutMs: number; maxOutputBytes?: number }
  | { type: 'webhook'; name: string; url: string; secret: Buffer; timeoutMs: number };

export type ValidationResult = { ok: true; name: string } | { ok: false; name: string; message: string };

export interface ValidationContext {
  version: string;
  sha256: string;
  channel: string;
}

/** A failure's message is cut to this many characters. */
export const MAX_MESSAGE_CHARS = 300;
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
/** The only environment an exec validator gets. */
export const EXEC_ENV: Readonly<Record<string, string>> = { PATH: '/usr/bin:/bin' };
/** Replies of a webhook longer than this are refused (only the first line is shown anyway). */
const MAX_WEBHOOK_REPLY_BYTES = 64 * 1024;
export const SIGNATURE_HEADER = 'X-Ringmaster-Signature';

/** Runs one validator on `content`; never throws. */
export async function runValidator(v: ContentValidator, content: Buffer, ctx: ValidationContext, signal?: AbortSignal): Promise<ValidationResult> {
  try {
    switch (v.type) {
      case 'schema':
        return finish(v.name, validateSchema(v.schema, content));
      case 'exec':
        return finish(v.name, await runExec(v, content, ctx, signal));
      case 'webhook':
        return finish(v.name, await callWebhook(v, content, ctx, signal));
      default: {
        const never: never = v;
        return { ok: false, name: String((never as { name?: unknown }).name), message: 'unknown validator type' };
      }
    }
  } catch (err) {
    // A bug, not an expected failure; still a value (the caller halts the rollout on it), never a stack.
    return { ok: false, name: v.name, message: bounded(`validator error: ${err instanceof Error ? err.message : String(err)}`) };
  }
}

function finish(name: string, failure: string | undefined): ValidationResult {
  return failure === undefined ? { ok: true, name } : { ok: false, name, message: bounded(failure) };
}

/** One printable line of at most MAX_MESSAGE_CHARS characters. */
export function bounded(text: string): string {
  const line = printable(text.replace(/\s*[\r\n]+\s*/g, ' ').trim());
  return line.length > MAX_MESSAGE_CHARS ? `${line.slice(0, MAX_MESSAGE_CHARS - 3)}...` : line;
}

// ------------------------------------------------------------------------------------------------ schema

function validateSchema(schema: object, content: Buffer): string | undefined {
  const compiled = compileContentSchema(schema);
  if (!compiled.ok) return compiled.message;
  const parsed = parseContent(content);
  if (!parsed.ok) return parsed.message;
  return schemaFailure(compiled.validate, parsed.value);
}

// ------------------------------------------------------------------------------------------------ exec

async function runExec(v: Extract<ContentValidator, { type: 'exec' }>, content: Buffer, ctx: ValidationContext, signal: AbortSignal | undefined): Promise<string | undefined> {
  const args = v.args ?? [];
  const needsFile = args.some((a) => a.includes('{artifact}'));
  let dir: string | undefined;
  try {
    let file = '';
    if (needsFile) {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-validate-'));
      file = path.join(dir, 'artifact');
      fs.writeFileSync(file, content, { mode: 0o600 });
    }
    const argv = args.map((a) => a.replace(/\{(artifact|version|sha256|channel)\}/g, (_m, k: string) => (k === 'artifact' ? file : ctx[k as keyof ValidationContext])));
    return await spawnChecked(v.command, argv, content, v.timeoutMs, v.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES, signal);
  } finally {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

function spawnChecked(command: string, argv: string[], input: Buffer, timeoutMs: number, maxOutput: number, signal: AbortSignal | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve('aborted');
      return;
    }
    const child = spawn(command, argv, { shell: false, env: { ...EXEC_ENV }, detached: true, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let truncated = false;
    const take = (chunk: Buffer): void => {
      const room = maxOutput - keptBytes;
      if (room <= 0) {
        truncated = true;
        return;
      }
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (part.length < chunk.length) truncated = true;
      kept.push(part);
      keptBytes += part.length;
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    // The child may exit without reading its stdin: EPIPE is not a failure of the validator.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);

    let settled = false;
    let why: 'timeout' | 'aborted' | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const done = (result: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      signal?.removeEventListener('abort', onAbort);
      killGroup();
      resolve(result);
    };
    const verdict = (): string | undefined => {
      if (why === 'timeout') return `timed out after ${timeoutMs} ms (process group killed)`;
      if (why === 'aborted') return 'aborted';
      if (!exit) return 'ended without an exit status';
      if (exit.code === 0) return undefined;
      const status = exit.code !== null ? `exit ${exit.code}` : `killed by ${exit.signal ?? 'a signal'}`;
      const line = firstLine(Buffer.concat(kept, keptBytes));
      return `${status}${line ? `: ${line}` : truncated ? ': (output truncated)' : ' (no output)'}`;
    };
    const timer = setTimeout(() => {
      why = 'timeout';
      killGroup();
    }, timeoutMs);
    // After the exit (or a kill), the pipes close once every process holding them is gone; the group is killed
    // at exit, so this is quick; the grace bounds it should a process outside the group hold them.
    let grace: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      why = 'aborted';
      killGroup();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => done(`cannot run ${path.basename(command)} (${err.code ?? 'error'})`));
    child.on('exit', (code, sig) => {
      exit = { code, signal: sig };
      killGroup();
      grace = setTimeout(() => done(verdict()), 1_000);
    });
    child.on('close', () => done(verdict()));
  });
}

function firstLine(out: Buffer): string {
  const text = out.toString('utf8');
  const line = text.split(/\r?\n/).find((l) => l.trim() !== '');
  return line === undefined ? '' : bounded(line);
}

// ------------------------------------------------------------------------------------------------ webhook

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export function webhookSignature(secret: Buffer, body: string | Buffer, unixSeconds: number): string {
  const mac = crypto.createHmac('sha256', secret).update(`${unixSeconds}.`).update(body).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Checks a webhook signature header the way a receiver should: the HMAC (constant-time compare) and the age of
 * `t` (default at most 300 s either way). For receivers written in TypeScript, and the tests.
 */
export function verifyWebhookSignature(secret: Buffer, body: string | Buffer, header: string | undefined, nowSeconds: number, toleranceSeconds = 300): boolean {
  const m = /^t=(\d{1,12}),v1=([a-f0-9]{64})$/.exec(header ?? '');
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const want = Buffer.from(webhookSignature(secret, body, t).slice(`t=${t},v1=`.length), 'hex');
  const got = Buffer.from(m[2] as string, 'hex');
  return want.length === got.length && crypto.timingSafeEqual(want, got);
}

async function callWebhook(v: Extract<ContentValidator, { type: 'webhook' }>, content: Buffer, ctx: ValidationContext, signal: AbortSignal | undefined): Promise<string | undefined> {
  let u: URL;
  try {
    u = new URL(v.url);
  } catch {
    return 'webhook URL: not a URL';
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '') return 'webhook URL: must be http:// or https:// without credentials';
  const body = JSON.stringify({ channel: ctx.channel, version: ctx.version, sha256: ctx.sha256, size: content.length, content: content.toString('base64') });
  const client = new HttpClient({ baseUrl: u.origin, timeoutMs: v.timeoutMs, deadlineMs: v.timeoutMs, maxResponseBytes: MAX_WEBHOOK_REPLY_BYTES, retries: 0, connections: 1 });
  try {
    const r = await client.post(u.pathname + u.search, body, {
      contentType: 'application/json',
      headers: { [SIGNATURE_HEADER]: webhookSignature(v.secret, body, Math.floor(Date.now() / 1000)) },
      ...(signal ? { signal } : {}),
    });
    if (!r.ok) return r.failure.message;
    const status = r.response.status;
    if (status >= 200 && status <= 299) return undefined;
    const line = firstLine(r.response.body);
    return `HTTP ${status}${line ? `: ${line}` : ''}`;
  } finally {
    await client.close();
  }
}
