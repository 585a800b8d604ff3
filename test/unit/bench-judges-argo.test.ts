import * as fs from 'node:fs';
import * as path from 'node:path';
import { assess, compileCondition, evaluateResult, type ArgoMetric } from '../../bench/decisions/judges/argo';

interface Table {
  evaluateResult: Array<{ name: string; successCondition: string; failureCondition: string; result: unknown; expect: { phase: string; errorContains?: string[] } }>;
  evalCondition: Array<{ name: string; result: unknown; condition: string; expect: { value?: boolean; error?: string } }>;
  assess: Array<{ name: string; counters: { failed: number; inconclusive: number; consecutiveError: number }; limits: { failureLimit: number; inconclusiveLimit: number; consecutiveErrorLimit: number }; expect: { phase: string } }>;
}
const table = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'bench', 'argo-evaluate.json'), 'utf8')) as Table;
const nan = (v: unknown): unknown => (Array.isArray(v) ? v.map((x) => (x === 'NaN' ? NaN : x)) : v);

describe('Argo-style judge: the cases of argo-rollouts utils/evaluate/evaluate_test.go', () => {
  it.each(table.evaluateResult.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    const metric: ArgoMetric = {
      ...(r.successCondition ? { successCondition: compileCondition(r.successCondition) } : {}),
      ...(r.failureCondition ? { failureCondition: compileCondition(r.failureCondition) } : {}),
    };
    const out = evaluateResult(nan(r.result), metric);
    expect(out.phase).toBe(r.expect.phase);
    for (const s of r.expect.errorContains ?? []) expect(out.error).toContain(s);
    if (r.expect.phase === 'Error') expect(out.error).toBeDefined();
  });
  it.each(table.evalCondition.map((r) => [r.name, r] as const))('%s', (_name, r) => {
    const c = compileCondition(r.condition);
    if (r.expect.error !== undefined) expect(() => c(r.result)).toThrow(r.expect.error);
    else expect(c(r.result)).toBe(r.expect.value);
  });
  it.each(table.assess.map((r) => [r.name, r] as const))('limits: %s', (_name, r) => {
    expect(assess({ ...r.counters, successful: 0, error: 0 }, r.limits)).toBe(r.expect.phase);
  });
});
