/** A mutation that arrives while the controller stops (a slow body, a request in flight at SIGTERM) is a clean 503, never a write to a closed store. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Controller } from '../../controller/runtime/controller';
import { ServiceClosedError } from '../../controller/runtime/service';
import { expectCleanError, startApi } from '../helpers/api-harness';

it('after stop, apply, verbs and the kill switch answer 503 not_ready with Retry-After', async () => {
  const c = await Controller.open({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'rm-shut-')), policiesDir: '/nonexistent', policies: new Map(), trustedKeys: [] });
  const api = await startApi(c, { roles: ['admin'] });
  try {
    await c.stop();
    await expect(c.setKillSwitch({ engaged: true, mode: 'freeze', reason: 'x' }, 'sre')).rejects.toBeInstanceOf(ServiceClosedError);
    const auth = { authorization: `Bearer ${api.tokens.admin}`, 'content-type': 'application/json' };
    for (const [url, body] of [
      ['/v1/killswitch', { engaged: true, reason: 'late' }],
      ['/v1/rollouts/r/pause', { reason: 'late' }],
    ] as const) {
      const res = await fetch(`${api.url}${url}`, { method: 'POST', headers: auth, body: JSON.stringify(body) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(expectCleanError(await res.text(), 503)).toMatchObject({ code: 'not_ready', message: 'the controller is shutting down; retry against the new process' });
    }
    expect(api.logs.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  } finally {
    await api.close();
  }
});
