/** "Did you mean" for ringctl's verbs and flags, and the unknown option named even when a required one is missing. */
import { editDistance, suggest, unknownFlag } from '../../controller/cli/suggest';
import { buildProgram, main } from '../../controller/cli/ringctl';

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('suggest', () => {
  test('edit distance counts a swap of neighbours as one', () => {
    expect(editDistance('gte', 'get')).toBe(1);
    expect(editDistance('gett', 'get')).toBe(1);
    expect(editDistance('status', 'status')).toBe(0);
    expect(editDistance('apply', 'audit')).toBe(4);
  });

  test('the closest candidate within a third of the word, or nothing', () => {
    const verbs = buildProgram().commands.map((c) => c.name());
    expect(suggest('gett', verbs)).toBe('get');
    expect(suggest('stauts', verbs)).toBe('status');
    expect(suggest('rolback', verbs)).toBe('rollback');
    expect(suggest('frobnicate', verbs)).toBeNull();
    expect(suggest('--fiel', ['--file', '--json', '--server'])).toBe('--file');
  });

  test('unknownFlag skips the values of flags that take one and stops at --', () => {
    const apply = buildProgram().commands.find((c) => c.name() === 'apply');
    if (!apply) throw new Error('no apply verb');
    expect(unknownFlag(apply, ['--fiel', 'x'])).toBe('--fiel');
    expect(unknownFlag(apply, ['-f', '--weird-file-name', '--json'])).toBeNull();
    expect(unknownFlag(apply, ['--file=x', '--jsn'])).toBe('--jsn');
    expect(unknownFlag(apply, ['-f', 'x', '--', '--not-a-flag'])).toBeNull();
  });
});

describe('usage errors: one line, exit 2', () => {
  test('a mistyped verb', async () => {
    expect(await run(['gett'])).toEqual({ code: 2, stderr: "ringctl: unknown command 'gett'; did you mean 'get'? (see ringctl --help)\n" });
    expect(await run(['frobnicate'])).toEqual({ code: 2, stderr: "ringctl: unknown command 'frobnicate' (see ringctl --help)\n" });
  });

  test('apply --fiel x names the unknown option instead of the missing required one', async () => {
    expect(await run(['apply', '--fiel', 'x'])).toEqual({ code: 2, stderr: "ringctl apply: unknown option '--fiel'; did you mean '--file'? (see ringctl apply --help)\n" });
    // The required option really missing is still said so.
    expect(await run(['apply'])).toEqual({ code: 2, stderr: "ringctl apply: required option '-f, --file <file>' not specified (see ringctl apply --help)\n" });
  });

  test('a mistyped flag of a verb, and of the program', async () => {
    expect(await run(['status', 'r', '--wacth'])).toEqual({ code: 2, stderr: "ringctl status: unknown option '--wacth'; did you mean '--watch'? (see ringctl status --help)\n" });
    expect(await run(['get', '--bogus'])).toEqual({ code: 2, stderr: "ringctl get: unknown option '--bogus' (see ringctl get --help)\n" });
    expect(await run(['--verison'])).toEqual({ code: 2, stderr: "ringctl: unknown option '--verison'; did you mean '--version'? (see ringctl --help)\n" });
  });
});
