import { hostBucket, hostWavePosition } from '../../controller/engine/membership';
import { channelSalt } from '../../controller/runtime/manifest';
import { fleetMembership } from '../../agent-sim/membership';
import { hostId } from '../../agent-sim/fleet';

describe('agent-sim fleetMembership (the simulator-scale fast path)', () => {
  it.each(['sensor-content', 'agent', 'a-very-long-channel-name-for-a-test'])('matches the engine for every host of channel %s', (channel) => {
    const salt = channelSalt(channel);
    const n = 5000;
    const { buckets, waves } = fleetMembership(salt, n, hostId);
    for (let i = 0; i < n; i++) {
      expect(buckets[i]).toBe(hostBucket(salt, hostId(i)));
      expect(waves[i]).toBe(hostWavePosition(salt, hostId(i)));
    }
  });

  it('matches at ten million hosts (the last ids) and on messages that need node:crypto', () => {
    const salt = channelSalt('sensor-content');
    const big = (i: number): string => hostId(9_999_000 + i);
    const { buckets, waves } = fleetMembership(salt, 1000, big);
    for (let i = 0; i < 1000; i++) {
      expect(buckets[i]).toBe(hostBucket(salt, big(i)));
      expect(waves[i]).toBe(hostWavePosition(salt, big(i)));
    }
    // Longer than one block (56+ bytes), non-ASCII, and lengths around the padding boundary (55/56 bytes).
    const odd = ['x'.repeat(80), 'hôte-é', 'y'.repeat(55 - 17), 'z'.repeat(56 - 17), ''];
    const r = fleetMembership(salt, odd.length, (i) => odd[i] as string);
    odd.forEach((id, i) => {
      expect(r.buckets[i]).toBe(hostBucket(salt, id));
      expect(r.waves[i]).toBe(hostWavePosition(salt, id));
    });
  });
});
