/**
 * `ringmaster operator`: the Kubernetes operator (controller/operator). Every replica serves the same HTTP API and
 * agent manifests as `ringmaster serve`; the replica holding the Lease reconciles. In a pod it reads the in-cluster
 * service account (or --kubeconfig / $KUBECONFIG elsewhere), the signing key and the tokens from files mounted from
 * Secrets. Flag and file problems are one line each and exit 2; SIGTERM stops it gracefully: the work in progress
 * ends and the Lease is released, so another replica leads at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as crypto from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { createServer } from '../api/server';
import { TokenSet } from '../api/tokens';
import { SERVE_DEFAULTS as DEFAULTS } from '../config/serve';
import { keyId, publicKeyRaw, type KeyPair } from '../crypto/keys';
import { parseDuration } from '../spec/duration';
import { InputError } from '../spec/errors';
import { createLogger, LOG_LEVELS, parseLogLevel } from '../telemetry/log';
import { Telemetry } from '../telemetry/metrics';
import { analysisFor, close, listen, parseListen, untilSignal } from './ringmaster';
import type { AuditEntryView } from '../runtime/service';

export interface OperatorFlags {
  namespace?: string;
  watchNamespaces?: string;
  signingKey?: string;
  tokens?: string;
  listen?: string;
  policies?: string;
  trustedKeys?: string;
  kubeconfig?: string;
  identity?: string;
  leaseDuration?: string;
  renewPeriod?: string;
  tick?: string;
  rollbackDrain?: string;
  prometheusUrl?: string;
  prometheusTimeout?: string;
  auditDb?: string;
  logLevel?: string;
  preflight?: string;
  manifestReissue?: string;
}

/**
 * The signing key from a file mounted from a Secret: group-readable is accepted (a Secret volume with fsGroup);
 * world-readable is refused.
 */
