/**
 * `ringctl status`'s exit codes as CI sees them (docs/cli.md#exit-codes): the built `node bin/ringctl.js` as a child
 * process against a real `ringmaster serve` child process on a free loopback port (fresh SQLite data directory, the
 * example tokens and trusted keys, a rollback drain of 1 s, the example artifacts served by the controller itself).
 *
 * One rollout per outcome, each on its own channel: it succeeds (0), is rolled back (3) or aborted (4) by a human,
 * halts because no metrics provider answers (5), waits in a frozen policy past --timeout (6), or fails its pre-flight
 * schema check (7). Also: in progress without --watch (0), an unknown rollout (1), bad usage (2), a 401's hint, and
 * the watch's line-oriented output in the policy's time zone.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { truncate } from '../../controller/cli/table';
import { spawnServe, stopChild } from '../helpers/serve-child';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');
const TOKENS = { viewer: 'ringmaster-example-viewer', deployer: 'ringmaster-example-deployer', admin: 'ringmaster-example-admin' };

const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V']);
    return true;
  } catch {
    return false;
  }
})();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function ringctl(args: string[], env: Record<string, string | undefined>, timeout = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RINGCTL, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const ARTIFACT = `  artifact:
    url: https://updates.example.internal/sensor-content/7.16.291.bin
    sha256: fd9b627a7a5765f6f8924c5efcaadf16524344cc7069c03e99ea7ec31dd58752
    signature: MEIZeox3iQVOYHCmJeILc8CYB2TuFGx38iLBuF9pVXTeLqSe2Fghh9QrkBwnvfHNgGiam3ANt35NVPTfllhWBg==
`;

/** A two-ring rollout of the example artifact; `analysis` is a YAML block (or empty: bake time alone). */
function rollout(name: string, opts: { policy?: string; bake?: string; analysis?: string; automatic?: boolean } = {}): string {
  return `apiVersion: ringmaster.dev/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  channel: ${name}
  version: 7.16.291
  previousVersion: 7.16.290
${ARTIFACT}  policy: ${opts.policy ?? 'default'}
  rings:
    - name: canary-ring-with-a-long-name
      selector:
        matchLabels:
          ring: canary
      bake: ${opts.bake ?? '1s'}
      ramp: none
    - name: full
      percent: 100
      bake: ${opts.bake ?? '1s'}
      ramp: none
${opts.analysis ?? ''}  rollback:
    automatic: ${opts.automatic ?? true}
`;
}

