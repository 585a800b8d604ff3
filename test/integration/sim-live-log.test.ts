/**
 * agent-sim live mode's log stream, in process, against a loopback fake of the controller's manifest endpoint: a
 * failing controller is one JSON warn line (not one per poll), its recovery one info line, a manifest whose
 * signature does not verify one warn line (however many hosts refuse it); the JSON summary on stdout counts every
 * failed poll, and the refusals.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { runLive } from '../../agent-sim/live';
import { loadScenario } from '../../agent-sim/scenario';
import { generateKeyPair, keyIdOfRaw, publicKeyRaw } from '../../controller/crypto/keys';
import { memoryLogger } from '../../controller/telemetry/log';

jest.setTimeout(30_000);
const ROOT = path.join(__dirname, '..', '..');

test('a failing controller is one warn line, its recovery one info line, a bad signature one warn line', async () => {
  const pinKey = publicKeyRaw(generateKeyPair().publicKey).toString('base64');
  let polls = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/v1/channels/sensor-content/manifest') {
      res.statusCode = 404;
      res.end();
      return;
    }
    polls++;
    if (polls <= 2) {
      res.statusCode = 503;
      res.end('{"error":{"code":"not_ready"}}');
    } else if (polls === 3) {
      res.statusCode = 404;
      res.end();
    } else {
      res.setHeader('ETag', '"r1"');
      res.setHeader('X-Ringmaster-Signature', Buffer.alloc(64).toString('base64'));
      res.setHeader('X-Ringmaster-Key-Id', keyIdOfRaw(pinKey));
      res.setHeader('X-Ringmaster-Revision', '1');
      res.end(JSON.stringify({ revision: 1, candidates: [], killSwitch: { engaged: false } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mem = memoryLogger('info');
  let stdout = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    stdout += c.toString();
    return true;
  });
  let code: number;
  try {
    const sc = loadScenario(path.join(ROOT, 'examples/scenarios/live-bad-update.yaml'), { hosts: 200 });
    code = await runLive(sc, { controller: url, metricsListen: '127.0.0.1:0', duration: '5500ms', pinKey, json: true }, mem.log);
  } finally {
    spy.mockRestore();
    await new Promise<void>((r) => server.close(() => r()));
  }
  expect(code).toBe(0);
  expect(polls).toBeGreaterThanOrEqual(5);
  expect(mem.lines.map((l) => [l.level, l.msg])).toEqual([
    ['warn', 'manifest poll failed'],
    ['info', 'manifest polls answer again'],
    ['warn', `hosts refuse the manifest: manifest signature does not verify against key ${keyIdOfRaw(pinKey)}`],
  ]);
  expect(mem.lines[0]?.error).toBe(`GET ${url}/v1/channels/sensor-content/manifest: HTTP 503`);
  expect(mem.lines[2]?.revision).toBe(1);
  for (const l of mem.lines) expect(typeof l.time).toBe('string');
  const summary = JSON.parse(stdout.trim()) as { mode: string; errors: number; lastRevision: number; hosts: number; manifestRefusals: Record<string, number> };
  expect(summary).toMatchObject({ mode: 'live', errors: 2, lastRevision: 1 });
  // the hosts whose poll fell in the last seconds of the run refused it (a 5 s interval: not all of them polled)
  expect(summary.manifestRefusals.signature).toBeGreaterThan(0);
  expect(summary.manifestRefusals.signature).toBeLessThanOrEqual(summary.hosts);
});
