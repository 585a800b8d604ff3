/**
 * ringmaster-agent: the reference agent as a command (docs/agent.md).
 *
 *   ringmaster-agent run --controller URL --channel NAME --host-id ID [--label k=v]... --pin-key BASE64 --dir DIR [--once]
 *                        [--poll-interval 60s] [--request-timeout 10s] [--max-age 24h] [--clock-skew 5m]
 *                        [--token-file FILE] [--ca-file FILE] [--publisher-key KEY]...
 *                        [--validate-schema FILE | --validate-exec CMD [--validate-arg ARG]... [--validate-timeout 10s]]
 *                        [--start-command CMD [--start-arg ARG]... [--start-timeout 60s]]
 *                        [--max-failed-starts 3] [--healthy-after 10m]
 *                        [--artifact-timeout 60s] [--artifact-max-bytes N]
 *                        [--metrics-listen 127.0.0.1:9464|off] [--log-level info]
 *   ringmaster-agent status --dir DIR [--json]
 *
 * Exit codes: 0 done (`--once`: the host runs what the manifest wants for it, or there is nothing to do; `run`:
 * stopped by SIGTERM/SIGINT); 1 `--once` could not get there (no manifest, a refused manifest, a failed update);
 * 2 bad flags or an unusable state directory (one line on stderr). Log lines are JSON on stderr; `--once` prints
 * one summary line on stdout.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { ContentValidator } from '../controller/content/validators';
import type { TrustedKey } from '../controller/crypto/keys';
import type { TrustedManifestKey } from '../controller/engine/agent';
import { LOG_LEVELS } from '../controller/telemetry/log';
import type { Agent, AgentOptions, PollReport } from './agent';

// The modules behind each command are loaded when it runs: `status` and `--help` stay quick.
const NAME = 'ringmaster-agent';

interface RunFlags {
  controller?: string;
  channel?: string;
  hostId?: string;
  label: string[];
  pinKey: string[];
  dir?: string;
  once?: boolean;
  pollInterval: string;
  requestTimeout: string;
  maxAge: string;
  clockSkew: string;
  tokenFile?: string;
  caFile?: string;
  publisherKey: string[];
  validateSchema?: string;
  validateExec?: string;
  validateArg: string[];
  validateTimeout: string;
  startCommand?: string;
  startArg: string[];
  startTimeout: string;
  maxFailedStarts: string;
  healthyAfter: string;
  artifactTimeout: string;
  artifactMaxBytes: string;
  metricsListen?: string;
  logLevel?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

export async function main(argv: string[]): Promise<number> {
  let exit = 0;
  const program = new Command(NAME)
    .description('Ringmaster reference agent: polls a channel manifest, verifies it, installs and starts what it names, falls back by itself')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`${NAME}: ${s.replace(/^error: /, '').trim().split('\n')[0] ?? ''}\n`),
    });
  program
    .command('run')
    .description('poll the manifest and act on it (until SIGTERM, or once with --once)')
    .option('--controller <url>', 'the controller, e.g. http://127.0.0.1:8080')
    .option('--channel <name>', 'the channel to follow')
    .option('--host-id <id>', 'this host\'s id (its bucket in percent rings)')
    .option('--label <key=value>', 'a host label (ring selectors match them); repeatable', collect, [])
    .option('--pin-key <base64>', 'a manifest-signing public key to trust (raw base64, or a PEM file); required on the first run; repeatable', collect, [])
    .option('--dir <dir>', 'the state directory (state.json, versions/, current, previous)')
    .option('--once', 'one poll: act on it and exit 0 when on the desired version, 1 when not')
    .option('--poll-interval <duration>', 'time between polls, ±20% jitter', '60s')
    .option('--request-timeout <duration>', 'budget of one manifest request', '10s')
    .option('--max-age <duration>', 'refuse a manifest issued longer ago than this', '24h')
    .option('--clock-skew <duration>', 'tolerated clock difference with the controller', '5m')
    .option('--token-file <file>', 'file holding a bearer token, for a controller that wants an agent token')
    .option('--ca-file <file>', 'PEM CA bundle for an https controller')
    .option('--publisher-key <key>', 'publisher public key (raw base64 or a PEM file): artifacts must be signed by one; repeatable', collect, [])
    .option('--validate-schema <file>', 'validate the content (JSON or YAML) against this JSON Schema before activating it')
    .option('--validate-exec <command>', 'run this executable on the content before activating it (exit 0 = valid; no shell)')
    .option('--validate-arg <arg>', 'an argument of --validate-exec ({artifact} is the content\'s path); repeatable', collect, [])
    .option('--validate-timeout <duration>', 'time limit of --validate-exec', '10s')
    .option('--start-command <command>', 'run after each activation and at boot; exit 0 within --start-timeout = started (no shell)')
    .option('--start-arg <arg>', 'an argument of --start-command; repeatable', collect, [])
    .option('--start-timeout <duration>', 'time limit of --start-command', '60s')
    .option('--max-failed-starts <n>', 'failed starts of a new version before reverting to last-known-good', '3')
    .option('--healthy-after <duration>', 'running this long clears the boot marker', '10m')
    .option('--artifact-timeout <duration>', 'time limit of an artifact download', '60s')
    .option('--artifact-max-bytes <n>', 'largest artifact downloaded', String(256 * 1024 * 1024))
    .addOption(new Option('--metrics-listen <host:port>', '/metrics address, or off (default 127.0.0.1:9464; off with --once unless given)'))
    .option('--log-level <level>', `JSON log lines on stderr at this level and above: ${LOG_LEVELS.join(', ')} (default info)`)
    .action(async (flags: RunFlags) => {
      exit = await run(flags);
    });
  program
    .command('status')
    .description('print what the state directory says: version, revision, previous, boot marker, bad marks, trusted keys')
    .option('--dir <dir>', 'the state directory')
    .option('--json', 'one JSON object')
    .action(async (flags: { dir?: string; json?: boolean }) => {
      exit = await status(flags);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`${NAME}: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}\n`);
    return 1;
  }
}

function fail(lines: string[]): number {
  for (const l of lines) process.stderr.write(`${NAME}: ${l}\n`);
  return 2;
}

async function status(flags: { dir?: string; json?: boolean }): Promise<number> {
  if (flags.dir === undefined) return fail(['status: --dir is required']);
  const { StateError, StateStore } = await import('./state');
  const { linksOf, statusOf } = await import('./status');
  let state;
  try {
    state = new StateStore(flags.dir).load();
  } catch (err) {
    if (err instanceof StateError) return fail([err.message]);
    throw err;
  }
  if (state === null) return fail([`${path.join(flags.dir, 'state.json')}: no agent state here (run ringmaster-agent run --dir ${flags.dir} first)`]);
  const s = { ...statusOf(state), links: linksOf(flags.dir) };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return 0;
  }
  const lines = [
    `channel:      ${s.channel}`,
    `version:      ${s.version ?? 'none'}${s.rollout === null ? '' : ` (candidate of ${s.rollout})`}`,
    `previous:     ${s.previous ?? 'none'}`,
    `revision:     ${s.revision}${s.issuedAt === null ? '' : ` (issued ${s.issuedAt})`}`,
    `boot marker:  ${s.bootMarker === null ? 'none' : `${s.bootMarker.version}, ${s.bootMarker.attempts} start(s) since ${s.bootMarker.since}`}`,
    `bad:          ${s.bad.length === 0 ? 'none' : s.bad.map((b) => `${b.version} (${b.reason})`).join(', ')}`,
    `trusted keys: ${s.trustedKeys.join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function run(flags: RunFlags): Promise<number> {
  const { parseDuration } = await import('../controller/spec/duration');
  const { parseBaseUrl } = await import('../controller/http/client');
  const { keyIdOfRaw, parsePublicKey } = await import('../controller/crypto/keys');
  const { createLogger, parseLogLevel } = await import('../controller/telemetry/log');
  const { Agent, AgentSetupError } = await import('./agent');
  const { FileInstaller } = await import('./installer');
  const errors: string[] = [];
  const need = (v: string | undefined, flag: string): string => {
    if (v === undefined || v === '') errors.push(`run: ${flag} is required`);
    return v ?? '';
  };
  const controller = need(flags.controller, '--controller');
  const channel = need(flags.channel, '--channel');
  const hostId = need(flags.hostId, '--host-id');
  const dir = need(flags.dir, '--dir');
  if (controller !== '') {
    const u = parseBaseUrl(controller);
    if (typeof u === 'string') errors.push(`--controller: ${u === 'scheme' ? 'must be http:// or https://' : u === 'credentials' ? 'credentials do not belong in the URL (use --token-file)' : 'not a URL'} (got ${JSON.stringify(controller)})`);
  }
  const duration = (flag: string, text: string): number => {
    const d = parseDuration(text);
    if (!d.ok) errors.push(`${flag}: ${d.message}`);
    return d.ok ? d.ms : 0;
  };
  const pollIntervalMs = duration('--poll-interval', flags.pollInterval);
  const requestTimeoutMs = duration('--request-timeout', flags.requestTimeout);
  const maxAgeMs = duration('--max-age', flags.maxAge);
  const clockSkewMs = duration('--clock-skew', flags.clockSkew);
  const validateTimeoutMs = duration('--validate-timeout', flags.validateTimeout);
  const startTimeoutMs = duration('--start-timeout', flags.startTimeout);
  const healthyAfterMs = duration('--healthy-after', flags.healthyAfter);
  const artifactTimeoutMs = duration('--artifact-timeout', flags.artifactTimeout);
  if (pollIntervalMs === 0 && errors.length === 0) errors.push('--poll-interval: must be more than 0');
  if (requestTimeoutMs === 0 && errors.length === 0) errors.push('--request-timeout: must be more than 0');
  const maxFailedStarts = Number(flags.maxFailedStarts);
  if (!Number.isInteger(maxFailedStarts) || maxFailedStarts < 1 || maxFailedStarts > 100) errors.push(`--max-failed-starts: must be a whole number 1-100 (got ${JSON.stringify(flags.maxFailedStarts)})`);
  const artifactMaxBytes = Number(flags.artifactMaxBytes);
  if (!Number.isSafeInteger(artifactMaxBytes) || artifactMaxBytes < 1) errors.push(`--artifact-max-bytes: must be a whole number of bytes (got ${JSON.stringify(flags.artifactMaxBytes)})`);
  const labels: Record<string, string> = {};
  for (const l of flags.label) {
    const i = l.indexOf('=');
    if (i <= 0) errors.push(`--label: expected key=value (got ${JSON.stringify(l)})`);
    else labels[l.slice(0, i)] = l.slice(i + 1);
  }
  const pinKeys: TrustedManifestKey[] = [];
  for (const k of flags.pinKey) {
    const raw = await readKey(k, '--pin-key', errors);
    if (raw !== undefined) pinKeys.push({ keyId: keyIdOfRaw(raw), publicKey: raw });
  }
  const publisherKeys: TrustedKey[] = [];
  for (const [i, k] of flags.publisherKey.entries()) {
    const raw = await readKey(k, '--publisher-key', errors);
    const parsed = raw === undefined ? undefined : parsePublicKey(raw);
    if (parsed?.ok) publisherKeys.push({ name: `publisher-key-${i + 1} (${keyIdOfRaw(raw as string)})`, key: parsed.key });
  }
  const validators: ContentValidator[] = [];
  if (flags.validateSchema !== undefined && flags.validateExec !== undefined) errors.push('--validate-schema and --validate-exec: use one of them');
  if (flags.validateSchema !== undefined) {
    const schema = await readSchema(flags.validateSchema, errors);
    if (schema !== undefined) validators.push({ type: 'schema', name: path.basename(flags.validateSchema), schema });
  }
  if (flags.validateExec !== undefined) {
    validators.push({ type: 'exec', name: path.basename(flags.validateExec), command: flags.validateExec, args: flags.validateArg, timeoutMs: validateTimeoutMs });
  } else if (flags.validateArg.length > 0) errors.push('--validate-arg: only with --validate-exec');
  if (flags.startCommand === undefined && flags.startArg.length > 0) errors.push('--start-arg: only with --start-command');
  let bearerToken: string | undefined;
  if (flags.tokenFile !== undefined) {
    try {
      bearerToken = fs.readFileSync(flags.tokenFile, 'utf8').trim();
      if (bearerToken === '') errors.push(`--token-file: ${flags.tokenFile} is empty`);
    } catch (err) {
      errors.push(`--token-file: cannot read ${flags.tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  if (flags.caFile !== undefined && !fs.existsSync(flags.caFile)) errors.push(`--ca-file: no such file ${flags.caFile}`);
  const metricsText = flags.metricsListen ?? (flags.once ? 'off' : '127.0.0.1:9464');
  // Loaded only when needed: ringmaster.ts pulls in the controller's server.
  const metricsAt = metricsText === 'off' ? null : (await import('../controller/cli/ringmaster')).parseListen(metricsText);
  if (typeof metricsAt === 'string') errors.push(`--metrics-listen: ${metricsAt}`);
  const level = flags.logLevel === undefined ? undefined : parseLogLevel(flags.logLevel);
  if (flags.logLevel !== undefined && level === undefined) errors.push(`--log-level: must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(flags.logLevel)})`);
  if (errors.length > 0) return fail(errors);

  const log = createLogger({ ...(level === undefined ? {} : { level }), base: { component: NAME } });
  const opts: AgentOptions = {
    controller,
    channel,
    hostId,
    labels,
    dir,
    installer: new FileInstaller(dir, { ...(flags.startCommand === undefined ? {} : { startCommand: flags.startCommand, startArgs: flags.startArg }), startTimeoutMs, log }),
    pinKeys,
    publisherKeys: publisherKeys.length > 0 ? publisherKeys : null,
    validators,
    pollIntervalMs,
    requestTimeoutMs,
    maxAgeMs,
    clockSkewMs,
    boot: { maxFailedStarts, healthyAfterMs },
    fetchLimits: { timeoutMs: artifactTimeoutMs, maxBytes: artifactMaxBytes },
    ...(bearerToken === undefined ? {} : { bearerToken }),
    ...(flags.caFile === undefined ? {} : { http: { caFile: flags.caFile } }),
    log,
  };
  let agent: Agent;
  try {
    agent = await Agent.open(opts);
  } catch (err) {
    if (err instanceof AgentSetupError) return fail([err.message]);
    const e = err as NodeJS.ErrnoException;
    if (e.code !== undefined) return fail([`${dir}: cannot use the state directory (${e.code})`]);
    throw err;
  }
  let metrics: { address: string; close: () => Promise<void> } | undefined;
  try {
    if (metricsAt !== null && typeof metricsAt !== 'string') {
      try {
        metrics = await agent.metrics.listen(metricsAt.host, metricsAt.port);
      } catch (err) {
        return fail([`--metrics-listen: cannot listen on ${metricsText} (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
      }
      log.info({ metrics: metrics.address }, `metrics on http://${metrics.address}/metrics`);
    }
    if (flags.once) {
      const r = await agent.pollOnce();
      process.stdout.write(`${NAME}: ${summary(r, agent)}\n`);
      return r.onDesired ? 0 : 1;
    }
    const ac = new AbortController();
    const onSignal = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'stopping');
      ac.abort();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      await agent.run(ac.signal);
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    return 0;
  } finally {
    await metrics?.close();
    await agent.close();
  }
}

function summary(r: PollReport, agent: Agent): string {
  const s = agent.status();
  const on = s.version === null ? 'no version' : `${s.version} (${s.rollout === null ? 'stable' : `candidate of ${s.rollout}`})`;
  const where = `manifest revision ${r.revision}`;
  switch (r.action.kind) {
    case 'none':
      return `${r.manifest === 'refused' ? `manifest refused (${r.refusal?.reason ?? '?'}): ${r.refusal?.message ?? ''}` : `no manifest: ${r.error ?? ''}`}; on ${on}`;
    case 'keep':
      return `keeping ${on} (${r.action.why}), ${where}`;
    case 'on-desired':
      return `on ${on}, ${where}`;
    case 'installed':
      return r.action.reverted ? `${r.action.version} did not start: reverted, on ${on}, ${where}` : `installed ${on}${r.action.started ? '' : ' (its start failed)'}, ${where}`;
    case 'failed':
      return `update to ${r.action.version} failed (${r.action.reason}): ${r.action.message}; on ${on}, ${where}`;
    default: {
      const never: never = r.action;
      return String(never);
    }
  }
}

/** A public key as raw base64: given inline (raw base64 or PEM text) or as a file holding one. */
async function readKey(text: string, flag: string, errors: string[]): Promise<string | undefined> {
  const { parsePublicKey, publicKeyRaw } = await import('../controller/crypto/keys');
  let value = text;
  if (!text.includes('-----BEGIN') && !/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    try {
      value = fs.readFileSync(text, 'utf8');
    } catch (err) {
      errors.push(`${flag}: neither a base64 key nor a readable file (${JSON.stringify(text.slice(0, 60))}: ${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  const parsed = parsePublicKey(value);
  if (!parsed.ok) {
    errors.push(`${flag}: ${parsed.message}`);
    return undefined;
  }
  return publicKeyRaw(parsed.key).toString('base64');
}

/** The JSON Schema of --validate-schema, through the one document loader, compiled once to catch a broken schema. */
async function readSchema(file: string, errors: string[]): Promise<object | undefined> {
  const { loadDocumentFile } = await import('../controller/spec/document');
  const { formatSpecError } = await import('../controller/spec/errors');
  const { compileContentSchema } = await import('../controller/content/validators');
  const loaded = loadDocumentFile<object>({ noun: 'content schema', schema: { type: 'object' } }, file);
  if (!loaded.ok) {
    errors.push(...loaded.errors.map((e) => `--validate-schema: ${formatSpecError(e)}`));
    return undefined;
  }
  const c = compileContentSchema(loaded.value);
  if (!c.ok) {
    errors.push(`--validate-schema: ${file}: ${c.message}`);
    return undefined;
  }
  return loaded.value;
}
