/**
 * The operator against a test API server that speaks the real protocol, with the real @kubernetes/client-node:
 * a Rollout progresses through its rings with status and conditions; a status conflict is retried; the informers
 * recover from dropped watches and from 410 Gone; the kill switch in its ConfigMap reaches a second replica's
 * manifests within a second; deleting a Rollout in flight withdraws its candidate before the finalizer goes; a spec
 * edit is refused with a condition; and every call the operators made is granted by the chart's RBAC, and nothing
 * more is granted.
 */
import { verify } from '../../controller/crypto/keys';
import { FINALIZER } from '../../controller/operator/kube';
import { OPEN_POLICY } from '../helpers/api-fixtures';
import { rbacGrants, renderChart } from '../helpers/chart';
import type { KubeApiServer } from '../helpers/kube-apiserver';
import {
  conditionOf,
  CONFIGMAPS,
  EVENTS,
  newKey,
  NS,
  POLICIES,
  rolloutObject,
  ROLLOUTS,
  SRE_TOKEN,
  startCluster,
  startOperator,
  statusOf,
  until,
  type RunningOperator,
} from '../helpers/operator-harness';

jest.setTimeout(60_000);

let server: KubeApiServer;
let a: RunningOperator;
let b: RunningOperator;
const key = newKey();

beforeAll(async () => {
  server = await startCluster();
  a = await startOperator(server, key, 'replica-a');
  await until('replica-a leads', () => a.op.isLeader());
  b = await startOperator(server, key, 'replica-b');
});

afterAll(async () => {
  await b?.stop();
  await a?.stop();
  await server?.stop();
});

function manifestOf(url: string, channel: string): Promise<{ status: number; body: Record<string, unknown>; raw: Buffer; signature: string | null }> {
  return fetch(`${url}/v1/channels/${channel}/manifest`).then(async (r) => {
    const raw = Buffer.from(await r.arrayBuffer());
    return { status: r.status, body: r.status === 200 ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : {}, raw, signature: r.headers.get('x-ringmaster-signature') };
  });
}

it('runs a Rollout through its rings to Succeeded, with status, conditions and an Event per transition', async () => {
  server.put(ROLLOUTS, rolloutObject('ro-progress', { channel: 'progress' }));
  await until('the rollout accepted', () => statusOf(server, 'team-a', 'ro-progress').revision);
  // While it is in flight, both replicas serve the candidate, signed with the shared key.
  const seen = await until('a manifest with the candidate', () => {
    const s = statusOf(server, 'team-a', 'ro-progress');
    return s.phase === 'progressing' ? s : undefined;
  });
  expect(seen.ring).toMatch(/canary \(1\/2\)|full \(2\/2\)/);
  const done = await until('Succeeded', () => (conditionOf(statusOf(server, 'team-a', 'ro-progress'), 'Succeeded') === 'True' ? statusOf(server, 'team-a', 'ro-progress') : undefined));
  expect(done.phase).toBe('succeeded');
  expect(conditionOf(done, 'Completed')).toBe('True');
  expect(conditionOf(done, 'Progressing')).toBe('False');
  const ns = (done.transitions ?? []).map((t) => t.n);
  expect(ns).toEqual(ns.map((_n, i) => i + 1));
  expect(done.transitions?.map((t) => t.to)).toEqual(expect.arrayContaining(['progressing', 'succeeded']));
  // The finalizer is released once the rollout is terminal.
  await until('finalizer released', () => !((server.get(ROLLOUTS, 'team-a', 'ro-progress') as { metadata: { finalizers?: string[] } }).metadata.finalizers ?? []).includes(FINALIZER));
  const eventsOf = () => server.list(EVENTS, 'team-a').filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'ro-progress');
  await until('an Event per transition', () => eventsOf().length >= ns.length, 5000).catch(() => undefined);
  const events = eventsOf();
  expect(events.length).toBe(ns.length);
  // The channel's lineage now records the new version as stable, on every replica.
  await until('stable on replica-b', () => b.op.store.getChannel('progress')?.stable.version === '7.16.291');
  const m = await manifestOf(b.url, 'progress');
  expect(m.status).toBe(200);
  expect((m.body.stable as { version: string }).version).toBe('7.16.291');
  expect(verify(key.publicKey, m.raw, m.signature as string)).toBe(true);
  const fromA = await manifestOf(a.url, 'progress');
  expect(fromA.raw.equals(m.raw)).toBe(true);
});

