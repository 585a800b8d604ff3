import * as fs from 'node:fs';
import * as path from 'node:path';
import { classify, decideScore, mannWhitney, normalQuantile, score, type ClassifierConfig, type Direction, type KayentaLabel, type NaNStrategy } from '../../bench/decisions/judges/kayenta';

const fixture = (f: string): unknown => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'bench', f), 'utf8'));
interface ClassCase {
  name: string;
  experiment: number[];
  control: number[];
  classifier: Partial<ClassifierConfig>;
  direction: Direction;
  nanStrategy: NaNStrategy;
  critical: boolean;
  dataRequired: boolean;
  expect: { classification?: string; critical?: boolean; deviationNaN?: boolean; deviation?: number; reasonPresent?: boolean };
}
interface ScoreCase {
  name: string;
  groupWeights: Record<string, number>;
  results: Array<{ name: string; classification: KayentaLabel; critical: boolean; groups: string[] }>;
  expect: { summaryScore?: number; groupScoresSorted?: number[] };
}
const classifier = (fixture('kayenta-classifier.json') as { cases: ClassCase[] }).cases;
const scorer = (fixture('kayenta-scorer.json') as { cases: ScoreCase[] }).cases;

describe("Kayenta-style classifier: the Mann-Whitney cases of kayenta's ClassifierSuite.scala", () => {
  it('has the suite', () => expect(classifier.length).toBeGreaterThanOrEqual(30));
  it.each(classifier.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const r = classify(c.control, c.experiment, { config: c.classifier, direction: c.direction, nanStrategy: c.nanStrategy, critical: c.critical, dataRequired: c.dataRequired, name: 'm' });
    if (c.expect.classification !== undefined) expect(r.classification).toBe(c.expect.classification);
    if (c.expect.critical !== undefined) expect(r.critical).toBe(c.expect.critical);
    if (c.expect.deviationNaN) expect(r.deviation).toBeNaN();
    if (c.expect.deviation !== undefined) expect(r.deviation).toBe(c.expect.deviation);
    if (c.expect.reasonPresent) expect(r.reason).toBeTruthy();
  });
});

describe("Kayenta-style scorer: the cases of kayenta's ScorerSuite.scala", () => {
  it.each(scorer.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const r = score(c.results, c.groupWeights);
    if (c.expect.summaryScore !== undefined) expect(r.summaryScore).toBeCloseTo(c.expect.summaryScore, 10);
    if (c.expect.groupScoresSorted !== undefined) expect(r.groupScores.map((g) => g.score).sort((a, b) => a - b)).toEqual(c.expect.groupScoresSorted);
  });
});

describe('Mann-Whitney statistics', () => {
  it('normal quantile', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326347874, 8);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
  });
  it('a shifted sample: the interval holds the shift, the estimate is the median of differences', () => {
    const y = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const x = y.map((v) => v + 5);
    const r = mannWhitney(x, y, 0.95);
    expect(r.estimate).toBeCloseTo(5, 6);
    expect(r.lower).toBeLessThan(5);
    expect(r.upper).toBeGreaterThan(5);
    expect(r.lower).toBeGreaterThan(0);
  });
  it('mostly-zero samples whose shift is 0 are Pass, not High (the roots are found to Kayenta\'s tolerance)', () => {
    const experiment = [...Array<number>(49).fill(0), 375];
    const control = [...Array<number>(37).fill(0), ...Array<number>(13).fill(7.5)];
    expect(classify(control, experiment, { config: { confLevel: 0.98, tolerance: 0.25 }, direction: 'increase' }).classification).toBe('Pass');
  });
  it('scores: interim at or below marginal fails, the final must reach pass', () => {
    expect(decideScore(75, false)).toBe('fail');
    expect(decideScore(75.01, false)).toBe('continue');
    expect(decideScore(94.99, true)).toBe('human');
    expect(decideScore(95, true)).toBe('pass');
  });
});
