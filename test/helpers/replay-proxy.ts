/**
 * A loopback HTTP proxy in front of a controller (`ringmaster serve`, or the real server on a test port), for the
 * attacks a reference agent must survive: it forwards every request, records each manifest response by its
 * revision, and can then
 *   - replay a recorded revision (status, headers and the exact signed body) to every manifest request;
 *   - tamper with the manifest bodies it forwards (the signature headers untouched);
 *   - answer a path with bytes of its own (a forged GET /v1/signing-key, a tampered artifact).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

type Mode = { kind: 'pass' } | { kind: 'replay'; revision: number } | { kind: 'tamper'; edit: (body: Buffer) => Buffer };

const MANIFEST = /^\/v1\/channels\/[^/]+\/manifest$/;
const KEPT_HEADERS = ['content-type', 'etag', 'cache-control', 'x-ringmaster-revision', 'x-ringmaster-signature', 'x-ringmaster-key-id', 'www-authenticate'];

export class ReplayProxy {
  /** Manifest responses (200) by revision, the first seen of each. */
  readonly recorded = new Map<number, RecordedResponse>();
  /** Manifest requests answered, by how: forwarded, replayed or tampered. */
  readonly served = { forwarded: 0, replayed: 0, tampered: 0 };
  private mode: Mode = { kind: 'pass' };
  private readonly overrides = new Map<string, (upstream: RecordedResponse) => RecordedResponse>();

  private constructor(
    private readonly server: http.Server,
    private target: URL,
  ) {}

  static async start(target: string): Promise<ReplayProxy> {
    const holder: { proxy?: ReplayProxy } = {};
    const server = http.createServer((req, res) => {
      holder.proxy?.handle(req, res).catch(() => {
        res.statusCode = 502;
        res.end();
      });
    });
    const proxy = new ReplayProxy(server, new URL(target));
    holder.proxy = proxy;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Points the proxy at another upstream (a restarted controller on a new port). */
  retarget(target: string): void {
    this.target = new URL(target);
  }

  pass(): void {
    this.mode = { kind: 'pass' };
  }

  /** Every manifest request gets the recorded response of `revision` (whatever If-None-Match says). */
  replay(revision: number): void {
    if (!this.recorded.has(revision)) throw new Error(`replay proxy: revision ${revision} was never recorded (have ${[...this.recorded.keys()].join(', ')})`);
    this.mode = { kind: 'replay', revision };
  }

  /** Forwarded manifest bodies go through `edit` (headers, the signature among them, unchanged). */
  tamper(edit: (body: Buffer) => Buffer): void {
    this.mode = { kind: 'tamper', edit };
  }

  /** Rewrites the upstream answer for `path` (exact path, no query); `undefined` removes the override. */
  override(path: string, fn: ((upstream: RecordedResponse) => RecordedResponse) | undefined): void {
    if (fn === undefined) this.overrides.delete(path);
    else this.overrides.set(path, fn);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const isManifest = req.method === 'GET' && MANIFEST.test(path);
    if (isManifest && this.mode.kind === 'replay') {
      const r = this.recorded.get(this.mode.revision) as RecordedResponse;
      this.served.replayed++;
      send(res, r);
      return;
    }
    // A tamperer answers with a body whatever the agent already has: ask upstream for the whole manifest.
    let upstream = await this.forward(req, isManifest && this.mode.kind === 'tamper');
    if (isManifest && upstream.status === 200) {
      const revision = Number(upstream.headers['x-ringmaster-revision']);
      if (Number.isInteger(revision) && !this.recorded.has(revision)) this.recorded.set(revision, { ...upstream, body: Buffer.from(upstream.body) });
      if (this.mode.kind === 'tamper') {
        upstream = { ...upstream, body: this.mode.edit(Buffer.from(upstream.body)) };
        this.served.tampered++;
      } else this.served.forwarded++;
    }
    const o = this.overrides.get(path);
    if (o !== undefined) upstream = o(upstream);
    send(res, upstream);
  }

  private forward(req: http.IncomingMessage, whole = false): Promise<RecordedResponse> {
    return new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (k !== 'host' && k !== 'connection' && v !== undefined && !(whole && k === 'if-none-match')) headers[k] = v;
      const up = http.request({ host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const kept: Record<string, string> = {};
          for (const h of KEPT_HEADERS) {
            const v = r.headers[h];
            if (typeof v === 'string') kept[h] = v;
          }
          resolve({ status: r.statusCode ?? 502, headers: kept, body: Buffer.concat(chunks) });
        });
        r.on('error', reject);
      });
      up.on('error', reject);
      req.pipe(up);
    });
  }
}

function send(res: http.ServerResponse, r: RecordedResponse): void {
  res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) });
  res.end(r.status === 304 ? undefined : r.body);
}

/** Flips one bit of the byte at `index` (default: the middle). */
export function flipByte(body: Buffer, index = Math.floor(body.length / 2)): Buffer {
  const out = Buffer.from(body);
  out[index] = (out[index] as number) ^ 0x01;
  return out;
}