it('retries a status write that gets 409 Conflict: decided again on the fresh object, no transition done twice', async () => {
  const conflictsBefore = a.op.stats.statusConflicts + b.op.stats.statusConflicts;
  server.failNext({ verb: 'patch', resource: 'rollouts', subresource: 'status', status: 409, count: 2 });
  server.put(ROLLOUTS, rolloutObject('ro-conflict', { channel: 'conflict' }));
  const done = await until('Succeeded despite conflicts', () => (statusOf(server, 'team-a', 'ro-conflict').phase === 'succeeded' ? statusOf(server, 'team-a', 'ro-conflict') : undefined));
  expect(a.op.stats.statusConflicts + b.op.stats.statusConflicts - conflictsBefore).toBeGreaterThanOrEqual(2);
  const ns = (done.transitions ?? []).map((t) => t.n);
  expect(ns).toEqual(ns.map((_n, i) => i + 1));
  expect(new Set(done.transitions?.map((t) => `${t.from}>${t.to}`)).size).toBe(ns.length);
});

it('keeps watching after dropped watches and after a 410 Gone (re-list)', async () => {
  expect(server.dropWatches()).toBeGreaterThan(0);
  server.put(ROLLOUTS, rolloutObject('ro-after-drop', { channel: 'drop' }));
  await until('accepted after the drop', () => statusOf(server, 'team-a', 'ro-after-drop').revision);
  await until('replica-b saw it', () => b.op.store.getRollout('ro-after-drop'));
  // Every watch's resourceVersion becomes too old: the re-watch gets 410 Gone, and the informer lists again.
  server.put(CONFIGMAPS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: 'team-a' }, data: {} });
  server.compact();
  server.dropWatches();
  server.put(ROLLOUTS, rolloutObject('ro-after-410', { channel: 'gone' }));
  await until('accepted after the 410', () => statusOf(server, 'team-a', 'ro-after-410').revision);
  await until('replica-b saw it after the 410', () => b.op.store.getRollout('ro-after-410'));
  const relists = server.calls.filter((c) => c.verb === 'list' && c.resource === 'rollouts').length;
  expect(relists).toBeGreaterThanOrEqual(4); // the first list of each replica, then a re-list of each after the 410
});

it('shows the kill switch written on one replica in the other replica\'s manifests within a second', async () => {
  server.put(ROLLOUTS, rolloutObject('ro-ks', { channel: 'ks', bake: '1h' }));
  await until('in flight', () => statusOf(server, 'team-a', 'ro-ks').phase === 'progressing');
  await until('replica-b has the manifest', () => b.op.manifests.get('ks'));
  const before = (await manifestOf(b.url, 'ks')).body;
  expect((before.killSwitch as { engaged: boolean }).engaged).toBe(false);
  const t0 = Date.now();
  const res = await fetch(`${a.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: `Bearer ${SRE_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, mode: 'freeze', reason: 'incident 42' }) });
  expect(res.status).toBe(200);
  const onB = await until('replica-b manifest engaged', () => {
    const m = b.op.manifests.get('ks');
    return m && (JSON.parse(m.body.toString('utf8')) as { killSwitch: { engaged: boolean } }).killSwitch.engaged ? m : undefined;
  }, 1000);
  const lag = Date.now() - t0;
  expect(lag).toBeLessThan(1000);
  expect(onB.revision).toBeGreaterThan(before.revision as number);
  const cm = server.get(CONFIGMAPS, NS, 'ringmaster-killswitch') as { data: Record<string, string> };
  expect(JSON.parse(cm.data['state.json'] as string)).toMatchObject({ engaged: true, actor: 'test-sre', reason: 'incident 42' });
  const release = await fetch(`${b.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: `Bearer ${SRE_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: false, reason: 'resolved' }) });
  expect(release.status).toBe(200);
  await until('replica-a released', () => !a.op.store.getKillSwitch().engaged);
});

it('withdraws the candidate of a Rollout deleted in flight before its finalizer goes', async () => {
  server.put(ROLLOUTS, rolloutObject('ro-del', { channel: 'del', bake: '1h' }));
  await until('ro-del in flight', () => statusOf(server, 'team-a', 'ro-del').phase === 'progressing');
  await until('replica-a serves it', () => a.op.manifests.get('del'));
  const withCandidate = (await manifestOf(a.url, 'del')).body;
  expect((withCandidate.candidates as unknown[]).length).toBe(1);
  const del = await fetch(`${server.url}/apis/ringmaster.dev/v1alpha1/namespaces/team-a/rollouts/ro-del`, { method: 'DELETE', headers: { Authorization: 'Bearer ringmaster-test-token' } });
  expect(del.status).toBeLessThan(300);
  await until('object gone', () => server.get(ROLLOUTS, 'team-a', 'ro-del') === undefined);
  const after = await until('manifest without the candidate', () => {
    const m = a.op.manifests.get('del');
    const body = m ? (JSON.parse(m.body.toString('utf8')) as { candidates: Array<{ exposure: { activeRing: number } }> }) : undefined;
    return body && body.candidates.every((c) => c.exposure.activeRing < 0) ? body : undefined;
  });
  expect(after.candidates.every((c) => c.exposure.activeRing < 0)).toBe(true);
  const history = a.op.store.getChannel('del')?.history ?? [];
  expect(history.map((h) => h.event)).toContain('aborted');
});

