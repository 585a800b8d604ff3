/**
 * make soak: its settings, read from the environment. Every size can be overridden (a quick run is
 * `SOAK_KILLS=20 SOAK_INPUTS=500 SOAK_WRK_SECONDS=10 make soak`); the seed fixes every random choice the soak
 * makes (kill delays, which verb is sent, the generated inputs). A bad value is one line naming the variable.
 */

export const PARTS = ['kill', 'fuzz', 'wrk'] as const;
export type Part = (typeof PARTS)[number];

export interface SoakConfig {
  /** SOAK_SEED: seeds every random choice. */
  seed: number;
  /** SOAK_KILLS: `kill -9`s of ringmaster serve in part 1. */
  kills: number;
  /** SOAK_ACTIVE: rollouts kept in flight at once during part 1. */
  active: number;
  /** SOAK_INPUTS: malformed requests sent in part 2. */
  inputs: number;
  /** SOAK_WRK_SECONDS: duration of the wrk run in part 3 (the kill switch fires at half of it). */
  wrkSeconds: number;
  /** SOAK_WRK_CONNECTIONS: wrk's -c. */
  wrkConnections: number;
  /** SOAK_POLL_MS: the separate poller's interval in part 3 (100-200 ms). */
  pollMs: number;
  /** SOAK_MIN_RPS: the req/s part 3 must reach. */
  minRps: number;
  /** SOAK_PARTS: which parts run, comma-separated (kill,fuzz,wrk). */
  parts: ReadonlySet<Part>;
  /** SOAK_OUT: where the JSON goes. */
  out: string;
  /** SOAK_KEEP=1: keep the temp directories (data dirs, server logs) for a post-mortem. */
  keep: boolean;
  /** SOAK_TIMEOUT_S: the whole soak stops by itself after this long, whatever happens. */
  timeoutS: number;
}

export class SoakConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^[0-9]+$/.test(raw)) throw new SoakConfigError(`${name}: must be a whole number between ${min} and ${max} (got ${JSON.stringify(raw)})`);
  const n = Number(raw);
  if (n < min || n > max) throw new SoakConfigError(`${name}: must be between ${min} and ${max} (got ${n})`);
  return n;
}

export function readConfig(env: NodeJS.ProcessEnv, defaultOut: string): SoakConfig {
  const partsRaw = env.SOAK_PARTS ?? PARTS.join(',');
  const parts = new Set<Part>();
  for (const p of partsRaw.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(PARTS as readonly string[]).includes(p)) throw new SoakConfigError(`SOAK_PARTS: unknown part ${JSON.stringify(p)} (expected a comma-separated list of ${PARTS.join(', ')})`);
    parts.add(p as Part);
  }
  if (parts.size === 0) throw new SoakConfigError(`SOAK_PARTS: names no part (expected some of ${PARTS.join(', ')})`);
  return {
    seed: int(env, 'SOAK_SEED', 20261201, 0, 2 ** 32 - 1),
    kills: int(env, 'SOAK_KILLS', 200, 1, 100_000),
    active: int(env, 'SOAK_ACTIVE', 6, 1, 100),
    inputs: int(env, 'SOAK_INPUTS', 10_000, 100, 1_000_000),
    wrkSeconds: int(env, 'SOAK_WRK_SECONDS', 60, 4, 3600),
    wrkConnections: int(env, 'SOAK_WRK_CONNECTIONS', 100, 1, 10_000),
    pollMs: int(env, 'SOAK_POLL_MS', 150, 100, 200),
    minRps: int(env, 'SOAK_MIN_RPS', 20_000, 0, 10_000_000),
    parts,
    out: env.SOAK_OUT && env.SOAK_OUT !== '' ? env.SOAK_OUT : defaultOut,
    keep: env.SOAK_KEEP === '1',
    timeoutS: int(env, 'SOAK_TIMEOUT_S', 2400, 30, 86_400),
  };
}
