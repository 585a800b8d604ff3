/**
 * The one HTTP client (controller/http/client.ts) against real loopback servers: hard time limits (a server that
 * never answers, one that trickles its headers or body, a SIGSTOPped process), the response size limit, retries
 * with full jitter on 503 and on a refused connection, no retry of a POST, aborts, deadlines, TLS, and credentials
 * kept out of every error and log line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { backoffCap, backoffDelay } from '../../controller/http/backoff';
import { HttpClient, parseBaseUrl, type HttpClientOptions, type HttpResult } from '../../controller/http/client';
import { memoryLogger } from '../../controller/telemetry/log';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Served {
  url: string;
  port: number;
  /** Arrival time and request line of every request. */
  calls: Array<{ at: number; method: string; url: string; auth: string | undefined }>;
  close(): Promise<void>;
}

async function serve(handler: Handler, server: http.Server = http.createServer()): Promise<Served> {
  const calls: Served['calls'] = [];
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    calls.push({ at: Date.now(), method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const scheme = server instanceof https.Server ? 'https' : 'http';
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function timed(p: Promise<HttpResult>): Promise<{ r: HttpResult; ms: number }> {
  const t0 = Date.now();
  const r = await p;
  return { r, ms: Date.now() - t0 };
}

function failure(r: HttpResult): Extract<HttpResult, { ok: false }>['failure'] {
  if (r.ok) throw new Error(`expected a failure, got HTTP ${r.response.status}`);
  return r.failure;
}

const clients: HttpClient[] = [];
function client(opts: HttpClientOptions): HttpClient {
  const c = new HttpClient(opts);
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('hard time limits', () => {
  test('a server that never answers: timed out after the attempt budget, one line naming method and URL', async () => {
    const s = await serve(() => undefined);
    try {
      const { r, ms } = await timed(client({ baseUrl: s.url, timeoutMs: 300 }).get('/api/v1/query?query=up'));
      expect(failure(r)).toMatchObject({ kind: 'timeout', attempts: 1, message: `GET ${s.url}/api/v1/query: timed out after 300 ms` });
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(1500);
    } finally {
      await s.close();
    }
  });

  test('a body trickled one byte every 50 ms cannot outlast the budget (undici body timeout alone would never fire)', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const t = setInterval(() => res.write('x'), 50);
      res.on('close', () => clearInterval(t));
    });
    try {
      const { r, ms } = await timed(client({ baseUrl: s.url, timeoutMs: 600 }).get('/slow'));
      expect(failure(r)).toMatchObject({ kind: 'timeout', message: `GET ${s.url}/slow: timed out after 600 ms` });
      expect(ms).toBeLessThan(2000);
    } finally {
      await s.close();
    }
  });

  test('headers trickled one byte every 50 ms: same budget', async () => {
    const raw = net.createServer((sock) => {
      const text = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: ' + 'y'.repeat(1000);
      let i = 0;
      const t = setInterval(() => (i < text.length ? sock.write(text[i++] as string) : clearInterval(t)), 50);
      sock.on('close', () => clearInterval(t));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as AddressInfo).port;
    try {
      const { r, ms } = await timed(client({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 500 }).get('/'));
      expect(failure(r).kind).toBe('timeout');
      expect(ms).toBeLessThan(2000);
    } finally {
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  test('a SIGSTOPped server process: the call returns at the deadline, retries and backoff included', async () => {
    const child = spawn(process.execPath, ['-e', "const s=require('http').createServer((q,r)=>r.end('ok'));s.listen(0,'127.0.0.1',()=>console.log(s.address().port))"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve) => child.stdout.once('data', (c: Buffer) => resolve(Number(c.toString().trim()))));
      const c = client({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 400, retries: 5, retryBaseMs: 50, deadlineMs: 1000 });
      const ok = await c.get('/');
      expect(ok.ok && ok.response.text()).toBe('ok');
      child.kill('SIGSTOP');
      const { r, ms } = await timed(c.get('/api/v1/query', { idempotent: true }));
      const f = failure(r);
      expect(f.kind).toBe('timeout');
      expect(f.message).toMatch(new RegExp(`^GET http://127\\.0\\.0\\.1:${port}/api/v1/query: timed out after 1000 ms \\(after [23] attempts\\)$`));
      expect(ms).toBeGreaterThanOrEqual(990);
      expect(ms).toBeLessThan(1800);
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
});

describe('response size limit', () => {
  test('a declared Content-Length over the limit, and a chunked body that grows over it, are refused in one line', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/declared') {
        res.setHeader('Content-Length', 5000);
        res.end('x'.repeat(5000));
      } else if (req.url === '/chunked') {
        res.write('x'.repeat(800));
        res.end('x'.repeat(800));
      } else res.end('x'.repeat(1000));
    });
    try {
      const c = client({ baseUrl: s.url, maxResponseBytes: 1000, retries: 3 });
      expect(failure(await c.get('/declared'))).toMatchObject({ kind: 'too-large', attempts: 1, message: `GET ${s.url}/declared: response larger than 1000 bytes` });
      expect(failure(await c.get('/chunked'))).toMatchObject({ kind: 'too-large', message: `GET ${s.url}/chunked: response larger than 1000 bytes` });
      const exact = await c.get('/exact');
      expect(exact.ok && exact.response.body.length).toBe(1000);
      // A size refusal is not retried: the next answer would be as large.
      expect(s.calls.filter((x) => x.url === '/declared')).toHaveLength(1);
    } finally {
      await s.close();
    }
  });
});

describe('retries', () => {
  test('a 503 is retried with full-jitter backoff; the waits are at least the drawn delays', async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      n++;
      res.statusCode = n <= 3 ? 503 : 200;
      res.end(n <= 3 ? 'busy' : 'ok');
    });
    const draws: number[] = [];
    const random = (): number => {
      const v = 0.5 + Math.random() / 2; // delays of at least half the cap, so that the gaps are measurable
      draws.push(v);
      return v;
    };
    try {
      const c = client({ baseUrl: s.url, retries: 4, retryBaseMs: 40, retryMaxMs: 1000, random });
      const r = await c.get('/q');
      expect(r.ok && [r.response.status, r.response.attempts, r.response.text()]).toEqual([200, 4, 'ok']);
      expect(s.calls).toHaveLength(4);
      expect(draws).toHaveLength(3);
      draws.forEach((d, i) => {
        const delay = Math.floor(d * backoffCap(i + 1, { baseMs: 40, maxMs: 1000 }));
        const gap = (s.calls[i + 1]?.at ?? 0) - (s.calls[i]?.at ?? 0);
        expect([i, gap >= delay - 2]).toEqual([i, true]);
      });
    } finally {
      await s.close();
    }
  });

  test('a persistent 503 gives up after the retries and hands back the last answer', async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 503;
      res.end('{"status":"error"}');
    });
    try {
      const r = await client({ baseUrl: s.url, retries: 2, retryBaseMs: 5 }).get('/q');
      expect(r.ok && [r.response.status, r.response.attempts]).toEqual([503, 3]);
      expect(s.calls).toHaveLength(3);
    } finally {
      await s.close();
    }
  });

  test('a refused connection is retried, then named with the attempts', async () => {
    const port = await closedPort();
    const { r, ms } = await timed(client({ baseUrl: `http://127.0.0.1:${port}`, retries: 2, retryBaseMs: 60, random: () => 0.99 }).get('/x'));
    expect(failure(r)).toEqual({
      kind: 'refused',
      reason: 'connection refused',
      method: 'GET',
      url: `http://127.0.0.1:${port}/x`,
      attempts: 3,
      message: `GET http://127.0.0.1:${port}/x: connection refused (after 3 attempts)`,
    });
    // Two backoff sleeps of 0.99 x 60 and 0.99 x 120 ms.
    expect(ms).toBeGreaterThanOrEqual(59 + 118 - 5);
  });

  test('a POST is never retried unless the request says it is idempotent', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/drop') {
        req.socket.destroy();
        return;
      }
      res.statusCode = 503;
      res.end();
    });
    try {
      const c = client({ baseUrl: s.url, retries: 3, retryBaseMs: 5 });
      const once = await c.post('/v1/killswitch', '{"engaged":true}', { contentType: 'application/json' });
      expect(once.ok && [once.response.status, once.response.attempts]).toEqual([503, 1]);
      expect(failure(await c.post('/drop', 'x'))).toMatchObject({ kind: 'reset', attempts: 1, message: `POST ${s.url}/drop: connection closed by the server` });
      expect(s.calls.map((x) => `${x.method} ${x.url}`)).toEqual(['POST /v1/killswitch', 'POST /drop']);
      const asked = await c.post('/api/v1/query', 'query=up', { idempotent: true });
      expect(asked.ok && asked.response.attempts).toBe(4);
    } finally {
      await s.close();
    }
  });

  test('a 4xx is an answer, not retried', async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 400;
      res.end('bad');
    });
    try {
      const r = await client({ baseUrl: s.url, retries: 3 }).get('/');
      expect(r.ok && [r.response.status, r.response.attempts]).toEqual([400, 1]);
      expect(s.calls).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  test('full jitter: delays are uniform under a cap that doubles and saturates', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffCap(n, { baseMs: 100, maxMs: 2000 }))).toEqual([100, 200, 400, 800, 1600, 2000]);
    const cap = backoffCap(3, { baseMs: 100, maxMs: 2000 });
    const n = 20_000;
    const deciles = new Array<number>(10).fill(0);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const d = backoffDelay(3, { baseMs: 100, maxMs: 2000 });
      if (!(d >= 0 && d < cap)) outside++;
      sum += d;
      deciles[Math.floor((d / cap) * 10)] = (deciles[Math.floor((d / cap) * 10)] ?? 0) + 1;
    }
    expect(outside).toBe(0);
    // Mean of U[0, cap): cap/2, standard error cap/sqrt(12n); each decile holds n/10 +- 5 binomial sigmas.
    expect(Math.abs(sum / n - (cap - 1) / 2)).toBeLessThan((5 * cap) / Math.sqrt(12 * n));
    const sigma = Math.sqrt(n * 0.1 * 0.9);
    for (const count of deciles) expect(Math.abs(count - n / 10)).toBeLessThan(5 * sigma);
  });
});

