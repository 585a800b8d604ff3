/**
 * Scenario documents (`kind: Scenario`): the fleet, the update's effects, the rollout and policy to play,
 * and what outcome to expect. The JSON Schema below is the one source of their shape and defaults; they load
 * through the one document loader (controller/spec/document.ts), so every error is one line
 * `file:line:col path: message`, like `ringctl validate`.
 */
import * as path from 'node:path';
import type { FromSchema } from 'json-schema-to-ts';
import { DEFAULT_BOOT_RULES } from '../controller/engine/agent';
import { loadDocumentFileOrThrow, type DocumentType } from '../controller/spec/document';
import { parseDuration } from '../controller/spec/duration';
import { InputError, type PathSegment, type Problem } from '../controller/spec/errors';

const DURATION = '^([0-9]+(ms|s|m|h|d|w))+$';
/** ISO 8601 with an offset or Z: the instant must not depend on the machine's time zone. */
const DATE_TIME = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:[0-9]{2})$';
const dateTime = { type: 'string', pattern: DATE_TIME, 'x-messages': { pattern: 'must be a date-time with an offset, like 2026-11-30T09:00:00-05:00 (got {got})' } } as const;

export const scenarioSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'ringmaster.dev/v1alpha1' },
    kind: { const: 'Scenario' },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: { type: 'string', minLength: 1 }, description: { type: 'string', default: '' } },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['rollout', 'policy', 'start'],
      properties: {
        /** Rollout and policy files, relative to the scenario file. */
        rollout: { type: 'string', minLength: 1 },
        policy: { type: 'string', minLength: 1 },
        /** Publisher keys the controller trusts (for signed artifacts), relative to the scenario file. */
        trustedKeys: { type: 'string', minLength: 1 },
        /** The artifact bytes agents download, relative to the scenario file; its sha256 must match the rollout. */
        artifactFile: { type: 'string', minLength: 1 },
        /** When the rollout is applied (ISO 8601 with an offset). */
        start: dateTime,
        /** Stop the run after this much virtual time if the rollout has not ended. */
        maxDuration: { type: 'string', pattern: DURATION, default: '5d' },
        seed: { type: 'integer', minimum: 0, default: 1 },
        /** Virtual time per simulation step (1s to 1h). */
        tick: { type: 'string', pattern: DURATION, default: '30s' },
        fleet: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            hosts: { type: 'integer', minimum: 100, maximum: 10_000_000, default: 1_000_000 },
            /** Hosts labelled ring: canary (the dogfood set); absent: 0.2% of the hosts, at least 50. */
            canaryHosts: { type: 'integer', minimum: 0 },
            /** 1s to 1d. */
            pollInterval: { type: 'string', pattern: DURATION, default: '60s' },
            /** Each poll is delayed by a uniform draw in [0, pollJitter) (on top of each host's random phase); 0s to 1h. */
            pollJitter: { type: 'string', pattern: DURATION, default: '0s' },
            regions: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1 }, default: ['us-east', 'us-west', 'eu-west', 'ap-south'] },
            oses: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string', minLength: 1 }, default: ['windows', 'linux', 'macos'] },
            tenants: {
              type: 'array',
              maxItems: 8,
              items: { type: 'object', additionalProperties: false, required: ['name', 'share'], properties: { name: { type: 'string', minLength: 1 }, share: { type: 'number', minimum: 0, maximum: 1 } } },
              default: [
                { name: 'hospital-group', share: 0.02 },
                { name: 'retail', share: 0.2 },
              ],
            },
            /** Mean crashes and BSODs per host-hour on the baseline version. */
            crashRate: { type: 'number', minimum: 0, default: 0.002 },
            bsodRate: { type: 'number', minimum: 0, default: 0.0005 },
            /** Gamma shape of the per-host hazard multiplier (mean 1): smaller is more heterogeneous. */
            hazardShape: { type: 'number', exclusiveMinimum: 0, default: 2 },
            /** Day/night swing of the hazard, 0..1 (0.3: ±30% around the mean, peak at 14:00 UTC). */
            diurnalAmplitude: { type: 'number', minimum: 0, maximum: 1, default: 0.3 },
            /** Gamma shape of a per-version rate multiplier drawn once per analysis interval (overdispersion); absent: none. */
            overdispersionShape: { type: 'number', exclusiveMinimum: 0 },
            /** Gamma shape of a rate multiplier shared by both versions, drawn once per analysis interval; absent: none. */
            commonNoiseShape: { type: 'number', exclusiveMinimum: 0 },
            /** The grid the noise is drawn on (1s to 1d); absent: the rollout's analysis interval. */
            noiseInterval: { type: 'string', pattern: DURATION },
            /** Crash loops: compound-Poisson clusters of crashes, `rate` cluster starts per host-hour, `meanSize` crashes each (geometric). */
            clusters: {
              type: 'object',
              additionalProperties: false,
              required: ['rate', 'meanSize'],
              properties: { rate: { type: 'number', minimum: 0 }, meanSize: { type: 'number', minimum: 1 } },
            },
          },
        },
        /** Effects of the candidate version. */
        candidate: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            crashRateMultiplier: { type: 'number', minimum: 0, default: 1 },
            /** Probability that a host installing it crashes on boot, into a boot loop. */
            crashOnBoot: { type: 'number', minimum: 0, maximum: 1, default: 0 },
            /**
             * Of the hosts that crash on boot, the share whose crash comes before the agent's boot check can run (a
             * boot-start kernel driver, as in July 2024): they stay bricked whatever the agent does. Default 1: the
             * agent's fallback never gets the chance.
             */
            crashBeforeAgent: { type: 'number', minimum: 0, maximum: 1, default: 1 },
            /** Probability that an install attempt fails (the host keeps its version and retries next poll). */
            updateFailure: { type: 'number', minimum: 0, maximum: 1, default: 0 },
          },
        },
        /** The agents' boot-loop safety net (the engine's BootRules). */
        agent: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            /** Whether the agent reverts to last-known-good after `maxFailedStarts` failed starts. */
            fallback: { type: 'boolean', default: true },
            maxFailedStarts: { type: 'integer', minimum: 1, maximum: 100, default: DEFAULT_BOOT_RULES.maxFailedStarts },
            /** How long one failed boot takes, crash to the next start (1s to 1h). */
            bootCycle: { type: 'string', pattern: DURATION, default: '2m' },
          },
        },
        /** Intervals (offsets from start) in which the metrics provider has no data (a Prometheus outage). */
        metricsGaps: {
          type: 'array',
          default: [],
          items: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: { type: 'string', pattern: DURATION }, to: { type: 'string', pattern: DURATION } } },
        },
        /** Man-in-the-middle: a share of manifest responses altered in transit; artifact bytes that do not match. */
        tamper: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { manifestShare: { type: 'number', minimum: 0, maximum: 1, default: 0 }, artifact: { type: 'boolean', default: false } },
        },
        /** auto: an approver approves rings that wait for approval after `approvalDelay`. */
        approvals: { type: 'string', enum: ['auto', 'none'], default: 'auto' },
        approvalDelay: { type: 'string', pattern: DURATION, default: '15m' },
        expect: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            outcome: { type: 'string', enum: ['succeeded', 'rolled-back', 'halted', 'aborted', 'awaiting-approval', 'preflight-failed', 'running'] },
            haltReason: { type: 'string' },
            /** Index of the last ring exposed when the run ended (for halts: the ring that was stopped). */
            lastRing: { type: 'integer', minimum: -1 },
            maxHostsOutsideCanary: { type: 'integer', minimum: 0 },
            maxHostsUpdated: { type: 'integer', minimum: 0 },
            /** Of the hosts that crashed on boot on the update, the share the agents' fallback brought back (hostsRecoveredLocally / (hostsRecoveredLocally + hostsBricked)). */
            minRecoveredShare: { type: 'number', minimum: 0, maximum: 1 },
            firstRingStart: dateTime,
          },
        },
      },
    },
  },
} as const;

