/**
 * Starts the real API server on a loopback port for tests, with one token per role, and speaks HTTP to it
 * (fetch for well-formed requests, a raw socket for requests fetch refuses to send).
 */
import * as crypto from 'node:crypto';
import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer, type ServerOptions } from '../../controller/api/server';
import { hashToken, ROLES, TokenSet, type Role } from '../../controller/api/tokens';
import type { ControllerService } from '../../controller/runtime/service';
import { createLogger } from '../../controller/telemetry/log';
import { Telemetry } from '../../controller/telemetry/metrics';

export interface Api {
  url: string;
  port: number;
  server: http.Server;
  telemetry: Telemetry;
  /** A valid token per role (only the roles the harness was asked for). */
  tokens: Partial<Record<Role, string>>;
  /** The token names, as they should appear as audit actors. */
  names: Partial<Record<Role, string>>;
  logs: string[];
  close(): Promise<void>;
}

export async function startApi(
  service: ControllerService,
  opts: { roles?: readonly Role[]; server?: Partial<Omit<ServerOptions, 'tokens'>> } = {},
): Promise<Api> {
  const roles = opts.roles ?? ROLES.filter((r) => r !== 'agent');
  const tokens: Partial<Record<Role, string>> = {};
  const names: Partial<Record<Role, string>> = {};
  const entries = roles.map((role) => {
    const token = crypto.randomBytes(24).toString('base64url');
    tokens[role] = token;
    names[role] = `${role}-bot`;
    return { name: `${role}-bot`, role, sha256: hashToken(token) };
  });
  const telemetry = new Telemetry({ defaultMetrics: false });
  const logs: string[] = [];
  const server = createServer(service, {
    tokens: new TokenSet(entries),
    observer: telemetry,
    // The server's log stream (info and up), one JSON line per entry.
    log: createLogger({ level: 'info', destination: { write: (line: string) => void logs.push(line) } }),
    ...opts.server,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    telemetry,
    tokens,
    names,
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw bytes (one request, `Connection: close`) and parses the response. */
export function rawRequest(port: number, request: Buffer | string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, timeoutMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the response is fine; no response is caught below
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (!m || headEnd < 0) {
        reject(new Error(`no HTTP response (got ${JSON.stringify(text.slice(0, 80))})`));
        return;
      }
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, headEnd).split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let body = text.slice(headEnd + 4);
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
      resolve({ status: Number(m[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    });
    socket.end(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
  });
}

function dechunk(text: string): string {
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(text.slice(pos, eol), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out += text.slice(eol + 2, eol + 2 + size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

/** Asserts the promises every error body keeps: the JSON shape, no stack, no server path. */
export function expectCleanError(body: string, status: number): { code: string; message: string; requestId: string } {
  if (body.includes('    at ') || body.includes('/work/') || body.includes('node_modules') || /\.ts:\d+/.test(body)) {
    throw new Error(`error body (${status}) leaks internals: ${body.slice(0, 300)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`error body (${status}) is not JSON: ${body.slice(0, 200)}`);
  }
  const e = (parsed as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }).error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.requestId !== 'string') {
    throw new Error(`error body (${status}) lacks {error:{code,message,requestId}}: ${body.slice(0, 200)}`);
  }
  if (e.message.includes('\n')) throw new Error(`error message is not one line: ${e.message}`);
  return { code: e.code, message: e.message, requestId: e.requestId };
}
