/**
 * The one logger of the whole tree: pino, JSON lines with levels, a child logger per rollout, and redaction of
 * credentials (Authorization headers, tokens, secrets) wherever they appear in a log object.
 *
 *   const log = createLogger({ level: 'info' });          // JSON lines on stderr
 *   log.child({ rollout: 'x' }).warn({ to: 'halted' }, 'transition');
 *
 * Tests and tools that want the lines pass `destination` (any `{ write(line) }`), or use `silentLogger`.
 */
import pino from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Paths redacted from every log object: never a secret in a log line. */
export const REDACT_PATHS = [
  'authorization',
  'Authorization',
  'token',
  'bearerToken',
  'secret',
  'password',
  '*.authorization',
  '*.Authorization',
  '*.token',
  '*.bearerToken',
  '*.secret',
  '*.password',
  'headers.authorization',
  'req.headers.authorization',
];

export interface LoggerOptions {
  level?: LogLevel;
  /** Where the JSON lines go; stderr by default. */
  destination?: { write(line: string): void };
  /** Fields on every line (for example `{ component: 'agent-sim' }`). */
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? (process.env.RINGMASTER_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    base: opts.base ?? null,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  const dest = opts.destination ?? pino.destination({ fd: 2, sync: true });
  return pino(options, dest as pino.DestinationStream);
}

/** A logger that drops everything (tests, library use without a logger). */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A logger that keeps its lines as parsed objects, for tests. */
export function memoryLogger(level: LogLevel = 'debug'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level, destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { log, lines };
}