/** A scenario as loaded: every default of the schema filled in (ajv writes them in; a scenario is never hashed). */
type ScenarioDocument = FromSchema<typeof scenarioSchema>;

export interface Scenario {
  name: string;
  description: string;
  file: string;
  rolloutFile: string;
  policyFile: string;
  trustedKeysFile: string | undefined;
  artifactFile: string | undefined;
  start: Date;
  maxDurationMs: number;
  seed: number;
  tickMs: number;
  fleet: {
    hosts: number;
    canaryHosts: number;
    pollIntervalMs: number;
    pollJitterMs: number;
    regions: string[];
    oses: string[];
    tenants: Array<{ name: string; share: number }>;
    crashRate: number;
    bsodRate: number;
    hazardShape: number;
    diurnalAmplitude: number;
    overdispersionShape: number | undefined;
    commonNoiseShape?: number | undefined;
    /** undefined: the rollout's analysis interval. */
    noiseIntervalMs?: number | undefined;
    clusters?: { rate: number; meanSize: number } | undefined;
  };
  candidate: { crashRateMultiplier: number; crashOnBoot: number; crashBeforeAgent: number; updateFailure: number };
  agent: { fallback: boolean; maxFailedStarts: number; bootCycleMs: number };
  metricsGaps: Array<{ fromMs: number; toMs: number }>;
  tamper: { manifestShare: number; artifact: boolean };
  approvals: 'auto' | 'none';
  approvalDelayMs: number;
  expect: {
    outcome?: string;
    haltReason?: string;
    lastRing?: number;
    maxHostsOutsideCanary?: number;
    maxHostsUpdated?: number;
    minRecoveredShare?: number;
    firstRingStart?: string;
  };
}

