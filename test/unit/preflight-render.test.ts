/**
 * ringctl status and get with pre-flight checks, on views made by the runtime's own rolloutView (pure): the phase
 * label, the stopped/waiting line and how far the checks got.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { renderList, renderStatus } from '../../controller/cli/render';
import type { Phase, Transition } from '../../controller/engine/state';
import { initialState } from '../../controller/engine/state';
import { rolloutView } from '../../controller/runtime/view';
import { parseRolloutText } from '../../controller/spec/load';
import type { RolloutRecord } from '../../controller/store/types';

const T0 = '2026-11-30T14:00:00.000Z';
const text = fs.readFileSync(path.join(__dirname, '..', '..', 'examples/rollouts/content-malformed.yaml'), 'utf8').replace('\n  rings:\n', '\n    - name: field-lint\n      exec: field-lint\n  rings:\n');
const parsed = parseRolloutText(text, 'r.yaml');
if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('; '));
const ks = { engaged: false, mode: 'freeze' as const, reason: '', actor: '', since: null };

function statusOf(phase: Phase, history: Transition[] = [], exposedRing = -1): { status: string; list: string } {
  const rec: RolloutRecord = { name: 'sensor-content-7.16.293', channel: 'sensor-content', seq: 1, spec: parsed.ok ? parsed.doc : (undefined as never), specHash: 'x', policy: 'default', state: { ...initialState(), phase, exposedRing }, revision: 2, createdAt: T0, updatedAt: T0 };
  const v = rolloutView(rec, history, ks, true);
  return { status: renderStatus(v, new Date(T0)), list: renderList([v]) };
}

test('preflight-failed: the check that failed, its message, what ran and what did not', () => {
  const { status, list } = statusOf({ kind: 'preflight-failed', check: 'sensor-content-v1', reason: 'templates[1].fields: must NOT have more than 20 items (got 21)' });
  const lines = status.split('\n');
  expect(lines[1]).toBe('phase: preflight-failed (sensor-content-v1)');
  expect(lines[2]).toBe('stopped: pre-flight check sensor-content-v1 failed: templates[1].fields: must NOT have more than 20 items (got 21). No host received it. Next: fix the artifact and apply it as a new rollout');
  expect(lines[3]).toBe('preflight: artifact passed, sensor-content-v1 (schema) FAILED, field-lint (exec field-lint) not run');
  expect(list).toContain('preflight-failed (sensor-content-v1)');
  const artifact = statusOf({ kind: 'preflight-failed', check: 'artifact', reason: 'hash: sha256 mismatch' }).status;
  expect(artifact).toContain('preflight: artifact FAILED, sensor-content-v1 (schema) not run, field-lint (exec field-lint) not run');
});

test('running, then passed once the rollout left preflight for ring 0', () => {
  expect(statusOf({ kind: 'preflight', since: T0, reason: 'x' }).status).toContain(`waiting: pre-flight checks run since ${T0}`);
  expect(statusOf({ kind: 'preflight', since: T0, reason: 'x' }).status).toContain('preflight: running: artifact, sensor-content-v1 (schema), field-lint (exec field-lint)');
  const passed: Transition = { n: 2, at: T0, from: 'preflight', to: 'progressing', exposedRing: 0, reason: 'pre-flight passed (3 checks)', actor: 'controller' };
  expect(statusOf({ kind: 'progressing', ring: 0, bakeStartedAt: T0 }, [passed], 0).status).toContain('preflight: passed: artifact, sensor-content-v1 (schema), field-lint (exec field-lint)');
  const held: Transition = { ...passed, to: 'held', exposedRing: -1 };
  expect(statusOf({ kind: 'held', reason: 'pause' }, [held]).status).toContain('preflight: not run yet: artifact');
});
