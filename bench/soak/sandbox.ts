/**
 * The soak's sandbox: a temp directory with an always-open policy, one random API token per role, and a
 * data dir; a real `ringmaster serve` child process on 127.0.0.1 that can be killed with SIGKILL and started
 * again on the same data dir and port; and the bookkeeping that removes every process and directory the
 * soak created, whatever way it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

/** The repository root (this file runs from dist/bench/soak/ or, under jest, from bench/soak/). */
export const ROOT = ((): string => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();
export const SOAK_ROLES = ['viewer', 'deployer', 'approver', 'sre', 'admin'] as const;
export type SoakRole = (typeof SOAK_ROLES)[number];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------ cleanup

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let keepDirs = false;

/** Every child the soak starts goes through here, so that an exit of any kind kills it (by its pid). */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function keepTempDirs(keep: boolean): void {
  keepDirs = keep;
}

/** Kills what is still running (SIGKILL, by pid) and removes the temp dirs. Synchronous: safe in 'exit'. */
export function cleanupAll(): string[] {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
  const kept: string[] = [];
  for (const d of dirs) {
    if (keepDirs) kept.push(d);
    else fs.rmSync(d, { recursive: true, force: true });
  }
  dirs.clear();
  return kept;
}

let appRoot_: string | undefined;

/**
 * The ringmaster the soak runs: a copy of bin/ and dist/ taken once, at the first call (node_modules linked).
 * Others rebuild dist/ while a 20-minute soak runs; every restart must run the same build.
 */
export function appRoot(): string {
  if (appRoot_ !== undefined) return appRoot_;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ringmaster-soak-app-'));
  dirs.add(dir);
  fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  appRoot_ = dir;
  return dir;
}

export { freePort } from '../../test/helpers/prometheus';

// ------------------------------------------------------------------------------------------ sandbox

export interface Sandbox {
  dir: string;
  dataDir: string;
  dbFile: string;
  policiesDir: string;
  tokensFile: string;
  tokens: Record<SoakRole, string>;
  /** Token names: the actors the audit log records. */
  actors: Record<SoakRole, string>;
}

export const OPEN_POLICY = [
  'apiVersion: ringmaster.dev/v1alpha1',
  'kind: Policy',
  'metadata: { name: open }',
  'spec:',
  '  timezone: UTC',
  '  allow: [{ days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], hours: "00:00-24:00" }]',
  '  requireSignedArtifacts: false',
  '',
].join('\n');

export function createSandbox(label: string): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ringmaster-soak-${label}-`));
  dirs.add(dir);
  const policiesDir = path.join(dir, 'policies');
  fs.mkdirSync(policiesDir);
  fs.writeFileSync(path.join(policiesDir, 'open.yaml'), OPEN_POLICY);
  const tokens = {} as Record<SoakRole, string>;
  const actors = {} as Record<SoakRole, string>;
  const lines = ['tokens:'];
  for (const role of SOAK_ROLES) {
    tokens[role] = crypto.randomBytes(24).toString('base64url');
    actors[role] = `soak-${role}`;
    lines.push(`  - { name: ${actors[role]}, role: ${role}, sha256: ${crypto.createHash('sha256').update(tokens[role]).digest('hex')} }`);
  }
  const tokensFile = path.join(dir, 'tokens.yaml');
  fs.writeFileSync(tokensFile, `${lines.join('\n')}\n`, { mode: 0o600 });
  const dataDir = path.join(dir, 'data');
  return { dir, dataDir, dbFile: path.join(dataDir, 'ringmaster.db'), policiesDir, tokensFile, tokens, actors };
}

// ------------------------------------------------------------------------------------------ ringmaster serve

export interface ServeOptions {
  tick: string;
  rollbackDrain: string;
}

/** One `ringmaster serve` on a fixed port and data dir; each start is a new process (stdout+stderr to serve.log). */
export class Serve {
  readonly logFile: string;
  private child: ChildProcess | null = null;
  starts = 0;

  constructor(
    readonly sandbox: Sandbox,
    readonly port: number,
    private readonly opts: ServeOptions,
  ) {
    this.logFile = path.join(sandbox.dir, 'serve.log');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process; does not wait for it to be ready. */
  spawn(): void {
    if (this.running) throw new Error('ringmaster serve is already running');
    const fd = fs.openSync(this.logFile, 'a');
    fs.writeSync(fd, `--- soak: start #${++this.starts} at ${new Date().toISOString()}\n`);
    const s = this.sandbox;
    this.child = track(
      spawn(
        process.execPath,
        [
          path.join(appRoot(), 'bin/ringmaster.js'),
          'serve',
          '--listen',
          `127.0.0.1:${this.port}`,
          '--data',
          s.dataDir,
          '--tokens',
          s.tokensFile,
          '--policies',
          s.policiesDir,
          '--tick',
          this.opts.tick,
          '--rollback-drain',
          this.opts.rollbackDrain,
        ],
        { stdio: ['ignore', fd, fd], cwd: s.dir },
      ),
    );
    fs.closeSync(fd);
  }

  /** Spawns and waits until /readyz answers 200; returns how long that took (ms). */
  async start(timeoutMs = 30_000): Promise<number> {
    const t0 = Date.now();
    this.spawn();
    await this.waitReady(timeoutMs);
    return Date.now() - t0;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`ringmaster serve exited (code ${this.child?.exitCode}, signal ${this.child?.signalCode}): ${this.tail()}`);
      const status = await probe(this.port, '/readyz');
      if (status === 200) return;
      await sleep(20);
    }
    throw new Error(`ringmaster serve not ready within ${timeoutMs} ms: ${this.tail()}`);
  }

  /** SIGKILL, by pid; resolves when the process is gone. */
  kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }

  /** SIGTERM (a clean shutdown); returns the exit code, or a signal name when it had to be killed after timeoutMs. */
  stop(timeoutMs = 15_000): Promise<number | string> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve(c?.exitCode ?? 'not running');
    return new Promise((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(code ?? signal ?? 'unknown');
      });
      c.kill('SIGTERM');
    });
  }

  log(): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  tail(n = 6): string {
    return this.log().trim().split('\n').slice(-n).join(' | ');
  }
}

/** GET a path; the status, or 0 when nothing answers. One connection per call. */
export function probe(port: number, p: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Lines of a server log that carry a stack trace, or are errors (pino numeric levels >= 50, or "error"). */
export function logProblems(log: string): { errorLines: string[]; stackLines: string[] } {
  const errorLines: string[] = [];
  const stackLines: string[] = [];
  for (const line of log.split('\n')) {
    if (/"level":\s*("error"|"fatal"|5\d|6\d)/.test(line)) errorLines.push(line);
    if (/"stack"\s*:|^\s+at .+\(.*:\d+:\d+\)|^\s+at [^ ]+:\d+:\d+/.test(line)) stackLines.push(line);
  }
  return { errorLines, stackLines };
}
