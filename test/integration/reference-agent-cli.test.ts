/**
 * `ringmaster-agent` as the README runs it: a real `ringmaster serve --artifacts examples/artifacts` child process on
 * a loopback port, examples/rollouts/local-agent.yaml applied with `ringctl apply` (its URLs moved to that port),
 * then `ringmaster-agent run --once` for a canary-labelled host (the candidate, checked against the publisher keys
 * and the content schema) and for another host (the stable version, seeded by previousArtifact), and
 * `status --json` for each. Also: the daemon mode's /metrics and SIGTERM, a local validation refusal, and the
 * one-line errors and exit codes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../agent/cli';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const AGENT = path.join(ROOT, 'bin', 'ringmaster-agent.js');
const ROLLOUT = path.join(ROOT, 'examples', 'rollouts', 'local-agent.yaml');
const PUBLISHERS = ['ssRLS5eYq4A6JhWrrA/UFTBNuBCiJeLw4KgBsSENMrg=', 'C9zAmXLjKkwMvPYLKsT7xKhQ3421iRFed84JbjNIB6c='];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function node(script: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, RINGMASTER_TOKEN: 'ringmaster-example-deployer' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const agent = (args: string[]): Promise<Run> => node(AGENT, args);

/**
 * The command's own code (agent/cli.ts main, what the launcher runs) in this process, stdout and stderr captured:
 * for the cases that need no process of their own (the README's steps above run the real command).
 */
async function inProcess(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += c.toString()), true));
  const err = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += c.toString()), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** One line on stderr, matching, no stack trace. */
