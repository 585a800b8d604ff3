/**
 * The one logger (controller/telemetry/log.ts): JSON lines with level names and ISO times, levels that filter,
 * a child logger per rollout, redaction of credential fields, and credentials cut out of free text.
 */
import { createLogger, forRollout, memoryLogger, parseLogLevel, scrubCredentials } from '../../controller/telemetry/log';

test('lines are JSON with level, time and msg; a level filters the ones below it', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (l) => void lines.push(l) } });
  log.info('dropped');
  log.warn({ rollout: 'a' }, 'kept');
  log.error('kept too');
  expect(lines).toHaveLength(2);
  const first = JSON.parse(lines[0] as string) as Record<string, unknown>;
  expect(Object.keys(first)).toEqual(['level', 'time', 'rollout', 'msg']);
  expect(first).toMatchObject({ level: 'warn', rollout: 'a', msg: 'kept' });
  expect(new Date(String(first.time)).toISOString()).toBe(first.time);
});

test('a child logger per rollout carries the rollout on every line', () => {
  const mem = memoryLogger('info');
  const r = forRollout(mem.log, 'sensor-content-7.16.291');
  r.warn({ from: 'progressing', to: 'halted' }, 'transition');
  r.info('notify');
  expect(mem.lines.map((l) => [l.rollout, l.msg])).toEqual([
    ['sensor-content-7.16.291', 'transition'],
    ['sensor-content-7.16.291', 'notify'],
  ]);
});

test('credential fields are redacted at the top level, one level down and in request headers', () => {
  const mem = memoryLogger('info');
  mem.log.info({ authorization: 'Bearer abcdefgh12345678', token: 't0k3n-value', prometheus: { bearerToken: 'pb-secret', password: 'hunter2' }, req: { headers: { authorization: 'Basic b3BzOmh1bnRlcjI=' } } }, 'x');
  expect(mem.lines[0]).toMatchObject({ authorization: '[redacted]', token: '[redacted]', prometheus: { bearerToken: '[redacted]', password: '[redacted]' }, req: { headers: { authorization: '[redacted]' } } });
  expect(mem.text.join('')).not.toMatch(/abcdefgh|t0k3n|pb-secret|hunter2|b3BzOmh1bnRlcjI/);
});

test('a bearer or basic credential written into a message or a string field is cut to its scheme', () => {
  const mem = memoryLogger('info');
  mem.log.error({ error: 'upstream said: Authorization: Bearer eyJhbGciOi.J9x-_~+/abc= rejected' }, 'failed with Basic b3BzOmh1bnRlcjI= as %s', 'Bearer zzzzzzzzzzzz');
  expect(mem.lines[0]).toMatchObject({ error: 'upstream said: Authorization: Bearer [redacted] rejected', msg: 'failed with Basic [redacted] as Bearer [redacted]' });
  // Prose is left alone: the scheme word needs a token of 8 or more characters after it, as the header spells it.
  expect(scrubCredentials('use a bearer token or basic auth, not both; Bearer auth failed')).toBe('use a bearer token or basic auth, not both; Bearer auth failed');
});

test('parseLogLevel accepts the pino level names only', () => {
  expect(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map(parseLogLevel)).toEqual(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  expect(parseLogLevel('INFO')).toBeUndefined();
  expect(parseLogLevel('verbose')).toBeUndefined();
});
