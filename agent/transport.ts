/**
 * What the agent asks the controller, through the one HTTP client (controller/http/client.ts): the channel
 * manifest (with If-None-Match; the exact body bytes and the headers that the checks need) and the signing key's
 * rotation statements. Expected failures are values with a one-line message; nothing here decides anything.
 */
import * as crypto from 'node:crypto';
import type { FetchedManifest, SignedRotation } from '../controller/engine/agent';
import { HttpClient, type HttpClientOptions } from '../controller/http/client';

export type ManifestFetch =
  | { kind: 'fetched'; fetched: FetchedManifest; etag: string | null }
  | { kind: 'not-modified' }
  | { kind: 'error'; message: string };

export type RotationsFetch = { ok: true; keyId: string; rotations: SignedRotation[] } | { ok: false; message: string };

/** The largest manifest the agent reads. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export class ControllerTransport {
  private readonly http: HttpClient;

  constructor(
    controller: string,
    private readonly channel: string,
    opts: { timeoutMs: number; bearerToken?: string; http?: Partial<HttpClientOptions> },
  ) {
    this.http = new HttpClient({
      ...opts.http,
      baseUrl: controller,
      timeoutMs: opts.timeoutMs,
      // One quick retry: a kept-alive connection the controller closed (a restart) fails the first attempt.
      retries: 1,
      maxResponseBytes: MAX_MANIFEST_BYTES,
      ...(opts.bearerToken === undefined ? {} : { bearerToken: opts.bearerToken }),
    });
  }

  get endpoint(): string {
    return this.http.endpoint;
  }

  async manifest(etag: string | null, signal?: AbortSignal): Promise<ManifestFetch> {
    const r = await this.http.get(`/v1/channels/${encodeURIComponent(this.channel)}/manifest`, {
      ...(etag === null ? {} : { headers: { 'if-none-match': etag } }),
      ...(signal === undefined ? {} : { signal }),
    });
    if (!r.ok) return { kind: 'error', message: r.failure.message };
    const res = r.response;
    if (res.status === 304) return { kind: 'not-modified' };
    if (res.status !== 200) return { kind: 'error', message: `GET ${this.http.endpoint}/v1/channels/${this.channel}/manifest: HTTP ${res.status}${statusHint(res.status)}` };
    return {
      kind: 'fetched',
      etag: res.header('etag') ?? null,
      fetched: {
        body: res.body,
        signature: res.header('x-ringmaster-signature'),
        keyId: res.header('x-ringmaster-key-id'),
        revisionHeader: res.header('x-ringmaster-revision'),
        bodySha256: crypto.createHash('sha256').update(res.body).digest('hex'),
      },
    };
  }

  /** GET /v1/signing-key: the served key id and its rotation statements (never trusted as such: see applyRotations). */
  async rotations(signal?: AbortSignal): Promise<RotationsFetch> {
    const r = await this.http.get('/v1/signing-key', signal === undefined ? {} : { signal });
    if (!r.ok) return { ok: false, message: r.failure.message };
    if (r.response.status !== 200) return { ok: false, message: `GET ${this.http.endpoint}/v1/signing-key: HTTP ${r.response.status}` };
    try {
      const k = JSON.parse(r.response.text()) as { keyId?: unknown; rotations?: unknown };
      const rotations = Array.isArray(k.rotations) ? (k.rotations as SignedRotation[]) : [];
      return { ok: true, keyId: typeof k.keyId === 'string' ? k.keyId : '', rotations };
    } catch {
      return { ok: false, message: `GET ${this.http.endpoint}/v1/signing-key: the answer is not JSON` };
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

function statusHint(status: number): string {
  if (status === 401) return ' (the controller wants an agent token: --token-file)';
  if (status === 403) return ' (the token may not read manifests)';
  if (status === 404) return ' (no such channel on the controller)';
  return '';
}
