/**
 * The test Kubernetes API server (test/helpers/kube-apiserver.ts) against the real clients: @kubernetes/client-node
 * 1.x (CRUD with optimistic concurrency, /status, merge and JSON patch, finalizers, informers through watch drops,
 * 410 Gone after compaction, bookmarks, Leases) and the real kubectl binary (apply without --validate=false, a
 * second apply, get -o json, get as a Table with the printer columns, wait for a condition, delete).
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import * as YAML from 'yaml';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-apiserver';

const ROOT = path.resolve(__dirname, '../..');
const G = { group: 'ringmaster.dev', version: 'v1alpha1', plural: 'rollouts' };
const NS = 'team-a';
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function crds(): object[] {
  return YAML.parseAllDocuments(fs.readFileSync(path.join(ROOT, 'test/fixtures/kube/crds.yaml'), 'utf8')).map((d) => d.toJS() as object);
}

function rollout(name: string, version = '1.0.0', extra: Obj = {}): Obj {
  return { apiVersion: 'ringmaster.dev/v1alpha1', kind: 'Rollout', metadata: { name, ...extra }, spec: { version, channel: 'stable' } };
}

/** The HTTP code of a client-node failure. */
async function codeOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
  return 200;
}

async function until(what: string, pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let s: KubeApiServer;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;
let coord: k8s.CoordinationV1Api;

beforeAll(async () => {
  s = await startKubeApiServer({ crds: crds(), bookmarkIntervalMs: 100 });
  const kc = s.kubeConfig(NS);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  core = kc.makeApiClient(k8s.CoreV1Api);
  coord = kc.makeApiClient(k8s.CoordinationV1Api);
});

afterAll(async () => {
  await s.stop();
});

describe('client-node', () => {
  test('create, get, replace with a stale resourceVersion (409), merge patch of the object and /status, finalizers', async () => {
    const created = (await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: { ...rollout('crud'), status: { phase: 'ignored' } } })) as Obj;
    expect(created.metadata).toMatchObject({ name: 'crud', namespace: NS, generation: 1 });
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.status).toBeUndefined(); // dropped on create: the CRD has a status subresource
    expect(await codeOf(custom.createNamespacedCustomObject({ ...G, namespace: NS, body: rollout('crud') }))).toBe(409);

    const got = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'crud' })) as Obj;
    expect(got.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const missing = await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'nope' }).catch((e: { code: number; body: string }) => e);
    expect((missing as { code: number }).code).toBe(404);
    expect(JSON.parse((missing as { body: string }).body)).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });

    const replaced = (await custom.replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: { ...got, spec: { version: '1.1.0' }, status: { phase: 'x' } } })) as Obj;
    expect(replaced.metadata.generation).toBe(2);
    expect(replaced.status).toBeUndefined(); // PUT on the object ignores .status
    expect(Number(replaced.metadata.resourceVersion)).toBeGreaterThan(Number(got.metadata.resourceVersion));
    expect(await codeOf(custom.replaceNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: { ...got, spec: { version: '9' } } }))).toBe(409);

    const st = (await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'crud', body: { status: { phase: 'progressing', ring: 'canary (1/4)' }, spec: { version: 'not-applied' } } }, MERGE)) as Obj;
    expect(st.status).toEqual({ phase: 'progressing', ring: 'canary (1/4)' });
    expect(st.spec.version).toBe('1.1.0'); // /status changes only .status
    expect(st.metadata.generation).toBe(2);
    const stale = { metadata: { resourceVersion: replaced.metadata.resourceVersion }, status: { phase: 'halted' } };
    expect(await codeOf(custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'crud', body: stale }, MERGE))).toBe(409);
    const fresh = { metadata: { resourceVersion: st.metadata.resourceVersion }, status: { phase: 'halted', ring: null } };
    const halted = (await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'crud', body: fresh }, MERGE)).valueOf() as Obj;
    expect(halted.status).toEqual({ phase: 'halted' });
    const putStatus = { ...halted, spec: { version: 'ignored' }, metadata: { ...halted.metadata, labels: { ignored: 'yes' } }, status: { phase: 'put' } };
    const viaPut = (await custom.replaceNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'crud', body: putStatus })) as Obj;
    expect(viaPut.status).toEqual({ phase: 'put' });
    expect(viaPut.spec.version).toBe('1.1.0'); // PUT on /status changes only .status
    expect(viaPut.metadata.labels).toBeUndefined();
    expect(await codeOf(custom.replaceNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'crud', body: putStatus }))).toBe(409);

    // client-node's default patch format is JSON patch
    const jp = (await custom.patchNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: [{ op: 'test', path: '/spec/version', value: '1.1.0' }, { op: 'add', path: '/metadata/finalizers', value: ['ringmaster.dev/withdraw-candidate'] }] })) as Obj;
    expect(jp.metadata.finalizers).toEqual(['ringmaster.dev/withdraw-candidate']);
    expect(jp.metadata.generation).toBe(2); // metadata only
    expect(await codeOf(custom.patchNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: [{ op: 'test', path: '/spec/version', value: 'other' }] }))).toBe(422);
    expect(await codeOf(custom.patchNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: { spec: {} } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)))).toBe(415);

    const deleting = (await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'crud' })) as Obj;
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    expect(s.get('rollouts.ringmaster.dev', NS, 'crud')).toBeDefined(); // held by its finalizer
    const addFinalizer = [{ op: 'add', path: '/metadata/finalizers/-', value: 'other.dev/new' }];
    expect(await codeOf(custom.patchNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: addFinalizer }))).toBe(422);
    await custom.patchNamespacedCustomObject({ ...G, namespace: NS, name: 'crud', body: { metadata: { finalizers: null } } }, MERGE);
    expect(s.get('rollouts.ringmaster.dev', NS, 'crud')).toBeUndefined();
    expect(await codeOf(custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'crud' }))).toBe(404);

    const verbs = s.calls.filter((c) => c.resource === 'rollouts').map((c) => `${c.verb}${c.subresource ? `/${c.subresource}` : ''} ${c.status}`);
    expect(verbs).toEqual(expect.arrayContaining(['create 201', 'create 409', 'get 200', 'get 404', 'update 200', 'update 409', 'patch/status 200', 'patch/status 409', 'patch 415', 'delete 200']));
    expect(s.calls.every((c) => c.authenticated)).toBe(true);
  });

  test('unknown fields are pruned (a Warning), refused under fieldValidation=Strict; schema errors are 422', async () => {
    const o = (await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: rollout('prune') })) as Obj;
    const st = (await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'prune', body: { status: { phase: 'p', bogus: 1, state: { any: { thing: 1 } } } } }, MERGE)) as Obj;
    expect(st.status).toEqual({ phase: 'p', state: { any: { thing: 1 } } });
    expect(await codeOf(custom.createNamespacedCustomObject({ ...G, namespace: NS, body: rollout('strict', '1', {}), fieldValidation: 'Strict' }))).toBe(200);
    expect(await codeOf(custom.createNamespacedCustomObject({ ...G, namespace: NS, body: { ...rollout('strict2'), extra: 1 }, fieldValidation: 'Strict' }))).toBe(400);
    expect(await codeOf(custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'prune', body: { status: { conditions: [{ type: 'Succeeded', status: 'Maybe' }] } } }, MERGE))).toBe(422);
    expect(await codeOf(custom.createNamespacedCustomObject({ ...G, namespace: NS, body: { ...rollout('noversion'), spec: {} } }))).toBe(422);
    expect(o.metadata.name).toBe('prune');
    const raw = await fetch(`${s.url}/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/rollouts/prune/status`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/merge-patch+json', Authorization: 'Bearer ringmaster-test-token' },
      body: JSON.stringify({ status: { bogus: 2 } }),
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('warning')).toBe('299 - "unknown field \\"status.bogus\\""');
    const wrongToken = await fetch(`${s.url}/api/v1/namespaces/${NS}/configmaps`, { headers: { Authorization: 'Bearer wrong' } });
    expect(wrongToken.status).toBe(401);
    expect(await wrongToken.json()).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });

  test('list: resourceVersion, label and field selectors, all namespaces, limit/continue', async () => {
    for (const [ns, name, tier] of [
      ['sel-a', 'one', 'web'],
      ['sel-a', 'two', 'db'],
      ['sel-b', 'three', 'web'],
    ] as const) {
      await custom.createNamespacedCustomObject({ ...G, namespace: ns, body: rollout(name, '1', { labels: { tier, 'app.kubernetes.io/part-of': 'x' } }) });
    }
    const all = (await custom.listClusterCustomObject({ ...G, labelSelector: 'app.kubernetes.io/part-of=x' })) as Obj;
    expect(all.kind).toBe('RolloutList');
    expect(all.metadata.resourceVersion).toBe(s.resourceVersion());
    expect(all.items.map((i: Obj) => i.metadata.name)).toEqual(['one', 'two', 'three']);
    const names = async (q: Obj): Promise<string[]> => ((await custom.listClusterCustomObject({ ...G, ...q })) as Obj).items.map((i: Obj) => i.metadata.name);
    expect(await names({ labelSelector: 'tier=web' })).toEqual(['one', 'three']);
    expect(await names({ labelSelector: 'tier!=web,app.kubernetes.io/part-of' })).toEqual(['two']);
    expect(await names({ fieldSelector: 'metadata.name=two' })).toEqual(['two']);
    expect(await names({ fieldSelector: 'metadata.namespace=sel-b' })).toEqual(['three']);
    const inA = (await custom.listNamespacedCustomObject({ ...G, namespace: 'sel-a' })) as Obj;
    expect(inA.items.map((i: Obj) => i.metadata.name)).toEqual(['one', 'two']);
    const page1 = (await custom.listClusterCustomObject({ ...G, labelSelector: 'app.kubernetes.io/part-of=x', limit: 2 })) as Obj;
    expect(page1.items).toHaveLength(2);
    expect(page1.metadata.remainingItemCount).toBe(1);
    const page2 = (await custom.listClusterCustomObject({ ...G, labelSelector: 'app.kubernetes.io/part-of=x', limit: 2, _continue: page1.metadata.continue })) as Obj;
    expect(page2.items.map((i: Obj) => i.metadata.name)).toEqual(['three']);
    expect(page2.metadata.continue).toBeUndefined();
    const cms = await core.listNamespacedConfigMap({ namespace: NS });
    expect(cms.metadata?.resourceVersion).toBe(s.resourceVersion());
  });

  test('an informer: add/update/delete; re-watches by itself after a clean end, relists after 410, needs start() after an abrupt end', async () => {
    const informer = k8s.makeInformer(s.kubeConfig(NS), `/apis/ringmaster.dev/v1alpha1/namespaces/inf/rollouts`, () => custom.listNamespacedCustomObject({ ...G, namespace: 'inf' }) as never);
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${(o as Obj).spec?.version}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on('error', (e) => errors.push(e));
    await custom.createNamespacedCustomObject({ ...G, namespace: 'inf', body: rollout('before') });
    await informer.start();
    await until('the initial list', () => seen.includes('add before'));
    await until('the watch', () => s.watchCount() === 1);
    await custom.createNamespacedCustomObject({ ...G, namespace: 'inf', body: rollout('live') });
    await custom.patchNamespacedCustomObject({ ...G, namespace: 'inf', name: 'live', body: { spec: { version: '2.0.0' } } }, MERGE);
    await until('add+update', () => seen.includes('update live 2.0.0'));

    // A clean end of the watch response: ListWatch's done handler re-watches from its last resourceVersion.
    s.clearCalls();
    expect(s.dropWatches()).toBe(1);
    await until('the re-watch', () => s.calls.some((c) => c.verb === 'watch'));
    const rewatch = s.calls.find((c) => c.verb === 'watch');
    expect(s.calls.filter((c) => c.verb === 'list')).toHaveLength(0); // no relist: it resumed from its resourceVersion
    expect(rewatch?.status).toBe(200);
    await custom.deleteNamespacedCustomObject({ ...G, namespace: 'inf', name: 'before' });
    await until('the delete after the drop', () => seen.includes('delete before'));

    // compact() + a drop: the re-watch from the old resourceVersion gets a 410 ERROR event in the stream; ListWatch
    // then relists (the list shows what changed meanwhile) and watches from the new list's resourceVersion.
    await custom.createNamespacedCustomObject({ ...G, namespace: 'inf', body: rollout('pre-compact') });
    await until('pre-compact', () => seen.includes('add pre-compact'));
    // the resourceVersion is global: a write elsewhere moves it past the informer's last one, which compact() expires
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'elsewhere' } } });
    s.compact();
    s.clearCalls();
    s.dropWatches();
    await until('the relist after 410', () => s.calls.length >= 3);
    expect(s.calls.map((c) => `${c.verb} ${c.status}`)).toEqual(['watch 200', 'list 200', 'watch 200']);
    expect(errors).toEqual([]);
    await custom.createNamespacedCustomObject({ ...G, namespace: 'inf', body: rollout('after-410') });
    await until('events after the relist', () => seen.includes('add after-410'));

    // An abrupt end (sockets destroyed): node-fetch reports "Premature close", ListWatch's done handler gets an error
    // that is not a 410, emits 'error' and does NOT re-watch. The caller must start() it again; it then resumes
    // watching from its last resourceVersion (no relist).
    s.clearCalls();
    s.dropWatches({ abrupt: true });
    await until('the error event', () => errors.length === 1);
    expect(String((errors[0] as Error).message)).toMatch(/Premature close/);
    await new Promise((r) => setTimeout(r, 200));
    expect(s.calls.filter((c) => c.resource === 'rollouts')).toEqual([]);
    await informer.start();
    await until('the restart', () => s.calls.some((c) => c.verb === 'watch'));
    expect(s.calls.map((c) => c.verb)).toEqual(['watch']);
    await custom.createNamespacedCustomObject({ ...G, namespace: 'inf', body: rollout('after-abrupt') });
    await until('events after the abrupt drop', () => seen.includes('add after-abrupt'));
    await informer.stop();
  });

  test('watch: bookmarks, events from a resourceVersion, 410 from a compacted one, timeoutSeconds', async () => {
    const kc = s.kubeConfig(NS);
    const w = new k8s.Watch(kc);
    const fromRv = s.resourceVersion();
    await custom.createNamespacedCustomObject({ ...G, namespace: 'wt', body: rollout('w1') });
    const events: Array<{ type: string; obj: Obj }> = [];
    let done: unknown = 'open';
    const req = await w.watch('/apis/ringmaster.dev/v1alpha1/namespaces/wt/rollouts', { resourceVersion: fromRv, allowWatchBookmarks: true }, (type, obj) => events.push({ type, obj }), (e) => (done = e));
    await until('a bookmark', () => events.some((e) => e.type === 'BOOKMARK'), 3000);
    expect(events[0]).toMatchObject({ type: 'ADDED', obj: { metadata: { name: 'w1' } } });
    const bm = events.find((e) => e.type === 'BOOKMARK') as { obj: Obj };
    expect(Object.keys(bm.obj).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    expect(Object.keys(bm.obj.metadata)).toEqual(['resourceVersion']);
    expect(Number(bm.obj.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(fromRv));
    req.abort();
    expect(done).not.toBe('open');

    s.compact();
    const gone: Array<{ type: string; obj: Obj }> = [];
    let goneDone: unknown = 'open';
    await w.watch('/apis/ringmaster.dev/v1alpha1/namespaces/wt/rollouts', { resourceVersion: fromRv }, (type, obj) => gone.push({ type, obj }), (e) => (goneDone = e));
    await until('the 410 stream to end', () => goneDone !== 'open');
    expect(gone).toEqual([{ type: 'ERROR', obj: expect.objectContaining({ kind: 'Status', code: 410, reason: 'Expired' }) }]);
    expect(goneDone).toBeNull(); // HTTP 200, the ERROR event, then a clean end, as the real server

    let timedOut: unknown = 'open';
    const t0 = Date.now();
    await w.watch('/api/v1/namespaces/wt/configmaps', { timeoutSeconds: 1 }, () => undefined, (e) => (timedOut = e));
    await until('timeoutSeconds', () => timedOut !== 'open', 3000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  test('failNext answers with the status and a Status body', async () => {
    s.failNext({ verb: 'patch', resource: 'rollouts', subresource: 'status', status: 500 });
    await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: rollout('faulty') });
    const body = { status: { phase: 'x' } };
    const err = await custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'faulty', body }, MERGE).catch((e: { code: number; body: string }) => e);
    expect((err as { code: number }).code).toBe(500);
    expect(JSON.parse((err as { body: string }).body)).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    expect(await codeOf(custom.patchNamespacedCustomObjectStatus({ ...G, namespace: NS, name: 'faulty', body }, MERGE))).toBe(200);
    s.failNext({ verb: 'update', resource: 'leases', status: 409, count: 2 });
    const lease = await coord.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'f' }, spec: { holderIdentity: 'a' } } });
    expect(await codeOf(coord.replaceNamespacedLease({ namespace: NS, name: 'f', body: lease }))).toBe(409);
    expect(await codeOf(coord.replaceNamespacedLease({ namespace: NS, name: 'f', body: lease }))).toBe(409);
    expect(await codeOf(coord.replaceNamespacedLease({ namespace: NS, name: 'f', body: lease }))).toBe(200);
    expect(await codeOf(coord.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'Not_A_Name' } } }))).toBe(422);

    // A watch answered with HTTP 500: the informer emits 'error' and stops (its owner must start() it again).
    // An injected 410 is an ERROR event in a 200 stream, as the real server sends it: the informer relists itself.
    const path500 = `/apis/ringmaster.dev/v1alpha1/namespaces/${NS}/rollouts`;
    const inf = k8s.makeInformer(s.kubeConfig(NS), path500, () => custom.listNamespacedCustomObject({ ...G, namespace: NS }) as never);
    const errs: Array<{ statusCode?: number }> = [];
    inf.on('error', (e) => errs.push(e as { statusCode?: number }));
    s.failNext({ verb: 'watch', resource: 'rollouts', status: 500 });
    await inf.start();
    await until('the watch error', () => errs.length === 1);
    expect(errs[0]?.statusCode).toBe(500);
    s.failNext({ verb: 'watch', resource: 'rollouts', status: 410 });
    s.clearCalls();
    await inf.start();
    await until('the relist after the injected 410', () => s.calls.filter((c) => c.resource === 'rollouts').length >= 3);
    expect(s.calls.filter((c) => c.resource === 'rollouts').map((c) => `${c.verb} ${c.status}`)).toEqual(['watch 200', 'list 200', 'watch 200']);
    expect(errs).toHaveLength(1);
    await inf.stop();
  });

  test('Leases: create, read, replace with the optimistic lock; configmaps and events', async () => {
    const now = new Date();
    const lease = await coord.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name: 'ringmaster-leader' }, spec: { holderIdentity: 'pod-a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now, leaseTransitions: 0 } },
    });
    expect(await codeOf(coord.createNamespacedLease({ namespace: NS, body: { metadata: { name: 'ringmaster-leader' } } }))).toBe(409);
    const read = await coord.readNamespacedLease({ namespace: NS, name: 'ringmaster-leader' });
    expect(read.spec?.holderIdentity).toBe('pod-a');
    // MicroTime: the server stores and returns RFC 3339 with microseconds; client-node 1.4 hands it over as a string
    expect(read.spec?.renewTime as unknown).toBe(now.toISOString().replace('Z', '000Z'));
    const renewed = await coord.replaceNamespacedLease({ namespace: NS, name: 'ringmaster-leader', body: { ...read, spec: { ...read.spec, renewTime: new Date() } } });
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(lease.metadata?.resourceVersion));
    // pod-b with the resourceVersion it read before pod-a's renewal loses
    expect(await codeOf(coord.replaceNamespacedLease({ namespace: NS, name: 'ringmaster-leader', body: { ...read, spec: { ...read.spec, holderIdentity: 'pod-b' } } }))).toBe(409);

    const cm = await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'ringmaster-killswitch' }, data: { 'state.json': '{}' } } });
    expect(cm.metadata?.generation).toBeUndefined();
    const smp = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
    const patched = await core.patchNamespacedConfigMap({ namespace: NS, name: 'ringmaster-killswitch', body: { data: { 'state.json': '{"on":true}' } } }, smp);
    expect(patched.data).toEqual({ 'state.json': '{"on":true}' });
    const ev = await core.createNamespacedEvent({
      namespace: NS,
      body: { metadata: { generateName: 'rollout-' }, involvedObject: { kind: 'Rollout', name: 'x', namespace: NS }, reason: 'Progressing', message: 'm', type: 'Normal' },
    });
    expect(ev.metadata?.name).toMatch(/^rollout-[a-z0-9]{5}$/);
    const list = await core.listNamespacedEvent({ namespace: NS });
    expect(list.items.map((e) => e.reason)).toContain('Progressing');
  });
});

