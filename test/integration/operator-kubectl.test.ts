/**
 * The real kubectl against the test API server while the operator runs: `kubectl apply -f examples/k8s/rollout.yaml`
 * (with kubectl's own validation against the served OpenAPI, from the generated CRD), `kubectl get
 * rollouts.ringmaster.dev -o json` and as a table with the printer columns, and `kubectl wait
 * --for=condition=...` returning once the operator sets the condition.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { loadTrustedKeys } from '../../controller/runtime/config';
import { loadPolicies } from '../../controller/runtime/policies';
import type { KubeApiServer } from '../helpers/kube-apiserver';
import { newKey, NS, rolloutObject, startCluster, startOperator, type RunningOperator } from '../helpers/operator-harness';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../..');
let server: KubeApiServer;
let op: RunningOperator;
let dir: string;
let bin: string;
let kubeconfig: string;

beforeAll(async () => {
  bin = path.join(execFileSync(path.join(ROOT, 'scripts/install-k8s-tools.sh'), { encoding: 'utf8' }).trim(), 'kubectl');
  server = await startCluster();
  op = await startOperator(server, newKey(), 'replica-k', {
    policies: loadPolicies(path.join(ROOT, 'policies')),
    trustedKeys: loadTrustedKeys(path.join(ROOT, 'examples/trusted-keys.yaml')),
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-kubectl-'));
  kubeconfig = server.kubeconfig(NS);
});

afterAll(async () => {
  await op?.stop();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Asynchronous: the API server runs in this process, a synchronous child would deadlock it. */
function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], { encoding: 'utf8', timeout: 40_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

it('kubectl apply -f examples/k8s/rollout.yaml, get -o json, get (printer columns), wait --for=condition=Accepted', async () => {
  const applied = await kubectl('apply', '-f', path.join(ROOT, 'examples/k8s/rollout.yaml'));
  expect(applied).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/sensor-content-7.16.292 created\n' });
  const waited = await kubectl('wait', '--for=condition=Accepted', 'rollout/sensor-content-7.16.292', '-n', 'team-a', '--timeout=20s');
  expect(waited).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/sensor-content-7.16.292 condition met\n' });
  const json = await kubectl('get', 'rollouts.ringmaster.dev', '-n', 'team-a', '-o', 'json');
  expect(json.code).toBe(0);
  const items = (JSON.parse(json.stdout) as { items: Array<{ metadata: { name: string; finalizers?: string[] }; status: { phase: string; conditions: Array<{ type: string; status: string }> } }> }).items;
  const ro = items.find((i) => i.metadata.name === 'sensor-content-7.16.292');
  expect(ro?.metadata.finalizers).toContain('ringmaster.dev/withdraw-candidate');
  // The default policy's window (Mon-Thu 09:00-16:00 New York) decides whether the canary starts now.
  expect(['progressing', 'waiting-for-window']).toContain(ro?.status.phase);
  expect(ro?.status.conditions.find((c) => c.type === 'Accepted')?.status).toBe('True');
  const table = await kubectl('get', 'rollouts', '-n', 'team-a');
  expect(table.code).toBe(0);
  process.stdout.write(`$ kubectl get rollouts -n team-a\n${table.stdout}`);
  const header = (table.stdout.split('\n')[0] ?? '').split(/\s+/).filter(Boolean);
  expect(header).toEqual(['NAME', 'PHASE', 'RING', 'VERSION', 'VERDICT', 'AGE']);
  expect(table.stdout).toMatch(/sensor-content-7\.16\.292\s+(progressing|waiting-for-window)\s+canary \(1\/4\)\s+7\.16\.292/);
});

it('kubectl wait --for=condition=Succeeded returns when the operator finishes the rollout', async () => {
  const file = path.join(dir, 'fast.yaml');
  fs.writeFileSync(file, YAML.stringify(rolloutObject('fast-rollout', { channel: 'fast' })));
  expect(await kubectl('apply', '-f', file)).toMatchObject({ code: 0 });
  const t0 = Date.now();
  const waited = await kubectl('wait', '--for=condition=Succeeded', 'rollout/fast-rollout', '-n', 'team-a', '--timeout=30s');
  expect(waited).toMatchObject({ code: 0, stdout: 'rollout.ringmaster.dev/fast-rollout condition met\n' });
  process.stdout.write(`kubectl wait --for=condition=Succeeded returned after ${Date.now() - t0} ms\n`);
  const phase = await kubectl('get', 'rollout', 'fast-rollout', '-n', 'team-a', '-o', 'jsonpath={.status.phase}');
  expect(phase.stdout).toBe('succeeded');
});
