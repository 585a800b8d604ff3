/**
 * Thousands of generated malformed requests over a raw loopback socket. Each one must be answered with a
 * 4xx and the JSON error format (no stack trace, no server path), and none may change any state.
 */
import type { ControllerService } from '../../controller/runtime/service';
import { parseRolloutBody } from '../../controller/api/rollout-input';
import { DEFAULT_MAX_BODY_BYTES } from '../../controller/api/body';
import { expectCleanError, rawRequest, startApi, type Api } from '../helpers/api-harness';
import { rolloutYaml, snapshot } from '../helpers/api-fixtures';
import { generateCases, hugeCases, type FuzzCase, type FuzzTargets } from '../helpers/api-fuzz';
import { openController } from '../helpers/api-controller';

const SEED = 20261130;
const CHANNEL = 'fuzz-channel';
const EXISTING = 'fuzz-existing';

async function runCases(api: Api, cases: FuzzCase[], concurrency: number): Promise<{ failures: string[]; statuses: Map<number, number> }> {
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++] as FuzzCase;
      try {
        const res = await rawRequest(api.port, c.raw, 15_000);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status < 400 || res.status > 499) {
          failures.push(`${c.name}: status ${res.status} ${res.body.slice(0, 160)}`);
          continue;
        }
        if (!res.headers['x-request-id']) failures.push(`${c.name}: no X-Request-Id`);
        const head = c.raw.subarray(0, 5).toString('latin1') === 'HEAD ';
        if (!head) expectCleanError(res.body, res.status);
      } catch (err) {
        failures.push(`${c.name}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { failures, statuses };
}

describe('malformed requests (real controller, SQLite)', () => {
  let service: ControllerService;
  let closeService: () => Promise<void>;
  let api: Api;
  let targets: FuzzTargets;

  beforeAll(async () => {
    const c = await openController();
    service = c.controller;
    closeService = c.close;
    api = await startApi(service, {
      roles: ['viewer', 'deployer', 'approver', 'sre', 'admin'],
      // The limiter has its own test; here every bad credential must reach the 401 check.
      server: { failedAuthLimit: { perMinute: 1e6, burst: 1e6, maxClients: 10 } },
    });
    const yaml = rolloutYaml(EXISTING, CHANNEL);
    const parsed = parseRolloutBody(yaml);
    if (!parsed.ok) throw new Error(parsed.lines.join('\n'));
    const applied = await service.applyRollout(parsed.rollout, 'setup');
    expect(applied.status).toBe('created');
    targets = {
      tokens: { deployer: api.tokens.deployer as string, sre: api.tokens.sre as string, viewer: api.tokens.viewer as string, approver: api.tokens.approver as string },
      existing: EXISTING,
      existingYaml: yaml,
      channel: CHANNEL,
    };
    expect(service.manifest(CHANNEL)).toBeDefined();
  });
  afterAll(async () => {
    await api.close();
    await closeService();
  });

  test('at least 2,000 generated malformed bodies and headers are all refused with a clean 4xx and change nothing', async () => {
    const cases = generateCases(SEED, targets);
    expect(cases.length).toBeGreaterThanOrEqual(2000);
    const before = snapshot(service, [CHANNEL]);
    const { failures, statuses } = await runCases(api, cases, 8);
    expect(failures.slice(0, 20)).toEqual([]);
    // The cases reach every kind of refusal, not one catch-all.
    for (const code of [400, 401, 404, 405, 409, 415, 422, 431]) expect([code, (statuses.get(code) ?? 0) > 0]).toEqual([code, true]);
    expect(snapshot(service, [CHANNEL])).toBe(before);
    // The server logged no unexpected error while refusing them.
    expect(api.logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  }, 60_000);

  test('bodies over the 1 MiB limit get 413, with or without Content-Length', async () => {
    const before = snapshot(service, [CHANNEL]);
    const cases = hugeCases(targets, DEFAULT_MAX_BODY_BYTES);
    for (const c of cases) {
      const res = await rawRequest(api.port, c.raw, 15_000);
      expect([c.name, res.status]).toEqual([c.name, 413]);
      expect(expectCleanError(res.body, 413).code).toBe('payload_too_large');
    }
    expect(snapshot(service, [CHANNEL])).toBe(before);
  }, 30_000);

  test('a valid request still works after all that (the refusals were about the input)', async () => {
    const res = await fetch(`${api.url}/v1/rollouts/${EXISTING}/pause`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${api.tokens.sre}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: 'after fuzz' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outcome: string }).outcome).toBe('applied');
  });
});
