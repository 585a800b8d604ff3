/**
 * Scenario documents (`kind: Scenario`): the fleet, the update's effects, the rollout and policy to play,
 * and what outcome to expect. Validated with ajv; every error is one line `file:line:col path: message`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { isMap, isNode, isScalar, LineCounter, parseDocument } from 'yaml';
import { parseDuration } from '../controller/spec/duration';
import { formatPath, formatSpecError, type SpecError } from '../controller/spec/errors';

const DURATION = '^([0-9]+(ms|s|m|h|d|w))+$';

export const scenarioSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'ringmaster.dev/v1alpha1' },
    kind: { const: 'Scenario' },
    metadata: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', minLength: 1 }, description: { type: 'string' } } },
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
        start: { type: 'string', format: 'date-time' },
        /** Stop the run after this much virtual time if the rollout has not ended. */
        maxDuration: { type: 'string', pattern: DURATION },
        seed: { type: 'integer', minimum: 0 },
        /** Virtual seconds per simulation step. */
        tick: { type: 'string', pattern: DURATION },
        fleet: {
          type: 'object',
          additionalProperties: false,
          properties: {
            hosts: { type: 'integer', minimum: 100, maximum: 5_000_000 },
            /** Hosts labelled ring: canary (the dogfood set). */
            canaryHosts: { type: 'integer', minimum: 0 },
            pollInterval: { type: 'string', pattern: DURATION },
            /** Each poll is delayed by a uniform draw in [0, pollJitter) (on top of each host's random phase). */
            pollJitter: { type: 'string', pattern: DURATION },
            regions: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', minLength: 1 } },
            oses: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string', minLength: 1 } },
            tenants: {
              type: 'array',
              maxItems: 8,
              items: { type: 'object', additionalProperties: false, required: ['name', 'share'], properties: { name: { type: 'string', minLength: 1 }, share: { type: 'number', minimum: 0, maximum: 1 } } },
            },
            /** Mean crashes and BSODs per host-hour on the baseline version. */
            crashRate: { type: 'number', minimum: 0 },
            bsodRate: { type: 'number', minimum: 0 },
            /** Gamma shape of the per-host hazard multiplier (mean 1): smaller is more heterogeneous. */
            hazardShape: { type: 'number', exclusiveMinimum: 0 },
            /** Day/night swing of the hazard, 0..1 (0.3: ±30% around the mean, peak at 14:00 UTC). */
            diurnalAmplitude: { type: 'number', minimum: 0, maximum: 1 },
            /** Gamma shape of a per-step, per-version rate multiplier (overdispersion); absent: none. */
            overdispersionShape: { type: 'number', exclusiveMinimum: 0 },
          },
        },
        /** Effects of the candidate version. */
        candidate: {
          type: 'object',
          additionalProperties: false,
          properties: {
            crashRateMultiplier: { type: 'number', minimum: 0 },
            /** Probability that a host installing it crashes on boot and stays in a boot loop (bricked). */
            crashOnBoot: { type: 'number', minimum: 0, maximum: 1 },
            /** Probability that an install attempt fails (the host keeps its version and retries next poll). */
            updateFailure: { type: 'number', minimum: 0, maximum: 1 },
          },
        },
        /** Intervals (offsets from start) in which the metrics provider has no data (a Prometheus outage). */
        metricsGaps: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['from', 'to'], properties: { from: { type: 'string', pattern: DURATION }, to: { type: 'string', pattern: DURATION } } },
        },
        /** Man-in-the-middle: a share of manifest responses altered in transit; artifact bytes that do not match. */
        tamper: {
          type: 'object',
          additionalProperties: false,
          properties: { manifestShare: { type: 'number', minimum: 0, maximum: 1 }, artifact: { type: 'boolean' } },
        },
        /** auto: an approver approves rings that wait for approval after `approvalDelay`. */
        approvals: { enum: ['auto', 'none'] },
        approvalDelay: { type: 'string', pattern: DURATION },
        expect: {
          type: 'object',
          additionalProperties: false,
          properties: {
            outcome: { enum: ['succeeded', 'rolled-back', 'halted', 'aborted', 'awaiting-approval', 'running'] },
            haltReason: { type: 'string' },
            /** Index of the last ring exposed when the run ended (for halts: the ring that was stopped). */
            lastRing: { type: 'integer', minimum: -1 },
            maxHostsOutsideCanary: { type: 'integer', minimum: 0 },
            maxHostsUpdated: { type: 'integer', minimum: 0 },
            firstRingStart: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
  },
} as const;

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
  };
  candidate: { crashRateMultiplier: number; crashOnBoot: number; updateFailure: number };
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
    firstRingStart?: string;
  };
}

export class ScenarioError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
  }
}

type Raw = {
  metadata: { name: string; description?: string };
  spec: {
    rollout: string;
    policy: string;
    trustedKeys?: string;
    artifactFile?: string;
    start: string;
    maxDuration?: string;
    seed?: number;
    tick?: string;
    fleet?: Record<string, unknown>;
    candidate?: Record<string, number>;
    metricsGaps?: Array<{ from: string; to: string }>;
    tamper?: { manifestShare?: number; artifact?: boolean };
    approvals?: 'auto' | 'none';
    approvalDelay?: string;
    expect?: Scenario['expect'];
  };
};

const ajv = new Ajv({ allErrors: true, strict: false });
ajv.addFormat('date-time', { validate: (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)) });
const validate = ajv.compile(scenarioSchema);

const ms = (d: string): number => {
  const r = parseDuration(d);
  return r.ok ? r.ms : NaN;
};

