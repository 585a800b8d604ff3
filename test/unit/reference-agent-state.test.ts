/**
 * The reference agent's local parts on real files: the state store (durable writes, one-line errors for a file
 * that is not a state), the FileInstaller (atomic artifact writes and symlink switches, refusals, the start
 * command with its timeout) and the metrics (every series of a version at 0 before anything counts).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentMetrics, FileInstaller, InstallError, initialState, StateError, StateStore, type InstalledVersion } from '../../agent';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-agent-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const d = path.join(tmp, `d${n++}`);
  fs.mkdirSync(d);
  return d;
};
const version = (v: string, bytes: Buffer): InstalledVersion => ({ version: v, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), rollout: null });
const key = { keyId: '0123456789abcdef', publicKey: Buffer.alloc(32, 7).toString('base64') };

describe('StateStore', () => {
  test('a saved state reads back the same; no temporary file is left', () => {
    const dir = freshDir();
    const store = new StateStore(dir);
    expect(store.load()).toBeNull();
    const s = { ...initialState('sensor-content', [key]), etag: '"r3"' };
    store.save(s);
    expect(store.load()).toEqual(s);
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  test('a file that is not JSON, or not a state, is one line naming the file and the field', () => {
    const dir = freshDir();
    const store = new StateStore(dir);
    fs.writeFileSync(store.file, '{"format": ');
    expect(() => store.load()).toThrow(new StateError(`${store.file}: the agent state is not JSON`));
    fs.writeFileSync(store.file, JSON.stringify({ ...initialState('c', [key]), replay: { revision: -1, issuedAt: null, bodySha256: null } }));
    expect(() => store.load()).toThrow(StateError);
    try {
      store.load();
    } catch (err) {
      expect((err as Error).message).toMatch(new RegExp(`^${store.file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: replay\\.revision: must be >= 0`));
      expect((err as Error).message).not.toContain('\n');
    }
  });

  test('sweep removes the temporary files of an interrupted save, and only those', () => {
    const dir = freshDir();
    const store = new StateStore(dir);
    store.save(initialState('c', [key]));
    fs.writeFileSync(path.join(dir, '.state.json.123.abcd.tmp'), '{"half');
    fs.writeFileSync(path.join(dir, 'other'), 'x');
    store.sweep();
    expect(fs.readdirSync(dir).sort()).toEqual(['other', 'state.json']);
  });
});

describe('FileInstaller', () => {
  test('install writes versions/<version> whole; activate switches current and previous by rename, idempotently', async () => {
    const dir = freshDir();
    const fi = new FileInstaller(dir);
    const a = Buffer.from('version a\n');
    const b = Buffer.from('version b\n');
    const va = version('1.0.0', a);
    const vb = version('1.0.1', b);
    expect(await fi.has(va)).toBe(false);
    await fi.install(va, a);
    expect(await fi.has(va)).toBe(true);
    await fi.activate(va, null);
    expect(fi.active()).toEqual({ current: '1.0.0', previous: null });
    expect(fs.readFileSync(path.join(dir, 'current'))).toEqual(a);
    await fi.install(vb, b);
    await fi.activate(vb, va);
    await fi.activate(vb, va);
    expect(fi.active()).toEqual({ current: '1.0.1', previous: '1.0.0' });
    expect(fs.readlinkSync(path.join(dir, 'current'))).toBe(path.join('versions', '1.0.1'));
    expect(fs.readFileSync(path.join(dir, 'previous'))).toEqual(a);
    await fi.activate(va, null);
    expect(fi.active()).toEqual({ current: '1.0.0', previous: null });
    expect(fs.readdirSync(dir).filter((x) => x.startsWith('.'))).toEqual([]);
    await fi.prune([va]);
    expect(fs.readdirSync(path.join(dir, 'versions'))).toEqual(['1.0.0']);
  });

  test('a version that is no file name is refused, and so is replacing an active version with other bytes', async () => {
    const dir = freshDir();
    const fi = new FileInstaller(dir);
    for (const bad of ['../escape', '..', 'a/b', '', '.hidden']) {
      await expect(fi.install({ version: bad, sha256: 'x', rollout: null }, Buffer.from('x'))).rejects.toThrow(InstallError);
    }
    const a = Buffer.from('a');
    await fi.install(version('2.0.0', a), a);
    await fi.activate(version('2.0.0', a), null);
    const other = Buffer.from('other');
    await expect(fi.install(version('2.0.0', other), other)).rejects.toThrow('version 2.0.0 is installed with another artifact and is in use (current); not replacing it');
    expect(fs.readFileSync(path.join(dir, 'current'))).toEqual(a);
  });

  test('the start command: exit 0 is started, another exit is not, and a hang is killed at the timeout', async () => {
    const dir = freshDir();
    const v = version('1.0.0', Buffer.from('x'));
    expect(await new FileInstaller(dir).start(v)).toBe(true);
    expect(await new FileInstaller(dir, { startCommand: '/bin/sh', startArgs: ['-c', 'test "$RINGMASTER_VERSION" = 1.0.0'] }).start(v)).toBe(true);
    expect(await new FileInstaller(dir, { startCommand: '/bin/sh', startArgs: ['-c', 'exit 1'] }).start(v)).toBe(false);
    expect(await new FileInstaller(dir, { startCommand: '/nonexistent/start' }).start(v)).toBe(false);
    const t = Date.now();
    expect(await new FileInstaller(dir, { startCommand: '/bin/sh', startArgs: ['-c', 'sleep 30'], startTimeoutMs: 300 }).start(v)).toBe(false);
    expect(Date.now() - t).toBeLessThan(5000);
  });
});

describe('AgentMetrics', () => {
  test('every counter series of a version is 0 once it is touched; the hosts gauge follows the running version', async () => {
    let now = 0;
    const m = new AgentMetrics('c', () => now);
    m.touch('1.0.1');
    let text = await m.text();
    for (const reason of ['signature', 'hash', 'download', 'apply', 'validation']) expect(text).toContain(`ringmaster_agent_update_failures_total{channel="c",version="1.0.1",reason="${reason}"} 0`);
    for (const kind of ['crash', 'bsod']) expect(text).toContain(`ringmaster_agent_crashes_total{channel="c",version="1.0.1",kind="${kind}"} 0`);
    expect(text).toContain('ringmaster_agent_local_rollbacks_total{channel="c",version="1.0.1"} 0');
    for (const reason of ['unknown-key', 'signature', 'malformed', 'channel', 'replay', 'stale', 'future']) expect(text).toContain(`ringmaster_agent_manifest_refusals_total{channel="c",reason="${reason}"} 0`);
    m.setRunning('1.0.0', 'canary');
    now += 30_000;
    m.setRunning('1.0.1', '');
    text = await m.text();
    expect(text).not.toContain('ringmaster_agent_hosts{channel="c",version="1.0.0"');
    expect(text).toContain('ringmaster_agent_hosts{channel="c",version="1.0.1",ring=""} 1');
    expect(text).toContain('ringmaster_agent_host_seconds_total{channel="c",version="1.0.0"} 30');
    m.updateFailure('1.0.1', 'signature');
    expect(await m.text()).toContain('ringmaster_agent_update_failures_total{channel="c",version="1.0.1",reason="signature"} 1');
  });
});
