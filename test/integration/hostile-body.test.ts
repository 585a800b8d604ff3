/**
 * Issue 9, item 4: no request holds the event loop. A real `ringmaster serve` (bin/, dist/) on loopback gets
 * hostile rollout bodies under the 1 MiB limit while a separate process polls /healthz, a channel manifest and
 * the kill switch every 100 ms. Every poll must answer within 1 s, each body gets a 4xx within 10 s naming the
 * limit it broke, and the rollouts stored do not change. (On main the 80,000-key body held the server for 88 s.)
 */
import * as path from 'node:path';
import { CHANNEL, postRollout, request, SHAPES, SRE_TOKEN, startedPoller, startServe, validRollout, VIEWER_TOKEN, type PollReport, type Serve } from '../../bench/hostile-bodies';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.resolve(__dirname, '../..');
const MANIFEST = `/v1/channels/${CHANNEL}/manifest`;
const POLLED = ['/healthz', MANIFEST, '/v1/killswitch'];

jest.setTimeout(120_000);

let serve: Serve;

beforeAll(async () => {
  ensureBuilt();
  serve = await startServe(ROOT);
  const applied = await postRollout(serve.port, validRollout('steady'));
  expect(applied.status).toBe(201);
  for (let i = 0; i < 100 && (await request(serve.port, 'GET', MANIFEST)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  expect((await request(serve.port, 'GET', MANIFEST)).status).toBe(200);
});

afterAll(async () => {
  await serve?.stop();
});

/** What is stored: each rollout's name, creation time and spec, and how many entries the audit log has. */
async function stored(): Promise<{ rollouts: unknown; auditEntries: number }> {
  const auth = { Authorization: `Bearer ${VIEWER_TOKEN}` };
  const list = JSON.parse((await request(serve.port, 'GET', '/v1/rollouts', { headers: auth })).body) as { rollouts: Array<{ name: string; createdAt: string; spec: unknown }> };
  const audit = JSON.parse((await request(serve.port, 'GET', '/v1/audit?limit=1000', { headers: auth })).body) as { entries: unknown[] };
  return { rollouts: list.rollouts.map((r) => ({ name: r.name, createdAt: r.createdAt, spec: r.spec })), auditEntries: audit.entries.length };
}

function expectEveryPollWithin1s(report: PollReport): void {
  for (const p of POLLED) {
    const t = report.targets[p];
    expect({ path: p, polls: (t?.polls ?? 0) > 0, over1s: t?.over1s, unanswered: t?.unanswered, errors: t?.errors, slowestUnder1s: (t?.maxMs ?? Infinity) < 1000 }).toEqual({
      path: p,
      polls: true,
      over1s: 0,
      unanswered: 0,
      errors: 0,
      slowestUnder1s: true,
    });
  }
}

function errorOf(body: string): { message: string; details: string[] } {
  return (JSON.parse(body) as { error: { message: string; details: string[] } }).error;
}

test('an 80,000-key body gets a 422 naming the key limit, while /healthz, a manifest and the kill switch answer every 100 ms poll within 1 s', async () => {
  const before = await stored();
  const body = SHAPES['keys-80k']?.() as string;
  expect(Buffer.byteLength(body)).toBeGreaterThan(780_000);
  expect(Buffer.byteLength(body)).toBeLessThan(1024 * 1024);
  const poller = await startedPoller(serve.port, POLLED);
  const res = await postRollout(serve.port, body, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 300)); // polls sent around the end of the load are counted too
  const report = await poller.stop();

  expect(res.status).toBe(422);
  expect(res.ms).toBeLessThan(10_000);
  const e = errorOf(res.body);
  expect(e.details).toEqual(['request:10001:8 (document): the document has more than 10000 keys (limit)']);
  expect(e.message).not.toContain('\n');
  expectEveryPollWithin1s(report);
  expect(await stored()).toEqual(before);
});

test.each(['json-keys-80k', 'flow-seq-max', 'deep-flow', 'many-docs', 'alias-bomb', 'many-anchors'])('%s: a one-line 4xx within 10 s, and every poll within 1 s', async (shape) => {
  const before = await stored();
  const body = SHAPES[shape]?.() as string;
  const poller = await startedPoller(serve.port, POLLED);
  const res = await postRollout(serve.port, body, { timeoutMs: 10_000, ...(shape.startsWith('json') ? { contentType: 'application/json' } : {}) });
  await new Promise((r) => setTimeout(r, 300));
  const report = await poller.stop();
  expect(res.status).toBe(422);
  expect(res.ms).toBeLessThan(10_000);
  const e = errorOf(res.body);
  expect(e.details).toHaveLength(1);
  expect(e.details[0]).toMatch(/^request:\d+:\d+ \S+: (the document has more than \d+ (keys|values)|the document is nested more than 64 levels deep|the text has more than 1000 documents|the document expands to more than \d+ values through aliases) \(limit\)$/);
  expectEveryPollWithin1s(report);
  expect(await stored()).toEqual(before);
});

test('the kill switch is engaged within 1 s while a hostile body is being loaded', async () => {
  const hostile = postRollout(serve.port, SHAPES['keys-80k']?.() as string, { timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 50));
  const sre = { Authorization: `Bearer ${SRE_TOKEN}`, 'Content-Type': 'application/json' };
  const kill = await request(serve.port, 'POST', '/v1/killswitch', { body: JSON.stringify({ engaged: true, reason: 'hostile body test' }), headers: sre, timeoutMs: 5000 });
  expect(kill.status).toBe(200);
  expect(kill.ms).toBeLessThan(1000);
  expect((await hostile).status).toBe(422);
  const release = await request(serve.port, 'POST', '/v1/killswitch', { body: JSON.stringify({ engaged: false, reason: 'hostile body test done' }), headers: sre });
  expect(release.status).toBe(200);
});

test('a valid rollout larger than the in-place limit is loaded in the worker and accepted', async () => {
  // 40 KB of comments: over INLINE_MAX_BYTES (16 KiB), so it takes the worker path.
  const padding = Array.from({ length: 500 }, (_, i) => `# ${String(i).padStart(4, '0')} ${'x'.repeat(70)}\n`).join('');
  const body = padding + validRollout('big-but-valid').replace(`channel: ${CHANNEL}`, 'channel: big-ch');
  expect(Buffer.byteLength(body)).toBeGreaterThan(32 * 1024);
  const res = await postRollout(serve.port, body);
  expect(res.status).toBe(201);
  // The same body again is unchanged: the worker's document hashes like one loaded in place.
  expect((await postRollout(serve.port, body)).status).toBe(200);
  expect((await postRollout(serve.port, validRollout('big-but-valid').replace(`channel: ${CHANNEL}`, 'channel: big-ch'))).status).toBe(200);
});
