/**
 * `agent-sim serve`: the real controller, in real time, with a simulated fleet as its fleet and metrics source.
 *
 *   agent-sim serve --scenario FILE [--listen 127.0.0.1:8080] [--data DIR] [--tokens FILE] [--policies DIR]
 *                   [--trusted-keys FILE] [--tick 500ms] [--rollback-drain 10s] [--hosts N] [--seed S]
 *                   [--pid-file FILE] [--log-level info]
 *
 * It runs what `ringmaster serve` runs (controller/cli/serve-run.ts: the store, the reconcile loop, the HTTP API,
 * tokens, the audit log), so `ringctl` and the dashboard work against it unchanged. Only the metrics differ: the
 * health analysis asks the scenario's fleet (agent-sim/provider.ts, the same PromQL it would send to Prometheus)
 * instead of Prometheus. The fleet reads the controller's signed manifest in process once a second, and each
 * host checks it and takes its version with the engine's own functions (fleet.ts), as in `--clock live`.
 *
 * Nothing here is hidden: the banner, the log and every verdict say "simulated metrics (agent-sim), not
 * Prometheus". For real metrics run `ringmaster serve --prometheus-url URL`.
 *
 * The fleet models one update: the scenario's rollout (its channel, previousVersion and version). Apply that
 * rollout (or one with the same channel and versions) with `ringctl apply`; another version finds no hosts that
 * report on it, and its analysis sees no data (it halts, as it would with Prometheus).
 *
 * stdout: the listening lines and the banner, then one summary line at the stop; stderr: JSON log lines (send
 * them to a file). SIGTERM or SIGINT stops it (exit 0); --pid-file says which process to signal.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { TokenSet } from '../controller/api/tokens';
import type { FetchedManifest } from '../controller/engine/agent';
import { analysisIntervalMs } from '../controller/runtime/config';
import type { Controller } from '../controller/runtime/controller';
import { providerAnalysis, resolveSettings, warnWithoutTokens, type ServeSettings } from '../controller/cli/ringmaster';
import { runServe } from '../controller/cli/serve-run';
import { InputError } from '../controller/spec/errors';
import { createLogger, LOG_LEVELS } from '../controller/telemetry/log';
import { Fleet } from './fleet';
import { SimMetricsProvider } from './provider';
import { intFlag, runProgram } from './flags';
import { loadScenario, type Scenario } from './scenario';
import { fetchedOf } from './signed';
import { loadScenarioDocuments } from './virtual';

/** What every place that shows metrics says about them. */
export const SIMULATED = 'simulated metrics (agent-sim), not Prometheus';

interface ServeFlags {
  scenario: string;
  listen?: string;
  data?: string;
  tokens?: string;
  policies?: string;
  trustedKeys?: string;
  tick: string;
  rollbackDrain: string;
  hosts?: string;
  seed?: string;
  pidFile?: string;
  logLevel?: string;
}

/** How often the fleet reads the manifest and moves (real time). */
const STEP_MS = 1000;

export async function serveMain(argv: string[]): Promise<number> {
  let exit = 0;
  const program = new Command('agent-sim serve')
    .description(`the real controller and its HTTP API in real time, with a simulated fleet and ${SIMULATED}`)
    .requiredOption('--scenario <file>', 'scenario YAML: the fleet and the update it models (examples/quickstart/fleet.yaml)')
    .option('--listen <host:port>', 'address of the API (default 127.0.0.1:8080)')
    .option('--data <dir>', 'data directory: SQLite store, signing key, audit log (default: a new directory under the OS temp directory, printed)')
    .option('--tokens <file>', 'API tokens file, as for ringmaster serve (examples/tokens.yaml); without it every change is refused')
    .option('--policies <dir>', "directory of Policy documents (default: the directory of the scenario's policy)")
    .option('--trusted-keys <file>', "publisher keys for artifact signatures (default: the scenario's trustedKeys)")
    .option('--tick <duration>', 'reconcile interval', '500ms')
    .option('--rollback-drain <duration>', 'how long rolling-back lasts before rolled-back', '10s')
    .option('--hosts <n>', 'fleet size (overrides the scenario)')
    .option('--seed <n>', 'random seed (overrides the scenario)')
    .option('--pid-file <file>', 'write the process id here once the API listens (stop it with kill "$(cat FILE)"); removed at the stop')
    .option('--log-level <level>', `JSON log lines on stderr at this level and above: ${LOG_LEVELS.join(', ')} (default info)`)
    .action(async (flags: ServeFlags) => {
      exit = await serve(flags);
    });
  return runProgram(program, 'agent-sim serve', argv, () => exit);
}

