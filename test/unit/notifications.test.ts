import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { breakGlassEvents, decisionEvents, eventMatches, killSwitchEvents } from '../../controller/engine/events';
import { initialState, type RolloutState, type Transition } from '../../controller/engine/state';
import { readNotificationSinks } from '../../controller/config/serve';
import { pagerdutyEvent, render, signatureHeader, slackMessage, verifySignature } from '../../controller/notify/sinks';
import { InputError } from '../../controller/spec/errors';
import { Store } from '../../controller/store/store';
import { compileSchema } from '../../controller/spec/validate';
import { notificationEventSchema } from '../../controller/notify/event-schema';

const t = (n: number, from: Transition['from'], to: Transition['to'], exposedRing: number, actor = 'controller'): Transition => ({ n, at: `2026-01-01T00:00:0${n}.000Z`, from, to, exposedRing, reason: `r${n}`, actor });
const state = (over: Partial<RolloutState> = {}): RolloutState => ({ ...initialState(), ...over });
const input = { rollout: 'r1', channel: 'c', version: '2.0', rings: ['canary', 'early', 'broad'] };

describe('engine events', () => {
  test('ring started, passed, approval, halted with evidence, rolling back, rolled back, succeeded', () => {
    const verdict = {
      ring: 1,
      result: 'fail' as const,
      reason: 'crashes up',
      metrics: [
        { metric: 'crashes', result: 'fail', reason: 'ratio 3', candidate: { rate: 0.3 }, baseline: { rate: 0.1 }, ratio: 3, relative: { logE: 5.2, threshold: 4.6 }, concern: true },
        { metric: 'bsod', result: 'pass', reason: 'ok', candidate: null, baseline: null, ratio: null, relative: null, concern: false },
      ],
    } as never;
    const evs = decisionEvents({
      ...input,
      previousExposedRing: -1,
      transitions: [t(1, 'pending', 'progressing', 0), t(2, 'progressing', 'progressing', 1), t(3, 'progressing', 'halted', 1), t(4, 'halted', 'rolling-back', 1, 'alice'), t(5, 'rolling-back', 'rolled-back', -1)],
      state: state(),
      verdict,
    });
    expect(evs.map((e) => e.id)).toEqual(['r1:1:ring.started', 'r1:2:ring.passed', 'r1:2:ring.started', 'r1:3:rollout.halted', 'r1:4:rollout.rolling-back', 'r1:5:rollout.rolled-back']);
    expect(evs[1]).toMatchObject({ ring: 0, ringName: 'canary' });
    expect(evs[2]).toMatchObject({ ring: 1, ringName: 'early' });
    expect(evs[3]?.evidence).toEqual([{ metric: 'crashes', result: 'fail', reason: 'ratio 3', candidateRate: 0.3, baselineRate: 0.1, ratio: 3, statistic: 5.2, boundary: 4.6 }]);
    expect(evs[4]).toMatchObject({ actor: 'alice', severity: 'critical' });
    expect(evs[5]).toMatchObject({ ring: 1 });
    const validate = compileSchema(notificationEventSchema);
    for (const e of evs) expect([e.id, validate(e), validate.errors ?? null]).toEqual([e.id, true, null]);
  });

  test('approval after a pass, success, preflight failure; nothing for a transition without an event', () => {
    const approval = decisionEvents({ ...input, previousExposedRing: 1, transitions: [t(7, 'progressing', 'awaiting-approval', 1)], state: state({ phase: { kind: 'awaiting-approval', ring: 2, reason: '', cause: 'approval-required' } }) });
    expect(approval.map((e) => e.type)).toEqual(['ring.passed', 'approval.required']);
    const maxBake = decisionEvents({ ...input, previousExposedRing: 1, transitions: [t(7, 'progressing', 'awaiting-approval', 1)], state: state({ phase: { kind: 'awaiting-approval', ring: 1, reason: '', cause: 'max-bake' } }) });
    expect(maxBake.map((e) => e.type)).toEqual(['approval.required']);
    expect(decisionEvents({ ...input, previousExposedRing: 2, transitions: [t(9, 'progressing', 'succeeded', 2)], state: state() }).map((e) => e.type)).toEqual(['ring.passed', 'rollout.succeeded']);
    expect(decisionEvents({ ...input, previousExposedRing: -1, transitions: [t(2, 'preflight', 'preflight-failed', -1)], state: state() }).map((e) => e.type)).toEqual(['preflight.failed']);
    expect(decisionEvents({ ...input, previousExposedRing: 0, transitions: [t(3, 'progressing', 'paused', 0)], state: state() })).toEqual([]);
  });

  test('kill switch: an event only when engaged changes; stable id', () => {
    const off = { engaged: false, mode: 'freeze' as const, reason: '', actor: '', since: null };
    const on = { engaged: true, mode: 'freeze' as const, reason: 'stop', actor: 'sre', since: '2026-01-01T00:00:00.000Z' };
    expect(killSwitchEvents(off, on, on.since)).toEqual([expect.objectContaining({ id: 'killswitch:2026-01-01T00:00:00.000Z:killswitch.engaged', actor: 'sre', severity: 'critical' })]);
    expect(killSwitchEvents(on, { ...on, mode: 'rollback' }, 'x')).toEqual([]);
    expect(killSwitchEvents(on, off, 'y')[0]?.type).toBe('killswitch.released');
  });

  test('break-glass: a critical event on every use, even when the switch was engaged already; it fits the schema', () => {
    const on = { engaged: true, mode: 'rollback' as const, reason: 'idp down', actor: 'break-glass:vault-1', since: '2026-01-01T00:00:00.000Z' };
    const evs = breakGlassEvents(on, '2026-01-01T00:00:01.000Z');
    expect(evs).toEqual([
      expect.objectContaining({ id: 'breakglass:2026-01-01T00:00:01.000Z:breakglass.used', type: 'breakglass.used', severity: 'critical', actor: 'break-glass:vault-1', reason: 'break-glass credential used to engage the kill switch (mode rollback): idp down' }),
    ]);
    const validate = compileSchema(notificationEventSchema);
    expect([validate(evs[0]), validate.errors ?? null]).toEqual([true, null]);
  });

  test('filters', () => {
    expect(eventMatches('rollout.halted', ['rollout.*'])).toBe(true);
    expect(eventMatches('ring.started', ['rollout.*', 'killswitch.engaged'])).toBe(false);
    expect(eventMatches('ring.started', ['*'])).toBe(true);
  });
});

