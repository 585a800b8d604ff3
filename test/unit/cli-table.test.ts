import { renderTable, textWidth, truncate } from '../../controller/cli/table';

describe('renderTable (the one table renderer of ringctl and agent-sim)', () => {
  test('plain: columns aligned on the widest cell, two spaces apart, no trailing blanks', () => {
    const text = renderTable([
      ['RING', 'TARGET', 'STATE'],
      ['canary-with-a-very-long-name', '1%', 'active'],
      ['full', '100%', ''],
    ]);
    expect(text.split('\n')).toEqual(['RING                          TARGET  STATE', 'canary-with-a-very-long-name  1%      active', 'full                          100%']);
  });

  test('a column with a maximum width cuts long cells with an ellipsis and keeps the columns aligned', () => {
    const lines = renderTable(
      [
        ['RING', 'HOSTS'],
        ['a-ring-name-longer-than-ten', '50/200'],
        ['early', 'n/a'],
      ],
      { maxWidths: [10], align: [undefined, 'right'] },
    ).split('\n');
    expect(lines).toEqual(['RING         HOSTS', 'a-ring-na…  50/200', 'early          n/a']);
  });

  test('fit cuts every line to the terminal width', () => {
    const lines = renderTable([['x', 'a long reason that does not fit in twenty columns']], { fit: 20 }).split('\n');
    expect(lines).toEqual(['x  a long reason th…']);
    expect(textWidth(lines[0] as string)).toBe(20);
  });

  test('boxed: rules around the table and under the header row', () => {
    expect(renderTable([['', 'rings'], ['outcome', 'rolled-back']], { style: 'boxed' }).split('\n')).toEqual([
      '+---------+-------------+',
      '|         | rings       |',
      '+---------+-------------+',
      '| outcome | rolled-back |',
      '+---------+-------------+',
    ]);
  });

  test('truncate counts code points and leaves short texts alone', () => {
    expect(truncate('héllo', 5)).toBe('héllo');
    expect(truncate('héllo wörld', 6)).toBe('héllo…');
    expect(truncate('abc', 0)).toBe('');
  });
});