describe('abort and deadline', () => {
  test('an AbortSignal ends a hung request at once, and one already fired sends nothing', async () => {
    const s = await serve(() => undefined);
    try {
      const c = client({ baseUrl: s.url, timeoutMs: 10_000, retries: 3 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const { r, ms } = await timed(c.get('/watch', { signal: ac.signal }));
      expect(failure(r)).toMatchObject({ kind: 'aborted', message: `GET ${s.url}/watch: aborted`, attempts: 1 });
      expect(ms).toBeLessThan(1000);
      const before = s.calls.length;
      expect(failure(await c.get('/x', { signal: AbortSignal.abort() })).kind).toBe('aborted');
      expect(s.calls.length).toBe(before);
    } finally {
      await s.close();
    }
  });

  test('an abort during a backoff sleep ends the call without another attempt', async () => {
    const port = await closedPort();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 150);
    const { r, ms } = await timed(client({ baseUrl: `http://127.0.0.1:${port}`, retries: 5, retryBaseMs: 5000, retryMaxMs: 5000, random: () => 0.99 }).get('/', { signal: ac.signal }));
    expect(failure(r)).toMatchObject({ kind: 'aborted', attempts: 1 });
    expect(ms).toBeLessThan(1000);
  });

  test('no retry is started when its backoff would end past the deadline', async () => {
    const port = await closedPort();
    const { r, ms } = await timed(client({ baseUrl: `http://127.0.0.1:${port}`, retries: 5, retryBaseMs: 2000, random: () => 0.99, deadlineMs: 500 }).get('/'));
    expect(failure(r)).toMatchObject({ kind: 'refused', attempts: 1 });
    expect(ms).toBeLessThan(400);
  });
});

describe('credentials, URLs and TLS', () => {
  test('the bearer token is sent and appears in no failure and no log line', async () => {
    const token = 'tok-3f9a1c-never-print-me';
    const s = await serve((req, res) => {
      if (req.url === '/drop') req.socket.destroy();
      else {
        res.statusCode = 503;
        res.end(`your header was ${req.headers.authorization ?? ''}`);
      }
    });
    const mem = memoryLogger('debug');
    try {
      const c = client({ baseUrl: s.url, bearerToken: token, retries: 2, retryBaseMs: 5, log: mem.log, timeoutMs: 300 });
      const answered = await c.get('/q');
      const dropped = await c.get('/drop');
      expect(s.calls.every((x) => x.auth === `Bearer ${token}`)).toBe(true);
      expect(failure(dropped).message).toBe(`GET ${s.url}/drop: connection closed by the server (after 3 attempts)`);
      expect(JSON.stringify(dropped)).not.toContain(token);
      expect(answered.ok && answered.response.status).toBe(503);
      expect(mem.lines.length).toBeGreaterThanOrEqual(4);
      expect(mem.lines[0]).toMatchObject({ level: 'debug', msg: 'http retry', method: 'GET', url: `${s.url}/q`, attempt: 1, reason: 'HTTP 503' });
      expect(JSON.stringify(mem.lines)).not.toContain(token);
      // Logging the client object itself shows no credential either (it lives in a #private field).
      mem.log.info({ client: c }, 'client');
      expect(inspect(c, { depth: 10, showHidden: true }) + JSON.stringify(c) + (mem.text[mem.text.length - 1] ?? '')).not.toContain(token);
    } finally {
      await s.close();
    }
  });

  test('the base path is kept, the query string stays out of messages, credentials in the URL are refused', async () => {
    const s = await serve((_req, res) => {
      res.statusCode = 200;
      res.end('{}');
    });
    try {
      const c = client({ baseUrl: `${s.url}/prometheus/` });
      await c.get('/api/v1/query', { query: { query: 'sum(up)', time: '1.000' } });
      await c.get('v1/audit?after=0&limit=1000');
      expect(s.calls.map((x) => x.url)).toEqual(['/prometheus/api/v1/query?query=sum%28up%29&time=1.000', '/prometheus/v1/audit?after=0&limit=1000']);
      expect(c.endpoint).toBe(`${s.url}/prometheus`);
    } finally {
      await s.close();
    }
    expect(parseBaseUrl('http://user:pw@127.0.0.1:1')).toBe('credentials');
    expect(parseBaseUrl('ftp://x')).toBe('scheme');
    expect(parseBaseUrl('nope')).toBe('not-a-url');
    expect(() => new HttpClient({ baseUrl: 'http://a:b@127.0.0.1:1' })).toThrow('http client: base URL: credentials belong in the client options, not in the URL');
    expect(() => new HttpClient({ baseUrl: 'https://127.0.0.1:1', caFile: '/nonexistent/ca.pem' })).toThrow('http client: CA file /nonexistent/ca.pem: cannot read (ENOENT)');
  });

  test('https: an unknown CA is a one-line TLS failure; a CA file or insecureSkipVerify connects', async () => {
    // test/fixtures/tls: a throwaway CA (its key was deleted after signing) and a server certificate for 127.0.0.1, valid until 2126.
    const dir = path.join(__dirname, '..', 'fixtures', 'tls');
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'server.key')), cert: fs.readFileSync(path.join(dir, 'server.pem')) });
    const s = await serve((_req, res) => res.end('secure'), server);
    try {
      const f = failure(await client({ baseUrl: s.url, retries: 2 }).get('/'));
      expect(f.kind).toBe('tls');
      expect(f.attempts).toBe(1);
      expect(f.message).toMatch(new RegExp(`^GET ${s.url.replace(/\./g, '\\.')}/: TLS: .+ \\([A-Z_]+\\)$`));
      for (const opts of [{ caFile: path.join(dir, 'ca.pem') }, { ca: fs.readFileSync(path.join(dir, 'ca.pem')) }, { insecureSkipVerify: true }]) {
        const r = await client({ baseUrl: s.url, ...opts }).get('/');
        expect(r.ok && r.response.text()).toBe('secure');
      }
    } finally {
      await s.close();
    }
  });
});
