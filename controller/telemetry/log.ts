/**
 * The one logger of the whole tree: pino, JSON lines with levels, a child logger per rollout, and redaction of
 * credentials (Authorization headers, tokens, secrets) wherever they appear in a log object.
 *
 *   const log = createLogger({ level: 'info' });          // JSON lines on stderr
 *   forRollout(log, 'x').warn({ to: 'halted' }, 'transition');
 *
 * Every line is one JSON object with `level` (a name), `time` (ISO 8601), `msg`, then the fields:
 *
 *   {"level":"warn","time":"2026-12-01T21:40:00.000Z","rollout":"x","to":"halted","msg":"transition"}
 *
 * Two layers keep secrets out: the REDACT_PATHS fields are replaced by "[redacted]", and any `Bearer <token>` or
 * `Basic <credentials>` inside a message or a string field is cut to its scheme.
 *
 * Tests and tools that want the lines pass `destination` (any `{ write(line) }`), or use `silentLogger` /
 * `memoryLogger`.
 */
import pino from 'pino';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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
  /** Where the JSON lines go; process.stderr by default. */
  destination?: { write(line: string): void };
  /** Fields on every line (for example `{ component: 'agent-sim' }`). */
  base?: Record<string, unknown>;
}

/** `info`, `debug`, ...: the level, or undefined when the text is not one of LOG_LEVELS. */
export function parseLogLevel(text: string): LogLevel | undefined {
  return (LOG_LEVELS as readonly string[]).includes(text) ? (text as LogLevel) : undefined;
}

/** An Authorization value in free text: the scheme as the header spells it, then at least 8 token characters. */
const CREDENTIAL = /\b(Bearer|Basic) +[A-Za-z0-9\-._~+/]{8,}=*/g;
const HAS_CREDENTIAL = /\b(?:Bearer|Basic) +[A-Za-z0-9\-._~+/]{8,}/;

/** A credential written into free text (an error message that quoted a header) cut to its scheme. */
export function scrubCredentials(text: string): string {
  return HAS_CREDENTIAL.test(text) ? text.replace(CREDENTIAL, '$1 [redacted]') : text;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const envLevel = parseLogLevel(process.env.RINGMASTER_LOG_LEVEL ?? '');
  const options: pino.LoggerOptions = {
    level: opts.level ?? envLevel ?? 'info',
    base: opts.base ?? null,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => {
        let out: Record<string, unknown> | undefined;
        for (const [k, v] of Object.entries(obj)) {
          if (typeof v !== 'string' || !HAS_CREDENTIAL.test(v)) continue;
          out ??= { ...obj };
          out[k] = scrubCredentials(v);
        }
        return out ?? obj;
      },
    },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((a) => (typeof a === 'string' ? scrubCredentials(a) : a)) as Parameters<typeof method>;
        method.apply(this, scrubbed);
      },
    },
  };
  // process.stderr is synchronous for files and pipes on Linux, keeps the order of other stderr writes, and can be
  // captured in-process (tests spy on process.stderr.write).
  const dest = opts.destination ?? process.stderr;
  return pino(options, dest as pino.DestinationStream);
}

/** The child logger of one rollout: every line carries `rollout`. */
export function forRollout(log: Logger, rollout: string): Logger {
  return log.child({ rollout });
}

/** A logger that drops everything (tests, library use without a logger). */
export const silentLogger: Logger = pino({ level: 'silent' });

/** A logger that keeps its lines as parsed objects, for tests. `text` holds the raw lines as written. */
export function memoryLogger(level: LogLevel = 'debug'): { log: Logger; lines: Array<Record<string, unknown>>; text: string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const log = createLogger({
    level,
    destination: {
      write: (l: string) => {
        text.push(l);
        lines.push(JSON.parse(l) as Record<string, unknown>);
      },
    },
  });
  return { log, lines, text };
}
