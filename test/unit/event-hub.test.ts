// The SSE hub of GET /v1/events (controller/api/events.ts): diffs of the service's views become numbered events,
// Last-Event-ID replays what a client missed, a client that does not drain is dropped, and the client limit holds.
import { EventHub } from '../../controller/api/events';
import type { ControllerService, RolloutView } from '../../controller/runtime/service';

class FakeResponse {
  chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  private readonly handlers = new Map<string, () => void>();
  writeHead(): this {
    return this;
  }
  flushHeaders(): void {}
  write(text: string): boolean {
    this.chunks.push(text);
    return true;
  }
  on(event: string, fn: () => void): this {
    this.handlers.set(event, fn);
    return this;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.handlers.get('close')?.();
  }
  /** The ids and types of the numbered events written so far. */
  events(): Array<{ id: number; type: string }> {
    return this.chunks.flatMap((c) => {
      const m = /^id: (\d+)\nevent: (\S+)\n/.exec(c);
      return m ? [{ id: Number(m[1]), type: m[2] as string }] : [];
    });
  }
}

function fakeService(): { service: ControllerService; set: (phase: string) => void; engage: () => void } {
  let phase = 'progressing';
  let engaged = false;
  const view = (): RolloutView => ({ name: 'r1', phase: { kind: phase }, exposedRing: 0, ring: null, wave: null, waitingReason: null, lastVerdict: null, revision: phase.length }) as unknown as RolloutView;
  const service = {
    listRollouts: () => [view()],
    getKillSwitch: () => ({ engaged, mode: 'freeze', reason: engaged ? 'x' : '', since: null, actor: null }),
    listAudit: () => [],
  } as unknown as ControllerService;
  return { service, set: (p) => (phase = p), engage: () => (engaged = true) };
}

const attach = (hub: EventHub, last?: string): FakeResponse => {
  const res = new FakeResponse();
  hub.attach(res as never, last);
  return res;
};

it('sends a snapshot, then one numbered event per change, and nothing when nothing changed', () => {
  const f = fakeService();
  const hub = new EventHub(f.service, { intervalMs: 3_600_000 });
  const res = attach(hub);
  expect(res.chunks[0]).toMatch(/^event: snapshot\ndata: \{"rollouts":\["r1"\]/);
  hub.look(false);
  expect(res.events()).toEqual([]);
  f.set('halted');
  hub.look(false);
  f.engage();
  hub.look(false);
  expect(res.events()).toEqual([
    { id: 1, type: 'rollout' },
    { id: 2, type: 'killswitch' },
  ]);
  hub.stop();
});

it('replays the events after Last-Event-ID, and falls back to a snapshot when the id is unknown', () => {
  const f = fakeService();
  const hub = new EventHub(f.service, { intervalMs: 3_600_000 });
  attach(hub);
  f.set('halted');
  hub.look(false);
  f.engage();
  hub.look(false);
  const resumed = attach(hub, '1');
  expect(resumed.events()).toEqual([{ id: 2, type: 'killswitch' }]);
  expect(resumed.chunks.some((c) => c.startsWith('event: snapshot'))).toBe(false);
  const bogus = attach(hub, '999');
  expect(bogus.events()).toEqual([]);
  expect(bogus.chunks[0]).toMatch(/^event: snapshot/);
  const garbage = attach(hub, 'x; DROP');
  expect(garbage.chunks[0]).toMatch(/^event: snapshot/);
  hub.stop();
});

it('drops a client whose socket does not drain, and reports full at maxClients', () => {
  const f = fakeService();
  const hub = new EventHub(f.service, { intervalMs: 3_600_000, maxClients: 2, maxBufferedBytes: 1000 });
  const slow = attach(hub);
  const fast = attach(hub);
  expect(hub.full()).toBe(true);
  slow.writableLength = 5000;
  f.set('halted');
  hub.look(false);
  expect(slow.destroyed).toBe(true);
  expect(fast.events()).toEqual([{ id: 1, type: 'rollout' }]);
  expect(hub.clientCount).toBe(1);
  expect(hub.full()).toBe(false);
  hub.stop();
  expect(fast.ended).toBe(true);
});
