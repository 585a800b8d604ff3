/**
 * The dashboard in a real browser (Debian chromium driven by playwright-core), all real processes on loopback:
 * Prometheus scrapes agent-sim, `ringmaster serve` judges a healthy canary from it and serves /ui/ and /v1/events.
 *   - the page (as sre) sees the rollout progress live, without a reload (the SSE stream drives it);
 *   - the kill switch, confirmed with a typed reason, halts every rollout, and the page shows it;
 *   - a viewer sees no mutating button at all; the server refuses the viewer's POST anyway.
 * Screenshots go to docs/img/ when RINGMASTER_SCREENSHOTS=1 (how the committed ones were taken).
 */
import { type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import { freePort, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

jest.setTimeout(120_000);
const ROOT = path.join(__dirname, '..', '..');
const SRE = 'ringmaster-example-sre';
const VIEWER = 'ringmaster-example-viewer';
const DEPLOYER = 'Bearer ringmaster-example-deployer';
const NAME = 'sensor-content-7.16.291-live';
const SHOTS = process.env.RINGMASTER_SCREENSHOTS === '1';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function openAs(browser: Browser, url: string, token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${url}/ui/`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('body[data-ready=true]', { timeout: 10_000 });
  return page;
}

test('the dashboard follows a rollout live, the sre engages the kill switch, a viewer has no mutating button', async () => {
  ensureBuilt();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-ui-'));
  const [controllerPort, agentPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${controllerPort}`;
  const scenario = path.join(tmp, 'healthy.yaml');
  const ex = (p: string): string => path.join(ROOT, 'examples', p);
  fs.writeFileSync(
    scenario,
    fs
      .readFileSync(ex('scenarios/live-bad-update.yaml'), 'utf8')
      .replace('../rollouts/live-content-update.yaml', ex('rollouts/live-content-update.yaml'))
      .replace('../live/policies/anytime.yaml', ex('live/policies/anytime.yaml'))
      .replace('../trusted-keys.yaml', ex('trusted-keys.yaml'))
      .replace('../artifacts/sensor-content-7.16.291.bin', ex('artifacts/sensor-content-7.16.291.bin'))
      .replace('crashOnBoot: 0.95', 'crashOnBoot: 0')
      .replace(/expect:[\s\S]*$/, ''),
  );
  let prom: RunningPrometheus | undefined;
  let browser: Browser | undefined;
  const procs: ChildProcess[] = [];
  try {
    prom = await startPrometheus({ targets: [`127.0.0.1:${agentPort}`], scrapeInterval: '1s' });
    const serve = start([
      'bin/ringmaster.js', 'serve', '--listen', `127.0.0.1:${controllerPort}`, '--data', path.join(tmp, 'data'), '--tokens', 'examples/tokens.yaml',
      '--trusted-keys', 'examples/trusted-keys.yaml', '--policies', 'examples/live/policies', '--tick', '250ms',
      '--prometheus-url', prom.url, '--prometheus-min-window', '3s',
    ]);
    procs.push(serve.child);
    const sim = start(['bin/agent-sim.js', '--scenario', scenario, '--clock', 'live', '--controller', url, '--metrics-listen', `127.0.0.1:${agentPort}`, '--json']);
    procs.push(sim.child);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
    await prom.waitFor('sum(ringmaster_agent_hosts{channel="sensor-content",version="7.16.290"})', (v) => v > 19_000, 30_000);

    // The sre's page is open before the rollout exists: what follows reaches it through /v1/events only.
    const sre = await openAs(browser, url, SRE);
    expect(await sre.locator('#rollouts tbody tr').count()).toBe(0);
    const yaml = fs.readFileSync(ex('rollouts/live-content-update.yaml'), 'utf8');
    const applied = await fetch(`${url}/v1/rollouts`, { method: 'POST', headers: { Authorization: DEPLOYER, 'Content-Type': 'application/yaml' }, body: yaml });
    expect(applied.status).toBe(201);
    const rowOf = sre.locator(`#rollouts tr[data-rollout="${NAME}"]`);
    await rowOf.waitFor({ timeout: 10_000 });
    const seen = new Set<string>();
    const until = Date.now() + 40_000;
    // Live progress: phase, ring and wave change on the page, and the judge's evidence reaches the chart.
    while (Date.now() < until) {
      seen.add((await rowOf.getAttribute('data-progress')) ?? '');
      if (seen.size >= 3 && [...seen].some((p) => p.startsWith('progressing ring 0 wave ')) && (await sre.locator('#chart-rate svg path.cand').count()) > 0) break;
      await sre.waitForTimeout(250);
    }
    console.log(`dashboard: seen live: ${[...seen].join(' -> ')}`);
    const evidence = (await (await fetch(`${url}/v1/rollouts/${NAME}/evidence`, { headers: { Authorization: `Bearer ${SRE}` } })).json()) as { points: Array<{ metric: string; candidateRate: number | null }> };
    const rated = evidence.points.filter((p) => p.candidateRate !== null);
    console.log(`dashboard: ${evidence.points.length} evidence points, ${rated.length} with a candidate rate (${[...new Set(rated.map((p) => p.metric))].join(', ')})`);
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect([...seen].some((p) => p.startsWith('progressing ring 0 wave '))).toBe(true);
    expect(await sre.locator('#chart-rate svg path.cand').count()).toBe(1);
    expect(await sre.locator('#chart-stat svg path.bound').count()).toBe(1);
    expect(await sre.locator('#live').textContent()).toBe('live');
    if (SHOTS) await sre.screenshot({ path: path.join(ROOT, 'docs/img/dashboard-live.png'), fullPage: true });

    // The kill switch: confirmation and a typed reason; every rollout halts.
    await sre.click('#kill-engage');
    await sre.click('#kill-go'); // nothing happens without the reason and the confirmation
    expect(await sre.locator('#kill-dialog').getAttribute('open')).not.toBeNull();
    await sre.fill('#kill-reason', 'incident 4711: crash reports from the canary');
    await sre.check('#kill-confirm');
    await sre.click('#kill-go');
    await sre.locator('#kill.bad').waitFor({ timeout: 5_000 });
    // Browser-side code as strings: this file is compiled without the DOM library.
    await sre.waitForFunction("[...document.querySelectorAll('#rollouts td[data-phase]')].every((td) => td.dataset.phase === 'halted')", undefined, { timeout: 10_000 });
    const rollouts = ((await (await fetch(`${url}/v1/rollouts`, { headers: { Authorization: `Bearer ${SRE}` } })).json()) as { rollouts: Array<{ phase: { kind: string } }> }).rollouts;
    expect(rollouts.length).toBeGreaterThan(0);
    expect(rollouts.every((r) => r.phase.kind === 'halted')).toBe(true);
    await sre.locator('#audit tbody tr', { hasText: 'incident 4711' }).first().waitFor({ timeout: 5_000 });
    expect(await sre.locator('#verify').textContent()).toMatch(/^chain verified/);
    if (SHOTS) await sre.screenshot({ path: path.join(ROOT, 'docs/img/dashboard-killswitch.png'), fullPage: true });
    // The sre's buttons are its permissions (whoami): retry yes, approve and promote no (those are the approver's).
    await sre.locator('#detail').waitFor({ timeout: 5_000 });
    expect(await sre.evaluate<string[]>("[...document.querySelectorAll('#actions button')].map((b) => b.dataset.verb)")).toEqual(['pause', 'resume', 'retry', 'abort', 'rollback']);

    // A viewer: no mutating button shown or enabled; the server refuses anyway.
    const viewer = await openAs(browser, url, VIEWER);
    await viewer.locator('#detail').waitFor({ timeout: 5_000 });
    const mutating = viewer.locator('#actions button, #kill-engage:visible, #kill-release:visible');
    expect(await mutating.count()).toBe(0);
    const enabled = await viewer.evaluate<string[]>("[...document.querySelectorAll('button')].filter((b) => !b.disabled && !b.hidden && b.offsetParent !== null && b.id !== 'signout' && !b.classList.contains('link')).map((b) => b.textContent)");
    expect(enabled).toEqual([]);
    const refused = await viewer.evaluate(async (u) => (await fetch(`${u}/v1/killswitch`, { method: 'POST', headers: { Authorization: 'Bearer ringmaster-example-viewer', 'Content-Type': 'application/json' }, body: '{"engaged":false,"reason":"x"}' })).status, url);
    expect(refused).toBe(403);
    if (SHOTS) await viewer.screenshot({ path: path.join(ROOT, 'docs/img/dashboard-viewer.png') });

    // The headers of /ui/.
    const page = await fetch(`${url}/ui/`);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self'; style-src 'self'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  } finally {
    await browser?.close();
    for (const p of procs) await stop(p);
    await prom?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
