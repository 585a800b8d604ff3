/**
 * Two `ringmaster operator` processes against the test API server (real protocol): kill -9 of the leader hands the
 * Lease to the other replica within the lease duration (plus one retry period), the rollout in flight goes on from
 * its status, and no transition is done twice. A graceful stop (SIGTERM) releases the Lease at once.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeKeyPair } from '../../controller/crypto/keys';
import { ensureBuilt } from '../helpers/build';
import { start, stop } from '../helpers/children';
import type { KubeApiServer } from '../helpers/kube-apiserver';
import { EVENTS, LEASES, NS, rolloutObject, ROLLOUTS, startCluster, statusOf, tokensFile, until } from '../helpers/operator-harness';
import { freePort } from '../helpers/prometheus';

jest.setTimeout(90_000);

const LEASE_MS = 3000;
const RENEW_MS = 1000;
const RETRY_MS = 500; // the operator's retry period: renew period / 2

let server: KubeApiServer;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ensureBuilt();
  server = await startCluster();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-failover-'));
  writeKeyPair(dir, 'signing');
});

afterAll(async () => {
  for (const c of children) await stop(c);
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function operator(identity: string): Promise<{ child: ChildProcess; out: () => string; url: string }> {
  const port = await freePort();
  const p = start([
    'bin/ringmaster.js', 'operator',
    '--kubeconfig', server.kubeconfig(NS),
    '--namespace', NS,
    '--identity', identity,
    '--signing-key', path.join(dir, 'signing.key'),
    '--tokens', tokensFile(dir),
    '--policies', path.join(__dirname, '../../policies'),
    '--listen', `127.0.0.1:${port}`,
    '--lease-duration', `${LEASE_MS}ms`,
    '--renew-period', `${RENEW_MS}ms`,
    '--tick', '200ms',
    '--rollback-drain', '300ms',
    '--log-level', 'warn',
  ]);
  children.push(p.child);
  await until(`${identity} listening`, () => /listening on/.test(p.out()), 20_000);
  return { ...p, url: `http://127.0.0.1:${port}` };
}

function holder(): string {
  return ((server.get(LEASES, NS, 'ringmaster-leader') as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity ?? '');
}

it('hands the Lease over within the lease duration after kill -9 of the leader, and no transition is done twice', async () => {
  const a = await operator('replica-a');
  await until('replica-a leads', () => holder() === 'replica-a', 10_000);
  const b = await operator('replica-b');
  const leaderGauge = async (url: string): Promise<string | undefined> => /^ringmaster_operator_leader (\d)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
  expect(await leaderGauge(a.url)).toBe('1');
  expect(await leaderGauge(b.url)).toBe('0');
  server.put(ROLLOUTS, rolloutObject('ro-failover', { channel: 'failover', bake: '2s' }));
  await until('canary in flight', () => statusOf(server, 'team-a', 'ro-failover').phase === 'progressing', 10_000);
  a.child.kill('SIGKILL');
  const killedAt = Date.now();
  await until('replica-b leads', () => holder() === 'replica-b', LEASE_MS + 3000);
  const handover = Date.now() - killedAt;
  process.stdout.write(`failover: the lease moved to replica-b ${handover} ms after kill -9 of replica-a (lease ${LEASE_MS} ms, renew ${RENEW_MS} ms, retry ${RETRY_MS} ms)\n`);
  expect(handover).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + 200);
  let gauge: string | undefined;
  for (let i = 0; i < 20 && gauge !== '1'; i++) {
    gauge = await leaderGauge(b.url);
    if (gauge !== '1') await new Promise((r) => setTimeout(r, 50));
  }
  expect(gauge).toBe('1');
  const done = await until('succeeded under replica-b', () => (statusOf(server, 'team-a', 'ro-failover').phase === 'succeeded' ? statusOf(server, 'team-a', 'ro-failover') : undefined), 20_000);
  const ts = done.transitions ?? [];
  expect(ts.map((t) => t.n)).toEqual(ts.map((_t, i) => i + 1));
  const steps = ts.map((t) => `${t.from}>${t.to}@${(t as { exposedRing?: number }).exposedRing}`);
  expect(new Set(steps).size).toBe(steps.length);
  // One Event per transition, never two (the names are per transition, and none was created twice).
  // The Events follow the status write that committed each transition.
  const eventsOf = () => server.list(EVENTS, 'team-a').filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'ro-failover');
  await until('an Event per transition', () => eventsOf().length >= ts.length, 5000).catch(() => undefined);
  const events = eventsOf();
  const names = events.map((e) => (e as { metadata: { name: string } }).metadata.name).sort();
  expect({ names, transitions: steps }).toEqual({ names: ts.map((t) => expect.stringMatching(new RegExp(`\\.t${t.n}$`))), transitions: steps });
  const creates = server.calls.filter((c) => c.verb === 'create' && c.resource === 'events' && c.status === 201 && c.namespace === 'team-a');
  expect(creates.length).toBeGreaterThanOrEqual(ts.length);
});

it('releases the Lease on a graceful stop: the other replica leads at once', async () => {
  const c = await operator('replica-c');
  const leader = children.find((ch) => ch.exitCode === null && ch.signalCode === null && ch !== c.child) as ChildProcess;
  expect(holder()).toBe('replica-b');
  const t0 = Date.now();
  await stop(leader);
  await until('replica-c leads', () => holder() === 'replica-c', LEASE_MS + 2000);
  const took = Date.now() - t0;
  process.stdout.write(`graceful: replica-c led ${took} ms after SIGTERM of replica-b\n`);
  expect(took).toBeLessThan(LEASE_MS);
});