/** Durations with a floor or ceiling the schema's pattern cannot say: [path, lowest ms, highest ms]. */
const BOUNDED_DURATIONS: Array<[PathSegment[], number, number]> = [
  [['spec', 'tick'], 1_000, 3_600_000],
  [['spec', 'fleet', 'pollInterval'], 1_000, 86_400_000],
  [['spec', 'fleet', 'pollJitter'], 0, 3_600_000],
  [['spec', 'fleet', 'noiseInterval'], 1_000, 86_400_000],
  [['spec', 'agent', 'bootCycle'], 1_000, 3_600_000],
];

const ms = (d: string): number => {
  const r = parseDuration(d);
  return r.ok ? r.ms : NaN;
};

/** What the schema cannot say (read defensively: the schema reports what is malformed). */
function scenarioRules(data: unknown): Problem[] {
  const problems: Problem[] = [];
  const at = (p: PathSegment[]): unknown => p.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), data);
  for (const p of [['spec', 'start'], ['spec', 'expect', 'firstRingStart']]) {
    const v = at(p);
    if (typeof v === 'string' && new RegExp(DATE_TIME).test(v) && Number.isNaN(Date.parse(v))) problems.push({ path: p, message: `not a real date-time (got ${v})` });
  }
  const gaps = at(['spec', 'metricsGaps']);
  if (Array.isArray(gaps)) {
    gaps.forEach((g: unknown, i) => {
      const gap = (g ?? {}) as { from?: unknown; to?: unknown };
      if (typeof gap.from !== 'string' || typeof gap.to !== 'string') return;
      if (!(ms(gap.to) > ms(gap.from))) problems.push({ path: ['spec', 'metricsGaps', i, 'to'], message: 'must be after from' });
    });
  }
  const tenants = at(['spec', 'fleet', 'tenants']);
  if (Array.isArray(tenants) && tenants.reduce((sum: number, t: unknown) => sum + (typeof (t as { share?: unknown } | null)?.share === 'number' ? (t as { share: number }).share : 0), 0) > 1) {
    problems.push({ path: ['spec', 'fleet', 'tenants'], message: 'shares add up to more than 1' });
  }
  for (const [p, lo, hi] of BOUNDED_DURATIONS) {
    const v = at(p);
    if (typeof v !== 'string' || !new RegExp(DURATION).test(v)) continue;
    const d = ms(v);
    if (!(d >= lo && d <= hi)) problems.push({ path: p, message: `must be between ${lo / 1000}s and ${hi / 1000}s (got ${v})` });
  }
  return problems;
}

