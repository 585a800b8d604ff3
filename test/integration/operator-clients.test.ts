/**
 * The clients work against the operator as against `ringmaster serve`: `ringctl apply`, `status`, `kill` and
 * `unkill` through a replica's HTTP API, and the reference agent (`ringmaster-agent run --once`) verifying and
 * installing what the replicas' signed manifests say, with the operator's key pinned.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { publicKeyRaw } from '../../controller/crypto/keys';
import { loadTrustedKeys } from '../../controller/runtime/config';
import { loadPolicies } from '../../controller/runtime/policies';
import { ensureBuilt } from '../helpers/build';
import type { KubeApiServer } from '../helpers/kube-apiserver';
import { newKey, NS, ROLLOUTS, startCluster, startOperator, statusOf, until, type RunningOperator } from '../helpers/operator-harness';

jest.setTimeout(90_000);

const ROOT = path.resolve(__dirname, '../..');
const PUBLISHERS = ['ssRLS5eYq4A6JhWrrA/UFTBNuBCiJeLw4KgBsSENMrg=', 'C9zAmXLjKkwMvPYLKsT7xKhQ3421iRFed84JbjNIB6c='];
const key = newKey();
const pinned = publicKeyRaw(key.publicKey).toString('base64');
let server: KubeApiServer;
let leader: RunningOperator;
let follower: RunningOperator;
let tmp: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Asynchronous: the API server and the operators run in this process. */
function node(bin: string, args: string[], input?: string, token = 'ringmaster-example-admin'): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(ROOT, 'bin', bin), ...args], { cwd: ROOT, env: { PATH: process.env.PATH, RINGMASTER_TOKEN: token }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

beforeAll(async () => {
  ensureBuilt();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-op-clients-'));
  server = await startCluster();
  const opts = { policies: loadPolicies(path.join(ROOT, 'examples/live/policies')), trustedKeys: loadTrustedKeys(path.join(ROOT, 'examples/trusted-keys.yaml')) };
  const http = { tokensFile: path.join(ROOT, 'examples/tokens.yaml'), artifactsDir: path.join(ROOT, 'examples/artifacts') };
  leader = await startOperator(server, key, 'replica-1', opts, http);
  await until('replica-1 leads', () => leader.op.isLeader());
  follower = await startOperator(server, key, 'replica-2', opts, http);
});

afterAll(async () => {
  await follower?.stop();
  await leader?.stop();
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const agentArgs = (url: string, dir: string, host: string, extra: string[] = []): string[] => [
  'run', '--once', '--controller', url, '--channel', 'sensor-content', '--host-id', host, '--pin-key', pinned, '--dir', path.join(tmp, dir),
  ...PUBLISHERS.flatMap((k) => ['--publisher-key', k]), '--log-level', 'warn', ...extra,
];

it('ringctl apply and status through a follower; the agent installs the candidate on a canary host and the stable version elsewhere', async () => {
  const doc = fs.readFileSync(path.join(ROOT, 'examples/rollouts/local-agent.yaml'), 'utf8').replaceAll('http://127.0.0.1:8080', follower.url);
  const applied = await node('ringctl.js', ['apply', '--server', follower.url, '-f', '-'], doc);
  expect(applied).toMatchObject({ code: 0, stdout: expect.stringContaining('created') as string });
  expect(server.get(ROLLOUTS, NS, 'sensor-content-7.16.292-local')).toBeDefined();
  // Pre-flight (the content schema, fetched from the replica's /artifacts) passes, then the canary starts.
  await until('canary in flight', () => statusOf(server, NS, 'sensor-content-7.16.292-local').phase === 'progressing', 20_000);
  await until('replica-2 serves the candidate', () => follower.op.manifests.get('sensor-content')?.body.includes('"state":"progressing"'));
  const status = await node('ringctl.js', ['status', '--server', follower.url, 'sensor-content-7.16.292-local']);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/progressing/);
  process.stdout.write(`$ ringctl status sensor-content-7.16.292-local (against replica-2)\n${status.stdout}`);

  const canary = await node('ringmaster-agent.js', agentArgs(follower.url, 'canary-1', 'canary-1', ['--label', 'ring=canary']));
  expect(canary).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ringmaster-agent: installed 7\.16\.292 \(candidate of sensor-content-7\.16\.292-local\), manifest revision \d+\n$/) as string });
  const other = await node('ringmaster-agent.js', agentArgs(leader.url, 'host-2', 'host-2'));
  expect(other).toMatchObject({ code: 0, stdout: expect.stringMatching(/^ringmaster-agent: installed 7\.16\.291 \(stable\), manifest revision \d+\n$/) as string });
  process.stdout.write(`${canary.stdout}${other.stdout}`);
});

it('ringctl kill on one replica: a host polling the other replica installs nothing new; unkill, and it takes the candidate', async () => {
  const kill = await node('ringctl.js', ['kill', '--server', leader.url, '--reason', 'incident drill']);
  expect(kill.code).toBe(0);
  await until('replica-2 shows the kill switch', () => follower.op.manifests.get('sensor-content')?.body.includes('"killSwitch":{"engaged":true'), 1000);
  const blocked = await node('ringmaster-agent.js', agentArgs(follower.url, 'canary-2', 'canary-2', ['--label', 'ring=canary']));
  // The kill switch: a host installs nothing it does not already run (engine/agent.ts desiredVersion).
  expect(blocked.stdout).toMatch(/^ringmaster-agent: keeping no version \(kill-switch\), manifest revision \d+\n$/);
  const unkill = await node('ringctl.js', ['unkill', '--server', follower.url, '--reason', 'drill over']);
  expect(unkill.code).toBe(0);
  await until('released on replica-1', () => !leader.op.store.getKillSwitch().engaged);
  const after = await node('ringmaster-agent.js', agentArgs(follower.url, 'canary-2', 'canary-2', ['--label', 'ring=canary']));
  expect(after.stdout).toMatch(/installed 7\.16\.292/);
  process.stdout.write(`${kill.stdout}${blocked.stdout}${unkill.stdout}${after.stdout}`);
});
