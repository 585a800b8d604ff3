/** The real Controller (real SQLite in a temp dir, virtual clock) for API integration tests. */
import { OPEN_POLICY } from './api-fixtures';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TrustedKey } from '../../controller/crypto/keys';
import { VirtualClock } from '../../controller/runtime/clock';
import { Controller } from '../../controller/runtime/controller';
import type { PolicySpec } from '../../controller/spec/types';

/** Monday 2026-11-30 09:00 America/New_York. */
export const START = Date.parse('2026-11-30T14:00:00Z');

const anyTime: PolicySpec = OPEN_POLICY;

export const TEST_POLICIES: ReadonlyMap<string, PolicySpec> = new Map([
  ['open', anyTime],
  ['signed', { ...anyTime, requireSignedArtifacts: true }],
]);

export interface RealController {
  controller: Controller;
  dataDir: string;
  clock: VirtualClock;
  close(): Promise<void>;
}

export async function openController(opts: { trustedKeys?: TrustedKey[]; dataDir?: string } = {}): Promise<RealController> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rm-api-'));
  const clock = new VirtualClock(START);
  const controller = await Controller.open({
    dataDir,
    policiesDir: '/nonexistent',
    policies: new Map(TEST_POLICIES),
    trustedKeys: opts.trustedKeys ?? [],
    clock,
  });
  return {
    controller,
    dataDir,
    clock,
    close: async () => {
      await controller.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
