/**
 * The operator against the test Kubernetes API server (real protocol, real client-node): a cluster with the
 * generated CRDs, operators in this process (each with its HTTP API on a loopback port) or as child processes
 * (`ringmaster operator`, for kill -9), and Rollout objects with bakes short enough for a test.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createServer } from '../../controller/api/server';
import { TokenSet } from '../../controller/api/tokens';
import { generateKeyPair, type KeyPair } from '../../controller/crypto/keys';
import { policyCrd, rolloutCrd } from '../../controller/operator/crd';
import { Operator, type OperatorOptions } from '../../controller/operator/operator';
import { OperatorService } from '../../controller/operator/service';
import { startKubeApiServer, type KubeApiServer } from './kube-apiserver';
import { OPEN_POLICY } from './api-fixtures';

export const NS = 'ringmaster-system';
export const ROLLOUTS = { group: 'ringmaster.dev', version: 'v1alpha1', resource: 'rollouts' };
export const POLICIES = { group: 'ringmaster.dev', version: 'v1alpha1', resource: 'policies' };
export const CONFIGMAPS = { version: 'v1', resource: 'configmaps' };
export const LEASES = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' };
export const EVENTS = { version: 'v1', resource: 'events' };

/** The admin token of the tests' API, named test-sre (sha256 in the file, as always). */
export const SRE_TOKEN = 'operator-test-sre-token';

export async function startCluster(): Promise<KubeApiServer> {
  const server = await startKubeApiServer({ crds: [rolloutCrd(), policyCrd()], bookmarkIntervalMs: 500 });
  server.put(POLICIES, { apiVersion: 'ringmaster.dev/v1alpha1', kind: 'Policy', metadata: { name: 'open', namespace: NS }, spec: OPEN_POLICY });
  return server;
}

export interface RunningOperator {
  op: Operator;
  url: string;
  stop(): Promise<void>;
}

export function tokensFile(dir: string): string {
  const file = path.join(dir, 'tokens.yaml');
  const sha = crypto.createHash('sha256').update(SRE_TOKEN).digest('hex');
  fs.writeFileSync(file, `tokens:\n  - name: test-sre\n    role: admin\n    sha256: ${sha}\n`, { mode: 0o600 });
  return file;
}

/** An operator in this process with its HTTP API (`http`: a tokens file other than the test's, an --artifacts directory). */
export async function startOperator(
  server: KubeApiServer,
  key: KeyPair,
  identity: string,
  extra: Partial<OperatorOptions> = {},
  httpOpts: { tokensFile?: string; artifactsDir?: string } = {},
): Promise<RunningOperator> {
  const op = new Operator({
    kubeConfig: server.kubeConfig(NS),
    namespace: NS,
    identity,
    signingKey: key,
    leaseDurationMs: 2000,
    renewPeriodMs: 500,
    tickMs: 150,
    rollbackDrainMs: 300,
    ...extra,
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-op-'));
  const service = new OperatorService(op, { trustedKeys: extra.trustedKeys ?? [], ...(extra.preflightAllowlist ? { preflightAllowlist: extra.preflightAllowlist } : {}) });
  const srv: http.Server = createServer(service, { tokens: TokenSet.fromFile(httpOpts.tokensFile ?? tokensFile(dir)), ...(httpOpts.artifactsDir ? { artifactsDir: httpOpts.artifactsDir } : {}) });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  await op.start();
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return {
    op,
    url,
    stop: async () => {
      await op.stop();
      await new Promise<void>((resolve) => {
        srv.close(() => resolve());
        srv.closeAllConnections();
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function newKey(): KeyPair {
  return generateKeyPair();
}

/** A Rollout object: canary by label, then the whole fleet, 300 ms bakes without waves, the open policy, no metrics. */
export function rolloutObject(name: string, opts: { channel?: string; version?: string; previousVersion?: string; bake?: string; approval?: boolean } = {}): Record<string, unknown> {
  const channel = opts.channel ?? 'sensor-content';
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name, namespace: 'team-a' },
    spec: {
      channel,
      version: opts.version ?? '7.16.291',
      previousVersion: opts.previousVersion ?? '7.16.290',
      artifact: { url: `https://updates.example.internal/${channel}/${opts.version ?? '7.16.291'}.bin`, sha256: 'ab'.repeat(32) },
      policy: 'open',
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: opts.bake ?? '300ms', ramp: 'none', ...(opts.approval ? { approval: 'required' } : {}) },
        { name: 'full', percent: 100, bake: opts.bake ?? '300ms', ramp: 'none' },
      ],
    },
  };
}

export async function until<T>(what: string, fn: () => T | undefined | false | null, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false && v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export type Status = { phase?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }>; transitions?: Array<{ n: number; from: string; to: string; actor: string }>; revision?: number; ring?: string; message?: string };

export function statusOf(server: KubeApiServer, ns: string, name: string): Status {
  return ((server.get(ROLLOUTS, ns, name) as { status?: Status } | undefined)?.status ?? {}) as Status;
}

export function conditionOf(s: Status, type: string): string | undefined {
  return s.conditions?.find((c) => c.type === type)?.status;
}
