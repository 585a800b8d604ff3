/**
 * The exit-code table (controller/cli/exit-codes.ts, docs/cli.md#exit-codes): `ringctl status`'s code for every
 * phase and whether `status --watch` stops there, one row per phase, so that a new phase is a compile error in
 * exit-codes.ts and a missing row here.
 */
import { EXIT, statusExit } from '../../controller/cli/exit-codes';
import { ALL_PHASES, type PhaseKind } from '../../controller/engine/state';
import { Client } from '../../controller/cli/client';

const TABLE: Record<PhaseKind, { code: number; final: boolean }> = {
  pending: { code: 0, final: false },
  blocked: { code: 0, final: false },
  held: { code: 0, final: false },
  preflight: { code: 0, final: false },
  'waiting-for-window': { code: 0, final: false },
  progressing: { code: 0, final: false },
  'awaiting-approval': { code: 0, final: false },
  paused: { code: 0, final: false },
  halted: { code: 5, final: true },
  'rolling-back': { code: 3, final: false },
  'rolled-back': { code: 3, final: true },
  succeeded: { code: 0, final: true },
  aborted: { code: 4, final: true },
  'preflight-failed': { code: 7, final: true },
};

describe('ringctl status exit codes', () => {
  test.each(ALL_PHASES.map((p) => [p]))('%s', (phase) => {
    expect(statusExit({ kind: phase })).toEqual(TABLE[phase]);
  });

  test('every phase has a row', () => {
    expect(Object.keys(TABLE).sort()).toEqual([...ALL_PHASES].sort());
  });

  test('a rollback in progress exits with the code of its end (an abort drains too)', () => {
    expect(statusExit({ kind: 'rolling-back', end: 'rolled-back' })).toEqual({ code: EXIT.rolledBack, final: false });
    expect(statusExit({ kind: 'rolling-back', end: 'aborted' })).toEqual({ code: EXIT.aborted, final: false });
  });

  test('the codes are distinct and the shared ones mean the same for every program', () => {
    const codes = Object.values(EXIT);
    expect(new Set(codes).size).toBe(codes.length);
    expect(EXIT).toEqual({ ok: 0, failed: 1, usage: 2, rolledBack: 3, aborted: 4, halted: 5, timedOut: 6, preflightFailed: 7 });
  });
});

describe('ringctl server settings', () => {
  test('an empty RINGMASTER_URL falls back to the default URL; a flag still wins', () => {
    expect(new Client('get', {}, { RINGMASTER_URL: '' }).base.href).toBe('http://127.0.0.1:8080/');
    expect(new Client('get', {}, { RINGMASTER_URL: '  ' }).base.href).toBe('http://127.0.0.1:8080/');
    expect(new Client('get', { server: 'http://ctl:1' }, { RINGMASTER_URL: '' }).base.href).toBe('http://ctl:1/');
  });
});
