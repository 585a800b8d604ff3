/**
 * Notifications end to end: a real `ringmaster serve` child with a webhook sink pointing at a loopback receiver.
 * Receiver down then up (each event delivered once), kill -9 during a delivery (delivered after the restart with
 * the same Idempotency-Key), a slow receiver (the kill switch answers at once and manifests carry it).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import { verifySignature } from '../../controller/notify/sinks';
import { freePort } from '../helpers/prometheus';

const ROOT = path.resolve(__dirname, '../..');
const SECRET = 'test-webhook-secret';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


interface Delivery {
  key: string;
  id: string;
  type: string;
  valid: boolean;
}

/** A receiver on `port`: records deliveries whose signature verifies; `hold` keeps requests unanswered. */
async function receiver(port: number, opts: { delayMs?: number; hold?: boolean } = {}) {
  const got: Delivery[] = [];
  const held: http.ServerResponse[] = [];
  let seen = 0;
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen++;
      if (opts.hold) {
        held.push(res);
        return;
      }
      const answer = () => {
        const valid = verifySignature(SECRET, req.headers['x-ringmaster-signature'] as string, body, Date.now() / 1000);
        const ev = JSON.parse(body) as { id: string; type: string };
        if (valid) got.push({ key: String(req.headers['idempotency-key']), id: ev.id, type: ev.type, valid });
        res.writeHead(valid ? 204 : 401).end();
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs).unref();
      else answer();
    });
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  return {
    got,
    seen: () => seen,
    close: () =>
      new Promise<void>((r) => {
        for (const h of held) h.destroy();
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

describe('notifications through ringmaster serve', () => {
  let dir: string;
  let port: number;
  let hookPort: number;
  let child: ChildProcess | null = null;
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(() => {
    ensureBuilt();
  });

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-notify-'));
    port = await freePort();
    hookPort = await freePort();
    fs.writeFileSync(path.join(dir, 'secret'), `${SECRET}\n`);
    fs.writeFileSync(
      path.join(dir, 'serve.yaml'),
      [
        `listen: 127.0.0.1:${port}`,
        'data: ./data',
        `tokens: ${path.join(ROOT, 'examples/tokens.yaml')}`,
        `trustedKeys: ${path.join(ROOT, 'examples/trusted-keys.yaml')}`,
        `policies: ${path.join(ROOT, 'policies')}`,
        'notifications:',
        '  - name: hook',
        '    type: webhook',
        `    url: http://127.0.0.1:${hookPort}/hook`,
        '    secretFile: ./secret',
        '    events: ["killswitch.*"]',
        '    maxAttempts: 20',
        '    timeoutMs: 20000',
      ].join('\n'),
    );
  });

  afterEach(async () => {
    if (child) await stop(child);
    child = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serve(): Promise<void> {
    const s = start([path.join(ROOT, 'bin/ringmaster.js'), 'serve', '--config', path.join(dir, 'serve.yaml')]);
    child = s.child;
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${base()}/readyz`)).ok) return;
      } catch {
        /* not up yet */
      }
      await sleep(100);
    }
    throw new Error(`serve did not start: ${s.out()}`);
  }

  async function kill(engaged: boolean): Promise<number> {
    const t0 = Date.now();
    const res = await fetch(`${base()}/v1/killswitch`, {
      method: 'POST',
      headers: { authorization: 'Bearer ringmaster-example-sre', 'content-type': 'application/json' },
      body: JSON.stringify({ engaged, reason: engaged ? 'test engage' : 'test release' }),
    });
    expect(res.status).toBe(200);
    return Date.now() - t0;
  }

  async function until(cond: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await sleep(50);
  }

  test('receiver down, then up: each event delivered exactly once', async () => {
    await serve();
    await kill(true);
    await kill(false);
    await sleep(1500); // a few attempts fail on a closed port
    const rx = await receiver(hookPort);
    try {
      await until(() => rx.got.length >= 2, 15_000);
      await sleep(1500); // nothing more arrives
      // Retries are jittered per event: no order across events is promised, only each one exactly once here.
      expect(rx.got.map((d) => d.type).sort()).toEqual(['killswitch.engaged', 'killswitch.released']);
      expect(new Set(rx.got.map((d) => d.key)).size).toBe(2);
      for (const d of rx.got) expect(d.key).toBe(d.id);
      const metrics = await (await fetch(`${base()}/metrics`)).text();
      expect(metrics).toMatch(/ringmaster_notifications_total\{sink="hook",result="retried"\} [1-9]/);
      expect(metrics).toMatch(/ringmaster_notifications_total\{sink="hook",result="delivered"\} 2/);
    } finally {
      await rx.close();
    }
  }, 30_000);

  test('kill -9 during a delivery: delivered after the restart with the same idempotency key', async () => {
    const hung = await receiver(hookPort, { hold: true });
    await serve();
    await kill(true);
    await until(() => hung.seen() >= 1, 5000);
    expect(hung.seen()).toBe(1);
    const c = child as ChildProcess;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    child = null;
    await hung.close();
    const rx = await receiver(hookPort);
    try {
      await serve();
      await until(() => rx.got.length >= 1, 10_000);
      expect(rx.got).toHaveLength(1);
      expect(rx.got[0]?.type).toBe('killswitch.engaged');
      expect(rx.got[0]?.key).toMatch(/^killswitch:.*:killswitch\.engaged$/);
    } finally {
      await rx.close();
    }
  }, 30_000);

  test('a slow receiver (10 s) does not delay the kill switch', async () => {
    const slow = await receiver(hookPort, { delayMs: 10_000 });
    try {
      await serve();
      execFileSync(process.execPath, [path.join(ROOT, 'bin/ringctl.js'), 'apply', '-f', path.join(ROOT, 'examples/rollouts/content-update.yaml')], {
        env: { ...process.env, RINGMASTER_URL: base(), RINGMASTER_TOKEN: 'ringmaster-example-deployer' },
      });
      await kill(true); // a first event occupies the receiver
      await until(() => slow.seen() >= 1, 5000);
      const ms = await kill(false);
      const ms2 = await kill(true);
      expect(ms).toBeLessThan(1000);
      expect(ms2).toBeLessThan(1000);
      const manifest = (await (await fetch(`${base()}/v1/channels/sensor-content/manifest`)).text());
      expect(manifest).toContain('"engaged":true');
    } finally {
      await slow.close();
    }
  }, 30_000);
});
