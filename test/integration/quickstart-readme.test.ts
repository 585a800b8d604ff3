/**
 * The README's Quick start, run as written: the shell blocks marked `<!-- quickstart: start -->`, `watch` and
 * `approve` in the "### Quick start" section of README.md are extracted from the file and run by bash from the
 * repository root (npx, real processes, real HTTP on loopback, the SQLite store of `agent-sim serve`). The README
 * cannot drift from this test: change a command there and this runs the new one.
 *
 * Two substitutions only, so that the test can run beside anything else on the machine: the port 127.0.0.1:8080
 * becomes a free port, and the data directory /tmp/ringmaster-quickstart a new temp directory. The watch block
 * ("in a second terminal") runs in the background, its output to a file, as a second terminal would.
 *
 * It asserts the flow reaches awaiting-approval, the approval is accepted, the rollout succeeds (in the watch and
 * in the commands' output), the metrics are labelled simulated, the JSON logs go to the log file and not to the
 * terminal, and the server is stopped by the README's own `kill` line (its summary line, its pid file removed).
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureBuilt } from '../helpers/build';
import { freePort } from '../helpers/prometheus';

const ROOT = path.join(__dirname, '..', '..');
const LIMIT_MS = 4 * 60_000;
jest.setTimeout(LIMIT_MS + 60_000);

/** The fenced sh block right after `<!-- quickstart: NAME ... -->` in the Quick start section. */
function quickstartBlock(readme: string, name: string): string {
  const from = readme.indexOf('### Quick start');
  if (from < 0) throw new Error('README.md has no "### Quick start" section');
  const to = readme.indexOf('\n### ', from + 1);
  const section = readme.slice(from, to < 0 ? undefined : to);
  const m = new RegExp(`<!-- quickstart: ${name}\\b[^>]*-->\\s*\\n\`\`\`sh\\n([\\s\\S]*?)\\n\`\`\``).exec(section);
  if (!m) throw new Error(`README.md Quick start: no \`\`\`sh block after <!-- quickstart: ${name} -->`);
  return m[1] as string;
}

/** This process's environment without the given variables (the README sets what it needs). */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

/** Whether `words` appear in `text` in this order. */
function inOrder(text: string, words: string[]): boolean {
  let at = 0;
  for (const w of words) {
    const i = text.indexOf(w, at);
    if (i < 0) return false;
    at = i + w.length;
  }
  return true;
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the README Quick start, run as written, reaches awaiting-approval, is approved and succeeds', async () => {
  ensureBuilt();
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const port = await freePort();
  const qs = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-quickstart-'));
  const sub = (block: string): string => block.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`).replaceAll('/tmp/ringmaster-quickstart', qs);
  const [startBlock, watchBlock, approveBlock] = ['start', 'watch', 'approve'].map((n) => sub(quickstartBlock(readme, n))) as [string, string, string];
  // The substitutions took: nothing of the README's port or directory is left.
  for (const b of [startBlock, watchBlock, approveBlock]) expect(b).not.toMatch(/:8080|\/tmp\/ringmaster-quickstart/);
  const watchOut = path.join(qs, 'watch.out');
  const script = [
    'set -euo pipefail',
    startBlock,
    `( ${watchBlock} ) > ${JSON.stringify(watchOut)} 2>&1 &`,
    'WATCH=$!',
    approveBlock,
    // The watch ends by itself at succeeded; give it a refresh to print it.
    'for _ in $(seq 1 20); do kill -0 "$WATCH" 2>/dev/null || break; sleep 0.5; done',
    'if kill -0 "$WATCH" 2>/dev/null; then echo "quickstart-test: the watch did not end" >&2; kill "$WATCH"; fi',
  ].join('\n');
  fs.writeFileSync(path.join(qs, 'script.sh'), script);

  const t0 = Date.now();
  let out = '';
  // Its own process group: whatever it started is stopped at the end, even if the script hangs.
  const child = spawn('bash', [path.join(qs, 'script.sh')], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: envWithout('RINGMASTER_URL', 'RINGMASTER_TOKEN') });
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => {
    out += '\nquickstart-test: time limit reached, stopping the script\n';
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // already gone
    }
  }, LIMIT_MS);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  // The server got the README's kill as the script's last line: its output ends once it has stopped (its summary
  // line), when every process holding the script's stdout is gone.
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([new Promise((r) => child.once('close', r)), new Promise((r) => (grace = setTimeout(r, 20_000)))]);
  clearTimeout(grace);
  clearTimeout(timer);
  const seconds = (Date.now() - t0) / 1000;
  const pidFile = path.join(qs, 'server.pid');
  // Nothing of the script's group should be left (the README's kill line stopped the server; npx exits just after).
  for (let i = 0; i < 50 && groupAlive(child.pid as number); i++) await new Promise((r) => setTimeout(r, 200));
  const leftOver = groupAlive(child.pid as number);
  if (leftOver) console.log(execFileSync('ps', ['-o', 'pid,stat,args', '-g', String(child.pid)], { encoding: 'utf8' }));
  if (leftOver) process.kill(-(child.pid as number), 'SIGKILL');
  const watch = fs.existsSync(watchOut) ? fs.readFileSync(watchOut, 'utf8') : '';
  const log = fs.existsSync(path.join(qs, 'server.log')) ? fs.readFileSync(path.join(qs, 'server.log'), 'utf8') : '';
  console.log(`quickstart: ${seconds.toFixed(0)} s, exit ${code}\n${out}`);
  try {
    expect({ code, tail: out.slice(-1500) }).toEqual({ code: 0, tail: expect.any(String) });
    // The banner says the metrics are simulated.
    expect(out).toMatch(/agent-sim serve: METRICS ARE SIMULATED: simulated metrics \(agent-sim\), not Prometheus/);
    expect(out).toMatch(/rollout\/quickstart-7\.16\.291 created/);
    // The approval was accepted at the approval step.
    expect(out).toMatch(/rollout\/quickstart-7\.16\.291 approve: awaiting-approval -> progressing/);
    expect(out).toMatch(/kill switch ENGAGED/);
    expect(out).toMatch(/"stable":\{"version":"7\.16\.291"/);
    expect(out).toMatch(/"killSwitch":\{"engaged":true/);
    expect(out).toMatch(/audit chain ok: \d+ entries/);
    // The README's kill line stopped the server cleanly: its summary line, its pid file removed, no process left.
    expect(out).toMatch(/agent-sim serve: stopped: 10,000 simulated hosts took 7\.16\.291/);
    expect(leftOver).toBe(false);
    expect(fs.existsSync(pidFile)).toBe(false);
    // The logs went to the file, not to the terminal: JSON lines there, none in the output.
    expect(out.split('\n').some((l) => l.startsWith('{"level"'))).toBe(false);
    const lines = log.trim().split('\n');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(() => JSON.parse(l) as unknown).not.toThrow();
    expect(log).toMatch(/simulated metrics \(agent-sim\), not Prometheus/);
    // The second terminal saw every step, in order: progressing, awaiting-approval, progressing, succeeded.
    expect(inOrder(watch, ['progressing', 'ring early passed analysis', 'awaiting-approval', 'approve by example-approver: 1% looked fine', 'succeeded'])).toBe(true);
    expect(watch).toMatch(/\[simulated metrics \(agent-sim\), not Prometheus\]/);
    expect(seconds).toBeLessThan(LIMIT_MS / 1000);
  } catch (err) {
    console.log(`watch output (tail):\n${watch.slice(-3000)}\nserver log (tail):\n${log.slice(-3000)}`);
    throw err;
  } finally {
    fs.rmSync(qs, { recursive: true, force: true });
  }
});