async function serve(flags: ServeFlags): Promise<number> {
  let sc: Scenario;
  let settings: ServeSettings;
  let tokens: TokenSet;
  let docs: ReturnType<typeof loadScenarioDocuments>;
  let madeData = false;
  try {
    const hosts = intFlag('hosts', flags.hosts, 100, 1_000_000);
    const seed = intFlag('seed', flags.seed, 0, 2 ** 31);
    sc = loadScenario(flags.scenario, { ...(hosts === undefined ? {} : { hosts }), ...(seed === undefined ? {} : { seed }) });
    docs = loadScenarioDocuments(sc);
    let data = flags.data;
    if (data === undefined) {
      data = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-sim-serve-'));
      madeData = true;
    }
    const trustedKeys = flags.trustedKeys ?? sc.trustedKeysFile;
    settings = resolveSettings({
      listen: flags.listen ?? '127.0.0.1:8080',
      data,
      ...(flags.tokens === undefined ? {} : { tokens: flags.tokens }),
      policies: flags.policies ?? path.dirname(sc.policyFile),
      ...(trustedKeys === undefined ? {} : { trustedKeys }),
      tick: flags.tick,
      rollbackDrain: flags.rollbackDrain,
      ...(flags.logLevel === undefined ? {} : { logLevel: flags.logLevel }),
    });
    tokens = settings.tokens === undefined ? TokenSet.empty() : TokenSet.fromFile(settings.tokens);
  } catch (err) {
    if (err instanceof InputError) {
      for (const l of err.lines) process.stderr.write(`agent-sim serve: ${l}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger({ ...(settings.logLevel === undefined ? {} : { level: settings.logLevel }), base: { component: 'agent-sim-serve' } });
  warnWithoutTokens(log, tokens, settings.tokens);
  const spec = docs.rollout.spec;
  const channel = spec.channel;
  const versions = { baseline: spec.previousVersion ?? '0.0.0', candidate: spec.version };
  // The agents pin the controller's key once it is open (fleet.setTrust below); until then they trust nothing.
  const fleet = new Fleet(sc, { channel, trust: [], versions, artifact: docs.artifact }, Date.now(), { noiseIntervalMs: sc.fleet.noiseIntervalMs ?? analysisIntervalMs(docs.rollout) });
  const provider = new SimMetricsProvider(fleet, channel, versions, []);
  log.warn({ metrics: 'agent-sim', scenario: sc.file }, `${SIMULATED}: the health analysis reads the counters of ${sc.fleet.hosts} simulated hosts, not a real fleet`);

  let pidWritten = false;
  const code = await runServe({
    program: 'agent-sim serve',
    settings,
    tokens,
    log,
    analysis: () => providerAnalysis(provider, { minWindowSeconds: 1, log, source: SIMULATED }),
    banner: [
      `agent-sim serve: METRICS ARE SIMULATED: ${SIMULATED}. ${sc.fleet.hosts.toLocaleString('en-US')} simulated hosts (${fleet.canaryCount} canary) of scenario ${sc.name} poll channel ${channel} every ${sc.fleet.pollIntervalMs / 1000}s`,
      `agent-sim serve: the fleet models ${channel} ${versions.baseline} -> ${versions.candidate} (${path.relative(process.cwd(), sc.rolloutFile) || sc.rolloutFile}); data in ${settings.data}${madeData ? ' (new)' : ''}; real metrics: ringmaster serve --prometheus-url URL`,
    ],
    onStarted: (c, url) => startFleet(c, fleet, channel, log, url),
    onListening: () => {
      if (flags.pidFile === undefined) return;
      fs.writeFileSync(flags.pidFile, `${process.pid}\n`);
      pidWritten = true;
    },
  });
  if (pidWritten && flags.pidFile !== undefined) fs.rmSync(flags.pidFile, { force: true });
  if (code === 0) {
    const n = fleet.counts();
    process.stdout.write(`agent-sim serve: stopped: ${n.took.toLocaleString('en-US')} simulated hosts took ${versions.candidate} (${n.tookOutsideCanary.toLocaleString('en-US')} outside the canary ring), ${n.onCandidate.toLocaleString('en-US')} run it now, ${n.bricked} bricked\n`);
  }
  return code;
}

/** Pins the controller's key, then moves the fleet once a second with the manifest as served; returns its stop. */
async function startFleet(c: Controller, fleet: Fleet, channel: string, log: ReturnType<typeof createLogger>, url: string): Promise<() => Promise<void>> {
  const key = c.signingKey();
  fleet.setTrust([{ keyId: key.keyId, publicKey: key.publicKey }]);
  let fetched: FetchedManifest | undefined;
  let revision = -1;
  let t = Date.now();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const step = (): void => {
    if (stopped) return;
    const m = c.manifest(channel);
    if (m && m.revision !== revision) {
      revision = m.revision;
      fetched = fetchedOf(m.body, m.signature, key.keyId, String(m.revision));
    }
    const now = Date.now();
    fleet.step(t, Math.max(STEP_MS, now - t), fetched);
    t = Math.max(now, t + STEP_MS);
    const n = fleet.counts();
    const line = `${n.onCandidate} of the simulated hosts run the candidate (${n.took} took it)`;
    if (line !== last && n.took > 0) log.debug({ revision, onCandidate: n.onCandidate, took: n.took }, line);
    last = line;
    timer = setTimeout(step, Math.max(0, t + STEP_MS - Date.now()));
  };
  step();
  log.info({ url, channel, hosts: fleet.counts() }, `simulated fleet started: it reads the ${channel} manifest in process every ${STEP_MS / 1000}s; ${SIMULATED}`);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    return Promise.resolve();
  };
}
