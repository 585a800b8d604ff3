/**
 * ringmaster: the controller daemon.
 *
 *   ringmaster serve [--config FILE] [--listen 127.0.0.1:8080] [--data ./data] [--tokens FILE]
 *                    [--policies ./policies] [--trusted-keys FILE] [--tick 1s] [--rollback-drain 2m]
 *                    [--prometheus-url URL [--prometheus-timeout 5s] [--prometheus-bearer-token-file FILE]
 *                     [--prometheus-ca-file FILE] [--prometheus-insecure-skip-verify] [--prometheus-min-window 60s]]
 *                    [--log-level info] [--manifest-reissue 1h] [--artifacts DIR] [--preflight FILE]
 *
 * The config file is YAML with the same keys in camelCase or kebab-case (listen, data, tokens, policies,
 * trustedKeys, tick, prometheusUrl, ...); relative
 * paths in it are relative to the file; flags override it. Problems with flags or files are one line each
 * and exit 2; SIGTERM/SIGINT close the server and stop the controller cleanly (exit 0); SIGHUP re-reads the
 * --policies directory (an invalid one leaves the old policies in force), audited as actor signal:SIGHUP.
 *
 * Output: stdout has the `ringmaster: listening on http://...` and signing-key lines (people and scripts read
 * them); stderr has JSON log lines (pino, telemetry/log.ts) and nothing else, except the plain one-line errors
 * of a start refused for bad input (exit 2). See docs/cli.md#logs.
 */
import * as fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { MetricsProvider } from '../analysis/provider';
import { TokenSet } from '../api/tokens';
import { KeyFileError, rotateSigningKey } from '../crypto/keys';
import { durationMs, parseDuration } from '../spec/duration';
import { InputError } from '../spec/errors';
import { createLogger, LOG_LEVELS, parseLogLevel, type Logger, type LogLevel } from '../telemetry/log';
import { readIdentityConfig, readNotificationSinks, readServeConfig, SERVE_DEFAULTS as DEFAULTS, type ServeConfigKey as ConfigKey } from '../config/serve';
import type { PreflightAllowlist } from '../content/allowlist';
import { runServe, type ServeAnalysis } from './serve-run';

export { close, listen, untilSignal } from './serve-net';

export interface ServeSettings {
  listen: { host: string; port: number };
  data: string;
  tokens: string | undefined;
  policies: string;
  trustedKeys: string | undefined;
  tickMs: number;
  rollbackDrainMs: number;
  prometheus: PrometheusSettings | undefined;
  /** undefined: RINGMASTER_LOG_LEVEL, else info (telemetry/log.ts). */
  logLevel: LogLevel | undefined;
  manifestReissueMs: number;
  artifacts: string | undefined;
  /** The pre-flight allowlist file (content/allowlist.ts): executables and webhooks spec.preflight may name. */
  preflight: string | undefined;
}

export interface PrometheusSettings {
  url: string;
  timeoutMs: number;
  bearerTokenFile: string | undefined;
  caFile: string | undefined;
  insecureSkipVerify: boolean;
  minWindowSeconds: number;
}

interface ServeFlags {
  config?: string;
  listen?: string;
  data?: string;
  tokens?: string;
  policies?: string;
  trustedKeys?: string;
  tick?: string;
  rollbackDrain?: string;
  prometheusUrl?: string;
  prometheusTimeout?: string;
  prometheusBearerTokenFile?: string;
  prometheusCaFile?: string;
  prometheusInsecureSkipVerify?: string | boolean;
  prometheusMinWindow?: string;
  acceptBrokenAudit?: string;
  logLevel?: string;
  manifestReissue?: string;
  artifacts?: string;
  preflight?: string;
}

