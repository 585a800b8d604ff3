/**
 * `ringmaster serve`: flags and files, one-line errors (exit 2, never a stack trace).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main, parseListen, resolveSettings } from '../../controller/cli/ringmaster';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-cli-'));
const policies = path.join(tmp, 'policies');
fs.mkdirSync(policies);

async function run(argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  let stderr = '';
  let stdout = '';
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  const outSpy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stderr, stdout };
  } finally {
    errSpy.mockRestore();
    outSpy.mockRestore();
  }
}

function write(name: string, text: string): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
}

function expectOneLineErrors(stderr: string): string[] {
  const lines = stderr.trimEnd().split('\n');
  for (const l of lines) {
    expect(l).toMatch(/^ringmaster: /);
    expect(l).not.toMatch(/^\s+at /);
  }
  expect(stderr).not.toContain('    at ');
  return lines;
}

describe('ringmaster serve: flags and files', () => {
  test.each([
    [['serve', '--bogus'], /unknown option '--bogus'/],
    [['serve', '--listen', 'localhost'], /--listen: expected host:port/],
    [['serve', '--listen', '127.0.0.1:99999', '--policies', policies], /--listen: port must be 0-65535/],
    [['serve', '--tick', 'fast', '--policies', policies], /--tick: invalid duration "fast"/],
    [['serve', '--tick', '0s', '--policies', policies], /--tick: must be between 10ms and 1h/],
    [['serve', '--rollback-drain', '2 minutes', '--policies', policies], /--rollback-drain: invalid duration "2 minutes"/],
    [['serve', '--rollback-drain', '2d', '--policies', policies], /--rollback-drain: must be between 0s and 24h \(got 2d\)/],
    [['serve', '--tokens', path.join(tmp, 'nope.yaml'), '--policies', policies], /--tokens: .*nope\.yaml: no such file/],
    [['serve', '--trusted-keys', path.join(tmp, 'nope.yaml'), '--policies', policies], /--trusted-keys: .*nope\.yaml: no such file/],
    [['serve', '--policies', path.join(tmp, 'no-policies')], /--policies: .*no-policies: no such directory/],
    [['serve', '--config', path.join(tmp, 'no-config.yaml')], /no-config\.yaml:0:0 \(document\): cannot read config file \(ENOENT\)/],
    [['serve', '--log-level', 'verbose', '--policies', policies], /^ringmaster: --log-level: must be one of fatal, error, warn, info, debug, trace, silent \(got "verbose"\)$/],
    [['nonsense'], /unknown command 'nonsense'/],
  ])('%j exits 2 with a one-line error', async (argv, expected) => {
    const r = await run(argv as string[]);
    expect(r.code).toBe(2);
    const lines = expectOneLineErrors(r.stderr);
    expect(lines.some((l) => expected.test(l))).toBe(true);
  });

  test('a tokens file with mistakes stops the start with one line per mistake', async () => {
    const tokens = write('bad-tokens.yaml', `tokens:\n  - name: a\n    role: root\n    sha256: ${'a'.repeat(64)}\n  - name: b\n    role: sre\n    sha256: nope\n`);
    const r = await run(['serve', '--tokens', tokens, '--policies', policies, '--data', path.join(tmp, 'data-unused')]);
    expect(r.code).toBe(2);
    const lines = expectOneLineErrors(r.stderr);
    expect(lines).toEqual([
      `ringmaster: ${tokens}:3:11 tokens[0].role: must be one of viewer, deployer, approver, sre, admin, agent (got "root")`,
      `ringmaster: ${tokens}:7:13 tokens[1].sha256: must be the 64-hex-character sha256 of the token, not the token itself`,
    ]);
    // Nothing was created: the files are checked before the controller opens its data directory.
    expect(fs.existsSync(path.join(tmp, 'data-unused'))).toBe(false);
  });

  test('a config file with an unknown key or a wrong type names the file, line and key', async () => {
    const cfg = write('bad-config.yaml', 'listen: 127.0.0.1:0\nlisten_port: 8080\ndata: [a]\n');
    const r = await run(['serve', '--config', cfg]);
    expect(r.code).toBe(2);
    const lines = expectOneLineErrors(r.stderr);
    expect(lines).toEqual([
      `ringmaster: ${cfg}:2:1 listen_port: unknown setting (expected listen, data, tokens, policies, trustedKeys, tick, rollbackDrain, prometheusUrl, prometheusTimeout, prometheusBearerTokenFile, prometheusCaFile, prometheusInsecureSkipVerify, prometheusMinWindow, logLevel, manifestReissue, artifacts, preflight, oidc, breakGlass, notifications)`,
      `ringmaster: ${cfg}:3:7 data: must be a string (got a list)`,
    ]);
  });

  test('config values are used, relative to the config file, and flags override them', () => {
    fs.mkdirSync(path.join(tmp, 'cfgdir', 'pol'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'cfgdir', 'tokens.yaml'), 'tokens: []\n');
    const cfg = path.join(tmp, 'cfgdir', 'ringmaster.yaml');
    fs.writeFileSync(cfg, 'listen: 127.0.0.1:9999\ndata: state\npolicies: pol\ntokens: tokens.yaml\ntick: 250ms\nrollbackDrain: 30s\n');
    const s = resolveSettings({ config: cfg });
    expect(s).toEqual({
      listen: { host: '127.0.0.1', port: 9999 },
      data: path.join(tmp, 'cfgdir', 'state'),
      policies: path.join(tmp, 'cfgdir', 'pol'),
      tokens: path.join(tmp, 'cfgdir', 'tokens.yaml'),
      trustedKeys: undefined,
      tickMs: 250,
      rollbackDrainMs: 30_000,
      manifestReissueMs: 3_600_000,
    });
    // The pre-flight allowlist is a path like the others: relative to the config file, checked to exist.
    fs.writeFileSync(path.join(tmp, 'cfgdir', 'preflight.yaml'), 'executables: []\n');
    fs.writeFileSync(path.join(tmp, 'cfgdir', 'with-preflight.yaml'), 'policies: pol\npreflight: preflight.yaml\n');
    expect(resolveSettings({ config: path.join(tmp, 'cfgdir', 'with-preflight.yaml') }).preflight).toBe(path.join(tmp, 'cfgdir', 'preflight.yaml'));
    expect(() => resolveSettings({ policies: path.join(tmp, 'cfgdir', 'pol'), preflight: path.join(tmp, 'nope.yaml') })).toThrow(`--preflight: ${path.join(tmp, 'nope.yaml')}: no such file`);
    fs.writeFileSync(path.join(tmp, 'cfgdir', 'debug.yaml'), 'policies: pol\nlog-level: debug\n');
    expect(resolveSettings({ config: path.join(tmp, 'cfgdir', 'debug.yaml') }).logLevel).toBe('debug');
    expect(resolveSettings({ config: path.join(tmp, 'cfgdir', 'debug.yaml'), logLevel: 'warn' }).logLevel).toBe('warn');
    expect(resolveSettings({ config: cfg }).logLevel).toBeUndefined();
    const o = resolveSettings({ config: cfg, listen: '[::1]:0', tick: '2s', rollbackDrain: '0s', data: '/tmp/x' });
    expect(o.rollbackDrainMs).toBe(0);
    expect(resolveSettings({ policies: path.join(tmp, 'cfgdir', 'pol') }).rollbackDrainMs).toBe(120_000);
    expect(o.listen).toEqual({ host: '::1', port: 0 });
    expect(o.tickMs).toBe(2000);
    expect(o.data).toBe('/tmp/x');
    expect(o.policies).toBe(path.join(tmp, 'cfgdir', 'pol'));
  });

  test('parseListen', () => {
    expect(parseListen('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    expect(typeof parseListen(':8080')).toBe('string');
    expect(typeof parseListen('a b:1')).toBe('string');
  });

  test('--help exits 0', async () => {
    let out = '';
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
      out += c.toString();
      return true;
    });
    try {
      expect(await main(['serve', '--help'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    expect(out).toContain('--trusted-keys <file>');
  });
});