function oneLine(r: Run, re: RegExp): void {
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('ringmaster-agent against ringmaster serve on loopback', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-cli-'));
  let serve: ChildProcess;
  let url = '';
  let key = '';
  const base = (dir: string, host: string, extra: string[] = []): string[] => [
    'run', '--once', '--controller', url, '--channel', 'sensor-content', '--host-id', host, '--pin-key', key, '--dir', path.join(tmp, dir),
    ...PUBLISHERS.flatMap((k) => ['--publisher-key', k]), '--log-level', 'warn', ...extra,
  ];

  beforeAll(async () => {
    ensureBuilt();
    serve = spawn(
      process.execPath,
      [path.join(ROOT, 'bin', 'ringmaster.js'), 'serve', '--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', 'examples/tokens.yaml',
        '--policies', 'examples/live/policies', '--trusted-keys', 'examples/trusted-keys.yaml', '--artifacts', 'examples/artifacts', '--tick', '200ms'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    serve.stderr?.resume();
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), 20_000);
      serve.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const u = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        const k = /manifest signing key ed25519 (\S+)/.exec(out)?.[1];
        if (u !== undefined && k !== undefined) {
          clearTimeout(timer);
          [url, key] = [u, k];
          resolve();
        }
      });
    });
    const doc = fs.readFileSync(ROLLOUT, 'utf8').replaceAll('http://127.0.0.1:8080', url);
    const applied = await node(path.join(ROOT, 'bin', 'ringctl.js'), ['apply', '--server', url, '-f', '-'], doc);
    expect(applied).toMatchObject({ code: 0, stdout: expect.stringContaining('created') as string });
    // Pre-flight passes (schema, signature), then the canary ring starts.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const m = (await (await fetch(`${url}/v1/channels/sensor-content/manifest`)).json()) as { candidates: Array<{ state: string }> };
      if (m.candidates[0]?.state === 'progressing') break;
      if (Date.now() > deadline) throw new Error(`the rollout did not start: ${JSON.stringify(m)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);
  afterAll(async () => {
    if (serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r));
      serve.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('--once installs the candidate for a canary-labelled host and the stable version for another; status --json says so', async () => {
    const canary = await agent(base('canary-1', 'canary-1', ['--label', 'ring=canary', '--validate-schema', 'examples/content/sensor-content.schema.json']));
    expect(canary).toEqual({ code: 0, stdout: `ringmaster-agent: installed 7.16.292 (candidate of sensor-content-7.16.292-local), manifest revision ${/revision (\d+)/.exec(canary.stdout)?.[1]}\n`, stderr: '' });
    const other = await agent(base('host-2', 'host-2'));
    expect(other).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ringmaster-agent: installed 7\.16\.291 \(stable\), manifest revision \d+\n$/) as string, stderr: '' });

    const s1 = JSON.parse((await agent(['status', '--dir', path.join(tmp, 'canary-1'), '--json'])).stdout) as Record<string, unknown>;
    const s2 = JSON.parse((await agent(['status', '--dir', path.join(tmp, 'host-2'), '--json'])).stdout) as Record<string, unknown>;
    process.stdout.write(`canary-1: ${JSON.stringify(s1)}\nhost-2: ${JSON.stringify(s2)}\n`);
    expect(s1).toMatchObject({ version: '7.16.292', sha256: '3965f4d3db75c4efee3ee843a9d6b109db4e8427af6e8f1859f2092196f61982', rollout: 'sensor-content-7.16.292-local', previous: null, bad: [], links: { current: '7.16.292' } });
    expect(s2).toMatchObject({ version: '7.16.291', sha256: 'fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752', rollout: null, links: { current: '7.16.291' } });
    expect(s1.revision).toEqual(expect.any(Number));
    expect(fs.readFileSync(path.join(tmp, 'canary-1', 'current'))).toEqual(fs.readFileSync(path.join(ROOT, 'examples', 'artifacts', 'sensor-content-7.16.292.json')));
    // Again: nothing to do, exit 0, nothing downloaded.
    const again = await inProcess(base('canary-1', 'canary-1', ['--label', 'ring=canary']));
    expect(again).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ringmaster-agent: on 7\.16\.292 \(candidate of sensor-content-7\.16\.292-local\), manifest revision \d+\n$/) as string });
  });

  test('a local validation refusal keeps the host off the candidate, marks it bad, and the next run installs the stable version', async () => {
    const args = base('refuser', 'refuser', ['--label', 'ring=canary', '--validate-exec', '/bin/sh', '--validate-arg', '-c', '--validate-arg', 'if grep -q 7.16.292 "$1"; then echo "21 fields, 20 expected"; exit 3; fi', '--validate-arg', 'sh', '--validate-arg', '{artifact}']);
    const first = await agent(args);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/^ringmaster-agent: update to 7\.16\.292 failed \(validation\): validator sh: .*21 fields, 20 expected.*; on no version, manifest revision \d+\n$/);
    const second = await agent(args);
    expect(second).toMatchObject({ code: 0, stdout: expect.stringMatching(/installed 7\.16\.291 \(stable\)/) as string });
    const s = JSON.parse((await inProcess(['status', '--dir', path.join(tmp, 'refuser'), '--json'])).stdout) as { version: string; bad: Array<{ version: string; reason: string }> };
    expect(s.version).toBe('7.16.291');
    expect(s.bad.map((b) => `${b.version} ${b.reason}`)).toEqual(['7.16.292 validation']);
  });

  test('run (no --once) serves the metrics contract, and stops on SIGTERM with exit 0', async () => {
    const child = spawn(process.execPath, [AGENT, ...base('daemon', 'daemon-1', ['--label', 'ring=canary', '--poll-interval', '1s', '--metrics-listen', '127.0.0.1:0', '--log-level', 'info']).filter((a) => a !== '--once')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no metrics line: ${stderr}`)), 15_000);
      child.stderr?.on('data', (c: Buffer) => {
        stderr += c.toString();
        const a = /metrics on http:\/\/(\S+)\/metrics/.exec(stderr)?.[1];
        if (a !== undefined) {
          clearTimeout(timer);
          resolve(a);
        }
      });
    });
    let text = '';
    for (let i = 0; i < 50 && !text.includes('version="7.16.292",ring="canary"} 1'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      text = await (await fetch(`http://${address}/metrics`)).text();
    }
    expect(text).toContain('ringmaster_agent_hosts{channel="sensor-content",version="7.16.292",ring="canary"} 1');
    for (const reason of ['signature', 'hash', 'download', 'apply', 'validation']) expect(text).toContain(`ringmaster_agent_update_failures_total{channel="sensor-content",version="7.16.292",reason="${reason}"} 0`);
    expect(text).toContain('ringmaster_agent_manifest_refusals_total{channel="sensor-content",reason="replay"} 0');
    expect(text).toMatch(/ringmaster_agent_host_seconds_total\{channel="sensor-content",version="7\.16\.292"\} [0-9.]+/);
    expect(text).toContain('ringmaster_agent_local_rollbacks_total{channel="sensor-content",version="7.16.292"} 0');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr.split('\n').filter((l) => l !== '').every((l) => l.startsWith('{'))).toBe(true);
  });

  test('one-line errors: no pinned key on a first run, bad flags, an empty state directory; an unknown key is refused (exit 1)', async () => {
    const noPin = await agent(['run', '--once', '--controller', url, '--channel', 'sensor-content', '--host-id', 'h', '--dir', path.join(tmp, 'nopin')]);
    expect(noPin.code).toBe(2);
    oneLine(noPin, /^ringmaster-agent: .*nopin\/state\.json: no trusted manifest key yet: the first run needs --pin-key/);
    expect(fs.existsSync(path.join(tmp, 'nopin', 'state.json'))).toBe(false);

    const bad = await inProcess(['run', '--once', '--controller', 'ftp://x', '--channel', 'c', '--host-id', 'h', '--dir', path.join(tmp, 'x'), '--pin-key', key, '--poll-interval', '5 minutes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n').filter((l) => l !== '')).toEqual([
      'ringmaster-agent: --controller: must be http:// or https:// (got "ftp://x")',
      'ringmaster-agent: --poll-interval: invalid duration "5 minutes" (use e.g. 30s, 30m, 2h, 1d, 1h30m)',
    ]);
    const missing = await inProcess(['run', '--once']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^ringmaster-agent: run: --controller is required\n/);

    const empty = await inProcess(['status', '--dir', path.join(tmp, 'nothing-here'), '--json']);
    expect(empty.code).toBe(2);
    oneLine(empty, /^ringmaster-agent: .*nothing-here\/state\.json: no agent state here/);

    const stranger = await inProcess(base('stranger', 'h', []).map((a) => (a === key ? PUBLISHERS[0] as string : a)));
    expect(stranger.code).toBe(1);
    expect(stranger.stdout).toMatch(/^ringmaster-agent: manifest refused \(unknown-key\): manifest signed by key "[0-9a-f]{16}", which this host does not trust; on no version\n$/);
  });
});
