/** Rollout documents and state snapshots shared by the API tests. */
import type { ControllerService } from '../../controller/runtime/service';
import type { PolicySpec } from '../../controller/spec/types';

/** A policy whose window is always open and that accepts unsigned artifacts: for tests about everything else. */
export const OPEN_POLICY: PolicySpec = {
  timezone: 'UTC',
  allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], hours: '00:00-24:00' }],
  requireSignedArtifacts: false,
  requireBakeWithinWindow: false,
  maxConcurrentRolloutsPerChannel: 1,
};

export function rolloutYaml(name: string, channel: string, opts: { approvalFirst?: boolean; version?: string; policy?: string } = {}): string {
  return [
    'apiVersion: ringmaster.dev/v1alpha1',
    'kind: Rollout',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  channel: ${channel}`,
    `  version: ${opts.version ?? '7.16.291'}`,
    '  previousVersion: 7.16.290',
    '  artifact:',
    `    url: https://updates.example.internal/${channel}/7.16.291.bin`,
    `    sha256: ${'ab'.repeat(32)}`,
    `  policy: ${opts.policy ?? 'open'}`,
    '  rings:',
    '    - name: canary',
    '      selector: { matchLabels: { ring: canary } }',
    '      bake: 30m',
    ...(opts.approvalFirst ? ['      approval: required'] : []),
    '    - name: early',
    '      percent: 1',
    '      bake: 1h',
    '    - name: full',
    '      percent: 100',
    '      bake: 1h',
    '',
  ].join('\n');
}

/** Everything a caller could change through the API, as one comparable value. */
export function snapshot(service: ControllerService, channels: readonly string[] = []): string {
  return JSON.stringify({
    rollouts: service.listRollouts(),
    killSwitch: service.getKillSwitch(),
    audit: service.listAudit({ limit: 1_000_000 }),
    manifests: channels.map((c) => {
      const m = service.manifest(c);
      return m ? { revision: m.revision, etag: m.etag, body: m.body.toString('base64') } : null;
    }),
  });
}