describe('ringctl status exit codes against ringmaster serve', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-exit-codes-'));
  let server: ChildProcess;
  let serverLog = '';
  let url = '';
  const as = (role: keyof typeof TOKENS): Record<string, string> => ({ RINGMASTER_URL: url, RINGMASTER_TOKEN: TOKENS[role] });
  const file = (name: string, text: string): string => {
    const p = path.join(tmp, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const apply = async (name: string, text: string): Promise<void> => {
    const r = await ringctl(['apply', '-f', file(`${name}.yaml`, text)], as('deployer'));
    expect([r.code, r.stderr]).toEqual([0, '']);
  };
  /** Polls the API until the rollout is in one of the phases. */
  const until = async (name: string, phases: string[]): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const r = await ringctl(['get', name, '-o', 'json'], as('viewer'));
      const kind = (JSON.parse(r.stdout || '{}') as { rollout?: { phase: { kind: string } } }).rollout?.phase.kind;
      if (kind !== undefined && phases.includes(kind)) return;
      if (Date.now() > deadline) throw new Error(`${name} is ${kind ?? r.stderr}, not ${phases.join('/')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  };

  beforeAll(async () => {
    ensureBuilt();
    const policies = path.join(tmp, 'policies');
    fs.mkdirSync(policies);
    // Open at all hours, in New York time (the watch shows times in it); and one frozen for the century.
    const open = (name: string, extra = ''): string =>
      `apiVersion: ringmaster.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: ${name}\nspec:\n  timezone: America/New_York\n  allow:\n    - days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]\n      hours: 00:00-24:00\n  requireSignedArtifacts: true\n${extra}`;
    fs.writeFileSync(path.join(policies, 'default.yaml'), open('default'));
    fs.writeFileSync(path.join(policies, 'frozen.yaml'), open('frozen', '  freezes:\n    - from: "2000-01-01T00:00:00"\n      to: "2100-01-01T00:00:00"\n      reason: test freeze\n'));
    const artifacts = path.join(tmp, 'artifacts');
    fs.mkdirSync(artifacts);
    fs.copyFileSync(path.join(ROOT, 'examples/artifacts/sensor-content-7.16.293.json'), path.join(artifacts, 'sensor-content-7.16.293.json'));
    ({ child: server, url } = await spawnServe(['--listen', '127.0.0.1:0', '--data', path.join(tmp, 'data'), '--tokens', path.join(ROOT, 'examples/tokens.yaml'), '--trusted-keys', path.join(ROOT, 'examples/trusted-keys.yaml'), '--policies', policies, '--artifacts', artifacts, '--tick', '100ms', '--rollback-drain', '1s'], (c) => (serverLog += c)));
  }, 60_000);

  afterAll(async () => {
    await stopChild(server);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('succeeded: status --watch exits 0; the log is one line per change, in the policy time zone, no escape codes', async () => {
    await apply('ok-rollout', rollout('ok-rollout'));
    const watch = await ringctl(['status', 'ok-rollout', '--watch', '--interval', '250ms'], as('viewer'));
    expect([watch.code, watch.stderr]).toEqual([0, '']);
    expect(watch.stdout).not.toContain('\x1b');
    const lines = watch.stdout.trimEnd().split('\n');
    // Every line starts with a time in New York (December: -05:00).
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[45]:00 /);
    expect(lines[0]).toMatch(/ watching ok-rollout: ok-rollout 7\.16\.290 -> 7\.16\.291, policy default, phase /);
    expect(lines.at(-1)).toMatch(/ rollout succeeded; watch ended \(exit 0\)$/);
    expect(watch.stdout).toMatch(/ #\d+ progressing -> succeeded \(controller\): /);
    // The same transition is never printed twice.
    const numbers = lines.map((l) => / #(\d+) /.exec(l)?.[1]).filter((n) => n !== undefined);
    expect(new Set(numbers).size).toBe(numbers.length);
    // --utc: the same history in UTC.
    const utc = await ringctl(['status', 'ok-rollout', '--utc'], as('viewer'));
    expect(utc.code).toBe(0);
    expect(utc.stdout).toMatch(/^history \(times in UTC, --utc\):\n {2}#1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC /m);
    const local = await ringctl(['status', 'ok-rollout'], as('viewer'));
    expect(local.stdout).toMatch(/^history \(times in America\/New_York\):\n {2}#1 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T /m);
  }, 40_000);

  test('rolled back by a human: 3 (with and without --watch); aborted: 4', async () => {
    await apply('rb-rollout', rollout('rb-rollout', { bake: '1h' }));
    await until('rb-rollout', ['progressing']);
    expect((await ringctl(['status', 'rb-rollout'], as('viewer'))).code).toBe(0);
    expect((await ringctl(['rollback', 'rb-rollout', '--reason', 'test'], as('admin'))).code).toBe(0);
    const watch = await ringctl(['status', 'rb-rollout', '--watch', '--interval', '200ms'], as('viewer'));
    expect([watch.code, watch.stderr]).toEqual([3, '']);
    expect(watch.stdout).toMatch(/ rolling back: agents revert; drain ends at \S+, then rolled-back\n/);
    expect(watch.stdout).toMatch(/ rollout rolled-back; watch ended \(exit 3\)\n$/);
    expect((await ringctl(['status', 'rb-rollout'], as('viewer'))).code).toBe(3);

    await apply('ab-rollout', rollout('ab-rollout', { bake: '1h' }));
    await until('ab-rollout', ['progressing']);
    expect((await ringctl(['abort', 'ab-rollout', '--reason', 'test'], as('admin'))).code).toBe(0);
    expect((await ringctl(['status', 'ab-rollout', '--watch', '--interval', '200ms'], as('viewer'))).code).toBe(4);
    expect((await ringctl(['status', 'ab-rollout', '-o', 'yaml'], as('viewer'))).code).toBe(4);
  }, 60_000);

  test('halted (no metrics provider answers): 5, and the watch says what to do next', async () => {
    const analysis = '  analysis:\n    interval: 1s\n    noDataGrace: 3s\n    maxConsecutiveErrors: 2\n    metrics:\n      - name: crashes\n        type: crash-rate\n        max: 0.05\n';
    await apply('halt-rollout', rollout('halt-rollout', { bake: '1h', analysis, automatic: false }));
    const watch = await ringctl(['status', 'halt-rollout', '--watch', '--interval', '200ms'], as('viewer'));
    expect([watch.code, watch.stderr]).toEqual([5, '']);
    expect(watch.stdout).toMatch(/ next: ringctl resume halt-rollout {2}or {2}ringctl rollback halt-rollout\n/);
    expect(watch.stdout).toMatch(/ rollout halted; watch ended \(exit 5\)\n$/);
    const status = await ringctl(['status', 'halt-rollout'], as('viewer'));
    expect(status.code).toBe(5);
    expect(status.stdout.split('\n').slice(1, 4)).toEqual(['phase: halted (provider-error)', expect.stringMatching(/^why: /), 'next: ringctl resume halt-rollout  or  ringctl rollback halt-rollout']);
  }, 40_000);

  test('--timeout: a rollout still waiting after D exits 6 with one line; without --watch, in progress is 0', async () => {
    await apply('wait-rollout', rollout('wait-rollout', { policy: 'frozen' }));
    await until('wait-rollout', ['waiting-for-window']);
    expect((await ringctl(['status', 'wait-rollout'], as('viewer'))).code).toBe(0);
    const started = Date.now();
    // --timeout implies --watch, as in kubectl argo rollouts status.
    const r = await ringctl(['status', 'wait-rollout', '--timeout', '1s', '--interval', '200ms'], as('viewer'));
    expect(r.code).toBe(6);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.stderr).toBe('ringctl status: timed out after 1s: rollout wait-rollout is waiting-for-window (ring 0 canary-ring-with-a-long-name)\n');
    expect(r.stdout).toMatch(/ timed out after 1s in phase waiting-for-window; watch ended \(exit 6\)\n$/);
    const bad = await ringctl(['status', 'wait-rollout', '--timeout', 'soon'], as('viewer'));
    expect([bad.code, bad.stderr]).toEqual([2, 'ringctl status: invalid --timeout "soon" (a duration like 30m, or 0 for no limit)\n']);
  }, 30_000);

  test('preflight-failed (the 21-field content): 7', async () => {
    const text = fs
      .readFileSync(path.join(ROOT, 'examples/rollouts/content-malformed.yaml'), 'utf8')
      .replace('url: https://updates.example.internal/sensor-content/7.16.293.json', `url: ${url}/artifacts/sensor-content-7.16.293.json`)
      .replace('channel: sensor-content', 'channel: pf-content');
    await apply('pf', text);
    expect((await ringctl(['status', 'sensor-content-7.16.293', '--watch', '--interval', '200ms'], as('viewer'))).code).toBe(7);
    expect((await ringctl(['status', 'sensor-content-7.16.293', '--json'], as('viewer'))).code).toBe(7);
  }, 30_000);

  test('an unknown rollout is 1, bad usage 2; a 401 says to set RINGMASTER_TOKEN and never prints the token', async () => {
    const missing = await ringctl(['status', 'no-such-rollout'], as('viewer'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ringctl status: 404 not_found: .*\n$/);
    const usage = await ringctl(['status', 'x', '--wacth'], as('viewer'));
    expect([usage.code, usage.stderr]).toEqual([2, "ringctl status: unknown option '--wacth'; did you mean '--watch'? (see ringctl status --help)\n"]);
    const wrong = await ringctl(['get'], { RINGMASTER_URL: url, RINGMASTER_TOKEN: 'not-a-token-s3cr3t' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^ringctl get: 401 \S+: .*; the token was not accepted: check RINGMASTER_TOKEN \(or --token\)\n$/);
    expect(wrong.stderr).not.toContain('s3cr3t');
    const none = await ringctl(['get'], { RINGMASTER_URL: url });
    expect(none.stderr).toMatch(/^ringctl get: 401 \S+: .*; set RINGMASTER_TOKEN \(or --token\) to an API token, or run ringctl login\n$/);
  });

  test('a file that cannot be read is 2 for validate, plan and apply alike; an invalid document is 1', async () => {
    const nope = path.join(tmp, 'nope.yaml');
    const policy = path.join(ROOT, 'policies/default.yaml');
    const validate = await ringctl(['validate', nope], {});
    expect([validate.code, validate.stdout]).toEqual([2, `${nope}:0:0 (document): cannot read file (ENOENT)\n`]);
    expect((await ringctl(['validate', tmp], {})).code).toBe(2);
    const plan = await ringctl(['plan', nope, '--policy', policy], {});
    expect([plan.code, plan.stderr]).toEqual([2, `${nope}:0:0 (document): cannot read file (ENOENT)\n`]);
    expect((await ringctl(['plan', path.join(ROOT, 'examples/rollouts/content-update.yaml'), '--policy', nope], {})).code).toBe(2);
    expect((await ringctl(['apply', '-f', nope], as('deployer'))).code).toBe(2);
    expect((await ringctl(['validate', path.join(ROOT, 'examples/invalid/bad-duration.yaml')], {})).code).toBe(1);
    expect((await ringctl(['plan', path.join(ROOT, 'examples/invalid/bad-duration.yaml'), '--policy', policy], {})).code).toBe(1);
  });

  // A real terminal: tmux at 80x24 (where tmux is installed; the brief's captures use it too).
  (hasTmux ? test : test.skip)(`on a terminal (tmux 80x24): the header at the top, no line wider than 80, Ctrl-C exits 0${hasTmux ? '' : ' (SKIPPED: tmux is not installed)'}`, async () => {
    const name = 'tty-rollout-with-a-name-long-enough-to-push-columns';
    await apply(name, rollout(name, { policy: 'frozen' }));
    await until(name, ['waiting-for-window']);
    const session = `rm-tty-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', `cd ${ROOT} && RINGMASTER_URL=${url} RINGMASTER_TOKEN=${TOKENS.viewer} ${process.execPath} ${RINGCTL} status ${name} --watch --interval 300ms; printf 'EXIT=%s' $?; sleep 30`);
    try {
      let screen = '';
      const deadline = Date.now() + 10_000;
      while (!/\(refreshed /.test(screen) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        screen = tmux('capture-pane', '-p', '-t', session);
      }
      const lines = screen.split('\n');
      // The first line is wider than 80 columns: cut with an ellipsis.
      expect(lines[0]).toBe(truncate(`${name}  ${name} 7.16.290 -> 7.16.291`, 80));
      expect(lines[0]?.endsWith('…')).toBe(true);
      expect(lines[1]).toBe('phase: waiting-for-window');
      for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
      expect(lines[2]).toBe('waiting: test freeze until 2100-01-01T00:00:00-05:00');
      expect(lines.find((l) => l.includes('canary-ring-with-a-long-name'))).toMatch(/^ {2}\[ \] 0 {2}canary-ring-with-a-long-name {2}ring=canary {4}n\/a {2}next: waiting for th…$/);
      // Aligned: the second ring's columns start where the first ring's do.
      expect(lines.find((l) => l.startsWith('  [ ] 1'))).toBe('  [ ] 1  full                          100%           n/a  bake 1s');
      expect(screen).toMatch(/\(refreshed \d\d:\d\d:\d\d America\/New_York, every 0\.3s; Ctrl-C to stop\)/);
      expect(screen).not.toContain('\x1b');
      tmux('send-keys', '-t', session, 'C-c');
      const end = Date.now() + 5_000;
      while (!/EXIT=\d+/.test(screen) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100));
        screen = tmux('capture-pane', '-p', '-t', session);
      }
      expect(screen).toMatch(/EXIT=0/);
      // The header is still there: the last frame left its last row free for the prompt.
      expect(screen.split('\n')[0]).toBe(lines[0]);
    } finally {
      tmux('kill-session', '-t', session);
    }
  }, 30_000);

  test('get and status -o json|yaml|wide; --json is -o json', async () => {
    const json = await ringctl(['get', '-o', 'json'], as('viewer'));
    const alias = await ringctl(['get', '--json'], as('viewer'));
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(alias.stdout));
    const yaml = await ringctl(['get', 'ok-rollout', '-o', 'yaml'], as('viewer'));
    expect(yaml.stdout).toMatch(/^---\nrollout:\n {2}name: ok-rollout\n/);
    const wide = await ringctl(['get', '-o', 'wide'], as('viewer'));
    expect(wide.stdout.split('\n')[0]).toMatch(/^NAME +CHANNEL +VERSION +PHASE +RING +PREVIOUS +POLICY +EXPOSED +ROLLOUT-REV +MANIFEST-REV +AGE +WAITING$/);
    const statusWide = await ringctl(['status', 'ok-rollout', '-o', 'wide'], as('viewer'));
    expect(statusWide.stdout).toMatch(/^ +RING +TARGET +HOSTS +BAKE +MAXBAKE +APPROVAL +STATE$/m);
    const clash = await ringctl(['get', '--json', '-o', 'yaml'], as('viewer'));
    expect([clash.code, clash.stderr]).toEqual([2, 'ringctl get: --json and -o yaml disagree (--json is -o json); give one of them\n']);
  });
});
