/** The alert rules pass `promtool check rules` and their unit tests (`promtool test rules`). */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const PROMTOOL = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

function promtool(args: string[]): { status: number | null; out: string } {
  if (!fs.existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} not found: run \`make prometheus\` (installs the Debian prometheus package)`);
  const r = spawnSync(PROMTOOL, args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('promtool check rules', () => {
  const r = promtool(['check', 'rules', 'charts/ringmaster/files/ringmaster-alerts.yaml']);
  expect(r.out).toMatch(/SUCCESS: 4 rules found/);
  expect(r.status).toBe(0);
});

test('promtool test rules: every alert fires when it should and not before', () => {
  const tests = fs.readdirSync(path.join(ROOT, 'test', 'alerts')).filter((f) => f.endsWith('.test.yaml')).map((f) => path.join('test', 'alerts', f));
  expect(tests.length).toBeGreaterThan(0);
  const r = promtool(['test', 'rules', ...tests]);
  expect(r.out).not.toMatch(/FAILED/);
  expect(r.status).toBe(0);
  const rules = fs.readFileSync(path.join(ROOT, 'charts/ringmaster/files/ringmaster-alerts.yaml'), 'utf8');
  const tested = tests.map((t) => fs.readFileSync(path.join(ROOT, t), 'utf8')).join('\n');
  for (const alert of ['RingmasterRolloutHalted', 'RingmasterKillSwitchEngaged', 'RingmasterAnalysisNoData', 'RingmasterControllerDown']) {
    expect(rules).toContain(`alert: ${alert}`);
    expect(tested).toContain(`alertname: ${alert}`);
  }
});