export function loadScenario(file: string, overrides: { hosts?: number; seed?: number } = {}): Scenario {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ScenarioError([`${file}:0:0 (document): cannot read file (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const err = (offset: number, p: string, message: string): string => {
    const pos = lc.linePos(offset);
    return formatSpecError({ file, line: pos.line, col: pos.col, path: p, message } satisfies SpecError);
  };
  if (doc.errors.length > 0) throw new ScenarioError(doc.errors.map((e) => err(e.pos[0], '', `YAML syntax: ${e.message.split('\n')[0] ?? ''}`)));
  const data = doc.toJS() as unknown;
  if (!validate(data)) {
    const lines = (validate.errors ?? []).map((e) => {
      const segs = e.instancePath.split('/').slice(1).map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
      const extra = e.keyword === 'additionalProperties' ? (e.params as { additionalProperty: string }).additionalProperty : undefined;
      // An unknown field points at its key; other problems at the value.
      const parent = extra ? doc.getIn(segs, true) : undefined;
      const keyNode = isMap(parent) ? parent.items.find((it) => isScalar(it.key) && it.key.value === extra)?.key : undefined;
      const node = keyNode ?? doc.getIn(extra ? [...segs, extra] : segs, true);
      const offset = isNode(node) && node.range ? node.range[0] : 0;
      const message = extra ? `unknown field "${extra}"` : e.keyword === 'required' ? `missing required field "${(e.params as { missingProperty: string }).missingProperty}"` : (e.message ?? 'invalid');
      return err(offset, formatPath(extra ? [...segs, extra] : segs), message);
    });
    throw new ScenarioError([...new Set(lines)]);
  }
  const raw = data as Raw;
  const s = raw.spec;
  const f = s.fleet ?? {};
  const dir = path.dirname(file);
  const gaps = (s.metricsGaps ?? []).map((g) => ({ fromMs: ms(g.from), toMs: ms(g.to) }));
  const problems: string[] = [];
  gaps.forEach((g, i) => {
    if (!(g.toMs > g.fromMs)) {
      const node = doc.getIn(['spec', 'metricsGaps', i, 'to'], true);
      problems.push(err(isNode(node) && node.range ? node.range[0] : 0, `spec.metricsGaps[${i}].to`, 'must be after from'));
    }
  });
  const tenants = (f.tenants as Scenario['fleet']['tenants'] | undefined) ?? [{ name: 'hospital-group', share: 0.02 }, { name: 'retail', share: 0.2 }];
  const at = (p: Array<string | number>): number => {
    const node = doc.getIn(p, true);
    return isNode(node) && node.range ? node.range[0] : 0;
  };
  if (tenants.reduce((a, t) => a + t.share, 0) > 1) problems.push(err(at(['spec', 'fleet', 'tenants']), 'spec.fleet.tenants', 'shares add up to more than 1'));
  // Durations with a floor or ceiling the schema's pattern cannot say.
  const bounded: Array<[Array<string | number>, string | undefined, number, number]> = [
    [['spec', 'tick'], s.tick, 1_000, 3_600_000],
    [['spec', 'fleet', 'pollInterval'], f.pollInterval as string | undefined, 1_000, 86_400_000],
    [['spec', 'fleet', 'pollJitter'], f.pollJitter as string | undefined, 0, 3_600_000],
  ];
  for (const [p, v, lo, hi] of bounded) {
    if (v === undefined) continue;
    const d = ms(v);
    if (!(d >= lo && d <= hi)) problems.push(err(at(p), formatPath(p), `must be between ${lo / 1000}s and ${hi / 1000}s (got ${v})`));
  }
  const hosts = overrides.hosts ?? (f.hosts as number | undefined) ?? 1_000_000;
  const canaryHosts = Math.min(hosts, (f.canaryHosts as number | undefined) ?? Math.max(50, Math.round(hosts * 0.002)));
  if (problems.length > 0) throw new ScenarioError(problems);
  return {
    name: raw.metadata.name,
    description: raw.metadata.description ?? '',
    file,
    rolloutFile: path.resolve(dir, s.rollout),
    policyFile: path.resolve(dir, s.policy),
    trustedKeysFile: s.trustedKeys === undefined ? undefined : path.resolve(dir, s.trustedKeys),
    artifactFile: s.artifactFile === undefined ? undefined : path.resolve(dir, s.artifactFile),
    start: new Date(s.start),
    maxDurationMs: ms(s.maxDuration ?? '5d'),
    seed: overrides.seed ?? s.seed ?? 1,
    tickMs: ms(s.tick ?? '30s'),
    fleet: {
      hosts,
      canaryHosts,
      pollIntervalMs: ms((f.pollInterval as string | undefined) ?? '60s'),
      pollJitterMs: ms((f.pollJitter as string | undefined) ?? '0s'),
      regions: (f.regions as string[] | undefined) ?? ['us-east', 'us-west', 'eu-west', 'ap-south'],
      oses: (f.oses as string[] | undefined) ?? ['windows', 'linux', 'macos'],
      tenants,
      crashRate: (f.crashRate as number | undefined) ?? 0.002,
      bsodRate: (f.bsodRate as number | undefined) ?? 0.0005,
      hazardShape: (f.hazardShape as number | undefined) ?? 2,
      diurnalAmplitude: (f.diurnalAmplitude as number | undefined) ?? 0.3,
      overdispersionShape: f.overdispersionShape as number | undefined,
    },
    candidate: { crashRateMultiplier: s.candidate?.crashRateMultiplier ?? 1, crashOnBoot: s.candidate?.crashOnBoot ?? 0, updateFailure: s.candidate?.updateFailure ?? 0 },
    metricsGaps: gaps,
    tamper: { manifestShare: s.tamper?.manifestShare ?? 0, artifact: s.tamper?.artifact ?? false },
    approvals: s.approvals ?? 'auto',
    approvalDelayMs: ms(s.approvalDelay ?? '15m'),
    expect: s.expect ?? {},
  };
}
