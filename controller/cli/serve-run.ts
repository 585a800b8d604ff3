/**
 * The wiring of `ringmaster serve` once its settings are read: the audit chain check, the controller (store,
 * policies, keys, reconcile loop), the HTTP API, the listening lines on stdout, and a clean stop on SIGTERM/SIGINT.
 *
 * The metrics source is a parameter: `ringmaster serve` passes Prometheus (or nothing), and the fleet simulator's
 * `agent-sim serve` passes its in-process MetricsProvider (agent-sim/serve.ts). The dependency goes one way:
 * agent-sim imports this file, never the reverse.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from '../api/server';
import type { OidcVerifier } from '../api/oidc';
import type { TokenSet } from '../api/tokens';
import type { NotificationSinkConfig } from '../config/serve';
import type { PreflightAllowlist } from '../content/allowlist';
import { KeyFileError } from '../crypto/keys';
import type { Analyzer, Controller } from '../runtime/controller';
import type { CensusSource } from '../runtime/types';
import { InputError } from '../spec/errors';
import type { Logger } from '../telemetry/log';
import { Telemetry } from '../telemetry/metrics';
import type { ServeSettings } from './ringmaster';
import { close, listen, untilSignal } from './serve-net';

export interface ServeAnalysis {
  analyzer: Analyzer;
  census?: CensusSource;
}

export interface RunServeOptions {
  settings: ServeSettings;
  tokens: TokenSet;
  /** People's OIDC tokens (api/oidc.ts); closed at shutdown. Absent: static tokens only. */
  oidc?: OidcVerifier;
  /** Break-glass credentials: they engage the kill switch and nothing else (docs/security.md). */
  breakGlass?: TokenSet;
  log: Logger;
  /** The health analysis (called once, before the controller opens). */
  analysis: () => Promise<ServeAnalysis>;
  preflight?: PreflightAllowlist;
  sinks?: readonly NotificationSinkConfig[];
  acceptBrokenAudit?: string;
  /** The program's name in its one-line errors (`ringmaster: ...`). */
  program?: string;
  /** Extra stdout lines after the listening and signing-key lines (what the metrics are, for a simulator). */
  banner?: string[];
  /**
   * Runs once the API listens and the controller runs (the simulator starts its fleet here). Its result is called
   * at shutdown, before the server closes.
   */
  onStarted?: (controller: Controller, url: string) => Promise<() => Promise<void>>;
  /** Called once the listening lines are printed (a pid file, for example). */
  onListening?: (url: string) => void;
}

/** Runs the controller and its API until SIGTERM/SIGINT; the exit code (2: a start refused for bad input). */
export async function runServe(o: RunServeOptions): Promise<number> {
  const { settings, log } = o;
  const program = o.program ?? 'ringmaster';
  const fail = (lines: string[]): number => {
    for (const l of lines) process.stderr.write(`${program}: ${l}\n`);
    return 2;
  };
  const telemetry = new Telemetry();
  // The audit chain is verified before the controller opens the store; a broken one refuses to start (docs/audit.md).
  const { attachAuditSource, auditKeyLine, openServeAudit } = await import('../store/audit-open');
  const audit = openServeAudit({ dataDir: settings.data, acceptBroken: o.acceptBrokenAudit, log });
  if (!audit.ok) return fail([audit.line]);
  telemetry.watchAudit(() => audit.publisher.sample());
  // Loaded here, after the flags were checked: the runtime pulls in SQLite and the document loaders.
  const { Controller } = await import('../runtime/controller');
  let controller: Controller;
  try {
    controller = await Controller.open({
      ...(o.preflight === undefined ? {} : { preflightAllowlist: o.preflight }),
      dataDir: settings.data,
      policiesDir: settings.policies,
      ...(settings.trustedKeys === undefined ? {} : { trustedKeysFile: settings.trustedKeys }),
      tickMs: settings.tickMs,
      rollbackDrainMs: settings.rollbackDrainMs,
      manifestReissueMs: settings.manifestReissueMs,
      ...(await o.analysis()),
      observer: telemetry,
      log,
      ...(o.sinks !== undefined && o.sinks.length > 0 ? { notifications: { sinks: o.sinks, observer: telemetry } } : {}),
    });
  } catch (err) {
    if (err instanceof InputError) return fail(err.lines);
    if (err instanceof KeyFileError) return fail([err.message]);
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EROFS') {
      return fail([`${settings.data}: cannot use the data directory (${e.code})`]);
    }
    throw err;
  }

  const server = createServer(controller, { tokens: o.tokens, ...(o.oidc ? { oidc: o.oidc } : {}), ...(o.breakGlass ? { breakGlass: o.breakGlass } : {}), observer: telemetry, log, ...(settings.artifacts === undefined ? {} : { artifactsDir: settings.artifacts }) });
  try {
    await listen(server, settings.listen.host, settings.listen.port);
  } catch (err) {
    await controller.stop();
    const e = err as NodeJS.ErrnoException;
    log.fatal({ listen: `${settings.listen.host}:${settings.listen.port}`, code: e.code }, `cannot listen on ${settings.listen.host}:${settings.listen.port} (${e.code ?? e.message})`);
    return 1;
  }
  controller.start();
  attachAuditSource(controller, audit.publisher.store);
  audit.publisher.start();
  const addr = server.address() as AddressInfo;
  const key = controller.signingKey();
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  const stopExtra = o.onStarted ? await o.onStarted(controller, url) : async (): Promise<void> => undefined;
  process.stdout.write(`${program}: listening on ${url}\n`);
  process.stdout.write(`${program}: manifest signing key ed25519 ${key.publicKey} (key id ${key.keyId}); agents pin it, also at GET /v1/signing-key\n`);
  const auditKey = audit.publisher.key();
  if (auditKey) process.stdout.write(`${auditKeyLine(auditKey)}\n`);
  for (const line of o.banner ?? []) process.stdout.write(`${line}\n`);
  o.onListening?.(url);

  // SIGHUP re-reads --policies (docs/policies.md#reload); a directory with a mistake leaves the old policies in force.
  const onHangup = (): void => {
    log.info({ signal: 'SIGHUP', dir: settings.policies }, 'reloading policies');
    try {
      controller.reloadPolicies('signal:SIGHUP');
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'policy reload failed; the old policies stay in force');
    }
  };
  process.on('SIGHUP', onHangup);
  await untilSignal(log, 'shutting down');
  process.off('SIGHUP', onHangup);
  await stopExtra();
  await close(server);
  await controller.stop();
  await o.oidc?.close();
  audit.publisher.stop();
  log.info('stopped');
  return 0;
}
