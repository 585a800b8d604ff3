/**
 * The audit log against someone who can write the SQLite file: the built `ringmaster serve` and `ringctl` as
 * child processes, real SQLite files edited with better-sqlite3 (triggers dropped), checkpoints every 10 entries.
 *
 * A golden data directory gets 34+ entries (kill switch drills), an export (`ringctl audit export`) and a clean
 * shutdown (a checkpoint of the head). Then each tamper (truncation, re-chaining, a deleted middle entry, an
 * edited entry, a bad checkpoint signature) is applied to a copy of it:
 *   - offline, then `ringmaster serve` must refuse to start with one line naming the break (exit 2);
 *   - under a running server, then `ringctl audit --verify` (pinned key, the export, --expect-head) must name it.
 * `--accept-broken-audit` starts on a broken chain, records who and why, sets ringmaster_audit_chain_ok 0 and
 * keeps the kill switch usable; the next start needs no flag.
 */
import Database from 'better-sqlite3';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { auditHash } from '../../controller/store/canonical';
import { ensureBuilt } from '../helpers/build';

const ROOT = path.join(__dirname, '..', '..');
const RINGCTL = path.join(ROOT, 'bin', 'ringctl.js');
const RINGMASTER = path.join(ROOT, 'bin', 'ringmaster.js');
const EVERY = 10;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, RINGMASTER_AUDIT_CHECKPOINT_EVERY: String(EVERY), ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Exactly one line on stderr, matching; no stack trace. */
function expectOneLine(r: Run, pattern: RegExp): void {
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  expect(lines).toEqual([expect.stringMatching(pattern)]);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('audit integrity: tampering with the SQLite file is detected and named', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-audit-int-'));
  const tokens = { viewer: `viewer-${crypto.randomBytes(18).toString('base64url')}`, sre: `sre-${crypto.randomBytes(18).toString('base64url')}` };
  const tokensFile = path.join(tmp, 'tokens.yaml');
  const golden = path.join(tmp, 'golden');
  const exportFile = path.join(tmp, 'export.json');
  const servers: ChildProcess[] = [];
  let auditKey = '';
  let head = { seq: 0, hash: '' };
  let goldenRun: { exportRun: Run; verifyRun: Run; stderr: string; metrics: string };

  const serveArgs = (data: string, extra: string[] = []): string[] => ['serve', '--listen', '127.0.0.1:0', '--data', data, '--tokens', tokensFile, '--policies', path.join(ROOT, 'policies'), '--tick', '200ms', ...extra];

  async function serve(data: string, extra: string[] = []): Promise<{ url: string; child: ChildProcess; log: () => string; stop: () => Promise<number | null> }> {
    const child = spawn(process.execPath, [RINGMASTER, ...serveArgs(data, extra)], { cwd: ROOT, env: { PATH: process.env.PATH, RINGMASTER_AUDIT_CHECKPOINT_EVERY: String(EVERY) }, stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(child);
    let err = '';
    let out = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 20_000);
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && /audit checkpoint key ed25519 (\S+)/.test(out)) {
          clearTimeout(timer);
          auditKey ||= /audit checkpoint key ed25519 (\S+)/.exec(out)?.[1] as string;
          resolve(m[1] as string);
        }
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    });
    const stop = async (): Promise<number | null> => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    };
    return { url, child, log: () => err, stop };
  }

  const get = async (url: string, p: string): Promise<unknown> => (await fetch(`${url}${p}`, { headers: { Authorization: `Bearer ${tokens.viewer}` } })).json();
  const metric = async (url: string, name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
  const kill = (url: string, engaged: boolean, reason: string): Promise<Response> =>
    fetch(`${url}/v1/killswitch`, { method: 'POST', headers: { Authorization: `Bearer ${tokens.sre}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ engaged, mode: 'freeze', reason }) });
  const ringctl = (url: string, args: string[]): Promise<Run> => run(RINGCTL, args, { RINGMASTER_URL: url, RINGMASTER_TOKEN: tokens.viewer });

  /** A copy of the golden data directory, tampered with by fn while nothing runs on it. */
  function copyOfGolden(name: string): string {
    const dir = path.join(tmp, name);
    fs.cpSync(golden, dir, { recursive: true });
    return dir;
  }
  const withDb = (dir: string, fn: (db: Database.Database) => void): void => {
    const db = new Database(path.join(dir, 'ringmaster.db'));
    try {
      fn(db);
    } finally {
      db.close();
    }
  };
  const checkpointCount = (dir: string): number => {
    let n = 0;
    withDb(dir, (db) => (n = (db.prepare('SELECT COUNT(*) n FROM audit_checkpoints').get() as { n: number }).n));
    return n;
  };

  const EDIT_AT = 15;
  interface Tamper {
    name: string;
    apply: (db: Database.Database) => void;
    /** What the server says at start, after `ringmaster: audit `. */
    atStart: () => RegExp;
    /** What `ringctl audit --verify --audit-key KEY` says under a running server, after `ringctl audit: `. */
    live: () => RegExp;
  }
  const rehashFrom = (db: Database.Database, from: number): void => {
    type Row = { id: number; at: string; actor: string; action: string; target: string; reason: string; payload_json: string; prev_hash: string; hash: string };
    const rows = db.prepare('SELECT * FROM audit WHERE id >= ? ORDER BY id').all(from - 1) as Row[];
    let prev = (rows[0] as Row).hash;
    const upd = db.prepare('UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?');
    for (const r of rows.slice(1)) {
      const hash = auditHash({ id: r.id, at: r.at, actor: r.actor, action: r.action, target: r.target, reason: r.reason, payload: JSON.parse(r.payload_json) as unknown, prevHash: prev });
      upd.run(prev, hash, r.id);
      prev = hash;
    }
  };
  const tampers: Tamper[] = [
    {
      name: 'truncation (the last 4 rows deleted)',
      apply: (db) => {
        db.exec('DROP TRIGGER audit_no_delete');
        db.prepare('DELETE FROM audit WHERE id > ?').run(head.seq - 4);
      },
      atStart: () => new RegExp(`^chain TRUNCATED: the log ends at entry ${head.seq - 4} but checkpoint ${head.seq} \\(signed \\S+\\) exists: at least 4 entries are gone$`),
      live: () => new RegExp(`^chain TRUNCATED: the log ends at entry ${head.seq - 4} but checkpoint ${head.seq} \\(signed \\S+\\) exists: at least 4 entries are gone$`),
    },
    {
      name: 're-chaining (an entry edited and every later hash recomputed)',
      apply: (db) => {
        db.exec('DROP TRIGGER audit_no_update');
        db.prepare("UPDATE audit SET reason = 'nothing happened' WHERE id = ?").run(EDIT_AT);
        rehashFrom(db, EDIT_AT);
      },
      atStart: () => /^chain RE-CHAINED: entry 20 has hash [0-9a-f]{12}…, but checkpoint 20 \(signed \S+\) says [0-9a-f]{12}…: entries 11\.\.20 were rewritten and re-hashed \(entry 10 still matches its checkpoint\) \(and \d+ more problems?\)$/,
      live: () => /^chain RE-CHAINED: entry 20 has hash [0-9a-f]{12}…, but (exported )?checkpoint 20 \(signed \S+\) says [0-9a-f]{12}…: entries 11\.\.20 were rewritten and re-hashed \(entry 10 still matches its (checkpoint|off-box record)\) \(and \d+ more problems?\)$/,
    },
    {
      name: 'a deleted middle entry',
      apply: (db) => {
        db.exec('DROP TRIGGER audit_no_delete');
        db.prepare('DELETE FROM audit WHERE id = ?').run(EDIT_AT);
      },
      atStart: () => new RegExp(`^chain ENTRY DELETED: entry ${EDIT_AT} is missing \\(entry ${EDIT_AT - 1} is followed by entry ${EDIT_AT + 1}\\) \\[#${EDIT_AT + 1} .*\\]; the ${EDIT_AT - 1} entries before it verify$`),
      live: () => new RegExp(`^chain ENTRY DELETED: entry ${EDIT_AT} is missing \\(entry ${EDIT_AT - 1} is followed by entry ${EDIT_AT + 1}\\) \\[#${EDIT_AT + 1} .*\\]; the ${EDIT_AT - 1} entries before it verify$`),
    },
    {
      name: 'an edited entry',
      apply: (db) => {
        db.exec('DROP TRIGGER audit_no_update');
        db.prepare("UPDATE audit SET actor = 'mallory' WHERE id = ?").run(EDIT_AT);
      },
      atStart: () => new RegExp(`^chain ENTRY EDITED: entry ${EDIT_AT} does not match its hash \\[#${EDIT_AT} \\S+ mallory killswitch\\.\\S+ killswitch: .*\\]; the ${EDIT_AT - 1} entries before it verify$`),
      live: () => new RegExp(`^chain ENTRY EDITED: entry ${EDIT_AT} does not match its hash \\[#${EDIT_AT} \\S+ mallory killswitch\\.\\S+ killswitch: .*\\]; the ${EDIT_AT - 1} entries before it verify$`),
    },
    {
      name: 'a bad checkpoint signature',
      apply: (db) => {
        db.exec('DROP TRIGGER audit_checkpoints_no_update');
        const sig = (db.prepare('SELECT signature FROM audit_checkpoints WHERE seq = 20').get() as { signature: string }).signature;
        const bytes = Buffer.from(sig, 'base64');
        bytes[7] = (bytes[7] as number) ^ 0x40;
        db.prepare('UPDATE audit_checkpoints SET signature = ? WHERE seq = 20').run(bytes.toString('base64'));
      },
      atStart: () => /^checkpoint BAD SIGNATURE: checkpoint 20 \(signed \S+\) does not verify against audit key [0-9a-f]{16}$/,
      live: () => /^checkpoint BAD SIGNATURE: checkpoint 20 \(signed \S+\) does not verify against audit key [0-9a-f]{16}$/,
    },
  ];

  beforeAll(async () => {
    ensureBuilt();
    fs.writeFileSync(
      tokensFile,
      `tokens:\n${Object.entries(tokens)
        .map(([role, t]) => `  - name: test-${role}\n    role: ${role}\n    sha256: ${crypto.createHash('sha256').update(t).digest('hex')}\n`)
        .join('')}`,
    );
    const s = await serve(golden);
    for (let i = 1; i <= 17; i++) {
      expect((await kill(s.url, true, `drill ${i}`)).status).toBe(200);
      expect((await kill(s.url, false, `drill ${i} over`)).status).toBe(200);
    }
    const exp = (await get(s.url, '/v1/audit/checkpoints')) as { head: { seq: number; hash: string } };
    head = { seq: exp.head.seq, hash: exp.head.hash };
    const exportRun = await ringctl(s.url, ['audit', 'export', '--out', exportFile]);
    const verifyRun = await ringctl(s.url, ['audit', '--verify', '--audit-key', auditKey, '--checkpoints', exportFile, '--expect-head', `${head.seq}:${head.hash}`]);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(await s.stop()).toBe(0);
    goldenRun = { exportRun, verifyRun, stderr: s.log(), metrics };
  }, 90_000);

  afterAll(async () => {
    for (const c of servers) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a valid chain verifies against the pinned key, the export and the expected head; checkpoints are in the log and /metrics', () => {
    expect(head.seq).toBeGreaterThanOrEqual(34);
    const { exportRun, verifyRun, stderr, metrics } = goldenRun;
    expect(exportRun).toEqual({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(new RegExp(`^wrote 3 signed checkpoints \\(the last at entry 30, signed \\S+\\) and head ${head.seq}:${head.hash} to ${esc(exportFile)} \\(audit key id [0-9a-f]{16}\\)\\n$`)),
    });
    const file = JSON.parse(fs.readFileSync(exportFile, 'utf8')) as { format: string; key: { publicKey: string }; head: { seq: number }; checkpoints: Array<{ seq: number }> };
    expect([file.format, file.key.publicKey, file.head.seq, file.checkpoints.map((c) => c.seq)]).toEqual(['ringmaster-audit-checkpoints/v1', auditKey, head.seq, [10, 20, 30]]);
    expect(verifyRun).toEqual({
      code: 0,
      stderr: '',
      stdout: expect.stringMatching(
        new RegExp(
          `^audit chain ok: ${head.seq} entries, head ${head.hash}; 3 signed checkpoints verify \\(audit key id [0-9a-f]{16}, pinned by --audit-key\\), the last at entry 30; matches the expected head ${head.seq}:[0-9a-f]{12}… \\(--expect-head\\); matches the head ${head.seq} recorded in export\\.json \\(exported \\S+\\)\\n$`,
        ),
      ),
    });
    // One log line per checkpoint, with what an off-box record needs; the shutdown checkpoint last.
    const lines = stderr
      .split('\n')
      .filter((l) => l.includes('"msg":"audit checkpoint"'))
      .map((l) => JSON.parse(l) as { seq: number; hash: string; signature: string; keyId: string; reason: string; head: string });
    expect(lines.map((l) => [l.seq, l.reason])).toEqual([
      [10, 'every 10'],
      [20, 'every 10'],
      [30, 'every 10'],
      [head.seq, 'shutdown'],
    ]);
    expect(lines[3]).toMatchObject({ hash: head.hash, head: `${head.seq}:${head.hash}`, signature: expect.stringMatching(/^[A-Za-z0-9+/]{86}==$/), keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(metrics).toMatch(new RegExp(`^ringmaster_audit_head_sequence ${head.seq}$`, 'm'));
    expect(metrics).toMatch(/^ringmaster_audit_checkpoint_sequence 30$/m);
    expect(metrics).toMatch(/^ringmaster_audit_chain_ok 1$/m);
  });

  test.each(tampers.map((t) => [t.name, t] as const))('%s: ringmaster serve refuses to start, naming it in one line (exit 2), and signs nothing', async (_name, t) => {
    const dir = copyOfGolden(`start-${tampers.indexOf(t)}`);
    withDb(dir, t.apply);
    const before = checkpointCount(dir);
    const r = await run(RINGMASTER, serveArgs(dir));
    expect(r.code).toBe(2);
    const line = r.stderr.split('\n').filter((l) => l.startsWith('ringmaster: '));
    expect(line).toEqual([expect.stringMatching(/^ringmaster: audit .*; refusing to start \(ringmaster serve --accept-broken-audit "<reason>" records the break in the audit log and starts\)$/)]);
    expect((line[0] as string).replace(/^ringmaster: audit /, '').replace(/; refusing to start .*$/, '')).toMatch(t.atStart());
    expect(r.stdout).not.toContain('listening');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(checkpointCount(dir)).toBe(before);
  });

  test.each(tampers.map((t) => [t.name, t] as const))('%s under a running server: ringctl audit --verify names it (exit 1)', async (_name, t) => {
    const dir = copyOfGolden(`live-${tampers.indexOf(t)}`);
    const s = await serve(dir);
    try {
      expect((await ringctl(s.url, ['audit', '--verify', '--audit-key', auditKey])).code).toBe(0);
      withDb(dir, t.apply);
      const pinned = await ringctl(s.url, ['audit', '--verify', '--audit-key', auditKey]);
      expect(pinned.code).toBe(1);
      expect(pinned.stdout).toBe('');
      expectOneLine(pinned, /^ringctl audit: /);
      expect(pinned.stderr.replace(/^ringctl audit: /, '').trim()).toMatch(t.live());
      // The export and an external head catch it too (for the bad signature: the server's own checkpoint is bad).
      const offBox = await ringctl(s.url, ['audit', '--verify', '--checkpoints', exportFile, '--expect-head', `${head.seq}:${head.hash}`]);
      expect(offBox.code).toBe(1);
      expectOneLine(offBox, /^ringctl audit: (chain (TRUNCATED|RE-CHAINED|ENTRY DELETED|ENTRY EDITED)|checkpoint BAD SIGNATURE): /);
      const json = JSON.parse((await ringctl(s.url, ['audit', '--verify', '--audit-key', auditKey, '--json'])).stdout) as { ok: boolean; kind: string };
      expect(json.ok).toBe(false);
      expect(pinned.stderr).toContain(BREAK_TITLES[json.kind as keyof typeof BREAK_TITLES]);
      if (t.name.startsWith('truncation')) {
        // The publisher sees the head move back under it.
        const deadline = Date.now() + 5000;
        while ((await metric(s.url, 'ringmaster_audit_chain_ok')) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await metric(s.url, 'ringmaster_audit_chain_ok')).toBe(0);
        expect(s.log()).toMatch(/"level":"error".*"msg":"audit chain TRUNCATED: the log ends at entry \d+ but it had reached entry \d+ \(while running\)"/);
      }
      if (t.name.startsWith('a bad checkpoint')) {
        const out = path.join(tmp, 'bad-export.json');
        const exp = await ringctl(s.url, ['audit', 'export', '--out', out]);
        expect(exp.code).toBe(1);
        expectOneLine(exp, /^ringctl audit export: checkpoint 20 \(signed \S+\) does not verify against audit key [0-9a-f]{16}; nothing written$/);
        expect(fs.existsSync(out)).toBe(false);
      }
    } finally {
      await s.stop();
    }
  }, 40_000);

  test('--accept-broken-audit: starts, records who and why, chain_ok 0, the kill switch works; the export still fails it; the next start needs no flag', async () => {
    const dir = copyOfGolden('accept');
    withDb(dir, (tampers[0] as Tamper).apply);
    const reason = 'INC-4711: restored from the 02:00 backup';
    const s = await serve(dir, ['--accept-broken-audit', reason]);
    let stopped = false;
    try {
      const error = s
        .log()
        .split('\n')
        .find((l) => l.includes('"level":"error"'));
      expect(JSON.parse(error as string)).toMatchObject({
        msg: expect.stringMatching(new RegExp(`^audit chain TRUNCATED: the log ends at entry ${head.seq - 4} but checkpoint ${head.seq} .*; started anyway \\(--accept-broken-audit\\), recorded as audit entry ${head.seq - 3}$`)),
        acceptedBy: `local:${os.userInfo().username}`,
        reason,
      });
      const entries = ((await get(s.url, `/v1/audit?after=${head.seq - 4}`)) as { entries: Array<{ id: number; actor: string; action: string; reason: string }> }).entries;
      expect(entries[0]).toMatchObject({ id: head.seq - 3, actor: `local:${os.userInfo().username}`, action: 'audit.break-accepted', reason });
      expect(await metric(s.url, 'ringmaster_audit_chain_ok')).toBe(0);
      const engaged = await kill(s.url, true, 'works on an accepted break');
      expect(engaged.status).toBe(200);
      expect(((await get(s.url, '/v1/killswitch')) as { engaged: boolean }).engaged).toBe(true);
      expect((await kill(s.url, false, 'done')).status).toBe(200);

      const verify = await ringctl(s.url, ['audit', '--verify', '--audit-key', auditKey]);
      expect(verify).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`; a break was accepted earlier \\(entry ${head.seq - 3} by local:\\S+ at \\S+: ${esc(reason)}\\)\\n$`)) });
      const offBox = await ringctl(s.url, ['audit', '--verify', '--checkpoints', exportFile]);
      expect(offBox.code).toBe(1);
      expectOneLine(offBox, new RegExp(`^ringctl audit: chain TRUNCATED: .*the head ${head.seq} recorded in export\\.json .*; the server recorded an accepted break \\(entry ${head.seq - 3} by local:\\S+: ${esc(reason)}\\), which does not excuse a mismatch with an off-box record$`));
      expect(await s.stop()).toBe(0);
      stopped = true;

      const again = await serve(dir);
      expect(await metric(again.url, 'ringmaster_audit_chain_ok')).toBe(1);
      expect(again.log()).toMatch(/"level":"warn".*"msg":"audit chain: a break accepted earlier"/);
      expect(await again.stop()).toBe(0);
    } finally {
      if (!stopped) await s.stop();
    }
  }, 60_000);

  test('usage: a malformed --expect-head, a missing export file and flags without --verify are one-line errors (exit 2)', async () => {
    const url = 'http://127.0.0.1:9'; // never reached: usage is checked first
    const cases: Array<[string[], RegExp]> = [
      [['audit', '--verify', '--expect-head', '12'], /^ringctl audit: --expect-head: expected SEQ:HASH, an entry id and its 64-hex hash \(got "12"\)$/],
      [['audit', '--verify', '--checkpoints', path.join(tmp, 'nope.json')], /^ringctl audit: --checkpoints \S+nope\.json: cannot read \(ENOENT\)$/],
      [['audit', '--expect-head', `1:${'a'.repeat(64)}`], /^ringctl audit: --expect-head needs --verify$/],
      [['audit', '--verify', '--audit-key', 'not-a-key'], /^ringctl audit: --audit-key: expected a PEM public key or base64 of 32 raw bytes$/],
    ];
    for (const [args, pattern] of cases) {
      const r = await ringctl(url, args);
      expect([args, r.code]).toEqual([args, 2]);
      expectOneLine(r, pattern);
    }
  });
});

const BREAK_TITLES = {
  truncated: 'chain TRUNCATED',
  rechained: 'chain RE-CHAINED',
  deleted: 'chain ENTRY DELETED',
  edited: 'chain ENTRY EDITED',
  'bad-signature': 'checkpoint BAD SIGNATURE',
  'wrong-key': 'checkpoint WRONG KEY',
} as const;
