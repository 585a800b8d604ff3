/**
 * A lab for the reference agent's tests: the real Controller (real SQLite in a temp dir, a virtual clock that the
 * agents share) behind the real API server on a loopback port, serving artifacts from a temp directory
 * (`--artifacts`), and rollouts whose rings start whole (ramp none) and advance on bake time.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentOptions } from '../../agent';
import { FileInstaller } from '../../agent';
import { createServer } from '../../controller/api/server';
import { TokenSet } from '../../controller/api/tokens';
import type { ManifestArtifact, TrustedManifestKey } from '../../controller/engine/agent';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller } from '../../controller/runtime/controller';
import type { Rollout } from '../../controller/spec/types';
import { OPEN_POLICY } from '../helpers/api-fixtures';

export const MIN = 60_000;
/** Monday 2026-11-30 14:00 UTC. */
export const START = Date.parse('2026-11-30T14:00:00Z');
export const CHANNEL = 'sensor-content';

export interface Lab {
  controller: Controller;
  clock: VirtualClock;
  url: string;
  port: number;
  dataDir: string;
  artifactsDir: string;
  /** The key agents pin. */
  pin(): TrustedManifestKey[];
  /** Writes an artifact file and returns how a rollout (and the manifest) names it. */
  artifact(name: string, bytes: Buffer): ManifestArtifact;
  /** Moves the shared clock forward in steps, reconciling after each. */
  advance(ms: number, step?: number): Promise<void>;
  /** Stops the server and the controller (the data directory stays). */
  stop(): Promise<void>;
  /** Opens the controller again on the same data directory and port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function openLab(opts: { rollbackDrainMs?: number; manifestReissueMs?: number; dataDir?: string; clock?: VirtualClock } = {}): Promise<Lab> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-lab-'));
  const dataDir = opts.dataDir ?? path.join(root, 'data');
  const artifactsDir = path.join(root, 'artifacts');
  fs.mkdirSync(artifactsDir);
  const clock = opts.clock ?? new VirtualClock(START);
  let controller: Controller | undefined;
  let server: http.Server | undefined;
  let port = 0;
  const open = async (): Promise<void> => {
    controller = await Controller.open({
      dataDir,
      policiesDir: '/nonexistent',
      policies: new Map([['open', OPEN_POLICY]]),
      trustedKeys: [],
      clock,
      rollbackDrainMs: opts.rollbackDrainMs ?? 2 * MIN,
      ...(opts.manifestReissueMs === undefined ? {} : { manifestReissueMs: opts.manifestReissueMs }),
    });
    server = createServer(controller, { tokens: TokenSet.empty(), artifactsDir });
    await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const stop = async (): Promise<void> => {
    if (server !== undefined) {
      const s = server;
      await new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      });
    }
    await controller?.stop();
    server = undefined;
  };
  await open();
  const lab: Lab = {
    get controller() {
      return controller as Controller;
    },
    clock,
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dataDir,
    artifactsDir,
    pin: () => {
      const k = (controller as Controller).signingKey();
      return [{ keyId: k.keyId, publicKey: k.publicKey }];
    },
    artifact: (name, bytes) => {
      fs.writeFileSync(path.join(artifactsDir, name), bytes);
      return { url: `http://127.0.0.1:${port}/artifacts/${name}`, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
    },
    advance: async (ms, step = MIN) => {
      for (let t = 0; t < ms; t += step) {
        clock.advance(Math.min(step, ms - t));
        await (controller as Controller).reconcileAll();
      }
    },
    stop,
    start: open,
    close: async () => {
      await stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return lab;
}

/** A rollout of `version` on the channel: a canary ring by label, then everyone; whole rings, 10 min bakes. */
export function rolloutOf(name: string, version: string, previousVersion: string, artifact: ManifestArtifact, extra: Partial<Rollout['spec']> = {}): Rollout {
  return {
    apiVersion: 'ringmaster.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name },
    spec: {
      channel: CHANNEL,
      version,
      previousVersion,
      artifact: { url: artifact.url, sha256: artifact.sha256, ...(artifact.signature === undefined ? {} : { signature: artifact.signature }) },
      policy: 'open',
      rings: [
        { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '10m', ramp: 'none' },
        { name: 'everyone', percent: 100, bake: '10m', ramp: 'none' },
      ],
      ...extra,
    },
  };
}

/** Agent options against the lab: the lab's clock, its key pinned, a FileInstaller in `dir`. */
export function agentOptions(lab: Lab, dir: string, extra: Partial<AgentOptions> = {}): AgentOptions {
  return {
    controller: lab.url,
    channel: CHANNEL,
    hostId: 'host-1',
    labels: { ring: 'canary' },
    dir,
    installer: new FileInstaller(dir),
    pinKeys: lab.pin(),
    now: () => lab.clock.now(),
    bootId: () => 'boot-1',
    pollIntervalMs: 1000,
    ...extra,
  };
}

/** Where DIR/current resolves, and the sha256 of the bytes there (null: no link). */
export function activeBytes(dir: string): { version: string; sha256: string } | null {
  try {
    const target = fs.readlinkSync(path.join(dir, 'current'));
    const bytes = fs.readFileSync(path.join(dir, 'current'));
    return { version: path.basename(target), sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
  } catch {
    return null;
  }
}

/** A metric's value in Prometheus text, by exact label set (`name{a="x",b="y"}`); undefined when absent. */
export function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
