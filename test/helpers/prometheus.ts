/**
 * A real Prometheus server (the Debian package) for integration tests: a temp config and TSDB, loopback only,
 * a short scrape interval. `kill()` SIGKILLs it to simulate an outage; `stop()` shuts it down cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export interface RunningPrometheus {
  url: string;
  port: number;
  /** SIGKILL: the outage case. */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the hung case (connections are accepted by the kernel, nothing answers). */
  pause(): void;
  resume(): void;
  /** Sends a signal: SIGSTOP hangs the server (connections are accepted by the kernel, nothing answers), SIGCONT resumes it. */
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
  /** Instant query; the raw `data.result` of a success, or throws. */
  query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** Polls until `promql` returns at least one sample satisfying `ok` (default: any). */
  waitFor(promql: string, ok?: (v: number) => boolean, timeoutMs?: number): Promise<number>;
  logs(): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function startPrometheus(opts: { targets: string[]; scrapeInterval?: string; job?: string }): Promise<RunningPrometheus> {
  if (!fs.existsSync(PROMETHEUS_BIN)) throw new Error(`${PROMETHEUS_BIN} not found: run \`make prometheus\` (installs the Debian prometheus package)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-prom-'));
  const interval = opts.scrapeInterval ?? '1s';
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'scrape_configs:',
    `  - job_name: ${opts.job ?? 'agents'}`,
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    '    static_configs:',
    `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  let logs = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (c: Buffer) => (logs += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (logs += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${logs.slice(-500)}`);
    try {
      if ((await fetch(`${url}/-/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`prometheus did not become ready: ${logs.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cleanup = (): void => fs.rmSync(dir, { recursive: true, force: true });
  const query: RunningPrometheus['query'] = async (promql) => {
    const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error ?? res.status}`);
    return body.data.result;
  };
  return {
    url,
    port,
    logs: () => logs,
    query,
    async waitFor(promql, ok = () => true, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const r = await query(promql);
        const v = r[0] ? Number(r[0].value[1]) : undefined;
        if (v !== undefined && ok(v)) return v;
        if (Date.now() > until) throw new Error(`timed out waiting for ${promql} (last ${String(v)})`);
        await new Promise((res) => setTimeout(res, 200));
      }
    },
    signal(sig) {
      if (child.exitCode === null) child.kill(sig);
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      cleanup();
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      cleanup();
    },
  };
}
