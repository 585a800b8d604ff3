// docs/benchmarks.md regeneration (bench/report.ts): tables from JSON, and only the marked regions rewritten.
import { figuresOf, markdownTable, replaceRegion } from '../../bench/report';

it('renders rows as a markdown table, numbers right-aligned and grouped', () => {
  expect(markdownTable([{ server: 'raw', reqPerSec: 41523.4567, ok: true }, { server: 'ringmaster', reqPerSec: 36000, ok: false }])).toBe(
    ['| server | reqPerSec | ok |', '|---|---:|---|', '| raw | 41523.457 | true |', '| ringmaster | 36,000 | false |'].join('\n'),
  );
  expect(markdownTable([])).toBe('(no rows)');
});

it('uses a benchmark\'s own table when it has one, else its rows', () => {
  expect(figuresOf({ table: '| a |\n|---|\n| 1 |\n', rows: [{ b: 2 }] })).toBe('| a |\n|---|\n| 1 |');
  expect(figuresOf({ rows: [{ hosts: 1000000, wallS: 1.5 }] })).toBe('| hosts | wallS |\n|---:|---:|\n| 1,000,000 | 1.5 |');
  expect(figuresOf({ rows: [] }, 'decisions', '# Decision quality\n\n| a |\n|---|\n')).toBe('| a |\n|---|');
  const m = figuresOf({ rows: [{ server: 'raw', response: '304', reqPerSec: 1, extra: 'x' }], killSwitchPropagationS: 5.01, verdicts: [{ name: '304 >= 20k', pass: false, detail: '10692' }] }, 'manifest');
  expect(m).toContain('| server | response | reqPerSec | p50ms | p99ms | ratioToRaw | errors |');
  expect(m).not.toContain('extra');
  expect(m).toContain('killSwitchPropagationS 5.01');
  expect(m).toContain('- FAIL 304 >= 20k: 10692');
});

it('rewrites only the region between its markers, and appends a missing one', () => {
  const doc = 'intro\n<!-- bench:sim -->\nold\n<!-- /bench:sim -->\nprose after\n';
  expect(replaceRegion(doc, 'sim', 'new')).toBe('intro\n<!-- bench:sim -->\nnew\n<!-- /bench:sim -->\nprose after\n');
  expect(replaceRegion('x\n', 'manifest', 't')).toBe('x\n\n<!-- bench:manifest -->\nt\n<!-- /bench:manifest -->\n');
});

it('reads the {target, measured, pass} verdicts of the sim and engine benchmarks, and a table given as lines', () => {
  const f = figuresOf({
    table: ['| a |', '|---|', '| 1 |'],
    verdicts: [
      { target: '10M hosts in under 60 s', measured: '191.2 s wall', pass: false },
      { target: 'terminal rollouts cost nothing', measured: '0.89x', pass: true },
      { target: 'manifest p99 < 20 ms at 10,000', measured: 'not run', pass: null, note: 'quick mode' },
    ],
  });
  expect(f).toBe(['| a |', '|---|', '| 1 |', '', '- FAIL 10M hosts in under 60 s: 191.2 s wall', '- PASS terminal rollouts cost nothing: 0.89x', '- NOT EVALUATED manifest p99 < 20 ms at 10,000: not run (quick mode)'].join('\n'));
});
