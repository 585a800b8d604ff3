/**
 * The manifest fast path over real loopback HTTP: signed bytes, ETag/304, HEAD, unknown channels, and the
 * agent-token mode.
 */
import { parsePublicKey, verify } from '../../controller/crypto/keys';
import { FakeService } from '../helpers/fake-service';
import { expectCleanError, rawRequest, startApi, type Api } from '../helpers/api-harness';

describe('manifest fast path (public)', () => {
  let svc: FakeService;
  let api: Api;
  beforeAll(async () => {
    svc = new FakeService();
    svc.publishRaw('sensor-content', { salt: 'abc', candidates: [], killSwitch: { engaged: false, mode: 'freeze' } });
    api = await startApi(svc);
  });
  afterAll(() => api.close());

  async function signingKey() {
    const res = await fetch(`${api.url}/v1/signing-key`);
    expect(res.status).toBe(200);
    const k = (await res.json()) as { algorithm: string; keyId: string; publicKey: string; publicKeyPem: string };
    const parsed = parsePublicKey(k.publicKey);
    if (!parsed.ok) throw new Error(parsed.message);
    return { ...k, key: parsed.key };
  }

  test('a manifest signature verifies with the served public key, and a one-byte change does not', async () => {
    const key = await signingKey();
    const res = await fetch(`${api.url}/v1/channels/sensor-content/manifest`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-ringmaster-key-id')).toBe(key.keyId);
    expect(res.headers.get('x-request-id')).toMatch(/\S+/);
    const body = Buffer.from(await res.arrayBuffer());
    const signature = res.headers.get('x-ringmaster-signature') ?? '';
    expect(verify(key.key, body, signature)).toBe(true);
    expect(JSON.parse(body.toString()).channel).toBe('sensor-content');
    for (const i of [0, Math.floor(body.length / 2), body.length - 1]) {
      const tampered = Buffer.from(body);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      expect(verify(key.key, tampered, signature)).toBe(false);
    }
    // The PEM form of the key is the same key.
    const pem = parsePublicKey(key.publicKeyPem);
    expect(pem.ok && verify(pem.key, body, signature)).toBe(true);
  });

  test('If-None-Match with the current ETag answers 304 without a body; a stale one gets the new revision', async () => {
    const first = await fetch(`${api.url}/v1/channels/sensor-content/manifest`);
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(first.headers.get('x-ringmaster-revision')).toBe(String(JSON.parse(await first.text()).revision));

    const again = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect((await again.arrayBuffer()).byteLength).toBe(0);

    for (const inm of [`W/${etag}`, `"other", ${etag}`, '*']) {
      const r = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { headers: { 'If-None-Match': inm } });
      expect([inm, r.status]).toEqual([inm, 304]);
    }

    const next = svc.publishRaw('sensor-content', { salt: 'abc', candidates: [], killSwitch: { engaged: true, mode: 'freeze' } });
    const changed = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { headers: { 'If-None-Match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe(next.etag);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(JSON.parse(await changed.text()).killSwitch.engaged).toBe(true);
  });

  test('HEAD answers the headers of GET and no body', async () => {
    const get = await fetch(`${api.url}/v1/channels/sensor-content/manifest`);
    const getBody = Buffer.from(await get.arrayBuffer());
    const head = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('etag')).toBe(get.headers.get('etag'));
    expect(head.headers.get('x-ringmaster-signature')).toBe(get.headers.get('x-ringmaster-signature'));
    expect(head.headers.get('content-length')).toBe(String(getBody.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  test('an unknown channel is a 404 JSON error; other methods are 405', async () => {
    const res = await fetch(`${api.url}/v1/channels/no-such-channel/manifest`);
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const e = expectCleanError(await res.text(), 404);
    expect(e.code).toBe('not_found');
    expect(e.requestId).toBe(res.headers.get('x-request-id'));

    const post = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expectCleanError(await post.text(), 405);
  });

  test('a malformed If-None-Match is a 400', async () => {
    for (const inm of ['abc', '"unterminated', '"a" "b"', 'W/abc', '""x']) {
      const r = await rawRequest(api.port, `GET /v1/channels/sensor-content/manifest HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${inm}\r\nConnection: close\r\n\r\n`);
      expect([inm, r.status]).toEqual([inm, 400]);
      expectCleanError(r.body, r.status);
    }
  });

  test('a query string does not change the answer, and the manifest needs no token when no agent token exists', async () => {
    const res = await fetch(`${api.url}/v1/channels/sensor-content/manifest?x=1`);
    expect(res.status).toBe(200);
    const withBadToken = await fetch(`${api.url}/v1/channels/sensor-content/manifest`, { headers: { Authorization: 'Bearer nope' } });
    expect(withBadToken.status).toBe(200);
  });

  test('fast-path responses are counted in ringmaster_http_requests_total by route pattern', async () => {
    await fetch(`${api.url}/v1/channels/sensor-content/manifest`);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('ringmaster_http_requests_total{route="/v1/channels/:channel/manifest",code="200"}'));
    expect(line).toBeDefined();
    expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(5);
    expect(text).toContain('route="/v1/channels/:channel/manifest",code="404"');
    expect(text).not.toContain('no-such-channel');
  });
});

describe('manifest with an agent token configured', () => {
  let svc: FakeService;
  let api: Api;
  beforeAll(async () => {
    svc = new FakeService();
    svc.publishRaw('sensor-content', { salt: 'abc', candidates: [] });
    api = await startApi(svc, { roles: ['viewer', 'sre', 'agent'] });
  });
  afterAll(() => api.close());

  test('the manifest requires a valid token: agent or any other role', async () => {
    const url = `${api.url}/v1/channels/sensor-content/manifest`;
    const none = await fetch(url);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectCleanError(await none.text(), 401);
    const bad = await fetch(url, { headers: { Authorization: 'Bearer not-a-token' } });
    expect(bad.status).toBe(401);
    for (const role of ['agent', 'viewer', 'sre'] as const) {
      const ok = await fetch(url, { headers: { Authorization: `Bearer ${api.tokens[role]}` } });
      expect([role, ok.status]).toEqual([role, 200]);
    }
  });

  test('an agent token reads nothing but manifests', async () => {
    const res = await fetch(`${api.url}/v1/rollouts`, { headers: { Authorization: `Bearer ${api.tokens.agent}` } });
    expect(res.status).toBe(403);
    const ks = await fetch(`${api.url}/v1/killswitch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${api.tokens.agent}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ engaged: true, reason: 'x' }),
    });
    expect(ks.status).toBe(403);
    expect(svc.getKillSwitch().engaged).toBe(false);
  });
});
