/**
 * The operator's pre-flight allowlist (ringmaster serve --preflight FILE): real files, each mistake one
 * `file:line:col path: message` line, secret files that others can read refused, and no secret in any message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadPreflightAllowlist } from '../../controller/content/allowlist';
import { InputError } from '../../controller/spec/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-allowlist-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SECRET = 'allowlist-secret-0123456789abcdef';

function write(name: string, text: string, mode = 0o644): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text, { mode });
  fs.chmodSync(f, mode);
  return f;
}

function lines(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err.lines;
    throw err;
  }
  return [];
}

test('a good file: executables with their args, webhooks with the key of their secret file (trailing newline dropped)', () => {
  write('gate.secret', `${SECRET}\n`, 0o600);
  const f = write('ok.yaml', 'executables:\n  - name: lint\n    command: /usr/bin/lint\n    args: ["--strict", "{artifact}"]\n    maxOutputBytes: 1024\nwebhooks:\n  - name: gate\n    url: https://qa.example.internal/preflight\n    secretFile: gate.secret\n');
  const a = loadPreflightAllowlist(f);
  expect(a.executables.get('lint')).toEqual({ name: 'lint', command: '/usr/bin/lint', args: ['--strict', '{artifact}'], maxOutputBytes: 1024 });
  expect(a.webhooks.get('gate')).toEqual({ name: 'gate', url: 'https://qa.example.internal/preflight', secret: Buffer.from(SECRET) });
  expect(loadPreflightAllowlist(write('empty.yaml', '')).executables.size).toBe(0);
});

test('a relative command, a duplicate name and an unknown field are each one line at their position', () => {
  const f = write('bad.yaml', 'executables:\n  - name: lint\n    command: lint\n  - name: lint\n    command: /bin/true\n    shell: true\n');
  expect(lines(() => loadPreflightAllowlist(f))).toEqual([
    `${f}:3:14 executables[0].command: must be an absolute path (the command runs without a shell and without a PATH search)`,
    `${f}:4:11 executables[1].name: duplicate name "lint" (also executables[0])`,
    expect.stringMatching(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:6:5 executables\\[1\\]\\.shell: `)),
  ]);
});

test('a secret file others can read, a missing one and a short one are refused; the secret never shows', () => {
  write('open.secret', SECRET, 0o644);
  write('short.secret', 'tiny', 0o600);
  const f = write('secrets.yaml', 'webhooks:\n  - name: a\n    url: http://127.0.0.1:1/a\n    secretFile: open.secret\n  - name: b\n    url: http://127.0.0.1:1/b\n    secretFile: missing.secret\n  - name: c\n    url: http://127.0.0.1:1/c\n    secretFile: short.secret\n');
  const got = lines(() => loadPreflightAllowlist(f));
  expect(got).toEqual([
    `${f}: webhooks[0].secretFile: ${path.join(tmp, 'open.secret')}: readable by others (mode 644); chmod 600 it`,
    `${f}: webhooks[1].secretFile: ${path.join(tmp, 'missing.secret')}: cannot read (ENOENT)`,
    `${f}: webhooks[2].secretFile: ${path.join(tmp, 'short.secret')}: shorter than 16 bytes`,
  ]);
  expect(got.join('\n')).not.toContain(SECRET);
});
