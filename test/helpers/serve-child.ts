/** A real `ringmaster serve` child process (bin/ringmaster.js), started once it prints its listening line. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Spawns `node bin/ringmaster.js serve ARGS` in the repository and resolves to the child and its URL once it prints
 * `listening on URL`. Its stderr (the JSON log) goes to `onLog`, chunk by chunk, also after the start.
 */
export function spawnServe(args: string[], onLog: (chunk: string) => void = () => undefined, timeoutMs = 20_000): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'ringmaster.js'), 'serve', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => {
    log += c.toString();
    onLog(c.toString());
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${log}`)), timeoutMs);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1] as string });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${log}`)));
  });
}

/** SIGTERM to a child that is still running, and its exit. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
