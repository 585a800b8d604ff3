/**
 * Child process of the manifest benchmark: serves a channel manifest in one of three ways on 127.0.0.1:0 and
 * prints the port. `raw`: node:http with a precomputed buffer (the ceiling); `express`: the same buffer through an
 * express 5 route (what a naive implementation gets); `ringmaster`: the real server (fast path) over the real
 * Controller, with a real SQLite store and a signed manifest of an applied rollout.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import { createServer } from '../controller/api/server';
import { TokenSet } from '../controller/api/tokens';
import { Controller } from '../controller/runtime/controller';
import type { Rollout } from '../controller/spec/types';

async function ringmasterService(): Promise<Controller> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-bench-'));
  const c = await Controller.open({
    dataDir,
    policiesDir: '/nonexistent',
    policies: new Map([['open', { timezone: 'UTC', allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }], requireSignedArtifacts: false, requireBakeWithinWindow: false, maxConcurrentRolloutsPerChannel: 1 }]]),
    trustedKeys: [],
  });
  const rollout: Rollout = {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'bench' },
    spec: {
      channel: 'sensor-content',
      version: '7.16.291',
      previousVersion: '7.16.290',
      policy: 'open',
      artifact: { url: 'https://updates.example.internal/sensor-content/7.16.291.bin', sha256: 'c'.repeat(64) },
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
        { name: 'early', percent: 1, bake: '2h' },
        { name: 'broad', percent: 10, bake: '1d' },
        { name: 'full', percent: 100, bake: '1d' },
      ],
    },
  };
  await c.applyRollout(rollout, 'bench');
  return c;
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const c = await ringmasterService();
  const m = c.manifest('sensor-content');
  if (!m) throw new Error('no manifest');
  let server: http.Server;
  if (mode === 'raw') {
    server = http.createServer((req, res) => {
      if (req.headers['if-none-match'] === m.etag) {
        res.writeHead(304, { ETag: m.etag });
        res.end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', ETag: m.etag, 'X-Ringmaster-Signature': m.signature });
      res.end(m.body);
    });
  } else if (mode === 'express') {
    const app = express();
    app.get('/v1/channels/:channel/manifest', (req, res) => {
      const found = c.manifest(req.params.channel);
      if (!found) return void res.status(404).end();
      if (req.headers['if-none-match'] === found.etag) return void res.status(304).set('ETag', found.etag).end();
      res.status(200).set({ 'Content-Type': 'application/json', ETag: found.etag, 'X-Ringmaster-Signature': found.signature }).send(found.body);
    });
    server = http.createServer(app);
  } else if (mode === 'ringmaster') {
    server = createServer(c, { tokens: TokenSet.empty() });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    process.stdout.write(JSON.stringify({ port, etag: m.etag, bytes: m.body.length }) + '\n');
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`manifest-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
