/**
 * File modes under umask 022 (measured on main: `ringmaster serve --data d` left the store and WAL 0644, readable
 * by every local user). The store, its -wal and -shm, and every key file are 0600; a data directory Ringmaster
 * creates is 0700; an existing one open to others gets one warning line. Checked with Store.open and the key
 * functions directly, and with a real `ringmaster serve` child process started from a shell with `umask 022`.
 */
import Database from 'better-sqlite3';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadOrCreateSigningKey, writeKeyPair } from '../../controller/crypto/keys';
import { Store } from '../../controller/store/store';
import { memoryLogger } from '../../controller/telemetry/log';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.resolve(__dirname, '../..');
const SRE = 'Bearer ringmaster-example-sre';

const modeOf = (p: string): string => (fs.statSync(p).mode & 0o777).toString(8).padStart(4, '0');

/** Every entry of a directory with its mode, e.g. {"ringmaster.db": "0600", ...}. */
function modes(dir: string): Record<string, string> {
  return Object.fromEntries(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, modeOf(path.join(dir, f))]),
  );
}

function withUmask<T>(mask: number, fn: () => T): T {
  const previous = process.umask(mask);
  try {
    return fn();
  } finally {
    process.umask(previous);
  }
}

describe('file modes with Store.open and the key files (umask 022 in this process)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-modes-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a new data directory is 0700; the store, -wal and -shm are 0600 while open and after a write', () => {
    const dir = path.join(tmp, 'fresh', 'data');
    const { log, lines } = memoryLogger();
    const store = withUmask(0o022, () => Store.open(path.join(dir, 'ringmaster.db'), { log }));
    try {
      withUmask(0o022, () => store.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'modes' }, 'sre-bot'));
      expect(modes(dir)).toEqual({ 'ringmaster.db': '0600', 'ringmaster.db-shm': '0600', 'ringmaster.db-wal': '0600' });
      expect(modeOf(dir)).toBe('0700');
      expect(modeOf(path.dirname(dir))).toBe('0700'); // a missing parent created on the way is private too
    } finally {
      store.close();
    }
    // Reopened under the same umask (SQLite recreates the -wal and -shm it removed at close): still 0600.
    const again = withUmask(0o022, () => Store.open(path.join(dir, 'ringmaster.db'), { log }));
    try {
      expect(again.getKillSwitch().engaged).toBe(true);
      expect(modes(dir)).toEqual({ 'ringmaster.db': '0600', 'ringmaster.db-shm': '0600', 'ringmaster.db-wal': '0600' });
    } finally {
      again.close();
    }
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]); // it made the directory: nothing to warn about
  });

  test('an existing 0755 directory with a 0644 store and WAL (as main left them): files become 0600, one warning', () => {
    const dir = path.join(tmp, 'existing');
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    const file = path.join(dir, 'ringmaster.db');
    // What main produced: better-sqlite3 under umask 022, WAL mode, the connection left open (so -wal/-shm exist).
    const old = withUmask(0o022, () => {
      const d = new Database(file);
      d.pragma('journal_mode = WAL');
      d.exec('CREATE TABLE t (x)');
      d.exec('INSERT INTO t VALUES (1)');
      return d;
    });
    expect(modes(dir)).toEqual({ 'ringmaster.db': '0644', 'ringmaster.db-shm': '0644', 'ringmaster.db-wal': '0644' });
    old.close();
    fs.writeFileSync(`${file}-wal`, ''); // a leftover WAL file from a crash, also 0644
    fs.chmodSync(`${file}-wal`, 0o644);

    const { log, lines } = memoryLogger();
    for (let i = 0; i < 2; i++) {
      const store = withUmask(0o022, () => Store.open(file, { log }));
      store.close();
    }
    const store = withUmask(0o022, () => Store.open(file, { log }));
    try {
      withUmask(0o022, () => store.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'modes' }, 'sre-bot'));
      expect(modes(dir)).toEqual({ 'ringmaster.db': '0600', 'ringmaster.db-shm': '0600', 'ringmaster.db-wal': '0600' });
    } finally {
      store.close();
    }
    expect(modeOf(dir)).toBe('0755'); // an existing directory is the operator's: named, not changed
    const warnings = lines.filter((l) => l.level === 'warn');
    expect(warnings).toEqual([
      expect.objectContaining({
        dir,
        mode: '0755',
        msg: `data directory ${dir} is accessible to its group and other users (mode 0755); ringmaster keeps its files 0600, but run: chmod 700 ${dir}`,
      }),
    ]);
  });

  test('the signing key and its .pub in the data directory are 0600; keygen keys are 0600 / 0644 even under umask 000', () => {
    const dataDir = path.join(tmp, 'keys-data');
    const created = withUmask(0o022, () => loadOrCreateSigningKey(dataDir));
    expect(created.created).toBe(true);
    expect(modeOf(dataDir)).toBe('0700');
    expect(modes(dataDir)).toEqual({ 'signing.key': '0600', 'signing.pub': '0600' });
    expect(withUmask(0o022, () => loadOrCreateSigningKey(dataDir)).created).toBe(false);

    const out = path.join(tmp, 'publisher-keys');
    withUmask(0o000, () => writeKeyPair(out, 'release-team'));
    expect(modeOf(out)).toBe('0700');
    expect(modes(out)).toEqual({ 'release-team.key': '0600', 'release-team.pub': '0644' });
  });
});