describe('sinks', () => {
  const ev = killSwitchEvents({ engaged: false, mode: 'freeze', reason: '', actor: '', since: null }, { engaged: true, mode: 'freeze', reason: 'stop', actor: 'sre', since: 'T' }, 'T')[0] as never;

  test('webhook signature verifies with the right secret and not with a wrong one, nor when old or tampered', () => {
    const r = render('webhook', ev, { secret: 's3cret', nowS: 1000 });
    const sig = r.headers['X-Ringmaster-Signature'];
    expect(sig).toBe(signatureHeader('s3cret', 1000, r.body));
    expect(r.headers['Idempotency-Key']).toBe('killswitch:T:killswitch.engaged');
    expect(verifySignature('s3cret', sig, r.body, 1010)).toBe(true);
    expect(verifySignature('wrong', sig, r.body, 1010)).toBe(false);
    expect(verifySignature('s3cret', sig, r.body.replace('stop', 'stap'), 1010)).toBe(false);
    expect(verifySignature('s3cret', sig, r.body, 2000)).toBe(false);
    expect(verifySignature('s3cret', undefined, r.body, 1000)).toBe(false);
  });

  test('slack and pagerduty payloads', () => {
    expect(slackMessage(ev).text).toContain('Kill switch engaged by sre');
    expect(pagerdutyEvent(ev, 'rk')).toMatchObject({ routing_key: 'rk', event_action: 'trigger', dedup_key: 'ringmaster:killswitch', payload: { severity: 'critical' } });
  });
});

describe('notification config', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-ncfg-'));
    fs.writeFileSync(path.join(dir, 'secret'), 'topsecret-value\n');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const load = (yaml: string): string[] => {
    const f = path.join(dir, 'serve.yaml');
    fs.writeFileSync(f, yaml);
    try {
      readNotificationSinks(f);
      return [];
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return err.lines;
    }
  };

  test('a good sink loads with its secret read', () => {
    const f = path.join(dir, 'ok.yaml');
    fs.writeFileSync(f, 'notifications:\n  - { name: hook, type: webhook, url: "http://127.0.0.1:9/h", secretFile: ./secret }\n');
    expect(readNotificationSinks(f)).toEqual([expect.objectContaining({ name: 'hook', secret: 'topsecret-value', events: ['*'], maxAttempts: 8 })]);
  });

  test.each([
    ['missing secret file', 'notifications:\n  - { name: hook, type: webhook, url: "http://x/h", secretFile: ./nope }\n', /notifications\[0\]\.secretFile: .*nope: no such file/],
    ['unknown event', 'notifications:\n  - { name: hook, type: webhook, url: "http://x/h", secretFile: ./secret, events: [rollout.exploded] }\n', /notifications\[0\]\.events\[0\]: unknown event rollout.exploded/],
    ['non-http url', 'notifications:\n  - { name: hook, type: webhook, url: "ftp://x/h", secretFile: ./secret }\n', /notifications\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/],
    ['unknown type', 'notifications:\n  - { name: hook, type: email, url: "http://x/h" }\n', /notifications\[0\]\.type: must be webhook, slack or pagerduty/],
    ['webhook without secret', 'notifications:\n  - { name: hook, type: webhook, url: "http://x/h" }\n', /notifications\[0\]: a webhook sink needs secretFile/],
  ])('%s: one line naming the file and the field', (_name, yaml, re) => {
    const lines = load(yaml);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(lines[0]).toContain('serve.yaml');
    expect(lines[0]).not.toContain('topsecret-value');
  });
});

describe('outbox', () => {
  test('an event enqueued in a transaction that rolls back does not exist; one that commits does, once', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rm-nob-'));
    const store = Store.open(path.join(dir, 'db.sqlite'));
    try {
      const outbox = store.notificationOutbox();
      const ev = { id: 'a', type: 'killswitch.engaged' } as never;
      expect(() =>
        store.transaction(() => {
          outbox.enqueue([{ sink: 's', event: ev }], 1);
          throw new Error('decision failed');
        }),
      ).toThrow('decision failed');
      expect(outbox.list()).toEqual([]);
      store.transaction(() => outbox.enqueue([{ sink: 's', event: ev }], 1));
      store.transaction(() => outbox.enqueue([{ sink: 's', event: ev }], 2));
      expect(outbox.due(5, 10)).toHaveLength(1);
      outbox.markFailed('a', 's', 'HTTP 500', { dead: true, at: 'now' });
      expect(outbox.list({ status: 'dead' })).toEqual([expect.objectContaining({ attempts: 1, lastError: 'HTTP 500' })]);
      expect(outbox.due(5, 10)).toEqual([]);
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
