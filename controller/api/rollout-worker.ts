/**
 * The worker thread that loads large POST /v1/rollouts bodies (rollout-input.ts), so that no body holds the
 * server's event loop. It runs the same loader as the server would in place; what it returns is plain data.
 */
import { parentPort } from 'node:worker_threads';
import { loadInPlace } from './rollout-input';

parentPort?.on('message', (m: { id: number; text: string }) => {
  parentPort?.postMessage({ id: m.id, result: loadInPlace(m.text) });
});