// The settings, their config-file keys and defaults are defined once, in config/serve.ts (a JSON Schema).
const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export async function main(argv: string[]): Promise<number> {
  let exit = 0;
  const program = new Command('ringmaster')
    .description('Ringmaster controller: staged rollouts of agent and config updates to fleets of hosts')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // One line per problem, like every other error of ringmaster: `ringmaster: unknown option '--x'`.
      outputError: (s, write) => write(`ringmaster: ${s.replace(/^error: /, '').trim().split('\n')[0] ?? ''}\n`),
    });
  program
    .command('serve')
    .description('run the controller: reconcile loop, HTTP API and signed agent manifests')
    .option('--config <file>', 'YAML config file with the same keys as the flags (flags override it)')
    .option('--listen <host:port>', `address to listen on (default ${DEFAULTS.listen})`)
    .option('--data <dir>', `data directory: SQLite store and signing key (default ${DEFAULTS.data})`)
    .option('--tokens <file>', 'API tokens file (YAML tokens: [{name, role, sha256}]); without it every change is refused')
    .option('--policies <dir>', `directory of Policy documents (default ${DEFAULTS.policies})`)
    .option('--trusted-keys <file>', 'publisher public keys accepted for artifact signatures (YAML keys: [{name, publicKey}])')
    .option('--tick <duration>', `reconcile interval (default ${DEFAULTS.tick})`)
    .option(
      '--rollback-drain <duration>',
      `how long rolling-back lasts before rolled-back: at least the agents' poll interval plus jitter (default ${DEFAULTS.rollbackDrain})`,
    )
    .option('--prometheus-url <url>', 'Prometheus for health analysis; without it, rollouts with metrics halt (provider-error)')
    .option('--prometheus-timeout <duration>', `per-query timeout (default ${DEFAULTS.prometheusTimeout})`)
    .option('--prometheus-bearer-token-file <file>', 'file holding a bearer token for Prometheus')
    .option('--prometheus-ca-file <file>', 'PEM CA bundle for an https Prometheus')
    .option('--prometheus-insecure-skip-verify', 'do not verify the Prometheus TLS certificate (tests only)')
    .option('--prometheus-min-window <duration>', `shortest {{window}} of custom metrics, about 2 scrape intervals (default ${DEFAULTS.prometheusMinWindow})`)
    .option('--log-level <level>', `JSON log lines on stderr at this level and above: ${LOG_LEVELS.join(', ')} (default info, or env RINGMASTER_LOG_LEVEL)`)
    .option('--manifest-reissue <duration>', `re-issue a manifest older than this, same content, new revision: agents refuse old manifests (default ${DEFAULTS.manifestReissue})`)
    .option('--artifacts <dir>', 'serve the files of this directory at /artifacts/NAME (public, read-only)')
    .option('--preflight <file>', 'pre-flight allowlist (YAML executables: [{name, command, args}], webhooks: [{name, url, secretFile}]): what spec.preflight exec and webhook checks may name (docs/preflight.md)')
    .option('--accept-broken-audit <reason>', 'start although the audit chain does not verify; the break is recorded as accepted (docs/audit.md)')
    .action(async (flags: ServeFlags) => {
      exit = await serve(flags);
    });
  program
    .command('operator')
    .description('run as a Kubernetes operator: Rollout resources, Lease leader election, manifests from every replica (docs/kubernetes.md)')
    .option('--namespace <ns>', "the operator's namespace: its Lease, ConfigMaps and Policies, where the API creates Rollouts (default env POD_NAMESPACE)")
    .option('--watch-namespaces <a,b>', 'run the Rollouts of these namespaces only (default: all namespaces)')
    .option('--signing-key <file>', 'ed25519 private key (PEM) every replica signs manifests with, mounted from a Secret')
    .option('--tokens <file>', 'API tokens file, as for serve (mounted from a Secret)')
    .option('--listen <host:port>', `address to listen on (default ${DEFAULTS.listen})`)
    .option('--policies <dir>', `Policy documents from files (default ${DEFAULTS.policies}); Policy objects in --namespace override them by name`)
    .option('--trusted-keys <file>', 'publisher public keys accepted for artifact signatures')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)')
    .option('--identity <name>', "this replica's name in the Lease (default env POD_NAME)")
    .option('--lease-duration <duration>', 'how long a leader holds the Lease without renewing it (default 15s)')
    .option('--renew-period <duration>', 'how often the leader renews the Lease (default 5s)')
    .option('--tick <duration>', `how often each in-flight Rollout is reconciled again (default ${DEFAULTS.tick})`)
    .option('--rollback-drain <duration>', `how long rolling-back lasts before rolled-back (default ${DEFAULTS.rollbackDrain})`)
    .option('--prometheus-url <url>', 'Prometheus for health analysis')
    .option('--prometheus-timeout <duration>', `per-query timeout (default ${DEFAULTS.prometheusTimeout})`)
    .option('--audit-db <file>', 'also keep the audit log in this SQLite file (on a PVC); Kubernetes Events are kept either way')
    .option('--preflight <file>', 'pre-flight allowlist, as for serve: what spec.preflight exec and webhook checks may name (docs/preflight.md)')
    .option('--manifest-reissue <duration>', `re-issue a channel manifest older than this, same content (default ${DEFAULTS.manifestReissue})`)
    .option('--log-level <level>', `JSON log lines on stderr at this level and above: ${LOG_LEVELS.join(', ')}`)
    .action(async (flags: import('./operator-command').OperatorFlags) => {
      exit = await (await import('./operator-command')).runOperator(flags);
    });
  program
    .command('rotate-signing-key')
    .description('rotate the manifest-signing key in the data directory (stop ringmaster serve first): agents follow the signed rotation statement')
    .option('--data <dir>', `data directory (default ${DEFAULTS.data})`)
    .action((flags: { data?: string }) => {
      exit = rotate(flags.data ?? DEFAULTS.data);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`ringmaster: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
    return 1;
  }
}

function rotate(dataDir: string): number {
  try {
    const r = rotateSigningKey(dataDir);
    process.stdout.write(`ringmaster: manifest signing key rotated: ${r.previousKeyId} -> ${r.keyId}; the rotation statement is served at GET /v1/signing-key once ringmaster serve starts\n`);
    return 0;
  } catch (err) {
    if (err instanceof KeyFileError) return fail([err.message]);
    const e = err as NodeJS.ErrnoException;
    if (e.code !== undefined) return fail([`${dataDir}: cannot rotate the signing key (${e.code})`]);
    throw err;
  }
}

function fail(lines: string[]): number {
  for (const l of lines) process.stderr.write(`ringmaster: ${l}\n`);
  return 2;
}

async function serve(flags: ServeFlags): Promise<number> {
  let settings: ServeSettings;
  let tokens: TokenSet;
  let preflight: PreflightAllowlist | undefined;
  let sinks: ReturnType<typeof readNotificationSinks>;
  let identity: ReturnType<typeof readIdentityConfig>;
  let breakGlass: TokenSet;
  try {
    settings = resolveSettings(flags);
    sinks = readNotificationSinks(flags.config);
    identity = readIdentityConfig(flags.config);
    tokens = settings.tokens === undefined ? TokenSet.empty() : TokenSet.fromFile(settings.tokens);
    breakGlass = new TokenSet(identity.breakGlass.map((b) => ({ ...b, role: 'sre' as const })));
    if (breakGlass.overlaps(tokens)) return fail([`${flags.config ?? 'config'}: breakGlass: a break-glass secret is also a token of ${settings.tokens ?? 'the tokens file'}; use a secret of its own`]);
    preflight = settings.preflight === undefined ? undefined : (await import('../content/allowlist')).loadPreflightAllowlist(settings.preflight);
  } catch (err) {
    // Flags, the config file, the tokens and pre-flight files: expected problems, one line each (spec/errors.ts InputError).
    if (err instanceof InputError) return fail(err.lines);
    throw err;
  }
  // From here on, stderr carries JSON log lines only (docs/cli.md#logs); stdout the listening lines for people and scripts.
  const log = createLogger(settings.logLevel === undefined ? {} : { level: settings.logLevel });
  const { OidcVerifier } = await import('../api/oidc');
  const oidc = identity.oidc ? new OidcVerifier(identity.oidc, { log }) : undefined;
  if (oidc) {
    // Best effort and not awaited: a provider down at start is logged; the server starts without it, and static and
    // break-glass credentials work meanwhile.
    void oidc.prefetch().then((first) => {
      if (first.ok) log.info({ issuer: oidc.settings.issuer }, `oidc: ${first.message}`);
      else log.warn({ issuer: oidc.settings.issuer, error: first.message }, 'oidc: the identity provider is not reachable yet; people cannot log in until it is');
    });
  }
  warnWithoutTokens(log, tokens, settings.tokens, oidc !== undefined);
  const prometheus = settings.prometheus;
  return runServe({
    settings,
    tokens,
    ...(oidc ? { oidc } : {}),
    ...(breakGlass.size > 0 ? { breakGlass } : {}),
    log,
    analysis: () => analysisFor(prometheus, log),
    ...(preflight === undefined ? {} : { preflight }),
    sinks,
    ...(flags.acceptBrokenAudit === undefined ? {} : { acceptBrokenAudit: flags.acceptBrokenAudit }),
  });
}

/** The warning of a server whose API refuses every change (no tokens, and no identity provider for people). */
export function warnWithoutTokens(log: Logger, tokens: TokenSet, file: string | undefined, oidc = false): void {
  if (tokens.size > 0 || oidc) return;
  log.warn(
    `${file === undefined ? 'no --tokens file' : `${file} has no tokens`}: ` +
      'every change through the API (apply, verbs, kill switch) is refused with 401; reads and manifests are open',
  );
}

/**
 * The health analysis: Prometheus when configured. Without a provider, rollouts that declare metrics get an
 * error verdict on every interval and halt with provider-error: missing data is never treated as healthy.
 */
export async function analysisFor(p: PrometheusSettings | undefined, log: Logger): Promise<ServeAnalysis> {
  const { MetricsAnalyzer } = await import('../runtime/analysis');
  if (p === undefined) {
    log.warn('no --prometheus-url: rollouts with analysis metrics will halt (provider-error); rollouts without metrics advance on bake time');
    return { analyzer: new MetricsAnalyzer(async (_metric, ctx) => ({ kind: 'error', at: ctx.now.toISOString(), message: 'no metrics provider configured (start ringmaster serve with --prometheus-url)' }), { signals: false }) };
  }
  const { PrometheusProvider } = await import('../analysis/prometheus');
  const provider = new PrometheusProvider({
    url: p.url,
    timeoutMs: p.timeoutMs,
    ...(p.bearerTokenFile === undefined ? {} : { bearerToken: fs.readFileSync(p.bearerTokenFile, 'utf8').trim() }),
    ...(p.caFile === undefined ? {} : { ca: fs.readFileSync(p.caFile) }),
    insecureSkipVerify: p.insecureSkipVerify,
    log,
  });
  const online = await provider.isOnline();
  if (online === true) log.info({ prometheus: provider.endpoint }, 'metrics from Prometheus');
  else log.warn({ prometheus: provider.endpoint, error: online }, 'Prometheus is not ready yet');
  return providerAnalysis(provider, { minWindowSeconds: p.minWindowSeconds, log });
}

/**
 * The health analysis over any MetricsProvider that answers the agent metrics contract's PromQL: Prometheus here,
 * the fleet simulator's in-process counters in `agent-sim serve`. `source`, when set, is appended to every verdict's
 * reason, so that `ringctl status` and the dashboard say where the numbers came from.
 */
export async function providerAnalysis(provider: MetricsProvider, opts: { minWindowSeconds: number; log: Logger; source?: string }): Promise<ServeAnalysis> {
  const { MetricsAnalyzer } = await import('../runtime/analysis');
  const { prometheusObserver } = await import('../analysis/observe');
  const { prometheusCensus } = await import('../runtime/census');
  return {
    analyzer: new MetricsAnalyzer(prometheusObserver(provider, { minWindowSeconds: opts.minWindowSeconds, log: opts.log }), opts.source === undefined ? {} : { source: opts.source }),
    census: prometheusCensus(provider),
  };
}

// ------------------------------------------------------------------------------------------ settings

/** Flags over the config file over the defaults; every problem found is reported (one line each). */
export function resolveSettings(flags: ServeFlags): ServeSettings {
  const fromFile = flags.config === undefined ? {} : readServeConfig(flags.config);
  const errors: string[] = [];
  const pick = (key: ConfigKey, flag: string | undefined): { value: string | undefined; where: string } => {
    const flagName = `--${kebab(key)}`;
    if (flag !== undefined || fromFile[key] === undefined) return { value: flag, where: flagName };
    return { value: fromFile[key], where: `${flags.config}: ${key}` };
  };

  const listenOpt = pick('listen', flags.listen);
  const listen = parseListen(listenOpt.value ?? DEFAULTS.listen);
  if (typeof listen === 'string') errors.push(`${listenOpt.where}: ${listen}`);
  const durationSetting = (key: 'tick' | 'rollbackDrain' | 'manifestReissue', flag: string | undefined, min: [number, string], max: [number, string]): number => {
    const opt = pick(key, flag);
    const d = parseDuration(opt.value ?? DEFAULTS[key]);
    if (!d.ok) errors.push(`${opt.where}: ${d.message}`);
    else if (d.ms < min[0] || d.ms > max[0]) errors.push(`${opt.where}: must be between ${min[1]} and ${max[1]} (got ${opt.value})`);
    else return d.ms;
    return 0;
  };
  const tickMs = durationSetting('tick', flags.tick, [10, '10ms'], [3_600_000, '1h']);
  const rollbackDrainMs = durationSetting('rollbackDrain', flags.rollbackDrain, [0, '0s'], [86_400_000, '24h']);
  const manifestReissueMs = durationSetting('manifestReissue', flags.manifestReissue, [1000, '1s'], [7 * 86_400_000, '7d']);
  const artifactsOpt = pick('artifacts', flags.artifacts);
  if (artifactsOpt.value !== undefined && !isDir(artifactsOpt.value)) errors.push(`${artifactsOpt.where}: ${artifactsOpt.value}: no such directory`);
  const prometheus = resolvePrometheus(flags, pick, errors);
  const tokensOpt = pick('tokens', flags.tokens);
  const trustedOpt = pick('trustedKeys', flags.trustedKeys);
  const policiesOpt = pick('policies', flags.policies);
  const tokens = tokensOpt.value;
  const trustedKeys = trustedOpt.value;
  const policies = policiesOpt.value ?? DEFAULTS.policies;
  const preflightOpt = pick('preflight', flags.preflight);
  for (const opt of [tokensOpt, trustedOpt, preflightOpt]) {
    if (opt.value !== undefined && !isFile(opt.value)) errors.push(`${opt.where}: ${opt.value}: no such file`);
  }
  if (!isDir(policies)) errors.push(`${policiesOpt.where}: ${policies}: no such directory`);
  const logLevelOpt = pick('logLevel', flags.logLevel);
  const logLevel = logLevelOpt.value === undefined ? undefined : parseLogLevel(logLevelOpt.value);
  if (logLevelOpt.value !== undefined && logLevel === undefined) errors.push(`${logLevelOpt.where}: must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevelOpt.value)})`);
  if (errors.length > 0 || typeof listen === 'string') throw new InputError(errors);
  return { listen, data: pick('data', flags.data).value ?? DEFAULTS.data, tokens, policies, trustedKeys, tickMs, rollbackDrainMs, prometheus, logLevel, manifestReissueMs, artifacts: artifactsOpt.value, preflight: preflightOpt.value };
}

type Pick = (key: ConfigKey, flag: string | undefined) => { value: string | undefined; where: string };

function resolvePrometheus(flags: ServeFlags, pick: Pick, errors: string[]): PrometheusSettings | undefined {
  const urlOpt = pick('prometheusUrl', flags.prometheusUrl);
  const others = (['prometheusTimeout', 'prometheusBearerTokenFile', 'prometheusCaFile', 'prometheusMinWindow'] as const).map((k) => pick(k, flags[k]));
  const skipOpt = pick('prometheusInsecureSkipVerify', flags.prometheusInsecureSkipVerify === true ? 'true' : (flags.prometheusInsecureSkipVerify as string | undefined));
  if (urlOpt.value === undefined) {
    for (const o of [...others, skipOpt]) if (o.value !== undefined) errors.push(`${o.where}: needs --prometheus-url`);
    return undefined;
  }
  let url = urlOpt.value;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') errors.push(`${urlOpt.where}: must be an http:// or https:// URL`);
    if (u.username || u.password) errors.push(`${urlOpt.where}: do not put credentials in the URL (use --prometheus-bearer-token-file)`);
    url = u.href;
  } catch {
    errors.push(`${urlOpt.where}: not a URL`);
  }
  const [timeoutOpt, tokenOpt, caOpt, windowOpt] = others as [ReturnType<Pick>, ReturnType<Pick>, ReturnType<Pick>, ReturnType<Pick>];
  const durationIn = (o: ReturnType<Pick>, def: number, min: number, max: number): number => {
    if (o.value === undefined) return def;
    const d = parseDuration(o.value);
    if (!d.ok) errors.push(`${o.where}: ${d.message}`);
    else if (d.ms < min || d.ms > max) errors.push(`${o.where}: must be between ${min}ms and ${max / 1000}s (got ${o.value})`);
    else return d.ms;
    return def;
  };
  const timeoutMs = durationIn(timeoutOpt, durationMs(DEFAULTS.prometheusTimeout), 100, 120_000);
  const minWindowSeconds = durationIn(windowOpt, durationMs(DEFAULTS.prometheusMinWindow), 1000, 3_600_000) / 1000;
  for (const o of [tokenOpt, caOpt]) if (o.value !== undefined && !isFile(o.value)) errors.push(`${o.where}: ${o.value}: no such file`);
  if (skipOpt.value !== undefined && skipOpt.value !== 'true' && skipOpt.value !== 'false') errors.push(`${skipOpt.where}: must be true or false`);
  return { url, timeoutMs, bearerTokenFile: tokenOpt.value, caFile: caOpt.value, insecureSkipVerify: skipOpt.value === 'true', minWindowSeconds };
}

/** `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:0` (port 0: any free port). */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return `expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080 (got ${JSON.stringify(text)})`;
  const port = Number(m[3]);
  if (port > 65535) return `port must be 0-65535 (got ${port})`;
  return { host: (m[1] ?? m[2]) as string, port };
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