describe('file modes of a real `ringmaster serve` started with umask 022', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-modes-serve-'));
  let child: ChildProcess | undefined;
  beforeAll(() => ensureBuilt());
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** `sh -c 'umask 022 && exec node bin/ringmaster.js serve ...'`; resolves once it listens. */
  async function serve(dataDir: string): Promise<{ url: string; stderr: () => string; stop: () => Promise<number | null> }> {
    const args = ['serve', '--listen', '127.0.0.1:0', '--data', dataDir, '--tokens', path.join(ROOT, 'examples/tokens.yaml'), '--policies', path.join(ROOT, 'policies'), '--tick', '100ms'];
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const p = spawn('sh', ['-c', `umask 022 && exec '${process.execPath}' '${path.join(ROOT, 'bin/ringmaster.js')}' ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = p;
    let out = '';
    let err = '';
    p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const deadline = Date.now() + 20_000;
    while (!/listening on (http:\/\/\S+)/.test(out)) {
      if (p.exitCode !== null) throw new Error(`serve exited ${p.exitCode}: ${err}`);
      if (Date.now() > deadline) throw new Error(`serve did not start: ${out} ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const url = /listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
    return {
      url,
      stderr: () => err,
      stop: () =>
        new Promise((resolve) => {
          p.once('exit', (code) => resolve(code));
          p.kill('SIGTERM');
        }),
    };
  }

  test('the umask of the shell really is 022 (files made the ordinary way there are 0644)', async () => {
    const probe = path.join(tmp, 'probe');
    await new Promise<void>((resolve, reject) => execFile('sh', ['-c', `umask 022 && : > '${probe}'`], (e) => (e ? reject(e) : resolve())));
    expect(modeOf(probe)).toBe('0644');
  });

  test('a data directory it creates: 0700, and every file in it 0600 while serving and after SIGTERM', async () => {
    const dataDir = path.join(tmp, 'new-data');
    const s = await serve(dataDir);
    // A change, so that the WAL holds data.
    const res = await fetch(`${s.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: SRE, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, reason: 'file modes test' }) });
    expect(res.status).toBe(200);
    const running = modes(dataDir);
    expect(Object.keys(running)).toEqual(expect.arrayContaining(['ringmaster.db', 'ringmaster.db-wal', 'ringmaster.db-shm', 'signing.key']));
    expect(Object.entries(running).filter(([, m]) => m !== '0600')).toEqual([]);
    expect(modeOf(dataDir)).toBe('0700');
    expect(s.stderr()).not.toMatch(/accessible to/);
    expect(await s.stop()).toBe(0);
    const stopped = modes(dataDir);
    expect(Object.entries(stopped).filter(([, m]) => m !== '0600')).toEqual([]);
  });

  test('an existing 0755 data directory: every file 0600, and exactly one warning line naming it on stderr', async () => {
    const dataDir = path.join(tmp, 'shared-data');
    fs.mkdirSync(dataDir);
    fs.chmodSync(dataDir, 0o755);
    const s = await serve(dataDir);
    const res = await fetch(`${s.url}/v1/killswitch`, { method: 'POST', headers: { Authorization: SRE, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged: true, reason: 'file modes test' }) });
    expect(res.status).toBe(200);
    expect(Object.entries(modes(dataDir)).filter(([, m]) => m !== '0600')).toEqual([]);
    expect(await s.stop()).toBe(0);
    const warnings = s
      .stderr()
      .split('\n')
      .filter((l) => l.includes('accessible to'));
    expect(warnings).toHaveLength(1);
    const line = JSON.parse(warnings[0] as string) as { level: string; msg: string };
    expect(line.level).toBe('warn');
    expect(line.msg).toBe(`data directory ${dataDir} is accessible to its group and other users (mode 0755); ringmaster keeps its files 0600, but run: chmod 700 ${dataDir}`);
    expect(modeOf(dataDir)).toBe('0755');
  });
});
