/**
 * Hostile request bodies against a real `ringmaster serve` on loopback (issue 9, item 4).
 *
 * For each shape (80,000 distinct keys, an 80,000-element flow sequence, deep nesting, a long scalar, many
 * documents, anchors and aliases...), all under the 1 MiB body limit, it POSTs the body to /v1/rollouts as a
 * deployer while a separate process polls /healthz, a channel manifest and the kill switch every 100 ms, and
 * reports how long the POST took, its status, and the slowest poll. A blocked event loop shows as a slow poll.
 *
 *   node dist/bench/hostile-bodies.js [--root DIR] [--only SHAPE,...] [--timeout-s 120]
 *
 * `--root` runs the binaries of another checkout (its dist/ must be built), to measure before and after.
 * The test test/integration/hostile-body.test.ts uses the same server and poller.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';

export const MAX_BODY_BYTES = 1024 * 1024;
export const DEPLOYER_TOKEN = 'ringmaster-example-deployer';
export const SRE_TOKEN = 'ringmaster-example-sre';
export const VIEWER_TOKEN = 'ringmaster-example-viewer';
export const CHANNEL = 'hostile-ch';

const HEAD = 'apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: hostile\n';

/** The bodies, each under MAX_BODY_BYTES. */
export const SHAPES: Record<string, () => string> = {
  /** The measured case of issue 9: 80,000 distinct keys (block mapping). */
  'keys-80k': () => HEAD + Array.from({ length: 80_000 }, (_, i) => `k${String(i).padStart(6, '0')}: 1\n`).join(''),
  /** The same in JSON (JSON is YAML: the same parser). */
  'json-keys-80k': () => `{${Array.from({ length: 80_000 }, (_, i) => `"k${String(i).padStart(6, '0')}":1`).join(',')}}`,
  /** 80,000 keys in a nested flow mapping. */
  'flow-map-80k': () => `${HEAD}spec: {${Array.from({ length: 80_000 }, (_, i) => `k${i}: 1`).join(', ')}}\n`,
  /** An 80,000-element flow sequence. */
  'flow-seq-80k': () => `${HEAD}spec:\n  rings: [${Array.from({ length: 80_000 }, () => '1').join(', ')}]\n`,
  /** As many elements as fit: `[0,0,0,...]`, about 520,000. */
  'flow-seq-max': () => `[${'0,'.repeat((MAX_BODY_BYTES - 16) / 2)}0]`,
  /** 80,000 block sequence items. */
  'block-seq-80k': () => `${HEAD}spec:\n  rings:\n${'  - a\n'.repeat(80_000)}`,
  /** Flow nesting as deep as fits. */
  'deep-flow': () => '['.repeat(MAX_BODY_BYTES - 16),
  /** Block nesting: 1,000 levels of indented mappings. */
  'deep-block': () => Array.from({ length: 1_000 }, (_, i) => `${' '.repeat(i)}a:\n`).join(''),
  /** One scalar of 1,000,000 characters. */
  'long-scalar': () => `${HEAD}spec:\n  channel: ${'a'.repeat(1_000_000)}\n`,
  /** One quoted scalar of 1,000,000 characters full of escapes. */
  'long-escaped': () => `${HEAD}spec:\n  channel: "${'\\u00e9'.repeat(170_000)}"\n`,
  /** 250,000 empty documents. */
  'many-docs': () => '---\n'.repeat(250_000),
  /** 40,000 small documents. */
  'many-small-docs': () => '--- {a: 1}\n'.repeat(90_000),
  /** A billion-laughs alias bomb. */
  'alias-bomb': () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    return `${lines.join('\n')}\n`;
  },
  /** One wide anchor (10,000 keys) aliased 80 times: each alias is cheap to write, costly to expand. */
  'wide-alias': () => `base: &b {${Array.from({ length: 10_000 }, (_, i) => `k${i}: 1`).join(', ')}}\n${Array.from({ length: 80 }, (_, i) => `c${i}: *b\n`).join('')}`,
  /** 80,000 anchors and 80,000 aliases. */
  'many-anchors': () => `${Array.from({ length: 40_000 }, (_, i) => `- &a${i} x\n- *a${i}\n`).join('')}`,
  /** 80,000 duplicate keys. */
  'dup-keys': () => `${HEAD}${'k: 1\n'.repeat(80_000)}`,
};

