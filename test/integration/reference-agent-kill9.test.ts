/**
 * `kill -9` of the real `ringmaster-agent` (a child process) while it installs a large artifact, at many points
 * from before the download to after the switch: at every kill `DIR/current` resolves to one whole version (its
 * bytes hash to that version's sha256), old or new, never a mix; after a restart of the agent (which repairs
 * what the kill left half done), `status --json` names the same version the symlink resolves to.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../agent/cli';
import { VirtualClock } from '../../controller/runtime/clock';
import { ensureBuilt } from '../helpers/build';
import { activeBytes, MIN, openLab, rolloutOf, type Lab } from './reference-agent-harness';


const ROOT = path.join(__dirname, '..', '..');
const AGENT = path.join(ROOT, 'bin', 'ringmaster-agent.js');
const SIZE = 16 * 1024 * 1024;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When each log message was seen (ms since the spawn), by its first words. */
  seen: Record<string, number>;
}

/** The two log lines kills are timed from: the manifest accepted (the download starts) and the switch done. */
const MARKS = { accepted: /^manifest revision \d+ accepted$/, installed: /^installed / } as const;
type Mark = keyof typeof MARKS;

/** Runs the agent; with `kill`, sends SIGKILL `ms` after the log line `after` appears. */
function agent(args: string[], kill?: { after: Mark; ms: number }): Promise<Exit> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [AGENT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    const seen: Record<string, number> = {};
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      const from = stderr.length;
      stderr += c.toString();
      for (const line of stderr.slice(stderr.lastIndexOf('\n', from) + 1).split('\n')) {
        let msg: string;
        try {
          msg = String((JSON.parse(line) as { msg?: unknown }).msg);
        } catch {
          continue;
        }
        for (const [mark, re] of Object.entries(MARKS)) {
          if (!re.test(msg) || seen[mark] !== undefined) continue;
          seen[mark] = Date.now() - started;
          if (kill?.after === mark) timer = setTimeout(() => child.kill('SIGKILL'), kill.ms);
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, seen });
    });
  });
}

/**
 * The command's own code in this process (agent/cli.ts main, what bin/ringmaster-agent.js runs), its stdout
 * captured: the restarts and the status reads, which need no separate process (the killed one is).
 */
async function inProcess(argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    return { code: await main(argv), stdout };
  } finally {
    out.mockRestore();
  }
}

async function status(dir: string): Promise<{ version: string | null; sha256: string | null; links: { current: string | null } }> {
  const r = await inProcess(['status', '--dir', dir, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { version: string | null; sha256: string | null; links: { current: string | null } };
}

describe('ringmaster-agent: kill -9 during an install', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-kill9-'));
  let lab: Lab;
  const sha: Record<string, string> = {};
  const template = path.join(tmp, 'template');
  const args = (dir: string, controller: string): string[] => [
    'run', '--once', '--controller', controller, '--channel', 'sensor-content', '--host-id', 'h1', '--label', 'ring=canary',
    '--pin-key', lab.pin()[0]?.publicKey as string, '--dir', dir, '--log-level', 'info',
  ];

  beforeAll(async () => {
    ensureBuilt();
    // The agents run on the real clock: the lab's virtual clock starts 2 h behind it and moves less than that.
    lab = await openLab({ clock: new VirtualClock(Date.now() - 2 * 3_600_000) });
    for (const v of ['7.16.291', '7.16.292']) {
      const bytes = crypto.randomBytes(SIZE);
      sha[v] = crypto.createHash('sha256').update(bytes).digest('hex');
      lab.artifact(`c-${v}.bin`, bytes);
    }
    const art = (v: string) => ({ url: `${lab.url}/artifacts/c-${v}.bin`, sha256: sha[v] as string });
    await lab.controller.applyRollout(rolloutOf('r291', '7.16.291', '7.16.290', art('7.16.291')), 'alice');
    await lab.advance(MIN);
    const first = await agent(args(template, lab.url));
    expect(first.code).toBe(0);
    await lab.advance(25 * MIN);
    expect(lab.controller.getRollout('r291')?.phase.kind).toBe('succeeded');
    await lab.controller.applyRollout(rolloutOf('r292', '7.16.292', '7.16.291', art('7.16.292')), 'alice');
    await lab.advance(MIN);
  }, 120_000);
  afterAll(async () => {
    await lab.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('kills from the download to after the switch leave one whole version active, and status agrees after a restart', async () => {
    // An uninterrupted install, to time the kills: from the accepted manifest to the switch.
    const whole = path.join(tmp, 'whole');
    fs.cpSync(template, whole, { recursive: true, verbatimSymlinks: true });
    const full = await agent(args(whole, lab.url));
    expect(full.code).toBe(0);
    expect(activeBytes(whole)).toEqual({ version: '7.16.292', sha256: sha['7.16.292'] });
    const span = (full.seen.installed as number) - (full.seen.accepted as number);
    expect(span).toBeGreaterThan(0);
    // 10 kills spread over the download, the hash and the write; 3 right after the switch (start, state, prune).
    const plan = [
      ...Array.from({ length: 10 }, (_, i) => ({ after: 'accepted' as const, ms: Math.round((span * i) / 10) })),
      ...[0, 5, 15].map((ms) => ({ after: 'installed' as const, ms })),
    ];
    const outcomes: string[] = [];
    for (const [i, kill] of plan.entries()) {
      const dir = path.join(tmp, `kill-${i}`);
      fs.cpSync(template, dir, { recursive: true, verbatimSymlinks: true });
      const killed = await agent(args(dir, lab.url), kill);
      // At the kill: the symlink resolves to whole bytes of one version.
      const atKill = activeBytes(dir);
      expect([i, atKill?.sha256]).toEqual([i, sha[atKill?.version as string]]);
      // A restart with no controller to talk to: it repairs what the kill left, then its poll fails (exit 1).
      const restart = await inProcess([...args(dir, 'http://127.0.0.1:9'), '--log-level', 'silent']);
      expect([i, restart.code]).toEqual([i, 1]);
      const after = activeBytes(dir);
      const s = await status(dir);
      expect([i, after?.sha256]).toEqual([i, sha[after?.version as string]]);
      expect([i, s.version, s.sha256, s.links.current]).toEqual([i, after?.version, after?.sha256, after?.version]);
      expect(fs.readdirSync(path.join(dir, 'versions')).filter((n) => n.startsWith('.'))).toEqual([]);
      outcomes.push(`${killed.signal === 'SIGKILL' ? 'killed' : `exited ${killed.code}`} ${kill.ms} ms after ${kill.after}: ${atKill?.version} -> ${after?.version}`);
    }
    process.stdout.write(`install span ${span} ms\n${outcomes.join('\n')}\n`);
    expect(outcomes.filter((o) => o.startsWith('killed')).length).toBeGreaterThanOrEqual(10);
    // Kills before the switch left the old version, kills after it the new one.
    expect(outcomes[0]).toMatch(/: 7\.16\.291 -> 7\.16\.291$/);
    expect(outcomes[plan.length - 3]).toMatch(/-> 7\.16\.292$/);
    // A killed agent, run again against the controller, finishes the install.
    const first = path.join(tmp, 'kill-0');
    expect((await agent(args(first, lab.url))).code).toBe(0);
    expect(activeBytes(first)).toEqual({ version: '7.16.292', sha256: sha['7.16.292'] });
  }, 120_000);
});
