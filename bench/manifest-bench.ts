/**
 * make bench: the agent manifest hot path under load, on loopback.
 *
 * Each server variant runs in its own child process; autocannon (100 connections) runs in this process, on the
 * same 2 cores. Absolute numbers depend on the machine, so the table reports each variant relative to the raw
 * node:http baseline measured in the same session. Bounded: 127.0.0.1 only, fixed duration per run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import autocannon from 'autocannon';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const CONNECTIONS = 100;
const MODES = ['raw', 'ringmaster', 'express'] as const;

interface Row {
  mode: string;
  request: '200' | '304';
  reqPerSec: number;
  p50ms: number;
  p99ms: number;
  non2xx: number;
  errors: number;
  ratioToRaw: number;
}

function startServer(mode: string): Promise<{ child: ChildProcess; port: number; etag: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'manifest-server.js'), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolve({ child, ...(JSON.parse(line) as { port: number; etag: string; bytes: number }) });
    });
    child.once('exit', (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
}

async function run(port: number, headers: Record<string, string>): Promise<autocannon.Result> {
  return autocannon({ url: `http://127.0.0.1:${port}/v1/channels/sensor-content/manifest`, connections: CONNECTIONS, duration: DURATION_S, headers });
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  let bytes = 0;
  for (const mode of MODES) {
    const s = await startServer(mode);
    bytes = s.bytes;
    try {
      await run(s.port, {}); // warm-up is not recorded
      for (const request of ['200', '304'] as const) {
        const r = await run(s.port, request === '304' ? { 'if-none-match': s.etag } : {});
        rows.push({ mode, request, reqPerSec: Math.round(r.requests.average), p50ms: r.latency.p50, p99ms: r.latency.p99, non2xx: request === '304' ? r.non2xx - r.requests.total : r.non2xx, errors: r.errors, ratioToRaw: 0 });
      }
    } finally {
      s.child.kill('SIGKILL');
    }
  }
  for (const row of rows) {
    const raw = rows.find((r) => r.mode === 'raw' && r.request === row.request);
    row.ratioToRaw = raw ? Number((row.reqPerSec / raw.reqPerSec).toFixed(2)) : 0;
  }
  console.log(`manifest hot path: ${CONNECTIONS} connections, ${DURATION_S} s per run, ${bytes}-byte signed manifest, loopback`);
  console.log('| server | response | req/s | p50 ms | p99 ms | errors | vs raw node:http |');
  console.log('|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.mode} | ${r.request} | ${r.reqPerSec} | ${r.p50ms} | ${r.p99ms} | ${r.errors + Math.max(0, r.non2xx)} | ${r.ratioToRaw}x |`);
  const target = 1_000_000 / 60;
  const rm = rows.find((r) => r.mode === 'ringmaster' && r.request === '304');
  console.log(`1M agents polling every 60 s need ${Math.round(target)} req/s; ringmaster 304 path: ${rm?.reqPerSec ?? 0} req/s`);
  const outDir = path.resolve(__dirname, '../../bench/results');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, 'manifest.json');
  fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), node: process.version, connections: CONNECTIONS, durationS: DURATION_S, manifestBytes: bytes, rows }, null, 2) + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