export interface Serve {
  url: string;
  port: number;
  child: ChildProcess;
  dataDir: string;
  stderr: () => string;
  stop(): Promise<void>;
}

/** An always-open policy, so that a rollout starts at once and its channel has a manifest. */
function writePolicy(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'default.yaml'),
    'apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: default\nspec:\n  timezone: UTC\n' +
      '  allow:\n    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]\n      hours: "00:00-24:00"\n  requireSignedArtifacts: false\n',
  );
}

/** `ringmaster serve` of `root` (its bin/ and dist/) on 127.0.0.1, port chosen by the OS, example tokens. */
export async function startServe(root: string): Promise<Serve> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-hostile-'));
  const policies = path.join(tmp, 'policies');
  writePolicy(policies);
  const dataDir = path.join(tmp, 'data');
  const child = spawn(
    process.execPath,
    [path.join(root, 'bin', 'ringmaster.js'), 'serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--policies', policies, '--tokens', path.join(root, 'examples', 'tokens.yaml'), '--tick', '200ms'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  const deadline = Date.now() + 20_000;
  while (!/listening on http:\/\/\S+:(\d+)/.test(out)) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`serve did not start: ${out} ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const port = Number(/listening on http:\/\/\S+:(\d+)/.exec(out)?.[1]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    dataDir,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  body: string;
  ms: number;
}

/** One request over a fresh loopback connection; `timeoutMs` bounds the wait for the whole response. */
export function request(port: number, method: string, p: string, opts: { body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: p, agent: false, headers: { ...(body ? { 'Content-Length': String(body.length) } : {}), ...opts.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error(`${method} ${p}: no response within ${opts.timeoutMs ?? 120_000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A small valid rollout on CHANNEL (bake only, no metrics, unsigned: the scratch policy allows it). */
export function validRollout(name: string): string {
  return (
    `apiVersion: ringmaster.dev/v1alpha1\nkind: Rollout\nmetadata:\n  name: ${name}\nspec:\n  channel: ${CHANNEL}\n  version: 1.0.1\n  previousVersion: 1.0.0\n` +
    `  artifact:\n    url: https://updates.example.internal/x.bin\n    sha256: ${'a'.repeat(64)}\n  rings:\n    - name: all\n      percent: 100\n      bake: 24h\n`
  );
}

export function postRollout(port: number, body: string, opts: { contentType?: string; timeoutMs?: number } = {}): Promise<HttpResult> {
  return request(port, 'POST', '/v1/rollouts', {
    body,
    headers: { Authorization: `Bearer ${DEPLOYER_TOKEN}`, 'Content-Type': opts.contentType ?? 'application/yaml' },
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
  });
}

export interface PollReport {
  /**
   * Per target: polls answered, the slowest poll, polls slower than 1 s (an unanswered one included), polls still
   * unanswered 1 s after the end, polls that failed to connect, and the statuses seen.
   */
  targets: Record<string, { polls: number; maxMs: number; over1s: number; unanswered: number; errors: number; statuses: Record<string, number> }>;
}

/**
 * A separate process that GETs each path every `everyMs`, each poll on its own connection, started on time
 * whether or not the previous one has answered (so a blocked server shows as slow answers, not fewer polls).
 * `stop()` ends the polling, gives the polls in flight 1 s more, and returns what it saw.
 */
export function startPoller(port: number, paths: string[], everyMs = 100): { stop(): Promise<PollReport> } {
  const code = `
const http = require('node:http');
const [port, every, ...paths] = process.argv.slice(1);
const t = {};
for (const p of paths) t[p] = { polls: 0, maxMs: 0, over1s: 0, errors: 0, statuses: {}, pending: new Map() };
function poll(p) {
  const s = t[p], started = performance.now(), id = Symbol();
  s.pending.set(id, started);
  const done = (status) => {
    if (!s.pending.delete(id)) return;
    const ms = performance.now() - started;
    if (status === 0) { s.errors++; return; }
    s.polls++; s.maxMs = Math.max(s.maxMs, ms); if (ms > 1000) s.over1s++;
    s.statuses[status] = (s.statuses[status] || 0) + 1;
  };
  const req = http.get({ host: '127.0.0.1', port: Number(port), path: p, agent: false, headers: { Authorization: 'Bearer ${VIEWER_TOKEN}' } }, (res) => { res.resume(); res.on('end', () => done(res.statusCode)); });
  req.on('error', () => done(0));
}
const timer = setInterval(() => paths.forEach(poll), Number(every));
process.stdin.on('data', async () => {
  clearInterval(timer);
  // Polls in flight get up to 1 s more to answer; one still unanswered then waited longer than 1 s.
  const until = performance.now() + 1000;
  while (paths.some((p) => t[p].pending.size > 0) && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  const now = performance.now();
  for (const p of paths) {
    const s = t[p];
    for (const started of s.pending.values()) { s.maxMs = Math.max(s.maxMs, now - started); s.over1s++; }
    s.unanswered = s.pending.size;
    delete s.pending;
  }
  process.stdout.write(JSON.stringify({ targets: t }) + '\\n');
  process.exit(0);
});
process.stdout.write('ready\\n');
`;
  const child = spawn(process.execPath, ['-e', code, String(port), String(everyMs), ...paths], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  return {
    stop: () =>
      new Promise<PollReport>((resolve, reject) => {
        child.once('exit', () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) resolve(JSON.parse(line) as PollReport);
          else reject(new Error(`poller said: ${out}`));
        });
        child.stdin?.write('stop\n');
      }),
  };
}

/** A poller that has started polling (its first polls sent). */
export async function startedPoller(port: number, paths: string[], everyMs = 100): Promise<{ stop(): Promise<PollReport> }> {
  const p = startPoller(port, paths, everyMs);
  await new Promise((r) => setTimeout(r, 300));
  return p;
}

// ------------------------------------------------------------------------------------------ main

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const root = path.resolve(arg('root') ?? path.join(__dirname, '..', '..'));
  const only = arg('only')?.split(',');
  const timeoutMs = Number(arg('timeout-s') ?? 120) * 1000;
  const serve = await startServe(root);
  const rows: string[] = [];
  try {
    const applied = await postRollout(serve.port, validRollout('steady'));
    if (applied.status !== 201) throw new Error(`the valid rollout was refused: ${applied.status} ${applied.body}`);
    const manifest = `/v1/channels/${CHANNEL}/manifest`;
    for (let i = 0; i < 50 && (await request(serve.port, 'GET', manifest)).status !== 200; i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`ringmaster serve of ${root}, node ${process.version}; polls every 100 ms from a separate process`);
    console.log('| shape | body bytes | POST status | POST s | slowest /healthz ms | slowest manifest ms | slowest killswitch ms | polls > 1 s | first error line |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const [name, make] of Object.entries(SHAPES)) {
      if (only && !only.includes(name)) continue;
      const body = make();
      const bytes = Buffer.byteLength(body);
      if (bytes > MAX_BODY_BYTES) throw new Error(`${name}: ${bytes} bytes is over the limit`);
      const poller = await startedPoller(serve.port, ['/healthz', manifest, '/v1/killswitch']);
      let status = 'none';
      let seconds = '';
      let line = '';
      try {
        const r = await postRollout(serve.port, body, { timeoutMs, ...(name.startsWith('json') ? { contentType: 'application/json' } : {}) });
        status = String(r.status);
        seconds = (r.ms / 1000).toFixed(2);
        try {
          const e = (JSON.parse(r.body) as { error?: { details?: string[]; message?: string } }).error;
          line = (e?.details?.[0] ?? e?.message ?? '').slice(0, 110);
        } catch {
          line = r.body.slice(0, 80);
        }
      } catch (err) {
        status = 'timeout';
        seconds = `> ${timeoutMs / 1000}`;
        line = err instanceof Error ? err.message : String(err);
      }
      await new Promise((r) => setTimeout(r, 300));
      const rep = await poller.stop();
      const t = (p: string) => rep.targets[p] ?? { polls: 0, maxMs: 0, over1s: 0 };
      const over = Object.values(rep.targets).reduce((a, s) => a + s.over1s, 0);
      const row = `| ${name} | ${bytes} | ${status} | ${seconds} | ${t('/healthz').maxMs.toFixed(0)} | ${t(manifest).maxMs.toFixed(0)} | ${t('/v1/killswitch').maxMs.toFixed(0)} | ${over} | ${line.replace(/\|/g, '\\|')} |`;
      rows.push(row);
      console.log(row);
      if (status === 'timeout') {
        console.log('(the server is still busy with that body; stopping here)');
        break;
      }
    }
  } finally {
    await serve.stop();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(`hostile-bodies: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
