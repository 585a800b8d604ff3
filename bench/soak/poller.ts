/**
 * make soak, part 3: a small separate process that polls one channel's manifest every INTERVAL ms, as an agent
 * would (one keep-alive connection), and prints one JSON line per poll: when it started and ended (epoch ms),
 * the status, the revision and whether the manifest says the kill switch is engaged. The soak reads these to
 * find the first poll after the kill-switch call. Runs until SIGTERM.
 *
 *   node dist/bench/soak/poller.js PORT CHANNEL INTERVAL_MS
 */
import * as http from 'node:http';

const [portArg, channel, intervalArg] = process.argv.slice(2);
const port = Number(portArg);
const intervalMs = Number(intervalArg);
if (!Number.isInteger(port) || !channel || !Number.isFinite(intervalMs) || intervalMs <= 0) {
  process.stderr.write('usage: poller PORT CHANNEL INTERVAL_MS\n');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const ENGAGED = '"killSwitch":{"engaged":true';
let stopping = false;

function poll(): Promise<void> {
  const s = Date.now();
  return new Promise((resolve) => {
    const line = (fields: Record<string, unknown>): void => {
      process.stdout.write(`${JSON.stringify({ s, e: Date.now(), ...fields })}\n`);
      resolve();
    };
    const req = http.get({ host: '127.0.0.1', port, path: `/v1/channels/${channel}/manifest`, agent, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => line({ st: 0, error: e.message }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let engaged: boolean | null = null;
        let revision: number | null = null;
        try {
          const m = JSON.parse(text) as { revision?: number; killSwitch?: { engaged?: boolean } };
          engaged = m.killSwitch?.engaged === true;
          revision = typeof m.revision === 'number' ? m.revision : null;
        } catch {
          engaged = null;
        }
        line({ st: res.statusCode, rev: revision, ks: engaged, literal: text.includes(ENGAGED) });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => line({ st: 0, error: e.message }));
  });
}

async function main(): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; !stopping; i++) {
    await poll();
    // On a fixed grid from the start: a slow poll does not push every later one back.
    const wait = t0 + (i + 1) * intervalMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

process.on('SIGTERM', () => {
  stopping = true;
  agent.destroy();
  process.exit(0);
});
main().catch((err: unknown) => {
  process.stderr.write(`poller: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
