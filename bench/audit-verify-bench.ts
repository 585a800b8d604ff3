/**
 * The audit log's start-up verify at scale: builds a real SQLite store of N entries (default 100,000, signed
 * checkpoints every 100) on disk, then times Store.verifyAuditLog (every entry re-hashed, every checkpoint's
 * signature checked) and verifyAuditOnOpen as `ringmaster serve` runs it. One process, nothing else running
 * in it; prints a table and writes bench/results/audit-verify.json.
 *
 *   node dist/bench/audit-verify-bench.js [ENTRIES]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOrCreateAuditSigner } from '../controller/store/audit-key';
import { verifyAuditOnOpen } from '../controller/store/audit-open';
import { Store } from '../controller/store/store';
import { silentLogger } from '../controller/telemetry/log';

const ENTRIES = Number(process.argv[2] ?? 100_000);
const RUNS = 5;

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-audit-bench-'));
  try {
    const signer = loadOrCreateAuditSigner(dir);
    const file = path.join(dir, 'ringmaster.db');
    const store = Store.open(file, { audit: { signer, every: 100 } });
    let t = process.hrtime.bigint();
    store.transaction(() => {
      for (let i = 1; i <= ENTRIES; i++) {
        // The shapes the controller writes most: manifest publications and transitions.
        if (i % 3 === 0) store.appendAudit({ actor: 'controller', action: 'rollout.transition', target: `rollout-${i % 97}`, reason: 'bake passed', payload: { from: 'baking', to: 'starting-ring', ring: i % 4 } });
        else store.appendAudit({ actor: 'controller', action: 'manifest.publish', target: 'channel/sensor-content', reason: `revision ${i}`, payload: { channel: 'sensor-content', revision: i, contentHash: 'ab'.repeat(32) } });
      }
    });
    const appendMs = Number(process.hrtime.bigint() - t) / 1e6;
    store.close();
    const bytes = fs.statSync(file).size + (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);

    const reopened = Store.open(file, { audit: { signer, every: 100 } });
    const verifyMs: number[] = [];
    let checkpoints = 0;
    for (let r = 0; r < RUNS; r++) {
      t = process.hrtime.bigint();
      const v = reopened.verifyAuditLog();
      verifyMs.push(Number(process.hrtime.bigint() - t) / 1e6);
      if (!v.ok || v.entries !== ENTRIES) throw new Error(`verify failed: ${JSON.stringify(v.breaks[0])}`);
      checkpoints = v.checkpoints.valid;
    }
    t = process.hrtime.bigint();
    const opened = verifyAuditOnOpen(reopened, { log: silentLogger });
    const onOpenMs = Number(process.hrtime.bigint() - t) / 1e6;
    if (opened.status !== 'ok') throw new Error(opened.line);
    reopened.close();

    const sorted = [...verifyMs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    const result = {
      entries: ENTRIES,
      checkpoints,
      dbBytes: bytes,
      appendMs: Math.round(appendMs),
      verifyMs: verifyMs.map((x) => Math.round(x)),
      verifyMedianMs: Math.round(median),
      entriesPerSecond: Math.round(ENTRIES / (median / 1000)),
      verifyOnOpenMs: Math.round(onOpenMs),
      node: process.version,
      cpus: os.cpus().length,
      at: new Date().toISOString(),
    };
    process.stdout.write(
      [
        `audit verify, ${ENTRIES} entries, ${checkpoints} signed checkpoints, ${(bytes / 1e6).toFixed(1)} MB on disk (node ${process.version}, ${os.cpus().length} cpus)`,
        `  append (one transaction)   ${result.appendMs} ms`,
        `  full verify, ${RUNS} runs       ${result.verifyMs.join(', ')} ms (median ${result.verifyMedianMs} ms, ${result.entriesPerSecond} entries/s)`,
        `  verifyAuditOnOpen          ${result.verifyOnOpenMs} ms`,
        '',
      ].join('\n'),
    );
    const out = path.join(__dirname, '..', '..', 'bench', 'results', 'audit-verify.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
