/** Channel scheduling and lineage (engine/scheduling): FIFO, the concurrency limit, lineage at start and at apply. */
import { channelSlot, holdsChannelSlot, lineageAtApply, lineageEvents, type ChannelLineage, type SlotRollout } from '../../controller/engine/scheduling';
import type { Phase, Transition } from '../../controller/engine/state';

const pending: Phase = { kind: 'pending', reason: 'accepted' };
const progressing: Phase = { kind: 'progressing', ring: 0, bakeStartedAt: '2026-11-30T14:00:00.000Z' };
const ro = (name: string, seq: number, version: string, previousVersion: string | undefined, phase: Phase): SlotRollout => ({ name, seq, version, previousVersion, phase });
const lineage = (stableVersion: string, withdrawn: ChannelLineage['withdrawn'] = []): ChannelLineage => ({ stableVersion, withdrawn });

describe('channelSlot', () => {
  it('is free for the first rollout on a channel built on its stable version', () => {
    expect(channelSlot(ro('a', 1, '2', '1', pending), [], lineage('1'), 1)).toEqual({ free: true });
    expect(channelSlot(ro('a', 1, '2', '1', pending), [], null, 1)).toEqual({ free: true });
  });

  it('waits while the limit is reached, and FIFO behind an older pending rollout', () => {
    const busy = channelSlot(ro('b', 2, '3', '1', pending), [ro('a', 1, '2', '1', progressing)], lineage('1'), 1);
    expect(busy).toEqual({ free: false, reason: 'waiting for a (maxConcurrentRolloutsPerChannel 1)' });
    const fifo = channelSlot(ro('c', 3, '4', '1', pending), [ro('b', 2, '3', '1', pending)], lineage('1'), 2);
    expect(fifo).toEqual({ free: false, reason: 'queued behind b' });
    expect(channelSlot(ro('b', 2, '3', '1', pending), [ro('a', 1, '2', '1', progressing)], lineage('1'), 2)).toEqual({ free: true });
  });

  it('a rollout built on a version in flight waits for it; once that version is withdrawn it is blocked', () => {
    const a = ro('a', 1, '7.16.291', '7.16.290', progressing);
    const b = ro('b', 2, '7.16.292', '7.16.291', pending);
    const waiting = channelSlot(b, [a], lineage('7.16.290'), 1);
    expect(waiting.free).toBe(false);
    expect('blocked' in waiting).toBe(false);
    expect((waiting as { reason: string }).reason).toMatch(/waiting for a \(7\.16\.291\) to succeed/);
    const blocked = channelSlot(b, [], lineage('7.16.290', [{ version: '7.16.291', event: 'rolled-back', rollout: 'a', at: 't' }]), 1);
    expect(blocked).toEqual({
      free: false,
      blocked: true,
      reason: 'blocked: the channel runs 7.16.290, this rollout expects 7.16.291; 7.16.291 was rolled-back (a)',
      stableVersion: '7.16.290',
      expectedVersion: '7.16.291',
    });
    // Once 7.16.291 succeeded instead, b may start.
    expect(channelSlot(b, [], lineage('7.16.291'), 1)).toEqual({ free: true });
  });

  it('a held rollout is judged as if pending (for when it is resumed); others are not scheduled', () => {
    const held: Phase = { kind: 'held', reason: 'kill switch' };
    expect(channelSlot(ro('b', 2, '3', '1', held), [ro('a', 1, '2', '1', progressing)], lineage('1'), 1).free).toBe(false);
    expect(channelSlot(ro('a', 1, '2', '9', progressing), [], lineage('1'), 1)).toEqual({ free: true });
  });

  it('only exposed or deciding phases hold a slot', () => {
    expect(holdsChannelSlot(pending)).toBe(false);
    expect(holdsChannelSlot({ kind: 'held', reason: 'x' })).toBe(false);
    expect(holdsChannelSlot({ kind: 'blocked', reason: 'x', stableVersion: '1', expectedVersion: '2' })).toBe(false);
    expect(holdsChannelSlot(progressing)).toBe(true);
    expect(holdsChannelSlot({ kind: 'halted', ring: 0, reason: 'kill-switch', message: 'x' })).toBe(true);
    expect(holdsChannelSlot({ kind: 'succeeded' })).toBe(false);
  });
});

describe('lineageAtApply', () => {
  it('accepts the stable version or a version in flight as previousVersion, and names both otherwise', () => {
    const inFlight = [ro('a', 1, '7.16.291', '7.16.290', progressing)];
    expect(lineageAtApply('c', '7.16.292', '7.16.290', lineage('7.16.290'), inFlight)).toEqual({ ok: true });
    expect(lineageAtApply('c', '7.16.292', '7.16.291', lineage('7.16.290'), inFlight)).toEqual({ ok: true });
    expect(lineageAtApply('c', '7.16.292', '7.16.100', lineage('7.16.290'), inFlight)).toEqual({
      ok: false,
      message: 'previousVersion 7.16.100 is not what channel c runs: its stable version is 7.16.290 (in flight: 7.16.291); set previousVersion: 7.16.290',
    });
    expect(lineageAtApply('c', '2', '0', null, [])).toEqual({ ok: true });
  });

  it('refuses to publish a withdrawn version again', () => {
    const r = lineageAtApply('c', '7.16.291', '7.16.290', lineage('7.16.290', [{ version: '7.16.291', event: 'rolled-back', rollout: 'a', at: '2026-11-30T15:00:00.000Z' }]), []);
    expect(r.ok).toBe(false);
    expect((r as { message: string }).message).toBe(
      'version 7.16.291 was rolled-back on channel c (a, 2026-11-30T15:00:00.000Z); a withdrawn version is never published again: give the fix a new version',
    );
  });
});

describe('lineageEvents', () => {
  const t = (from: Transition['from'], to: Transition['to']): Transition => ({ n: 1, at: 'T', from, to, exposedRing: -1, reason: 'r', actor: 'x' });
  it('success makes stable; a drained rollback withdraws; a cancel before exposure withdraws nothing', () => {
    expect(lineageEvents('2', [t('progressing', 'succeeded')])).toEqual([{ event: 'stable', version: '2', at: 'T', reason: 'r' }]);
    expect(lineageEvents('2', [t('rolling-back', 'rolled-back')])).toEqual([{ event: 'rolled-back', version: '2', at: 'T', reason: 'r' }]);
    expect(lineageEvents('2', [t('rolling-back', 'aborted')])).toEqual([{ event: 'aborted', version: '2', at: 'T', reason: 'r' }]);
    expect(lineageEvents('2', [t('pending', 'aborted')])).toEqual([]);
    expect(lineageEvents('2', [t('progressing', 'rolling-back')])).toEqual([]);
  });
});
