/**
 * The operator's pre-flight allowlist: `ringmaster serve --preflight FILE` (or `preflight: FILE` in the serve
 * config). A rollout's `exec` and `webhook` checks name an entry of this file; the rollout never carries a command
 * or a URL, so the apply role cannot run an arbitrary program on the controller or make it call an arbitrary host.
 *
 *   executables:
 *     - name: sensor-lint                      # what spec.preflight[].exec names
 *       command: /usr/local/bin/sensor-lint    # an absolute path; run without a shell, env PATH=/usr/bin:/bin only
 *       args: ["--strict", "{artifact}"]       # {artifact} {version} {sha256} {channel} are substituted, each one argument
 *       maxOutputBytes: 65536                  # optional, default 64 KiB of stdout+stderr kept
 *   webhooks:
 *     - name: qa-gate                          # what spec.preflight[].webhook names
 *       url: https://qa.example.internal/preflight
 *       secretFile: qa-gate.secret             # the HMAC key; relative to this file; 0600 (refused when others can read it)
 *
 * Loaded by the one document loader; each mistake is one `file:line:col path: message` line, and a secret never
 * appears in one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadDocumentFileOrThrow, type DocumentType } from '../spec/document';
import { InputError, type Problem } from '../spec/errors';
import { NAME_PATTERN } from '../spec/schema';

const nameSchema = { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN } as const;

export const preflightAllowlistSchema = {
  type: 'object',
  additionalProperties: false,
  'x-messages': { type: 'the pre-flight file must be a mapping with executables and webhooks (got {got})', additionalProperties: 'unknown field (expected {known})' },
  properties: {
    executables: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'command'],
        properties: {
          name: nameSchema,
          command: { type: 'string', minLength: 1, maxLength: 4096 },
          args: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 4096 } },
          maxOutputBytes: { type: 'integer', minimum: 1, maximum: 16 * 1024 * 1024 },
        },
      },
    },
    webhooks: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'url', 'secretFile'],
        properties: {
          name: nameSchema,
          url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^https?://' },
          secretFile: { type: 'string', minLength: 1, maxLength: 4096 },
        },
      },
    },
  },
} as const;

interface AllowlistFile {
  executables?: Array<{ name: string; command: string; args?: string[]; maxOutputBytes?: number }>;
  webhooks?: Array<{ name: string; url: string; secretFile: string }>;
}

export interface AllowedExecutable {
  name: string;
  command: string;
  args: string[];
  maxOutputBytes?: number;
}

export interface AllowedWebhook {
  name: string;
  url: string;
  /** The HMAC key (never logged, never in a message). */
  secret: Buffer;
}

export interface PreflightAllowlist {
  executables: ReadonlyMap<string, AllowedExecutable>;
  webhooks: ReadonlyMap<string, AllowedWebhook>;
}

export const EMPTY_ALLOWLIST: PreflightAllowlist = { executables: new Map(), webhooks: new Map() };

/** The shortest HMAC key accepted, in bytes. */
export const MIN_SECRET_BYTES = 16;

function rules(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const doc = (data ?? {}) as Record<string, unknown>;
  for (const list of ['executables', 'webhooks'] as const) {
    const items = Array.isArray(doc[list]) ? (doc[list] as unknown[]) : [];
    const seen = new Map<string, number>();
    items.forEach((item, i) => {
      const entry = (item ?? {}) as Record<string, unknown>;
      if (typeof entry.name === 'string') {
        const first = seen.get(entry.name);
        if (first !== undefined) problems.push({ path: [list, i, 'name'], message: `duplicate name ${JSON.stringify(entry.name)} (also ${list}[${first}])` });
        else seen.set(entry.name, i);
      }
      if (list === 'executables' && typeof entry.command === 'string' && !path.isAbsolute(entry.command)) {
        problems.push({ path: [list, i, 'command'], message: 'must be an absolute path (the command runs without a shell and without a PATH search)' });
      }
    });
  }
  return problems;
}

const ALLOWLIST: DocumentType<AllowlistFile> = { noun: 'pre-flight file', schema: preflightAllowlistSchema, rules, empty: () => ({}) };

/** The allowlist of a file; every mistake (including an unreadable or too open secret file) is an InputError line. */
export function loadPreflightAllowlist(file: string): PreflightAllowlist {
  const doc = loadDocumentFileOrThrow(ALLOWLIST, file);
  const base = path.dirname(file);
  const errors: string[] = [];
  const executables = new Map<string, AllowedExecutable>();
  for (const e of doc.executables ?? []) {
    executables.set(e.name, { name: e.name, command: e.command, args: e.args ?? [], ...(e.maxOutputBytes === undefined ? {} : { maxOutputBytes: e.maxOutputBytes }) });
  }
  const webhooks = new Map<string, AllowedWebhook>();
  (doc.webhooks ?? []).forEach((w, i) => {
    const secretPath = path.resolve(base, w.secretFile);
    const secret = readSecret(secretPath);
    if (typeof secret === 'string') errors.push(`${file}: webhooks[${i}].secretFile: ${secretPath}: ${secret}`);
    else webhooks.set(w.name, { name: w.name, url: w.url, secret });
  });
  if (errors.length > 0) throw new InputError(errors);
  return { executables, webhooks };
}

/** The key of a secret file (one trailing newline dropped), or why it cannot be used. */
function readSecret(file: string): Buffer | string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    return `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  if (!st.isFile()) return 'not a regular file';
  if ((st.mode & 0o077) !== 0) return `readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`;
  if (st.size > 4096) return 'larger than 4096 bytes (a secret, not a document)';
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    return `cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const key = bytes.subarray(0, bytes.length - (bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0));
  if (key.length < MIN_SECRET_BYTES) return `shorter than ${MIN_SECRET_BYTES} bytes`;
  return Buffer.from(key);
}

/** The names a rollout may use, for messages: `lint, schema-check` or `none`. */
export function allowedNames(map: ReadonlyMap<string, unknown>): string {
  return map.size === 0 ? 'none' : [...map.keys()].sort().join(', ');
}