export function readMountedKey(file: string): KeyPair {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw new InputError([`--signing-key ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  if ((st.mode & 0o007) !== 0) throw new InputError([`--signing-key ${file}: readable by others (mode ${(st.mode & 0o777).toString(8)}); mount the Secret with defaultMode 0440 or stricter`]);
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  } catch {
    throw new InputError([`--signing-key ${file}: not a PEM private key`]);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new InputError([`--signing-key ${file}: not an ed25519 key`]);
  return { privateKey, publicKey: crypto.createPublicKey(privateKey) };
}

function duration(flag: string, text: string | undefined, fallback: string, errors: string[]): number {
  const d = parseDuration(text ?? fallback);
  if (!d.ok) {
    errors.push(`${flag}: ${d.message}`);
    return 0;
  }
  return d.ms;
}

export async function runOperator(flags: OperatorFlags): Promise<number> {
  const errors: string[] = [];
  const namespace = flags.namespace ?? process.env.POD_NAMESPACE;
  if (!namespace) errors.push('--namespace: required (the operator\'s own namespace: its Lease, ConfigMaps and Policies), or env POD_NAMESPACE');
  const watchNamespaces = (flags.watchNamespaces ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const listenAt = parseListen(flags.listen ?? DEFAULTS.listen);
  if (typeof listenAt === 'string') errors.push(`--listen: ${listenAt}`);
  if (!flags.signingKey) errors.push('--signing-key: required (the ed25519 key every replica signs manifests with, mounted from a Secret)');
  const leaseDurationMs = duration('--lease-duration', flags.leaseDuration, '15s', errors);
  const renewPeriodMs = duration('--renew-period', flags.renewPeriod, '5s', errors);
  if (leaseDurationMs > 0 && renewPeriodMs >= leaseDurationMs) errors.push(`--renew-period: must be shorter than --lease-duration (got ${flags.renewPeriod} and ${flags.leaseDuration ?? '15s'})`);
  const tickMs = duration('--tick', flags.tick, DEFAULTS.tick, errors);
  const rollbackDrainMs = duration('--rollback-drain', flags.rollbackDrain, DEFAULTS.rollbackDrain, errors);
  const promTimeoutMs = duration('--prometheus-timeout', flags.prometheusTimeout, DEFAULTS.prometheusTimeout, errors);
  const manifestReissueMs = duration('--manifest-reissue', flags.manifestReissue, DEFAULTS.manifestReissue, errors);
  const level = flags.logLevel === undefined ? undefined : parseLogLevel(flags.logLevel);
  if (flags.logLevel !== undefined && level === undefined) errors.push(`--log-level: expected one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(flags.logLevel)})`);
  if (errors.length > 0) return fail(errors);
  let key: KeyPair;
  let tokens: TokenSet;
  let policies: Map<string, import('../spec/types').PolicySpec>;
  let trustedKeys: import('../crypto/keys').TrustedKey[];
  let preflight: import('../content/allowlist').PreflightAllowlist | undefined;
  try {
    preflight = flags.preflight === undefined ? undefined : (await import('../content/allowlist')).loadPreflightAllowlist(flags.preflight);
    key = readMountedKey(flags.signingKey as string);
    tokens = flags.tokens === undefined ? TokenSet.empty() : TokenSet.fromFile(flags.tokens);
    policies = (await import('../runtime/policies')).loadPolicies(flags.policies ?? DEFAULTS.policies);
    trustedKeys = (await import('../runtime/config')).loadTrustedKeys(flags.trustedKeys);
  } catch (err) {
    if (err instanceof InputError) return fail(err.lines);
    throw err;
  }
  const log = createLogger(level === undefined ? {} : { level });
  const kc = new k8s.KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    return fail([`--kubeconfig: ${(err as Error).message.split('\n')[0]}`]);
  }
  const telemetry = new Telemetry();
  const identity = flags.identity ?? process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  let auditStore: import('../store/store').Store | undefined;
  if (flags.auditDb) auditStore = (await import('../store/store')).Store.open(flags.auditDb, { log });
  const prometheus = flags.prometheusUrl === undefined ? undefined : { url: flags.prometheusUrl, timeoutMs: promTimeoutMs, bearerTokenFile: undefined, caFile: undefined, insecureSkipVerify: false, minWindowSeconds: 60 };
  const analysis = await analysisFor(prometheus, log);
  const { Operator } = await import('../operator/operator');
  const { OperatorService } = await import('../operator/service');
  const op = new Operator({
    kubeConfig: kc,
    namespace: namespace as string,
    watchNamespaces,
    identity,
    signingKey: key,
    policies,
    trustedKeys,
    leaseDurationMs,
    renewPeriodMs,
    tickMs,
    rollbackDrainMs,
    manifestReissueMs,
    ...(preflight ? { preflightAllowlist: preflight } : {}),
    analyzer: analysis.analyzer,
    ...(analysis.census ? { census: analysis.census } : {}),
    observer: telemetry,
    log,
    ...(auditStore ? { auditSink: (e) => auditStore?.appendAudit(e) } : {}),
  });
  telemetry.watchOperator(() => ({ leader: op.isLeader(), informerRestarts: op.informerRestarts(), ...op.stats }));
  const audit = auditStore
    ? { list: (o: { afterId?: number; limit?: number }) => auditStore.listAudit(o) as AuditEntryView[], verify: () => auditStore.verifyAudit() }
    : undefined;
  // POST /v1/rollouts creates the object where the operator runs it: the first watched namespace, else its own.
  const service = new OperatorService(op, { trustedKeys, ...(preflight ? { preflightAllowlist: preflight } : {}), applyNamespace: watchNamespaces[0] ?? (namespace as string), ...(audit ? { audit } : {}) });
  const server = createServer(service, { tokens, observer: telemetry, log });
  const addr = listenAt as { host: string; port: number };
  try {
    await listen(server, addr.host, addr.port);
  } catch (err) {
    log.fatal({ listen: `${addr.host}:${addr.port}`, code: (err as NodeJS.ErrnoException).code }, `cannot listen on ${addr.host}:${addr.port}`);
    return 1;
  }
  await op.start();
  const a = server.address() as AddressInfo;
  process.stdout.write(`ringmaster operator: ${identity} in namespace ${namespace}, watching ${watchNamespaces.length === 0 ? 'all namespaces' : watchNamespaces.join(', ')}; listening on http://${a.address}:${a.port}\n`);
  process.stdout.write(`ringmaster operator: manifest signing key ed25519 ${publicKeyRaw(key.publicKey).toString('base64')} (key id ${keyId(key.publicKey)})\n`);
  await untilSignal(log, 'shutting down: releasing the lease');
  await op.stop();
  await close(server);
  auditStore?.close();
  log.info('stopped');
  return 0;
}

function fail(lines: string[]): number {
  for (const l of lines) process.stderr.write(`ringmaster operator: ${l}\n`);
  return 2;
}