it('refuses a spec edited after acceptance with Accepted=False, and keeps running the accepted spec', async () => {
  server.put(ROLLOUTS, rolloutObject('ro-edit', { channel: 'edit', bake: '1h' }));
  await until('in flight', () => statusOf(server, 'team-a', 'ro-edit').phase === 'progressing');
  const obj = server.get(ROLLOUTS, 'team-a', 'ro-edit') as { spec: { rings: Array<{ bake: string }> } };
  obj.spec.rings[0] = { ...obj.spec.rings[0], bake: '1s' } as { bake: string };
  server.put(ROLLOUTS, obj);
  const s = await until('SpecChangeRejected', () => {
    const st = statusOf(server, 'team-a', 'ro-edit');
    return st.conditions?.find((c) => c.type === 'Accepted' && c.status === 'False' && c.reason === 'SpecChangeRejected') ? st : undefined;
  });
  expect(s.phase).toBe('progressing');
  expect((a.op.store.getRollout('ro-edit')?.spec.spec.rings[0] as { bake: string }).bake).toBe('1h');
});

it('applies a Rollout and decides a human verb through the API of a replica that does not lead', async () => {
  const auth = { Authorization: `Bearer ${SRE_TOKEN}`, 'Content-Type': 'application/json' };
  const doc = rolloutObject('ro-api', { channel: 'api', approval: true, bake: '1h' });
  const created = await fetch(`${b.url}/v1/rollouts`, { method: 'POST', headers: auth, body: JSON.stringify({ ...doc, metadata: { name: 'ro-api' } }) });
  const body = (await created.json()) as { status?: string; rollout?: { phase: { kind: string } } };
  expect(created.status).toBe(201);
  expect(server.get(ROLLOUTS, NS, 'ro-api')).toBeDefined();
  expect((server.get(ROLLOUTS, NS, 'ro-api') as { metadata: { annotations: Record<string, string> } }).metadata.annotations['ringmaster.dev/applied-by']).toBe('test-sre');
  void body;
  await until('awaiting approval', () => statusOf(server, NS, 'ro-api').phase === 'awaiting-approval');
  const t0 = Date.now();
  const approved = await fetch(`${b.url}/v1/rollouts/ro-api/approve`, { method: 'POST', headers: auth, body: JSON.stringify({ reason: 'canary owners agree' }) });
  const answer = (await approved.json()) as { result?: string; message?: string };
  expect(approved.status).toBe(200);
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(JSON.stringify(answer)).toMatch(/applied/);
  await until('progressing after the approval', () => statusOf(server, NS, 'ro-api').phase === 'progressing');
  const st = statusOf(server, NS, 'ro-api');
  expect(st.transitions?.some((t) => t.actor === 'test-sre')).toBe(true);
  await until('the consumed annotation removed', () => !Object.keys((server.get(ROLLOUTS, NS, 'ro-api') as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {}).some((k) => k.startsWith('ringmaster.dev/request.')));
  const again = await fetch(`${a.url}/v1/rollouts`, { method: 'POST', headers: auth, body: JSON.stringify({ ...doc, metadata: { name: 'ro-api' } }) });
  expect(again.status).toBe(200);
});

it('reports a spec the validator refuses as Accepted=False with the field and the reason, and never runs it', async () => {
  const bad = rolloutObject('ro-invalid', { channel: 'invalid' }) as { spec: { rings: Array<Record<string, unknown>> } };
  bad.spec.rings = [
    { name: 'early', percent: 10, bake: '1s' },
    { name: 'later', percent: 5, bake: '1s' },
    { name: 'full', percent: 100, bake: '1s' },
  ];
  server.put(ROLLOUTS, bad);
  const st = await until('rejected', () => {
    const s = statusOf(server, 'team-a', 'ro-invalid');
    return s.conditions?.find((c) => c.type === 'Accepted' && c.status === 'False') ? s : undefined;
  });
  const accepted = st.conditions?.find((c) => c.type === 'Accepted');
  expect(accepted?.reason).toBe('Invalid');
  expect(accepted?.message).toMatch(/spec\.rings\[1\]\.percent/);
  expect(accepted?.message).not.toMatch(/\n|\s+at /);
  expect(st.phase).toBe('rejected');
  expect(a.op.manifests.get('invalid')).toBeUndefined();
});

it('waits with Accepted=False UnknownPolicy until the Policy exists in the operator namespace, then runs', async () => {
  const ro = rolloutObject('ro-policy', { channel: 'policy' }) as { spec: { policy: string } };
  ro.spec.policy = 'weekdays-only';
  server.put(ROLLOUTS, ro);
  await until('UnknownPolicy', () => statusOf(server, 'team-a', 'ro-policy').conditions?.find((c) => c.type === 'Accepted' && c.reason === 'UnknownPolicy'));
  server.put(POLICIES, { apiVersion: 'ringmaster.dev/v1alpha1', kind: 'Policy', metadata: { name: 'weekdays-only', namespace: NS }, spec: { ...OPEN_POLICY } });
  const st = await until('accepted once the Policy exists', () => (conditionOf(statusOf(server, 'team-a', 'ro-policy'), 'Accepted') === 'True' ? statusOf(server, 'team-a', 'ro-policy') : undefined));
  expect(st.revision).toBeGreaterThan(0);
});

it('grants in the chart exactly the API calls the operators made', () => {
  const made = new Set(
    server.calls
      .filter((c) => c.verb !== 'discovery' && c.status < 500 && c.authenticated)
      .map((c) => `${c.apiGroup}|${c.subresource ? `${c.resource}/${c.subresource}` : c.resource}|${c.verb}`),
  );
  // The test's own calls (put/get/delete from the test) do not go through HTTP, except the DELETE above.
  made.delete('ringmaster.dev|rollouts|delete');
  const granted = new Set(rbacGrants(renderChart()).map((g) => `${g.apiGroup}|${g.resource}|${g.verb}`));
  expect([...made].filter((m) => !granted.has(m))).toEqual([]);
  expect([...granted].filter((g) => !made.has(g))).toEqual([]);
});

describe('a leader with a short re-issue period, a hung metrics provider, and the kill switch in rollback mode', () => {
  let cluster: KubeApiServer;
  let leader: RunningOperator;

  beforeAll(async () => {
    cluster = await startCluster();
    // A metrics provider that never answers (a hung Prometheus): the kill switch must not wait for it.
    const hung = { analyze: () => new Promise<undefined>(() => undefined), due: () => true, judges: () => true };
    leader = await startOperator(cluster, newKey(), 'replica-r', { manifestReissueMs: 400, analyzer: hung, analysisDeadlineMs: 10_000 });
    await until('replica-r leads', () => leader.op.isLeader());
  });

  afterAll(async () => {
    await leader?.stop();
    await cluster?.stop();
  });

  it('re-issues an unchanged manifest (a new revision, a new issuedAt) before agents would refuse it as old', async () => {
    cluster.put(ROLLOUTS, rolloutObject('ro-reissue', { channel: 'reissue', bake: '1h' }));
    const first = await until('published', () => leader.op.manifests.get('reissue'));
    const body1 = JSON.parse(first.body.toString('utf8')) as { revision: number; issuedAt: string; candidates: unknown[] };
    const later = await until('re-issued', () => {
      const m = leader.op.manifests.get('reissue');
      return m && m.revision >= first.revision + 2_000_000 ? m : undefined;
    }, 5000);
    const body2 = JSON.parse(later.body.toString('utf8')) as { revision: number; issuedAt: string; candidates: unknown[] };
    expect(Date.parse(body2.issuedAt)).toBeGreaterThan(Date.parse(body1.issuedAt));
    expect(body2.candidates).toEqual(body1.candidates);
  });

  it('decides every in-flight rollout on a kill switch in rollback mode at once, without a metrics look', async () => {
    await until('in flight', () => statusOf(cluster, 'team-a', 'ro-reissue').phase === 'progressing');
    const t0 = Date.now();
    const res = await fetch(`${leader.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: `Bearer ${SRE_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, mode: 'rollback', reason: 'bad push' }) });
    expect(res.status).toBe(200);
    await until('rolling back', () => ['rolling-back', 'rolled-back'].includes(statusOf(cluster, 'team-a', 'ro-reissue').phase ?? ''), 2000);
    process.stdout.write(`kill switch (rollback): the rollout left progressing ${Date.now() - t0} ms after the write\n`);
  });
});
