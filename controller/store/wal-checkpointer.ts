/**
 * WAL checkpoints off the event loop. better-sqlite3 is synchronous, and SQLite's automatic checkpoint runs
 * inside the commit that crosses `wal_autocheckpoint` pages: it copies the WAL into the database file and fsyncs
 * it, which measured 100-350 ms on this machine while thousands of rollouts were ticking. Every manifest request
 * waits behind it. So the controller turns the automatic checkpoint off on its own connection and runs PASSIVE
 * checkpoints from a worker thread with a second connection to the same file: they never block the writer, the
 * readers, or the event loop. The last connection to close checkpoints what is left, as SQLite always does.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const run = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
};
const timer = setInterval(run, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') { clearInterval(timer); db.close(); parentPort.postMessage({ stopped: true }); }
});
`;

export class WalCheckpointer {
  private readonly worker: Worker;
  private lastError: string | undefined;

  constructor(file: string, intervalMs = 1000) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, intervalMs, driver: require.resolve('better-sqlite3') } });
    this.worker.on('message', (m: { error?: string }) => {
      if (m.error) this.lastError = m.error;
    });
    this.worker.on('error', (err) => {
      this.lastError = err.message;
    });
    this.worker.unref();
  }

  /** The last checkpoint failure, if any (a busy database is retried on the next interval). */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Stops the worker and closes its connection (the caller's close then checkpoints the rest). */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => resolve();
      this.worker.once('exit', done);
      this.worker.once('message', () => void this.worker.terminate());
      this.worker.postMessage('stop');
      setTimeout(() => void this.worker.terminate(), 2000).unref();
    });
  }
}