test('direct access: put writes through the API path (RV bump, watch events), list, delete, deletecollection', async () => {
  const w = new k8s.Watch(s.kubeConfig(NS));
  const events: string[] = [];
  const req = await w.watch('/api/v1/namespaces/direct/configmaps', { resourceVersion: s.resourceVersion() }, (type, obj: Obj) => events.push(`${type} ${obj.metadata.name} ${obj.data?.k}`), () => undefined);
  const a = s.put('configmaps', { metadata: { name: 'a', namespace: 'direct' }, data: { k: '1' } });
  const b = s.put('configmaps', { ...a, data: { k: '2' } });
  expect(Number(b.metadata && (b.metadata as Obj).resourceVersion)).toBeGreaterThan(Number((a.metadata as Obj).resourceVersion));
  expect(() => s.put('configmaps', { ...a, data: { k: '3' } })).toThrow(/modified/); // a's resourceVersion is stale
  s.put('configmaps', { metadata: { name: 'b', namespace: 'direct', labels: { x: 'y' } } });
  expect(s.list('configmaps', 'direct').map((o) => (o.metadata as Obj).name)).toEqual(['a', 'b']);
  expect(s.delete('configmaps', 'direct', 'a')).toBe(true);
  await core.deleteCollectionNamespacedConfigMap({ namespace: 'direct', labelSelector: 'x=y' });
  expect(s.list('configmaps', 'direct')).toEqual([]);
  await until('the events', () => events.length === 5);
  expect(events).toEqual(['ADDED a 1', 'MODIFIED a 2', 'ADDED b undefined', 'DELETED a 2', 'DELETED b undefined']);
  req.abort();
});

