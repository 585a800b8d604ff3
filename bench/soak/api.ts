/**
 * The soak's client of the management API: one new loopback connection per call (no pooled socket survives
 * a `kill -9` of the server to fail the next call), a timeout, and the outcome as data: a status and body,
 * or the reason nothing came back. Nothing here retries: the soak must know which calls were answered.
 */
import * as http from 'node:http';
import type { SoakRole } from './sandbox';

export type CallResult = { ok: true; status: number; text: string; json: unknown } | { ok: false; error: string };

export class SoakApi {
  constructor(
    readonly port: number,
    private readonly tokens: Record<SoakRole, string>,
    private readonly timeoutMs = 15_000,
  ) {}

  get(path: string, role: SoakRole = 'viewer'): Promise<CallResult> {
    return this.call('GET', path, role);
  }

  post(path: string, role: SoakRole, body: string, contentType = 'application/json'): Promise<CallResult> {
    return this.call('POST', path, role, body, contentType);
  }

  call(method: string, path: string, role: SoakRole | null, body?: string, contentType?: string): Promise<CallResult> {
    const headers: Record<string, string> = {};
    if (role !== null) headers.authorization = `Bearer ${this.tokens[role]}`;
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    if (payload !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: CallResult): void => {
        if (!settled) {
          settled = true;
          resolve(r);
        }
      };
      const req = http.request({ host: '127.0.0.1', port: this.port, method, path, headers, agent: false, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => done({ ok: false, error: `response interrupted: ${e.message}` }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = undefined;
          try {
            json = text === '' ? undefined : JSON.parse(text);
          } catch {
            json = undefined;
          }
          done({ ok: true, status: res.statusCode ?? 0, text, json });
        });
      });
      req.on('timeout', () => {
        req.destroy(new Error(`no answer within ${this.timeoutMs} ms`));
      });
      req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
      req.end(payload);
    });
  }
}

/** The fields of a rollout view the soak reads (GET /v1/rollouts). */
export interface RolloutSummary {
  name: string;
  channel: string;
  phase: { kind: string; reason?: string };
  exposedRing: number;
}

export function rolloutsOf(r: CallResult): RolloutSummary[] | undefined {
  if (!r.ok || r.status !== 200) return undefined;
  const list = (r.json as { rollouts?: unknown } | undefined)?.rollouts;
  return Array.isArray(list) ? (list as RolloutSummary[]) : undefined;
}

export function killSwitchOf(r: CallResult): { engaged: boolean; mode: string } | undefined {
  if (!r.ok || r.status !== 200) return undefined;
  const k = r.json as { engaged?: unknown; mode?: unknown } | undefined;
  return typeof k?.engaged === 'boolean' && typeof k.mode === 'string' ? { engaged: k.engaged, mode: k.mode } : undefined;
}
