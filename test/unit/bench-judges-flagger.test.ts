import { checkFails, flaggerStep } from '../../bench/decisions/judges/flagger';

describe('Flagger-style judge', () => {
  it('a check fails on a breached threshold or no values', () => {
    expect(checkFails({ value: 1.3, max: 1.2 })).toBe(true);
    expect(checkFails({ value: 1.2, max: 1.2 })).toBe(false);
    expect(checkFails({ value: null, max: 1.2 })).toBe(true);
    expect(checkFails({ value: NaN, max: 1.2 })).toBe(true);
    expect(checkFails({ value: 98, min: 99 })).toBe(true);
  });
  it('failed checks accumulate, are not reset by a pass, and roll back at the threshold', () => {
    let s = { failedChecks: 0 };
    const seq = [true, false, true, false, true, true, false, true];
    const out: boolean[] = [];
    for (const f of seq) {
      const r = flaggerStep(s, [{ value: f ? 2 : 1, max: 1.2 }], 5);
      s = r.state;
      out.push(r.rollback);
    }
    expect(s.failedChecks).toBe(5);
    expect(out.indexOf(true)).toBe(7);
  });
});