export const SCENARIO_FILE: DocumentType<ScenarioDocument> = { noun: 'scenario file', schema: scenarioSchema, materialise: 'all', rules: scenarioRules };

/**
 * The scenario document. Another kind of document (a Rollout, a Policy: the usual mix-up) is one line that says so,
 * instead of the schema's complaints about every field of it.
 */
function loadScenarioDocument(file: string): ScenarioDocument {
  try {
    return loadDocumentFileOrThrow(SCENARIO_FILE, file);
  } catch (err) {
    const kind = err instanceof InputError ? /\skind: must be Scenario \(got ([A-Za-z]+)\)$/.exec(err.lines[0] ?? '')?.[1] : undefined;
    if (kind === undefined) throw err;
    throw new InputError([
      `${file} is a ${kind}, not a Scenario: agent-sim plays a Scenario (kind: Scenario, e.g. examples/scenarios/bad-content-update.yaml) whose spec.rollout names the rollout file${kind === 'Rollout' ? '; to serve a controller for it: agent-sim serve --scenario examples/quickstart/fleet.yaml' : ''}`,
    ]);
  }
}

/** A scenario file, defaults filled in; its mistakes are an InputError (controller/spec/errors.ts), one line each. */
export function loadScenario(file: string, overrides: { hosts?: number; seed?: number } = {}): Scenario {
  const doc = loadScenarioDocument(file);
  const s = doc.spec;
  const f = s.fleet;
  const dir = path.dirname(file);
  const hosts = overrides.hosts ?? f.hosts;
  return {
    name: doc.metadata.name,
    description: doc.metadata.description,
    file,
    rolloutFile: path.resolve(dir, s.rollout),
    policyFile: path.resolve(dir, s.policy),
    trustedKeysFile: s.trustedKeys === undefined ? undefined : path.resolve(dir, s.trustedKeys),
    artifactFile: s.artifactFile === undefined ? undefined : path.resolve(dir, s.artifactFile),
    start: new Date(s.start),
    maxDurationMs: ms(s.maxDuration),
    seed: overrides.seed ?? s.seed,
    tickMs: ms(s.tick),
    fleet: {
      hosts,
      // A computed default: 0.2% of the fleet, at least 50, never more than the fleet.
      canaryHosts: Math.min(hosts, f.canaryHosts ?? Math.max(50, Math.round(hosts * 0.002))),
      pollIntervalMs: ms(f.pollInterval),
      pollJitterMs: ms(f.pollJitter),
      regions: [...f.regions],
      oses: [...f.oses],
      tenants: f.tenants.map((t) => ({ name: t.name, share: t.share })),
      crashRate: f.crashRate,
      bsodRate: f.bsodRate,
      hazardShape: f.hazardShape,
      diurnalAmplitude: f.diurnalAmplitude,
      overdispersionShape: f.overdispersionShape,
      commonNoiseShape: f.commonNoiseShape,
      noiseIntervalMs: f.noiseInterval === undefined ? undefined : ms(f.noiseInterval),
      clusters: f.clusters === undefined ? undefined : { rate: f.clusters.rate, meanSize: f.clusters.meanSize },
    },
    candidate: { crashRateMultiplier: s.candidate.crashRateMultiplier, crashOnBoot: s.candidate.crashOnBoot, crashBeforeAgent: s.candidate.crashBeforeAgent, updateFailure: s.candidate.updateFailure },
    agent: { fallback: s.agent.fallback, maxFailedStarts: s.agent.maxFailedStarts, bootCycleMs: ms(s.agent.bootCycle) },
    metricsGaps: s.metricsGaps.map((g) => ({ fromMs: ms(g.from), toMs: ms(g.to) })),
    tamper: { manifestShare: s.tamper.manifestShare, artifact: s.tamper.artifact },
    approvals: s.approvals,
    approvalDelayMs: ms(s.approvalDelay),
    expect: { ...s.expect },
  };
}
