/**
 * The API server's log stream (pino, controller/telemetry/log.ts) over real HTTP on loopback: requests that carry
 * `Authorization: Bearer <token>` and fail with a 500, a 401 or a 403 are logged with their request id, and the
 * token never appears in any line, not even when the failing code quoted the header in its error message. Every
 * line is one JSON object with level, time and msg.
 */
import * as crypto from 'node:crypto';
import { LOG_LEVELS, memoryLogger } from '../../controller/telemetry/log';
import { startApi, type Api } from '../helpers/api-harness';
import { FakeService } from '../helpers/fake-service';

describe('API log stream', () => {
  const mem = memoryLogger('debug');
  const service = new FakeService();
  let api: Api;
  beforeAll(async () => {
    api = await startApi(service, { server: { log: mem.log } });
  });
  afterAll(() => api.close());

  const kill = (auth: string): Promise<Response> =>
    fetch(`${api.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, reason: 'log test' }) });

  test('a 500 is logged at error with its request id and stack; the bearer token is in no line', async () => {
    const token = api.tokens.sre as string;
    // The worst case: the failing code put the request's Authorization header into its error message.
    service.failWith = new Error(`store locked while handling a request with Authorization: Bearer ${token}`);
    try {
      const res = await kill(`Bearer ${token}`);
      expect(res.status).toBe(500);
      const requestId = res.headers.get('x-request-id') as string;
      const line = mem.lines.find((l) => l.requestId === requestId && l.level === 'error');
      expect(line).toMatchObject({ msg: 'request failed', method: 'POST', route: '/v1/killswitch', error: 'store locked while handling a request with Authorization: Bearer [redacted]' });
      expect(String(line?.stack)).toContain('    at ');
      expect(mem.text.join('')).not.toContain(token);
    } finally {
      service.failWith = undefined;
    }
  });

  test('a 401 (unknown token) and a 403 (valid token, wrong role) are logged at warn; neither token is in the stream', async () => {
    const wrong = crypto.randomBytes(24).toString('base64url');
    const r401 = await kill(`Bearer ${wrong}`);
    const r403 = await kill(`Bearer ${api.tokens.viewer as string}`);
    expect([r401.status, r403.status]).toEqual([401, 403]);
    for (const [res, status, code] of [
      [r401, 401, 'unauthorized'],
      [r403, 403, 'forbidden'],
    ] as const) {
      const line = mem.lines.find((l) => l.requestId === res.headers.get('x-request-id') && l.msg === 'request refused');
      expect(line).toMatchObject({ level: 'warn', method: 'POST', route: '/v1/killswitch', status, code, client: expect.stringMatching(/127\.0\.0\.1/) });
    }
    const all = mem.text.join('');
    expect(all).not.toContain(wrong);
    expect(all).not.toContain(api.tokens.viewer as string);
    // Not even the header's name: no line of these requests carries request headers.
    const ids = [r401, r403].map((r) => r.headers.get('x-request-id'));
    expect(mem.text.filter((t) => ids.some((id) => t.includes(`"requestId":"${id}"`))).join('')).not.toMatch(/authorization/i);
  });

  test('every request gets a debug line without headers; every line is JSON with level, time and msg', async () => {
    const res = await fetch(`${api.url}/v1/rollouts`, { headers: { Authorization: `Bearer ${api.tokens.viewer as string}`, 'X-Request-Id': 'trace-log-1' } });
    expect(res.status).toBe(200);
    expect(mem.lines.find((l) => l.requestId === 'trace-log-1' && l.msg === 'request')).toMatchObject({ level: 'debug', method: 'GET', route: '/v1/rollouts', status: 200, ms: expect.any(Number) });
    expect(mem.text.length).toBeGreaterThanOrEqual(6);
    for (const raw of mem.text) {
      expect(raw.endsWith('\n')).toBe(true);
      expect(raw.trimEnd()).not.toContain('\n');
      const line = JSON.parse(raw) as Record<string, unknown>;
      expect(LOG_LEVELS).toContain(line.level);
      expect(typeof line.msg).toBe('string');
      expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    }
    for (const t of Object.values(api.tokens)) expect(mem.text.join('')).not.toContain(t);
  });
});