describe('kubectl', () => {
  const kubectlBin = (): string => path.join(execFileSync(path.join(ROOT, 'scripts/install-k8s-tools.sh'), { encoding: 'utf8' }).trim(), 'kubectl');
  let bin: string;
  let dir: string;
  let kubeconfig: string;
  const timings: string[] = [];

  beforeAll(() => {
    bin = kubectlBin();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubectl-test-'));
    kubeconfig = s.kubeconfig('ci');
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`kubectl timings: ${timings.join(', ')}`);
  });

  /** Runs kubectl asynchronously (the server is in this process: a synchronous child would deadlock it). */
  function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      execFile(bin, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
        timings.push(`${args.slice(0, 2).join(' ')} ${Date.now() - t0}ms`);
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  test('apply (with validation), apply a change, get -o json, get as a Table, wait for a condition, delete', async () => {
    const file = path.join(dir, 'rollout.yaml');
    fs.writeFileSync(file, YAML.stringify(rollout('ship-it', '2.0.0')));
    s.clearCalls();
    const a1 = await kubectl('apply', '-f', file);
    expect(a1).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/ship-it created\n' });
    expect(s.calls.some((c) => c.path === '/openapi/v3/apis/ringmaster.dev/v1alpha1')).toBe(true);
    expect(s.calls.filter((c) => c.path.startsWith('/api') && !c.resource).every((c) => c.verb === 'discovery')).toBe(true);
    const post = s.calls.find((c) => c.verb === 'create');
    expect(post).toMatchObject({ apiGroup: 'ringmaster.dev', resource: 'rollouts', namespace: 'ci', status: 201 });

    fs.writeFileSync(file, YAML.stringify(rollout('ship-it', '2.1.0')));
    const a2 = await kubectl('apply', '-f', file);
    expect(a2).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/ship-it configured\n' });
    expect(s.calls.find((c) => c.verb === 'patch')).toMatchObject({ contentType: 'application/merge-patch+json', status: 200 });
    const stored = s.get('rollouts.ringmaster.dev', 'ci', 'ship-it') as Obj;
    expect(stored.spec.version).toBe('2.1.0');
    expect(stored.metadata.generation).toBe(2);

    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, YAML.stringify({ ...rollout('bad'), spec: { version: '1', channel: 'x' }, unknownTop: 1 }));
    const a3 = await kubectl('apply', '-f', bad);
    expect(a3.code).not.toBe(0);
    expect(a3.stderr).toMatch(/unknown field "unknownTop"/);

    const json = await kubectl('get', 'rollouts.ringmaster.dev', '-o', 'json');
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as Obj;
    expect(list.items.map((i: Obj) => `${i.metadata.name} ${i.spec.version}`)).toEqual(['ship-it 2.1.0']);

    s.put('rollouts.ringmaster.dev', { ...stored, status: { phase: 'progressing', ring: 'canary (1/4)', verdict: 'pass' } });
    const tableOut = await kubectl('get', 'rmro');
    expect(tableOut.code).toBe(0);
    const [header, row] = tableOut.stdout.trim().split('\n');
    expect((header as string).split(/\s+/)).toEqual(['NAME', 'PHASE', 'RING', 'VERSION', 'VERDICT', 'AGE']);
    expect(row).toMatch(/^ship-it\s+progressing\s+canary \(1\/4\)\s+2\.1\.0\s+pass\s+\d+s$/);
    await core.createNamespacedConfigMap({ namespace: 'ci', body: { metadata: { name: 'cm1' }, data: { a: 'b' } } });
    const cmTable = await kubectl('get', 'configmaps');
    expect(cmTable.stdout.split('\n')[0]?.split(/\s+/)).toEqual(['NAME', 'AGE']);

    s.clearCalls();
    const waited = kubectl('wait', '--for=condition=Succeeded', 'rollout/ship-it', '--timeout=20s');
    let finished = false;
    void waited.then(() => (finished = true));
    await until('kubectl wait to watch', () => s.calls.some((c) => c.verb === 'watch' && c.resource === 'rollouts'), 10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(finished).toBe(false);
    await custom.patchNamespacedCustomObjectStatus(
      {
        ...G,
        namespace: 'ci',
        name: 'ship-it',
        body: { status: { phase: 'succeeded', observedGeneration: 2, conditions: [{ type: 'Succeeded', status: 'True', reason: 'Succeeded', message: 'done', lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), observedGeneration: 2 }] } },
      },
      MERGE,
    );
    const w = await waited;
    expect(w).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/ship-it condition met\n' });

    const cmFile = path.join(dir, 'cm.yaml');
    fs.writeFileSync(cmFile, YAML.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm1' }, data: { a: 'c' } }));
    s.clearCalls();
    expect(await kubectl('apply', '-f', cmFile)).toMatchObject({ code: 0 });
    expect(s.calls.find((c) => c.verb === 'patch')).toMatchObject({ resource: 'configmaps', contentType: 'application/strategic-merge-patch+json', status: 200 });
    expect(s.get('configmaps', 'ci', 'cm1')?.data).toEqual({ a: 'c' });

    const d = await kubectl('delete', 'rollout', 'ship-it');
    expect(d).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev "ship-it" deleted from ci namespace\n' });
    expect(s.get('rollouts.ringmaster.dev', 'ci', 'ship-it')).toBeUndefined();
  });

  test('a CRD applied with kubectl starts serving its type; deleting it stops', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.dev' },
      spec: {
        group: 'example.dev',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } } }],
      },
    };
    const file = path.join(dir, 'crd.yaml');
    fs.writeFileSync(file, YAML.stringify(crd));
    expect(await kubectl('apply', '-f', file)).toMatchObject({ code: 0, stdout: 'customresourcedefinition.apiextensions.k8s.io/widgets.example.dev created\n' });
    const w = path.join(dir, 'widget.yaml');
    fs.writeFileSync(w, YAML.stringify({ apiVersion: 'example.dev/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 3 } }));
    expect(await kubectl('apply', '-f', w)).toMatchObject({ code: 0, stdout: 'widget.example.dev/w created\n' });
    expect(s.get('widgets.example.dev', 'ci', 'w')?.spec).toEqual({ size: 3 });
    const established = s.get('customresourcedefinitions', '', 'widgets.example.dev') as Obj;
    expect(established.status.conditions.map((c: Obj) => `${c.type}=${c.status}`)).toEqual(['NamesAccepted=True', 'Established=True']);
    expect(await kubectl('delete', '-f', file)).toMatchObject({ code: 0 });
    expect(await codeOf(custom.listNamespacedCustomObject({ group: 'example.dev', version: 'v1', namespace: 'ci', plural: 'widgets' }))).toBe(404);
  });
});
