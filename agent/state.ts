/**
 * The agent's durable state: `DIR/state.json`, one JSON document (schema below, the one source of its shape).
 *
 * - `trust`: the manifest-signing keys the host trusts (seeded from `--pin-key`; after a rotation, the new set).
 * - `replay`: the last accepted revision, its issue time and its body's sha256. It never goes backwards.
 * - `boot`: the boot-loop safety net's state (engine/agent.ts BootState): current, previous (last-known-good),
 *   the boot marker and the bad marks.
 * - `etag`, `manifest`: the last accepted manifest (its exact body and signature), so that after a 304 the agent
 *   checks it again (its age) and acts on it.
 * - `lastStart`: the last start of a version (with the kernel's boot id), so an agent restart within one boot does
 *   not count as a new start of a version that is running.
 *
 * Writes are durable and atomic: a temporary file in the same directory, fsync, rename over state.json, fsync of the
 * directory. A `kill -9` at any instant leaves the old or the new file, whole. This file is the truth about what is
 * active: at start the agent makes `DIR/current` and `DIR/previous` agree with it (agent/installer.ts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import type { BadMark, BootMarker, BootState, InstalledVersion, ReplayState, TrustedManifestKey } from '../controller/engine/agent';
import { compileSchema, problemsOf } from '../controller/spec/validate';
import { formatPath } from '../controller/spec/errors';

export const STATE_FILE = 'state.json';
export const STATE_FORMAT = 'ringmaster.dev/agent-state/v1';

const str = { type: 'string' } as const;
const nullableStr = { type: ['string', 'null'] } as const;
const installed = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'sha256', 'rollout'],
  properties: { version: { type: 'string', minLength: 1 }, sha256: str, rollout: nullableStr },
} as const;

export const agentStateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'channel', 'trust', 'replay', 'boot', 'etag', 'manifest', 'lastStart'],
  properties: {
    format: { const: STATE_FORMAT },
    channel: { type: 'string', minLength: 1 },
    trust: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['keyId', 'publicKey'], properties: { keyId: str, publicKey: str } },
    },
    replay: {
      type: 'object',
      additionalProperties: false,
      required: ['revision', 'issuedAt', 'bodySha256'],
      properties: { revision: { type: 'integer', minimum: 0 }, issuedAt: nullableStr, bodySha256: nullableStr },
    },
    boot: {
      type: 'object',
      additionalProperties: false,
      required: ['current', 'previous', 'boot', 'bad'],
      properties: {
        current: { anyOf: [{ type: 'null' }, installed] },
        previous: { anyOf: [{ type: 'null' }, installed] },
        boot: {
          anyOf: [
            { type: 'null' },
            {
              type: 'object',
              additionalProperties: false,
              required: ['version', 'sha256', 'attempts', 'since'],
              properties: { version: str, sha256: str, attempts: { type: 'integer', minimum: 0 }, since: str },
            },
          ],
        },
        bad: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['version', 'sha256', 'rollout', 'revision', 'at', 'reason'],
            properties: {
              version: str,
              sha256: str,
              rollout: nullableStr,
              revision: { type: 'integer', minimum: 0 },
              at: str,
              reason: { enum: ['boot-loop', 'validation'] },
            },
          },
        },
      },
    },
    etag: nullableStr,
    /** The last accepted manifest: its body exactly as served (UTF-8 JSON text) and its signature headers. */
    manifest: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['body', 'signature', 'keyId'],
          properties: { body: str, signature: nullableStr, keyId: nullableStr },
        },
      ],
    },
    lastStart: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          additionalProperties: false,
          required: ['version', 'sha256', 'bootId', 'at', 'ok'],
          properties: { version: str, sha256: str, bootId: nullableStr, at: str, ok: { type: ['boolean', 'null'] } },
        },
      ],
    },
  },
} as const;

/** The state file as the schema defines it. */
export type AgentState = FromSchema<typeof agentStateSchema>;
export type LastStart = NonNullable<AgentState['lastStart']>;
export type StoredManifest = NonNullable<AgentState['manifest']>;

// The engine's types and the schema's must agree both ways (a compile error here means they drifted).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree: [
  Same<AgentState['trust'][number], TrustedManifestKey>,
  Same<AgentState['replay'], ReplayState>,
  Same<NonNullable<AgentState['boot']['current']>, InstalledVersion>,
  Same<NonNullable<AgentState['boot']['boot']>, BootMarker>,
  Same<AgentState['boot']['bad'][number], BadMark>,
  Same<AgentState['boot'], BootState>,
] = [true, true, true, true, true, true];
void agree;

/** Why the state directory cannot be used: one line, naming the file. */
export class StateError extends Error {}

export function initialState(channel: string, trust: TrustedManifestKey[]): AgentState {
  return {
    format: STATE_FORMAT,
    channel,
    trust,
    replay: { revision: 0, issuedAt: null, bodySha256: null },
    boot: { current: null, previous: null, boot: null, bad: [] },
    etag: null,
    manifest: null,
    lastStart: null,
  };
}

/** Reads and writes `DIR/state.json` (see the module comment). */
export class StateStore {
  readonly file: string;

  constructor(readonly dir: string) {
    this.file = path.join(dir, STATE_FILE);
  }

  /** The state, or null when the directory has none yet. Throws StateError on a file that is not a valid state. */
  load(): AgentState | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      throw new StateError(`${this.file}: cannot read the agent state (${code ?? 'error'})`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new StateError(`${this.file}: the agent state is not JSON`);
    }
    const problems = problemsOf(validator(), data, agentStateSchema);
    const first = problems[0];
    if (first !== undefined) throw new StateError(`${this.file}: ${first.path.length > 0 ? `${formatPath(first.path)}: ` : ''}${first.message}`);
    return data as AgentState;
  }

  /** Writes the state durably and atomically (temp file, fsync, rename, fsync of the directory). */
  save(state: AgentState): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = path.join(this.dir, `.${STATE_FILE}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
    writeDurably(tmp, Buffer.from(`${JSON.stringify(state, null, 1)}\n`));
    fs.renameSync(tmp, this.file);
    syncDirectory(this.dir);
  }

  /** Removes temporary files an interrupted save left behind. */
  sweep(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return;
    }
    for (const n of names) if (n.startsWith(`.${STATE_FILE}.`) && n.endsWith('.tmp')) fs.rmSync(path.join(this.dir, n), { force: true });
  }
}

let compiled: ReturnType<typeof compileSchema> | undefined;
function validator(): ReturnType<typeof compileSchema> {
  compiled ??= compileSchema(agentStateSchema);
  return compiled;
}

/** Writes a new file (it must not exist) and fsyncs it before closing. */
export function writeDurably(file: string, bytes: Buffer, mode = 0o600, onChunk?: (written: number) => void): void {
  const fd = fs.openSync(file, 'wx', mode);
  try {
    const CHUNK = 1 << 20;
    for (let off = 0; off < bytes.length; ) {
      off += fs.writeSync(fd, bytes, off, Math.min(CHUNK, bytes.length - off));
      onChunk?.(off);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
